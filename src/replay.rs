//! The replay engine: what a validator does with a submission (protocol.md §7.5, §6.3), on the
//! exact patch bytes, from this clone, without touching the user's work tree, index, HEAD or
//! branches. `bench --replay` and `review` share it.
//!
//! In the validator's order: the pre-replay rules (size, unparseable surface, Python bytecode,
//! paths outside the surface), then a clean checkout of the base commit (here a temporary
//! worktree sharing the object store, `git worktree add --detach` with hooks off, under the git
//! dir; a base commit missing locally is fetched from the task repository), `git apply -` of the
//! bytes, then setup and benchmark in the validator environment, all under one time budget,
//! and the metric rules of `bench`. The worktree is removed and pruned afterwards, also on
//! Ctrl-C and time-out; one left by a killed run is removed by the next replay.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::{Map, Number, Value};

use crate::error::{Result, ResultExt};
use crate::measure::{measure_from, Measurement, RunSettings, Status};
use crate::output::Output;
use crate::repo::{Git, Repo};
use crate::runner::{interrupted_error, LogFile};
use crate::task::TaskSnapshot;
use crate::validator::{self, Rejection};
use crate::worktree::TempWorktree;

/// A validator's verdict on a submission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Accepted,
    Rejected,
    Error,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Accepted => "accepted",
            Verdict::Rejected => "rejected",
            Verdict::Error => "error",
        }
    }
}

/// What to replay.
pub struct Input<'a> {
    pub repo: &'a Repo,
    pub task: &'a TaskSnapshot,
    /// The exact patch bytes.
    pub patch: &'a [u8],
    /// The commit (or ref) the patch applies to.
    pub base: &'a str,
    /// Where the log goes.
    pub log_path: PathBuf,
    /// The submission's artifact, its bytes already fetched (placed as validators place it).
    pub artifact: Option<&'a crate::artifact::Ready>,
    /// Why the submission's artifact cannot be used (a redirect, other bytes): after `git
    /// apply`, where validators download it, the replay stops with this `error` note.
    pub artifact_problem: Option<String>,
}

/// The outcome, as a validator would report it.
#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    pub verdict: Verdict,
    /// Only from this replay's benchmark, only when accepted (validators report nothing else).
    pub observed_metrics: Map<String, Value>,
    /// The validator-style note (`validator_rejection=<reason>: …`, `git apply failed: …`, …).
    pub note: String,
    /// The reason code of a rejection.
    pub rejection: Option<String>,
    /// Whether setup/benchmark ran at all (not for a patch refused before the replay).
    pub ran_commands: bool,
    /// The base commit the patch was applied to (resolved).
    pub base_commit: Option<String>,
    pub seconds: f64,
    pub log: PathBuf,
    /// The benchmark run, when it ran (for `bench --replay`'s report).
    pub(crate) measurement: Option<Measurement>,
}

impl Outcome {
    /// As a bench measurement of `kind`: the run's own when the commands ran, else one that
    /// says why they did not.
    pub(crate) fn into_measurement(self, kind: &'static str) -> Measurement {
        let status = match self.verdict {
            Verdict::Accepted => Status::Ok,
            Verdict::Rejected => Status::Rejected,
            Verdict::Error => Status::Error,
        };
        match self.measurement {
            Some(mut m) => {
                m.kind = kind;
                m
            }
            None => Measurement {
                kind,
                commit: String::new(),
                dirty: None,
                status,
                value: None,
                uncounted: None,
                secondary: None,
                result_json: None,
                message: Some(self.note),
                rejection: self.rejection,
                steps: Vec::new(),
                seconds: self.seconds,
                log: self.log,
            },
        }
    }
}

/// The validator's first pre-replay rejection of `patch`, with its reason code and note.
pub fn pre_replay_rejection(patch: &str, task: &TaskSnapshot) -> Option<(&'static str, String)> {
    let paths = validator::extract_paths(patch);
    let first = validator::rejections(patch.len(), &paths, &task.patterns(), task.max_patch_bytes)
        .into_iter()
        .next()?;
    Some(match first {
        Rejection::TooLarge { bytes, max } => (
            "patch_too_large",
            format!("validator_rejection=patch_too_large: the patch is {bytes} bytes; the task allows {max}"),
        ),
        Rejection::Unparseable => (
            "unparseable_patch_surface",
            "validator_rejection=unparseable_patch_surface: no file path could be read from the patch".into(),
        ),
        Rejection::Bytecode(paths) => (
            "generated_python_cache_paths",
            format!("validator_rejection=generated_python_cache_paths: {}", paths.join(", ")),
        ),
        Rejection::Disallowed(paths) => (
            "disallowed_patch_paths",
            format!(
                "validator_rejection=disallowed_patch_paths: {} (allowed: {})",
                paths.join(", "),
                task.allowed_patch_paths.join(", ")
            ),
        ),
    })
}

/// Replay `input` as a validator would. `Err` only for what is no verdict on the submission
/// (interrupted, the log cannot be written, git cannot be run); everything a validator would
/// report (a refused patch, a missing base, a patch that does not apply, a failing benchmark)
/// is an [`Outcome`]. The caller installs the [`crate::runner::SignalGuard`] so Ctrl-C reaches
/// the cleanup.
pub(crate) fn replay(out: &Output, input: &Input) -> Result<Outcome> {
    let started = Instant::now();
    let task = input.task;
    let mut outcome = Outcome {
        verdict: Verdict::Error,
        observed_metrics: Map::new(),
        note: String::new(),
        rejection: None,
        ran_commands: false,
        base_commit: None,
        seconds: 0.0,
        log: input.log_path.clone(),
        measurement: None,
    };
    let finish = |mut outcome: Outcome, log: &mut LogFile| {
        outcome.seconds = started.elapsed().as_secs_f64();
        log.line(&format!("# verdict: {}", outcome.verdict.as_str()));
        if !outcome.note.is_empty() {
            log.line(&format!("# note: {}", outcome.note));
        }
        outcome
    };
    if let Some(parent) = input.log_path.parent() {
        fs::create_dir_all(parent).or_usage(|| format!("cannot create {}", parent.display()))?;
    }
    let mut log = LogFile::create(&input.log_path, out)?;
    log.line(&format!("# git bitsota replay, {}", crate::timefmt::now_rfc3339()));
    log.line(&format!(
        "# patch: {} bytes, sha256 {}",
        input.patch.len(),
        crate::canonical_json::sha256_hex(input.patch)
    ));

    // What the validator receives is a JSON string: text.
    let Ok(patch) = std::str::from_utf8(input.patch) else {
        outcome.note = "the patch is not valid UTF-8; it cannot be sent as JSON text".into();
        return Ok(finish(outcome, &mut log));
    };
    if let Some((reason, note)) = pre_replay_rejection(patch, task) {
        outcome.verdict = Verdict::Rejected;
        outcome.rejection = Some(reason.to_string());
        outcome.note = note;
        log.line("# rejected before the replay: the commands were not run");
        return Ok(finish(outcome, &mut log));
    }

    let base_commit = find_base(out, input.repo, task, input.base, &mut log)?;
    check_interrupted()?;
    let Some(base_commit) = base_commit else {
        outcome.note = format!(
            "base commit {} was not found here nor in the task repository {}",
            input.base.trim(),
            task.repository
        );
        return Ok(finish(outcome, &mut log));
    };
    outcome.base_commit = Some(base_commit.clone());
    log.line(&format!("# base commit: {base_commit}"));

    remove_stale_worktrees(input.repo);
    let worktree = TempWorktree::add(input.repo, &base_commit, WORKTREE_LABEL)?;
    check_interrupted()?;
    out.info(format!(
        "==> replay: temporary worktree at {} ({})",
        crate::repo::short_oid(&base_commit),
        worktree.dir().display()
    ));
    log.line(&format!("# temporary worktree: {}", worktree.dir().display()));

    if !patch.is_empty() {
        let (code, _, stderr) = Git::new(None)
            .current_dir(worktree.dir())
            .args(APPLY_CONFIG)
            .args(["apply", "-"])
            .stdin(input.patch.to_vec())
            .output_any()?;
        check_interrupted()?;
        if code != Some(0) {
            let stderr = String::from_utf8_lossy(&stderr).trim().to_string();
            outcome.note = format!("git apply failed: {stderr}");
            return Ok(finish(outcome, &mut log));
        }
        log.line("# git apply -: ok");
    }

    if let Some(problem) = &input.artifact_problem {
        outcome.note = problem.clone();
        return Ok(finish(outcome, &mut log));
    }
    // The artifact where validators put it, after the patch as they do.
    let placed = match input.artifact {
        Some(ready) => {
            let placed =
                crate::artifact::place::place(worktree.dir(), &ready.file, &ready.uri, ready.size_bytes)?;
            log.line(&format!("# artifact: {} ({} bytes)", ready.uri, ready.size_bytes));
            Some(placed)
        }
        None => None,
    };
    // Setup and benchmark, with the time spent so far counted against the one budget.
    let settings = RunSettings {
        task,
        inherit_env: false,
        setup: true,
        artifact_env: placed.as_ref().map(|p| p.env().to_vec()).unwrap_or_default(),
        exact: true,
    };
    let m = measure_from(out, &settings, worktree.dir(), "replay", &input.log_path, log, started);
    drop(placed);
    drop(worktree);
    let m = m?;
    outcome.ran_commands = true;
    judge(task, &m, &mut outcome);
    outcome.measurement = Some(m);
    outcome.seconds = started.elapsed().as_secs_f64();
    // The measurement closed its log; the verdict line goes at its end.
    if let Ok(mut file) = fs::OpenOptions::new().append(true).open(&input.log_path) {
        use std::io::Write;
        let _ = writeln!(file, "# verdict: {}\n# note: {}", outcome.verdict.as_str(), outcome.note);
    }
    Ok(outcome)
}

/// The validator's status, observed metrics and note from a run.
fn judge(task: &TaskSnapshot, m: &Measurement, outcome: &mut Outcome) {
    let budget = task.time_budget().as_secs();
    match m.status {
        Status::Ok => {
            let mut metrics = Map::new();
            let found = m.value.as_ref().map(|f| (task.metric_name.clone(), f.value));
            let secondary = m.secondary.as_ref().map(|(name, f)| (name.clone(), f.value));
            for (name, value) in found.into_iter().chain(secondary) {
                match Number::from_f64(value) {
                    Some(n) => {
                        metrics.insert(name, Value::Number(n));
                    }
                    None => {
                        outcome.verdict = Verdict::Error;
                        outcome.note = format!("metric '{name}' is not a finite number ({value})");
                        return;
                    }
                }
            }
            outcome.verdict = Verdict::Accepted;
            outcome.observed_metrics = metrics;
            outcome.note = String::new();
        }
        Status::Rejected => {
            outcome.verdict = Verdict::Rejected;
            outcome.rejection = m.rejection.clone();
            let reason = m.rejection.as_deref().unwrap_or("");
            let why = m.message.as_deref().unwrap_or("");
            outcome.note =
                format!("validator_rejection={reason}: {why}").trim_end_matches([':', ' ']).to_string();
        }
        Status::Timeout => {
            outcome.verdict = Verdict::Error;
            let step = m.steps.last().map(|s| s.name).unwrap_or("replay");
            let step = if step == "setup" { "Setup" } else { "Benchmark" };
            outcome.note = format!("{step} exceeded the fixed replay time budget ({budget} s)");
        }
        Status::Error => {
            outcome.verdict = Verdict::Error;
            outcome.note = match m.steps.last() {
                Some(step) if step.name == "setup" => format!("Setup failed ({})", step.outcome()),
                _ => m.message.clone().unwrap_or_else(|| "the benchmark failed".into()),
            };
        }
    }
}

fn check_interrupted() -> Result<()> {
    // Ctrl-C also reaches the git children, which then fail: that is no verdict.
    if crate::interrupt::interrupted() {
        return Err(interrupted_error());
    }
    Ok(())
}

/// `git apply` as a fresh clone's would run: none of the user's apply or line-ending settings.
const APPLY_CONFIG: [&str; 8] = [
    "-c",
    "apply.whitespace=warn",
    "-c",
    "core.autocrlf=false",
    "-c",
    "core.hooksPath=/dev/null",
    "-c",
    "core.safecrlf=false",
];

/// The base commit. A commit id is looked up here, and fetched from the task repository when
/// this clone lacks it; a ref name is resolved in the task repository (`git ls-remote`), as a
/// validator's fresh clone would check it out, never against this clone's own branches.
/// `Ok(None)` when the base names nothing (the validator's checkout fails: an `error`); `Err`
/// when the task repository cannot be asked (no verdict: the validator could have fetched it).
fn find_base(
    out: &Output,
    repo: &Repo,
    task: &TaskSnapshot,
    base: &str,
    log: &mut LogFile,
) -> Result<Option<String>> {
    let base = base.trim();
    if base.is_empty() || base.starts_with('-') || base.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Ok(None);
    }
    let hex = base.bytes().all(|b| b.is_ascii_hexdigit());
    // An abbreviated commit id names the same commit wherever it resolves.
    if hex && base.len() >= 7 {
        if let Some(commit) = repo.resolve_commit(&format!("{base}^{{commit}}"))? {
            return Ok(Some(commit));
        }
    }
    let is_oid = hex && matches!(base.len(), 40 | 64);
    let oid = if is_oid {
        base.to_ascii_lowercase()
    } else {
        log.line(&format!("# resolving {base} in {}", task.repository));
        let (code, stdout, stderr) =
            Git::new(None).args(["ls-remote", "--", &task.repository, base]).output_any()?;
        if code != Some(0) {
            return Err(unreachable_repository(task, &stderr));
        }
        match ref_target(&String::from_utf8_lossy(&stdout), base) {
            Some(oid) => oid,
            None => return Ok(None),
        }
    };
    if let Some(commit) = repo.resolve_commit(&format!("{oid}^{{commit}}"))? {
        return Ok(Some(commit));
    }
    out.info(format!("==> fetching {} from {}", crate::repo::short_oid(&oid), task.repository));
    log.line(&format!("# fetching {oid} from {}", task.repository));
    // Objects only: no ref, no FETCH_HEAD, no tag of the user's changes.
    let (code, _, stderr) = repo
        .git()
        .args(["-c", "core.hooksPath=/dev/null", "fetch", "--quiet", "--no-tags", "--no-write-fetch-head"])
        .arg("--")
        .arg(&task.repository)
        .arg(&oid)
        .output_any()?;
    if code != Some(0) {
        let text = String::from_utf8_lossy(&stderr);
        // The repository answered that it has no such commit: the validator's checkout fails too.
        if text.contains("not our ref") || text.contains("couldn't find remote ref") {
            log.line(&format!("# fetch: {}", text.trim()));
            return Ok(None);
        }
        return Err(unreachable_repository(task, &stderr));
    }
    repo.resolve_commit(&format!("{oid}^{{commit}}"))
}

/// The commit `name` names in `git ls-remote` output: a branch, else a tag (peeled).
fn ref_target(listing: &str, name: &str) -> Option<String> {
    let refs: Vec<(&str, &str)> = listing.lines().filter_map(|l| l.split_once('\t')).collect();
    let find = |full: &str| refs.iter().find(|(_, r)| *r == full).map(|(oid, _)| oid.to_string());
    let bare = name.trim_start_matches("refs/heads/").trim_start_matches("refs/tags/");
    find(&format!("refs/heads/{bare}"))
        .or_else(|| find(&format!("refs/tags/{bare}^{{}}")))
        .or_else(|| find(&format!("refs/tags/{bare}")))
        .or_else(|| find(name))
}

fn unreachable_repository(task: &TaskSnapshot, stderr: &[u8]) -> crate::error::Error {
    crate::error::Error::network(format!(
        "cannot get the submission's base commit from the task repository {}",
        task.repository
    ))
    .with_code("base_unavailable")
    .with_source(std::io::Error::other(String::from_utf8_lossy(stderr).trim().to_string()))
    .with_hint("nothing was run or sent; check the network and retry")
}

/// Label of the temporary worktrees: `<common dir>/bitsota/replay-<pid>-<nanos>`.
const WORKTREE_LABEL: &str = "replay";

fn remove_worktree(repo: &Repo, dir: &Path) {
    let _ = repo.git().args(["worktree", "remove", "--force", "--force"]).arg(dir).output();
    if fs::symlink_metadata(dir).is_ok() {
        let _ = fs::remove_dir_all(dir);
    }
    let _ = repo.git().args(["worktree", "prune"]).output();
}

/// Worktrees of replays whose process is gone (killed with SIGKILL, the machine rebooted).
fn remove_stale_worktrees(repo: &Repo) {
    let parent = repo.common_dir().join("bitsota");
    let Ok(entries) = fs::read_dir(&parent) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(WORKTREE_LABEL)
            .and_then(|rest| rest.strip_prefix('-'))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<libc::pid_t>().ok())
        else {
            continue;
        };
        // Signal 0 only asks whether the process exists.
        let gone = rustix::process::Pid::from_raw(pid)
            .is_some_and(|pid| rustix::process::test_kill_process(pid) == Err(rustix::io::Errno::SRCH));
        if gone {
            remove_worktree(repo, &entry.path());
        }
    }
}
