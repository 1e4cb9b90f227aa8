//! `git bitsota review`: peer evaluation (protocol.md §4.8, §8.3; cli.md §10.3).
//!
//! Without an argument it lists the bound task's `pending_verification` submissions of other
//! hotkeys with their consensus and whether this hotkey already evaluated them. With a
//! submission id it replays that submission's own patch on its own base exactly as a validator
//! would ([`crate::replay`]), shows claimed against observed metrics and sends the signed
//! verdict (`POST /api/v1/submissions/{id}/peer-evaluate`), at most once: refusals the server
//! would give are checked before anything runs, an attempt whose answer was lost is looked up
//! before sending again, and every sent evaluation is recorded in the state (`[[reviews]]`).

use serde_json::{json, Map, Value};

use crate::canonical_json::sha256_hex;
use crate::cli::ReviewArgs;
use crate::client::Coordinator;
use crate::ctx::Ctx;
use crate::error::{Error, Result};
use crate::mutation::{self, MutationGuard};
use crate::output::Style;
use crate::peer_review::{consensus_or_null, consensus_words};
use crate::replay::{self, Verdict};
use crate::served_values::{cell, one_line, shorten, text};
use crate::state::{ReviewRecord, State, StateFile};
use crate::task::{CompetitionMode, TaskSnapshot};

/// The mode whose submissions miners evaluate.
pub const PEER_EVALUATION: &str = "peer_evaluation";
/// Validators cap their notes at this many characters (protocol.md §6.3).
const MAX_NOTES_CHARS: usize = 128 * 1024;

pub fn run(ctx: &Ctx, args: &ReviewArgs) -> Result<()> {
    match &args.submission {
        None => list(ctx),
        Some(id) => review_one(ctx, args, id),
    }
}

// ---------------------------------------------------------------------------------------------
// The list

fn list(ctx: &Ctx) -> Result<()> {
    let repo = ctx.repo()?;
    let state = ctx.state_file(&repo).read_bound()?;
    let task = &state.task;
    if task.competition_mode != CompetitionMode::PeerEvaluation {
        return Err(not_peer_evaluation(task, false));
    }
    let coordinator = ctx.coordinator(Some(&state))?;
    let me = ctx.hotkey()?.ss58().to_string();
    let pending = coordinator.list_submissions(Some(&task.id), Some("pending_verification"))?;
    let mut rows = Vec::new();
    for s in pending.into_iter().filter(|s| text(s, "miner_hotkey").as_deref() != Some(me.as_str())) {
        // A listing may carry other statuses when the server ignores the filter.
        if text(&s, "status").as_deref() != Some("pending_verification") {
            continue;
        }
        let Some(id) = text(&s, "id") else { continue };
        let consensus = consensus_or_null(&coordinator, &id)?;
        let evaluated = evaluated_by(&coordinator, &state, &id, &me)?;
        rows.push(json!({
            "id": id,
            "miner_hotkey": s.get("miner_hotkey").cloned().unwrap_or(Value::Null),
            "claimed_metrics": s.get("claimed_metrics").cloned().unwrap_or(Value::Null),
            "consensus": consensus,
            "evaluated_by_me": evaluated,
        }));
    }
    if ctx.out.is_json() {
        return ctx.out.json(&json!({"version": 1, "submissions": rows}));
    }
    if rows.is_empty() {
        return ctx.out.line("no pending submissions of other hotkeys to review");
    }
    let table_rows: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            let claimed = row["claimed_metrics"].get(&task.metric_name).map(|v| v.to_string());
            vec![
                cell(row, "id"),
                shorten(&cell(row, "miner_hotkey"), 10),
                shorten(&one_line(&claimed.unwrap_or_else(|| "-".into())), 18),
                consensus_words(&row["consensus"]),
                if row["evaluated_by_me"] == true { "yes" } else { "no" }.to_string(),
            ]
        })
        .collect();
    let header = ["ID", "MINER", "CLAIMED", "CONSENSUS", "EVALUATED BY ME"];
    for line in crate::output::table(&header, &table_rows) {
        ctx.out.line(line)?;
    }
    ctx.out.hint("replay and evaluate one with `git bitsota review SUBMISSION`");
    Ok(())
}

/// Whether `me` already evaluated submission `id`: on the coordinator, or recorded here.
fn evaluated_by(coordinator: &Coordinator, state: &State, id: &str, me: &str) -> Result<bool> {
    if state.reviews.iter().any(|r| r.submission_id == id && r.evaluator_hotkey == me) {
        return Ok(true);
    }
    let found = coordinator.peer_evaluations(id, Some(me))?;
    Ok(found.iter().any(|e| text(e, "evaluator_hotkey").is_none_or(|h| h == me)))
}

// ---------------------------------------------------------------------------------------------
// One submission

fn review_one(ctx: &Ctx, args: &ReviewArgs, id: &str) -> Result<()> {
    let out = &ctx.out;
    let repo = ctx.repo()?;
    let state_file = ctx.state_file(&repo);
    let state = state_file.read_bound()?;
    let coordinator = ctx.coordinator(Some(&state))?;

    let submission = coordinator.get_submission(id)?;
    let patch = match submission.get("patch") {
        Some(Value::String(p)) => p.clone(),
        None | Some(Value::Null) => String::new(),
        Some(_) => {
            return Err(Error::server(format!("submission {id} has a `patch` that is not text"))
                .with_code("bad_response"));
        }
    };
    let base = text(&submission, "base_commit_sha")
        .filter(|b| !b.trim().is_empty())
        .or_else(|| text(&submission, "base_ref"))
        .unwrap_or_default();
    let task_id = text(&submission, "task_id").unwrap_or_default();
    let task = task_for(&coordinator, &state, &task_id)?;

    // Refusals before anything runs; --local sends nothing, so it refuses nothing.
    let hotkey = if args.local { None } else { Some(ctx.hotkey()?) };
    if let Some(hotkey) = &hotkey {
        let me = hotkey.ss58();
        if text(&submission, "miner_hotkey").as_deref() == Some(me) {
            return Err(Error::usage(format!("submission {id} was made by the signing hotkey {me}"))
                .with_code("own_submission")
                .with_hint(
                    "miners cannot evaluate their own submissions; `--local` replays it without sending",
                ));
        }
        if task.competition_mode != CompetitionMode::PeerEvaluation {
            return Err(not_peer_evaluation(&task, true));
        }
        let status = text(&submission, "status").unwrap_or_default();
        if status != "pending_verification" {
            return Err(Error::usage(format!(
                "submission {id} is {}, not pending_verification: it no longer takes evaluations",
                one_line(&status)
            ))
            .with_code("not_pending")
            .with_hint("`--local` replays it without sending"));
        }
        if evaluated_by(&coordinator, &state, id, me)? {
            // An earlier run whose answer was lost: its evaluation arrived; record it.
            if pending_review(&state).as_deref() == Some(id) {
                if let Some(found) = coordinator.peer_evaluations(id, Some(me))?.first() {
                    record(&state_file, me, id, &task_id, found, &patch)?;
                }
            }
            return Err(Error::usage(format!("the signing hotkey {me} already evaluated submission {id}"))
                .with_code("already_evaluated")
                .with_hint("an evaluation is sent once; `--local` replays it again without sending"));
        }
    }

    out.info(format!(
        "replaying submission {id} by {} ({} patch bytes): the task's commands run on that miner's code",
        text(&submission, "miner_hotkey").map(|h| one_line(&h)).unwrap_or_else(|| "an unknown miner".into()),
        patch.len()
    ));
    crate::consent::ensure_consent_for(out, &state_file, &state, &task, args.yes)?;

    let (artifact, artifact_problem) = submission_artifact(ctx, &repo, &task, &submission, &patch)?;

    let log_dir = repo.git_dir().join("bitsota");
    let log_path =
        log_dir.join(format!("review-{}-{}.log", safe_name(id), crate::bench_results::file_stamp()));
    let outcome = {
        let _signals = crate::runner::SignalGuard::install();
        replay::replay(
            out,
            &replay::Input {
                repo: &repo,
                task: &task,
                patch: patch.as_bytes(),
                base: &base,
                log_path,
                artifact: artifact.as_ref(),
                artifact_problem,
            },
        )?
    };

    let notes = join_notes(&outcome.note, args.notes.as_deref());
    let mut body = Map::new();
    body.insert("status".into(), json!(outcome.verdict.as_str()));
    body.insert("observed_metrics".into(), Value::Object(outcome.observed_metrics.clone()));
    if !notes.is_empty() {
        body.insert("notes".into(), json!(notes));
    }
    let body = Value::Object(body);
    let claimed = submission.get("claimed_metrics").cloned().unwrap_or(Value::Null);

    let mut sent = false;
    let mut evaluation = Value::Null;
    if let (Some(hotkey), false) = (&hotkey, args.dry_run) {
        evaluation = send(ctx, &coordinator, &state_file, hotkey, id, &task_id, &body, &patch)?;
        sent = true;
    }

    if out.is_json() {
        out.json(&json!({
            "version": 1,
            "submission_id": id,
            "status": outcome.verdict.as_str(),
            "observed_metrics": outcome.observed_metrics,
            "claimed_metrics": claimed,
            "notes": notes,
            "sent": sent,
            "body": body,
            "log": outcome.log.to_string_lossy(),
        }))?;
    } else {
        print_outcome(ctx, &task, &claimed, &outcome, &notes)?;
        if sent {
            out.line(format!(
                "sent: evaluation {} of submission {id}",
                text(&evaluation, "id").map(|s| one_line(&s)).unwrap_or_else(|| "(no id)".into())
            ))?;
        } else {
            let pretty = serde_json::to_string_pretty(&body).unwrap_or_default();
            out.line(format!("evaluation body (not sent):\n{pretty}"))?;
            out.info(if args.local {
                "--local: nothing was sent"
            } else {
                "dry run: nothing was signed or sent"
            });
        }
    }
    // "Would validators accept this?" answers in the exit code too.
    if args.local && outcome.verdict != Verdict::Accepted {
        return Err(Error::problems(format!("the replay's verdict is {}", outcome.verdict.as_str()))
            .already_reported());
    }
    Ok(())
}

/// The task of a submission: the bound one, else its record from the coordinator.
fn task_for(coordinator: &Coordinator, state: &State, task_id: &str) -> Result<TaskSnapshot> {
    if task_id.is_empty() || task_id == state.task.id {
        return Ok(state.task.clone());
    }
    let tasks = coordinator.list_tasks()?;
    let record =
        tasks.iter().find(|t| t.get("id").and_then(Value::as_str) == Some(task_id)).ok_or_else(|| {
            Error::server(format!("the coordinator lists no task {task_id} for this submission"))
                .with_code("unknown_task")
        })?;
    let parsed =
        crate::task::parse_record(record, crate::task::Strictness::WarnOnly, &crate::timefmt::now_rfc3339())
            .map_err(|e| {
                Error::server(format!("the task record of {task_id} is not usable: {e}"))
                    .with_code("bad_task_record")
            })?;
    Ok(parsed.snapshot)
}

fn not_peer_evaluation(task: &TaskSnapshot, with_local: bool) -> Error {
    let err = Error::usage(format!(
        "task {} is a `{}` task, not `{PEER_EVALUATION}`: its submissions are judged by validators, not by peers",
        task.slug,
        one_line(task.competition_mode.as_str())
    ))
    .with_code("not_peer_evaluation");
    if with_local {
        err.with_hint("`git bitsota review SUBMISSION --local` replays it without sending anything")
    } else {
        err.with_hint("`git bitsota submissions --status pending_verification` lists its submissions")
    }
}

/// The submission's artifact, fetched as validators fetch it (one GET, no redirects, checked
/// against its sha256 and size; cached under the git dir by sha256). A fault of the
/// submission's (a redirect, other bytes, a URI validators refuse) is the replay's `error`
/// note; an artifact that cannot be reached is no verdict (the fault may be this machine's).
/// Nothing is downloaded for a patch the pre-replay rules reject.
fn submission_artifact(
    ctx: &Ctx,
    repo: &crate::repo::Repo,
    task: &TaskSnapshot,
    submission: &Value,
    patch: &str,
) -> Result<(Option<crate::artifact::Ready>, Option<String>)> {
    let Some(uri) = text(submission, "artifact_uri").filter(|u| !u.trim().is_empty()) else {
        return Ok((None, None));
    };
    if replay::pre_replay_rejection(patch, task).is_some() {
        return Ok((None, None));
    }
    let parsed = match crate::artifact::parse_uri(&uri) {
        Ok(parsed) => parsed,
        Err(err) => return Ok((None, Some(format!("submission artifact: {}", err.message())))),
    };
    let mut described = Map::new();
    for key in ["artifact_uri", "artifact_sha256", "artifact_size_bytes"] {
        if let Some(value) = submission.get(key).filter(|v| !v.is_null()) {
            described.insert(key.into(), value.clone());
        }
    }
    let described = crate::sidecar::Sidecar::from_map(std::path::PathBuf::new(), described);
    // The URI is asked every time (headers only), even when its bytes are cached here: what
    // it serves now is what validators get.
    let headers = crate::artifact::fetch(&parsed, &crate::artifact::expected(&described), None, &ctx.out)?;
    if let Some(problem) = headers.problems.first() {
        if problem.code == "artifact_unreachable" {
            return Err(Error::network(problem.message.clone())
                .with_code("artifact_unreachable")
                .with_hint("nothing was run or sent; retry when the artifact can be downloaded"));
        }
        return Ok((None, Some(format!("submission artifact: {}", problem.message))));
    }
    let source = crate::artifact::Source::Uri(parsed);
    match crate::artifact::ready(repo.common_dir(), Some(&source), Some(&described), &ctx.out) {
        Ok(ready) => Ok((ready, None)),
        Err(err)
            if matches!(
                err.code(),
                "artifact_redirect" | "artifact_size_mismatch" | "artifact_sha256_mismatch"
            ) =>
        {
            Ok((None, Some(format!("submission artifact: {}", err.message()))))
        }
        Err(err) => Err(err.with_hint("nothing was run or sent; retry when the artifact can be downloaded")),
    }
}

/// The validator-style note, then the reviewer's own text; at most the validators' cap.
fn join_notes(note: &str, extra: Option<&str>) -> String {
    let parts: Vec<&str> =
        [Some(note), extra].into_iter().flatten().map(str::trim).filter(|s| !s.is_empty()).collect();
    let joined = parts.join("\n");
    match joined.char_indices().nth(MAX_NOTES_CHARS) {
        Some((cut, _)) => joined[..cut].to_string(),
        None => joined,
    }
}

/// An id as part of a file name.
fn safe_name(id: &str) -> String {
    id.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).take(64).collect()
}

/// Send the evaluation once. Under the clone's request lock (one signed mutation at a time):
/// look again for an evaluation of this hotkey (another terminal, or an earlier run whose
/// answer was lost, may have sent one while this replay ran), mark the attempt pending, POST,
/// and on a lost answer look it up before saying anything failed.
#[allow(clippy::too_many_arguments)]
fn send(
    ctx: &Ctx,
    coordinator: &Coordinator,
    state_file: &StateFile,
    hotkey: &crate::keys::Hotkey,
    id: &str,
    task_id: &str,
    body: &Value,
    patch: &str,
) -> Result<Value> {
    let me = hotkey.ss58().to_string();
    let _guard = MutationGuard::acquire(state_file, &ctx.out, "sending the evaluation")?;
    let state = state_file.read_bound()?;
    let recorded = state.reviews.iter().any(|r| r.submission_id == id && r.evaluator_hotkey == me);
    let earlier = if recorded { Vec::new() } else { coordinator.peer_evaluations(id, Some(&me))? };
    if recorded || !earlier.is_empty() {
        if let (false, Some(found)) = (recorded, earlier.first()) {
            if pending_review(&state).as_deref() == Some(id) {
                // Ours, from a run whose answer was lost: record it, send nothing.
                ctx.out.info(
                    "an earlier run's evaluation of this submission arrived; recording it, sending nothing",
                );
                record(state_file, &me, id, task_id, found, patch)?;
                return Ok(found.clone());
            }
        }
        return Err(Error::usage(format!(
            "the signing hotkey {me} evaluated submission {id} while this replay ran; nothing was sent"
        ))
        .with_code("already_evaluated"));
    }
    mark_pending(state_file, Some(id))?;
    let spinner = ctx.out.spinner("sending the evaluation");
    let answer = coordinator.peer_evaluate(id, body, hotkey);
    drop(spinner);
    let evaluation = match answer {
        Ok(evaluation) => evaluation,
        Err(err) if mutation::answer_lost(&err) => {
            ctx.out.warn("the coordinator's answer was lost; checking whether the evaluation arrived");
            match coordinator.peer_evaluations(id, Some(&me)) {
                Ok(found) if !found.is_empty() => found.into_iter().next().unwrap_or(Value::Null),
                _ => {
                    return Err(err.with_hint(
                        "run the review again: an evaluation that arrived is found and never sent twice",
                    ))
                }
            }
        }
        Err(err) => {
            mark_pending(state_file, None)?;
            return Err(err);
        }
    };
    // What was sent, with the id the coordinator gave it.
    let mut sent = body.clone();
    if let Some(eid) = evaluation.get("id") {
        sent["id"] = eid.clone();
    }
    record(state_file, &me, id, task_id, &sent, patch)?;
    Ok(evaluation)
}

/// Record an evaluation (as sent or as served) in `[[reviews]]` and clear the pending mark.
fn record(
    state_file: &StateFile,
    me: &str,
    id: &str,
    task_id: &str,
    evaluation: &Value,
    patch: &str,
) -> Result<()> {
    let record = ReviewRecord {
        submission_id: id.to_string(),
        task_id: task_id.to_string(),
        evaluator_hotkey: me.to_string(),
        status: text(evaluation, "status").unwrap_or_default(),
        observed_metrics: metrics_table(&evaluation["observed_metrics"]),
        notes: text(evaluation, "notes").unwrap_or_default(),
        patch_sha256: sha256_hex(patch.as_bytes()),
        sent_at: crate::timefmt::now_rfc3339(),
        evaluation_id: text(evaluation, "id").unwrap_or_default(),
        other: toml::Table::new(),
    };
    state_file.update(|state| {
        state.pending_review = None;
        let known = state.reviews.iter().any(|r| {
            r.submission_id == record.submission_id && r.evaluator_hotkey == record.evaluator_hotkey
        });
        if !known {
            state.reviews.push(record.clone());
        }
    })
}

/// The submission of an evaluation whose answer was lost, if any.
fn pending_review(state: &State) -> Option<String> {
    state.pending_review.clone()
}

fn mark_pending(state_file: &StateFile, id: Option<&str>) -> Result<()> {
    state_file.update(|state| state.pending_review = id.map(str::to_string))
}

fn metrics_table(metrics: &Value) -> toml::Table {
    let mut table = toml::Table::new();
    if let Some(map) = metrics.as_object() {
        for (key, value) in map {
            if let Some(f) = value.as_f64() {
                table.insert(key.clone(), toml::Value::Float(f));
            }
        }
    }
    table
}

fn print_outcome(
    ctx: &Ctx,
    task: &TaskSnapshot,
    claimed: &Value,
    outcome: &replay::Outcome,
    notes: &str,
) -> Result<()> {
    let out = &ctx.out;
    let style = match outcome.verdict {
        Verdict::Accepted => Style::Green,
        _ => Style::Red,
    };
    out.line(format!("verdict  {}", out.paint(style, outcome.verdict.as_str())))?;
    let mut names: Vec<String> = vec![task.metric_name.clone()];
    for map in [claimed.as_object(), Some(&outcome.observed_metrics)].into_iter().flatten() {
        for key in map.keys() {
            if !names.contains(key) {
                names.push(key.clone());
            }
        }
    }
    for name in names {
        let show = |v: Option<&Value>| v.filter(|v| !v.is_null()).map(|v| one_line(&v.to_string()));
        let c = show(claimed.get(&name));
        let o = show(outcome.observed_metrics.get(&name));
        if c.is_none() && o.is_none() {
            continue;
        }
        out.line(format!(
            "metric   {}: observed {} / claimed {}",
            one_line(&name),
            o.unwrap_or_else(|| "-".into()),
            c.unwrap_or_else(|| "-".into())
        ))?;
    }
    if !notes.is_empty() {
        out.line(format!("notes    {}", one_line(notes)))?;
    }
    out.line(format!("log      {}", outcome.log.display()))?;
    Ok(())
}
