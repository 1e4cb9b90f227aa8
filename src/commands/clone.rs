//! `git bitsota clone TASK [DIR]`: clone the task repository, resolve `base_ref` to a commit,
//! check out branch `bitsota/<slug>` there, and bind the clone to the task.
//!
//! The record is validated before anything is created (a hostile record creates nothing), and
//! a clone that fails half-way is removed again.

use std::path::{Path, PathBuf};

use serde_json::json;

use crate::bind;
use crate::cli::CloneArgs;
use crate::ctx::Ctx;
use crate::error::{Error, Result};
use crate::output::Style;
use crate::repo::{Git, Repo};
use crate::task::{self, Strictness, TaskSnapshot};

pub fn run(ctx: &Ctx, args: &CloneArgs) -> Result<()> {
    let (record, from_server) = crate::bind::task_record(ctx, &args.task, args.task_file.as_deref(), None)?;
    // Validate everything before touching the disk.
    let (snapshot, warnings) = bind::parse(&record, Strictness::Refuse, from_server)?;
    for warning in warnings {
        ctx.out.warn(warning);
    }
    task::check_repository(&snapshot.repository).map_err(|why| {
        Error::usage(format!("refusing to clone the task repository {:?}: {why}", snapshot.repository))
            .with_code("bad_repository")
    })?;
    let branch = branch_name(&snapshot.slug)?;
    let dir = match &args.dir {
        Some(dir) => dir.clone(),
        None => PathBuf::from(default_dir(&snapshot.repository)?),
    };
    if dir.exists() && std::fs::read_dir(&dir).map(|mut d| d.next().is_some()).unwrap_or(true) {
        return Err(Error::usage(format!("{} already exists and is not empty", dir.display()))
            .with_code("target_exists")
            .with_hint("choose another directory: `git bitsota clone TASK DIR`"));
    }
    let created = !dir.exists();

    let result = clone_and_bind(ctx, snapshot, &dir, &branch, from_server);
    if result.is_err() {
        // Leave nothing half-made behind.
        if created {
            let _ = std::fs::remove_dir_all(&dir);
        } else if let Ok(entries) = std::fs::read_dir(&dir) {
            for entry in entries.flatten() {
                let _ = std::fs::remove_dir_all(entry.path()).or_else(|_| std::fs::remove_file(entry.path()));
            }
        }
    }
    let (repo, state) = result?;
    let task = &state.task;
    if ctx.out.is_json() {
        return ctx.out.json(&json!({
            "version": 1,
            "task": task.slug,
            "directory": repo.work_tree().display().to_string(),
            "branch": branch,
            "base_ref": task.base_ref,
            "base_commit": task.base_commit,
        }));
    }
    ctx.out.line(format!(
        "cloned {} into {} on branch {} at {} ({})",
        ctx.out.paint(Style::Bold, &task.slug),
        repo.work_tree().display(),
        branch,
        crate::repo::short_oid(&task.base_commit),
        task.base_ref
    ))?;
    ctx.out.line(format!("allowed paths: {}", task.allowed_patch_paths.join(", ")))?;
    ctx.out.hint(format!(
        "next: cd {} && git bitsota bench --baseline; guard pushes with `git bitsota hook install`",
        dir.display()
    ));
    Ok(())
}

fn clone_and_bind(
    ctx: &Ctx,
    snapshot: TaskSnapshot,
    dir: &Path,
    branch: &str,
    from_server: bool,
) -> Result<(Repo, crate::state::State)> {
    // Only the transports cli.md accepts (https, ssh, file/local paths) are allowed, so
    // transports that run commands (`ext::`, `fd::`) stay off even through redirects;
    // `--` ends the options before the URL. (`GIT_PROTOCOL_FROM_USER=0` would also turn off
    // `file`, whose default policy is `user`, and break local task repositories.)
    Git::new(None)
        .args(PROTOCOL_ALLOWLIST)
        .args(["clone", "--no-checkout", "--"])
        .arg(&snapshot.repository)
        .arg(dir)
        .run_visible()
        .map_err(|e| {
            Error::network(format!("cloning {} failed", snapshot.repository))
                .with_code("clone_failed")
                .with_source(e)
        })?;
    let repo = Repo::discover_from(dir)?;
    let base_ref = snapshot.base_ref.as_str();
    // A base commit that no branch or tag reaches is not cloned: ask for it once.
    if bind::resolve_base(&repo, base_ref).is_err() {
        let _ =
            repo.git().args(PROTOCOL_ALLOWLIST).args(["fetch", "--quiet", "origin", "--", base_ref]).output();
    }
    let url = ctx.explicit_coordinator_url();
    let url = url.or_else(|| from_server.then(|| ctx.coordinator_url(None)));
    let state = bind::bind_snapshot(&ctx.out, &repo, snapshot, url, false)?;
    repo.git().args(["checkout", "--quiet", "-b", branch, &state.task.base_commit]).output()?;
    Ok((repo, state))
}

/// `git -c` options allowing exactly the transports of cli.md §4 `clone`.
const PROTOCOL_ALLOWLIST: [&str; 8] = [
    "-c",
    "protocol.allow=never",
    "-c",
    "protocol.https.allow=always",
    "-c",
    "protocol.ssh.allow=always",
    "-c",
    "protocol.file.allow=always",
];

/// `bitsota/<slug>`, refused when git would not accept it as a branch name.
fn branch_name(slug: &str) -> Result<String> {
    let name = format!("bitsota/{slug}");
    let valid = !slug.is_empty()
        && slug.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        && !slug.starts_with('.')
        && !slug.ends_with(".lock")
        && !slug.contains("..");
    if valid {
        Ok(name)
    } else {
        Err(Error::usage(format!("the task slug {slug:?} cannot name a branch")).with_code("bad_task_record"))
    }
}

/// The directory `git clone` would pick: the last path component of the URL, without a
/// trailing `/` or `.git`.
fn default_dir(repository: &str) -> Result<String> {
    let trimmed = repository.trim_end_matches('/');
    let trimmed = trimmed.strip_suffix(".git").unwrap_or(trimmed).trim_end_matches('/');
    let last = trimmed.rsplit(['/', ':']).next().unwrap_or("");
    if last.is_empty() || last == "." || last == ".." || last.starts_with('-') {
        return Err(Error::usage(format!("cannot name a directory after {repository:?}"))
            .with_hint("give one: `git bitsota clone TASK DIR`"));
    }
    Ok(last.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_directory_is_the_basename() {
        assert_eq!(default_dir("https://github.com/o/autoresearch-task.git").unwrap(), "autoresearch-task");
        assert_eq!(default_dir("git@github.com:o/repo.git").unwrap(), "repo");
        assert_eq!(default_dir("/srv/repos/task/").unwrap(), "task");
        assert!(default_dir("https://h/..").is_err());
    }

    #[test]
    fn branch_names() {
        assert_eq!(branch_name("qwen3-27b").unwrap(), "bitsota/qwen3-27b");
        assert!(branch_name("../x").is_err());
        assert!(branch_name("a b").is_err());
    }
}
