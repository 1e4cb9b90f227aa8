//! Getting a claim without ever orphaning one: adopt this hotkey's active claim before
//! creating a new one, and after a lost answer look up what the coordinator made.
//!
//! Used by `claim` (plain or on a work item) and by anything else that claims for the user
//! (the agent's `run --submit`): [`obtain`] decides, sends and looks up under the clone's
//! [`MutationGuard`], and [`Obtained::record`] writes the result into the state while the
//! guard is still held, so a second terminal sees it.
//!
//! While a claim request is in flight the state carries `[pending_claim]` with the ids of the
//! active claims that existed before it. A run killed before recording leaves it behind; the
//! next run (even with `--force`) adopts a claim the coordinator made since then instead of
//! making another.

use serde_json::Value;

use crate::client::Coordinator;
use crate::error::{Error, Result};
use crate::mutation::{self, MutationGuard};
use crate::output::Output;
use crate::served_values::{one_line, text};
use crate::state::{ClaimRecord, PendingClaim, State, StateFile};
use crate::timefmt;

/// What to claim and how.
#[derive(Debug, Clone, Copy)]
pub struct ClaimRequest<'a> {
    pub task_id: &'a str,
    /// Only a claim on this work item is adopted (`claim --work-item`); `None` takes any.
    pub work_item_id: Option<&'a str>,
    /// Create a new claim even though one is active (locally or on the coordinator).
    pub force: bool,
}

/// How the claim was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum How {
    /// The coordinator answered the create request.
    Created,
    /// An active claim of this hotkey that the coordinator already held.
    Adopted,
    /// Made by a create request whose answer was lost (this run's or a killed run's).
    FoundAfterLostAnswer,
}

impl How {
    pub fn as_str(self) -> &'static str {
        match self {
            How::Created => "created",
            How::Adopted => "adopted",
            How::FoundAfterLostAnswer => "found_after_lost_answer",
        }
    }
}

/// A claim obtained under the clone's request lock, not yet recorded.
pub struct Obtained {
    /// The claim as served (by the create request or by the claims listing).
    pub claim: Value,
    pub how: How,
    /// Ids of other active claims of this hotkey on the task that were left alone.
    pub others: Vec<String>,
    _guard: MutationGuard,
}

impl Obtained {
    pub fn id(&self) -> String {
        text(&self.claim, "id").unwrap_or_default()
    }

    /// Record the claim as the clone's `[claim]` and forget the in-flight marker, in one
    /// write; `extra` adds what the caller keeps (disclaimer bookkeeping, work item). The
    /// request lock is released when `self` is dropped, after this.
    pub fn record<T>(
        &self,
        state_file: &StateFile,
        hotkey: &str,
        extra: impl FnOnce(&mut State) -> T,
    ) -> Result<T> {
        let record = record_of(&self.claim, hotkey);
        state_file.update(|fresh| {
            fresh.pending_claim = None;
            fresh.claim = Some(record);
            extra(fresh)
        })
    }

    /// "adopted active claim <id> (created 3m 02s ago, 41m 58s left)", or `None` for a
    /// created claim.
    pub fn adoption_words(&self) -> Option<String> {
        let what = match self.how {
            How::Created => return None,
            How::Adopted => "adopted active claim",
            How::FoundAfterLostAnswer => "adopted the claim made by a request whose answer was lost:",
        };
        let created = text(&self.claim, "created_at").unwrap_or_default();
        let created = match timefmt::seconds_left(&created) {
            Some(s) if s <= 0 => format!("{} ago", timefmt::duration(-s as f64)),
            Some(_) => "just now".to_string(),
            None => one_line(&created),
        };
        let expires = text(&self.claim, "expires_at").unwrap_or_default();
        Some(format!(
            "{what} {} (created {created}, {})",
            one_line(&self.id()),
            timefmt::time_left_words(&expires)
        ))
    }
}

/// Take up `claim`, an active claim of this hotkey the caller found (a work item it holds),
/// under the clone's request lock, without sending anything.
pub fn adopt(out: &Output, state_file: &StateFile, claim: Value) -> Result<Obtained> {
    let guard = MutationGuard::acquire(state_file, out, "claiming")?;
    Ok(Obtained { claim, how: How::Adopted, others: Vec::new(), _guard: guard })
}

/// Refuse while the clone holds a claim that is still active (unless `force`). Not while a
/// claim request of a killed run is pending: [`obtain`] first adopts what that request made.
pub fn refuse_if_held(state: &State, force: bool) -> Result<()> {
    if state.pending_claim.is_some() {
        return Ok(());
    }
    refuse_held_claim(state, force)
}

fn refuse_held_claim(state: &State, force: bool) -> Result<()> {
    let Some(claim) = &state.claim else { return Ok(()) };
    if force || !claim.is_live() {
        return Ok(());
    }
    Err(Error::usage(format!(
        "this clone already holds an active claim ({}, {})",
        claim.id,
        timefmt::time_left_words(&claim.expires_at)
    ))
    .with_code("claim_active")
    .with_hint("submit with it, cancel it with `git bitsota cancel`, or claim again with --force"))
}

/// Obtain a claim for `hotkey`: under the clone's request lock, refuse while the clone holds
/// an active claim (unless `force`), adopt this hotkey's active claim on the task (unless
/// `force`), else send `create`; when its answer is lost, look up once and adopt what the
/// coordinator made. The caller records the result with [`Obtained::record`].
pub fn obtain(
    out: &Output,
    coordinator: &Coordinator,
    state_file: &StateFile,
    hotkey: &str,
    request: ClaimRequest<'_>,
    create: impl FnOnce() -> Result<Value>,
) -> Result<Obtained> {
    let guard = MutationGuard::acquire(state_file, out, "claiming")?;
    let state = state_file.read_bound()?;
    // Another run may have recorded a claim while this one waited.
    refuse_if_held(&state, request.force)?;

    let active = coordinator.list_claims(Some(request.task_id), Some("active"))?;
    let pending = pending_known(&state);
    let local = state.claim.as_ref().map(|c| c.id.as_str());
    let mine: Vec<&Value> = active.iter().filter(|c| adoptable(c, hotkey, request.work_item_id)).collect();
    if let Some(known) = &pending {
        // A killed run's request may have made a claim: take it, even with --force.
        if let Some(found) = newest(mine.iter().copied().filter(|c| unknown(c, known, local))) {
            out.info("a previous claim lost its answer; the coordinator made it, adopting it");
            return Ok(obtained(found, How::FoundAfterLostAnswer, &mine, guard));
        }
    }
    refuse_held_claim(&state, request.force)?;
    if !request.force {
        if let Some(found) = newest(mine.iter().copied()) {
            return Ok(obtained(found, How::Adopted, &mine, guard));
        }
    }

    let known: Vec<String> = active.iter().filter_map(|c| text(c, "id")).collect();
    mark_pending(state_file, Some(&known))?;
    match create() {
        Ok(claim) => Ok(Obtained { claim, how: How::Created, others: Vec::new(), _guard: guard }),
        Err(err) if mutation::answer_lost(&err) => {
            out.warn("the coordinator's answer was lost; checking whether the claim was made");
            let looked = coordinator.list_claims(Some(request.task_id), Some("active"));
            let Ok(after) = looked else {
                return Err(err.with_hint(
                    "run `git bitsota claim` again: it adopts the claim if the coordinator made it",
                ));
            };
            let made: Vec<&Value> = after
                .iter()
                .filter(|c| adoptable(c, hotkey, request.work_item_id))
                .filter(|c| unknown(c, &known, local))
                .collect();
            match newest(made.iter().copied()) {
                Some(found) => Ok(obtained(found, How::FoundAfterLostAnswer, &made, guard)),
                None => {
                    // The marker stays: the request may still be processed after this look-up.
                    out.warn("the coordinator holds no claim made by this request: nothing was created");
                    Err(err.with_hint("run `git bitsota claim` again"))
                }
            }
        }
        Err(err) => {
            // A definite refusal: nothing was made, nothing is pending.
            mark_pending(state_file, None)?;
            Err(err)
        }
    }
}

/// The claim `claim_id` of the task as the coordinator lists it (there is no single-claim
/// route); `None` when it is not listed.
pub fn find(coordinator: &Coordinator, task_id: &str, claim_id: &str) -> Result<Option<Value>> {
    let listed = coordinator.list_claims(Some(task_id), None)?;
    Ok(listed.into_iter().find(|c| text(c, "id").as_deref() == Some(claim_id)))
}

/// The state's record of a served claim made for `hotkey`.
pub fn record_of(claim: &Value, hotkey: &str) -> ClaimRecord {
    ClaimRecord {
        id: text(claim, "id").unwrap_or_default(),
        hotkey: hotkey.to_string(),
        status: text(claim, "status").unwrap_or_else(|| "active".into()),
        created_at: text(claim, "created_at").unwrap_or_default(),
        expires_at: text(claim, "expires_at").unwrap_or_default(),
        work_item_id: None,
        work_item_title: None,
        work_item_instructions: None,
        work_item_status: None,
        base_submission_id: None,
        other: toml::Table::new(),
    }
}

/// A claim of `hotkey`, active and not known to be expired (an unreadable expiry is the
/// coordinator's to judge), on `work_item` when one is asked for.
fn adoptable(claim: &Value, hotkey: &str, work_item: Option<&str>) -> bool {
    let mine = text(claim, "miner_hotkey").as_deref() == Some(hotkey);
    let active = text(claim, "status").as_deref() == Some("active");
    let expires = text(claim, "expires_at").unwrap_or_default();
    let unexpired = timefmt::seconds_left(&expires).is_none_or(|s| s > 0);
    let on_item = work_item.is_none_or(|item| text(claim, "work_item_id").as_deref() == Some(item));
    let has_id = text(claim, "id").is_some_and(|id| !id.is_empty());
    mine && active && unexpired && on_item && has_id
}

/// A claim neither listed before the request (`known`) nor the clone's recorded one.
fn unknown(claim: &Value, known: &[String], local: Option<&str>) -> bool {
    text(claim, "id").is_some_and(|id| !known.contains(&id) && Some(id.as_str()) != local)
}

/// The claim with the most time left (the newest one).
fn newest<'a>(claims: impl Iterator<Item = &'a Value>) -> Option<&'a Value> {
    claims.max_by_key(|c| {
        let expires = text(c, "expires_at").unwrap_or_default();
        timefmt::seconds_left(&expires).unwrap_or(i64::MAX)
    })
}

fn obtained(found: &Value, how: How, candidates: &[&Value], guard: MutationGuard) -> Obtained {
    let id = text(found, "id");
    let others = candidates.iter().filter_map(|c| text(c, "id")).filter(|c| Some(c) != id.as_ref()).collect();
    Obtained { claim: found.clone(), how, others, _guard: guard }
}

/// The active claim ids recorded before a claim request that has not been recorded yet.
fn pending_known(state: &State) -> Option<Vec<String>> {
    state.pending_claim.as_ref().map(|p| p.known.clone())
}

/// Remember (or forget) a claim request in flight and the active claims that existed before.
fn mark_pending(state_file: &StateFile, known: Option<&[String]>) -> Result<()> {
    state_file.update(|state| {
        state.pending_claim =
            known.map(|known| PendingClaim { at: timefmt::now_rfc3339(), known: known.to_vec() });
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claim(id: &str, hotkey: &str, status: &str, expires_in: i64) -> Value {
        let at = time::OffsetDateTime::now_utc() + time::Duration::seconds(expires_in);
        let expires = at.format(&time::format_description::well_known::Rfc3339).unwrap();
        json!({"id": id, "miner_hotkey": hotkey, "status": status, "expires_at": expires})
    }

    #[test]
    fn only_this_hotkeys_active_unexpired_claims_are_adoptable() {
        assert!(adoptable(&claim("a", "me", "active", 60), "me", None));
        assert!(!adoptable(&claim("a", "you", "active", 60), "me", None));
        assert!(!adoptable(&claim("a", "me", "submitted", 60), "me", None));
        assert!(!adoptable(&claim("a", "me", "active", -1), "me", None));
        assert!(!adoptable(&claim("", "me", "active", 60), "me", None));
        let mut on_item = claim("a", "me", "active", 60);
        on_item["work_item_id"] = json!("w1");
        assert!(adoptable(&on_item, "me", Some("w1")));
        assert!(!adoptable(&on_item, "me", Some("w2")));
        assert!(!adoptable(&claim("a", "me", "active", 60), "me", Some("w1")));
        assert!(adoptable(&on_item, "me", None));
    }

    #[test]
    fn the_claim_with_most_time_left_wins() {
        let claims = [claim("old", "me", "active", 60), claim("new", "me", "active", 600)];
        assert_eq!(newest(claims.iter()).unwrap()["id"], "new");
        assert!(newest([].iter()).is_none());
    }
}
