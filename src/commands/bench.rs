//! `git bitsota bench`: run the task's setup and benchmark the way validators replay a
//! submission (protocol.md §6.3, §7.5, §10.3), find the metric with their rules, keep the result
//! in the state file, and optionally write it into the submission sidecar.
//!
//! Exit status: 0 when the candidate run is `ok` (what a validator would accept), 1 when it is
//! `rejected`, `error` or `timeout` (the result is still printed), 2 for usage problems
//! (not bound, no consent to run the task's commands, interrupted).

use std::fs;
use std::path::Path;

use serde_json::{json, Number, Value};

use crate::bench_results::{
    claimed_metrics, file_stamp, improvement, improvement_text, remembered_baseline, run_baseline,
    save_records,
};
use crate::cli::BenchArgs;
use crate::consent::ensure_consent;
use crate::ctx::Ctx;
use crate::error::{Error, Result, ResultExt};
use crate::measure::{measure, Measurement, RunSettings, Status};
use crate::output::{Output, Style};
use crate::repo::Repo;
use crate::runner::SignalGuard;
use crate::sidecar;
use crate::task::TaskSnapshot;
use crate::timefmt::duration;

pub fn run(ctx: &Ctx, args: &BenchArgs) -> Result<()> {
    let out = &ctx.out;
    let repo = ctx.repo()?;
    let state_file = ctx.state_file(&repo);
    let state = state_file.read_bound()?;
    let task = state.task.clone();

    // Settle the sidecar before a run that may take hours: a bad path or file fails now.
    let sidecar_path = if args.record {
        let path = sidecar::resolve_path(&repo, args.submission_file.as_deref())?;
        sidecar::load(&path)?;
        Some(path)
    } else {
        None
    };

    // The artifact source is checked before asking anything; its bytes are fetched after.
    let artifact_source = args.artifact.as_deref().map(crate::artifact::Source::parse).transpose()?;
    let artifact_sidecar = {
        let path = sidecar::resolve_path(&repo, args.submission_file.as_deref())?;
        sidecar::load(&path).ok().flatten()
    };

    ensure_consent(out, &state_file, &state, args.yes)?;

    let artifact =
        crate::artifact::ready(repo.common_dir(), artifact_source.as_ref(), artifact_sidecar.as_ref(), out)?;
    let requires_artifact = crate::artifact::task_requires_artifact(&task);
    match &artifact {
        Some(ready) if ready.how == "cached" => out.info(format!(
            "using the sidecar's artifact from the cache ({}, {} bytes)",
            ready.uri, ready.size_bytes
        )),
        Some(_) => {}
        None if requires_artifact => {
            out.warn("this task scores a submission artifact and none is given: pass --artifact FILE|URI")
        }
        None => {}
    }

    let log_dir = repo.git_dir().join("bitsota");
    fs::create_dir_all(&log_dir).or_usage(|| format!("cannot create {}", log_dir.display()))?;
    let stamp = file_stamp();
    let settings = RunSettings {
        task: &task,
        inherit_env: args.inherit_env,
        setup: !args.no_setup,
        artifact_env: Vec::new(),
        exact: false,
    };
    let _signals = SignalGuard::install();

    let baseline = if args.baseline && requires_artifact {
        out.warn("cannot run the baseline: this task requires an artifact, and the base commit has none");
        None
    } else if args.baseline {
        Some(run_baseline(out, &repo, &settings, &log_dir.join(format!("bench-{stamp}-baseline.log")))?)
    } else {
        None
    };
    if baseline.is_some() {
        out.info("");
    }
    // What is measured is the tree before the run: files the benchmark writes do not count.
    let commit = repo.resolve_commit("HEAD")?.unwrap_or_default();
    let (dirty, mut candidate) = if args.replay {
        // A replay does not run in the work tree: its status walk overlaps the replay.
        let log = log_dir.join(format!("bench-{stamp}-replay.log"));
        let (dirty, candidate) = std::thread::scope(|scope| {
            let dirty = scope.spawn(|| crate::patch::work_tree_dirty(&repo));
            let candidate = replay_own(out, &repo, &task, artifact.as_ref(), &log);
            (dirty.join().ok().flatten(), candidate)
        });
        (dirty, candidate?)
    } else {
        let dirty = crate::patch::work_tree_dirty(&repo);
        let placed = match &artifact {
            Some(ready) => Some(place_artifact(out, &repo, ready)?),
            None => None,
        };
        let candidate_settings = RunSettings {
            artifact_env: placed.as_ref().map(|p| p.env().to_vec()).unwrap_or_default(),
            ..settings
        };
        let candidate = measure(
            out,
            &candidate_settings,
            repo.work_tree(),
            "candidate",
            &log_dir.join(format!("bench-{stamp}.log")),
        );
        // Removed after the run whatever happened (an error or Ctrl-C included).
        drop(placed);
        (dirty, candidate?)
    };
    candidate.commit = commit;
    candidate.dirty = dirty;

    let at = crate::timefmt::now_rfc3339();
    save_records(&state_file, &task, baseline.as_ref(), &candidate, &at)?;

    // A baseline from this run, else the latest good one recorded for the same base commit.
    let baseline_value = match &baseline {
        Some(b) => b.value.as_ref().map(|f| f.value),
        None => remembered_baseline(&state, &task),
    };

    let mut recorded = None;
    if let Some(path) = &sidecar_path {
        if candidate.status == Status::Ok {
            let fields = sidecar::BenchRecordFields {
                claimed_metrics: claimed_metrics(&task, &candidate),
                execution_log: execution_log(&task, baseline.as_ref(), baseline_value, &candidate, &at),
            };
            let created = sidecar::record_bench(path, fields)?;
            out.info(format!("wrote claimed_metrics and execution_log to {}", path.display()));
            if created {
                out.hint(format!(
                    "edit `summary` in {} before submitting: the placeholder is refused",
                    path.display()
                ));
            }
            recorded = Some(path.clone());
        } else {
            out.warn(format!(
                "nothing recorded in {}: the benchmark did not produce a metric validators would accept",
                path.display()
            ));
        }
    }

    let used = artifact.as_ref();
    report(out, &task, baseline.as_ref(), baseline_value, &candidate, recorded.as_deref(), used)?;
    if candidate.status == Status::Ok {
        Ok(())
    } else {
        Err(Error::problems(format!("bench finished with status {}", candidate.status.as_str()))
            .already_reported())
    }
}

// ---------------------------------------------------------------------------------------------
/// The kind of a measurement made by `bench --replay`.
const REPLAY_KIND: &str = "replay";

/// `bench --replay`: this clone's own submission (the `git bitsota diff` bytes) through the
/// replay engine, as a measurement of kind `replay`.
fn replay_own(
    out: &Output,
    repo: &Repo,
    task: &TaskSnapshot,
    artifact: Option<&crate::artifact::Ready>,
    log: &Path,
) -> Result<Measurement> {
    let report = crate::check::submittable(repo, task, false)?;
    let input = crate::replay::Input {
        repo,
        task,
        patch: &report.built.patch,
        base: &task.base_commit,
        log_path: log.to_path_buf(),
        artifact,
        artifact_problem: None,
    };
    let outcome = crate::replay::replay(out, &input)?;
    Ok(outcome.into_measurement(REPLAY_KIND))
}

/// Put the artifact where validators put it, kept out of every patch by `info/exclude`.
fn place_artifact(
    out: &Output,
    repo: &Repo,
    ready: &crate::artifact::Ready,
) -> Result<crate::artifact::place::Placed> {
    use crate::artifact::place;
    let placed = place::place_in_work_tree(repo, ready)?;
    out.info(format!(
        "==> artifact: {} ({} bytes, {}) at {}/{} ({})",
        ready.uri,
        ready.size_bytes,
        ready.how,
        place::DIR_NAME,
        place::FILE_NAME,
        if placed.linked() { "hard link" } else { "copy" }
    ));
    Ok(placed)
}

// ---------------------------------------------------------------------------------------------
// State, sidecar and output

fn execution_log(
    task: &TaskSnapshot,
    baseline: Option<&Measurement>,
    baseline_value: Option<f64>,
    candidate: &Measurement,
    at: &str,
) -> String {
    let mut lines = vec![format!(
        "git bitsota bench {at}: task {} (metric {}, {}), validator environment, time budget {} s",
        task.slug, task.metric_name, task.metric_direction, task.time_budget_seconds
    )];
    if candidate.kind == REPLAY_KIND {
        lines.push(format!(
            "replayed as a validator: the exact patch applied with `git apply -` to a clean checkout of base commit {}",
            crate::repo::short_oid(&task.base_commit)
        ));
    }
    for step in &candidate.steps {
        lines.push(format!("{}: {} ({})", step.name, step.command, step.outcome()));
    }
    let commit = if candidate.commit.is_empty() {
        "unknown".to_string()
    } else {
        crate::repo::short_oid(&candidate.commit).to_string()
    };
    let changes = if candidate.dirty == Some(true) { " + working-tree changes" } else { "" };
    let value = candidate.value.as_ref().map(|f| fmt_num(f.value)).unwrap_or_else(|| "none".into());
    lines.push(format!("candidate (commit {commit}{changes}): {} = {value}", task.metric_name));
    match (baseline, baseline_value) {
        (Some(b), Some(v)) => lines.push(format!(
            "baseline (base commit {}, {}): {} = {}",
            crate::repo::short_oid(&task.base_commit),
            duration(b.seconds),
            task.metric_name,
            fmt_num(v)
        )),
        (Some(b), None) => lines.push(format!(
            "baseline (base commit {}): {}",
            crate::repo::short_oid(&task.base_commit),
            b.status.as_str()
        )),
        (None, Some(v)) => lines.push(format!(
            "baseline (base commit {}, earlier run): {} = {}",
            crate::repo::short_oid(&task.base_commit),
            task.metric_name,
            fmt_num(v)
        )),
        (None, None) => {}
    }
    if let (Some(b), Some(c)) = (baseline_value, candidate.value.as_ref().map(|f| f.value)) {
        lines.push(format!("improvement: {}", improvement_text(task, b, c)));
    }
    lines.join("\n")
}

fn report(
    out: &Output,
    task: &TaskSnapshot,
    baseline: Option<&Measurement>,
    baseline_value: Option<f64>,
    candidate: &Measurement,
    recorded: Option<&Path>,
    artifact: Option<&crate::artifact::Ready>,
) -> Result<()> {
    let value = candidate.value.as_ref().map(|f| f.value);
    let improvement_value = match (baseline_value, value) {
        (Some(b), Some(c)) => Some(improvement(task, b, c)),
        _ => None,
    };
    if out.is_json() {
        let num = |v: Option<f64>| v.and_then(Number::from_f64).map(Value::Number).unwrap_or(Value::Null);
        let mut doc = json!({
            "version": 1,
            "metric_name": task.metric_name,
            "metric_direction": task.metric_direction,
            "value": num(value),
            "status": candidate.status.as_str(),
            "message": candidate.message,
            "rejection": candidate.rejection,
            "exit_code": candidate.benchmark_exit(),
            "seconds": (candidate.seconds * 1000.0).round() / 1000.0,
            "commit": candidate.commit,
            "dirty": candidate.dirty,
            "baseline": num(baseline_value),
            "improvement": num(improvement_value),
            "log": candidate.log.to_string_lossy(),
            "sidecar": recorded.map(|p| p.to_string_lossy().into_owned()),
            "artifact": artifact.map(|a| json!({"uri": a.uri, "size_bytes": a.size_bytes, "source": a.how})),
        });
        if candidate.kind == REPLAY_KIND {
            doc["replay"] = json!(true);
        }
        if let Some(b) = baseline {
            doc["baseline_status"] = json!(b.status.as_str());
            doc["baseline_log"] = json!(b.log.to_string_lossy());
        }
        return out.json(&doc);
    }
    if let Some(b) = baseline {
        out.line(measurement_line(out, task, b, "baseline "))?;
    }
    let label = if candidate.kind == REPLAY_KIND { "replay   " } else { "candidate" };
    out.line(measurement_line(out, task, candidate, label))?;
    if baseline.is_none() {
        if let Some(b) = baseline_value {
            out.line(format!(
                "baseline  {} = {} (earlier run at the base commit)",
                task.metric_name,
                fmt_num(b)
            ))?;
        }
    }
    if let (Some(b), Some(c)) = (baseline_value, value) {
        let text = improvement_text(task, b, c);
        let style = if improvement(task, b, c) > 0.0 { Style::Green } else { Style::Yellow };
        out.line(format!("improvement {}", out.paint(style, &text)))?;
    }
    if let Some(b) = baseline {
        out.line(format!("log (baseline)  {}", b.log.display()))?;
    }
    out.line(format!("log             {}", candidate.log.display()))?;
    Ok(())
}

fn measurement_line(out: &Output, task: &TaskSnapshot, m: &Measurement, label: &str) -> String {
    let status = match m.status {
        Status::Ok => out.paint(Style::Green, "ok"),
        other => out.paint(Style::Red, other.as_str()),
    };
    let mut text = match &m.value {
        Some(found) => format!(
            "{label} {} = {} ({status}, {})",
            task.metric_name,
            fmt_num(found.value),
            duration(m.seconds)
        ),
        None => format!("{label} {}: no metric ({status}, {})", task.metric_name, duration(m.seconds)),
    };
    if let Some((name, found)) = &m.secondary {
        text.push_str(&format!("; {name} = {}", fmt_num(found.value)));
    }
    if let Some(reason) = &m.rejection {
        text.push_str(&format!("\n  rejected by the benchmark: validator_rejection={reason}"));
    }
    if let Some(message) = &m.message {
        text.push_str(&format!("\n  {message}"));
    }
    if let Some(v) = m.uncounted {
        text.push_str(&format!("\n  (a value {} was found, but validators do not count it)", fmt_num(v)));
    }
    text
}

// ---------------------------------------------------------------------------------------------
// Small helpers

fn fmt_num(v: f64) -> String {
    format!("{v}")
}
