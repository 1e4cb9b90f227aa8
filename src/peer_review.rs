//! Peer consensus of submissions on `peer_evaluation` tasks (protocol.md §4.8): fetched for
//! `review`, `status` and `submissions`, and how it reads on one line.

use serde_json::Value;

use crate::client::Coordinator;
use crate::error::Result;
use crate::served_values::{one_line, text};
use crate::task::{CompetitionMode, TaskSnapshot};

/// The consensus object, or null when the coordinator has none for it (404).
pub fn consensus_or_null(coordinator: &Coordinator, id: &str) -> Result<Value> {
    match coordinator.peer_consensus(id) {
        Ok(value) => Ok(value),
        Err(err) if err.code() == "not_found" => Ok(Value::Null),
        Err(err) => Err(err),
    }
}

/// On a peer_evaluation task, `peer_consensus` (as served, or null) on each submission.
pub fn add_peer_consensus<'a>(
    coordinator: &Coordinator,
    task: &TaskSnapshot,
    submissions: impl Iterator<Item = &'a mut Value>,
) -> Result<()> {
    if task.competition_mode != CompetitionMode::PeerEvaluation {
        return Ok(());
    }
    for s in submissions {
        if let (Some(id), Value::Object(map)) = (text(s, "id"), &mut *s) {
            map.insert("peer_consensus".into(), consensus_or_null(coordinator, &id)?);
        }
    }
    Ok(())
}

/// `accepted/required` (and the status when decided), or `-`.
pub fn consensus_words(consensus: &Value) -> String {
    if consensus.is_null() {
        return "-".into();
    }
    let number = |k: &str| consensus.get(k).and_then(Value::as_u64);
    let status = text(consensus, "status").map(|s| one_line(&s));
    match (number("accepted_count"), number("required"), status) {
        (Some(a), Some(r), Some(s)) if s != "pending" => format!("{a}/{r} {s}"),
        (Some(a), Some(r), _) => format!("{a}/{r}"),
        (_, _, Some(s)) => s,
        _ => "-".into(),
    }
}
