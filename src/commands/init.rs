//! `git bitsota init TASK [--task-file FILE] [--force]`: bind the current clone to a task.

use serde_json::json;

use crate::bind;
use crate::cli::InitArgs;
use crate::ctx::Ctx;
use crate::error::Result;
use crate::output::Style;
use crate::task::Strictness;

pub fn run(ctx: &Ctx, args: &InitArgs) -> Result<()> {
    let repo = ctx.repo()?;
    let state_file = ctx.state_file(&repo);
    // The coordinator URL of an existing (readable) state counts, as for every command.
    let previous = state_file.read().ok().flatten();
    let (record, source) = bind::task_record(ctx, &args.task, args.task_file.as_deref(), previous.as_ref())?;
    let url = ctx.explicit_coordinator_url();
    let state = bind::bind(&ctx.out, &repo, &record, Strictness::WarnOnly, source, url, args.force)?;
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
