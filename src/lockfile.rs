//! Kernel locks on a lock file beside the file they guard (the state file's `.lock`, the
//! request lock). The kernel lock, not the file's existence, is the lock: it dies with its
//! process, so a run that was killed never leaves a lock behind, and a pid reused by another
//! program (or a pid from another container) cannot keep or steal it. A holder removes the
//! file when it is done, while still holding it; a lock taken on a file that is no longer at
//! the path guards nothing, so the attempt starts over.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::error::{Error, Result};

/// One non-blocking attempt at a lock.
pub(crate) enum Attempt {
    /// Ours: the file holds our pid (only for a person, or a waiting message, to see).
    Locked(File),
    /// Another process holds it; the file is open to read the holder's pid.
    Busy(File),
}

/// Try once to lock `lock_path` (std's `File::try_lock` is `flock(LOCK_EX|LOCK_NB)` on Unix).
pub(crate) fn try_lock(lock_path: &Path) -> Result<Attempt> {
    loop {
        let file =
            OpenOptions::new().read(true).write(true).create(true).truncate(false).open(lock_path).map_err(
                |e| {
                    Error::usage(format!("cannot create the lock file {}", lock_path.display()))
                        .with_source(e)
                },
            )?;
        match file.try_lock() {
            Ok(()) if is_same_file(&file, lock_path) => {
                let mut file = file;
                let _ = file.set_len(0);
                let _ = write!(file, "{}", std::process::id());
                return Ok(Attempt::Locked(file));
            }
            // Locked a file its holder has just removed: try the one now at the path.
            Ok(()) => continue,
            Err(TryLockError::WouldBlock) => return Ok(Attempt::Busy(file)),
            Err(TryLockError::Error(err)) if err.kind() == ErrorKind::Interrupted => {
                return Ok(Attempt::Busy(file));
            }
            Err(TryLockError::Error(err)) => {
                return Err(Error::usage(format!("cannot lock {}", lock_path.display())).with_source(err));
            }
        }
    }
}

fn is_same_file(file: &File, path: &Path) -> bool {
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(held), Ok(named)) => held.dev() == named.dev() && held.ino() == named.ino(),
        _ => false,
    }
}
