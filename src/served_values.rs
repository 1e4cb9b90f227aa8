//! Reading values the coordinator served, and showing them safely: its strings go to a
//! terminal, so control characters (escape sequences) are shown, never obeyed.

use serde_json::Value;

use crate::output::{escape, Shown};

/// `value[key]` as a string.
pub fn text(value: &Value, key: &str) -> Option<String> {
    value.get(key).and_then(Value::as_str).map(str::to_string)
}

/// Whether `value` is the object with this `id`.
pub fn has_id(value: &Value, id: &str) -> bool {
    value.get("id").and_then(Value::as_str) == Some(id)
}

/// `value[key]` for a table cell or a line: one line, `-` when missing.
pub fn cell(value: &Value, key: &str) -> String {
    match value.get(key) {
        Some(Value::String(s)) if !s.is_empty() => one_line(s),
        Some(Value::Null) | None => "-".to_string(),
        Some(other) => one_line(&other.to_string()),
    }
}

/// Server text on one line, every control character made visible (the output layer's escaping).
pub fn one_line(text: &str) -> String {
    escape(text, Shown::Line)
}

/// Server markdown for a terminal: newlines and tabs kept, other control characters visible.
pub fn printable(text: &str) -> String {
    escape(text, Shown::Text)
}

/// At most `max` characters, with `…` when cut (never splits a character).
pub fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max.saturating_sub(1)) {
        Some((cut, _)) if text.chars().count() > max => format!("{}…", &text[..cut]),
        _ => text.to_string(),
    }
}

/// `observed / claimed` values of `metric` in a served submission, `-` when missing.
pub fn metric_words(s: &Value, metric: &str) -> String {
    let value =
        |k: &str| s.get(k).and_then(|m| m.get(metric)).filter(|v| !v.is_null()).map(|v| v.to_string());
    format!(
        "{} / {}",
        value("observed_metrics").unwrap_or_else(|| "-".into()),
        value("claimed_metrics").unwrap_or_else(|| "-".into())
    )
}

/// `heldout_ppl (minimize)`.
pub fn task_metric(task: &Value) -> String {
    let name = cell(task, "metric_name");
    match task.get("metric_direction").and_then(Value::as_str) {
        Some(direction) if !direction.is_empty() => format!("{name} ({})", one_line(direction)),
        _ => name,
    }
}

/// `live`, `paused`, … plus `inactive` when `is_active` is false.
pub fn task_state(task: &Value) -> String {
    let mut state = cell(task, "task_state");
    if task.get("is_active").and_then(Value::as_bool) == Some(false) {
        state.push_str(", inactive");
    }
    state
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shorten_counts_characters() {
        assert_eq!(shorten("5Habcdefghijkl", 10), "5Habcdefg…");
        assert_eq!(shorten("ééééééééééééé", 10), "ééééééééé…");
        assert_eq!(shorten("short", 10), "short");
    }

    #[test]
    fn control_characters_never_pass() {
        assert_eq!(one_line("a\x1b[31mb\nc"), "a\\e[31mb\\nc");
        assert_eq!(printable("# t\n\x1b]0;x\x07ok\tz"), "# t\n\\e]0;x\\x07ok\tz");
    }
}
