//! The validator's pre-replay rules, re-implemented to agree exactly with
//! `validator/public_replay.py` (protocol.md §7.3–§7.5): path extraction from the patch text,
//! the bytecode rule, the allowed-path match and the size limit.
//!
//! These run on the final patch as a self-check: whatever the patch engine thinks it built,
//! this module says what a validator will read from it.

use std::sync::OnceLock;

use regex::Regex;

use crate::fnmatch::Pattern;

/// Why a validator would reject a patch before replaying it (the `validator_rejection=` names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// `patch_too_large`: UTF-8 byte length over the limit.
    TooLarge { bytes: usize, max: u64 },
    /// `unparseable_patch_surface`: a non-empty patch with no extractable path.
    Unparseable,
    /// `generated_python_cache_paths`.
    Bytecode(Vec<String>),
    /// `disallowed_patch_paths`.
    Disallowed(Vec<String>),
}

/// Python's `str.strip()` with no argument: Unicode whitespace plus the four ASCII separators
/// (U+001C..U+001F) that Python counts as whitespace and Rust does not.
fn py_strip(s: &str) -> &str {
    s.trim_matches(is_py_whitespace)
}

fn is_py_whitespace(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Python's `str.splitlines()` line boundaries.
fn py_splitlines(text: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let boundary = matches!(
            c,
            '\n' | '\r'
                | '\u{0b}'
                | '\u{0c}'
                | '\u{1c}'
                | '\u{1d}'
                | '\u{1e}'
                | '\u{85}'
                | '\u{2028}'
                | '\u{2029}'
        );
        if boundary {
            lines.push(&text[start..i]);
            let mut end = i + c.len_utf8();
            if c == '\r' {
                if let Some(&(j, '\n')) = chars.peek() {
                    chars.next();
                    end = j + 1;
                }
            }
            start = end;
        }
    }
    if start < text.len() {
        lines.push(&text[start..]);
    }
    lines
}

/// The validator's `_normalize_patch_path`: strip, cut at the first TAB, strip again, drop
/// `/dev/null`, remove one leading `a/` or `b/`.
fn normalize(raw: &str) -> Option<String> {
    let mut path = py_strip(raw);
    if let Some(tab) = path.find('\t') {
        path = py_strip(&path[..tab]);
    }
    if path.is_empty() || path == "/dev/null" || path == "dev/null" {
        return None;
    }
    let path = path.strip_prefix("a/").or_else(|| path.strip_prefix("b/")).unwrap_or(path);
    if path.is_empty() || path == "dev/null" {
        return None;
    }
    Some(path.to_string())
}

fn diff_git_header() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    // `.` in Python's re does not match `\n` only; Rust's default is the same. `$` in
    // MULTILINE mode matches before `\n` only, as in Python.
    RE.get_or_init(|| Regex::new(r"(?m)^diff --git a/(.+?) b/(.+?)$").expect("static regex"))
}

/// Every path a validator extracts from the patch text, de-duplicated in order of appearance.
pub fn extract_paths(patch: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    let mut seen: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut push = |raw: &str| {
        if let Some(path) = normalize(raw) {
            if seen.insert(path.clone()) {
                found.push(path);
            }
        }
    };
    for caps in diff_git_header().captures_iter(patch) {
        for group in [1, 2] {
            if let Some(m) = caps.get(group) {
                push(m.as_str());
            }
        }
    }
    for line in py_splitlines(patch) {
        let line = line.trim_end_matches(is_py_whitespace);
        if let Some(rest) = line.strip_prefix("--- ").or_else(|| line.strip_prefix("+++ ")) {
            push(rest);
        }
    }
    found
}

/// The validator's bytecode rule: normalise, turn `\` into `/`, strip leading `.` and `/`
/// characters, lower-case, then ends with `.pyc` or `.pyo`.
pub fn is_bytecode(path: &str) -> bool {
    let cleaned = path.replace('\\', "/");
    let cleaned = cleaned.trim_start_matches(['.', '/']).to_lowercase();
    cleaned.ends_with(".pyc") || cleaned.ends_with(".pyo")
}

/// Whether `path` matches any allowed pattern (an empty list allows nothing). The path is
/// decoded once, not once per pattern.
pub fn is_allowed(path: &str, patterns: &[Pattern]) -> bool {
    let chars: Vec<char> = path.chars().collect();
    patterns.iter().any(|p| p.matches_chars(&chars))
}

/// Paths the validators cannot read back from a patch: git would quote them (or they are
/// not UTF-8), or the extraction's strip/TAB-cut would change them.
pub fn is_unquotable(path: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(path) else {
        return true;
    };
    if text.is_empty() || py_strip(text) != text {
        return true;
    }
    text.chars().any(|c| {
        (c as u32) < 0x20 || c == '\u{7f}' || c == '"' || c == '\\' || is_py_whitespace(c) && c != ' '
            // Line boundaries of splitlines() would cut a `+++ ` line.
            || matches!(c, '\u{85}' | '\u{2028}' | '\u{2029}')
    })
}

/// Everything a validator would reject a patch of `bytes` bytes for, in the validator's order,
/// given the paths it extracts from it (`extract_paths`).
pub fn rejections(bytes: usize, paths: &[String], patterns: &[Pattern], max_bytes: u64) -> Vec<Rejection> {
    let mut found = Vec::new();
    if bytes as u64 > max_bytes {
        found.push(Rejection::TooLarge { bytes, max: max_bytes });
    }
    if bytes == 0 {
        return found;
    }
    if paths.is_empty() {
        found.push(Rejection::Unparseable);
        return found;
    }
    let bytecode: Vec<String> = paths.iter().filter(|p| is_bytecode(p)).cloned().collect();
    if !bytecode.is_empty() {
        found.push(Rejection::Bytecode(bytecode));
    }
    let disallowed: Vec<String> = paths.iter().filter(|p| !is_allowed(p, patterns)).cloned().collect();
    if !disallowed.is_empty() {
        found.push(Rejection::Disallowed(disallowed));
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extraction_reads_both_header_paths_and_file_lines() {
        let patch = "diff --git a/old.py b/new.py\nsimilarity index 90%\nrename from old.py\nrename to new.py\n\
                     --- a/old.py\n+++ b/new.py\n@@ -1 +1 @@\n-x\n+y\n\
                     diff --git a/added.txt b/added.txt\nnew file mode 100644\n--- /dev/null\n+++ b/added.txt\t\n";
        assert_eq!(extract_paths(patch), vec!["old.py", "new.py", "added.txt"]);
    }

    #[test]
    fn content_lines_that_look_like_headers_are_read_too() {
        // A removed line starting with "-- " becomes "--- …" in the patch: validators read it.
        let patch = "diff --git a/f.sql b/f.sql\n--- a/f.sql\n+++ b/f.sql\n@@ -1 +1 @@\n--- comment\n+x\n";
        assert_eq!(extract_paths(patch), vec!["f.sql", "comment"]);
    }

    #[test]
    fn bytecode_rule_is_the_validators() {
        assert!(is_bytecode("pkg/__pycache__/m.cpython-311.pyc"));
        assert!(is_bytecode("UPPER.PYC"));
        assert!(is_bytecode("./x.pyo"));
        assert!(!is_bytecode(".pyc"));
        assert!(!is_bytecode("x.py"));
    }

    #[test]
    fn unquotable_paths() {
        assert!(is_unquotable(b"a\tb"));
        assert!(is_unquotable(b"quote\"d"));
        assert!(is_unquotable(b"back\\slash"));
        assert!(is_unquotable(b" lead"));
        assert!(is_unquotable(b"trail "));
        assert!(is_unquotable(&[0x66, 0xff]));
        assert!(!is_unquotable("caf\u{e9}/with space.py".as_bytes()));
    }

    #[test]
    fn splitlines_matches_python() {
        assert_eq!(py_splitlines("a\r\nb\rc\u{2028}d\n"), vec!["a", "b", "c", "d"]);
        assert_eq!(py_splitlines("a\n\nb"), vec!["a", "", "b"]);
    }
}
