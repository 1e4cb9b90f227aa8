//! `git bitsota check [--pre-push REMOTE URL]`: what would be submitted, offline.

use crate::check::{self, Options};
use crate::cli::CheckArgs;
use crate::ctx::Ctx;
use crate::error::{Error, Result};

pub fn run(ctx: &Ctx, args: &CheckArgs) -> Result<()> {
    let repo = ctx.repo()?;
    let state = ctx.state_file(&repo).read_bound()?;
    let sidecar = check::sidecar_facts(&repo, &state.task, args.submission_file.as_deref())?;
    let options = Options { allow_outside: args.allow_outside, sidecar };
    let report = check::check_worktree(&repo, &state.task, &options)?;
    if ctx.out.is_json() {
        ctx.out.json(&report.to_json())?;
    } else {
        report.print(&ctx.out)?;
    }
    if report.ok() {
        Ok(())
    } else {
        Err(Error::problems(format!("{} problem(s) found", report.problems.len())).already_reported())
    }
}
