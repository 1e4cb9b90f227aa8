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
    // The coordinator URL of an existing (readable) state counts, as for every command.
    let previous = state_file.read().ok().flatten();
    let (record, from_server) = task_record(ctx, &args.task, args.task_file.as_deref(), previous.as_ref())?;
    let url = ctx.explicit_coordinator_url();
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
        ctx.out.paint(Style::Bold, &crate::output::escape(&task.slug, crate::output::Shown::Line)),
        crate::repo::short_oid(&task.base_commit),
        crate::output::escape(&task.base_ref, crate::output::Shown::Line)
    ))?;
    ctx.out
        .line(format!("allowed paths: {}", crate::task::allowed_paths_words(&task.allowed_patch_paths)))?;
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

/// The record of `task`: from `task_file` (offline; exit 2 when unusable) or from the
/// coordinator (slug or id, through the task listing). The bool says it came from the
/// coordinator. A file describing another task is refused.
pub fn task_record(
    ctx: &Ctx,
    task: &str,
    task_file: Option<&std::path::Path>,
    state: Option<&crate::state::State>,
) -> Result<(Value, bool)> {
    let (record, from_server) = match task_file {
        Some(path) => (read_record_file(path)?, false),
        None => (crate::client::Coordinator::from_ctx(ctx, state)?.resolve_task(task)?, true),
    };
    if crate::client::find_task(std::slice::from_ref(&record), task).is_none() {
        return Err(Error::usage(format!("the task record is not task `{task}` (its slug and id differ)"))
            .with_code("task_mismatch"));
    }
    Ok((record, from_server))
}
