//! `git bitsota cancel`: signed cancel of this clone's claim.
//!
//! Under the clone's request lock: a claim another run already cancelled is not cancelled
//! again; a cancel whose answer was lost is looked up (the claims listing) and recorded as
//! cancelled when the coordinator did cancel it, now or on the next run (`[pending_cancel]`).

use serde_json::{json, Value};

use crate::claims;
use crate::ctx::Ctx;
use crate::error::{Error, Result};
use crate::mutation::{self, MutationGuard};
use crate::served_values::text;
use crate::state::StateFile;

pub fn run(ctx: &Ctx) -> Result<()> {
    let repo = ctx.repo()?;
    let state_file = ctx.state_file(&repo);
    let state = state_file.read_bound()?;
    if state.claim.is_none() {
        return Err(no_claim());
    }
    let coordinator = ctx.coordinator(Some(&state))?;
    let hotkey = ctx.hotkey()?;

    let _guard = MutationGuard::acquire(&state_file, &ctx.out, "cancelling")?;
    // Decide on what is recorded now: another run may have cancelled while this one waited.
    let state = state_file.read_bound()?;
    let Some(claim) = state.claim else {
        return Err(no_claim());
    };
    if claim.status == "cancelled" {
        ctx.out.info(format!("claim {} is already cancelled; nothing sent", claim.id));
        return show(ctx, &claim.id, &json!({"id": claim.id, "status": claim.status}));
    }
    let task_id = state.task.id.as_str();
    let pending = state.pending_cancel.as_deref() == Some(claim.id.as_str());
    if pending {
        ctx.out.info("a previous cancel lost its answer; looking the claim up on the coordinator first");
        if let Some(served) = claims::find(&coordinator, task_id, &claim.id)?.filter(is_cancelled) {
            return record_cancelled(ctx, &state_file, &claim.id, served);
        }
    }

    mark_pending(&state_file, Some(&claim.id))?;
    match coordinator.cancel_claim(&claim.id, &hotkey) {
        Ok(served) => record_cancelled(ctx, &state_file, &claim.id, served),
        Err(err) if mutation::answer_lost(&err) => {
            ctx.out.warn("the coordinator's answer was lost; checking whether the claim was cancelled");
            match claims::find(&coordinator, task_id, &claim.id) {
                Ok(Some(served)) if is_cancelled(&served) => {
                    record_cancelled(ctx, &state_file, &claim.id, served)
                }
                Ok(found) => {
                    mark_pending(&state_file, None)?;
                    let status =
                        found.as_ref().and_then(|c| text(c, "status")).unwrap_or("not listed".into());
                    ctx.out
                        .warn(format!("the coordinator did not cancel claim {} (status {status})", claim.id));
                    Err(err.with_hint("run `git bitsota cancel` again"))
                }
                Err(_) => Err(err.with_hint(
                    "run `git bitsota cancel` again: it looks the claim up on the coordinator first",
                )),
            }
        }
        Err(err) => {
            mark_pending(&state_file, None)?;
            Err(err)
        }
    }
}

fn no_claim() -> Error {
    Error::usage("this clone holds no claim").with_code("claim_missing")
}

fn is_cancelled(claim: &Value) -> bool {
    text(claim, "status").as_deref() == Some("cancelled")
}

fn record_cancelled(ctx: &Ctx, state_file: &StateFile, claim_id: &str, served: Value) -> Result<()> {
    state_file.update(|fresh| {
        fresh.pending_cancel = None;
        if let Some(local) = fresh.claim.as_mut().filter(|c| c.id == claim_id) {
            local.status = text(&served, "status").unwrap_or_else(|| "cancelled".into());
        }
    })?;
    show(ctx, claim_id, &served)
}

fn show(ctx: &Ctx, claim_id: &str, served: &Value) -> Result<()> {
    if ctx.out.is_json() {
        return ctx.out.json(&json!({"version": 1, "claim": served}));
    }
    ctx.out.line(format!("cancelled claim {}", crate::served_values::one_line(claim_id)))
}

/// Remember (or forget) a cancel in flight, so a lost answer is looked up next time.
fn mark_pending(state_file: &StateFile, claim_id: Option<&str>) -> Result<()> {
    state_file.update(|state| state.pending_cancel = claim_id.map(str::to_string))
}
