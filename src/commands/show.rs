//! `git bitsota show TASK [--onboard]`: one task's metadata, and its onboarding markdown.

use serde_json::{json, Value};

use crate::cli::ShowArgs;
use crate::ctx::Ctx;
use crate::error::Result;
use crate::output::Style;
use crate::served_values::{cell, one_line, printable, task_metric, task_state};
use crate::timefmt::duration;

pub fn run(ctx: &Ctx, args: &ShowArgs) -> Result<()> {
    let coordinator = ctx.ambient_coordinator()?;
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
    let title = cell(&task, "title");
    ctx.out.line(ctx.out.paint(Style::Bold, &format!("{} — {title}", cell(&task, "slug"))))?;
    let mut rows: Vec<(&str, String)> = vec![
        ("id", cell(&task, "id")),
        ("state", task_state(&task)),
        ("metric", task_metric(&task)),
        ("mode", cell(&task, "competition_mode")),
        ("repository", cell(&task, "repository")),
        ("base ref", cell(&task, "base_ref")),
    ];
    let allowed: Vec<String> = task
        .get("allowed_patch_paths")
        .and_then(Value::as_array)
        .map(|items| {
            items.iter().map(|p| p.as_str().map(one_line).unwrap_or_else(|| p.to_string())).collect()
        })
        .unwrap_or_default();
    rows.push(("allowed paths", if allowed.is_empty() { "(none)".to_string() } else { allowed.join(", ") }));
    rows.push(("max patch bytes", cell(&task, "max_patch_bytes")));
    rows.push(("setup", cell(&task, "setup_command")));
    rows.push(("benchmark", cell(&task, "benchmark_command")));
    rows.push(("result path", cell(&task, "result_path")));
    rows.push((
        "time budget",
        match task.get("time_budget_seconds").and_then(Value::as_u64) {
            Some(secs) => format!("{} ({secs} s)", duration(secs as f64)),
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
