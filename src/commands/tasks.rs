//! `git bitsota tasks [--all]`: the coordinator's tasks, by default only the live, active ones.

use crate::served::{cell, one_line};
use serde_json::{json, Value};

use crate::cli::TasksArgs;
use crate::client::{is_live, Coordinator};
use crate::ctx::Ctx;
use crate::error::Result;

pub fn run(ctx: &Ctx, args: &TasksArgs) -> Result<()> {
    let coordinator = Coordinator::ambient(ctx)?;
    let tasks: Vec<Value> =
        coordinator.list_tasks()?.into_iter().filter(|t| args.all || is_live(t)).collect();
    if ctx.out.is_json() {
        return ctx.out.json(&json!({"version": 1, "tasks": tasks}));
    }
    if tasks.is_empty() {
        ctx.out.info(if args.all {
            "the coordinator lists no tasks".to_string()
        } else {
            "no live tasks right now (`git bitsota tasks --all` lists every task)".to_string()
        });
        return Ok(());
    }
    let mut header = vec!["SLUG", "METRIC", "MODE", "BUDGET"];
    if args.all {
        header.push("STATE");
    }
    let rows: Vec<Vec<String>> = tasks
        .iter()
        .map(|t| {
            let mut row = vec![
                cell(t, "slug"),
                metric(t),
                cell(t, "competition_mode"),
                t.get("time_budget_seconds")
                    .and_then(Value::as_u64)
                    .map(human_duration)
                    .unwrap_or_else(|| "-".into()),
            ];
            if args.all {
                row.push(state(t));
            }
            row
        })
        .collect();
    for line in table(&header, &rows) {
        ctx.out.line(line)?;
    }
    ctx.out.info(format!("{} task(s); `git bitsota show SLUG` for details", rows.len()));
    Ok(())
}

/// `heldout_ppl (minimize)`.
pub fn metric(task: &Value) -> String {
    let name = cell(task, "metric_name");
    match task.get("metric_direction").and_then(Value::as_str) {
        Some(direction) if !direction.is_empty() => format!("{name} ({})", one_line(direction)),
        _ => name,
    }
}

/// `live`, `paused`, … plus `inactive` when `is_active` is false.
pub fn state(task: &Value) -> String {
    let mut state = cell(task, "task_state");
    if task.get("is_active").and_then(Value::as_bool) == Some(false) {
        state.push_str(", inactive");
    }
    state
}

/// 21600 → `6h`, 1800 → `30m`, 5400 → `1h30m`, 90 → `1m30s`.
pub fn human_duration(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 || out.is_empty() {
        out.push_str(&format!("{s}s"));
    }
    out
}

/// Left-aligned columns, two spaces apart, widths by character count.
fn table(header: &[&str], rows: &[Vec<String>]) -> Vec<String> {
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
    use super::human_duration;

    #[test]
    fn durations() {
        assert_eq!(human_duration(21600), "6h");
        assert_eq!(human_duration(1800), "30m");
        assert_eq!(human_duration(5400), "1h30m");
        assert_eq!(human_duration(90), "1m30s");
        assert_eq!(human_duration(0), "0s");
    }
}
