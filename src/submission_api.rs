//! Submissions as the coordinator serves them, read by id (`GET /api/v1/submissions/{id}`),
//! and the checks every caller needs before building on one: it belongs to the bound task,
//! and (for an idea reference) it carries a `proposed_idea`.

use serde_json::Value;

use crate::client::Coordinator;
use crate::error::{Error, Result};
use crate::served_values::{one_line, text};

/// `GET /api/v1/submissions/{id}` (unsigned): the submission object as served. A 404 is the
/// coordinator's refusal (exit 5) with its detail; an answer that is not an object is exit 5.
pub fn fetch(coordinator: &Coordinator, id: &str) -> Result<Value> {
    let id = checked_id(id)?;
    let path = format!("/api/v1/submissions/{id}");
    match coordinator.get_json(&path, &[], None)? {
        value @ Value::Object(_) => Ok(value),
        other => Err(Error::server(format!(
            "the coordinator's answer to GET {path} is not a submission object: {}",
            one_line(&crate::served_values::shorten(&other.to_string(), 200))
        ))
        .with_code("bad_response")),
    }
}

/// An id typed by the user, used as a path segment: it is signed as-is elsewhere, so only
/// characters that need no escaping are taken (exit 2 otherwise).
pub fn checked_id(id: &str) -> Result<&str> {
    let id = id.trim();
    let ok = !id.is_empty()
        && id.len() <= 128
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.~".contains(&b))
        && id != "."
        && id != "..";
    if ok {
        Ok(id)
    } else {
        Err(Error::usage(format!("{:?} is not a valid submission id", one_line(id))).with_code("bad_id"))
    }
}

/// The submission's task id as served (`task_id`), if any.
pub fn task_id(submission: &Value) -> Option<String> {
    text(submission, "task_id").filter(|t| !t.is_empty())
}

/// The submission's non-empty `proposed_idea`, trimmed.
pub fn proposed_idea(submission: &Value) -> Option<String> {
    text(submission, "proposed_idea").map(|i| i.trim().to_string()).filter(|i| !i.is_empty())
}

/// Refuse (exit 2) a submission that is not one of `task_id`'s.
pub fn ensure_same_task(submission: &Value, id: &str, task_id: &str, task_slug: &str) -> Result<()> {
    match self::task_id(submission) {
        Some(t) if t == task_id => Ok(()),
        Some(t) => Err(Error::usage(format!(
            "submission {id} belongs to another task ({}), not to {task_slug}",
            one_line(&t)
        ))
        .with_code("other_task")
        .with_hint("list this task's submissions with `git bitsota submissions` or `git bitsota ideas`")),
        None => Err(Error::usage(format!(
            "submission {id} does not say which task it belongs to (no `task_id`); refusing to use it for {task_slug}"
        ))
        .with_code("other_task")),
    }
}

/// Fetch `id` and check that it can be named in `implemented_submission_id` for this task: a
/// submission of the task carrying a `proposed_idea`. Anything else is exit 2, before any
/// request is signed. Returns the submission.
pub fn fetch_implementable(
    coordinator: &Coordinator,
    id: &str,
    task_id: &str,
    task_slug: &str,
) -> Result<Value> {
    let id = checked_id(id)?;
    let submission = match fetch(coordinator, id) {
        Ok(s) => s,
        Err(err) if err.code() == "not_found" => {
            return Err(Error::usage(format!("submission {id} is not on the coordinator"))
                .with_code("bad_implements")
                .with_source(err)
                .with_hint("pick one from `git bitsota ideas`"));
        }
        Err(err) => return Err(err),
    };
    ensure_same_task(&submission, id, task_id, task_slug).map_err(|e| {
        Error::usage(format!("cannot implement submission {id}: {}", e.message()))
            .with_code("bad_implements")
            .with_hint("pick one from `git bitsota ideas`")
    })?;
    if proposed_idea(&submission).is_none() {
        return Err(Error::usage(format!(
            "submission {id} carries no proposed_idea, so it cannot be implemented"
        ))
        .with_code("bad_implements")
        .with_hint("pick one from `git bitsota ideas`"));
    }
    Ok(submission)
}
