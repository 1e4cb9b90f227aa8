//! Ctrl-C for commands that make things on disk (cli.md §7: exit 130, whatever was half-made
//! is removed). While a [`Guard`] lives, SIGINT only sets a flag: the git children, which get
//! the same signal from the terminal, stop; the command sees the failure, cleans up on the way
//! out, and reports [`Kind::Interrupted`].

use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Error, Kind, Result};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_interrupt(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// SIGINT is caught (not fatal) while this lives.
pub struct Guard {
    previous: libc::sighandler_t,
}

impl Guard {
    pub fn install() -> Guard {
        let handler = on_interrupt as extern "C" fn(libc::c_int) as libc::sighandler_t;
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        let previous = unsafe { libc::signal(libc::SIGINT, handler) };
        Guard { previous }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        // SAFETY: restores the disposition that was in place before.
        unsafe { libc::signal(libc::SIGINT, self.previous) };
    }
}

/// Whether Ctrl-C was pressed since the program started.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// The error for an interrupted command (exit 130).
pub fn error() -> Error {
    Error::new(Kind::Interrupted, "interrupted").with_hint("nothing half-made was left behind")
}

/// `Err(error())` once Ctrl-C was pressed: call between steps of a long operation.
pub fn check() -> Result<()> {
    if interrupted() {
        Err(error())
    } else {
        Ok(())
    }
}

/// An error of a step that ran while Ctrl-C was pressed becomes the interruption.
pub fn or_interrupted<T>(result: Result<T>) -> Result<T> {
    match result {
        Err(_) if interrupted() => Err(error()),
        other => other,
    }
}
