//! `git bitsota attempts [show N | restore N [--force]]`: the attempts `run` kept (cli.md §10.4).

use serde_json::json;

use crate::attempts;
use crate::canonical_json::sha256_hex;
use crate::cli::{AttemptsAction, AttemptsArgs};
use crate::ctx::Ctx;
use crate::error::{Error, Result};
use crate::state::State;

pub fn run(ctx: &Ctx, args: &AttemptsArgs) -> Result<()> {
    let repo = ctx.repo()?;
    let state = ctx.state_file(&repo).read_bound()?;
    match args.action {
        None => list(ctx, &repo, &state),
        Some(AttemptsAction::Show { n }) => show(ctx, &repo, &state, n),
        Some(AttemptsAction::Restore { n, force }) => restore(ctx, &repo, &state, n, force),
    }
}

fn list(ctx: &Ctx, repo: &crate::repo::Repo, state: &State) -> Result<()> {
    let refs = attempts::existing(repo)?;
    if ctx.out.is_json() {
        let listed: Vec<_> = state.attempts.iter().map(attempts::to_json).collect();
        return ctx.out.json(&json!({"version": 1, "attempts": listed}));
    }
    if state.attempts.is_empty() {
        ctx.out.line("no attempts yet")?;
        ctx.out.hint("make some with `git bitsota run -- AGENT-COMMAND`");
        return Ok(());
    }
    attempts::print_table(&ctx.out, &state.task.metric_name, state.attempts.iter())?;
    let deleted: Vec<String> = state
        .attempts
        .iter()
        .filter(|a| !refs.iter().any(|(n, _, _)| *n == a.n))
        .map(|a| a.n.to_string())
        .collect();
    if !deleted.is_empty() {
        ctx.out.warn(format!("the refs of attempt(s) {} were deleted", deleted.join(", ")));
    }
    if let Some(best) = attempts::best(&state.task, &state.attempts) {
        ctx.out.line(format!("best: attempt {}", best.n))?;
    }
    Ok(())
}

fn show(ctx: &Ctx, repo: &crate::repo::Repo, state: &State, n: u64) -> Result<()> {
    let commit = attempts::commit_of(repo, n)?;
    let built = attempts::patch_of(repo, &state.task, &commit)?;
    let sha = sha256_hex(&built.patch);
    // The bytes are rebuilt from the commit: say so if they are not what was recorded.
    if let Some(record) = state.attempts.iter().find(|a| a.n == n) {
        if record.patch_sha256 != sha {
            return Err(Error::usage(format!(
                "attempt {n}'s patch rebuilt from {} does not match the one recorded (sha256 {})",
                crate::repo::short_oid(&commit),
                record.patch_sha256
            ))
            .with_code("attempt_mismatch")
            .with_hint(format!("the ref {} may have been moved by hand", attempts::ref_name(n))));
        }
    }
    if ctx.out.is_json() {
        return ctx.out.json(&json!({
            "version": 1,
            "n": n,
            "ref": attempts::ref_name(n),
            "commit": commit,
            "patch": String::from_utf8_lossy(&built.patch),
            "patch_bytes": built.patch.len(),
            "patch_sha256": sha,
        }));
    }
    ctx.out.bytes(&built.patch)
}

fn restore(ctx: &Ctx, repo: &crate::repo::Repo, state: &State, n: u64, force: bool) -> Result<()> {
    let restored = attempts::restore(repo, &state.task, n, force)?;
    if restored.other_base {
        ctx.out.warn(format!(
            "attempt {n} was made on another base commit than the bound one ({})",
            crate::repo::short_oid(&state.task.base_commit)
        ));
    }
    if ctx.out.is_json() {
        return ctx.out.json(&json!({"version": 1, "n": n, "paths": restored.paths}));
    }
    ctx.out.line(format!("restored attempt {n}: {} path(s)", restored.paths.len()))?;
    for path in &restored.paths {
        ctx.out.line(format!("  {path}"))?;
    }
    ctx.out.hint("the index is unchanged; `git bitsota diff` shows the attempt's patch");
    Ok(())
}
