//! `git bitsota ideas [--all]`: the ideas other miners proposed on a centerless task, the ones
//! worth building on first.

use serde_json::{json, Value};

use crate::cli::IdeasArgs;
use crate::ctx::Ctx;
use crate::error::Result;
use crate::ideas;
use crate::served_values::metric_words;
use crate::served_values::{cell, shorten};
use crate::submission_api::proposed_idea;

pub fn run(ctx: &Ctx, args: &IdeasArgs) -> Result<()> {
    let repo = ctx.repo()?;
    let state = ctx.state_file(&repo).read_bound()?;
    let task = &state.task;
    if !ideas::task_has_ideas(task) {
        ctx.out.info(format!(
            "{} is a {} task: its submissions carry no ideas (only centerless tasks have them)",
            task.slug,
            crate::served_values::one_line(task.competition_mode.as_str())
        ));
        if ctx.out.is_json() {
            ctx.out.json(&json!({"version": 1, "ideas": []}))?;
        }
        return Ok(());
    }
    let coordinator = ctx.coordinator(Some(&state))?;
    let me = my_hotkey(ctx, &state);
    let listed = ideas::fetch(&coordinator, &task.id, me.as_deref(), args.all)?;
    if ctx.out.is_json() {
        let items: Vec<Value> = listed.iter().map(ideas::to_json).collect();
        return ctx.out.json(&json!({"version": 1, "ideas": items}));
    }
    if listed.is_empty() {
        ctx.out.info(format!(
            "no ideas on {} yet{}",
            task.slug,
            if args.all { "" } else { " (--all adds rejected ones)" }
        ));
        return Ok(());
    }
    let rows: Vec<Vec<String>> = listed
        .iter()
        .map(|s| {
            let miner = cell(s, "miner_hotkey");
            let miner =
                if me.as_deref() == Some(miner.as_str()) { "(you)".to_string() } else { shorten(&miner, 10) };
            vec![
                cell(s, "id"),
                cell(s, "status"),
                miner,
                metric_words(s, &task.metric_name),
                shorten(&ideas::first_line(&proposed_idea(s).unwrap_or_default()), 60),
            ]
        })
        .collect();
    for line in crate::output::table(&["ID", "STATUS", "MINER", "METRIC (obs / claimed)", "IDEA"], &rows) {
        ctx.out.line(line)?;
    }
    ctx.out.hint("build on one with `git bitsota apply ID` (it records the idea you implement)");
    Ok(())
}

/// This miner's ss58 for ordering: the claim's hotkey, else the signing hotkey when it loads;
/// unknown is fine (nothing is then sorted as "mine").
fn my_hotkey(ctx: &Ctx, state: &crate::state::State) -> Option<String> {
    if let Some(claim) = &state.claim {
        return Some(claim.hotkey.clone());
    }
    ctx.hotkey().ok().map(|k| k.ss58().to_string())
}
