//! Live output of a running command (a task's setup or benchmark, an agent): its bytes go to
//! stderr as they come (stdout stays for results and JSON), with an elapsed-time line redrawn
//! below them on a terminal.

use std::io::Write;
use std::time::{Duration, Instant};

use crate::output::Output;
use crate::timefmt::duration;

/// Live output of the commands on stderr (stdout stays for results and JSON), with an
/// elapsed-time line redrawn below it on a terminal.
pub struct Tee {
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
    pub fn new(out: &Output, kind: &str, started: Instant, budget: Duration) -> Tee {
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
    pub fn phase(&mut self, name: &str) {
        self.label = format!("{} {name}", self.label.split(' ').next().unwrap_or(""));
        self.last_draw = None;
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
        if self.last_draw.is_some_and(|t| t.elapsed() < Duration::from_millis(500)) {
            return;
        }
        self.last_draw = Some(Instant::now());
        let text = format!(
            "\r\x1b[2K[{}: {} elapsed of {}]",
            self.label,
            duration(self.started.elapsed().as_secs() as f64),
            duration(self.budget.as_secs() as f64)
        );
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(text.as_bytes()).and_then(|_| err.flush());
        self.status_shown = true;
    }
    pub fn clear(&mut self) {
        if self.status_shown {
            let mut err = std::io::stderr().lock();
            let _ = err.write_all(b"\r\x1b[2K").and_then(|_| err.flush());
            self.status_shown = false;
            self.last_draw = None;
        }
    }
}
