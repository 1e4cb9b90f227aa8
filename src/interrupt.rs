//! Catching Ctrl-C (and the other ways a terminal or a supervisor asks a process to stop) so a
//! command can clean up first: `clone` removes its half-made directory, `bench` kills the
//! benchmark's process group and removes its temporary worktree.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};

/// The signals handled: SIGQUIT (Ctrl-\) like SIGINT, so it cleans up instead of dumping core.
pub const SIGNALS: [i32; 4] = [SIGINT, SIGTERM, SIGHUP, SIGQUIT];

/// Set once one of [`SIGNALS`] arrived. A second signal of a kind already seen takes its
/// default action (the process ends), so a stuck clean-up can still be interrupted.
#[derive(Clone)]
pub struct Interrupt {
    flag: Arc<AtomicBool>,
}

impl Interrupt {
    /// Start catching [`SIGNALS`]. The handlers stay for the rest of the process (signal-hook
    /// cannot give the default action back), which is what a command that then ends wants.
    pub fn catch() -> Interrupt {
        let flag = Arc::new(AtomicBool::new(false));
        for signal in SIGNALS {
            // Order matters: the conditional default is checked before the flag is set, so the
            // first signal only sets the flag.
            let _ = signal_hook::flag::register_conditional_default(signal, Arc::clone(&flag));
            let _ = signal_hook::flag::register(signal, Arc::clone(&flag));
        }
        Interrupt { flag }
    }

    pub fn happened(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }
}
