//! Consent before running commands from a task record: they come from the coordinator (or a
//! file given to `init`), not from the miner, so they are shown once and run only after a yes.
//! The answer is remembered per digest of everything that decides what runs.

use serde_json::json;

use crate::error::{Error, Result};
use crate::output::{escape, quote_path, Output, Shown};
use crate::state::{State, StateFile};
use crate::task::TaskSnapshot;

/// SHA-256 of everything from the task record that decides what runs.
pub(crate) fn commands_digest(task: &TaskSnapshot) -> String {
    let mut env = task.benchmark_env();
    env.sort();
    let doc = json!({
        "setup_command": task.setup_command,
        "benchmark_command": task.benchmark_command,
        "validator_benchmark_env": env,
    });
    crate::canonical_json::sha256_hex(doc.to_string().as_bytes())
}

/// The commands come from a task record (the coordinator, or a file given to `init`), not from
/// the miner: show them once and ask before running them.
pub(crate) fn ensure_consent(out: &Output, state_file: &StateFile, state: &State, yes: bool) -> Result<()> {
    ensure_consent_for(out, state_file, state, &state.task, yes)
}

/// As [`ensure_consent`], for the commands of `task` (a replay may run another task's); the
/// answer is remembered only for the bound task's commands.
pub(crate) fn ensure_consent_for(
    out: &Output,
    state_file: &StateFile,
    state: &State,
    task: &TaskSnapshot,
    yes: bool,
) -> Result<()> {
    let digest = commands_digest(task);
    if state.trusted_commands.as_deref() == Some(digest.as_str()) {
        return Ok(());
    }
    if !yes {
        // Every control character made visible (newlines marked): a record cannot show one
        // command here and run another (`\r`, erase-line, concealed text).
        let line = |t: &str| escape(t, Shown::Line);
        let command = |t: &str| escape(t, Shown::Command);
        let mut text = format!(
            "git bitsota is about to run commands from the task record of `{}` (task id {}, fetched {}, stored in {}):",
            line(&task.slug),
            line(&task.id),
            if task.fetched_at.is_empty() {
                "at an unknown time".to_string()
            } else {
                line(&task.fetched_at)
            },
            quote_path(state_file.path())
        );
        if let Some(setup) = &task.setup_command {
            text.push_str(&format!("\n  setup:     {}", command(setup)));
        }
        text.push_str(&format!("\n  benchmark: {}", command(&task.benchmark_command)));
        for (key, value) in task.benchmark_env() {
            text.push_str(&format!("\n  env:       {}={}", line(&key), command(&value)));
        }
        text.push_str("\nThey run with `sh -c` in the repository root, as validators run them.");
        out.warn(text);
        match out.confirm("Run these commands (asked once for this set of commands)?")? {
            Some(true) => {}
            Some(false) => {
                return Err(Error::usage("not running the task's commands").with_code("consent_refused"));
            }
            None => {
                return Err(Error::usage(
                    "running the task's commands needs your consent, and there is no terminal to ask on",
                )
                .with_code("consent_required")
                .with_hint("review the commands above, then run the same command again with --yes"));
            }
        }
    }
    state_file.update(|fresh| {
        // Only remember consent for the commands that were shown.
        if commands_digest(&fresh.task) == digest {
            fresh.trusted_commands = Some(digest);
        }
    })
}
