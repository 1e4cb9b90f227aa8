//! `git bitsota submissions [--mine] [--status S]`: the bound task's submissions.

use serde_json::{json, Value};

use crate::cli::SubmissionsArgs;
use crate::ctx::Ctx;
use crate::error::Result;
use crate::served_values::{cell, metric_words, shorten};

pub fn run(ctx: &Ctx, args: &SubmissionsArgs) -> Result<()> {
    let repo = ctx.repo()?;
    let state = ctx.state_file(&repo).read_bound()?;
    let coordinator = ctx.coordinator(Some(&state))?;
    let mine = if args.mine { Some(ctx.hotkey()?.ss58().to_string()) } else { None };
    let listed = coordinator.list_submissions(Some(&state.task.id), args.status.as_deref())?;
    let listed: Vec<Value> = listed
        .into_iter()
        .filter(|s| {
            mine.as_deref().is_none_or(|me| s.get("miner_hotkey").and_then(Value::as_str) == Some(me))
        })
        .collect();
    // This clone's own submissions on a peer_evaluation task carry their consensus.
    let mut listed = listed;
    let own = |s: &Value| state.submissions.iter().any(|r| crate::served_values::has_id(s, &r.id));
    crate::peer_review::add_peer_consensus(&coordinator, &state.task, listed.iter_mut().filter(|s| own(s)))?;
    if ctx.out.is_json() {
        return ctx.out.json(&json!({"version": 1, "submissions": listed}));
    }
    if listed.is_empty() {
        return ctx.out.line("no submissions");
    }
    let rows: Vec<Vec<String>> = listed.iter().map(|s| row(s, &state.task.metric_name)).collect();
    let header = ["ID", "STATUS", "MINER", "CREATED", "METRIC (observed / claimed)"];
    for line in crate::output::table(&header, &rows) {
        ctx.out.line(line)?;
    }
    Ok(())
}

/// One table row: id, status, shortened hotkey, time, metric (and the peer consensus).
fn row(s: &Value, metric: &str) -> Vec<String> {
    let consensus = match s.get("peer_consensus") {
        Some(c) => format!("  peer consensus {}", crate::peer_review::consensus_words(c)),
        None => String::new(),
    };
    vec![
        cell(s, "id"),
        cell(s, "status"),
        shorten(&cell(s, "miner_hotkey"), 10),
        cell(s, "created_at").chars().take(19).collect::<String>(),
        format!("{}{consensus}", metric_words(s, metric)),
    ]
}
