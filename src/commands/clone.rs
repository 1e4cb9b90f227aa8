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
use crate::error::{Error, Kind, Result, ResultExt};
use crate::output::{escape, quote_path, Shown, Style};
use crate::repo::{Git, Repo};
use crate::task::{Strictness, TaskSnapshot};

pub fn run(ctx: &Ctx, args: &CloneArgs) -> Result<()> {
    let (record, source) = crate::bind::task_record(ctx, &args.task, args.task_file.as_deref(), None)?;
    // Validate everything before touching the disk.
    let (snapshot, warnings) = bind::validate_record(&record, Strictness::Refuse, source)?;
    for warning in warnings {
        ctx.out.warn(warning);
    }
    // The record's repository address and slug were checked with it (task::parse_record):
    // the transport cannot run commands, and the slug can name a branch.
    let branch = format!("bitsota/{}", snapshot.slug);
    let dir = match &args.dir {
        Some(dir) => dir.clone(),
        None => PathBuf::from(default_dir(&snapshot.repository)?),
    };
    refuse_git_dir_name(&dir)?;
    if dir.exists() && std::fs::read_dir(&dir).map(|mut d| d.next().is_some()).unwrap_or(true) {
        return Err(Error::usage(format!("{} already exists and is not empty", quote_path(&dir)))
            .with_code("target_exists")
            .with_hint("choose another directory: `git bitsota clone TASK DIR`"));
    }

    // ChangesAndPatch in a hidden sibling and renamed into place only when complete: Ctrl-C (caught
    // here) or a kill never leaves a bound clone at DIR with its files unchecked-out.
    // An existing (empty) target such as `.` is named by its real path, so it has a parent and
    // a name to build beside.
    let dir = if dir.exists() { std::fs::canonicalize(&dir).unwrap_or(dir) } else { dir };
    let (holder, staging) = staging_dir(&dir)?;
    let interrupt = crate::interrupt::Interrupt::catch();
    let result = clone_and_bind(ctx, snapshot, &staging, &branch, source).and_then(|state| {
        if interrupt.happened() {
            return Err(interrupted());
        }
        std::fs::rename(&staging, &dir)
            .or_usage(|| format!("cannot move the new clone into place at {}", quote_path(&dir)))?;
        Ok(state)
    });
    let _ = std::fs::remove_dir_all(&holder);
    let state = match result {
        Ok(state) => state,
        Err(err) => return Err(if interrupt.happened() { interrupted() } else { err }),
    };
    // Cloning into `.` replaced the directory we stood in.
    if std::env::current_dir().is_err() {
        let _ = std::env::set_current_dir(&dir);
    }
    let repo = Repo::open_exact(&dir)?.traced(&ctx.out);
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
        ctx.out.paint(Style::Bold, &escape(&task.slug, Shown::Line)),
        quote_path(repo.work_tree()),
        branch,
        crate::repo::short_oid(&task.base_commit),
        escape(&task.base_ref, Shown::Line)
    ))?;
    ctx.out
        .line(format!("allowed paths: {}", crate::task::allowed_paths_words(&task.allowed_patch_paths)))?;
    ctx.out.hint(format!(
        "next: cd {} && git bitsota bench --baseline; guard pushes with `git bitsota hook install`",
        quote_path(&dir)
    ));
    Ok(())
}

/// `.git` (in any case, in any component) is never a clone's directory: git would take the
/// new clone's files for an enclosing repository's own `.git`.
fn refuse_git_dir_name(dir: &Path) -> Result<()> {
    let is_git = |c: std::path::Component| c.as_os_str().eq_ignore_ascii_case(".git");
    if dir.components().any(is_git) {
        return Err(Error::usage(format!(
            "refusing to clone into {}: `.git` cannot name a clone",
            quote_path(dir)
        ))
        .with_code("bad_directory")
        .with_hint("give another directory: `git bitsota clone TASK DIR`"));
    }
    Ok(())
}

/// A new hidden directory beside `dir` (the holder, removed at the end) and the path inside it
/// where the clone is built under `dir`'s own name, so git's messages name the directory the
/// user asked for.
fn staging_dir(dir: &Path) -> Result<(PathBuf, PathBuf)> {
    let parent = match dir.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).or_usage(|| format!("cannot create {}", quote_path(&parent)))?;
    let Some(name) = dir.file_name() else {
        return Err(Error::usage(format!("cannot clone into {}", quote_path(dir))).with_code("bad_directory"));
    };
    let holder = parent.join(format!(".bitsota-clone-{}", crate::fsutil::random_suffix()));
    std::fs::create_dir(&holder).or_usage(|| format!("cannot create {}", quote_path(&holder)))?;
    Ok((holder.clone(), holder.join(name)))
}

/// The repository argument for a `git clone` run in another directory: a relative local path
/// made absolute (URLs and `user@host:path` stay as they are).
fn source_for(repository: &str) -> Result<std::ffi::OsString> {
    let lower = repository.to_ascii_lowercase();
    let is_url = lower.contains("://");
    let scp_like = repository.find(':').is_some_and(|colon| !repository[..colon].contains('/'));
    if is_url || scp_like || Path::new(repository).is_absolute() {
        return Ok(repository.into());
    }
    let cwd = std::env::current_dir().or_usage(|| "cannot determine the current directory")?;
    Ok(cwd.join(repository).into_os_string())
}

fn interrupted() -> Error {
    Error::new(Kind::Interrupted, "interrupted; nothing was cloned")
}

fn clone_and_bind(
    ctx: &Ctx,
    snapshot: TaskSnapshot,
    dir: &Path,
    branch: &str,
    source: bind::RecordSource,
) -> Result<crate::state::State> {
    // Only the transports cli.md accepts (https, ssh, file/local paths) are allowed, so
    // transports that run commands (`ext::`, `fd::`) stay off even through redirects;
    // `--` ends the options before the URL. (`GIT_PROTOCOL_FROM_USER=0` would also turn off
    // `file`, whose default policy is `user`, and break local task repositories.)
    // Run beside the target so git's "Cloning into '<name>'" names what the user asked for.
    let (Some(holder), Some(name)) = (dir.parent(), dir.file_name()) else {
        return Err(Error::usage(format!("cannot clone into {}", quote_path(dir))));
    };
    Git::new(None)
        .traced(&ctx.out)
        .current_dir(holder)
        .args(PROTOCOL_ALLOWLIST)
        .args(["clone", "--no-checkout", "--"])
        .arg(source_for(&snapshot.repository)?)
        .arg(name)
        .run_visible()
        .map_err(|e| {
            // A local repository that cannot be cloned is a local error (exit 2); a remote one
            // most likely could not be reached (exit 3). git has said why on stderr.
            let kind = if is_local(&snapshot.repository) { Kind::Usage } else { Kind::Network };
            Error::new(kind, format!("cloning {} failed", snapshot.repository))
                .with_code("clone_failed")
                .with_source(e)
        })?;
    let repo = Repo::open_exact(dir)?.traced(&ctx.out);
    let base_ref = snapshot.base_ref.as_str();
    // A base commit that no branch or tag reaches is not cloned: ask for it once.
    if bind::resolve_base(&repo, base_ref).is_err() {
        let _ =
            repo.git().args(PROTOCOL_ALLOWLIST).args(["fetch", "--quiet", "origin", "--", base_ref]).output();
    }
    let url = ctx.explicit_coordinator_url();
    let url = url.or_else(|| (source == bind::RecordSource::Coordinator).then(|| ctx.coordinator_url(None)));
    let state = bind::bind_snapshot(&ctx.out, &repo, snapshot, url, false)?;
    repo.git().args(["checkout", "--quiet", "-b", branch, &state.task.base_commit]).output()?;
    Ok(state)
}

/// Whether git would clone `repository` from the local file system (a path or `file://`),
/// not over the network.
fn is_local(repository: &str) -> bool {
    if repository.starts_with("file://") {
        return true;
    }
    // git's rule: `host:path` is ssh unless a `/` comes before the first `:`; `x://` is a URL.
    match repository.find(':') {
        None => true,
        Some(colon) => repository[..colon].contains('/'),
    }
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
    fn only_relative_local_paths_are_made_absolute() {
        for kept in ["https://h/r.git", "ssh://h/r", "file:///srv/r", "git@h:o/r.git", "/srv/r"] {
            assert_eq!(source_for(kept).unwrap(), std::ffi::OsString::from(kept));
        }
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(source_for("../r").unwrap(), cwd.join("../r").into_os_string());
        assert_eq!(source_for("./a:b").unwrap(), cwd.join("./a:b").into_os_string());
    }

    #[test]
    fn local_and_remote_repositories() {
        assert!(is_local("/srv/repos/task.git") && is_local("../task") && is_local("file:///srv/task"));
        assert!(is_local("./a:b"));
        assert!(!is_local("https://github.com/o/t.git") && !is_local("git@github.com:o/t.git"));
        assert!(!is_local("ssh://host/t"));
    }
}
