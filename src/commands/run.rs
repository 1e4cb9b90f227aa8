//! `git bitsota run [--cycles N] [--timeout SECS] [--submit] [--yes] -- COMMAND [ARG…]`
//! (cli.md §10.4): a coding agent works in the bound clone, and after each cycle the gate
//! validators would apply (the check, then the benchmark in the validator environment) judges
//! what it left; every attempt is kept as `refs/bitsota/attempts/<n>` and in the state. Only
//! with `--submit`, and only the best attempt that beats the baseline, is submitted.
//!
//! The agent runs from the work-tree root in its own process group under one deadline (the
//! shared runner: SIGTERM, a grace, SIGKILL, a subreaper for escaped children), with stdin
//! closed, the caller's environment minus every `BITSOTA_HOTKEY_*` variable, and the reference
//! client's `BITSOTA_AGENT_*` / `BITSOTA_RESEARCH_*` variables. Exit 0 when an attempt passed
//! the gate, 1 when none did.

use std::fs;
use std::path::Path;
use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::agent::{agent_env, ensure_agent_consent, run_agent, shell_words, substitute, AgentPaths};
use crate::attempts;
use crate::bench_results::{claimed_metrics, file_stamp, improvement, improvement_text, remembered_baseline};
use crate::brief::{self, BriefInputs};
use crate::canonical_json::sha256_hex;
use crate::cli::{ClaimArgs, Command, RunArgs, SubmitArgs};
use crate::consent::ensure_consent;
use crate::ctx::Ctx;
use crate::error::{Error, Result, ResultExt};
use crate::measure::{measure, Measurement, RunSettings, Status};
use crate::output::{Output, Style};
use crate::repo::Repo;
use crate::runner::{CommandRun, SignalGuard};
use crate::sidecar;
use crate::state::{AttemptRecord, State, StateFile};
use crate::task::TaskSnapshot;

/// The shortest default agent timeout (a task with a tiny time budget still gives an agent a
/// minute).
const MIN_DEFAULT_TIMEOUT: u64 = 60;
/// Other miners' ideas put in the brief (the best candidates come first).
const MAX_IDEAS: usize = 20;

/// One cycle: the agent's run and the gate's verdict.
struct Cycle {
    record: AttemptRecord,
    /// The gate's benchmark, when the check passed.
    measurement: Option<Measurement>,
}

pub fn run(ctx: &Ctx, args: &RunArgs) -> Result<()> {
    let out = &ctx.out;
    let repo = ctx.repo()?;
    let state_file = ctx.state_file(&repo);
    let state = state_file.read_bound()?;
    let task = state.task.clone();
    let base = task.base_commit.trim();
    if base.is_empty() || repo.resolve_commit(&format!("{base}^{{commit}}"))?.is_none() {
        return Err(Error::usage(format!("the base commit {base} is not in this clone"))
            .with_code("base_commit_missing")
            .with_hint(
                "fetch it (`git fetch origin`), or bind the clone again with `git bitsota init TASK`",
            ));
    }
    let sidecar_path = sidecar::resolve_path(&repo, None)?;

    ensure_agent_consent(out, repo.work_tree(), &state_file, &state, &args.command, args.yes)?;
    ensure_consent(out, &state_file, &state, args.yes)?;

    let timeout =
        Duration::from_secs(args.timeout.unwrap_or(task.time_budget_seconds.max(MIN_DEFAULT_TIMEOUT)));
    let onboard = onboard_text(ctx, &repo, &state);
    let ideas = other_ideas(ctx, &state);
    let brief_path = brief::write(
        &repo,
        &BriefInputs {
            task: &task,
            repo_dir: repo.work_tree(),
            submission_path: &sidecar_path,
            onboard: onboard.as_deref(),
            ideas: ideas.as_deref(),
            agent_timeout_seconds: timeout.as_secs(),
            cycles: args.cycles,
        },
    )?;
    out.info(format!("brief: {}", brief_path.display()));

    let log_dir = repo.git_dir().join("bitsota");
    fs::create_dir_all(&log_dir).or_usage(|| format!("cannot create {}", log_dir.display()))?;
    let paths = AgentPaths { repo_dir: repo.work_tree(), intro: &brief_path, submission: &sidecar_path };
    let argv = substitute(&args.command, &paths);
    let env = agent_env(&state, ctx.coordinator_url(Some(&state)), &paths);
    let stamp = file_stamp();
    let _signals = SignalGuard::install();

    let mut cycles: Vec<Cycle> = Vec::new();
    for cycle in 1..=args.cycles {
        out.info(format!("==> cycle {cycle} of {}: {}", args.cycles, shell_words(&argv)));
        let agent_log = log_dir.join(format!("agent-{stamp}-{cycle}.log"));
        let head = repo.resolve_commit("HEAD")?;
        let agent = run_agent(out, &repo, &argv, &env, timeout, &agent_log)?;
        out.info(format!("==> agent {}", agent.step.outcome()));
        let head_after = repo.resolve_commit("HEAD")?;
        if head_after != head {
            // Its commits are fine (the attempt is base -> work tree), but the miner should know.
            out.warn(format!(
                "the agent moved HEAD ({} -> {})",
                head.as_deref().map(crate::repo::short_oid).unwrap_or("none"),
                head_after.as_deref().map(crate::repo::short_oid).unwrap_or("none")
            ));
        }
        let done =
            gate(out, &repo, &state_file, &task, &sidecar_path, &agent, &agent_log, &log_dir, &stamp, cycle)?;
        cycle_line(out, &task, &done.record);
        cycles.push(done);
    }

    let records: Vec<&AttemptRecord> = cycles.iter().map(|c| &c.record).collect();
    let best = attempts::best(&task, records.iter().copied());
    if !out.is_json() {
        out.line("")?;
        attempts::print_table(out, &task.metric_name, records.iter().copied())?;
        match best {
            Some(b) => out.line(format!(
                "best: attempt {} ({} = {})",
                b.n,
                task.metric_name,
                b.metric.map(|v| v.to_string()).unwrap_or_default()
            ))?,
            None => out.line(out.paint(Style::Red, "no attempt passed the gate"))?,
        }
    }

    let mut submission = None;
    let mut submit_error = None;
    let best_cycle = best.and_then(|b| cycles.iter().find(|c| c.record.n == b.n));
    if let (true, Some(cycle)) = (args.submit, best_cycle) {
        match submit_best(ctx, &repo, &state_file, &task, &sidecar_path, cycle, &log_dir, &stamp) {
            Ok(sent) => submission = sent,
            Err(err) => submit_error = Some(err),
        }
    } else if args.submit {
        out.warn("nothing submitted: no attempt passed the gate");
    } else if let Some(best) = best {
        out.hint(format!(
            "attempt {} is kept as {}; `git bitsota attempts restore {}` puts its files back, then `git bitsota submit`",
            best.n, best.refname, best.n
        ));
    }

    if out.is_json() {
        let listed: Vec<Value> = records.iter().map(|r| attempts::to_json(r)).collect();
        let mut doc = json!({
            "version": 1,
            "attempts": listed,
            "best": best.map(|b| b.n),
            "submission": submission,
        });
        if let Some(err) = &submit_error {
            doc["submit_error"] = json!({"code": err.code(), "message": err.message()});
        }
        out.json(&doc)?;
    }
    if let Some(err) = submit_error {
        if !out.is_json() {
            return Err(err);
        }
        // The JSON value above carries it; people reading stderr get it too.
        if !err.is_reported() {
            out.nested_on_stderr().error(&err);
        }
        return Err(err.already_reported());
    }
    if best.is_some() {
        Ok(())
    } else {
        Err(Error::problems("no attempt passed the gate").already_reported())
    }
}

// ---------------------------------------------------------------------------------------------
// The agent

/// The onboarding markdown: fetched when the coordinator serves it (and cached in the git
/// dir), else the cached copy, else none. The run works offline.
fn onboard_text(ctx: &Ctx, repo: &Repo, state: &State) -> Option<String> {
    let cache = brief::onboard_cache_path(repo);
    let fetched = ctx.coordinator(Some(state)).and_then(|c| c.onboard(&state.task.id));
    match fetched {
        Ok(text) => {
            if let Some(dir) = cache.parent() {
                let _ = fs::create_dir_all(dir);
            }
            let _ = crate::fsutil::write_atomic(&cache, text.as_bytes(), None);
            Some(text)
        }
        Err(err) => {
            let cached = fs::read_to_string(&cache).ok();
            ctx.out.detail(format!(
                "onboarding notes not fetched ({}); {}",
                err.message(),
                match cached {
                    Some(_) => "using the cached copy",
                    None => "the brief has none",
                }
            ));
            cached
        }
    }
}

/// Centerless tasks: the ideas of other miners' submissions, in the order `ideas` lists them
/// (this clone's claim's hotkey left out), each with its status and metric; none offline.
fn other_ideas(ctx: &Ctx, state: &State) -> Option<Vec<String>> {
    use crate::served_values::text;
    if !crate::ideas::task_has_ideas(&state.task) {
        return None;
    }
    let me = state.claim.as_ref().map(|c| c.hotkey.as_str());
    let listed =
        ctx.coordinator(Some(state)).and_then(|c| crate::ideas::fetch(&c, &state.task.id, me, false));
    let listed = match listed {
        Ok(listed) => listed,
        Err(err) => {
            ctx.out
                .detail(format!("other miners' ideas not fetched ({}); the brief has none", err.message()));
            return None;
        }
    };
    let metric = &state.task.metric_name;
    let value = |s: &Value, key: &str| {
        s.get(key).and_then(|m| m.get(metric.as_str())).map(|v| v.to_string()).unwrap_or_else(|| "-".into())
    };
    let ideas = listed
        .iter()
        .filter(|s| me.is_none() || text(s, "miner_hotkey").as_deref() != me)
        .take(MAX_IDEAS)
        .filter_map(|s| {
            let idea = crate::submission_api::proposed_idea(s)?;
            Some(format!(
                "Submission {} ({}; {metric} observed {}, claimed {}):\n\n{idea}",
                text(s, "id").unwrap_or_default(),
                text(s, "status").unwrap_or_default(),
                value(s, "observed_metrics"),
                value(s, "claimed_metrics"),
            ))
        })
        .collect();
    Some(ideas)
}

// ---------------------------------------------------------------------------------------------
// The gate

#[allow(clippy::too_many_arguments)]
fn gate(
    out: &Output,
    repo: &Repo,
    state_file: &StateFile,
    task: &TaskSnapshot,
    sidecar_path: &Path,
    agent: &CommandRun,
    agent_log: &Path,
    log_dir: &Path,
    stamp: &str,
    cycle: u64,
) -> Result<Cycle> {
    // The agent writes the sidecar; a broken one fails nothing here (`submit` checks it). A
    // symlink is not read: it could point anywhere.
    let loaded = if is_symlink(sidecar_path) {
        Err(Error::usage(format!("{} is a symbolic link", sidecar_path.display())))
    } else {
        sidecar::load(sidecar_path)
    };
    let sidecar = match loaded {
        Ok(s) => s,
        Err(err) => {
            out.warn(format!("the submission file is unreadable: {}", err.message()));
            None
        }
    };
    // Kept with the attempt as read now, before the benchmark runs.
    let sidecar_bytes = match &sidecar {
        Some(_) => fs::read(sidecar_path).ok(),
        None => None,
    };
    let summary = sidecar.as_ref().and_then(|s| s.summary()).map(str::to_string);
    let has_artifact = sidecar.as_ref().is_some_and(|s| s.has_artifact());
    out.info(format!("==> gate {cycle}: check"));
    // The tree is taken before the benchmark: files it writes are not part of the attempt.
    let snap = attempts::snapshot(repo, task, has_artifact)?;
    let check_ok = snap.report.ok();
    let measurement = if check_ok {
        // As `bench` without --artifact: the sidecar's artifact when its bytes are cached.
        let artifact = crate::artifact::ready(repo.common_dir(), None, sidecar.as_ref(), out)?;
        let placed = match &artifact {
            Some(ready) => Some(crate::artifact::place::place_in_work_tree(repo, ready)?),
            None => None,
        };
        let settings = RunSettings {
            task,
            inherit_env: false,
            setup: true,
            artifact_env: placed.as_ref().map(|p| p.env().to_vec()).unwrap_or_default(),
            exact: false,
        };
        let log = log_dir.join(format!("bench-{stamp}-attempt-{cycle}.log"));
        let measured = measure(out, &settings, repo.work_tree(), "attempt", &log);
        // Removed after the run whatever happened.
        drop(placed);
        Some(measured?)
    } else {
        for problem in &snap.report.problems {
            let paths = if problem.paths.is_empty() {
                String::new()
            } else {
                format!(": {}", problem.paths.join(", "))
            };
            out.warn(format!("gate: {} [{}]{paths}", problem.message, problem.code));
        }
        None
    };
    let status = match &measurement {
        Some(m) => m.status.as_str(),
        None => "check_failed",
    };
    let metric =
        measurement.as_ref().and_then(|m| m.value.as_ref()).map(|f| f.value).filter(|v| v.is_finite());
    let message = format!(
        "bitsota attempt: {} cycle {cycle}\n\nstatus: {status}\n{}: {}\ncheck: {}\n",
        task.slug,
        task.metric_name,
        metric.map(|v| v.to_string()).unwrap_or_else(|| "-".into()),
        if check_ok { "ok".to_string() } else { problem_codes(&snap.report).join(", ") },
    );
    let first = attempts::next_number(repo, &state_file.read_bound()?)?;
    let (n, commit) = attempts::store(repo, &task.base_commit, &snap.tree, first, &message)?;
    // The sidecar as the agent left it with this attempt, for a later submit of it.
    if let Some(bytes) = sidecar_bytes {
        let dir = log_dir.join("attempts");
        let _ = fs::create_dir_all(&dir);
        let _ = crate::fsutil::write_atomic(&dir.join(format!("{n}.submission.json")), &bytes, None);
    }
    let record = AttemptRecord {
        n,
        refname: attempts::ref_name(n),
        commit,
        created_at: crate::timefmt::now_rfc3339(),
        status: status.to_string(),
        metric,
        patch_bytes: snap.report.patch_bytes() as u64,
        patch_sha256: sha256_hex(&snap.report.built.patch),
        check_ok,
        problems: problem_codes(&snap.report),
        summary,
        tree: snap.tree.clone(),
        base_commit: task.base_commit.clone(),
        cycle,
        agent: agent.step.outcome(),
        agent_exit: agent.step.exit_code.map(i64::from),
        agent_timed_out: agent.step.timed_out,
        agent_log: agent_log.to_string_lossy().into_owned(),
        bench_log: measurement.as_ref().map(|m| m.log.to_string_lossy().into_owned()),
        message: measurement.as_ref().and_then(|m| m.message.clone()),
        other: toml::Table::new(),
    };
    state_file.update(|fresh| fresh.attempts.push(record.clone()))?;
    Ok(Cycle { record, measurement })
}

fn is_symlink(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
}

fn problem_codes(report: &crate::check::Report) -> Vec<String> {
    report.problems.iter().map(|p| p.code.to_string()).collect()
}

fn cycle_line(out: &Output, task: &TaskSnapshot, record: &AttemptRecord) {
    let verdict = if attempts::passed(record) {
        out.paint_err(Style::Green, "passed the gate")
    } else {
        out.paint_err(Style::Red, &format!("failed the gate ({})", record.status))
    };
    let metric = match record.metric {
        Some(v) => format!(", {} = {v}", task.metric_name),
        None => String::new(),
    };
    out.info(format!(
        "==> attempt {} {verdict}{metric}, patch {} bytes, kept as {}",
        record.n, record.patch_bytes, record.refname
    ));
}

// ---------------------------------------------------------------------------------------------
// Submitting the best attempt

/// Put the best attempt in the work tree, write its measured metrics into the sidecar, claim
/// when no active claim is held, and submit with every check of `submit`. `Ok(None)` when it
/// does not beat the baseline.
#[allow(clippy::too_many_arguments)]
fn submit_best(
    ctx: &Ctx,
    repo: &Repo,
    state_file: &StateFile,
    task: &TaskSnapshot,
    sidecar_path: &Path,
    best: &Cycle,
    log_dir: &Path,
    stamp: &str,
) -> Result<Option<Value>> {
    let out = &ctx.out;
    let record = &best.record;
    let (Some(value), Some(measurement)) = (record.metric, best.measurement.as_ref()) else {
        return Ok(None);
    };
    let baseline = match remembered_baseline(&state_file.read_bound()?, task) {
        Some(b) => Some(b),
        None if crate::artifact::task_requires_artifact(task) => {
            out.warn(
                "cannot measure a baseline: this task requires an artifact, and the base commit has none",
            );
            None
        }
        None => {
            out.info("==> no baseline recorded: measuring one at the base commit");
            let settings =
                RunSettings { task, inherit_env: false, setup: true, artifact_env: Vec::new(), exact: false };
            let log = log_dir.join(format!("bench-{stamp}-baseline.log"));
            let m = crate::bench_results::run_baseline(out, repo, &settings, &log)?;
            crate::bench_results::save_records(state_file, task, None, &m, &crate::timefmt::now_rfc3339())?;
            m.value.as_ref().map(|f| f.value).filter(|_| m.status == Status::Ok)
        }
    };
    let Some(baseline) = baseline else {
        out.warn("nothing submitted: the baseline run gave no metric to compare with");
        return Ok(None);
    };
    if improvement(task, baseline, value) <= 0.0 {
        out.warn(format!(
            "nothing submitted: the best attempt ({} = {value}) does not beat the baseline ({baseline}): {}",
            task.metric_name,
            improvement_text(task, baseline, value)
        ));
        return Ok(None);
    }

    // The work tree as the attempt has it (it was left by a later cycle otherwise).
    let now = attempts::snapshot(repo, task, false)?;
    if now.tree != record.tree {
        out.info(format!("==> putting attempt {}'s files back in the work tree", record.n));
        attempts::restore(repo, task, record.n, false)?;
    }

    // The sidecar the agent wrote with this attempt, with the measured metrics.
    let saved = log_dir.join("attempts").join(format!("{}.submission.json", record.n));
    let mut map: Map<String, Value> = match sidecar::load(&saved) {
        Ok(Some(s)) => s.raw().clone(),
        _ => sidecar::load(sidecar_path)?.map(|s| s.raw().clone()).unwrap_or_default(),
    };
    map.insert("claimed_metrics".into(), Value::Object(claimed_metrics(task, measurement)));
    map.insert(
        "execution_log".into(),
        Value::String(format!(
            "git bitsota run: attempt {} ({}), validator environment, time budget {} s\n{} = {value}, baseline {baseline}: {}",
            record.n,
            record.refname,
            task.time_budget_seconds,
            task.metric_name,
            improvement_text(task, baseline, value)
        )),
    );
    // The agent may have left a symlink or tracked the file meanwhile: check again before writing.
    sidecar::resolve_path(repo, None)?;
    sidecar::write(sidecar_path, &map)?;
    out.info(format!(
        "wrote claimed_metrics and execution_log of attempt {} to {}",
        record.n,
        sidecar_path.display()
    ));
    // What `submit` would refuse in the sidecar (the agent's summary above all) is refused
    // before a claim is spent on it.
    let written = sidecar::Sidecar::from_map(sidecar_path.to_path_buf(), map);
    let problems = sidecar::problems(&written, task);
    if !problems.is_empty() {
        for problem in &problems {
            out.warn(format!("{}: {problem}", sidecar_path.display()));
        }
        return Err(Error::problems(format!(
            "not submitted: the submission file of attempt {} is not fit to send ({} problem(s))",
            record.n,
            problems.len()
        ))
        .with_code("submission_invalid")
        .with_hint(format!(
            "edit {} (the agent must write `summary`), then `git bitsota submit`",
            sidecar_path.display()
        )));
    }

    // Claim and submit through the command table, so exactly their checks (and claim adoption)
    // apply; in JSON mode they print on stderr, and this
    // command's one JSON value stays on stdout.
    let nested =
        if out.is_json() { ctx.with_output(out.nested_on_stderr()) } else { ctx.with_output(out.clone()) };
    let state = state_file.read_bound()?;
    let active = state.claim.as_ref().is_some_and(|c| c.is_live());
    if !active {
        out.info("==> claiming the task");
        super::run(
            &nested,
            Command::Claim(ClaimArgs {
                message: "git bitsota run".into(),
                force: false,
                work_item: None,
                base: None,
            }),
        )?;
    }
    out.info(format!("==> submitting attempt {}", record.n));
    super::run(
        &nested,
        Command::Submit(SubmitArgs {
            dry_run: false,
            submission_file: None,
            allow_outside: false,
            force: false,
            implements: None,
            no_verify_artifact: false,
        }),
    )?;
    let state = state_file.read_bound()?;
    let sent = state.submissions.last().map(|s| {
        json!({
            "id": s.id,
            "claim_id": s.claim_id,
            "status": s.status,
            "created_at": s.created_at,
            "base_ref": s.base_ref,
            "patch_sha256": s.patch_sha256,
            "patch_bytes": s.patch_bytes,
            "attempt": record.n,
        })
    });
    Ok(sent)
}
