//! `git bitsota cancel`: signed cancel of this clone's claim.

use serde_json::json;

use crate::client::Coordinator;
use crate::ctx::Ctx;
use crate::error::{Error, Result};
use crate::served::text;

pub fn run(ctx: &Ctx) -> Result<()> {
    let repo = ctx.repo()?;
    let state_file = ctx.state_file(&repo);
    let state = state_file.read_bound()?;
    let Some(claim) = &state.claim else {
        return Err(Error::usage("this clone holds no claim").with_code("claim_missing"));
    };
    let coordinator = Coordinator::from_ctx(ctx, Some(&state))?;
    let hotkey = ctx.hotkey()?;
    let served = coordinator.cancel_claim(&claim.id, &hotkey)?;
    state_file.update(|fresh| {
        if let Some(local) = fresh.claim.as_mut().filter(|c| c.id == claim.id) {
            local.status = text(&served, "status").unwrap_or_else(|| "cancelled".into());
        }
    })?;
    if ctx.out.is_json() {
        return ctx.out.json(&json!({"version": 1, "claim": served}));
    }
    ctx.out.line(format!("cancelled claim {}", crate::served::one_line(&claim.id)))
}
