//! `git bitsota show TASK [--onboard]`: one task's metadata, and its onboarding markdown.

use serde_json::{json, Value};

use crate::cli::ShowArgs;
use crate::client::Coordinator;
use crate::commands::tasks::{human_duration, metric, one_line, state};
use crate::ctx::Ctx;
use crate::error::Result;
use crate::output::Style;

pub fn run(ctx: &Ctx, args: &ShowArgs) -> Result<()> {
    let coordinator = Coordinator::ambient(ctx)?;
    let task = coordinator.resolve_task(&args.task)?;
    let onboard = match (args.onboard, task.get("id").and_then(Value::as_str)) {
        (true, Some(id)) => Some(coordinator.onboard(id)?),
        (true, None) => {
            ctx.out.warn("this task record has no id, so its onboarding notes cannot be fetched");
            None
        }
        (false, _) => None,
    };
    if ctx.out.is_json() {
        return ctx.out.json(&json!({"version": 1, "task": task, "onboard": onboard}));
    }
    let title = field(&task, "title");
    ctx.out.line(ctx.out.paint(Style::Bold, &format!("{} — {title}", field(&task, "slug"))))?;
    let mut rows: Vec<(&str, String)> = vec![
        ("id", field(&task, "id")),
        ("state", state(&task)),
        ("metric", metric(&task)),
        ("mode", field(&task, "competition_mode")),
        ("repository", field(&task, "repository")),
        ("base ref", field(&task, "base_ref")),
    ];
    let allowed: Vec<String> = task
        .get("allowed_patch_paths")
        .and_then(Value::as_array)
        .map(|items| {
            items.iter().map(|p| p.as_str().map(one_line).unwrap_or_else(|| p.to_string())).collect()
        })
        .unwrap_or_default();
    rows.push(("allowed paths", if allowed.is_empty() { "(none)".to_string() } else { allowed.join(", ") }));
    rows.push(("max patch bytes", field(&task, "max_patch_bytes")));
    rows.push(("setup", field(&task, "setup_command")));
    rows.push(("benchmark", field(&task, "benchmark_command")));
    rows.push(("result path", field(&task, "result_path")));
    rows.push((
        "time budget",
        match task.get("time_budget_seconds").and_then(Value::as_u64) {
            Some(secs) => format!("{} ({secs} s)", human_duration(secs)),
            None => "-".to_string(),
        },
    ));
    for (label, value) in rows {
        ctx.out.line(format!("  {:<17}{value}", format!("{label}:")))?;
    }
    match onboard {
        Some(markdown) => {
            ctx.out.line("")?;
            ctx.out.line(printable(markdown.trim_end()))?;
        }
        None => ctx
            .out
            .hint(format!("`git bitsota show {} --onboard` prints the onboarding notes", args.task.trim())),
    }
    Ok(())
}

fn field(task: &Value, key: &str) -> String {
    match task.get(key) {
        Some(Value::String(s)) if !s.is_empty() => one_line(s),
        Some(Value::Null) | None => "-".to_string(),
        Some(other) => one_line(&other.to_string()),
    }
}

/// Markdown from the server goes to a terminal: keep newlines and tabs, drop other control
/// characters (escape sequences).
fn printable(text: &str) -> String {
    text.chars().filter(|c| !c.is_control() || *c == '\n' || *c == '\t').collect()
}
