//! One signed mutation per clone at a time, and what a lost answer means.
//!
//! `claim`, `cancel` and `submit` (and any other command that sends a signed request changing
//! something on the coordinator) hold a [`MutationGuard`] from the moment they decide to send
//! until the answer is recorded in the state file. A second process in the same clone, or in
//! one of its linked worktrees (they share the git common dir, hence the state file), waits
//! for it and then decides on what the first one recorded, so two terminals never send the
//! same request twice.
//!
//! The lock is a kernel lock (`flock`) on `<state file>.request-lock`, never the file's
//! existence: a holder that is killed releases it with its last descriptor, and the in-flight
//! marker it left in the state makes the next run look up before sending. It is a separate
//! lock from the state file's own, because the holder reads and writes the state (under that
//! lock) while it waits for the network.

use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{Error, Kind, Result};
use crate::lockfile::{self, Attempt};
use crate::output::Output;
use crate::state::StateFile;

/// How long a run waits for another one to finish its signed request before saying so.
const SAY_AFTER: Duration = Duration::from_secs(1);

/// How long a run waits at most. A holder may legitimately take minutes: a look-up (GETs are
/// retried), a 120 s submission, another look-up.
const WAIT_AT_MOST: Duration = Duration::from_secs(15 * 60);

/// Held while a signed request is decided, sent and its answer recorded.
pub struct MutationGuard {
    lock_path: PathBuf,
    /// Holds the kernel lock; closed (and so released) after `Drop` removed the file.
    _lock: File,
}

impl MutationGuard {
    /// Take the clone's request lock, waiting for another run that holds it. `what` names
    /// what this run is about to send, for the waiting message.
    pub fn acquire(state_file: &StateFile, out: &Output, what: &str) -> Result<MutationGuard> {
        Self::acquire_within(state_file, out, what, WAIT_AT_MOST)
    }

    fn acquire_within(
        state_file: &StateFile,
        out: &Output,
        what: &str,
        wait: Duration,
    ) -> Result<MutationGuard> {
        let lock_path = lock_path(state_file.path());
        let started = Instant::now();
        let mut said = false;
        loop {
            let file = match lockfile::try_lock(&lock_path)? {
                Attempt::Locked(file) => return Ok(MutationGuard { lock_path, _lock: file }),
                Attempt::Busy(file) => file,
            };
            if !said && started.elapsed() >= SAY_AFTER {
                said = true;
                out.info(format!(
                    "waiting for another git-bitsota in this clone{} to finish its signed request before {what}",
                    holder(&file).map(|pid| format!(" (pid {pid})")).unwrap_or_default()
                ));
            }
            if started.elapsed() >= wait {
                return Err(Error::usage(format!(
                    "another git-bitsota kept this clone's request lock for over {} s ({})",
                    wait.as_secs(),
                    lock_path.display()
                ))
                .with_code("request_locked")
                .with_hint("wait for it to finish, then run the command again"));
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}

impl Drop for MutationGuard {
    fn drop(&mut self) {
        // Remove while still holding the lock: a waiter that then locks the removed file sees
        // it is gone and starts over.
        let _ = fs::remove_file(&self.lock_path);
    }
}

/// `<state file>.request-lock`, beside the state file's own `.lock`.
fn lock_path(state_path: &Path) -> PathBuf {
    let mut name = state_path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".request-lock");
    state_path.with_file_name(name)
}

/// The pid the holder wrote, if it is readable (only for the message).
fn holder(file: &File) -> Option<u32> {
    let mut text = String::new();
    let reader = file;
    reader.take(32).read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

/// Whether a failed signed POST may still have taken effect: no answer (timeout, reset,
/// closed connection), a 5xx, or an answer that could not be read. A 4xx is a definite
/// refusal: nothing was done.
pub fn answer_lost(err: &Error) -> bool {
    match err.kind() {
        Kind::Network => true,
        Kind::Server => matches!(err.code(), "server_error" | "bad_response"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_waits_then_times_out_and_a_released_lock_is_free() {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::new(dir.path().join("bitsota.toml"));
        let out = Output::plain(false);
        let held = MutationGuard::acquire(&file, &out, "testing").unwrap();
        let err = MutationGuard::acquire_within(&file, &out, "testing", Duration::from_millis(100))
            .err()
            .expect("still held");
        assert_eq!(err.code(), "request_locked");
        assert!(err.message().contains("bitsota.toml.request-lock"), "{}", err.message());
        drop(held);
        let again =
            MutationGuard::acquire_within(&file, &out, "testing", Duration::ZERO).expect("free again");
        drop(again);
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert!(names.is_empty(), "no lock file left: {names:?}");
    }

    #[test]
    fn threads_take_turns() {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::new(dir.path().join("bitsota.toml"));
        let inside = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (file, inside) = (file.clone(), inside.clone());
                std::thread::spawn(move || {
                    for _ in 0..10 {
                        let _guard = MutationGuard::acquire(&file, &Output::plain(false), "testing").unwrap();
                        let was = inside.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        assert_eq!(was, 0, "two holders at once");
                        std::thread::sleep(Duration::from_millis(1));
                        inside.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    }
}
