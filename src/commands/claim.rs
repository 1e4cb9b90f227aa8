//! `git bitsota claim [-m TEXT] [--force]`: signed claim of the bound task; records the claim
//! and shows the participation disclaimer the first time each version is seen. An active claim
//! of this hotkey on the task is adopted instead of making a second one (see `claims`).

use serde_json::{json, Value};

use crate::claims::{self, ClaimRequest};
use crate::cli::ClaimArgs;
use crate::client;
use crate::ctx::Ctx;
use crate::error::{Error, Result};
use crate::output::Style;
use crate::served::{one_line, text};
use crate::timefmt;

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
    let request = ClaimRequest { task_id: &state.task.id, work_item_id: None, force: args.force };
    let mut obtained = claims::obtain(&ctx.out, &coordinator, &state_file, hotkey.ss58(), request, || {
        coordinator.claim_task(&state.task.id, &args.message, &hotkey)
    })?;
    let (claim, id, how) = (obtained.claim.clone(), obtained.id(), obtained.how);
    if id.is_empty() {
        return Err(Error::server("the coordinator's claim has no `id`").with_code("bad_response"));
    }
    let record = claims::record_of(&claim, hotkey.ss58());
    let adoption = obtained.adoption_words();

    // Record the claim even if showing the disclaimer fails later: it exists on the server.
    let disclaimer = claim.get("participation_disclaimer").filter(|d| d.is_object());
    let show_disclaimer = obtained.record(&state_file, hotkey.ss58(), |fresh| {
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
        ctx.out.info(format!(
            "{}: {}",
            ctx.out.paint_err(Style::Bold, &one_line(&title)),
            one_line(&text(d, "summary").unwrap_or_default())
        ));
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
    match adoption {
        Some(words) => ctx.out.line(words)?,
        None => ctx.out.line(format!(
            "claimed {} as {}: claim {} ({})",
            ctx.out.paint(Style::Bold, &state.task.slug),
            record.hotkey,
            id,
            timefmt::time_left_words(&record.expires_at)
        ))?,
    }
    ctx.out.hint("check with `git bitsota check`, then `git bitsota submit`");
    Ok(())
}
