//! `git bitsota diff`: the exact patch bytes `submit` would send, on stdout.

use crate::check::{self, Options, Report};
use crate::cli::DiffArgs;
use crate::ctx::Ctx;
use crate::error::{Error, Result};
use crate::repo::Repo;
use crate::task::TaskSnapshot;

pub fn run(ctx: &Ctx, args: &DiffArgs) -> Result<()> {
    let repo = ctx.repo()?;
    let state = ctx.state_file(&repo).read_bound()?;
    let report = submittable(&repo, &state.task, args.allow_outside)?;
    for path in report.left_out() {
        ctx.out.warn(format!("left out: {path}"));
    }
    if ctx.out.is_json() {
        // The patch is UTF-8 whenever `submit` could send it; otherwise the bytes are shown
        // lossily and `patch_not_utf8` says why it cannot be sent.
        return ctx.out.json(&serde_json::json!({
            "version": 1,
            "patch": String::from_utf8_lossy(&report.built.patch),
            "patch_bytes": report.patch_bytes(),
            "patch_sha256": crate::canonical_json::sha256_hex(&report.built.patch),
            "left_out": report.left_out(),
        }));
    }
    ctx.out.bytes(&report.built.patch)
}

/// The check of what `diff` prints (and `bench --replay` replays): an error when a problem
/// other than size or emptiness would make `submit` refuse it.
pub(crate) fn submittable(repo: &Repo, task: &TaskSnapshot, allow_outside: bool) -> Result<Report> {
    let options = Options { allow_outside, sidecar: None };
    let report = check::check_worktree(repo, task, &options)?;
    // Refused paths would make `submit` refuse too: say so rather than print a patch that
    // will not be sent. Size and emptiness do not change what the bytes are.
    let blocking: Vec<_> =
        report.problems.iter().filter(|p| !matches!(p.code, "patch_too_large" | "empty_patch")).collect();
    if let Some(first) = blocking.first() {
        let mut err = Error::problems(format!("{} [{}]", first.message, first.code)).with_code(first.code);
        if !first.paths.is_empty() {
            err = Error::problems(format!("{} [{}]: {}", first.message, first.code, first.paths.join(", ")))
                .with_code(first.code);
        }
        return Err(err.with_hint(first.hint.clone().unwrap_or_else(|| "see `git bitsota check`".into())));
    }
    Ok(report)
}
