//! Binding a clone to a task: validate the record, resolve `base_ref` to a commit, write the
//! state file and the exclude line. Shared by `init` and `clone`.

use serde_json::Value;

use crate::error::{Error, Result, ResultExt};
use crate::output::Output;
use crate::repo::Repo;
use crate::state::{State, StateFile};
use crate::task::{self, Strictness, TaskSnapshot};

/// The line `clone`/`init` add to `info/exclude` so the sidecar never enters the patch.
pub const EXCLUDE_LINE: &str = "/submission.json";

/// Validate a task record; a refused record is exit 2 (`from_server` makes it exit 5).
pub fn parse(
    record: &Value,
    strictness: Strictness,
    from_server: bool,
) -> Result<(TaskSnapshot, Vec<String>)> {
    match task::parse_record(record, strictness, &crate::timefmt::now_rfc3339()) {
        Ok(parsed) => Ok((parsed.snapshot, parsed.warnings)),
        Err(err) => {
            let message = "the task record cannot be used";
            let error = if from_server { Error::server(message) } else { Error::usage(message) };
            Err(error.with_code("bad_task_record").with_source(err))
        }
    }
}

/// Resolve the task's `base_ref`: a full commit id, a local branch, a tag, any other local
/// revision, else `origin/<base_ref>`. Never fetches. Returns the commit and a warning when a
/// local branch and `origin/<base_ref>` disagree.
pub fn resolve_base(repo: &Repo, base_ref: &str) -> Result<(String, Option<String>)> {
    let refused = || {
        Error::usage(format!("base_ref `{base_ref}` does not resolve to a commit in this clone"))
            .with_code("base_ref_unresolved")
            .with_hint(format!("fetch it first, e.g. `git fetch origin {base_ref}`"))
    };
    if base_ref.starts_with('-') || base_ref.is_empty() {
        return Err(refused());
    }
    let remote = repo.resolve_commit(&format!("refs/remotes/origin/{base_ref}"))?;
    for spec in [format!("refs/heads/{base_ref}"), format!("refs/tags/{base_ref}"), base_ref.to_string()] {
        if let Some(commit) = repo.resolve_commit(&spec)? {
            let warning = match (&remote, spec.starts_with("refs/heads/")) {
                (Some(remote), true) if *remote != commit => Some(format!(
                    "local branch `{base_ref}` ({}) differs from origin/{base_ref} ({}); using the local branch",
                    crate::repo::short_oid(&commit),
                    crate::repo::short_oid(remote)
                )),
                _ => None,
            };
            return Ok((commit, warning));
        }
    }
    remote.map(|commit| (commit, None)).ok_or_else(refused)
}

/// Write the state for `snapshot` (with `base_commit` set), keeping the claim and submission
/// history only when the task id is unchanged. `force` moves a corrupt state file aside.
pub fn write_state(
    out: &Output,
    state_file: &StateFile,
    snapshot: TaskSnapshot,
    coordinator_url: Option<String>,
    force: bool,
) -> Result<State> {
    // Under the lock, so a concurrent run cannot write a good file that we then move aside.
    let lock = state_file.lock()?;
    let previous = match lock.read() {
        Ok(previous) => previous,
        // Only a file that is there but unusable; an I/O error (permissions, …) is reported.
        Err(err) if force && matches!(err.code(), "state_corrupt" | "state_too_new") => {
            if let Some(moved) = state_file.move_aside()? {
                out.warn(format!("moved the unreadable state file aside to {}", moved.display()));
            }
            None
        }
        Err(err) => return Err(err),
    };
    let mut state = State::new(snapshot, coordinator_url);
    if let Some(previous) = previous {
        state.disclaimers_seen = previous.disclaimers_seen;
        if previous.task.id == state.task.id {
            state.claim = previous.claim;
            state.submissions = previous.submissions;
            state.bench = previous.bench;
            state.trusted_commands = previous.trusted_commands;
            state.other = previous.other;
        } else {
            out.warn(format!(
                "rebinding from task {} to {}: the previous claim and submission history are dropped",
                previous.task.slug, state.task.slug
            ));
        }
        if state.coordinator_url.is_none() {
            state.coordinator_url = previous.coordinator_url;
        }
    }
    lock.write(&state)?;
    Ok(state)
}

/// Add `/submission.json` to `<common dir>/info/exclude` unless a line already says it.
pub fn add_exclude(repo: &Repo) -> Result<()> {
    repo.add_exclude_line("the submission sidecar is never part of the patch", EXCLUDE_LINE)
}

/// Bind `repo` to the task `record`: everything `init` and `clone` do after having a clone.
pub fn bind(
    out: &Output,
    repo: &Repo,
    record: &Value,
    strictness: Strictness,
    from_server: bool,
    coordinator_url: Option<String>,
    force: bool,
) -> Result<State> {
    let (snapshot, warnings) = parse(record, strictness, from_server)?;
    for warning in warnings {
        out.warn(warning);
    }
    bind_snapshot(out, repo, snapshot, coordinator_url, force)
}

/// Bind `repo` to an already validated task: resolve its base, write the state and the
/// exclude line.
pub fn bind_snapshot(
    out: &Output,
    repo: &Repo,
    mut snapshot: TaskSnapshot,
    coordinator_url: Option<String>,
    force: bool,
) -> Result<State> {
    let (commit, warning) = resolve_base(repo, &snapshot.base_ref)?;
    if let Some(warning) = warning {
        out.warn(warning);
    }
    snapshot.base_commit = commit;
    let state = write_state(out, &StateFile::new(repo.state_path()), snapshot, coordinator_url, force)?;
    add_exclude(repo)?;
    Ok(state)
}

/// A task record from a JSON file given by the user (exit 2 when unreadable).
pub fn read_record_file(path: &std::path::Path) -> Result<Value> {
    let bytes = std::fs::read(path).or_usage(|| format!("cannot read the task file {}", path.display()))?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
        Error::usage(format!("the task file {} is not valid JSON", path.display()))
            .with_code("bad_task_record")
            .with_source(e)
    })?;
    // Accept `{"task": {…}}` (the `show --json` shape) as well as the bare record.
    match value.get("task") {
        Some(inner) if inner.is_object() && value.get("id").is_none() => Ok(inner.clone()),
        _ => Ok(value),
    }
}

/// The record of `task`: from `task_file` (offline; exit 2 when unusable) or from the
/// coordinator (slug or id, through the task listing). The bool says it came from the
/// coordinator. A file describing another task is refused.
pub fn task_record(
    ctx: &crate::ctx::Ctx,
    task: &str,
    task_file: Option<&std::path::Path>,
    state: Option<&crate::state::State>,
) -> Result<(Value, bool)> {
    let (record, from_server) = match task_file {
        Some(path) => (read_record_file(path)?, false),
        None => (ctx.coordinator(state)?.resolve_task(task)?, true),
    };
    if crate::client::find_task(std::slice::from_ref(&record), task).is_none() {
        return Err(Error::usage(format!("the task record is not task `{task}` (its slug and id differ)"))
            .with_code("task_mismatch"));
    }
    Ok((record, from_server))
}
