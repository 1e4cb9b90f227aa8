//! `git bitsota submit [--dry-run] [--submission-file F] [--allow-outside] [--force]`: run every
//! check, build the body of protocol.md §4.7 with `base_ref = base_commit`, sign and send it,
//! and record the submission.
//!
//! Idempotent: before sending, an attempt whose answer was lost (timeout, reset) is looked up on
//! the coordinator (same claim, same patch), and a lost answer is looked up right away too. The
//! same patch is never sent twice for one claim unless `--force`. The decision to send, the
//! request and the recording of its answer happen under the clone's request lock
//! (`mutation`), so two terminals (or a clone and its linked worktree) send it once.

use serde_json::{json, Map, Value};

use crate::canonical_json::{sha256_hex, to_canonical_string};
use crate::check::{self, CheckOptions, Problem, Report, SidecarFacts};
use crate::cli::SubmitArgs;
use crate::client::Coordinator;
use crate::ctx::Ctx;
use crate::error::{Error, Kind, Result, ResultExt};
use crate::implements::{self, Source};
use crate::mutation::{self, MutationGuard};
use crate::output::Style;
use crate::problems::ProblemCode;
use crate::served_values::{has_id, one_line, text};
use crate::sidecar::{self, Sidecar};
use crate::state::{PendingSubmission, State, SubmissionRecord};
use crate::timefmt;

pub fn run(ctx: &Ctx, args: &SubmitArgs) -> Result<()> {
    let repo = ctx.repo()?;
    let state_file = ctx.state_file(&repo);
    let state = state_file.read_bound()?;
    let task = &state.task;

    let sidecar_path = sidecar::resolve_path(&repo, args.submission_file.as_deref())?;
    let sidecar = sidecar::load(&sidecar_path)?;
    let rehearsal = crate::artifact::is_local_rehearsal(&ctx.coordinator_url(Some(&state)));
    let facts = match &sidecar {
        Some(s) => SidecarFacts {
            has_artifact: s.has_artifact(),
            problems: sidecar::problems_for(s, task, rehearsal),
        },
        None => SidecarFacts {
            has_artifact: false,
            problems: vec![format!("the submission file {} is missing", sidecar_path.display())],
        },
    };
    let options = CheckOptions { allow_outside: args.allow_outside, sidecar: Some(facts) };
    let mut report = check::check_worktree(&repo, task, &options)?;
    let claim_id = state.claim.as_ref().map(|c| c.id.clone()).unwrap_or_default();
    let patch_sha256 = sha256_hex(&report.built.patch);
    // The same patch already submitted with this claim: say so before anything else (the
    // claim is `submitted` by now, which would otherwise read as a claim problem).
    if report.ok() && !args.force && !args.dry_run {
        if let Some(refusal) = already_submitted(&state, &claim_id, &patch_sha256) {
            return Err(refusal);
        }
    }
    let claim_problem = claim_problem(&state);
    if let (Some(problem), false) = (&claim_problem, args.dry_run) {
        report.push(problem.clone());
    }
    if !report.ok() {
        return refuse(ctx, &report);
    }
    let Some(sidecar) = sidecar else {
        return refuse(ctx, &report);
    };
    if !args.dry_run {
        verify_artifact(ctx, &sidecar, args.no_verify_artifact, &mut report)?;
        if !report.ok() {
            return refuse(ctx, &report);
        }
    }
    let patch = report.patch_text().unwrap_or_default().to_string();
    let mut body = build_body(&claim_id, &task.base_commit, &patch, &sidecar);
    let implements = implements::resolve(args.implements.as_deref(), Some(&sidecar), &state);
    set_implements(&mut body, implements.as_ref());
    for path in report.left_out() {
        ctx.out.warn(format!("left out (outside the task's rules): {path}"));
    }

    if args.dry_run {
        dry_run_implements(ctx, &state, &sidecar, args.implements.as_deref(), implements.as_ref());
        if let Some(problem) = &claim_problem {
            ctx.out.warn(format!("{} [{}]; a real submit would refuse", problem.message, problem.code));
        }
        let canonical = to_canonical_string(&body).or_usage(|| "the submission body cannot be encoded")?;
        if ctx.out.is_json() {
            return ctx
                .out
                .json(&json!({"version": 1, "dry_run": true, "body": body, "body_bytes": canonical.len()}));
        }
        let pretty = serde_json::to_string_pretty(&body).unwrap_or_default();
        ctx.out.line(pretty)?;
        ctx.out.info(format!(
            "dry run: {} body bytes (patch {} of {} bytes); nothing was signed or sent",
            canonical.len(),
            patch.len(),
            task.max_patch_bytes
        ));
        return Ok(());
    }

    let coordinator = ctx.coordinator(Some(&state))?;
    check_implements(ctx, &coordinator, &state, implements.as_ref())?;
    let hotkey = ctx.hotkey()?;
    if let Some(claim) = &state.claim {
        if claim.hotkey != hotkey.ss58() {
            ctx.out.warn(format!(
                "the claim was made by {} but the signing hotkey is {}; the coordinator will likely refuse",
                claim.hotkey,
                hotkey.ss58()
            ));
        }
    }

    // From here until the answer is recorded, no other run in this clone (or a linked
    // worktree) sends a signed request; one that waited decides on what this one recorded.
    let _guard = MutationGuard::acquire(&state_file, &ctx.out, "submitting")?;
    let state = state_file.read_bound()?;
    let now_claim = state.claim.as_ref().map(|c| c.id.as_str()).unwrap_or_default();
    if now_claim != claim_id {
        return Err(Error::usage(format!(
            "the clone's claim changed while this submit waited (now {now_claim:?}); nothing was sent"
        ))
        .with_code("claim_changed")
        .with_hint("run `git bitsota submit` again"));
    }
    if !args.force {
        if let Some(refusal) = already_submitted(&state, &claim_id, &patch_sha256) {
            return Err(refusal);
        }
    }
    // Another run may have cancelled the claim while this one waited.
    if let Some(problem) = self::claim_problem(&state) {
        report.push(problem);
        return refuse(ctx, &report);
    }

    // A previous attempt whose answer was lost: look before sending again.
    let pending = pending_attempt(&state);
    if pending.as_ref().is_some_and(|(c, p)| *c == claim_id && *p == patch_sha256) {
        ctx.out
            .info("a previous submit of this patch lost its answer; looking it up on the coordinator first");
        if let Some(found) = look_up(&coordinator, &state, &claim_id, &patch_sha256)? {
            return record_submission(
                ctx,
                &state_file,
                &state,
                found,
                &patch,
                &patch_sha256,
                Answer::FoundAfterLostAnswer,
            );
        }
    }

    mark_pending(&state_file, Some((&claim_id, &patch_sha256)))?;
    let spinner = ctx.out.spinner("submitting");
    let sent = coordinator.create_submission(&body, &hotkey);
    drop(spinner);
    match sent {
        Ok(submission) => {
            record_submission(ctx, &state_file, &state, submission, &patch, &patch_sha256, Answer::Direct)
        }
        Err(err) if mutation::answer_lost(&err) => {
            // The coordinator may have stored it before the answer was lost (a timeout, a
            // reset, a gateway error or a garbled answer).
            ctx.out.warn("the coordinator's answer was lost; checking whether the submission arrived");
            match look_up(&coordinator, &state, &claim_id, &patch_sha256) {
                Ok(Some(found)) => {
                    record_submission(ctx, &state_file, &state, found, &patch, &patch_sha256, Answer::FoundAfterLostAnswer)
                }
                _ => Err(err.with_hint(
                    "run `git bitsota submit` again: it looks the submission up on the coordinator before sending again",
                )),
            }
        }
        Err(err) => {
            // A definite refusal: nothing was stored, nothing is pending.
            mark_pending(&state_file, None)?;
            Err(err)
        }
    }
}

/// `artifact verify` (headers only) of the sidecar's artifact, its problems added to the
/// report: a submission validators are sure to refuse never goes out.
fn verify_artifact(ctx: &Ctx, sidecar: &Sidecar, skip: bool, report: &mut Report) -> Result<()> {
    let Some(uri) = sidecar.artifact_uri() else {
        return Ok(());
    };
    if skip {
        ctx.out.warn(format!("not checking that validators can download {uri} (--no-verify-artifact)"));
        return Ok(());
    }
    let uri = crate::artifact::parse_uri(uri)?;
    if let Some(warning) = crate::artifact::fetch::local_http_warning(&uri) {
        ctx.out.warn(warning);
    }
    let fetched = crate::artifact::fetch(&uri, &crate::artifact::expected(sidecar), None, &ctx.out)?;
    for problem in fetched.problems {
        report.push(problem);
    }
    Ok(())
}

/// The refusal for a patch this claim already submitted (recorded in the state), naming the
/// submission.
fn already_submitted(state: &State, claim_id: &str, patch_sha256: &str) -> Option<Error> {
    let done = state.submissions.iter().find(|s| s.claim_id == claim_id && s.patch_sha256 == patch_sha256)?;
    Some(
        Error::problems(format!("claim {claim_id} already submitted this patch as submission {}", done.id))
            .with_code("duplicate_submission")
            .with_hint("change the patch or claim again; --force sends it anyway"),
    )
}

/// The claim must exist, be usable (`active`, or `submitted` for a further, different patch;
/// the coordinator decides whether it takes more than one) and not be past its expiry.
fn claim_problem(state: &State) -> Option<Problem> {
    let Some(claim) = &state.claim else {
        return Some(Problem::of(ProblemCode::ClaimMissing));
    };
    if !claim.takes_submissions() {
        let why = if claim.expired() {
            timefmt::time_left_words(&claim.expires_at)
        } else {
            format!("status {}", claim.status)
        };
        return Some(
            Problem::of(ProblemCode::ClaimExpired)
                .with_message(format!("claim {} can no longer be used ({why})", claim.id)),
        );
    }
    None
}

fn refuse(ctx: &Ctx, report: &Report) -> Result<()> {
    if ctx.out.is_json() {
        ctx.out.json(&report.to_json())?;
    } else {
        crate::output::check_report::print_check_report(&ctx.out, report)?;
    }
    Err(Error::problems(format!("not submitted: {} problem(s)", report.problems.len())).already_reported())
}

/// The body of protocol.md §4.7, from the sidecar, with the reference client's value rules.
pub fn build_body(claim_id: &str, base_commit: &str, patch: &str, sidecar: &Sidecar) -> Value {
    let mut body = Map::new();
    body.insert("claim_id".into(), json!(claim_id));
    body.insert("base_ref".into(), json!(base_commit));
    body.insert("patch".into(), json!(patch));
    body.insert("summary".into(), json!(sidecar.summary().unwrap_or_default().trim()));
    body.insert(
        "claimed_metrics".into(),
        Value::Object(sidecar.claimed_metrics().cloned().unwrap_or_default()),
    );
    let mut optional = |key: &str, value: Option<String>| {
        if let Some(v) = value.map(|v| v.trim().to_string()).filter(|v| !v.is_empty()) {
            body.insert(key.into(), json!(v));
        }
    };
    optional("proposed_idea", sidecar.proposed_idea().map(str::to_string));
    optional("implemented_submission_id", sidecar.implemented_submission_id().map(str::to_string));
    optional("artifact_uri", sidecar.artifact_uri().map(str::to_string));
    optional("artifact_sha256", sidecar.artifact_sha256().map(|s| s.to_lowercase()));
    optional("execution_log", sidecar.execution_log().map(str::to_string));
    if let Some(size) = sidecar.artifact_size_bytes() {
        body.insert("artifact_size_bytes".into(), json!(size));
    }
    Value::Object(body)
}

fn pending_attempt(state: &State) -> Option<(String, String)> {
    let pending = state.pending_submission.as_ref()?;
    Some((pending.claim_id.clone(), pending.patch_sha256.clone()))
}

/// Remember (or forget) an attempt in flight, so a lost answer is looked up next time.
fn mark_pending(state_file: &crate::state::StateFile, attempt: Option<(&str, &str)>) -> Result<()> {
    state_file.update(|state| {
        state.pending_submission = attempt.map(|(claim, patch)| PendingSubmission {
            claim_id: claim.to_string(),
            patch_sha256: patch.to_string(),
            at: crate::timefmt::now_rfc3339(),
        });
    })
}

/// The coordinator's submission for this claim and patch, if it has one.
fn look_up(
    coordinator: &Coordinator,
    state: &State,
    claim_id: &str,
    patch_sha256: &str,
) -> Result<Option<Value>> {
    let listed = coordinator.list_submissions(Some(&state.task.id), None)?;
    // A submission already recorded here is an earlier one (sent again with --force).
    let known = |s: &Value| state.submissions.iter().any(|r| has_id(s, &r.id));
    Ok(listed.into_iter().filter(|s| !known(s)).find(|s| {
        let same_claim = s.get("claim_id").and_then(Value::as_str) == Some(claim_id);
        let same_patch = s.get("patch").and_then(Value::as_str).map(|p| sha256_hex(p.as_bytes())).as_deref()
            == Some(patch_sha256);
        same_claim && same_patch
    }))
}

/// How the coordinator's submission reached us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    /// The answer to our POST.
    Direct,
    /// Looked up after the answer to a POST (this run's or a killed run's) was lost.
    FoundAfterLostAnswer,
}

fn record_submission(
    ctx: &Ctx,
    state_file: &crate::state::StateFile,
    state: &State,
    submission: Value,
    patch: &str,
    patch_sha256: &str,
    answer: Answer,
) -> Result<()> {
    let id = text(&submission, "id").unwrap_or_default();
    if id.is_empty() {
        return Err(Error::server("the coordinator's submission has no `id`").with_code("bad_response"));
    }
    let record = SubmissionRecord {
        id: id.clone(),
        claim_id: state.claim.as_ref().map(|c| c.id.clone()).unwrap_or_default(),
        status: text(&submission, "status").unwrap_or_else(|| "pending_verification".into()),
        created_at: text(&submission, "created_at").unwrap_or_default(),
        base_ref: state.task.base_commit.clone(),
        patch_sha256: patch_sha256.to_string(),
        patch_bytes: patch.len() as u64,
        other: toml::Table::new(),
    };
    state_file.update(|fresh| {
        fresh.pending_submission = None;
        if !fresh.submissions.iter().any(|s| s.id == record.id) {
            fresh.submissions.push(record.clone());
        }
        if let Some(claim) = fresh.claim.as_mut().filter(|c| c.id == record.claim_id) {
            claim.status = "submitted".into();
            crate::work_items::mark_completed(claim);
        }
    })?;

    if ctx.out.is_json() {
        return ctx.out.json(&json!({
            "version": 1,
            "submission": submission,
            "patch_bytes": patch.len(),
            "patch_sha256": patch_sha256,
        }));
    }
    let how = match answer {
        Answer::Direct => "",
        Answer::FoundAfterLostAnswer => " (found on the coordinator after a lost answer)",
    };
    ctx.out.line(format!(
        "submitted {}: {} ({} patch bytes){how}",
        ctx.out.paint(Style::Bold, &crate::served_values::one_line(&record.id)),
        crate::served_values::one_line(&record.status),
        record.patch_bytes
    ))?;
    ctx.out.hint("follow it with `git bitsota status`");
    Ok(())
}

/// `implemented_submission_id` as resolved (flag, sidecar, state), replacing the sidecar's.
fn set_implements(body: &mut Value, implements: Option<&(String, Source)>) {
    if let Value::Object(map) = body {
        match implements {
            Some((id, _)) => map.insert("implemented_submission_id".into(), json!(id)),
            None => map.remove("implemented_submission_id"),
        };
    }
}

/// Before signing: the submission named as implemented must be one of this task's carrying a
/// `proposed_idea` (exit 2 otherwise). Says which one is sent and why.
fn check_implements(
    ctx: &Ctx,
    coordinator: &Coordinator,
    state: &State,
    implements: Option<&(String, Source)>,
) -> Result<()> {
    let Some((id, source)) = implements else {
        return Ok(());
    };
    crate::submission_api::fetch_implementable(coordinator, id, &state.task.id, &state.task.slug).map_err(
        |e| e.with_hint(format!("the id came {}; pick one from `git bitsota ideas`", source.words())),
    )?;
    ctx.out.info(format!("implements submission {id} ({})", source.words()));
    Ok(())
}

/// `--dry-run` on a centerless task (or with an idea reference): the idea that will be sent and
/// the submission it implements, checked when the coordinator can be asked.
fn dry_run_implements(
    ctx: &Ctx,
    state: &State,
    sidecar: &Sidecar,
    flag: Option<&str>,
    implements: Option<&(String, Source)>,
) {
    for line in implements::centerless_lines(&state.task, Some(sidecar), state, flag) {
        ctx.out.info(line);
    }
    let Some((id, source)) = implements else {
        return;
    };
    if !state.task.is_centerless() {
        ctx.out.info(format!("implements: submission {} ({})", one_line(id), source.words()));
    }
    let checked = ctx.coordinator(Some(state)).and_then(|coordinator| {
        crate::submission_api::fetch_implementable(&coordinator, id, &state.task.id, &state.task.slug)
    });
    match checked {
        Ok(found) => {
            let idea = crate::submission_api::proposed_idea(&found).unwrap_or_default();
            ctx.out.info(format!("its idea: {}", crate::ideas::first_line(&idea)));
        }
        Err(err) if err.kind() == Kind::Usage => {
            ctx.out.warn(format!("{}; a real submit would refuse", err.message()));
        }
        Err(err) => {
            let id = one_line(id);
            ctx.out.warn(format!("could not check submission {id} on the coordinator: {}", err.message()))
        }
    }
}
