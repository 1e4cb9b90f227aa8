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

/// Where a task record came from: a refused record is the coordinator's fault (exit 5) or
/// the user's file's (exit 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordSource {
    Coordinator,
    File,
}

/// Validate a task record into the snapshot the state keeps, with its warnings.
pub fn validate_record(
    record: &Value,
    strictness: Strictness,
    source: RecordSource,
) -> Result<(TaskSnapshot, Vec<String>)> {
    match task::parse_record(record, strictness, &crate::timefmt::now_rfc3339()) {
        Ok(parsed) => Ok((parsed.snapshot, parsed.warnings)),
        Err(err) => {
            let message = "the task record cannot be used";
            let error = match source {
                RecordSource::Coordinator => Error::server(message),
                RecordSource::File => Error::usage(message),
            };
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
    let state = match previous {
        // The same task: everything recorded stays (claim, submissions, bench runs, requests
        // in flight, reviews, attempts, keys of newer versions); only the snapshot is new.
        Some(mut previous) if previous.task.id == snapshot.id => {
            previous.task = snapshot;
            if coordinator_url.is_some() {
                previous.coordinator_url = coordinator_url;
            }
            previous
        }
        Some(previous) => {
            out.warn(format!(
                "rebinding from task {} to {}: the previous claim and submission history are dropped",
                previous.task.slug, snapshot.slug
            ));
            let mut state = State::new(snapshot, coordinator_url.or(previous.coordinator_url));
            state.disclaimers_seen = previous.disclaimers_seen;
            state
        }
        None => State::new(snapshot, coordinator_url),
    };
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
    source: RecordSource,
    coordinator_url: Option<String>,
    force: bool,
) -> Result<State> {
    let (snapshot, warnings) = validate_record(record, strictness, source)?;
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
    exclude_result_path(repo, &state.task)?;
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
/// coordinator (slug or id, through the task listing), with where it came from. A file
/// describing another task is refused.
pub fn task_record(
    ctx: &crate::ctx::Ctx,
    task: &str,
    task_file: Option<&std::path::Path>,
    state: Option<&crate::state::State>,
) -> Result<(Value, RecordSource)> {
    let (record, source) = match task_file {
        Some(path) => (read_record_file(path)?, RecordSource::File),
        None => (ctx.coordinator(state)?.resolve_task(task)?, RecordSource::Coordinator),
    };
    if crate::client::find_task(std::slice::from_ref(&record), task).is_none() {
        return Err(Error::usage(format!("the task record is not task `{task}` (its slug and id differ)"))
            .with_code("task_mismatch"));
    }
    Ok((record, source))
}

/// The benchmark writes its `result_path` file into the work tree; unless the task tracks it or
/// allows it, it is not part of any submission, so keep it out of `check` like the sidecar.
pub fn exclude_result_path(repo: &Repo, task: &TaskSnapshot) -> Result<()> {
    let Some(path) = task.result_path.as_deref().map(|p| p.trim().trim_start_matches("./")) else {
        return Ok(());
    };
    let Some(line) = exclude_pattern(path) else {
        return Ok(());
    };
    if crate::validator::is_allowed(path, &task.patterns()) {
        return Ok(());
    }
    let tracked =
        repo.git().args(["cat-file", "-e"]).arg(format!("{}:{path}", task.base_commit)).output_any()?;
    if tracked.0 == Some(0) {
        return Ok(());
    }
    repo.add_exclude_line("the benchmark's result file (the task's result_path) is not submitted", &line)
}

/// `/<path>` as an anchored, literal `info/exclude` pattern; `None` for a path that is not a
/// plain repository-relative file path.
fn exclude_pattern(path: &str) -> Option<String> {
    let plain = !path.is_empty()
        && !path.starts_with('/')
        && !path.ends_with('/')
        && !path.chars().any(char::is_control)
        && path.split('/').all(|part| !part.is_empty() && part != "." && part != ".." && part != ".git");
    if !plain {
        return None;
    }
    let mut line = String::from("/");
    for c in path.chars() {
        if matches!(c, '\\' | '*' | '?' | '[' | ']') {
            line.push('\\');
        }
        line.push(c);
    }
    // A trailing space would be trimmed by git unless escaped.
    if line.ends_with(' ') {
        line.insert(line.len() - 1, '\\');
    }
    Some(line)
}
#[cfg(test)]
mod tests {
    use super::exclude_pattern;

    #[test]
    fn result_paths_become_literal_anchored_patterns() {
        assert_eq!(exclude_pattern("packs/x/last_run.json").as_deref(), Some("/packs/x/last_run.json"));
        assert_eq!(exclude_pattern("odd[1]*?.json").as_deref(), Some("/odd\\[1\\]\\*\\?.json"));
        assert_eq!(exclude_pattern("#x !y ").as_deref(), Some("/#x !y\\ "));
        for bad in ["", "/abs", "../up", "a/../b", ".git/config", "dir/", "a\nb"] {
            assert_eq!(exclude_pattern(bad), None, "{bad:?}");
        }
    }
}
