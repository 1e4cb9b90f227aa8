//! `git bitsota init TASK [--task-file FILE] [--force]`: bind the current clone to a task.

use serde_json::{json, Value};

use crate::bind;
use crate::cli::InitArgs;
use crate::ctx::Ctx;
use crate::error::{Error, Result, ResultExt};
use crate::output::Style;
use crate::task::Strictness;

pub fn run(ctx: &Ctx, args: &InitArgs) -> Result<()> {
    let repo = ctx.repo()?;
    let state_file = ctx.state_file(&repo);
    let (record, from_server) = match &args.task_file {
        Some(path) => (read_record_file(path)?, false),
        None => {
            // The coordinator URL of an existing (readable) state counts, as for every command.
            let previous = state_file.read().ok().flatten();
            let url = ctx.coordinator_url(previous.as_ref());
            (fetch_task(ctx, &url, &args.task)?, true)
        }
    };
    if crate::client::find_task(std::slice::from_ref(&record), &args.task).is_none() {
        return Err(Error::usage(format!(
            "the task record is not task `{}` (its slug and id differ)",
            args.task
        ))
        .with_code("task_mismatch"));
    }
    let url = ctx.global.coordinator_url.clone().filter(|u| !u.is_empty());
    let state = bind::bind(&ctx.out, &repo, &record, Strictness::WarnOnly, from_server, url, args.force)?;
    let task = &state.task;
    if ctx.out.is_json() {
        return ctx.out.json(&json!({
            "version": 1,
            "task": task.slug,
            "base_ref": task.base_ref,
            "base_commit": task.base_commit,
            "state_file": state_file.path().display().to_string(),
        }));
    }
    ctx.out.line(format!(
        "bound to task {} at {} ({})",
        ctx.out.paint(Style::Bold, &task.slug),
        &task.base_commit[..12],
        task.base_ref
    ))?;
    ctx.out.line(format!("allowed paths: {}", task.allowed_patch_paths.join(", ")))?;
    ctx.out.hint("check your changes with `git bitsota check`; guard pushes with `git bitsota hook install`");
    Ok(())
}

/// A task record from a JSON file given by the user (exit 2 when unreadable).
pub fn read_record_file(path: &std::path::Path) -> Result<Value> {
    let bytes = std::fs::read(path).or_usage(|| format!("cannot read the task file {}", path.display()))?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
        Error::usage(format!("the task file {} is not valid JSON", path.display()))
            .with_code("bad_task_record")
            .with_source(e)
    })?;
    // Accept `{"task": {…}}` (the `show --json` shape) as well as the bare record.
    match value.get("task") {
        Some(inner) if inner.is_object() && value.get("id").is_none() => Ok(inner.clone()),
        _ => Ok(value),
    }
}

/// The task record from the coordinator (slug or id, through the task listing).
fn fetch_task(ctx: &Ctx, url: &str, task: &str) -> Result<Value> {
    crate::client::Coordinator::new(url, &ctx.out)?.resolve_task(task)
}
