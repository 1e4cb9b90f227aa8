//! `<git common dir>/bitsota.toml`: what this clone is bound to, its claim and its submissions.
//!
//! Writes are atomic (temp file, fsync, rename, fsync of the directory) and happen under a lock
//! file, so a crash or a concurrent run can never leave a half-written file. A file that does
//! not parse, or was written by a newer version, is never rewritten.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::task::TaskSnapshot;

pub const STATE_VERSION: i64 = 1;

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

/// One run of `bench`: the metric and where it came from.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BenchRecord {
    /// `baseline` (at base_commit) or `candidate` (the working tree).
    pub kind: String,
    pub metric_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// ok | rejected | error | timeout
    pub status: String,
    pub at: String,
    /// Commit (baseline) or the tree of the working state (candidate) that was measured.
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
    pub seconds: f64,
    pub log: String,
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

    /// Take the lock for a read-modify-write. Released when the guard is dropped.
    pub fn lock(&self) -> Result<StateLock> {
        let lock_path = self.lock_path();
        for attempt in 0..2 {
            match OpenOptions::new().write(true).create_new(true).open(&lock_path) {
                Ok(mut file) => {
                    // The pid lets a later run recognise a lock left behind by a crash.
                    let _ = write!(file, "{}", std::process::id());
                    return Ok(StateLock { file: self.clone(), lock_path });
                }
                Err(e) if e.kind() == ErrorKind::AlreadyExists && attempt == 0 => {
                    if lock_is_stale(&lock_path) {
                        let _ = fs::remove_file(&lock_path);
                        continue;
                    }
                    return Err(locked_error(&lock_path));
                }
                Err(e) if e.kind() == ErrorKind::AlreadyExists => return Err(locked_error(&lock_path)),
                Err(e) => {
                    return Err(Error::usage(format!("cannot create the lock file {}", lock_path.display()))
                        .with_source(e));
                }
            }
        }
        Err(locked_error(&lock_path))
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
        let aside = sibling(&self.path, &format!(".corrupt-{stamp}"));
        fs::rename(&self.path, &aside)
            .map_err(|e| Error::usage(format!("cannot move {} aside", self.path.display())).with_source(e))?;
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
    Error::usage(format!("another git-bitsota is updating the state ({} exists)", lock_path.display()))
        .with_code("state_locked")
        .with_hint("wait for it to finish; if no git-bitsota is running, delete the lock file")
}

/// A lock whose owner process is gone (same machine) can be taken over.
fn lock_is_stale(lock_path: &Path) -> bool {
    let mut text = String::new();
    let read = File::open(lock_path).and_then(|mut f| f.read_to_string(&mut text));
    if read.is_err() {
        return false;
    }
    let Ok(pid) = text.trim().parse::<i32>() else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: kill with signal 0 only checks whether the process exists.
    let alive = unsafe { libc::kill(pid, 0) } == 0
        || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH);
    !alive
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
    let table: toml::Table = toml::from_str(text).map_err(|e| corrupt(e.message().to_string()))?;
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
    toml::from_str::<State>(text).map_err(|e| corrupt(e.message().to_string()))
}

/// Held while a command reads, changes and writes the state.
pub struct StateLock {
    file: StateFile,
    lock_path: PathBuf,
}

impl StateLock {
    pub fn read(&self) -> Result<Option<State>> {
        self.file.read()
    }
    pub fn read_bound(&self) -> Result<State> {
        self.file.read_bound()
    }
    pub fn path(&self) -> &Path {
        self.file.path()
    }

    /// Replace the state file atomically.
    pub fn write(&self, state: &State) -> Result<()> {
        let path = self.file.path();
        let text = toml::to_string(state)
            .map_err(|e| Error::usage("could not serialise the state file").with_source(e))?;
        let tmp = sibling(path, &format!(".tmp-{}", std::process::id()));
        let result = write_synced(&tmp, text.as_bytes()).and_then(|_| fs::rename(&tmp, path));
        if let Err(e) = result {
            let _ = fs::remove_file(&tmp);
            return Err(Error::usage(format!("cannot write {}", path.display())).with_source(e));
        }
        // Make the rename itself durable.
        if let Some(dir) = path.parent() {
            if let Ok(dir) = File::open(dir) {
                let _ = dir.sync_all();
            }
        }
        Ok(())
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = OpenOptions::new().write(true).create(true).truncate(true).open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

impl Drop for StateLock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.lock_path);
    }
}
