//! Which submission's idea this work implements (`implemented_submission_id`, protocol.md
//! §4.7, §8.3): `apply` records it in the state, the sidecar may name it, and `submit
//! --implements` overrides both.

use crate::sidecar::Sidecar;
use crate::state::State;

/// Where the value sent as `implemented_submission_id` came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Flag,
    Sidecar,
    State,
}

impl Source {
    pub fn words(self) -> &'static str {
        match self {
            Source::Flag => "from --implements",
            Source::Sidecar => "from the sidecar's implemented_submission_id",
            Source::State => "recorded by `git bitsota apply`",
        }
    }
}

/// The state's recorded value, if any.
pub fn recorded(state: &State) -> Option<String> {
    state.implements.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string)
}

/// The flag, else the sidecar's value, else the state's.
pub fn resolve(flag: Option<&str>, sidecar: Option<&Sidecar>, state: &State) -> Option<(String, Source)> {
    let flag = flag.map(str::trim).filter(|f| !f.is_empty());
    if let Some(id) = flag {
        return Some((id.to_string(), Source::Flag));
    }
    if let Some(id) = sidecar.and_then(Sidecar::implemented_submission_id) {
        return Some((id.to_string(), Source::Sidecar));
    }
    recorded(state).map(|id| (id, Source::State))
}

/// For a centerless task, the lines `check` and `submit --dry-run` show: the idea the sidecar
/// will send, and the submission it implements with where that came from. Empty otherwise.
pub fn centerless_lines(
    task: &crate::task::TaskSnapshot,
    sidecar: Option<&Sidecar>,
    state: &State,
    flag: Option<&str>,
) -> Vec<String> {
    if !task.is_centerless() {
        return Vec::new();
    }
    let idea = match sidecar.and_then(Sidecar::proposed_idea) {
        Some(idea) => format!("idea: {}", crate::ideas::first_line(idea)),
        None => {
            "idea: none yet (set `proposed_idea` in submission.json: centerless tasks need one)".to_string()
        }
    };
    let implements = match resolve(flag, sidecar, state) {
        Some((id, source)) => {
            format!("implements: submission {} ({})", crate::served_values::one_line(&id), source.words())
        }
        None => "implements: nothing (`git bitsota ideas` lists ideas to build on)".to_string(),
    };
    vec![idea, implements]
}
