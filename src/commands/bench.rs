//! `git bitsota bench`: run the task's setup and benchmark the way validators replay a
//! submission (protocol.md §6.3, §7.5, §10.3), find the metric with their rules, keep the result
//! in the state file, and optionally write it into the submission sidecar.
//!
//! Exit status: 0 when the candidate run is `ok` (what a validator would accept), 1 when it is
//! `rejected`, `error` or `timeout` (the result is still printed), 2 for usage problems
//! (not bound, no consent to run the task's commands, interrupted).

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use regex::Regex;
use serde_json::{json, Map, Number, Value};

use crate::cli::BenchArgs;
use crate::ctx::Ctx;
use crate::error::{Error, Result, ResultExt};
use crate::output::{Output, Style};
use crate::repo::Repo;
use crate::sidecar;
use crate::state::{BenchRecord, State, StateFile};
use crate::task::TaskSnapshot;

/// The fixed PATH validators give the commands.
const VALIDATOR_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// Variables validators set when they materialised a submission artifact; passed through from
/// the miner's environment so an artifact-first benchmark can run locally.
const ARTIFACT_VARS: [&str; 3] = [
    "AUTORESEARCH_SUBMISSION_ARTIFACT_PATH",
    "AUTORESEARCH_SUBMISSION_ARTIFACT_URI",
    "AUTORESEARCH_SUBMISSION_ARTIFACT_BYTES",
];
/// Variables holding (or naming files that hold) the hotkey secret: `BITSOTA_HOTKEY_MNEMONIC`,
/// `…_MNEMONIC_FILE`, `…_PASSWORD`, `…_PASSWORD_FILE`.
const SECRET_PREFIX: &str = "BITSOTA_HOTKEY_";
/// `git rev-parse --local-env-vars`: they describe the miner's invocation, not the checkout the
/// benchmark runs in.
const GIT_LOCAL_VARS: [&str; 15] = [
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_CONFIG",
    "GIT_CONFIG_PARAMETERS",
    "GIT_CONFIG_COUNT",
    "GIT_OBJECT_DIRECTORY",
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_IMPLICIT_WORK_TREE",
    "GIT_GRAFT_FILE",
    "GIT_INDEX_FILE",
    "GIT_NO_REPLACE_OBJECTS",
    "GIT_REPLACE_REF_BASE",
    "GIT_PREFIX",
    "GIT_SHALLOW_FILE",
    "GIT_COMMON_DIR",
];
/// The marker a task benchmark prints when its own gates refuse a candidate.
const REJECTION_MARKER: &str = "validator_rejection=";
/// How long a timed-out process group gets between SIGTERM and SIGKILL.
const KILL_GRACE: Duration = Duration::from_secs(2);
/// Output kept in memory per stream for metric extraction (the log file has all of it).
const CAPTURE_LIMIT: usize = 64 << 20;
/// Bench records kept in the state file.
const MAX_RECORDS: usize = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Ok,
    Rejected,
    Error,
    Timeout,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Rejected => "rejected",
            Status::Error => "error",
            Status::Timeout => "timeout",
        }
    }
}

/// One command that ran.
#[derive(Debug, Clone)]
struct Step {
    name: &'static str,
    command: String,
    exit_code: Option<i32>,
    signal: Option<i32>,
    timed_out: bool,
    seconds: f64,
}

impl Step {
    fn outcome(&self) -> String {
        if self.timed_out {
            format!("timed out after {}", fmt_secs(self.seconds))
        } else if let Some(code) = self.exit_code {
            format!("exited with {code} after {}", fmt_secs(self.seconds))
        } else {
            format!("killed by signal {} after {}", self.signal.unwrap_or(0), fmt_secs(self.seconds))
        }
    }
}

/// The metric as found, with the JSON number to claim (kept as written when possible).
#[derive(Debug, Clone)]
struct Found {
    value: f64,
    number: Option<Number>,
}

/// The outcome of one setup+benchmark run.
#[derive(Debug, Clone)]
struct Measurement {
    kind: &'static str,
    commit: String,
    dirty: Option<bool>,
    status: Status,
    /// The metric, only when the run is `ok` (validators discard it otherwise).
    value: Option<Found>,
    /// A metric found in a run that still failed (shown, never counted).
    uncounted: Option<f64>,
    secondary: Option<(String, Found)>,
    /// The result JSON, when the task has a result_path and it parsed.
    result_json: Option<Value>,
    message: Option<String>,
    rejection: Option<String>,
    steps: Vec<Step>,
    seconds: f64,
    log: PathBuf,
}

impl Measurement {
    fn benchmark_exit(&self) -> Option<i64> {
        self.steps.iter().rev().find(|s| s.name == "benchmark").and_then(|s| s.exit_code).map(i64::from)
    }
}

pub fn run(ctx: &Ctx, args: &BenchArgs) -> Result<()> {
    let out = &ctx.out;
    let repo = ctx.repo()?;
    let state_file = ctx.state_file(&repo);
    let state = state_file.read_bound()?;
    let task = state.task.clone();

    // Settle the sidecar before a run that may take hours: a bad path or file fails now.
    let sidecar_path = if args.record {
        let path = sidecar::resolve_path(&repo, args.submission_file.as_deref())?;
        sidecar::load(&path)?;
        Some(path)
    } else {
        None
    };

    ensure_consent(out, &state_file, &state, args.yes)?;

    let log_dir = repo.git_dir().join("bitsota");
    fs::create_dir_all(&log_dir).or_usage(|| format!("cannot create {}", log_dir.display()))?;
    let stamp = file_stamp();
    let settings = RunSettings { task: &task, inherit_env: args.inherit_env, setup: !args.no_setup };
    let _signals = SignalGuard::install();

    let baseline = if args.baseline {
        Some(run_baseline(out, &repo, &settings, &log_dir.join(format!("bench-{stamp}-baseline.log")))?)
    } else {
        None
    };
    if baseline.is_some() {
        out.info("");
    }
    // What is measured is the tree before the run: files the benchmark writes do not count.
    let commit = repo.resolve_commit("HEAD")?.unwrap_or_default();
    let dirty = working_tree_dirty(&repo);
    let mut candidate =
        measure(out, &settings, repo.work_tree(), "candidate", &log_dir.join(format!("bench-{stamp}.log")))?;
    candidate.commit = commit;
    candidate.dirty = dirty;

    let at = crate::timefmt::now_rfc3339();
    save_records(&state_file, &task, baseline.as_ref(), &candidate, &at)?;

    // A baseline from this run, else the latest good one recorded for the same base commit.
    let baseline_value = match &baseline {
        Some(b) => b.value.as_ref().map(|f| f.value),
        None => remembered_baseline(&state, &task),
    };

    let mut recorded = None;
    if let Some(path) = &sidecar_path {
        if candidate.status == Status::Ok {
            let fields = sidecar::BenchRecordFields {
                claimed_metrics: claimed_metrics(&task, &candidate),
                execution_log: execution_log(&task, baseline.as_ref(), baseline_value, &candidate, &at),
            };
            let created = sidecar::record_bench(path, fields)?;
            out.info(format!("wrote claimed_metrics and execution_log to {}", path.display()));
            if created {
                out.hint(format!(
                    "edit `summary` in {} before submitting: the placeholder is refused",
                    path.display()
                ));
            }
            recorded = Some(path.clone());
        } else {
            out.warn(format!(
                "nothing recorded in {}: the benchmark did not produce a metric validators would accept",
                path.display()
            ));
        }
    }

    report(out, &task, baseline.as_ref(), baseline_value, &candidate, recorded.as_deref())?;
    if candidate.status == Status::Ok {
        Ok(())
    } else {
        Err(Error::problems(format!("bench finished with status {}", candidate.status.as_str()))
            .already_reported())
    }
}

// ---------------------------------------------------------------------------------------------
// Consent to run the task's commands

/// SHA-256 of everything from the task record that decides what runs.
fn commands_digest(task: &TaskSnapshot) -> String {
    let mut env = task.benchmark_env();
    env.sort();
    let doc = json!({
        "setup_command": task.setup_command,
        "benchmark_command": task.benchmark_command,
        "validator_benchmark_env": env,
    });
    crate::canonical_json::sha256_hex(doc.to_string().as_bytes())
}

/// The commands come from a task record (the coordinator, or a file given to `init`), not from
/// the miner: show them once and ask before running them.
fn ensure_consent(out: &Output, state_file: &StateFile, state: &State, yes: bool) -> Result<()> {
    let task = &state.task;
    let digest = commands_digest(task);
    if state.trusted_commands.as_deref() == Some(digest.as_str()) {
        return Ok(());
    }
    if !yes {
        let mut text = format!(
            "bench runs commands from the task record of `{}` (task id {}, fetched {}, stored in {}):",
            task.slug,
            task.id,
            if task.fetched_at.is_empty() { "at an unknown time" } else { &task.fetched_at },
            state_file.path().display()
        );
        if let Some(setup) = &task.setup_command {
            text.push_str(&format!("\n  setup:     {setup}"));
        }
        text.push_str(&format!("\n  benchmark: {}", task.benchmark_command));
        for (key, value) in task.benchmark_env() {
            text.push_str(&format!("\n  env:       {key}={value}"));
        }
        text.push_str("\nThey run with `sh -c` in the repository root, as validators run them.");
        out.warn(text);
        match out.confirm("Run these commands (asked once for this set of commands)?")? {
            Some(true) => {}
            Some(false) => {
                return Err(Error::usage("not running the task's commands").with_code("consent_refused"));
            }
            None => {
                return Err(Error::usage(
                    "bench needs your consent to run the task's commands, and there is no terminal to ask on",
                )
                .with_code("consent_required")
                .with_hint("review the commands above, then run `git bitsota bench --yes`"));
            }
        }
    }
    state_file.update(|fresh| {
        // Only remember consent for the commands that were shown.
        if commands_digest(&fresh.task) == digest {
            fresh.trusted_commands = Some(digest);
        }
    })
}

// ---------------------------------------------------------------------------------------------
// Running

struct RunSettings<'a> {
    task: &'a TaskSnapshot,
    inherit_env: bool,
    setup: bool,
}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// While a benchmark runs in its own process group, Ctrl-C no longer reaches it: catch the
/// signal ourselves so the group is killed and the temporary worktree removed.
struct SignalGuard {
    previous: Vec<(libc::c_int, libc::sighandler_t)>,
}

impl SignalGuard {
    fn install() -> SignalGuard {
        let mut previous = Vec::new();
        for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
            let old = unsafe { libc::signal(sig, handler) };
            previous.push((sig, old));
        }
        SignalGuard { previous }
    }
}

impl Drop for SignalGuard {
    fn drop(&mut self) {
        for (sig, old) in &self.previous {
            // SAFETY: restores the disposition that was in place before.
            unsafe { libc::signal(*sig, *old) };
        }
    }
}

fn interrupted_error() -> Error {
    Error::usage("interrupted; the task's commands were stopped").with_code("interrupted")
}

/// A temporary worktree at the base commit, removed (and pruned) when dropped.
struct TempWorktree {
    repo: Repo,
    dir: PathBuf,
}

impl Drop for TempWorktree {
    fn drop(&mut self) {
        let _ = self.repo.git().args(["worktree", "remove", "--force", "--force"]).arg(&self.dir).output();
        if self.dir.exists() {
            let _ = fs::remove_dir_all(&self.dir);
        }
        let _ = self.repo.git().args(["worktree", "prune"]).output();
    }
}

fn run_baseline(out: &Output, repo: &Repo, settings: &RunSettings, log: &Path) -> Result<Measurement> {
    let task = settings.task;
    let base = task.base_commit.trim();
    if base.is_empty() {
        return Err(Error::usage("the state file has no base_commit to measure a baseline at")
            .with_code("no_base_commit")
            .with_hint("bind the clone again with `git bitsota init TASK`"));
    }
    if repo.resolve_commit(&format!("{base}^{{commit}}"))?.is_none() {
        return Err(Error::usage(format!("the base commit {base} is not in this clone"))
            .with_code("base_commit_missing")
            .with_hint("fetch it (`git fetch origin`) and retry"));
    }
    let parent = repo.common_dir().join("bitsota");
    fs::create_dir_all(&parent).or_usage(|| format!("cannot create {}", parent.display()))?;
    let nanos =
        SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    let dir = parent.join(format!("baseline-{}-{nanos}", std::process::id()));
    out.info(format!(
        "==> baseline: temporary worktree at base commit {} ({})",
        crate::repo::short_oid(base),
        dir.display()
    ));
    // No hooks (every git call pins core.hooksPath=/dev/null): a post-checkout hook of the
    // miner's must not run for our scratch checkout.
    repo.git()
        .args(["worktree", "add", "--detach", "--quiet"])
        .arg(&dir)
        .arg(base)
        .output()
        .map_err(|e| {
            Error::usage(format!("cannot create a temporary worktree at {}", crate::repo::short_oid(base)))
                .with_source(e)
        })?;
    let worktree = TempWorktree { repo: repo.clone(), dir };
    let mut measurement = measure(out, settings, &worktree.dir, "baseline", log)?;
    measurement.commit = base.to_string();
    measurement.dirty = Some(false);
    drop(worktree);
    Ok(measurement)
}

/// Setup then benchmark in `dir` under one deadline, then the validator's verdict.
fn measure(
    out: &Output,
    settings: &RunSettings,
    dir: &Path,
    kind: &'static str,
    log_path: &Path,
) -> Result<Measurement> {
    let task = settings.task;
    let budget = task.time_budget();
    let started = Instant::now();
    let deadline = started + budget;
    let mut log = LogFile::create(log_path, out)?;
    log.line(&format!("# git bitsota bench ({kind}), {}", crate::timefmt::now_rfc3339()));
    log.line(&format!("# task: {} (metric {}, {})", task.slug, task.metric_name, task.metric_direction));
    log.line(&format!("# directory: {}", dir.display()));
    log.line(&format!("# time budget: {} s for setup and benchmark together", budget.as_secs()));

    let mut m = Measurement {
        kind,
        commit: String::new(),
        dirty: None,
        status: Status::Error,
        value: None,
        uncounted: None,
        secondary: None,
        result_json: None,
        message: None,
        rejection: None,
        steps: Vec::new(),
        seconds: 0.0,
        log: log_path.to_path_buf(),
    };
    let mut tee = Tee::new(out, kind, started, budget);

    if settings.setup {
        if let Some(setup) = task.setup_command.as_deref().filter(|c| !c.trim().is_empty()) {
            out.info(format!("==> {kind} setup: {setup}"));
            let run = run_command(settings, dir, setup, "setup", deadline, &mut log, &mut tee)?;
            let step = run.step;
            m.steps.push(step.clone());
            if step.timed_out {
                m.status = Status::Timeout;
                m.message = Some(format!("setup exceeded the time budget of {} s", budget.as_secs()));
            } else if step.exit_code != Some(0) {
                m.status = Status::Error;
                m.message = Some(format!("setup failed ({}); the benchmark was not run", step.outcome()));
            }
            if m.message.is_some() {
                return Ok(finish(m, started, &mut log));
            }
        }
    }

    let result_before = task.result_path.as_deref().map(|p| file_stamp_of(&dir.join(p)));
    out.info(format!("==> {kind} benchmark: {}", task.benchmark_command));
    let run = run_command(settings, dir, &task.benchmark_command, "benchmark", deadline, &mut log, &mut tee)?;
    m.steps.push(run.step.clone());
    if run.step.timed_out {
        m.status = Status::Timeout;
        m.message = Some(format!("benchmark exceeded the time budget of {} s", budget.as_secs()));
        return Ok(finish(m, started, &mut log));
    }

    let combined = combined_output(&run.stdout, &run.stderr);
    // The task metric and, when the task names one, the secondary metric, from one source.
    type Extract<'a> = &'a dyn Fn(&str) -> std::result::Result<Found, String>;
    let both = |extract: Extract| {
        let primary = extract(&task.metric_name);
        let secondary =
            secondary_metric(task).map(|name| extract(&name).map(|found| (name, found))).transpose();
        primary.and_then(|p| secondary.map(|s| (p, s)))
    };
    let found: std::result::Result<(Found, Option<(String, Found)>), String> = match &task.result_path {
        Some(result_path) => {
            let path = dir.join(result_path);
            if result_before
                .as_ref()
                .is_some_and(|before| before.is_some() && *before == file_stamp_of(&path))
            {
                // A clean replay checkout has no such file; a stale one from an earlier run must
                // not stand in for this run's result.
                Err(format!("result file not found: {result_path} (the file there is left over from an earlier run; this run did not write it)"))
            } else {
                match read_result_json(&path, result_path) {
                    Ok(root) => {
                        let found = both(&|name| metric_from_result(&root, name, result_path));
                        m.result_json = Some(root);
                        found
                    }
                    Err(why) => Err(why),
                }
            }
        }
        None => both(&|name| metric_from_output(&combined, name)),
    };

    let exit_ok = run.step.exit_code == Some(0);
    match (exit_ok, found) {
        (true, Ok((primary, secondary))) => {
            m.status = Status::Ok;
            m.value = Some(primary);
            m.secondary = secondary;
        }
        (_, found) => {
            let mut why = Vec::new();
            if !exit_ok {
                why.push(format!("the benchmark {}", run.step.outcome()));
            }
            match found {
                Ok((primary, _)) => m.uncounted = Some(primary.value),
                Err(e) => why.push(e),
            }
            if combined.contains(REJECTION_MARKER) {
                m.status = Status::Rejected;
                m.rejection = rejection_reason(&combined);
            } else {
                m.status = Status::Error;
            }
            m.message = Some(why.join("; "));
        }
    }
    Ok(finish(m, started, &mut log))
}

fn finish(mut m: Measurement, started: Instant, log: &mut LogFile) -> Measurement {
    m.seconds = started.elapsed().as_secs_f64();
    let value = m.value.as_ref().map(|f| fmt_num(f.value)).unwrap_or_else(|| "none".into());
    log.line(&format!("# status: {} (metric value {value})", m.status.as_str()));
    if let Some(message) = &m.message {
        log.line(&format!("# {message}"));
    }
    m
}

struct CommandRun {
    step: Step,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

enum Chunk {
    Data(usize, Vec<u8>),
    Eof,
}

fn apply_env(cmd: &mut Command, settings: &RunSettings, dir: &Path) {
    if settings.inherit_env {
        // Even an inherited environment never hands the hotkey secrets to the task's code, nor
        // git's repository variables, which would point the benchmark's own git commands at
        // the miner's repository instead of the checkout it runs in.
        for (key, _) in std::env::vars_os() {
            if key.to_str().is_some_and(|k| k.starts_with(SECRET_PREFIX) || GIT_LOCAL_VARS.contains(&k)) {
                cmd.env_remove(&key);
            }
        }
    } else {
        let passthrough: Vec<(&str, std::ffi::OsString)> =
            ARTIFACT_VARS.iter().filter_map(|k| std::env::var_os(k).map(|v| (*k, v))).collect();
        cmd.env_clear();
        cmd.env("PATH", VALIDATOR_PATH).env("HOME", dir);
        for (key, value) in passthrough {
            cmd.env(key, value);
        }
    }
    cmd.env("LANG", "C.UTF-8")
        .env("LC_ALL", "C.UTF-8")
        .env("PYTHONNOUSERSITE", "1")
        .env("PIP_DISABLE_PIP_VERSION_CHECK", "1");
    for (key, value) in settings.task.benchmark_env() {
        cmd.env(key, value);
    }
}

/// Run one command through `sh -c` in its own process group, teeing its output, until it exits
/// or the deadline passes (then the whole group is killed).
fn run_command(
    settings: &RunSettings,
    dir: &Path,
    command: &str,
    name: &'static str,
    deadline: Instant,
    log: &mut LogFile,
    tee: &mut Tee,
) -> Result<CommandRun> {
    use std::os::unix::process::CommandExt;

    log.line(&format!("$ {name}: {command}"));
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c").arg(command).current_dir(dir);
    apply_env(&mut cmd, settings, dir);
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).process_group(0);
    let started = Instant::now();
    // Before the spawn, so even a process that escapes the group at once is caught.
    let mut reaper = escaped::Subreaper::enable();
    let mut child = cmd.spawn().map_err(|e| {
        Error::usage(format!("could not start the {name} command with /bin/sh")).with_source(e)
    })?;
    let pgid = child.id() as libc::pid_t;

    let (tx, rx) = mpsc::channel();
    let mut readers = 0;
    if let Some(pipe) = child.stdout.take() {
        spawn_reader(pipe, 0, tx.clone());
        readers += 1;
    }
    if let Some(pipe) = child.stderr.take() {
        spawn_reader(pipe, 1, tx.clone());
        readers += 1;
    }
    drop(tx);

    let mut captured = [Capture::default(), Capture::default()];
    let mut exit = None;
    let mut timed_out = false;
    tee.phase(name);
    loop {
        if exit.is_none() {
            exit = child.try_wait().ok().flatten();
        }
        if exit.is_some() && readers == 0 {
            break;
        }
        if INTERRUPTED.load(Ordering::SeqCst) {
            kill_group(pgid, &mut child, &mut reaper);
            let _ = child.wait();
            reaper.sweep(pgid);
            tee.clear();
            log.line("# interrupted");
            return Err(interrupted_error());
        }
        let now = Instant::now();
        if now >= deadline {
            timed_out = true;
            kill_group(pgid, &mut child, &mut reaper);
            break;
        }
        match rx.recv_timeout((deadline - now).min(Duration::from_millis(200))) {
            Ok(Chunk::Data(stream, bytes)) => {
                log.bytes(&bytes);
                tee.write(&bytes);
                captured[stream].push(&bytes);
            }
            Ok(Chunk::Eof) => readers -= 1,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => readers = 0,
        }
        tee.tick();
        reaper.reap_exited(pgid);
    }
    // Daemons the command left behind are part of its run; validators' containers end them too.
    // SAFETY: signals only the process group created for this command.
    unsafe { libc::kill(-pgid, libc::SIGKILL) };
    let status = match exit {
        Some(status) => Some(status),
        None => child.wait().ok(),
    };
    // Then those that left the group (`setsid`, double forks), which may hold our pipes.
    reaper.sweep(pgid);
    drop(reaper);
    if timed_out {
        // Collect what the killed group wrote last, without waiting on a pipe held elsewhere.
        let until = Instant::now() + Duration::from_secs(1);
        while readers > 0 {
            let left = until.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(Chunk::Data(stream, bytes)) => {
                    log.bytes(&bytes);
                    tee.write(&bytes);
                    captured[stream].push(&bytes);
                }
                Ok(Chunk::Eof) => readers -= 1,
                Err(_) => break,
            }
        }
    }
    tee.clear();
    use std::os::unix::process::ExitStatusExt;
    let step = Step {
        name,
        command: command.to_string(),
        exit_code: status.and_then(|s| s.code()),
        signal: status.and_then(|s| s.signal()),
        timed_out,
        seconds: started.elapsed().as_secs_f64(),
    };
    log.line(&format!("\n# {name}: {}", step.outcome()));
    let [stdout, stderr] = captured;
    Ok(CommandRun { step, stdout: stdout.bytes, stderr: stderr.bytes })
}

fn spawn_reader(mut pipe: impl Read + Send + 'static, stream: usize, tx: mpsc::Sender<Chunk>) {
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match pipe.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    if tx.send(Chunk::Data(stream, buf[..n].to_vec())).is_err() {
                        return;
                    }
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
        }
        let _ = tx.send(Chunk::Eof);
    });
}

/// Processes that leave the command's process group (`setsid`, a daemon's double fork) are
/// out of reach of a group kill. On Linux we become a child subreaper while the command runs:
/// its orphaned descendants are re-parented to us instead of to init, so they can be found (by
/// parent pid in `/proc`) and killed with their own process groups. Not covered: processes
/// handed to another service (systemd-run, a container runtime, at/cron), and non-Linux systems.
mod escaped {
    #[cfg(target_os = "linux")]
    use std::time::{Duration, Instant};

    pub struct Subreaper {
        active: bool,
        #[cfg(target_os = "linux")]
        last_reap: Instant,
    }

    impl Subreaper {
        pub fn enable() -> Subreaper {
            #[cfg(target_os = "linux")]
            {
                // SAFETY: sets a flag of this process; integer arguments only.
                let rc = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
                Subreaper { active: rc == 0, last_reap: Instant::now() }
            }
            #[cfg(not(target_os = "linux"))]
            Subreaper { active: false }
        }

        /// Reap orphans that already exited, so a long run does not pile up zombies; `keep` is
        /// the command itself, which `Child` waits for.
        pub fn reap_exited(&mut self, keep: libc::pid_t) {
            #[cfg(target_os = "linux")]
            if self.last_reap.elapsed() >= Duration::from_secs(1) {
                self.reap_now(keep);
            }
            #[cfg(not(target_os = "linux"))]
            let _ = keep;
        }

        /// As [`Self::reap_exited`], without the rate limit: while a killed group winds down,
        /// its zombies re-parented to us would otherwise keep the group looking alive.
        pub fn reap_now(&mut self, keep: libc::pid_t) {
            #[cfg(target_os = "linux")]
            {
                if !self.active {
                    return;
                }
                self.last_reap = Instant::now();
                for (pid, zombie) in children() {
                    if zombie && pid != keep {
                        // SAFETY: reaps one specific child of ours, without blocking.
                        unsafe { libc::waitpid(pid, std::ptr::null_mut(), libc::WNOHANG) };
                    }
                }
            }
            #[cfg(not(target_os = "linux"))]
            let _ = keep;
        }

        /// Kill every process re-parented to us, with its process group, until none is left
        /// and the command's (killed) group `pgid` is gone: its members re-parent their
        /// children to us only as they finish exiting. Call it once the command itself has
        /// been waited for.
        pub fn sweep(&self, pgid: libc::pid_t) {
            #[cfg(not(target_os = "linux"))]
            let _ = pgid;
            #[cfg(target_os = "linux")]
            {
                if !self.active {
                    return;
                }
                let until = Instant::now() + Duration::from_secs(2);
                loop {
                    let found = children();
                    // SAFETY: signal 0 only asks whether the group still has members.
                    let group_left = unsafe { libc::kill(-pgid, 0) } == 0;
                    if (found.is_empty() && !group_left) || Instant::now() >= until {
                        return;
                    }
                    for (pid, zombie) in &found {
                        if !zombie {
                            // SAFETY: `pid` is our child; `-pid` is only the group it leads.
                            unsafe {
                                libc::kill(-*pid, libc::SIGKILL);
                                libc::kill(*pid, libc::SIGKILL);
                            }
                        }
                    }
                    std::thread::sleep(Duration::from_millis(20));
                    for (pid, _) in found {
                        // SAFETY: reaps one specific child of ours, without blocking.
                        unsafe { libc::waitpid(pid, std::ptr::null_mut(), libc::WNOHANG) };
                    }
                }
            }
        }
    }

    impl Drop for Subreaper {
        fn drop(&mut self) {
            #[cfg(target_os = "linux")]
            if self.active {
                // SAFETY: clears the flag set in `enable`.
                unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0) };
            }
        }
    }

    /// Our child processes, with whether each is a zombie, from `/proc/<pid>/stat`.
    #[cfg(target_os = "linux")]
    fn children() -> Vec<(libc::pid_t, bool)> {
        let me = std::process::id() as libc::pid_t;
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for entry in dir.flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<libc::pid_t>().ok()) else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            // `pid (comm) state ppid …`; comm may contain spaces and parentheses.
            let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
                continue;
            };
            let mut fields = rest.split_whitespace();
            let state = fields.next().unwrap_or("");
            if fields.next().and_then(|p| p.parse::<libc::pid_t>().ok()) == Some(me) {
                out.push((pid, state == "Z"));
            }
        }
        out
    }
}

/// SIGTERM to the group, a short grace, then SIGKILL to whatever is left.
fn kill_group(pgid: libc::pid_t, child: &mut Child, reaper: &mut escaped::Subreaper) {
    // SAFETY: signals only the process group created for the command.
    unsafe { libc::kill(-pgid, libc::SIGTERM) };
    let until = Instant::now() + KILL_GRACE;
    let mut reaped = false;
    while Instant::now() < until {
        if !reaped {
            reaped = matches!(child.try_wait(), Ok(Some(_)));
        }
        reaper.reap_now(pgid);
        // SAFETY: signal 0 only asks whether any process of the group is left.
        if reaped && unsafe { libc::kill(-pgid, 0) } != 0 {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // SAFETY: as above.
    unsafe { libc::kill(-pgid, libc::SIGKILL) };
}

/// The tail of one output stream, kept for metric extraction.
#[derive(Default)]
struct Capture {
    bytes: Vec<u8>,
}

impl Capture {
    fn push(&mut self, chunk: &[u8]) {
        self.bytes.extend_from_slice(chunk);
        if self.bytes.len() > CAPTURE_LIMIT + CAPTURE_LIMIT / 4 {
            let cut = self.bytes.len() - CAPTURE_LIMIT;
            self.bytes.drain(..cut);
        }
    }
}

/// The full log under the git dir.
struct LogFile {
    file: Option<File>,
    path: PathBuf,
    out: Output,
}

impl LogFile {
    fn create(path: &Path, out: &Output) -> Result<LogFile> {
        let file = OpenOptions::new().write(true).create_new(true).open(path).map_err(|e| {
            Error::usage(format!("cannot create the log file {}", path.display())).with_source(e)
        })?;
        Ok(LogFile { file: Some(file), path: path.to_path_buf(), out: out.clone() })
    }
    fn bytes(&mut self, bytes: &[u8]) {
        if let Some(file) = &mut self.file {
            if let Err(e) = file.write_all(bytes) {
                // Keep the benchmark running; say once that the log is incomplete.
                self.out.warn(format!("writing {} failed ({e}); the log is incomplete", self.path.display()));
                self.file = None;
            }
        }
    }
    fn line(&mut self, text: &str) {
        self.bytes(format!("{text}\n").as_bytes());
    }
}

/// Live output of the commands on stderr (stdout stays for results and JSON), with an
/// elapsed-time line redrawn below it on a terminal.
struct Tee {
    enabled: bool,
    tty: bool,
    at_line_start: bool,
    status_shown: bool,
    label: String,
    started: Instant,
    budget: Duration,
    last_draw: Option<Instant>,
}

impl Tee {
    fn new(out: &Output, kind: &str, started: Instant, budget: Duration) -> Tee {
        Tee {
            enabled: !out.is_quiet(),
            tty: out.stderr_is_terminal(),
            at_line_start: true,
            status_shown: false,
            label: kind.to_string(),
            started,
            budget,
            last_draw: None,
        }
    }
    fn phase(&mut self, name: &str) {
        self.label = format!("{} {name}", self.label.split(' ').next().unwrap_or(""));
        self.last_draw = None;
    }
    fn write(&mut self, bytes: &[u8]) {
        if !self.enabled {
            return;
        }
        self.clear();
        let mut err = std::io::stderr().lock();
        // The terminal going away must not stop the benchmark.
        let _ = err.write_all(bytes).and_then(|_| err.flush());
        if let Some(last) = bytes.last() {
            self.at_line_start = *last == b'\n';
        }
    }
    fn tick(&mut self) {
        if !self.enabled || !self.tty || !self.at_line_start {
            return;
        }
        if self.last_draw.is_some_and(|t| t.elapsed() < Duration::from_millis(500)) {
            return;
        }
        self.last_draw = Some(Instant::now());
        let text = format!(
            "\r\x1b[2K[{}: {} elapsed of {}]",
            self.label,
            fmt_clock(self.started.elapsed().as_secs()),
            fmt_clock(self.budget.as_secs())
        );
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(text.as_bytes()).and_then(|_| err.flush());
        self.status_shown = true;
    }
    fn clear(&mut self) {
        if self.status_shown {
            let mut err = std::io::stderr().lock();
            let _ = err.write_all(b"\r\x1b[2K").and_then(|_| err.flush());
            self.status_shown = false;
            self.last_draw = None;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The validator's metric rules (protocol.md §6.3, §10.3)

/// stdout stripped, a newline, stderr stripped, empty parts dropped.
fn combined_output(stdout: &[u8], stderr: &[u8]) -> String {
    let parts: Vec<String> = [stdout, stderr]
        .iter()
        .map(|b| String::from_utf8_lossy(b).trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    parts.join("\n")
}

fn secondary_metric(task: &TaskSnapshot) -> Option<String> {
    match task.extra.get("secondary_metric_name") {
        Some(toml::Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
        _ => None,
    }
}

/// The last `<metric> [:=] <number>` in the output, case-insensitive, as validators search it.
fn metric_from_output(combined: &str, metric: &str) -> std::result::Result<Found, String> {
    let pattern =
        format!(r"(?im)\b{}\b\s*[:=]\s*([-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)", regex::escape(metric));
    let re = Regex::new(&pattern).map_err(|e| format!("cannot search for metric '{metric}': {e}"))?;
    let Some(text) = re.captures_iter(combined).last().and_then(|c| c.get(1)).map(|m| m.as_str()) else {
        return Err(format!("metric '{metric}' not found in the benchmark output"));
    };
    let value =
        python_float_str(text).ok_or_else(|| format!("metric '{metric}' value {text:?} is not a number"))?;
    let number = serde_json::from_str::<Number>(text).ok().or_else(|| Number::from_f64(value));
    Ok(Found { value, number })
}

fn read_result_json(path: &Path, shown: &str) -> std::result::Result<Value, String> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == ErrorKind::NotFound => return Err(format!("result file not found: {shown}")),
        Err(e) => return Err(format!("result file cannot be read: {shown} ({e})")),
    };
    let text = String::from_utf8(bytes)
        .map_err(|_| format!("result file is not valid JSON: {shown} (not UTF-8)"))?;
    parse_python_json(&text).map_err(|e| format!("result file is not valid JSON: {shown} ({e})"))
}

/// JSON as Python's `json.loads` reads it: also bare `NaN`, `Infinity` and `-Infinity`,
/// which `json.dumps` writes for non-finite floats. They become strings that
/// [`python_float`] turns back into the same float.
fn parse_python_json(text: &str) -> std::result::Result<Value, serde_json::Error> {
    let strict = serde_json::from_str(text);
    if strict.is_ok() || !(text.contains("NaN") || text.contains("Infinity")) {
        return strict;
    }
    let mut fixed = String::with_capacity(text.len() + 16);
    let mut in_string = false;
    let mut escaped = false;
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
        } else if let Some(token) = ["-Infinity", "Infinity", "NaN"].into_iter().find(|t| rest.starts_with(t))
        {
            fixed.push('"');
            fixed.push_str(token);
            fixed.push('"');
            rest = &rest[token.len()..];
            continue;
        }
        fixed.push(c);
        rest = &rest[c.len_utf8()..];
    }
    serde_json::from_str(&fixed).or(strict)
}

/// Top-level `metric_name`==metric with `metric_value`; else `metrics.<metric>`; else a
/// top-level key named like the metric.
fn metric_from_result(root: &Value, metric: &str, shown: &str) -> std::result::Result<Found, String> {
    let missing = || format!("result file missing metric '{metric}': {shown}");
    let Some(map) = root.as_object() else {
        return Err(missing());
    };
    let value = if map.get("metric_name").and_then(Value::as_str) == Some(metric)
        && map.contains_key("metric_value")
    {
        &map["metric_value"]
    } else if let Some(v) = map.get("metrics").and_then(Value::as_object).and_then(|m| m.get(metric)) {
        v
    } else if let Some(v) = map.get(metric) {
        v
    } else {
        return Err(missing());
    };
    let number =
        python_float(value).ok_or_else(|| format!("result metric '{metric}' is not a number: {value}"))?;
    let json_number = match value {
        Value::Number(n) => Some(n.clone()),
        _ => Number::from_f64(number),
    };
    Ok(Found { value: number, number: json_number })
}

/// Python's `float(value)` for a JSON value.
fn python_float(value: &Value) -> Option<f64> {
    match value {
        Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        Value::Number(n) => {
            let text = n.to_string();
            let f = text.parse::<f64>().ok()?;
            // float() of a huge Python int overflows instead of becoming infinity.
            if f.is_infinite() && !text.contains(['.', 'e', 'E']) {
                return None;
            }
            Some(f)
        }
        Value::String(s) => python_float_str(s),
        _ => None,
    }
}

/// Python's `float(str)`: surrounding whitespace, `_` between digits, inf/nan spellings, and
/// any Unicode decimal digit (validators' `\d` matches `٣`, and `float("٣")` is 3.0).
fn python_float_str(text: &str) -> Option<f64> {
    // As CPython does first: Unicode whitespace becomes ' ', decimal digits become ASCII.
    let ascii: String = text
        .chars()
        .map(|c| {
            if c.is_ascii() {
                c
            } else if c.is_whitespace() {
                ' '
            } else {
                unicode_decimal(c).map_or('?', |d| char::from(b'0' + d))
            }
        })
        .collect();
    let t = ascii.trim_matches(|c: char| matches!(c, ' ' | '\t'..='\r'));
    let cleaned: String = if t.contains('_') {
        let chars: Vec<char> = t.chars().collect();
        for (i, c) in chars.iter().enumerate() {
            if *c == '_' {
                let before = i.checked_sub(1).and_then(|j| chars.get(j)).is_some_and(char::is_ascii_digit);
                let after = chars.get(i + 1).is_some_and(char::is_ascii_digit);
                if !before || !after {
                    return None;
                }
            }
        }
        t.replace('_', "")
    } else {
        t.to_string()
    };
    cleaned.parse::<f64>().ok()
}

/// The value of a Unicode decimal digit (general category Nd). Unicode assigns them only in
/// runs of ten, 0 to 9 in order, so the value is the count of Nd code points before it, mod 10.
fn unicode_decimal(c: char) -> Option<u8> {
    static ND: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    let nd = ND.get_or_init(|| Regex::new(r"^\p{Nd}$").expect("valid regex"));
    let is_nd = |c: char| nd.is_match(c.encode_utf8(&mut [0u8; 4]));
    if !is_nd(c) {
        return None;
    }
    let mut before = 0u32;
    let mut code = u32::from(c);
    while let Some(prev) = code.checked_sub(1).and_then(char::from_u32) {
        if !is_nd(prev) {
            break;
        }
        before += 1;
        code -= 1;
    }
    Some((before % 10) as u8)
}

/// `validator_rejection=<reason>` as printed last.
fn rejection_reason(combined: &str) -> Option<String> {
    let at = combined.rfind(REJECTION_MARKER)?;
    let rest = &combined[at + REJECTION_MARKER.len()..];
    let reason: String = rest.chars().take_while(|c| !c.is_whitespace()).take(200).collect();
    Some(reason)
}

// ---------------------------------------------------------------------------------------------
// State, sidecar and output

fn save_records(
    state_file: &StateFile,
    task: &TaskSnapshot,
    baseline: Option<&Measurement>,
    candidate: &Measurement,
    at: &str,
) -> Result<()> {
    let commands = commands_digest(task);
    state_file.update(|state| {
        for m in baseline.into_iter().chain(std::iter::once(candidate)) {
            let mut other = toml::Table::new();
            if let Some(dirty) = m.dirty {
                other.insert("dirty".into(), toml::Value::Boolean(dirty));
            }
            if let Some(message) = &m.message {
                other.insert("message".into(), toml::Value::String(message.clone()));
            }
            // Which commands produced it, so a remembered baseline is only reused for the same ones.
            other.insert("commands".into(), toml::Value::String(commands.clone()));
            state.bench.push(BenchRecord {
                kind: m.kind.to_string(),
                metric_name: task.metric_name.clone(),
                value: m.value.as_ref().map(|f| f.value).filter(|v| v.is_finite()),
                status: m.status.as_str().to_string(),
                at: at.to_string(),
                source: m.commit.clone(),
                exit_code: m.benchmark_exit(),
                seconds: (m.seconds * 1000.0).round() / 1000.0,
                log: m.log.to_string_lossy().into_owned(),
                other,
            });
        }
        let excess = state.bench.len().saturating_sub(MAX_RECORDS);
        state.bench.drain(..excess);
    })
}

/// The newest ok baseline recorded for this task's base commit and metric.
fn remembered_baseline(state: &State, task: &TaskSnapshot) -> Option<f64> {
    let digest = commands_digest(task);
    state
        .bench
        .iter()
        .rev()
        .find(|r| {
            r.kind == "baseline"
                && r.status == "ok"
                && r.source == task.base_commit
                && r.metric_name == task.metric_name
                && r.other.get("commands").and_then(|v| v.as_str()) == Some(digest.as_str())
        })
        .and_then(|r| r.value)
}

/// The task metric, plus the numeric metrics of the result JSON: its `metrics` object when it
/// has one, else its top-level numbers. Non-finite values cannot be sent and are left out.
fn claimed_metrics(task: &TaskSnapshot, m: &Measurement) -> Map<String, Value> {
    let mut metrics = Map::new();
    if let Some(Value::Object(root)) = &m.result_json {
        let source = match root.get("metrics") {
            Some(Value::Object(inner)) => inner,
            _ => root,
        };
        for (key, value) in source {
            if key == "metric_value" || key == "secondary_metric_value" {
                continue;
            }
            // What the sidecar check accepts as a metric value.
            if sidecar::is_finite_number(value) {
                metrics.insert(key.clone(), value.clone());
            }
        }
    }
    if let Some((name, found)) = &m.secondary {
        if let Some(n) = found.number.clone().filter(|_| found.value.is_finite()) {
            metrics.insert(name.clone(), Value::Number(n));
        }
    }
    if let Some(found) = &m.value {
        match found.number.clone().filter(|_| found.value.is_finite()) {
            Some(n) => {
                metrics.insert(task.metric_name.clone(), Value::Number(n));
            }
            None => {
                metrics.remove(&task.metric_name);
            }
        }
    }
    metrics
}

fn execution_log(
    task: &TaskSnapshot,
    baseline: Option<&Measurement>,
    baseline_value: Option<f64>,
    candidate: &Measurement,
    at: &str,
) -> String {
    let mut lines = vec![format!(
        "git bitsota bench {at}: task {} (metric {}, {}), validator environment, time budget {} s",
        task.slug, task.metric_name, task.metric_direction, task.time_budget_seconds
    )];
    for step in &candidate.steps {
        lines.push(format!("{}: {} ({})", step.name, step.command, step.outcome()));
    }
    let commit = if candidate.commit.is_empty() {
        "unknown".to_string()
    } else {
        crate::repo::short_oid(&candidate.commit).to_string()
    };
    let changes = if candidate.dirty == Some(true) { " + working-tree changes" } else { "" };
    let value = candidate.value.as_ref().map(|f| fmt_num(f.value)).unwrap_or_else(|| "none".into());
    lines.push(format!("candidate (commit {commit}{changes}): {} = {value}", task.metric_name));
    match (baseline, baseline_value) {
        (Some(b), Some(v)) => lines.push(format!(
            "baseline (base commit {}, {}): {} = {}",
            crate::repo::short_oid(&task.base_commit),
            fmt_secs(b.seconds),
            task.metric_name,
            fmt_num(v)
        )),
        (Some(b), None) => lines.push(format!(
            "baseline (base commit {}): {}",
            crate::repo::short_oid(&task.base_commit),
            b.status.as_str()
        )),
        (None, Some(v)) => lines.push(format!(
            "baseline (base commit {}, earlier run): {} = {}",
            crate::repo::short_oid(&task.base_commit),
            task.metric_name,
            fmt_num(v)
        )),
        (None, None) => {}
    }
    if let (Some(b), Some(c)) = (baseline_value, candidate.value.as_ref().map(|f| f.value)) {
        lines.push(format!("improvement: {}", improvement_text(task, b, c)));
    }
    lines.join("\n")
}

/// Positive when the candidate is better in the task's direction.
fn improvement(task: &TaskSnapshot, baseline: f64, candidate: f64) -> f64 {
    if task.maximize() {
        candidate - baseline
    } else {
        baseline - candidate
    }
}

fn improvement_text(task: &TaskSnapshot, baseline: f64, candidate: f64) -> String {
    let delta = improvement(task, baseline, candidate);
    let direction = if task.maximize() { "higher is better" } else { "lower is better" };
    let percent = if baseline != 0.0 && baseline.is_finite() {
        format!(" ({:+.2}%)", delta / baseline.abs() * 100.0)
    } else {
        String::new()
    };
    let verdict = if delta > 0.0 {
        "better"
    } else if delta < 0.0 {
        "worse"
    } else {
        "no change"
    };
    format!("{}{percent}, {verdict} ({direction})", fmt_delta(delta))
}

fn report(
    out: &Output,
    task: &TaskSnapshot,
    baseline: Option<&Measurement>,
    baseline_value: Option<f64>,
    candidate: &Measurement,
    recorded: Option<&Path>,
) -> Result<()> {
    let value = candidate.value.as_ref().map(|f| f.value);
    let improvement_value = match (baseline_value, value) {
        (Some(b), Some(c)) => Some(improvement(task, b, c)),
        _ => None,
    };
    if out.is_json() {
        let num = |v: Option<f64>| v.and_then(Number::from_f64).map(Value::Number).unwrap_or(Value::Null);
        let mut doc = json!({
            "version": 1,
            "metric_name": task.metric_name,
            "metric_direction": task.metric_direction,
            "value": num(value),
            "status": candidate.status.as_str(),
            "message": candidate.message,
            "rejection": candidate.rejection,
            "exit_code": candidate.benchmark_exit(),
            "seconds": (candidate.seconds * 1000.0).round() / 1000.0,
            "commit": candidate.commit,
            "dirty": candidate.dirty,
            "baseline": num(baseline_value),
            "improvement": num(improvement_value),
            "log": candidate.log.to_string_lossy(),
            "sidecar": recorded.map(|p| p.to_string_lossy().into_owned()),
        });
        if let Some(b) = baseline {
            doc["baseline_status"] = json!(b.status.as_str());
            doc["baseline_log"] = json!(b.log.to_string_lossy());
        }
        return out.json(&doc);
    }
    if let Some(b) = baseline {
        out.line(measurement_line(out, task, b, "baseline "))?;
    }
    out.line(measurement_line(out, task, candidate, "candidate"))?;
    if baseline.is_none() {
        if let Some(b) = baseline_value {
            out.line(format!(
                "baseline  {} = {} (earlier run at the base commit)",
                task.metric_name,
                fmt_num(b)
            ))?;
        }
    }
    if let (Some(b), Some(c)) = (baseline_value, value) {
        let text = improvement_text(task, b, c);
        let style = if improvement(task, b, c) > 0.0 { Style::Green } else { Style::Yellow };
        out.line(format!("improvement {}", out.paint(style, &text)))?;
    }
    if let Some(b) = baseline {
        out.line(format!("log (baseline)  {}", b.log.display()))?;
    }
    out.line(format!("log             {}", candidate.log.display()))?;
    Ok(())
}

fn measurement_line(out: &Output, task: &TaskSnapshot, m: &Measurement, label: &str) -> String {
    let status = match m.status {
        Status::Ok => out.paint(Style::Green, "ok"),
        other => out.paint(Style::Red, other.as_str()),
    };
    let mut text = match &m.value {
        Some(found) => format!(
            "{label} {} = {} ({status}, {})",
            task.metric_name,
            fmt_num(found.value),
            fmt_secs(m.seconds)
        ),
        None => format!("{label} {}: no metric ({status}, {})", task.metric_name, fmt_secs(m.seconds)),
    };
    if let Some((name, found)) = &m.secondary {
        text.push_str(&format!("; {name} = {}", fmt_num(found.value)));
    }
    if let Some(reason) = &m.rejection {
        text.push_str(&format!("\n  rejected by the benchmark: validator_rejection={reason}"));
    }
    if let Some(message) = &m.message {
        text.push_str(&format!("\n  {message}"));
    }
    if let Some(v) = m.uncounted {
        text.push_str(&format!("\n  (a value {} was found, but validators do not count it)", fmt_num(v)));
    }
    text
}

// ---------------------------------------------------------------------------------------------
// Small helpers

/// Whether the worktree has changes against HEAD (tracked or untracked, not ignored). Without
/// optional locks so `git status` never rewrites the miner's index.
fn working_tree_dirty(repo: &Repo) -> Option<bool> {
    repo.git()
        .env("GIT_OPTIONAL_LOCKS", "0")
        .args(["status", "--porcelain", "-z", "--untracked-files=normal"])
        .output()
        .ok()
        .map(|bytes| !bytes.is_empty())
}

/// (length, modification time) of a file, to tell whether a run rewrote it.
fn file_stamp_of(path: &Path) -> Option<(u64, SystemTime)> {
    let meta = fs::metadata(path).ok()?;
    Some((meta.len(), meta.modified().ok()?))
}

/// A timestamp for log file names, unique per process.
fn file_stamp() -> String {
    let now = time::OffsetDateTime::now_utc();
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    let text = now.format(&format).unwrap_or_else(|_| now.unix_timestamp().to_string());
    format!("{text}-{}", std::process::id())
}

fn fmt_num(v: f64) -> String {
    format!("{v}")
}

fn fmt_delta(v: f64) -> String {
    let text = format!("{v:+.6}");
    let trimmed = text.trim_end_matches('0').trim_end_matches('.');
    trimmed.to_string()
}

/// Whole seconds, for the elapsed-time line.
fn fmt_clock(secs: u64) -> String {
    if secs < 60 {
        format!("{secs}s")
    } else {
        fmt_secs(secs as f64)
    }
}

fn fmt_secs(secs: f64) -> String {
    if secs < 60.0 {
        return format!("{secs:.1}s");
    }
    let total = secs.round() as u64;
    let (h, m, s) = (total / 3600, (total % 3600) / 60, total % 60);
    if h > 0 {
        format!("{h}h{m:02}m{s:02}s")
    } else {
        format!("{m}m{s:02}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_float_strings() {
        assert_eq!(python_float_str(" 1_000.5 "), Some(1000.5));
        assert_eq!(python_float_str("1__0"), None);
        assert_eq!(python_float_str("_1"), None);
        assert_eq!(python_float_str("-Infinity"), Some(f64::NEG_INFINITY));
        assert!(python_float_str("nan").is_some_and(f64::is_nan));
        assert_eq!(python_float_str(".5"), Some(0.5));
        assert_eq!(python_float_str("abc"), None);
        assert_eq!(python_float(&json!(true)), Some(1.0));
        assert_eq!(python_float(&Value::Null), None);
        // Cases checked against CPython 3's float().
        for (text, want) in [
            ("٣", 3.0),
            ("١٢.٥", 12.5),
            ("١_٢", 12.0),
            ("\u{1D7D1}", 3.0),
            ("\u{1D7D8}", 0.0),
            ("\u{1D7E1}", 9.0),
            ("\u{a0}3.5\u{2003}", 3.5),
            ("\x0b4\x0c", 4.0),
            ("\u{85}5\u{85}", 5.0),
            ("1e5", 1e5),
            ("1.e5", 1e5),
            ("-iNF", f64::NEG_INFINITY),
        ] {
            assert_eq!(python_float_str(text), Some(want), "{text:?}");
        }
        for text in ["²", "1_", "1e5_", "in_f", "\x1f2", "\x005", "infinity_", "", " "] {
            assert_eq!(python_float_str(text), None, "{text:?}");
        }
    }

    #[test]
    fn output_search_reads_unicode_digits_as_validators_do() {
        // Python's `\d` matches any Nd digit and float() reads it.
        assert_eq!(metric_from_output("score: ١٢.٥", "score").unwrap().value, 12.5);
        let found = metric_from_output("score=٣", "score").unwrap();
        assert_eq!(found.number.map(|n| n.to_string()), Some("3.0".to_string()));
    }

    #[test]
    fn output_search_takes_last_match() {
        let text = combined_output(b"score: 1\nSCORE = 2.5e1\n", b"  best_score: 9\nscore:x\n");
        let found = metric_from_output(&text, "score").unwrap();
        assert_eq!(found.value, 25.0);
        assert!(metric_from_output("scores: 3", "score").is_err());
        assert_eq!(metric_from_output("a.b=4", "a.b").unwrap().value, 4.0);
        // Metacharacters are literal, and `\b` keeps Python's meaning (checked against `re`).
        assert!(metric_from_output("axb=4", "a.b").is_err());
        assert_eq!(metric_from_output("a+b: 3", "a+b").unwrap().value, 3.0);
        assert!(metric_from_output("loss(val)=2", "loss(val)").is_err());
        assert!(metric_from_output("y[x]=1", "[x]").is_err());
        assert_eq!(metric_from_output("score=\n5", "score").unwrap().value, 5.0);
        assert_eq!(metric_from_output("score =  -1.5e-3x", "score").unwrap().value, -1.5e-3);
    }

    #[test]
    fn python_json_non_finite() {
        let v = parse_python_json(r#"{"m": NaN, "s": "NaN in text", "i": -Infinity}"#).unwrap();
        assert!(python_float(&v["m"]).is_some_and(f64::is_nan));
        assert_eq!(v["s"], json!("NaN in text"));
        assert_eq!(python_float(&v["i"]), Some(f64::NEG_INFINITY));
    }

    #[test]
    fn delta_format() {
        assert_eq!(fmt_delta(0.5), "+0.5");
        assert_eq!(fmt_delta(-2.0), "-2");
    }
}
