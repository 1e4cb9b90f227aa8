//! `<git common dir>/bitsota.toml`: what this clone is bound to, its claim and its submissions.
//!
//! Writes are atomic (temp file, fsync, rename, fsync of the directory) and happen under a lock
//! file, so a crash or a concurrent run can never leave a half-written file. A file that does
//! not parse, or was written by a newer version, is never rewritten.

use std::fs::{self, File};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, ResultExt};
use crate::lockfile::{self, Attempt};
use crate::task::TaskSnapshot;

pub const STATE_VERSION: i64 = 1;

/// How long a command waits for another run holding the state lock. Every holder only reads
/// and writes the file (no network, no benchmark) while it holds it, so this is generous; a
/// result that already exists on the coordinator (a claim, a submission) must not be lost
/// because `status` ran in another terminal at that moment.
const LOCK_WAIT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct State {
    pub version: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coordinator_url: Option<String>,
    /// Disclaimer versions already shown to this user (`<code>@<version>`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub disclaimers_seen: Vec<String>,
    /// SHA-256 of the setup and benchmark commands the user agreed to run (see `bench`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trusted_commands: Option<String>,
    pub task: TaskSnapshot,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim: Option<ClaimRecord>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub submissions: Vec<SubmissionRecord>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bench: Vec<BenchRecord>,
    /// Peer evaluations this clone sent (`review`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reviews: Vec<ReviewRecord>,
    /// SHA-256 of each agent command (`run -- COMMAND…`) the user agreed to run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trusted_agents: Vec<String>,
    /// Gated agent attempts (`run`), each kept as `refs/bitsota/attempts/<n>`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<AttemptRecord>,
    /// A claim request sent but not recorded: the next `claim` looks up what it made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_claim: Option<PendingClaim>,
    /// The id of a claim whose cancel was sent but not recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_cancel: Option<String>,
    /// A submission sent but not recorded: the next `submit` looks it up before sending again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_submission: Option<PendingSubmission>,
    /// The submission whose peer evaluation was sent but not recorded: the next `review` looks
    /// it up before sending again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_review: Option<String>,
    /// The submission whose idea this work implements (`apply` records it; `submit` sends it
    /// as `implemented_submission_id` unless the flag or the sidecar names another).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub implements: Option<String>,
    /// Keys a newer git-bitsota of the same format version may have written.
    #[serde(flatten)]
    pub other: toml::Table,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ClaimRecord {
    pub id: String,
    pub hotkey: String,
    pub status: String,
    #[serde(default)]
    pub created_at: String,
    #[serde(default)]
    pub expires_at: String,
    /// The pool work item this claim is on (`claim --work-item`), with its title and
    /// instructions as served, and `claimed` or (after a submit) `completed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub work_item_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub work_item_title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub work_item_instructions: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub work_item_status: Option<String>,
    /// The submission this claim builds on, as sent in `base_submission_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_submission_id: Option<String>,
    #[serde(flatten)]
    pub other: toml::Table,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SubmissionRecord {
    pub id: String,
    pub claim_id: String,
    pub status: String,
    #[serde(default)]
    pub created_at: String,
    pub base_ref: String,
    pub patch_sha256: String,
    pub patch_bytes: u64,
    #[serde(flatten)]
    pub other: toml::Table,
}

/// One peer evaluation sent by `review`: what was replayed and the verdict that went out.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ReviewRecord {
    pub submission_id: String,
    pub task_id: String,
    /// The hotkey that signed the evaluation.
    pub evaluator_hotkey: String,
    /// accepted | rejected | error
    pub status: String,
    #[serde(default)]
    pub observed_metrics: toml::Table,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub notes: String,
    /// SHA-256 of the replayed patch bytes.
    pub patch_sha256: String,
    pub sent_at: String,
    /// The evaluation's id as the coordinator answered it (empty when the answer was lost and
    /// the evaluation was found by listing).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub evaluation_id: String,
    #[serde(flatten)]
    pub other: toml::Table,
}

impl ClaimRecord {
    /// Past its expiry (false when the expiry is unknown: the coordinator decides then).
    pub fn expired(&self) -> bool {
        crate::timefmt::seconds_left(&self.expires_at).is_some_and(|s| s <= 0)
    }

    /// Active and not expired: a claim this clone works under.
    pub fn is_live(&self) -> bool {
        self.status == "active" && !self.expired()
    }

    /// Can take a submission: live, or `submitted` for a further, different patch (the
    /// coordinator decides whether it takes more than one).
    pub fn takes_submissions(&self) -> bool {
        matches!(self.status.as_str(), "active" | "submitted") && !self.expired()
    }
}

/// A claim request in flight, with the active claims of this hotkey that existed before it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PendingClaim {
    pub at: String,
    #[serde(default)]
    pub known: Vec<String>,
}

/// A submission in flight: which claim and which patch.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PendingSubmission {
    pub claim_id: String,
    pub patch_sha256: String,
    #[serde(default)]
    pub at: String,
}

/// One run of `bench`: the metric and where it came from.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BenchRecord {
    /// `baseline` (at base_commit) or `candidate` (the working tree).
    pub kind: String,
    pub metric_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    pub status: crate::measure::Status,
    pub at: String,
    /// Commit (baseline) or the tree of the working state (candidate) that was measured.
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
    pub seconds: f64,
    pub log: String,
    /// Whether the work tree had changes against HEAD when it was measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dirty: Option<bool>,
    /// Why the run did not end ok.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Digest of the commands that ran, so a remembered baseline is reused only for the same.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commands: Option<String>,
    #[serde(flatten)]
    pub other: toml::Table,
}

/// One agent attempt of `run`: what the gate found, and where the attempt's commit is.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AttemptRecord {
    pub n: u64,
    /// `refs/bitsota/attempts/<n>`.
    #[serde(rename = "ref")]
    pub refname: String,
    /// The attempt commit: its tree is what would have been submitted, its parent the base.
    pub commit: String,
    pub created_at: String,
    /// `ok` (the gate passed), `check_failed`, or the benchmark's `rejected|error|timeout`.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<f64>,
    pub patch_bytes: u64,
    pub patch_sha256: String,
    pub check_ok: bool,
    /// Codes of the check's problems.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
    /// The sidecar's `summary` after the cycle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// The tree of the attempt commit and the base commit it was made on.
    pub tree: String,
    pub base_commit: String,
    /// The cycle of its `run`, and how the agent's run ended (`exited with 0 after 3.1s`).
    pub cycle: u64,
    pub agent: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_exit: Option<i64>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub agent_timed_out: bool,
    pub agent_log: String,
    /// The gate's benchmark log, when the check passed and the benchmark ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bench_log: Option<String>,
    /// Why the benchmark did not end `ok`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(flatten)]
    pub other: toml::Table,
}

impl State {
    pub fn new(task: TaskSnapshot, coordinator_url: Option<String>) -> State {
        State {
            version: STATE_VERSION,
            coordinator_url,
            disclaimers_seen: Vec::new(),
            trusted_commands: None,
            task,
            claim: None,
            submissions: Vec::new(),
            bench: Vec::new(),
            reviews: Vec::new(),
            trusted_agents: Vec::new(),
            attempts: Vec::new(),
            pending_claim: None,
            pending_cancel: None,
            pending_submission: None,
            pending_review: None,
            implements: None,
            other: toml::Table::new(),
        }
    }
}

/// The state file of one clone.
#[derive(Debug, Clone)]
pub struct StateFile {
    path: PathBuf,
}

impl StateFile {
    pub fn new(path: PathBuf) -> StateFile {
        StateFile { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock_path(&self) -> PathBuf {
        sibling(&self.path, ".lock")
    }

    /// Read the state; `Ok(None)` when the clone is not bound yet.
    pub fn read(&self) -> Result<Option<State>> {
        let text = match fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(Error::usage(format!("cannot read {}", self.path.display())).with_source(e));
            }
        };
        parse(&self.path, &text).map(Some)
    }

    /// Read the state, failing with `not_bound` when there is none.
    pub fn read_bound(&self) -> Result<State> {
        self.read()?.ok_or_else(|| not_bound(&self.path))
    }

    /// Read-modify-write of a bound state under the lock: `change` edits it, and the file is
    /// written only when something changed. Returns what `change` returns.
    pub fn update<T>(&self, change: impl FnOnce(&mut State) -> T) -> Result<T> {
        let lock = self.lock()?;
        let before = lock.read_bound()?;
        let mut state = before.clone();
        let result = change(&mut state);
        if state != before {
            lock.write(&state)?;
        }
        Ok(result)
    }

    /// Take the lock for a read-modify-write, waiting a while for another run to finish.
    /// Released when the guard is dropped.
    pub fn lock(&self) -> Result<StateLock> {
        self.lock_within(LOCK_WAIT)
    }

    fn lock_within(&self, wait: Duration) -> Result<StateLock> {
        let lock_path = self.lock_path();
        let deadline = Instant::now() + wait;
        loop {
            if let Attempt::Locked(file) = lockfile::try_lock(&lock_path)? {
                return Ok(StateLock { file: self.clone(), lock_path, _lock: file });
            }
            if Instant::now() >= deadline {
                return Err(locked_error(&lock_path));
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Move an unreadable state file aside (`init --force`), returning where it went.
    pub fn move_aside(&self) -> Result<Option<PathBuf>> {
        if !self.path.exists() {
            return Ok(None);
        }
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        // Never overwrite an earlier copy moved aside in the same second.
        let mut aside = sibling(&self.path, &format!(".corrupt-{stamp}"));
        for n in 1.. {
            if fs::symlink_metadata(&aside).is_err() {
                break;
            }
            aside = sibling(&self.path, &format!(".corrupt-{stamp}-{n}"));
        }
        fs::rename(&self.path, &aside).or_usage(|| format!("cannot move {} aside", self.path.display()))?;
        Ok(Some(aside))
    }
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(suffix);
    path.with_file_name(name)
}

fn not_bound(path: &Path) -> Error {
    Error::usage(format!("this clone is not bound to a task (no {})", path.display()))
        .with_code("not_bound")
        .with_hint("bind it with `git bitsota init TASK` (or `--task-file FILE`), or start with `git bitsota clone TASK`")
}

fn locked_error(lock_path: &Path) -> Error {
    Error::usage(format!(
        "another git-bitsota kept the state locked for over {} s ({})",
        LOCK_WAIT.as_secs(),
        lock_path.display()
    ))
    .with_code("state_locked")
    .with_hint("wait for it to finish, then run the command again")
}

fn parse(path: &Path, bytes: &[u8]) -> Result<State> {
    let corrupt = |why: String| {
        Error::usage(format!("the state file {} is corrupt: {why}", path.display()))
            .with_code("state_corrupt")
            .with_hint(
                "fix it by hand, or run `git bitsota init TASK --force` to move it aside and bind again",
            )
    };
    let text = std::str::from_utf8(bytes).map_err(|_| corrupt("it is not UTF-8".into()))?;
    // Where, so a hand edit can be fixed: `line N: what`.
    let located = |e: toml::de::Error| match e.span() {
        // An empty or whole-file span (a missing top-level key) locates nothing.
        Some(span) if span.start > 0 || (span.end > 0 && span.end < text.trim_end().len()) => {
            let before = text.get(..span.start).unwrap_or(text);
            format!("line {}: {}", before.matches('\n').count() + 1, e.message())
        }
        _ => e.message().to_string(),
    };
    let table: toml::Table = toml::from_str(text).map_err(|e| corrupt(located(e)))?;
    match table.get("version") {
        Some(toml::Value::Integer(v)) if *v > STATE_VERSION => {
            return Err(Error::usage(format!(
                "the state file {} has format version {v}, newer than this git-bitsota understands ({STATE_VERSION})",
                path.display()
            ))
            .with_code("state_too_new")
            .with_hint("upgrade git-bitsota (`cargo install --path . --locked` in its source)"));
        }
        Some(toml::Value::Integer(v)) if *v == STATE_VERSION => {}
        Some(other) => return Err(corrupt(format!("unsupported `version` {other}"))),
        None => return Err(corrupt("it has no `version`".into())),
    }
    toml::from_str::<State>(text).map_err(|e| corrupt(located(e)))
}

/// Held while a command reads, changes and writes the state.
pub struct StateLock {
    file: StateFile,
    lock_path: PathBuf,
    /// Holds the kernel lock; closed (and so released) after `Drop` removed the file.
    _lock: File,
}

impl StateLock {
    pub fn read(&self) -> Result<Option<State>> {
        self.file.read()
    }
    pub fn read_bound(&self) -> Result<State> {
        self.file.read_bound()
    }

    /// Replace the state file atomically.
    pub fn write(&self, state: &State) -> Result<()> {
        let path = self.file.path();
        let text = toml::to_string(state).or_usage(|| "could not serialise the state file")?;
        // Never write a file that the next run would call corrupt (e.g. an integer TOML
        // cannot hold): refuse here, and the old file stays as it was.
        parse(path, text.as_bytes()).map_err(|e| {
            Error::usage(format!("refusing to write {}: the new state would not read back", path.display()))
                .with_source(e)
        })?;
        // A symlinked state file (e.g. kept outside .git) stays a symlink.
        crate::fsutil::write_atomic(path, text.as_bytes(), None)
            .or_usage(|| format!("cannot write {}", path.display()))
    }
}

impl Drop for StateLock {
    fn drop(&mut self) {
        // Remove while still holding the lock: a waiter that then locks the removed file sees
        // it is gone and starts over (see `lock_within`).
        let _ = fs::remove_file(&self.lock_path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::TaskSnapshot;

    fn snapshot() -> TaskSnapshot {
        TaskSnapshot {
            id: "t".into(),
            slug: "t".into(),
            title: String::new(),
            repository: "/r".into(),
            base_ref: "main".into(),
            base_commit: "0".repeat(40),
            metric_name: "score".into(),
            metric_direction: crate::task::MetricDirection::Maximize,
            competition_mode: crate::task::CompetitionMode::Standard,
            allowed_patch_paths: vec!["a".into()],
            max_patch_bytes: 1,
            setup_command: None,
            benchmark_command: "true".into(),
            result_path: None,
            time_budget_seconds: 1,
            artifact_required: false,
            fetched_at: String::new(),
            extra: toml::Table::new(),
        }
    }

    fn counter(state: &State) -> i64 {
        state.other.get("counter").and_then(toml::Value::as_integer).unwrap_or(0)
    }

    #[test]
    fn concurrent_read_modify_write_loses_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::new(dir.path().join("bitsota.toml"));
        file.lock().unwrap().write(&State::new(snapshot(), None)).unwrap();
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let file = file.clone();
                std::thread::spawn(move || {
                    for _ in 0..25 {
                        let lock = file.lock().unwrap();
                        let mut state = lock.read_bound().unwrap();
                        let next = counter(&state) + 1;
                        state.other.insert("counter".into(), toml::Value::Integer(next));
                        lock.write(&state).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(counter(&file.read_bound().unwrap()), 200);
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["bitsota.toml"], "no lock or temp file left");
    }

    #[test]
    fn held_lock_times_out_with_state_locked() {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::new(dir.path().join("bitsota.toml"));
        let held = file.lock().unwrap();
        let err = file.lock_within(Duration::from_millis(100)).err().expect("still held");
        assert_eq!(err.code(), "state_locked");
        assert!(err.message().contains("bitsota.toml.lock"), "{}", err.message());
        drop(held);
        file.lock_within(Duration::ZERO).expect("free again");
    }

    #[test]
    fn unreadable_result_is_never_written() {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::new(dir.path().join("bitsota.toml"));
        let lock = file.lock().unwrap();
        let good = State::new(snapshot(), None);
        lock.write(&good).unwrap();
        let mut bad = good.clone();
        // TOML can print this, but a u64 field beyond i64 does not read back.
        bad.task.max_patch_bytes = u64::MAX;
        let err = lock.write(&bad).expect_err("refused");
        assert!(err.message().contains("would not read back"), "{}", err.message());
        drop(lock);
        assert_eq!(file.read_bound().unwrap(), good);
    }
}
