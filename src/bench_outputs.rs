//! Files the last `bench` run wrote into the work tree: when `check` refuses them as out of
//! scope, its hint says they are most likely benchmark outputs and how to keep them out.
//!
//! The run's time span is its log file's: created before the setup command starts, last
//! written after the benchmark has exited (nanosecond file times, no guessed slack).

use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::check::Report;
use crate::repo::Repo;
use crate::state::State;

/// Name, in the hint of the `outside_allowed_paths` problem, the refused changes whose files
/// were modified while the last `bench` run ran.
pub fn name_in_hint(repo: &Repo, state: &State, report: &mut Report) {
    let Some(run) = state.bench.iter().rev().find(|r| r.kind == "candidate") else {
        return;
    };
    let Some((started, ended)) = run_span(Path::new(&run.log), run.seconds) else {
        return;
    };
    let Some(problem) = report.problems.iter_mut().find(|p| p.code == "outside_allowed_paths") else {
        return;
    };
    let written: Vec<String> = problem
        .paths
        .iter()
        .filter(|p| !p.contains(" -> "))
        .filter(|p| {
            let modified = std::fs::symlink_metadata(repo.work_tree().join(p)).and_then(|m| m.modified());
            modified.is_ok_and(|m| m >= started && m <= ended)
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

/// From the log's birth time (else its last write minus the run's duration) to its last write.
fn run_span(log: &Path, seconds: f64) -> Option<(SystemTime, SystemTime)> {
    let meta = std::fs::metadata(log).ok()?;
    let ended = meta.modified().ok()?;
    let started = match meta.created() {
        Ok(created) => created,
        Err(_) => ended.checked_sub(Duration::from_secs_f64(seconds.max(0.0)))?,
    };
    Some((started, ended))
}
