//! Catching Ctrl-C (and the other ways a terminal or a supervisor asks a process to stop) so a
//! command can clean up first: `clone` removes its half-made directory, `bench` kills the
//! benchmark's process group and removes its temporary worktree.
//!
//! ChangesAndPatch on signal-hook: the handlers only set atomic flags. While no [`Interrupt`] guard is
//! alive, every caught signal takes its default action, exactly as if nothing were installed.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};

/// The signals handled: SIGQUIT (Ctrl-\) like SIGINT, so it cleans up instead of dumping core.
pub const SIGNALS: [i32; 4] = [SIGINT, SIGTERM, SIGHUP, SIGQUIT];

struct Flags {
    /// Set once one of [`SIGNALS`] arrived while a guard was alive.
    interrupted: Arc<AtomicBool>,
    /// True while no guard is alive: then a signal takes its default action.
    unguarded: Arc<AtomicBool>,
}

static FLAGS: OnceLock<Flags> = OnceLock::new();

fn flags() -> &'static Flags {
    FLAGS.get_or_init(|| {
        let flags = Flags {
            interrupted: Arc::new(AtomicBool::new(false)),
            unguarded: Arc::new(AtomicBool::new(true)),
        };
        for signal in SIGNALS {
            // Order matters: the default action (when unguarded) comes first; otherwise only
            // the flag is set.
            let _ = signal_hook::flag::register_conditional_default(signal, Arc::clone(&flags.unguarded));
            let _ = signal_hook::flag::register(signal, Arc::clone(&flags.interrupted));
        }
        flags
    })
}

/// While alive, [`SIGNALS`] set a flag ([`interrupted`]) instead of ending the process.
pub struct Interrupt {
    _private: (),
}

/// How many guards are alive: guards nest (a check inside a command that catches already).
static DEPTH: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

impl Interrupt {
    pub fn catch() -> Interrupt {
        DEPTH.fetch_add(1, Ordering::SeqCst);
        flags().unguarded.store(false, Ordering::SeqCst);
        Interrupt { _private: () }
    }

    /// Whether a signal arrived (since the process started catching them).
    pub fn happened(&self) -> bool {
        interrupted()
    }
}

impl Drop for Interrupt {
    fn drop(&mut self) {
        if DEPTH.fetch_sub(1, Ordering::SeqCst) == 1 {
            flags().unguarded.store(true, Ordering::SeqCst);
        }
    }
}

/// Whether one of [`SIGNALS`] arrived while a guard was alive.
pub fn interrupted() -> bool {
    FLAGS.get().is_some_and(|flags| flags.interrupted.load(Ordering::SeqCst))
}

/// The error for an interrupted command: exit 130 (cli.md §7).
pub fn error() -> crate::error::Error {
    crate::error::Error::new(crate::error::Kind::Interrupted, "interrupted")
        .with_hint("nothing half-made was left behind")
}

/// `Err(error())` once a signal arrived: call between the steps of a long operation.
pub fn check() -> crate::error::Result<()> {
    if interrupted() {
        Err(error())
    } else {
        Ok(())
    }
}

/// An error of a step that ran while a signal arrived becomes the interruption.
pub fn or_interrupted<T>(result: crate::error::Result<T>) -> crate::error::Result<T> {
    match result {
        Err(_) if interrupted() => Err(error()),
        other => other,
    }
}
