//! What a benchmark run leaves behind and how runs compare: the baseline at the base commit
//! (in a scratch worktree), the records kept in the state file, the remembered baseline, the
//! metrics to claim from a run, and the improvement in the task's direction. Shared by `bench`
//! and the agent gate of `run`.

use std::path::Path;

use serde_json::{Map, Value};

use crate::consent::commands_digest;
use crate::error::{Error, Result};
use crate::measure::{measure, Measurement, RunSettings, Status};
use crate::output::Output;
use crate::repo::Repo;
use crate::sidecar;
use crate::state::{BenchRecord, State, StateFile};
use crate::task::TaskSnapshot;
use crate::worktree::TempWorktree;

/// Bench records kept in the state file.
const MAX_RECORDS: usize = 50;

/// Measure the base commit in a temporary worktree (removed afterwards).
pub(crate) fn run_baseline(
    out: &Output,
    repo: &Repo,
    settings: &RunSettings,
    log: &Path,
) -> Result<Measurement> {
    let task = settings.task;
    let base = task.base_commit.trim();
    if base.is_empty() {
        return Err(Error::usage("the state file has no base_commit to measure a baseline at")
            .with_code("no_base_commit")
            .with_hint("bind the clone again with `git bitsota init TASK`"));
    }
    if repo.resolve_commit(&format!("{base}^{{commit}}"))?.is_none() {
        return Err(Error::usage(format!("the base commit {base} is not in this clone"))
            .with_code("base_commit_missing")
            .with_hint("fetch it (`git fetch origin`) and retry"));
    }
    let worktree = TempWorktree::add(repo, base, "baseline")?;
    out.info(format!(
        "==> baseline: temporary worktree at base commit {} ({})",
        crate::repo::short_oid(base),
        worktree.dir().display()
    ));
    let mut measurement = measure(out, settings, worktree.dir(), "baseline", log)?;
    measurement.commit = base.to_string();
    measurement.dirty = Some(false);
    drop(worktree);
    Ok(measurement)
}

pub(crate) fn save_records(
    state_file: &StateFile,
    task: &TaskSnapshot,
    baseline: Option<&Measurement>,
    candidate: &Measurement,
    at: &str,
) -> Result<()> {
    let commands = commands_digest(task);
    state_file.update(|state| {
        for m in baseline.into_iter().chain(std::iter::once(candidate)) {
            state.bench.push(BenchRecord {
                kind: m.kind.to_string(),
                metric_name: task.metric_name.clone(),
                value: m.value.as_ref().map(|f| f.value).filter(|v| v.is_finite()),
                status: m.status,
                at: at.to_string(),
                source: m.commit.clone(),
                exit_code: m.benchmark_exit(),
                seconds: (m.seconds * 1000.0).round() / 1000.0,
                log: m.log.to_string_lossy().into_owned(),
                dirty: m.dirty,
                message: m.message.clone(),
                commands: Some(commands.clone()),
                other: toml::Table::new(),
            });
        }
        let excess = state.bench.len().saturating_sub(MAX_RECORDS);
        state.bench.drain(..excess);
    })
}

/// The newest ok baseline recorded for this task's base commit and metric.
pub(crate) fn remembered_baseline(state: &State, task: &TaskSnapshot) -> Option<f64> {
    let digest = commands_digest(task);
    state
        .bench
        .iter()
        .rev()
        .find(|r| {
            r.kind == "baseline"
                && r.status == Status::Ok
                && r.source == task.base_commit
                && r.metric_name == task.metric_name
                && r.commands.as_deref() == Some(digest.as_str())
        })
        .and_then(|r| r.value)
}

/// The task metric, plus the numeric metrics of the result JSON: its `metrics` object when it
/// has one, else its top-level numbers. Non-finite values cannot be sent and are left out.
pub(crate) fn claimed_metrics(task: &TaskSnapshot, m: &Measurement) -> Map<String, Value> {
    let mut metrics = Map::new();
    if let Some(Value::Object(root)) = &m.result_json {
        let source = match root.get("metrics") {
            Some(Value::Object(inner)) => inner,
            _ => root,
        };
        for (key, value) in source {
            if key == "metric_value" || key == "secondary_metric_value" {
                continue;
            }
            // What the sidecar check accepts as a metric value.
            if sidecar::is_finite_number(value) {
                metrics.insert(key.clone(), value.clone());
            }
        }
    }
    if let Some((name, found)) = &m.secondary {
        if let Some(n) = found.number.clone().filter(|_| found.value.is_finite()) {
            metrics.insert(name.clone(), Value::Number(n));
        }
    }
    if let Some(found) = &m.value {
        match found.number.clone().filter(|_| found.value.is_finite()) {
            Some(n) => {
                metrics.insert(task.metric_name.clone(), Value::Number(n));
            }
            None => {
                metrics.remove(&task.metric_name);
            }
        }
    }
    metrics
}

/// Positive when the candidate is better in the task's direction.
pub(crate) fn improvement(task: &TaskSnapshot, baseline: f64, candidate: f64) -> f64 {
    if task.maximize() {
        candidate - baseline
    } else {
        baseline - candidate
    }
}

pub(crate) fn improvement_text(task: &TaskSnapshot, baseline: f64, candidate: f64) -> String {
    let delta = improvement(task, baseline, candidate);
    let direction = if task.maximize() { "higher is better" } else { "lower is better" };
    let percent = if baseline != 0.0 && baseline.is_finite() {
        format!(" ({:+.2}%)", delta / baseline.abs() * 100.0)
    } else {
        String::new()
    };
    let verdict = if delta > 0.0 {
        "better"
    } else if delta < 0.0 {
        "worse"
    } else {
        "no change"
    };
    format!("{}{percent}, {verdict} ({direction})", fmt_delta(delta))
}

/// A timestamp for log file names, unique per process.
pub(crate) fn file_stamp() -> String {
    let now = time::OffsetDateTime::now_utc();
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    let text = now.format(&format).unwrap_or_else(|_| now.unix_timestamp().to_string());
    format!("{text}-{}", std::process::id())
}

pub(crate) fn fmt_delta(v: f64) -> String {
    let text = format!("{v:+.6}");
    let trimmed = text.trim_end_matches('0').trim_end_matches('.');
    trimmed.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delta_format() {
        assert_eq!(fmt_delta(0.5), "+0.5");
        assert_eq!(fmt_delta(-2.0), "-2");
    }
}
