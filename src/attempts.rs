//! Attempts of `run` (cli.md §10.4): each gated state of the work tree is kept as a commit
//! object whose tree is exactly what would have been submitted (the base commit with the
//! submission's patch applied, built in a private index) and whose parent is the base commit,
//! under `refs/bitsota/attempts/<n>`. HEAD, branches, the index and the work tree are never
//! touched; the refs are local (a plain `git push` does not send them).

use std::collections::BTreeSet;

use serde_json::{json, Value};

use crate::check::{self, CheckOptions, Report, SidecarFacts};
use crate::error::{Error, Result};
use crate::output::{Output, Style};
use crate::patch;
use crate::repo::{split_nul, Repo};
use crate::state::{AttemptRecord, State};
use crate::task::TaskSnapshot;

pub const REF_PREFIX: &str = "refs/bitsota/attempts/";

/// Who the attempt commits are by: the agent's work, recorded by this tool (and no
/// configured identity is needed).
const IDENTITY_NAME: &str = "git bitsota run";
const IDENTITY_EMAIL: &str = "git-bitsota@localhost";

/// What would be submitted from the work tree now: the check's report and the tree of the
/// base commit with the report's patch applied.
pub struct Snapshot {
    pub report: Report,
    pub tree: String,
}

/// The work tree's submission as the gate sees it: scope, size, bytecode and quoting (the
/// sidecar's own fields are not part of the gate; `submit` checks them).
pub fn snapshot(repo: &Repo, task: &TaskSnapshot, has_artifact: bool) -> Result<Snapshot> {
    let options = CheckOptions {
        allow_outside: false,
        sidecar: Some(SidecarFacts { has_artifact, problems: Vec::new() }),
    };
    let report = check::check_worktree(repo, task, &options)?;
    let tree = patch::tree_with_patch(repo, &task.base_commit, &report.built.patch)?;
    Ok(Snapshot { report, tree })
}

pub fn ref_name(n: u64) -> String {
    format!("{REF_PREFIX}{n}")
}

/// Attempt refs that exist: (n, commit, tree).
pub fn existing(repo: &Repo) -> Result<Vec<(u64, String, String)>> {
    let listed = repo
        .git()
        .args(["for-each-ref", "--format=%(refname) %(objectname) %(tree)", REF_PREFIX])
        .output()?;
    let mut found = Vec::new();
    for line in String::from_utf8_lossy(&listed).lines() {
        let mut parts = line.split(' ');
        let (Some(name), Some(commit), Some(tree)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        if let Some(n) = name.strip_prefix(REF_PREFIX).and_then(|n| n.parse::<u64>().ok()) {
            found.push((n, commit.to_string(), tree.to_string()));
        }
    }
    found.sort();
    Ok(found)
}

/// The first number after every attempt recorded in the state or kept as a ref.
pub fn next_number(repo: &Repo, state: &State) -> Result<u64> {
    let in_refs = existing(repo)?.iter().map(|(n, _, _)| *n).max().unwrap_or(0);
    let in_state = state.attempts.iter().map(|a| a.n).max().unwrap_or(0);
    Ok(in_refs.max(in_state) + 1)
}

/// Write the attempt commit (`tree`, parent `base_commit`) and create its ref at the first
/// free number from `first`. Returns the number and the commit id. A number taken meanwhile
/// (another run) is skipped, never overwritten.
pub fn store(repo: &Repo, base_commit: &str, tree: &str, first: u64, message: &str) -> Result<(u64, String)> {
    let commit = repo
        .git()
        .env("GIT_AUTHOR_NAME", IDENTITY_NAME)
        .env("GIT_AUTHOR_EMAIL", IDENTITY_EMAIL)
        .env("GIT_COMMITTER_NAME", IDENTITY_NAME)
        .env("GIT_COMMITTER_EMAIL", IDENTITY_EMAIL)
        .args(["commit-tree", tree, "-p", base_commit, "-F", "-"])
        .stdin(message.as_bytes().to_vec())
        .output()?;
    let commit = String::from_utf8_lossy(&commit).trim().to_string();
    for n in first..first + 1000 {
        let name = ref_name(n);
        // The empty old value makes git refuse when the ref exists already.
        let (code, _, _) = repo
            .git()
            .args(["update-ref", "-m", "git bitsota run: attempt", &name, &commit, ""])
            .output_any()?;
        if code == Some(0) {
            return Ok((n, commit));
        }
        if repo.resolve_commit(&name)?.is_none() {
            return Err(Error::usage(format!("cannot create the ref {name}")).with_code("attempt_ref"));
        }
    }
    Err(Error::usage("no free attempt number").with_code("attempt_ref"))
}

/// The commit of attempt `n`, or exit 2 naming the attempts there are.
pub fn commit_of(repo: &Repo, n: u64) -> Result<String> {
    match repo.resolve_commit(&ref_name(n))? {
        Some(commit) => Ok(commit),
        None => {
            let have: Vec<String> = existing(repo)?.iter().map(|(n, _, _)| n.to_string()).collect();
            let listed = if have.is_empty() { "there are none".to_string() } else { have.join(", ") };
            Err(Error::usage(format!("there is no attempt {n} ({}{n}); attempts: {listed}", REF_PREFIX))
                .with_code("no_such_attempt")
                .with_hint("list them with `git bitsota attempts`"))
        }
    }
}

/// The base commit an attempt was made on (its parent).
pub fn base_of(repo: &Repo, commit: &str) -> Result<String> {
    repo.resolve_commit(&format!("{commit}^1"))?.ok_or_else(|| {
        Error::usage(format!("attempt commit {commit} has no parent")).with_code("attempt_ref")
    })
}

/// The patch of an attempt: `base → attempt` with the patch engine's pinned options, the
/// bytes `diff` printed when the attempt was made.
pub fn patch_of(repo: &Repo, task: &TaskSnapshot, commit: &str) -> Result<patch::ChangesAndPatch> {
    let base = base_of(repo, commit)?;
    patch::from_commit(repo, &base, commit, &task.patterns())
}

/// What `restore` did.
pub struct Restored {
    /// Paths written or deleted, as git names them.
    pub paths: Vec<String>,
    /// The attempt was made on another base commit than the one bound now.
    pub other_base: bool,
}

/// Write attempt `n`'s files into the work tree: every path the attempt changes, and every
/// path the work tree's current submission changes, is made as the attempt has it. Refused
/// when the current submission is not the base, not an attempt, and has uncommitted changes
/// on those paths, unless `force`.
pub fn restore(repo: &Repo, task: &TaskSnapshot, n: u64, force: bool) -> Result<Restored> {
    let commit = commit_of(repo, n)?;
    let base = base_of(repo, &commit)?;
    let attempt = patch::from_commit(repo, &base, &commit, &task.patterns())?;
    let current = snapshot(repo, task, false)?;
    let mut paths: BTreeSet<Vec<u8>> = BTreeSet::new();
    for file in attempt.files.iter().chain(current.report.built.files.iter().filter(|f| f.allowed())) {
        paths.insert(file.path.clone());
        if let Some(from) = &file.from {
            paths.insert(from.clone());
        }
    }
    let paths: Vec<Vec<u8>> = paths.into_iter().collect();
    if !force {
        let base_tree = repo.commit_tree(&task.base_commit)?.to_string();
        let known =
            current.tree == base_tree || existing(repo)?.iter().any(|(_, _, tree)| *tree == current.tree);
        if !known {
            let dirty = uncommitted(repo, &paths)?;
            if !dirty.is_empty() {
                return Err(Error::usage(format!(
                    "the work tree has uncommitted changes that are no attempt's: {}",
                    dirty.join(", ")
                ))
                .with_code("uncommitted_changes")
                .with_hint(format!(
                    "commit or stash them first, or run `git bitsota attempts restore {n} --force` to overwrite them"
                )));
            }
        }
    }
    let tree = repo.commit_tree(&commit)?.to_string();
    patch::write_paths_from_tree(repo, &tree, &paths)?;
    Ok(Restored {
        paths: paths.iter().map(|p| String::from_utf8_lossy(p).into_owned()).collect(),
        other_base: base != task.base_commit,
    })
}

/// Those of `paths` that differ from HEAD in the index or the work tree (untracked included).
fn uncommitted(repo: &Repo, paths: &[Vec<u8>]) -> Result<Vec<String>> {
    if paths.is_empty() {
        return Ok(Vec::new());
    }
    let mut git = repo.git().env("GIT_OPTIONAL_LOCKS", "0").args([
        "-c",
        "core.quotePath=false",
        "status",
        "--porcelain",
        "-z",
        "--untracked-files=all",
        "--no-renames",
        "--",
    ]);
    for path in paths {
        let mut spec = b":(literal)".to_vec();
        spec.extend_from_slice(path);
        git = git.arg(std::ffi::OsStr::new(&String::from_utf8_lossy(&spec).into_owned()));
    }
    let listed = git.output()?;
    // Records: `XY path`.
    Ok(split_nul(&listed)
        .filter_map(|r| r.get(3..))
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect())
}

/// One attempt as `attempts --json` and `run --json` show it.
pub fn to_json(record: &AttemptRecord) -> Value {
    json!({
        "n": record.n,
        "ref": record.refname,
        "commit": record.commit,
        "created_at": record.created_at,
        "status": record.status,
        "metric": record.metric,
        "patch_bytes": record.patch_bytes,
        "check_ok": record.check_ok,
        "problems": record.problems,
        "summary": record.summary,
    })
}

/// Whether an attempt passed the gate: the check and the benchmark both ok, with a metric.
pub fn passed(record: &AttemptRecord) -> bool {
    record.check_ok && record.status == "ok" && record.metric.is_some_and(f64::is_finite)
}

/// The best of `records` that passed the gate, in the task's direction (the earliest on a tie).
pub fn best<'a>(
    task: &TaskSnapshot,
    records: impl IntoIterator<Item = &'a AttemptRecord>,
) -> Option<&'a AttemptRecord> {
    let better = |a: f64, b: f64| if task.maximize() { a > b } else { a < b };
    records.into_iter().filter(|r| passed(r)).fold(None, |best, r| match (best, r.metric) {
        (Some(b), Some(value)) if !b.metric.is_some_and(|current| better(value, current)) => Some(b),
        _ => Some(r),
    })
}

/// The attempts table: n, time, status, metric, patch bytes, check, summary.
pub fn print_table<'a>(
    out: &Output,
    metric_name: &str,
    records: impl IntoIterator<Item = &'a AttemptRecord>,
) -> Result<()> {
    out.line(format!(
        "{:>4}  {:<20}  {:<12}  {:>14}  {:>9}  {:<5}  summary",
        "n",
        "time",
        "status",
        metric_name.chars().take(14).collect::<String>(),
        "bytes",
        "check"
    ))?;
    for a in records {
        let status = if passed(a) {
            out.paint(Style::Green, &format!("{:<12}", a.status))
        } else {
            out.paint(Style::Red, &format!("{:<12}", a.status))
        };
        let metric = a.metric.map(|v| v.to_string()).unwrap_or_else(|| "-".into());
        let summary = a
            .summary
            .as_deref()
            .map(|s| crate::served_values::shorten(&crate::served_values::one_line(s), 60));
        out.line(format!(
            "{:>4}  {:<20}  {status}  {:>14}  {:>9}  {:<5}  {}",
            a.n,
            a.created_at,
            metric,
            a.patch_bytes,
            if a.check_ok { "ok" } else { "fail" },
            summary.unwrap_or_else(|| "-".into())
        ))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(n: u64, status: &str, metric: Option<f64>, check_ok: bool) -> AttemptRecord {
        AttemptRecord {
            n,
            refname: ref_name(n),
            commit: String::new(),
            created_at: String::new(),
            status: status.into(),
            metric,
            patch_bytes: 0,
            patch_sha256: String::new(),
            check_ok,
            problems: Vec::new(),
            summary: None,
            tree: String::new(),
            base_commit: String::new(),
            cycle: n,
            agent: String::new(),
            agent_exit: None,
            agent_timed_out: false,
            agent_log: String::new(),
            bench_log: None,
            message: None,
            other: toml::Table::new(),
        }
    }

    fn task(direction: &str) -> TaskSnapshot {
        let mut task: TaskSnapshot = toml::from_str(
            r#"id = "t"
slug = "t"
repository = "/r"
base_ref = "main"
base_commit = "0"
metric_name = "m"
metric_direction = "maximize"
competition_mode = "standard"
allowed_patch_paths = []
max_patch_bytes = 1
benchmark_command = "true"
time_budget_seconds = 1
fetched_at = """#,
        )
        .unwrap();
        task.metric_direction = direction.to_string().into();
        task
    }

    #[test]
    fn best_passed_the_gate_wins_in_the_tasks_direction_earliest_on_a_tie() {
        let records = [
            record(1, "ok", Some(2.0), true),
            record(2, "ok", Some(5.0), true),
            record(3, "ok", Some(5.0), true),
            record(4, "error", None, true),
            record(5, "ok", Some(9.0), false),
            record(6, "ok", Some(f64::NAN), true),
            record(7, "rejected", Some(0.5), true),
        ];
        assert_eq!(best(&task("maximize"), &records).map(|r| r.n), Some(2));
        assert_eq!(best(&task("minimize"), &records).map(|r| r.n), Some(1));
        assert_eq!(best(&task("maximize"), &records[3..5]).map(|r| r.n), None);
    }
}
