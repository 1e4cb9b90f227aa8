//! `git bitsota work-items [--status S]`: the bound task's pool work items, in the order
//! `claim --work-item` picks them.

use serde_json::json;

use crate::cli::WorkItemsArgs;
use crate::ctx::Ctx;
use crate::error::Result;
use crate::served_values::{cell, shorten};
use crate::work_items;

pub fn run(ctx: &Ctx, args: &WorkItemsArgs) -> Result<()> {
    let repo = ctx.repo()?;
    let state = ctx.state_file(&repo).read_bound()?;
    let coordinator = ctx.coordinator(Some(&state))?;
    let status = args.status.trim();
    let items = work_items::list(&coordinator, &state.task.id, Some(status))?;
    if ctx.out.is_json() {
        return ctx.out.json(&json!({"version": 1, "work_items": items}));
    }
    if items.is_empty() {
        ctx.out.info(format!(
            "no {} work items for {}",
            crate::served_values::one_line(status),
            state.task.slug
        ));
        return Ok(());
    }
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|item| {
            vec![
                cell(item, "id"),
                cell(item, "priority"),
                cell(item, "status"),
                shorten(&cell(item, "title"), 40),
                cell(item, "base_submission_id"),
            ]
        })
        .collect();
    for line in crate::output::table(&["ID", "PRIORITY", "STATUS", "TITLE", "BASE SUBMISSION"], &rows) {
        ctx.out.line(line)?;
    }
    if status == "open" {
        ctx.out
            .hint("take the first with `git bitsota claim --work-item`, or one by id with `--work-item ID`");
    }
    Ok(())
}
