//! Files the last `bench` run wrote into the work tree: when `check` refuses them as out of
//! scope, its hint says they are most likely benchmark outputs and how to keep them out.

use crate::check::Report;
use crate::repo::Repo;
use crate::state::State;

/// Changes refused as out of scope that the last `bench` run wrote (modified within the run's
/// time): most likely benchmark outputs, so the hint says how to keep them out.
pub fn name_in_hint(repo: &Repo, state: &State, report: &mut Report) {
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
