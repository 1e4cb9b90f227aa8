//! The coordinator's routes this client uses (protocol.md §4), typed by what they answer, and
//! looking a task up by id or slug.

use serde_json::{json, Value};

use super::{quote_text, Coordinator};
use crate::error::{Error, Result};
use crate::keys::Hotkey;

impl Coordinator {
    /// `GET /api/v1/tasks`: every task record as served.
    pub fn list_tasks(&self) -> Result<Vec<Value>> {
        let value = self.get_json("/api/v1/tasks", &[], None)?;
        expect_array(value, "GET /api/v1/tasks")
    }

    /// A task record by id (exact) or slug (case-insensitive, trimmed), through the listing
    /// (the single-task route is not confirmed to exist). Unknown → exit 2 listing live slugs.
    pub fn resolve_task(&self, task: &str) -> Result<Value> {
        let tasks = self.list_tasks()?;
        find_task(&tasks, task).cloned().ok_or_else(|| unknown_task(task, &tasks))
    }

    /// `GET /api/v1/tasks/{id}/onboard.md`.
    pub fn onboard(&self, task_id: &str) -> Result<String> {
        self.get_text(&format!("/api/v1/tasks/{}/onboard.md", path_segment(task_id)?))
    }

    /// Signed `POST /api/v1/tasks/{id}/claim` with `claim_description` (and
    /// `base_submission_id` when given); the claim as served.
    pub fn claim_task_on_base(
        &self,
        task_id: &str,
        description: &str,
        base_submission_id: Option<&str>,
        hotkey: &Hotkey,
    ) -> Result<Value> {
        let path = format!("/api/v1/tasks/{}/claim", path_segment(task_id)?);
        let mut body = json!({"claim_description": description});
        if let Some(base) = base_submission_id.filter(|b| !b.is_empty()) {
            body["base_submission_id"] = json!(base);
        }
        let claim = self.post_json(&path, &body, hotkey)?;
        expect_object(claim, &format!("POST {path}"))
    }

    /// Signed `POST /api/v1/claims/{id}/cancel`, no body; the claim as served.
    pub fn cancel_claim(&self, claim_id: &str, hotkey: &Hotkey) -> Result<Value> {
        let path = format!("/api/v1/claims/{}/cancel", path_segment(claim_id)?);
        let claim = self.post_empty(&path, hotkey)?;
        expect_object(claim, &format!("POST {path}"))
    }

    /// Signed `POST /api/v1/submissions` (body fields per protocol.md §4.7), 120 s, never
    /// retried here: the caller decides after checking what the server recorded.
    pub fn create_submission(&self, body: &Value, hotkey: &Hotkey) -> Result<Value> {
        let submission = self.post_json("/api/v1/submissions", body, hotkey)?;
        expect_object(submission, "POST /api/v1/submissions")
    }

    /// `GET /api/v1/submissions?task_id=&status=` (unsigned).
    pub fn list_submissions(&self, task_id: Option<&str>, status: Option<&str>) -> Result<Vec<Value>> {
        let query = filters(&[("task_id", task_id), ("status", status)]);
        expect_array(self.get_json("/api/v1/submissions", &query, None)?, "GET /api/v1/submissions")
    }

    /// `GET /api/v1/submissions/{id}` (unsigned): one submission as served.
    pub fn get_submission(&self, id: &str) -> Result<Value> {
        let path = format!("/api/v1/submissions/{}", path_segment(id)?);
        expect_object(self.get_json(&path, &[], None)?, &format!("GET {path}"))
    }

    /// `GET /api/v1/submissions/{id}/peer-consensus` (unsigned).
    pub fn peer_consensus(&self, submission_id: &str) -> Result<Value> {
        let path = format!("/api/v1/submissions/{}/peer-consensus", path_segment(submission_id)?);
        expect_object(self.get_json(&path, &[], None)?, &format!("GET {path}"))
    }

    /// `GET /api/v1/peer-evaluations?submission_id=&evaluator_hotkey=` (unsigned).
    pub fn peer_evaluations(
        &self,
        submission_id: &str,
        evaluator_hotkey: Option<&str>,
    ) -> Result<Vec<Value>> {
        let query =
            filters(&[("submission_id", Some(submission_id)), ("evaluator_hotkey", evaluator_hotkey)]);
        expect_array(self.get_json("/api/v1/peer-evaluations", &query, None)?, "GET /api/v1/peer-evaluations")
    }

    /// Signed `POST /api/v1/submissions/{id}/peer-evaluate`; never retried here.
    pub fn peer_evaluate(&self, submission_id: &str, body: &Value, hotkey: &Hotkey) -> Result<Value> {
        let path = format!("/api/v1/submissions/{}/peer-evaluate", path_segment(submission_id)?);
        expect_object(self.post_json(&path, body, hotkey)?, &format!("POST {path}"))
    }

    /// `GET /api/v1/claims?task_id=&status=` (unsigned).
    pub fn list_claims(&self, task_id: Option<&str>, status: Option<&str>) -> Result<Vec<Value>> {
        let query = filters(&[("task_id", task_id), ("status", status)]);
        expect_array(self.get_json("/api/v1/claims", &query, None)?, "GET /api/v1/claims")
    }
}

/// Find a task by exact id, else by slug (case-insensitive, trimmed).
pub fn find_task<'a>(tasks: &'a [Value], wanted: &str) -> Option<&'a Value> {
    let wanted = wanted.trim();
    tasks.iter().find(|t| t.get("id").and_then(Value::as_str) == Some(wanted)).or_else(|| {
        tasks.iter().find(|t| {
            t.get("slug").and_then(Value::as_str).is_some_and(|s| s.trim().eq_ignore_ascii_case(wanted))
        })
    })
}

/// `task_state == "live" && is_active`, as the docs filter.
pub fn is_live(task: &Value) -> bool {
    task.get("task_state").and_then(Value::as_str) == Some("live")
        && task.get("is_active").and_then(Value::as_bool) == Some(true)
}

fn unknown_task(wanted: &str, tasks: &[Value]) -> Error {
    let live: Vec<String> = tasks
        .iter()
        .filter(|t| is_live(t))
        .filter_map(|t| t.get("slug").and_then(Value::as_str))
        .map(crate::served_values::one_line)
        .collect();
    let hint = if live.is_empty() {
        "the coordinator lists no live task right now (`git bitsota tasks --all` shows every task)"
            .to_string()
    } else {
        format!("live tasks: {}", live.join(", "))
    };
    Error::usage(format!("no task with slug or id {wanted:?} on the coordinator"))
        .with_code("unknown_task")
        .with_hint(hint)
}

fn filters(pairs: &[(&str, Option<&str>)]) -> Vec<(String, String)> {
    pairs.iter().filter_map(|(k, v)| v.map(|v| (k.to_string(), v.to_string()))).collect()
}

/// An id used as a path segment: it is signed as-is, so it must need no escaping.
fn path_segment(id: &str) -> Result<&str> {
    let ok = !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.~".contains(&b));
    if ok && id != "." && id != ".." {
        Ok(id)
    } else {
        Err(Error::usage(format!("{id:?} is not a valid coordinator id")).with_code("bad_id"))
    }
}

fn expect_array(value: Value, what: &str) -> Result<Vec<Value>> {
    match value {
        Value::Array(items) => Ok(items),
        Value::Null => Ok(Vec::new()),
        other => Err(Error::server(format!(
            "the coordinator's answer to {what} is not a JSON array: {}",
            quote_text(&other.to_string())
        ))
        .with_code("bad_response")),
    }
}

fn expect_object(value: Value, what: &str) -> Result<Value> {
    match value {
        Value::Object(_) => Ok(value),
        Value::Null => Ok(json!({})),
        other => Err(Error::server(format!(
            "the coordinator's answer to {what} is not a JSON object: {}",
            quote_text(&other.to_string())
        ))
        .with_code("bad_response")),
    }
}
