//! Live output of a running command (a task's setup or benchmark, an agent): its bytes go to
//! stderr as they come (stdout stays for results and JSON), with an elapsed-time line redrawn
//! below them on a terminal.

use std::io::Write;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::output::Output;
use crate::timefmt::duration;

/// Live output of the commands on stderr (stdout stays for results and JSON), with an
/// elapsed-time line (an indicatif bar) below it on a terminal. The line is drawn only while
/// the output stands at the start of a line, and taken away before more output is written.
pub struct Tee {
    enabled: bool,
    tty: bool,
    at_line_start: bool,
    status: Option<ProgressBar>,
    label: String,
    started: Instant,
    budget: Duration,
}

impl Tee {
    pub fn new(out: &Output, kind: &str, started: Instant, budget: Duration) -> Tee {
        Tee {
            enabled: !out.is_quiet(),
            tty: out.stderr_is_terminal(),
            at_line_start: true,
            status: None,
            label: kind.to_string(),
            started,
            budget,
        }
    }
    pub fn phase(&mut self, name: &str) {
        self.label = format!("{} {name}", self.label.split(' ').next().unwrap_or(""));
    }
    pub fn write(&mut self, bytes: &[u8]) {
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
    pub fn tick(&mut self) {
        if !self.enabled || !self.tty || !self.at_line_start {
            return;
        }
        let message = format!(
            "{}: {} elapsed of {}",
            self.label,
            duration(self.started.elapsed().as_secs() as f64),
            duration(self.budget.as_secs() as f64)
        );
        // indicatif limits how often the line is redrawn.
        let bar = self.status.get_or_insert_with(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template("[{msg}]") {
                bar.set_style(style);
            }
            bar
        });
        bar.set_message(message);
    }
    pub fn clear(&mut self) {
        if let Some(bar) = self.status.take() {
            bar.finish_and_clear();
        }
    }
}
