//! `git bitsota claim [-m TEXT] [--force]`: signed claim of the bound task; records the claim
//! and shows the participation disclaimer the first time each version is seen. An active claim
//! of this hotkey on the task is adopted instead of making a second one (see `claims`).

use serde_json::{json, Value};

use crate::claims::{self, ClaimRequest};
use crate::cli::ClaimArgs;
use crate::client::{self, Coordinator};
use crate::ctx::Ctx;
use crate::error::{Error, Result};
use crate::output::Style;
use crate::served_values::{one_line, text};
use crate::state::{ClaimRecord, State};
use crate::submission_api;
use crate::timefmt;
use crate::work_items::{self, ItemRequest};

pub fn run(ctx: &Ctx, args: &ClaimArgs) -> Result<()> {
    let repo = ctx.repo()?;
    let state_file = ctx.state_file(&repo);
    let state = state_file.read_bound()?;
    claims::refuse_if_held(&state, args.force)?;
    let coordinator = ctx.coordinator(Some(&state))?;
    let task = coordinator.resolve_task(&state.task.id)?;
    if !client::is_live(&task) {
        return Err(Error::usage(format!(
            "task {} is not open for claims (task_state {}, is_active {})",
            state.task.slug,
            task.get("task_state").unwrap_or(&Value::Null),
            task.get("is_active").unwrap_or(&Value::Null)
        ))
        .with_code("task_not_live"));
    }
    let hotkey = ctx.hotkey()?;
    let (mut obtained, item) = match &args.work_item {
        Some(requested) => {
            let request = ItemRequest {
                requested: requested.as_deref(),
                description: &args.message,
                force: args.force,
            };
            let got = work_items::obtain(&ctx.out, &coordinator, &state_file, &state.task, request, &hotkey)?;
            (got.obtained, Some(got.item))
        }
        None => {
            let base = checked_base(&coordinator, &state, args.base.as_deref())?;
            let request = ClaimRequest { task_id: &state.task.id, work_item_id: None, force: args.force };
            let obtained =
                claims::obtain(&ctx.out, &coordinator, &state_file, hotkey.ss58(), request, || {
                    coordinator.claim_task_on_base(&state.task.id, &args.message, base.as_deref(), &hotkey)
                })?;
            (obtained, None)
        }
    };
    let (claim, id, how) = (obtained.claim.clone(), obtained.id(), obtained.how);
    if id.is_empty() {
        return Err(Error::server("the coordinator's claim has no `id`").with_code("bad_response"));
    }
    let record = claims::record_of(&claim, hotkey.ss58());
    let adoption = obtained.adoption_words();

    // Record the claim even if showing the disclaimer fails later: it exists on the server.
    let disclaimer = claim.get("participation_disclaimer").filter(|d| d.is_object());
    let show_disclaimer = obtained.record(&state_file, hotkey.ss58(), |fresh| {
        if let Some(claim) = fresh.claim.as_mut() {
            // An adopted claim was made without this --base: it does not build on it.
            let base = args.base.as_deref().filter(|_| how == claims::How::Created);
            note_work(claim, &obtained.claim, item.as_ref(), base);
        }
        let d = disclaimer?;
        let key =
            format!("{}@{}", text(d, "code").unwrap_or_default(), text(d, "version").unwrap_or_default());
        if fresh.disclaimers_seen.contains(&key) {
            return None;
        }
        // `--quiet` hides it, so it has not been seen: it is shown by the next claim.
        if !ctx.out.is_quiet() {
            fresh.disclaimers_seen.push(key);
        }
        Some(d)
    })?;
    let others = std::mem::take(&mut obtained.others);
    // Recorded: a second terminal waiting to claim may go on (and sees this claim).
    drop(obtained);

    if let Some(d) = &show_disclaimer {
        let title = text(d, "title").unwrap_or_else(|| "Participation disclaimer".into());
        ctx.out.info(format!("{}: {}", one_line(&title), one_line(&text(d, "summary").unwrap_or_default())));
        if let Some(url) = text(d, "url") {
            ctx.out.info(format!("read it in full: {}", one_line(&url)));
        }
    }
    if !others.is_empty() {
        ctx.out.warn(format!(
            "this hotkey holds other active claims on the task: {}",
            others.iter().map(|id| one_line(id)).collect::<Vec<_>>().join(", ")
        ));
    }
    if ctx.out.is_json() {
        return ctx.out.json(&json!({"version": 1, "claim": claim, "obtained": how.as_str()}));
    }
    if let Some(item) = &item {
        return report_work_item(ctx, &state, &record, item, how == claims::How::Adopted);
    }
    match adoption {
        Some(words) => ctx.out.line(words)?,
        None => ctx.out.line(format!(
            "claimed {} as {}: claim {} ({})",
            ctx.out.paint(Style::Bold, &state.task.slug),
            record.hotkey,
            one_line(&id),
            timefmt::time_left_words(&record.expires_at)
        ))?,
    }
    if let Some(base) = args.base.as_deref() {
        ctx.out.hint(format!("build on it with `git bitsota apply {}`", one_line(base.trim())));
    }
    ctx.out.hint("check with `git bitsota check`, then `git bitsota submit`");
    Ok(())
}

/// `--base`: a submission of this task (exit 2 otherwise), checked before anything is signed.
fn checked_base(coordinator: &Coordinator, state: &State, base: Option<&str>) -> Result<Option<String>> {
    let Some(base) = base else { return Ok(None) };
    let id = submission_api::checked_id(base)?;
    let submission = submission_api::fetch(coordinator, id)?;
    submission_api::ensure_same_task(&submission, id, &state.task.id, &state.task.slug)?;
    Ok(Some(id.to_string()))
}

/// What the claim is for, kept in the state's `[claim]`: the work item, or the base submission.
/// A plain claim that adopted a work-item claim still records the item it is on.
fn note_work(claim: &mut ClaimRecord, served: &Value, item: Option<&Value>, base: Option<&str>) {
    match (item, base) {
        (Some(item), _) => work_items::note_on_claim(claim, item),
        (None, Some(base)) => claim.base_submission_id = Some(base.trim().to_string()),
        (None, None) => {
            if let Some(id) = text(served, "work_item_id").filter(|id| !id.is_empty()) {
                claim.work_item_id = Some(id);
                claim.work_item_status = Some("claimed".into());
            }
            claim.base_submission_id = text(served, "base_submission_id").filter(|b| !b.is_empty());
        }
    }
}

/// A work-item claim: the item's title and instructions, and the submission it builds on.
fn report_work_item(
    ctx: &Ctx,
    state: &State,
    record: &ClaimRecord,
    item: &Value,
    resumed: bool,
) -> Result<()> {
    let verb = if resumed { "resumed" } else { "claimed" };
    ctx.out.line(format!(
        "{verb} work item {} of {} as {}: claim {} ({})",
        ctx.out.paint(Style::Bold, &one_line(&text(item, "id").unwrap_or_default())),
        state.task.slug,
        record.hotkey,
        one_line(&record.id),
        timefmt::time_left_words(&record.expires_at)
    ))?;
    if let Some(title) = text(item, "title").filter(|t| !t.trim().is_empty()) {
        ctx.out.line(format!("title: {}", one_line(&title)))?;
    }
    if let Some(instructions) = text(item, "instructions").filter(|t| !t.trim().is_empty()) {
        ctx.out.line("instructions:")?;
        for line in crate::served_values::printable(&instructions).lines() {
            ctx.out.line(format!("  {line}"))?;
        }
    }
    if let Some(base) = work_items::base_submission(item) {
        ctx.out.hint(format!("this item builds on submission {0}: `git bitsota apply {0}`", one_line(&base)));
    }
    ctx.out.hint("check with `git bitsota check`, then `git bitsota submit`");
    Ok(())
}
