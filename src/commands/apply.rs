//! `git bitsota apply SUBMISSION [--no-implements]`: put another submission's patch into the
//! work tree, to build on it.
//!
//! The patch is served text, so it is held to the validator's pre-replay rules first (a patch
//! validators would reject is not worth building on), and applied with `git apply` to the work
//! tree only: the index is never touched, and git applies a patch whole or not at all, so a
//! patch that does not apply changes nothing.

use serde_json::json;

use crate::cli::ApplyArgs;
use crate::ctx::Ctx;
use crate::error::{Error, Result};
use crate::output::Style;
use crate::repo::Repo;
use crate::served_values::{one_line, text};
use crate::submission_api;
use crate::validator::{self, Rejection};

pub fn run(ctx: &Ctx, args: &ApplyArgs) -> Result<()> {
    let repo = ctx.repo()?;
    let state_file = ctx.state_file(&repo);
    let state = state_file.read_bound()?;
    let task = &state.task;
    let id = submission_api::checked_id(&args.submission)?.to_string();
    let coordinator = ctx.coordinator(Some(&state))?;
    let submission = submission_api::fetch(&coordinator, &id)?;
    submission_api::ensure_same_task(&submission, &id, &task.id, &task.slug)?;

    let patch = text(&submission, "patch").unwrap_or_default();
    if patch.is_empty() {
        return Err(Error::usage(format!(
            "submission {id} has no patch to apply (it submitted only an artifact)"
        ))
        .with_code("empty_patch"));
    }
    let paths = validator::extract_paths(&patch);
    let rejections = validator::rejections(patch.len(), &paths, &task.patterns(), task.max_patch_bytes);
    if !rejections.is_empty() {
        let reasons: Vec<String> = rejections.iter().map(rejection_words).collect();
        return Err(Error::problems(format!(
            "submission {id}'s patch would be rejected by validators: {}",
            reasons.join("; ")
        ))
        .with_code("patch_rejected")
        .with_hint("nothing was changed; pick another submission"));
    }
    if let Some(base) = text(&submission, "base_ref").filter(|b| !b.is_empty() && *b != task.base_commit) {
        ctx.out.warn(format!(
            "submission {id} was made on {}, this clone's base is {}; it may not apply cleanly",
            one_line(crate::repo::short_oid(&base)),
            crate::repo::short_oid(&task.base_commit)
        ));
    }

    apply_to_work_tree(&repo, &patch, &paths)?;

    let idea = submission_api::proposed_idea(&submission);
    let recorded = match (&idea, args.no_implements) {
        (Some(_), false) => {
            state_file.update(|fresh| fresh.implements = Some(id.clone()))?;
            Some(id.clone())
        }
        _ => None,
    };
    if ctx.out.is_json() {
        return ctx.out.json(&json!({
            "version": 1,
            "submission_id": id,
            "paths": paths,
            "implements": recorded,
        }));
    }
    ctx.out.line(format!(
        "applied submission {} to the work tree ({} path(s); the index is untouched)",
        ctx.out.paint(Style::Bold, &id),
        paths.len()
    ))?;
    for path in &paths {
        ctx.out.line(format!("  {}", one_line(path)))?;
    }
    if let Some(idea) = &idea {
        let first = crate::ideas::first_line(idea);
        match &recorded {
            Some(_) => ctx.out.line(format!("implements its idea: {first}"))?,
            None => ctx.out.line(format!("its idea (not recorded, --no-implements): {first}"))?,
        }
    }
    ctx.out.hint("review with `git diff`, then `git bitsota check` and `git bitsota bench`");
    Ok(())
}

fn rejection_words(rejection: &Rejection) -> String {
    match rejection {
        Rejection::TooLarge { bytes, max } => {
            format!("patch_too_large ({bytes} bytes, the task allows {max})")
        }
        Rejection::Unparseable => "unparseable_patch_surface (no path found in the patch)".to_string(),
        Rejection::Bytecode(paths) => {
            format!("generated_python_cache_paths ({})", one_line(&paths.join(", ")))
        }
        Rejection::Disallowed(paths) => {
            format!("disallowed_patch_paths ({})", one_line(&paths.join(", ")))
        }
    }
}

/// `git apply` of `patch` to the work tree, whole or not at all: checked first, then applied.
/// The user's configuration cannot change what is written (whitespace fixing, CRLF
/// conversion). A patch that does not apply is exit 1 naming the failing paths.
fn apply_to_work_tree(repo: &Repo, patch: &str, paths: &[String]) -> Result<()> {
    let git = || repo.git().stable_config().args(["-c", "apply.whitespace=nowarn", "apply"]);
    let (code, _, stderr) = git().args(["--check", "-"]).stdin(patch.as_bytes().to_vec()).output_any()?;
    if code != Some(0) {
        return Err(not_applied(&stderr, paths));
    }
    let (code, _, stderr) = git().arg("-").stdin(patch.as_bytes().to_vec()).output_any()?;
    if code != Some(0) {
        // git checks every hunk before writing anything, so a failure here changed nothing.
        return Err(not_applied(&stderr, paths));
    }
    Ok(())
}

fn not_applied(stderr: &[u8], paths: &[String]) -> Error {
    let stderr = String::from_utf8_lossy(stderr);
    let mut failing = failing_paths(&stderr);
    if failing.is_empty() {
        failing = paths.to_vec();
    }
    let why = stderr.lines().map(|l| one_line(l.trim())).filter(|l| !l.is_empty()).collect::<Vec<_>>();
    let mut err = Error::problems(format!(
        "the patch does not apply to this work tree: {}",
        one_line(&failing.join(", "))
    ))
    .with_code("patch_does_not_apply")
    .with_hint(
        "nothing was changed; commit or stash your edits of those files, or start from the base commit",
    );
    if !why.is_empty() {
        err = err.with_source(GitSaid(why.join("\n")));
    }
    err
}

#[derive(Debug)]
struct GitSaid(String);
impl std::fmt::Display for GitSaid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for GitSaid {}

/// The paths `git apply` names in its `error:` lines (LC_ALL=C messages).
fn failing_paths(stderr: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    for line in stderr.lines() {
        let Some(rest) = line.strip_prefix("error: ") else { continue };
        let path = if let Some(at) = rest.strip_prefix("patch failed: ") {
            at.rsplit_once(':').map(|(p, _)| p.to_string())
        } else if let Some(quoted) = rest.strip_prefix("affected file '") {
            quoted.split_once("' is beyond").map(|(p, _)| p.to_string())
        } else if let Some(quoted) = rest.strip_prefix("invalid path '") {
            quoted.strip_suffix('\'').map(str::to_string)
        } else {
            rest.split_once(": ").map(|(p, _)| p.to_string())
        };
        if let Some(path) = path.filter(|p| !p.is_empty() && !found.contains(p)) {
            found.push(path);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::failing_paths;

    #[test]
    fn git_apply_messages_name_their_paths() {
        let stderr = "error: patch failed: train.py:1\nerror: train.py: patch does not apply\n\
                      error: new.py: already exists in working directory\n\
                      error: affected file 'link/x' is beyond a symbolic link\n\
                      error: invalid path 'src/../up'\n";
        assert_eq!(failing_paths(stderr), ["train.py", "new.py", "link/x", "src/../up"]);
    }
}
