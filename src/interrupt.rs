//! Catching Ctrl-C (and the other ways a terminal or a supervisor asks a process to stop) so a
//! command can clean up first: `clone` removes its half-made directory, `bench` kills the
//! benchmark's process group and removes its temporary worktree.
//!
//! Built on signal-hook: the handlers only set atomic flags. While no [`Interrupt`] guard is
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

impl Interrupt {
    pub fn catch() -> Interrupt {
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
        flags().unguarded.store(true, Ordering::SeqCst);
    }
}

/// Whether one of [`SIGNALS`] arrived while a guard was alive.
pub fn interrupted() -> bool {
    FLAGS.get().is_some_and(|flags| flags.interrupted.load(Ordering::SeqCst))
}
