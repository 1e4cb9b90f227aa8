//! `git bitsota check [--pre-push REMOTE URL]`: what would be submitted, offline.

use crate::check;
use crate::cli::CheckArgs;
use crate::ctx::Ctx;
use crate::error::{Error, Result};
use crate::repo::Repo;

pub fn run(ctx: &Ctx, args: &CheckArgs) -> Result<()> {
    let repo = ctx.repo()?;
    let state = ctx.state_file(&repo).read_bound()?;
    let mut report = check::check_worktree_and_sidecar(
        &repo,
        &state.task,
        args.allow_outside,
        args.submission_file.as_deref(),
    )?;
    crate::bench_outputs::name_in_hint(&repo, &state, &mut report);
    if ctx.out.is_json() {
        ctx.out.json(&report.to_json())?;
    } else {
        crate::output::check_report::print_check_report(&ctx.out, &report)?;
        centerless_notes(ctx, &repo, &state, args.submission_file.as_deref())?;
    }
    if report.ok() {
        Ok(())
    } else {
        Err(Error::problems(format!("{} problem(s) found", report.problems.len())).already_reported())
    }
}

/// On a centerless task: the idea that will be sent and the submission it implements.
fn centerless_notes(
    ctx: &Ctx,
    repo: &Repo,
    state: &crate::state::State,
    path: Option<&std::path::Path>,
) -> Result<()> {
    if !state.task.is_centerless() {
        return Ok(());
    }
    let path = crate::sidecar::resolve_path(repo, path)?;
    // A sidecar that does not load is already reported by the check.
    let sidecar = crate::sidecar::load(&path).ok().flatten();
    for line in crate::implements::centerless_lines(&state.task, sidecar.as_ref(), state, None) {
        ctx.out.line(line)?;
    }
    Ok(())
}
