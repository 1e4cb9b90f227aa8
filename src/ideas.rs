//! Centerless ideas (protocol.md §8.3, cli.md §10.2): the bound task's submissions that carry
//! a `proposed_idea`, in the order a miner looking for one to build on wants them.
//!
//! Kept apart from the `ideas` command so other callers (the agent brief of `run`) list the
//! same ideas in the same order.

use std::cmp::Ordering;

use serde_json::{json, Value};

use crate::client::Coordinator;
use crate::error::Result;
use crate::served_values::text;
use crate::submission_api::proposed_idea;
use crate::task::TaskSnapshot;

/// Whether the task's submissions carry ideas at all.
pub fn task_has_ideas(task: &TaskSnapshot) -> bool {
    task.is_centerless()
}

/// Statuses shown only when asked for (`--all`).
fn is_failed(status: &str) -> bool {
    matches!(status, "rejected" | "error")
}

/// The task's idea-bearing submissions, ordered by [`compare`]; `rejected`/`error` ones only
/// when `all`. `me` is the ss58 of this miner's hotkey, whose ideas come after the others'.
pub fn fetch(coordinator: &Coordinator, task_id: &str, me: Option<&str>, all: bool) -> Result<Vec<Value>> {
    let listed = coordinator.list_submissions(Some(task_id), None)?;
    Ok(select(listed, task_id, me, all))
}

/// The ideas among `submissions`, filtered and ordered (see [`fetch`]).
pub fn select(submissions: Vec<Value>, task_id: &str, me: Option<&str>, all: bool) -> Vec<Value> {
    let mut ideas: Vec<Value> = submissions
        .into_iter()
        .filter(|s| proposed_idea(s).is_some())
        // A server that ignores the filter must not mix other tasks' ideas in.
        .filter(|s| text(s, "task_id").is_none_or(|t| t == task_id))
        .filter(|s| all || !is_failed(&text(s, "status").unwrap_or_default()))
        .collect();
    ideas.sort_by(|a, b| compare(a, b, me));
    ideas
}

/// accepted, then pending_verification, then the rest; within a status other hotkeys before
/// `me`; then newest `created_at` first (ties keep the served order).
pub fn compare(a: &Value, b: &Value, me: Option<&str>) -> Ordering {
    let rank = |s: &Value| match text(s, "status").as_deref() {
        Some("accepted") => 0,
        Some("pending_verification") => 1,
        _ => 2,
    };
    let mine = |s: &Value| me.is_some() && text(s, "miner_hotkey").as_deref() == me;
    let created = |s: &Value| text(s, "created_at").unwrap_or_default();
    rank(a).cmp(&rank(b)).then_with(|| mine(a).cmp(&mine(b))).then_with(|| created(b).cmp(&created(a)))
}

/// The `ideas --json` entry of cli.md §10.5 (served values as served; the idea trimmed).
pub fn to_json(submission: &Value) -> Value {
    let field = |k: &str| submission.get(k).cloned().unwrap_or(Value::Null);
    json!({
        "id": field("id"),
        "status": field("status"),
        "miner_hotkey": field("miner_hotkey"),
        "proposed_idea": proposed_idea(submission),
        "claimed_metrics": field("claimed_metrics"),
        "observed_metrics": field("observed_metrics"),
        "created_at": field("created_at"),
    })
}

/// The idea's first non-empty line, for a table cell (control characters stripped).
pub fn first_line(idea: &str) -> String {
    let line = idea.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("");
    crate::served_values::one_line(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(id: &str, status: &str, miner: &str, created: &str, idea: &str) -> Value {
        json!({"id": id, "task_id": "t", "status": status, "miner_hotkey": miner, "created_at": created, "proposed_idea": idea})
    }

    #[test]
    fn order_is_status_then_others_first_then_newest() {
        let listed = vec![
            sub("mine-acc", "accepted", "me", "2026-01-03T00:00:00Z", "a"),
            sub("old-acc", "accepted", "x", "2026-01-01T00:00:00Z", "b"),
            sub("new-acc", "accepted", "y", "2026-01-02T00:00:00Z", "c"),
            sub("pend", "pending_verification", "x", "2026-01-05T00:00:00Z", "d"),
            sub("rej", "rejected", "x", "2026-01-06T00:00:00Z", "e"),
            sub("no-idea", "accepted", "x", "2026-01-07T00:00:00Z", "  "),
            json!({"id": "other-task", "task_id": "u", "status": "accepted", "proposed_idea": "f"}),
        ];
        let ids = |v: Vec<Value>| v.iter().map(|s| s["id"].as_str().unwrap().to_string()).collect::<Vec<_>>();
        assert_eq!(
            ids(select(listed.clone(), "t", Some("me"), false)),
            ["new-acc", "old-acc", "mine-acc", "pend"]
        );
        assert_eq!(
            ids(select(listed, "t", Some("me"), true)),
            ["new-acc", "old-acc", "mine-acc", "pend", "rej"]
        );
    }

    #[test]
    fn first_line_skips_blank_lines_and_shows_controls() {
        assert_eq!(first_line("\n  Use \x1b[31mternary\n more"), "Use \\e[31mternary");
    }
}
