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
    let mut report = check::check_worktree(&repo, &state.task, &options)?;
    name_bench_outputs(&repo, &state, &mut report);
    if ctx.out.is_json() {
        ctx.out.json(&report.to_json())?;
    } else {
        report.print(&ctx.out)?;
        centerless_notes(ctx, &repo, &state, args.submission_file.as_deref())?;
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
    let path = crate::sidecar::resolve_path(repo.work_tree(), path)?;
    match crate::sidecar::load(&path)? {
        None => Ok(None),
        Some(sidecar) => Ok(Some(SidecarFacts {
            has_artifact: sidecar.has_artifact(),
            problems: crate::sidecar::problems(&sidecar, task),
        })),
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
    let path = crate::sidecar::resolve_path(repo.work_tree(), path)?;
    // A sidecar that does not load is already reported by the check.
    let sidecar = crate::sidecar::load(&path).ok().flatten();
    for line in crate::implements::centerless_lines(&state.task, sidecar.as_ref(), state, None) {
        ctx.out.line(line)?;
    }
    Ok(())
}

/// Changes refused as out of scope that the last `bench` run wrote (modified within the run's
/// time): most likely benchmark outputs, so the hint says how to keep them out.
fn name_bench_outputs(repo: &Repo, state: &crate::state::State, report: &mut check::Report) {
    let Some(run) = state.bench.iter().rev().find(|r| r.kind == "candidate") else {
        return;
    };
    let Ok(ended) = time::OffsetDateTime::parse(&run.at, &time::format_description::well_known::Rfc3339)
    else {
        return;
    };
    let ended = std::time::SystemTime::from(ended);
    let slack = std::time::Duration::from_secs(2);
    let started = ended.checked_sub(std::time::Duration::from_secs_f64(run.seconds.max(0.0)) + slack);
    let Some(started) = started else { return };
    let Some(problem) = report.problems.iter_mut().find(|p| p.code == "outside_allowed_paths") else {
        return;
    };
    let written: Vec<String> = problem
        .paths
        .iter()
        .filter(|p| !p.contains(" -> "))
        .filter(|p| {
            let modified = std::fs::symlink_metadata(repo.work_tree().join(p)).and_then(|m| m.modified());
            modified.is_ok_and(|m| m >= started && m <= ended + slack)
        })
        .cloned()
        .collect();
    if written.is_empty() {
        return;
    }
    problem.hint = Some(format!(
        "the last `git bitsota bench` run wrote {}: if they are benchmark outputs, add them to .git/info/exclude; \
         otherwise revert them, or submit with --allow-outside to leave them out",
        written.join(", ")
    ));
}
