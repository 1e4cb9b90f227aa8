//! Pool work items (protocol.md §4.6, cli.md §10.2): planner-made sub-tasks of a task, listed
//! in the order the reference client picks them, claimed one at a time with a signed request,
//! and remembered in the state's `[claim]` (`work_item_id`, title, instructions, status).

use std::cmp::Ordering;

use serde_json::{json, Map, Value};

use crate::claims::{self, ClaimRequest, Obtained};
use crate::client::Coordinator;
use crate::error::{Error, Result};
use crate::keys::Hotkey;
use crate::output::Output;
use crate::served_values::{one_line, text};
use crate::state::{ClaimRecord, StateFile};
use crate::task::TaskSnapshot;

/// `GET /api/v1/work-items?task_id=…&status=…` (unsigned), ordered by [`compare`]. Items of
/// other tasks (a server ignoring the filter) are dropped.
pub fn list(coordinator: &Coordinator, task_id: &str, status: Option<&str>) -> Result<Vec<Value>> {
    let mut query = vec![("task_id".to_string(), task_id.to_string())];
    if let Some(status) = status {
        query.push(("status".to_string(), status.to_string()));
    }
    let what = "GET /api/v1/work-items";
    let items = match coordinator.get_json("/api/v1/work-items", &query, None)? {
        Value::Array(items) => items,
        Value::Null => Vec::new(),
        other => {
            return Err(Error::server(format!(
                "the coordinator's answer to {what} is not a JSON array: {}",
                one_line(&crate::served_values::shorten(&other.to_string(), 200))
            ))
            .with_code("bad_response"));
        }
    };
    let mut items: Vec<Value> = items
        .into_iter()
        .filter(|i| i.is_object() && text(i, "task_id").is_none_or(|t| t == task_id))
        .filter(|i| status.is_none_or(|s| text(i, "status").is_none_or(|have| have == s)))
        .collect();
    items.sort_by(compare);
    Ok(items)
}

/// The reference's pick order: `priority` descending, then `created_at` ascending (as strings).
pub fn compare(a: &Value, b: &Value) -> Ordering {
    let priority = |i: &Value| i.get("priority").and_then(Value::as_f64).unwrap_or(0.0);
    let created = |i: &Value| text(i, "created_at").unwrap_or_default();
    priority(b).total_cmp(&priority(a)).then_with(|| created(a).cmp(&created(b)))
}

/// A work item's `base_submission_id`, when it names one.
pub fn base_submission(item: &Value) -> Option<String> {
    text(item, "base_submission_id").map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// What `claim --work-item` got: the claim (created, or this hotkey's active claim on the item
/// taken up again), not yet recorded, and its item.
pub struct ItemClaim {
    pub obtained: Obtained,
    pub item: Value,
}

/// Which work item to claim and how (`claim --work-item [ID] [-m TEXT] [--force]`).
#[derive(Debug, Clone, Copy)]
pub struct ItemRequest<'a> {
    /// The item's id; `None` resumes this hotkey's item, else takes the first open one.
    pub requested: Option<&'a str>,
    pub description: &'a str,
    /// Claim although the clone holds an active claim.
    pub force: bool,
}

/// Claim a work item of `task` for `hotkey`: `requested` names it, else the item whose claim
/// is this hotkey's active claim on the task is resumed, else the first open item is taken.
/// Refuses (exit 2) before signing when there is no such item, or another claim holds it.
/// Creating goes through [`claims::obtain`] (request lock, adoption, lost answers).
pub fn obtain(
    out: &Output,
    coordinator: &Coordinator,
    state_file: &StateFile,
    task: &TaskSnapshot,
    request: ItemRequest<'_>,
    hotkey: &Hotkey,
) -> Result<ItemClaim> {
    let ItemRequest { requested, description, force } = request;
    let me = hotkey.ss58();
    let mine: Vec<Value> = coordinator
        .list_claims(Some(&task.id), Some("active"))?
        .into_iter()
        .filter(|c| {
            text(c, "miner_hotkey").as_deref() == Some(me) && text(c, "status").as_deref() == Some("active")
        })
        .filter(|c| text(c, "task_id").is_none_or(|t| t == task.id))
        .collect();
    // The active claim of mine that holds `item`: the claim names the item, or the item its claim.
    let held_by_me = |item: &Value| -> Option<Value> {
        let item_id = text(item, "id")?;
        let item_claim = text(item, "claim_id");
        mine.iter()
            .find(|c| {
                text(c, "work_item_id").as_deref() == Some(item_id.as_str())
                    || (item_claim.is_some() && text(c, "id") == item_claim)
            })
            .cloned()
    };
    let claimed = list(coordinator, &task.id, Some("claimed"))?;
    let resume = |claim: Value, item: Value| -> Result<ItemClaim> {
        Ok(ItemClaim { obtained: claims::adopt(out, state_file, claim)?, item })
    };

    let item = match requested {
        Some(wanted) => {
            let wanted = crate::submission_api::checked_id(wanted).map_err(|_| {
                Error::usage(format!("{:?} is not a valid work item id", one_line(wanted)))
                    .with_code("bad_id")
            })?;
            let open = list(coordinator, &task.id, Some("open"))?;
            let found = open.iter().chain(claimed.iter()).find(|i| text(i, "id").as_deref() == Some(wanted));
            let Some(item) = found.cloned() else {
                return Err(Error::usage(format!("{} has no open or claimed work item {wanted}", task.slug))
                    .with_code("no_work_item")
                    .with_hint("list them with `git bitsota work-items` (or `--status claimed`)"));
            };
            if let Some(claim) = held_by_me(&item) {
                return resume(claim, item);
            }
            if text(&item, "status").as_deref() != Some("open") {
                return Err(Error::usage(format!(
                    "work item {wanted} is {} by another claim{}",
                    one_line(&text(&item, "status").unwrap_or_default()),
                    text(&item, "claim_id").map(|c| format!(" ({})", one_line(&c))).unwrap_or_default()
                ))
                .with_code("work_item_taken")
                .with_hint("pick an open one from `git bitsota work-items`"));
            }
            item
        }
        None => {
            if let Some((item, claim)) = claimed.iter().find_map(|i| held_by_me(i).map(|c| (i.clone(), c))) {
                return resume(claim, item);
            }
            let open = list(coordinator, &task.id, Some("open"))?;
            match open.into_iter().find(|i| text(i, "status").as_deref() == Some("open")) {
                Some(item) => item,
                None => {
                    return Err(Error::usage(format!("no open work items for {}", task.slug))
                        .with_code("no_open_work_items")
                        .with_hint(
                            "see every item with `git bitsota work-items --status claimed` or `--status completed`",
                        ));
                }
            }
        }
    };

    let id = text(&item, "id").unwrap_or_default();
    let id = crate::submission_api::checked_id(&id)
        .map_err(|_| {
            Error::server("the coordinator served a work item without a usable `id`")
                .with_code("bad_response")
        })?
        .to_string();
    let request = ClaimRequest { task_id: &task.id, work_item_id: Some(&id), force };
    let obtained = claims::obtain(out, coordinator, state_file, me, request, || {
        post_claim(coordinator, &id, &item, description, hotkey)
    })?;
    Ok(ItemClaim { obtained, item })
}

/// Signed `POST /api/v1/work-items/{id}/claim` with `claim_description` and the item's
/// `base_submission_id` when it names one; the claim as served.
fn post_claim(
    coordinator: &Coordinator,
    id: &str,
    item: &Value,
    description: &str,
    hotkey: &Hotkey,
) -> Result<Value> {
    let mut body = Map::new();
    body.insert("claim_description".into(), json!(description));
    if let Some(base) = base_submission(item) {
        body.insert("base_submission_id".into(), json!(base));
    }
    let path = format!("/api/v1/work-items/{id}/claim");
    let claim = coordinator.post_json(&path, &Value::Object(body), hotkey)?;
    if !claim.is_object() {
        return Err(Error::server(format!("the coordinator's answer to POST {path} is not a claim object"))
            .with_code("bad_response"));
    }
    Ok(claim)
}

/// Remember the work item in the state's `[claim]`.
pub fn note_on_claim(record: &mut ClaimRecord, item: &Value) {
    let served = |key: &str| text(item, key).filter(|v| !v.is_empty());
    record.work_item_id = served("id");
    record.work_item_title = served("title");
    record.work_item_instructions = served("instructions");
    record.work_item_status = Some("claimed".into());
    record.base_submission_id = base_submission(item);
}

/// The work item a claim record holds.
pub struct Noted {
    pub id: String,
    pub title: String,
    pub instructions: String,
    pub status: String,
}

pub fn noted(record: &ClaimRecord) -> Option<Noted> {
    let id = record.work_item_id.clone().filter(|id| !id.is_empty())?;
    let or_empty = |v: &Option<String>| v.clone().unwrap_or_default();
    Some(Noted {
        id,
        title: or_empty(&record.work_item_title),
        instructions: or_empty(&record.work_item_instructions),
        status: or_empty(&record.work_item_status),
    })
}

/// After a successful submit with this claim: the item is done.
pub fn mark_completed(record: &mut ClaimRecord) {
    if record.work_item_id.is_some() {
        record.work_item_status = Some("completed".into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priority_descending_then_oldest_first() {
        let mut items = [
            json!({"id": "low", "priority": 1, "created_at": "2026-01-01T00:00:00Z"}),
            json!({"id": "high-new", "priority": 5, "created_at": "2026-01-03T00:00:00Z"}),
            json!({"id": "high-old", "priority": 5, "created_at": "2026-01-02T00:00:00Z"}),
            json!({"id": "none", "created_at": "2025-01-01T00:00:00Z"}),
        ];
        items.sort_by(compare);
        let ids: Vec<&str> = items.iter().map(|i| i["id"].as_str().unwrap()).collect();
        assert_eq!(ids, ["high-old", "high-new", "low", "none"]);
    }
}
