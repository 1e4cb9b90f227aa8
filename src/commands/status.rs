//! `git bitsota status`: the bound task, the claim and its time left, local changes, and the
//! live status of this clone's submissions (refreshed into the state file).

use serde_json::{json, Value};

use crate::check;
use crate::client::Coordinator;
use crate::ctx::Ctx;
use crate::error::{Kind, Result};
use crate::output::Style;
use crate::served_values::metric_words;
use crate::served_values::{cell, has_id, one_line, text};
use crate::state::State;
use crate::timefmt;

/// Below this, the claim's time left is shown as a warning.
const CLAIM_WARN_SECONDS: i64 = 600;

pub fn run(ctx: &Ctx) -> Result<()> {
    let repo = ctx.repo()?;
    let state_file = ctx.state_file(&repo);
    let state = state_file.read_bound()?;
    let task = &state.task;
    let report = check::check_worktree_and_sidecar(&repo, task, false, None)?;

    if !ctx.out.is_json() {
        ctx.out.line(format!(
            "task     {} ({})",
            ctx.out.paint(Style::Bold, &one_line(&task.slug)),
            one_line(&task.id)
        ))?;
        ctx.out.line(format!("base     {} ({})", one_line(&task.base_commit), one_line(&task.base_ref)))?;
        ctx.out.line(format!(
            "metric   {} ({})",
            one_line(&task.metric_name),
            one_line(task.metric_direction.as_str())
        ))?;
        let allowed = report.built.files.iter().filter(|f| f.allowed()).count();
        let refused = report.built.files.len() - allowed;
        ctx.out.line(format!(
            "changes  {allowed} allowed, {refused} refused; patch {} of {} bytes; check {}",
            report.patch_bytes(),
            task.max_patch_bytes,
            if report.ok() {
                ctx.out.paint(Style::Green, "ok")
            } else {
                ctx.out.paint(Style::Red, "has problems")
            }
        ))?;
        for problem in &report.problems {
            ctx.out.line(format!(
                "         {} [{}] {}",
                ctx.out.paint(Style::Red, "problem:"),
                problem.code,
                problem.message
            ))?;
        }
    }

    // Live statuses from the coordinator. Unreachable, the recorded ones are shown instead.
    let coordinator = ctx.coordinator(Some(&state))?;
    let live = fetch_live(&coordinator, &state);
    // Unreachable (or refusing): show what this clone recorded, then exit with the error's
    // code so scripts know the statuses are not live.
    let mut offline = None;
    let (listed, live_claim) = match live {
        Ok(found) => found,
        Err(err) if matches!(err.kind(), Kind::Network | Kind::Server) => {
            ctx.out.warn(format!("{err}; showing the statuses recorded in this clone"));
            offline = Some(err);
            (Vec::new(), None)
        }
        Err(err) => return Err(err),
    };
    // The claim as the coordinator has it now, else as recorded.
    let claim_field = |key: &str, recorded: fn(&crate::state::ClaimRecord) -> &String| {
        live_claim
            .as_ref()
            .and_then(|c| text(c, key))
            .map(|t| one_line(&t))
            .or_else(|| state.claim.as_ref().map(|c| one_line(recorded(c))))
    };
    let claim_status = claim_field("status", |c| &c.status);
    let claim_expires = claim_field("expires_at", |c| &c.expires_at);
    if !ctx.out.is_json() {
        match (&state.claim, &claim_status, &claim_expires) {
            (Some(claim), Some(status), Some(expires)) => ctx.out.line(format!(
                "claim    {} {} ({})",
                claim.id,
                status,
                timefmt::time_left_words(expires)
            ))?,
            _ => ctx.out.line("claim    none (`git bitsota claim`)")?,
        }
        if let Some(item) = state.claim.as_ref().and_then(crate::work_items::noted) {
            work_item_lines(ctx, &item)?;
        }
    }
    if let (Some(status), Some(expires)) = (&claim_status, &claim_expires) {
        let left = timefmt::seconds_left(expires);
        if status == "expired" || (status == "active" && left.is_some_and(|s| s <= 0)) {
            ctx.out.warn("the claim has expired: claim again before submitting");
        } else if let Some(s) = left.filter(|s| status == "active" && *s < CLAIM_WARN_SECONDS) {
            ctx.out.warn(format!("the claim expires in {}", timefmt::duration(s as f64)));
        }
    }

    let mut ours: Vec<Value> = state
        .submissions
        .iter()
        .map(|local| {
            listed.iter().find(|s| has_id(s, &local.id)).cloned().unwrap_or_else(|| {
                json!({"id": local.id, "status": local.status, "created_at": local.created_at, "claim_id": local.claim_id})
            })
        })
        .collect();
    if offline.is_none() {
        crate::peer_review::add_peer_consensus(&coordinator, task, ours.iter_mut())?;
    }

    // Keep the state file's statuses current.
    let fresh = state_file.update(|fresh| {
        for record in fresh.submissions.iter_mut() {
            let served = ours.iter().find(|s| has_id(s, &record.id));
            if let Some(status) = served.and_then(|s| text(s, "status")) {
                record.status = status;
            }
        }
        let served_claim =
            live_claim.as_ref().filter(|c| fresh.claim.as_ref().is_some_and(|local| has_id(c, &local.id)));
        if let (Some(local), Some(served)) = (fresh.claim.as_mut(), served_claim) {
            for (field, value) in [("status", &mut local.status), ("expires_at", &mut local.expires_at)] {
                if let Some(served_value) = text(served, field) {
                    *value = served_value;
                }
            }
        }
        fresh.clone()
    })?;

    if ctx.out.is_json() {
        let claim =
            live_claim.clone().or_else(|| fresh.claim.as_ref().and_then(|c| serde_json::to_value(c).ok()));
        ctx.out.json(&json!({
            "version": 1,
            "task": crate::task::snapshot_json(task),
            "base_commit": task.base_commit,
            "claim": claim,
            "check": report.to_json(),
            "submissions": ours,
            "reviews": fresh.reviews,
            "work_item": fresh.claim.as_ref().and_then(crate::work_items::noted).map(|w| json!({
                "id": w.id, "title": w.title, "instructions": w.instructions, "status": w.status,
            })),
            "live": offline.is_none(),
        }))?;
        return offline.map_or(Ok(()), |err| Err(err.already_reported()));
    }
    if ours.is_empty() {
        ctx.out.line("submissions none yet")?;
    }
    for s in &ours {
        let status = cell(s, "status");
        let style = match status.as_str() {
            "accepted" => Style::Green,
            "rejected" | "error" => Style::Red,
            _ => Style::Yellow,
        };
        let consensus = match s.get("peer_consensus") {
            Some(c) => format!(" peer consensus {}", crate::peer_review::consensus_words(c)),
            None => String::new(),
        };
        ctx.out.line(format!(
            "submission {} {} metric {}{consensus}",
            cell(s, "id"),
            ctx.out.paint(style, &status),
            metric_words(s, &task.metric_name)
        ))?;
    }
    for r in &fresh.reviews {
        ctx.out.line(format!("review   {} {} (sent {})", r.submission_id, r.status, r.sent_at))?;
    }
    offline.map_or(Ok(()), |err| Err(err.already_reported()))
}

/// This task's submissions (only when the clone has made any) and this clone's claim as served.
fn fetch_live(coordinator: &Coordinator, state: &State) -> Result<(Vec<Value>, Option<Value>)> {
    let task = &state.task;
    let listed = if state.submissions.is_empty() {
        Vec::new()
    } else {
        coordinator.list_submissions(Some(&task.id), None)?
    };
    let live_claim = match &state.claim {
        Some(claim) => {
            coordinator.list_claims(Some(&task.id), None)?.into_iter().find(|c| has_id(c, &claim.id))
        }
        None => None,
    };
    Ok((listed, live_claim))
}

/// The claimed work item: id and status, title, instructions (served text, made printable).
fn work_item_lines(ctx: &Ctx, item: &crate::work_items::Noted) -> Result<()> {
    ctx.out.line(format!(
        "work item {} ({}): {}",
        one_line(&item.id),
        one_line(&item.status),
        one_line(&item.title)
    ))?;
    for line in crate::served_values::printable(&item.instructions).lines() {
        ctx.out.line(format!("         {line}"))?;
    }
    Ok(())
}
