//! `git bitsota check [--pre-push REMOTE URL]`: what would be submitted, offline.

use crate::check::{self, Options, SidecarFacts};
use crate::cli::CheckArgs;
use crate::ctx::Ctx;
use crate::error::{Error, Result};
use crate::repo::Repo;
use crate::task::TaskSnapshot;

pub fn run(ctx: &Ctx, args: &CheckArgs) -> Result<()> {
    if args.pre_push {
        return crate::commands::prepush::run(ctx, args);
    }
    let repo = ctx.repo()?;
    let state = ctx.state_file(&repo).read_bound()?;
    let sidecar = sidecar_if_present(&repo, &state.task, args.submission_file.as_deref())?;
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

/// The sidecar's facts when the file exists; `check` does not require it (cli.md §5).
pub fn sidecar_if_present(
    repo: &Repo,
    task: &TaskSnapshot,
    path: Option<&std::path::Path>,
) -> Result<Option<SidecarFacts>> {
    let path = crate::sidecar::resolve_path(repo, path)?;
    match crate::sidecar::load(&path)? {
        None => Ok(None),
        Some(sidecar) => Ok(Some(SidecarFacts {
            has_artifact: sidecar.has_artifact(),
            problems: crate::sidecar::problems(&sidecar, task),
        })),
    }
}
