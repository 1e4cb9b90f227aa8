//! The one place that writes to the terminal. Commands hand it lines, JSON values or raw
//! bytes; it decides where they go (stdout for results, stderr for everything else), whether
//! they are shown (`--quiet`, `--verbose`, `--json`) and how they look (colour).

use std::io::{self, IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{Error, Result, ResultExt};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Bold,
    Dim,
    Red,
    Green,
    Yellow,
    Cyan,
}

impl Style {
    fn ansi(self) -> &'static str {
        match self {
            Style::Bold => "1",
            Style::Dim => "2",
            Style::Red => "31",
            Style::Green => "32",
            Style::Yellow => "33",
            Style::Cyan => "36",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Output {
    json: bool,
    quiet: bool,
    verbose: bool,
    color_stdout: bool,
    color_stderr: bool,
    stderr_tty: bool,
    stdin_tty: bool,
}

fn colour_wanted(choice: ColorChoice, is_tty: bool) -> bool {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let dumb = std::env::var_os("TERM").is_some_and(|t| t == "dumb");
    colour_decision(choice, is_tty, no_color, dumb)
}

/// `auto` colours a terminal unless `NO_COLOR` is set or `TERM=dumb`; the flag overrides both.
fn colour_decision(choice: ColorChoice, is_tty: bool, no_color: bool, dumb: bool) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => is_tty && !no_color && !dumb,
    }
}

impl Output {
    pub fn new(json: bool, quiet: bool, verbose: bool, color: ColorChoice) -> Output {
        let stdout_tty = io::stdout().is_terminal();
        let stderr_tty = io::stderr().is_terminal();
        Output {
            json,
            quiet,
            verbose,
            // JSON on stdout is for programs: never coloured.
            color_stdout: !json && colour_wanted(color, stdout_tty),
            color_stderr: colour_wanted(color, stderr_tty),
            stderr_tty,
            stdin_tty: io::stdin().is_terminal(),
        }
    }

    /// An output that prints nothing coloured and assumes no terminal (used by tests and hooks).
    pub fn plain(json: bool) -> Output {
        Output {
            json,
            quiet: false,
            verbose: false,
            color_stdout: false,
            color_stderr: false,
            stderr_tty: false,
            stdin_tty: false,
        }
    }

    pub fn is_json(&self) -> bool {
        self.json
    }
    pub fn is_quiet(&self) -> bool {
        self.quiet
    }
    pub fn is_verbose(&self) -> bool {
        self.verbose
    }
    pub fn stdin_is_terminal(&self) -> bool {
        self.stdin_tty
    }
    pub fn stderr_is_terminal(&self) -> bool {
        self.stderr_tty
    }

    /// Colour `text` for stdout (when colour is on).
    pub fn paint(&self, style: Style, text: &str) -> String {
        paint(self.color_stdout, style, text)
    }
    /// Colour `text` for stderr (when colour is on).
    pub fn paint_err(&self, style: Style, text: &str) -> String {
        paint(self.color_stderr, style, text)
    }

    /// A result line for humans on stdout. Ignored in JSON mode, where the JSON value is the result.
    pub fn line(&self, text: impl AsRef<str>) -> Result<()> {
        if self.json {
            return Ok(());
        }
        let mut out = io::stdout().lock();
        write_out(&mut out, text.as_ref().as_bytes())?;
        write_out(&mut out, b"\n")
    }

    /// The JSON result of a command, one compact line on stdout.
    pub fn json(&self, value: &serde_json::Value) -> Result<()> {
        let mut text = serde_json::to_string(value).or_usage(|| "could not serialise the JSON output")?;
        text.push('\n');
        write_out(&mut io::stdout().lock(), text.as_bytes())
    }

    /// Raw bytes on stdout, exactly as given (the patch of `diff`).
    pub fn bytes(&self, bytes: &[u8]) -> Result<()> {
        write_out(&mut io::stdout().lock(), bytes)
    }

    /// Progress and context on stderr; hidden by `--quiet`.
    pub fn info(&self, text: impl AsRef<str>) {
        if !self.quiet {
            eprintln_lossy(text.as_ref());
        }
    }

    /// Details shown only with `--verbose`.
    pub fn detail(&self, text: impl AsRef<str>) {
        if self.verbose {
            eprintln_lossy(text.as_ref());
        }
    }

    /// A warning on stderr; shown even with `--quiet`.
    pub fn warn(&self, text: impl AsRef<str>) {
        let label = self.paint_err(Style::Yellow, "warning:");
        eprintln_lossy(&format!("{label} {}", text.as_ref()));
    }

    /// A hint line on stderr (`hint: …`); hidden by `--quiet`.
    pub fn hint(&self, text: impl AsRef<str>) {
        if !self.quiet {
            let label = self.paint_err(Style::Cyan, "hint:");
            eprintln_lossy(&format!("{label} {}", text.as_ref()));
        }
    }

    /// Print an error: `error: …`, its causes and hint on stderr, and with `--json` also the
    /// JSON error object on stdout.
    pub fn error(&self, err: &Error) {
        let label = self.paint_err(Style::Red, "error:");
        let mut text = format!("{label} {}", err.message());
        for cause in err.causes() {
            text.push_str(&format!("\n  caused by: {cause}"));
        }
        if let Some(hint) = err.hint() {
            let hint_label = self.paint_err(Style::Cyan, "hint:");
            text.push_str(&format!("\n{hint_label} {hint}"));
        }
        eprintln_lossy(&text);
        if self.json {
            let value = serde_json::json!({
                "version": 1,
                "error": {"code": err.code(), "message": err.message()},
            });
            // Nothing sensible is left to do if stdout is gone too.
            let _ = self.json(&value);
        }
    }

    /// A spinner with elapsed time on stderr while something slow runs; silent when stderr is
    /// not a terminal or output is quiet. Stops when the guard is dropped.
    pub fn spinner(&self, message: &str) -> Spinner {
        if !self.stderr_tty || self.quiet {
            return Spinner { stop: None, thread: None };
        }
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let message = message.to_string();
        let thread = std::thread::spawn(move || {
            const FRAMES: [char; 4] = ['|', '/', '-', '\\'];
            let started = Instant::now();
            let mut frame = 0;
            while !flag.load(Ordering::Relaxed) {
                let secs = started.elapsed().as_secs();
                eprint!("\r{} {message} ({secs}s)", FRAMES[frame % FRAMES.len()]);
                let _ = io::stderr().flush();
                frame += 1;
                std::thread::sleep(Duration::from_millis(120));
            }
            // Clear the spinner line.
            eprint!("\r\x1b[2K");
            let _ = io::stderr().flush();
        });
        Spinner { stop: Some(stop), thread: Some(thread) }
    }

    /// Ask a yes/no question on the terminal. Returns None when there is no terminal to ask on.
    pub fn confirm(&self, question: &str) -> Result<Option<bool>> {
        if !self.stdin_tty || !self.stderr_tty {
            return Ok(None);
        }
        eprint!("{question} [y/N] ");
        let _ = io::stderr().flush();
        let mut answer = String::new();
        io::stdin().read_line(&mut answer).or_usage(|| "could not read the answer from the terminal")?;
        let answer = answer.trim().to_ascii_lowercase();
        Ok(Some(answer == "y" || answer == "yes"))
    }
}

fn paint(enabled: bool, style: Style, text: &str) -> String {
    if enabled {
        format!("\x1b[{}m{text}\x1b[0m", style.ansi())
    } else {
        text.to_string()
    }
}

fn write_out(out: &mut impl Write, bytes: &[u8]) -> Result<()> {
    out.write_all(bytes).and_then(|_| out.flush()).map_err(|e| {
        if e.kind() == io::ErrorKind::BrokenPipe {
            Error::broken_pipe()
        } else {
            Error::usage("could not write to standard output").with_source(e)
        }
    })
}

fn eprintln_lossy(text: &str) {
    // stderr going away is not worth failing a command for.
    let _ = writeln!(io::stderr().lock(), "{text}");
}

/// Guard returned by [`Output::spinner`].
pub struct Spinner {
    stop: Option<Arc<AtomicBool>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Spinner {
    fn drop(&mut self) {
        if let Some(stop) = &self.stop {
            stop.store(true, Ordering::Relaxed);
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Left-aligned columns, two spaces apart, widths by character count.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> Vec<String> {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let render = |cells: Vec<String>| {
        let last = cells.len() - 1;
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| if i == last { c.clone() } else { format!("{c:<w$}", w = widths[i]) })
            .collect::<Vec<_>>()
            .join("  ")
    };
    let mut lines = vec![render(header.iter().map(|h| h.to_string()).collect())];
    lines.extend(rows.iter().map(|r| render(r.clone())));
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_color_and_dumb_terminals_turn_auto_off_only() {
        assert!(colour_decision(ColorChoice::Auto, true, false, false));
        assert!(!colour_decision(ColorChoice::Auto, true, true, false));
        assert!(!colour_decision(ColorChoice::Auto, true, false, true));
        assert!(!colour_decision(ColorChoice::Auto, false, false, false));
        assert!(colour_decision(ColorChoice::Always, false, true, true));
        assert!(!colour_decision(ColorChoice::Never, true, false, false));
    }
}
