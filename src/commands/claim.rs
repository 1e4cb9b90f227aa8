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
    let claim = coordinator.claim_task(&state.task.id, &args.message, &hotkey)?;
    let id = text(&claim, "id").unwrap_or_default();
    if id.is_empty() {
        return Err(Error::server("the coordinator's claim has no `id`").with_code("bad_response"));
    }
    let record = ClaimRecord {
        id: id.clone(),
        hotkey: hotkey.ss58().to_string(),
        status: text(&claim, "status").unwrap_or_else(|| "active".into()),
        created_at: text(&claim, "created_at").unwrap_or_default(),
        expires_at: text(&claim, "expires_at").unwrap_or_default(),
        other: toml::Table::new(),
    };

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
        ctx.out.info(format!("{}: {}", one_line(&title), one_line(&text(d, "summary").unwrap_or_default())));
        if let Some(url) = text(d, "url") {
            ctx.out.info(format!("read it in full: {}", one_line(&url)));
        }
    }
    if ctx.out.is_json() {
        return ctx.out.json(&json!({"version": 1, "claim": claim}));
    }
    ctx.out.line(format!(
        "claimed {} as {}: claim {} ({})",
        ctx.out.paint(Style::Bold, &state.task.slug),
        record.hotkey,
        one_line(&id),
        timefmt::time_left_words(&record.expires_at)
    ))?;
    ctx.out.hint("check with `git bitsota check`, then `git bitsota submit`");
    Ok(())
}
