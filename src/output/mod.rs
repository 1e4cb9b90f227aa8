//! The one place that writes to the terminal. Commands hand it lines, JSON values or raw
//! bytes; it decides where they go (stdout for results, stderr for everything else), whether
//! they are shown (`--quiet`, `--verbose`, `--json`) and how they look (colour).

pub(crate) mod check_report;
pub(crate) mod live;

use std::io::{self, IsTerminal, Write};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

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
    /// Result lines go to stderr: a command run inside another whose stdout carries one JSON value.
    lines_to_stderr: bool,
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
            lines_to_stderr: false,
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
            lines_to_stderr: false,
        }
    }

    /// This output for a command run inside another that prints JSON: the inner command prints
    /// for humans, and on stderr, so stdout keeps the outer command's one JSON value.
    pub fn nested_on_stderr(&self) -> Output {
        Output { json: false, color_stdout: self.color_stderr, lines_to_stderr: true, ..self.clone() }
    }

    pub fn is_json(&self) -> bool {
        self.json
    }
    pub fn is_quiet(&self) -> bool {
        self.quiet
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
    /// Not escaped here (callers colour parts of it): every value interpolated from a task
    /// record, the coordinator or a file name goes through [`escape`] or [`quote_path`] first.
    pub fn line(&self, text: impl AsRef<str>) -> Result<()> {
        if self.json {
            return Ok(());
        }
        if self.lines_to_stderr {
            eprintln_lossy(text.as_ref());
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

    /// Progress and context on stderr; hidden by `--quiet`. Like every stderr line, the text
    /// is escaped ([`Shown::Text`]): it cannot carry terminal sequences.
    pub fn info(&self, text: impl AsRef<str>) {
        if !self.quiet {
            eprintln_lossy(&escape(text.as_ref(), Shown::Text));
        }
    }

    /// Details shown only with `--verbose`.
    pub fn detail(&self, text: impl AsRef<str>) {
        if self.verbose {
            eprintln_lossy(&escape(text.as_ref(), Shown::Text));
        }
    }

    /// A warning on stderr; shown even with `--quiet`.
    pub fn warn(&self, text: impl AsRef<str>) {
        let label = self.paint_err(Style::Yellow, "warning:");
        eprintln_lossy(&format!("{label} {}", escape(text.as_ref(), Shown::Text)));
    }

    /// A hint line on stderr (`hint: …`); hidden by `--quiet`.
    pub fn hint(&self, text: impl AsRef<str>) {
        if !self.quiet {
            let label = self.paint_err(Style::Cyan, "hint:");
            eprintln_lossy(&format!("{label} {}", escape(text.as_ref(), Shown::Text)));
        }
    }

    /// Print an error: `error: …`, its causes and hint on stderr, and with `--json` also the
    /// JSON error object on stdout.
    pub fn error(&self, err: &Error) {
        let label = self.paint_err(Style::Red, "error:");
        let mut text = format!("{label} {}", escape(err.message(), Shown::Text));
        for cause in err.causes() {
            text.push_str(&format!("\n  caused by: {}", escape(&cause.to_string(), Shown::Text)));
        }
        if let Some(hint) = err.hint() {
            let hint_label = self.paint_err(Style::Cyan, "hint:");
            text.push_str(&format!("\n{hint_label} {}", escape(hint, Shown::Text)));
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
            return Spinner { bar: None };
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner())
                .tick_chars("|/-\\ "),
        );
        bar.set_message(message.to_string());
        bar.enable_steady_tick(Duration::from_millis(120));
        Spinner { bar: Some(bar) }
    }

    /// A byte-count progress bar on stderr (bytes, rate, ETA when `total` is known); silent
    /// when stderr is not a terminal or output is quiet. Cleared when finished or dropped.
    pub fn progress_bytes(&self, message: &str, total: Option<u64>) -> Progress {
        if !self.stderr_tty || self.quiet {
            return Progress { bar: None };
        }
        let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr());
        let template = match total {
            Some(_) => "{msg} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
            None => "{spinner} {msg} {bytes} {binary_bytes_per_sec} ({elapsed})",
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(message.to_string());
        Progress { bar: Some(bar) }
    }

    /// Ask a yes/no question on the terminal. Returns None when there is no terminal to ask on.
    /// The question is shown as given: callers escape what came from a task.
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

/// How [`escape`] treats line breaks and tabs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shown {
    /// One line: every control character visible (`\n` too): ids, statuses, slugs, names.
    Line,
    /// A command or environment value about to be run: newlines stay line breaks but are
    /// marked (`\n` before the break), tabs and everything else visible.
    Command,
    /// Prose (messages, markdown): newlines and tabs kept, everything else visible.
    Text,
}

/// The one escaping function for whatever reaches the terminal from a task record, the
/// coordinator, git or a file name: control characters (C0, DEL, C1) and the bidirectional
/// controls that reorder what is shown (Trojan-source) are written as visible escapes (`\r`,
/// `\e`, `\x07`, `\u{202e}`), so no text can move the cursor, erase, hide or recolour what
/// the miner reads.
pub fn escape(text: &str, shown: Shown) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' if shown == Shown::Text => out.push('\n'),
            '\n' if shown == Shown::Command => out.push_str("\\n\n"),
            '\t' if shown == Shown::Text => out.push('\t'),
            c if !needs_escape(c) => out.push(c),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\x1b' => out.push_str("\\e"),
            '\0' => out.push_str("\\0"),
            c if (c as u32) < 0x100 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push_str(&format!("\\u{{{:04x}}}", c as u32)),
        }
    }
    out
}

/// Control characters, and the Unicode formatting characters that reorder or hide text.
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{061c}')
}

/// A path for a terminal, quoted as git quotes paths (`core.quotePath=false`): as is when
/// harmless, else in double quotes with C escapes (`\t`, `\n`, `\"`, `\\`) and octal
/// bytes for other control characters, bidi controls and bytes that are not UTF-8.
pub fn quote_path(path: &std::path::Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    quote_bytes(path.as_os_str().as_bytes())
}

/// [`quote_path`] for a name git or a task gave as bytes.
pub fn quote_bytes(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let harmless = matches!(text, std::borrow::Cow::Borrowed(_))
        && !text.chars().any(|c| needs_escape(c) || c == '"' || c == '\\');
    if harmless {
        return text.into_owned();
    }
    let mut out = String::from("\"");
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\x07' => out.push_str("\\a"),
                '\x08' => out.push_str("\\b"),
                '\t' => out.push_str("\\t"),
                '\n' => out.push_str("\\n"),
                '\x0b' => out.push_str("\\v"),
                '\x0c' => out.push_str("\\f"),
                '\r' => out.push_str("\\r"),
                c if needs_escape(c) => {
                    let mut buf = [0u8; 4];
                    for b in c.encode_utf8(&mut buf).bytes() {
                        out.push_str(&format!("\\{b:03o}"));
                    }
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\{b:03o}"));
        }
    }
    out.push('"');
    out
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
    bar: Option<ProgressBar>,
}

impl crate::keys::BusyGuard for Spinner {}

impl Drop for Spinner {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Guard returned by [`Output::progress_bytes`].
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    pub fn advance(&self, bytes: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(bytes);
        }
    }
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
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
    fn control_characters_become_visible() {
        let spoof = "touch X #\r\x1b[2K  benchmark: python3 bench.py";
        assert_eq!(escape(spoof, Shown::Line), "touch X #\\r\\e[2K  benchmark: python3 bench.py");
        assert_eq!(escape("a\nb\tc\u{9b}d\u{202e}", Shown::Command), "a\\n\nb\\tc\\x9bd\\u{202e}");
        assert_eq!(escape("a\nb\tc\x07", Shown::Text), "a\nb\tc\\x07");
        assert_eq!(escape("é ok", Shown::Line), "é ok");
    }

    #[test]
    fn paths_are_quoted_like_git() {
        use std::os::unix::ffi::OsStrExt;
        let path = |b: &[u8]| quote_path(std::path::Path::new(std::ffi::OsStr::from_bytes(b)));
        assert_eq!(path(b"src/\xc3\xa9.py"), "src/é.py");
        assert_eq!(path(b"a\tb"), "\"a\\tb\"");
        assert_eq!(path(b"a\x1b[8mb"), "\"a\\033[8mb\"");
        assert_eq!(path(b"q\"\\"), "\"q\\\"\\\\\"");
        assert_eq!(path(b"\xff.txt"), "\"\\377.txt\"");
    }

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
