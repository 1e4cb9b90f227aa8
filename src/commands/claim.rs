//! `git bitsota claim [-m TEXT] [--force]`: signed claim of the bound task; records the claim
//! and shows the participation disclaimer the first time each version is seen.

use serde_json::{json, Value};

use crate::cli::ClaimArgs;
use crate::client::{self, Coordinator};
use crate::ctx::Ctx;
use crate::error::{Error, Result};
use crate::output::Style;
use crate::served::{one_line, text};
use crate::state::ClaimRecord;
use crate::timefmt;
use crate::work_items;

pub fn run(ctx: &Ctx, args: &ClaimArgs) -> Result<()> {
    let repo = ctx.repo()?;
    let state_file = ctx.state_file(&repo);
    let state = state_file.read_bound()?;
    if let Some(claim) = &state.claim {
        if claim.status == "active"
            && timefmt::seconds_left(&claim.expires_at).is_some_and(|s| s > 0)
            && !args.force
        {
            return Err(Error::usage(format!(
                "this clone already holds an active claim ({}, {})",
                claim.id,
                timefmt::time_left_words(&claim.expires_at)
            ))
            .with_code("claim_active")
            .with_hint("submit with it, cancel it with `git bitsota cancel`, or claim again with --force"));
        }
    }
    let coordinator = Coordinator::from_ctx(ctx, Some(&state))?;
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
    let (claim, work_item) = match &args.work_item {
        Some(requested) => {
            let claimed =
                work_items::claim(&coordinator, &state.task, requested.as_deref(), &args.message, &hotkey)?;
            (claimed.claim.clone(), Some(claimed))
        }
        None => (direct_claim(&coordinator, &state, args, &hotkey)?, None),
    };
    let id = text(&claim, "id").unwrap_or_default();
    if id.is_empty() {
        return Err(Error::server("the coordinator's claim has no `id`").with_code("bad_response"));
    }
    let mut record = ClaimRecord {
        id: id.clone(),
        hotkey: hotkey.ss58().to_string(),
        status: text(&claim, "status").unwrap_or_else(|| "active".into()),
        created_at: text(&claim, "created_at").unwrap_or_default(),
        expires_at: text(&claim, "expires_at").unwrap_or_default(),
        other: toml::Table::new(),
    };
    if let Some(claimed) = &work_item {
        work_items::note_on_claim(&mut record, &claimed.item);
    } else if let Some(base) = args.base.as_deref() {
        record.other.insert(work_items::KEY_BASE.into(), toml::Value::String(base.trim().to_string()));
    }

    // Record the claim even if showing the disclaimer fails later: it exists on the server.
    let disclaimer = claim.get("participation_disclaimer").filter(|d| d.is_object());
    let show_disclaimer = state_file.update(|fresh| {
        fresh.claim = Some(record.clone());
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

    if let Some(d) = &show_disclaimer {
        let title = text(d, "title").unwrap_or_else(|| "Participation disclaimer".into());
        ctx.out.info(format!(
            "{}: {}",
            ctx.out.paint_err(Style::Bold, &one_line(&title)),
            one_line(&text(d, "summary").unwrap_or_default())
        ));
        if let Some(url) = text(d, "url") {
            ctx.out.info(format!("read it in full: {}", one_line(&url)));
        }
    }
    if ctx.out.is_json() {
        return ctx.out.json(&json!({"version": 1, "claim": claim}));
    }
    if let Some(claimed) = &work_item {
        return report_work_item(ctx, &state, &record, claimed);
    }
    ctx.out.line(format!(
        "claimed {} as {}: claim {} ({})",
        ctx.out.paint(Style::Bold, &state.task.slug),
        record.hotkey,
        id,
        timefmt::time_left_words(&record.expires_at)
    ))?;
    if let Some(base) = args.base.as_deref() {
        ctx.out.hint(format!("build on it with `git bitsota apply {}`", base.trim()));
    }
    ctx.out.hint("check with `git bitsota check`, then `git bitsota submit`");
    Ok(())
}

/// A direct claim of the task, with `--base` checked to be a submission of this task first.
fn direct_claim(
    coordinator: &Coordinator,
    state: &crate::state::State,
    args: &ClaimArgs,
    hotkey: &crate::keys::Hotkey,
) -> Result<Value> {
    let base = match args.base.as_deref() {
        Some(base) => {
            let id = crate::submission_api::checked_id(base)?;
            let submission = crate::submission_api::fetch(coordinator, id)?;
            crate::submission_api::ensure_same_task(&submission, id, &state.task.id, &state.task.slug)?;
            Some(id.to_string())
        }
        None => None,
    };
    coordinator.claim_task_on_base(&state.task.id, &args.message, base.as_deref(), hotkey)
}

/// What a work-item claim holds: the item's title and instructions, and its base submission.
fn report_work_item(
    ctx: &Ctx,
    state: &crate::state::State,
    record: &ClaimRecord,
    claimed: &work_items::Claimed,
) -> Result<()> {
    let item = &claimed.item;
    let verb = if claimed.resumed { "resumed" } else { "claimed" };
    ctx.out.line(format!(
        "{verb} work item {} of {} as {}: claim {} ({})",
        ctx.out.paint(Style::Bold, &one_line(&text(item, "id").unwrap_or_default())),
        state.task.slug,
        record.hotkey,
        record.id,
        timefmt::time_left_words(&record.expires_at)
    ))?;
    if let Some(title) = text(item, "title").filter(|t| !t.trim().is_empty()) {
        ctx.out.line(format!("title: {}", one_line(&title)))?;
    }
    if let Some(instructions) = text(item, "instructions").filter(|t| !t.trim().is_empty()) {
        ctx.out.line("instructions:")?;
        for line in crate::served::printable(&instructions).lines() {
            ctx.out.line(format!("  {line}"))?;
        }
    }
    if let Some(base) = work_items::base_submission(item) {
        ctx.out.hint(format!("this item builds on submission {0}: `git bitsota apply {0}`", one_line(&base)));
    }
    ctx.out.hint("check with `git bitsota check`, then `git bitsota submit`");
    Ok(())
}
