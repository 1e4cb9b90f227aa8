//! `git bitsota tasks [--all]`: the coordinator's tasks, by default only the live, active ones.

use crate::served_values::{cell, task_metric, task_state};
use crate::timefmt::duration;
use serde_json::{json, Value};

use crate::cli::TasksArgs;
use crate::client::is_live;
use crate::ctx::Ctx;
use crate::error::Result;

pub fn run(ctx: &Ctx, args: &TasksArgs) -> Result<()> {
    let coordinator = ctx.ambient_coordinator()?;
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
                task_metric(t),
                cell(t, "competition_mode"),
                t.get("time_budget_seconds")
                    .and_then(Value::as_u64)
                    .map(|secs| duration(secs as f64))
                    .unwrap_or_else(|| "-".into()),
            ];
            if args.all {
                row.push(task_state(t));
            }
            row
        })
        .collect();
    for line in crate::output::table(&header, &rows) {
        ctx.out.line(line)?;
    }
    ctx.out.info(format!("{} task(s); `git bitsota show SLUG` for details", rows.len()));
    Ok(())
}
