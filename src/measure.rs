//! One benchmark run as a validator makes it: the task's setup then its benchmark, in the
//! validator environment, under one time budget, then the validator's verdict and metric
//! (protocol.md §6.3, §7.5). Used by `bench` (candidate and baseline) and by replays.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

use serde_json::Value;

use crate::error::Result;
use crate::metric::{
    combined_output, metric_from_output, metric_from_result, read_result_json, rejection_reason,
    secondary_metric, MetricReading, REJECTION_MARKER,
};
use crate::output::live::Tee;
use crate::output::{escape, Output, Shown};
use crate::runner::{run_command, LogFile, Step, TaskEnv};
use crate::task::TaskSnapshot;

/// The validator's verdict on one run, plus `timeout` (which validators report as an error).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Rejected,
    Error,
    Timeout,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Rejected => "rejected",
            Status::Error => "error",
            Status::Timeout => "timeout",
        }
    }
}

/// The outcome of one setup+benchmark run.
#[derive(Debug, Clone)]
pub(crate) struct Measurement {
    pub(crate) kind: &'static str,
    pub(crate) commit: String,
    pub(crate) dirty: Option<bool>,
    pub(crate) status: Status,
    /// The metric, only when the run is `ok` (validators discard it otherwise).
    pub(crate) value: Option<MetricReading>,
    /// A metric found in a run that still failed (shown, never counted).
    pub(crate) uncounted: Option<f64>,
    pub(crate) secondary: Option<(String, MetricReading)>,
    /// The result JSON, when the task has a result_path and it parsed.
    pub(crate) result_json: Option<Value>,
    pub(crate) message: Option<String>,
    pub(crate) rejection: Option<String>,
    pub(crate) steps: Vec<Step>,
    pub(crate) seconds: f64,
    pub(crate) log: PathBuf,
}

impl Measurement {
    pub(crate) fn benchmark_exit(&self) -> Option<i64> {
        self.steps.iter().rev().find(|s| s.name == "benchmark").and_then(|s| s.exit_code).map(i64::from)
    }
}
/// What one run needs to know besides where it runs.
pub(crate) struct RunSettings<'a> {
    pub(crate) task: &'a TaskSnapshot,
    pub(crate) inherit_env: bool,
    pub(crate) setup: bool,
    /// Set last, over the task's variables: the placed artifact's variables, as validators set
    /// them (see `artifact::place`).
    pub(crate) artifact_env: Vec<(String, String)>,
    /// A replay of exact bytes: nothing from the miner's environment, not even the artifact
    /// variables a local `bench` passes through.
    pub(crate) exact: bool,
}
/// Setup then benchmark in `dir` under one deadline, then the validator's verdict.
pub(crate) fn measure(
    out: &Output,
    settings: &RunSettings,
    dir: &Path,
    kind: &'static str,
    log_path: &Path,
) -> Result<Measurement> {
    let log = LogFile::create(log_path, out)?;
    measure_from(out, settings, dir, kind, log_path, log, Instant::now())
}

/// As [`measure`], into an open log, with the time budget counted from `started`: a replay's
/// one deadline also covers the checkout and `git apply` before the commands.
pub(crate) fn measure_from(
    out: &Output,
    settings: &RunSettings,
    dir: &Path,
    kind: &'static str,
    log_path: &Path,
    mut log: LogFile,
    started: Instant,
) -> Result<Measurement> {
    let task = settings.task;
    let budget = task.time_budget();
    let deadline = started + budget;
    log.line(&format!("# git bitsota bench ({kind}), {}", crate::timefmt::now_rfc3339()));
    log.line(&format!("# task: {} (metric {}, {})", task.slug, task.metric_name, task.metric_direction));
    log.line(&format!("# directory: {}", dir.display()));
    log.line(&format!("# time budget: {} s for setup and benchmark together", budget.as_secs()));

    let mut m = Measurement {
        kind,
        commit: String::new(),
        dirty: None,
        status: Status::Error,
        value: None,
        uncounted: None,
        secondary: None,
        result_json: None,
        message: None,
        rejection: None,
        steps: Vec::new(),
        seconds: 0.0,
        log: log_path.to_path_buf(),
    };
    let mut tee = Tee::new(out, kind, started, budget);
    let mut task_vars = task.benchmark_env();
    task_vars.extend(settings.artifact_env.iter().cloned());
    let env = TaskEnv { inherit: settings.inherit_env, miner_artifact_vars: !settings.exact, task_vars };

    if settings.setup {
        if let Some(setup) = task.setup_command.as_deref().filter(|c| !c.trim().is_empty()) {
            out.info(format!("==> {kind} setup: {}", escape(setup, Shown::Command)));
            let run = run_command(&env, dir, setup, "setup", deadline, &mut log, &mut tee)?;
            let step = run.step;
            m.steps.push(step.clone());
            if step.timed_out {
                m.status = Status::Timeout;
                m.message = Some(format!("setup exceeded the time budget of {} s", budget.as_secs()));
            } else if step.exit_code != Some(0) {
                m.status = Status::Error;
                m.message = Some(format!("setup failed ({}); the benchmark was not run", step.outcome()));
            }
            if m.message.is_some() {
                return Ok(conclude(m, started, &mut log));
            }
        }
    }

    let result_before = task.result_path.as_deref().map(|p| file_stamp_of(&dir.join(p)));
    out.info(format!("==> {kind} benchmark: {}", escape(&task.benchmark_command, Shown::Command)));
    let run = run_command(&env, dir, &task.benchmark_command, "benchmark", deadline, &mut log, &mut tee)?;
    m.steps.push(run.step.clone());
    if run.step.timed_out {
        m.status = Status::Timeout;
        m.message = Some(format!("benchmark exceeded the time budget of {} s", budget.as_secs()));
        return Ok(conclude(m, started, &mut log));
    }

    let combined = combined_output(&run.stdout, &run.stderr);
    // The task metric and, when the task names one, the secondary metric, from one source.
    type Extract<'a> = &'a dyn Fn(&str) -> std::result::Result<MetricReading, String>;
    let both = |extract: Extract| {
        let primary = extract(&task.metric_name);
        let secondary =
            secondary_metric(task).map(|name| extract(&name).map(|found| (name, found))).transpose();
        primary.and_then(|p| secondary.map(|s| (p, s)))
    };
    let found: std::result::Result<(MetricReading, Option<(String, MetricReading)>), String> = match &task
        .result_path
    {
        Some(result_path) => {
            let path = dir.join(result_path);
            if result_before
                .as_ref()
                .is_some_and(|before| before.is_some() && *before == file_stamp_of(&path))
            {
                // A clean replay checkout has no such file; a stale one from an earlier run must
                // not stand in for this run's result.
                Err(format!("result file not found: {result_path} (the file there is left over from an earlier run; this run did not write it)"))
            } else {
                match read_result_json(&path, result_path) {
                    Ok(root) => {
                        let found = both(&|name| metric_from_result(&root, name, result_path));
                        m.result_json = Some(root);
                        found
                    }
                    Err(why) => Err(why),
                }
            }
        }
        None => both(&|name| metric_from_output(&combined, name)),
    };

    let exit_ok = run.step.exit_code == Some(0);
    match (exit_ok, found) {
        (true, Ok((primary, secondary))) => {
            m.status = Status::Ok;
            m.value = Some(primary);
            m.secondary = secondary;
        }
        (_, found) => {
            let mut why = Vec::new();
            if !exit_ok {
                why.push(format!("the benchmark {}", run.step.outcome()));
            }
            match found {
                Ok((primary, _)) => m.uncounted = Some(primary.value),
                Err(e) => why.push(e),
            }
            if combined.contains(REJECTION_MARKER) {
                m.status = Status::Rejected;
                m.rejection = rejection_reason(&combined);
            } else {
                m.status = Status::Error;
            }
            m.message = Some(why.join("; "));
        }
    }
    Ok(conclude(m, started, &mut log))
}

fn conclude(mut m: Measurement, started: Instant, log: &mut LogFile) -> Measurement {
    m.seconds = started.elapsed().as_secs_f64();
    let value = m.value.as_ref().map(|f| f.value.to_string()).unwrap_or_else(|| "none".into());
    log.line(&format!("# status: {} (metric value {value})", m.status.as_str()));
    if let Some(message) = &m.message {
        log.line(&format!("# {message}"));
    }
    m
}

/// (length, modification time) of a file, to tell whether a run rewrote it.
fn file_stamp_of(path: &Path) -> Option<(u64, SystemTime)> {
    let meta = fs::metadata(path).ok()?;
    Some((meta.len(), meta.modified().ok()?))
}
