//! A coding agent run by `git bitsota run` (cli.md §10.4): its command line (placeholders
//! replaced), its environment (the caller's minus every `BITSOTA_HOTKEY_*` variable, plus the
//! reference client's `BITSOTA_AGENT_*` / `BITSOTA_RESEARCH_*` variables), consent before the
//! first run of a command, and one run on the shared runner: from the work-tree root, in its
//! own process group, stdin closed, output streamed and logged, everything it started killed
//! at the deadline.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::canonical_json::sha256_hex;
use crate::error::{Error, Result};
use crate::output::live::Tee;
use crate::output::Output;
use crate::repo::Repo;
use crate::runner::{run_process, CommandRun, LogFile, SECRET_PREFIX};
use crate::state::{State, StateFile};

/// Set in the agent's environment; signing refuses to work where it is set (see `Ctx::hotkey`).
pub const AGENT_MARKER: &str = "BITSOTA_AGENT_REPO_DIR";

/// The paths the agent is told about (and the placeholders stand for).
pub struct AgentPaths<'a> {
    pub repo_dir: &'a Path,
    pub intro: &'a Path,
    pub submission: &'a Path,
}

/// `{repo_dir}`, `{intro_path}` and `{submission_path}` replaced in every argument.
pub fn substitute(argv: &[String], paths: &AgentPaths) -> Vec<String> {
    let text = |p: &Path| p.to_string_lossy().into_owned();
    argv.iter()
        .map(|arg| {
            arg.replace("{repo_dir}", &text(paths.repo_dir))
                .replace("{intro_path}", &text(paths.intro))
                .replace("{submission_path}", &text(paths.submission))
        })
        .collect()
}

/// The reference client's variables for the agent.
pub fn agent_env(state: &State, coordinator_url: String, paths: &AgentPaths) -> Vec<(String, String)> {
    let text = |p: &Path| p.to_string_lossy().into_owned();
    let mut env = vec![
        (AGENT_MARKER.to_string(), text(paths.repo_dir)),
        ("BITSOTA_AGENT_INTRO_PATH".to_string(), text(paths.intro)),
        ("BITSOTA_AGENT_SUBMISSION_PATH".to_string(), text(paths.submission)),
        ("BITSOTA_RESEARCH_TASK_ID".to_string(), state.task.id.clone()),
        ("BITSOTA_RESEARCH_TASK_SLUG".to_string(), state.task.slug.clone()),
        ("BITSOTA_RESEARCH_COORDINATOR_URL".to_string(), coordinator_url),
    ];
    if let Some(claim) = state.claim.as_ref().filter(|c| c.is_live()) {
        env.push(("BITSOTA_RESEARCH_CLAIM_ID".to_string(), claim.id.clone()));
    }
    env
}

/// Run the agent once from the work-tree root, its output streamed and logged.
pub(crate) fn run_agent(
    out: &Output,
    repo: &Repo,
    argv: &[String],
    env: &[(String, String)],
    timeout: Duration,
    log_path: &Path,
) -> Result<CommandRun> {
    use std::os::unix::ffi::OsStrExt;
    let mut cmd = Command::new(program_path(&argv[0]));
    cmd.args(&argv[1..]).current_dir(repo.work_tree());
    // The hotkey's secrets (and the files naming them) are not the agent's business.
    for (key, _) in std::env::vars_os() {
        if key.as_bytes().starts_with(SECRET_PREFIX.as_bytes()) {
            cmd.env_remove(&key);
        }
    }
    for (key, value) in env {
        cmd.env(key, value);
    }
    let shown = shell_words(argv);
    let mut log = LogFile::create(log_path, out)?;
    log.line(&format!("# git bitsota run: agent, {}", crate::timefmt::now_rfc3339()));
    log.line(&format!("# directory: {}", repo.work_tree().display()));
    log.line(&format!("# timeout: {} s", timeout.as_secs()));
    let started = Instant::now();
    let mut tee = Tee::new(out, "cycle", started, timeout);
    let run = run_process(cmd, &shown, "agent", started + timeout, &mut log, &mut tee)?;
    Ok(run)
}

/// A relative program path (`./agent.sh`) means the caller's directory, as in their shell,
/// not the work-tree root the agent starts in; a bare name is looked up on PATH.
fn program_path(program: &str) -> std::path::PathBuf {
    let path = Path::new(program);
    if path.is_relative() && program.contains('/') {
        if let Ok(cwd) = std::env::current_dir() {
            return cwd.join(path);
        }
    }
    path.to_path_buf()
}

/// The command as one line for people (arguments with spaces quoted).
pub fn shell_words(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            if !a.is_empty() && a.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+{}".contains(c)) {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// SHA-256 of the agent command as given (before placeholders are replaced).
fn agent_digest(argv: &[String]) -> String {
    sha256_hex(serde_json::to_string(argv).unwrap_or_default().as_bytes())
}

/// An agent command runs with the miner's rights: show it and ask before its first run.
pub fn ensure_agent_consent(
    out: &Output,
    work_tree: &Path,
    state_file: &StateFile,
    state: &State,
    argv: &[String],
    yes: bool,
) -> Result<()> {
    let digest = agent_digest(argv);
    if state.trusted_agents.contains(&digest) {
        return Ok(());
    }
    if !yes {
        out.warn(format!(
            "run starts this agent command in {}:\n  {}\nIt runs as you, with your environment minus BITSOTA_HOTKEY_*, \
             and can read and change whatever you can.",
            work_tree.display(),
            crate::served_values::one_line(&shell_words(argv))
        ));
        match out.confirm("Run this agent command (asked once for this command)?")? {
            Some(true) => {}
            Some(false) => return Err(Error::usage("not running the agent").with_code("consent_refused")),
            None => {
                return Err(Error::usage(
                    "run needs your consent to start the agent command, and there is no terminal to ask on",
                )
                .with_code("consent_required")
                .with_hint("review the command above, then run `git bitsota run --yes -- …`"));
            }
        }
    }
    state_file.update(|fresh| {
        if !fresh.trusted_agents.contains(&digest) {
            fresh.trusted_agents.push(digest);
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_replaced_in_every_argument_and_shown_quoted() {
        let paths = AgentPaths {
            repo_dir: Path::new("/r"),
            intro: Path::new("/r/.git/bitsota/brief.md"),
            submission: Path::new("/r/submission.json"),
        };
        let argv: Vec<String> =
            ["agent", "--in={repo_dir}", "{intro_path}{intro_path}", "{submission_path}", "{other}"]
                .map(String::from)
                .to_vec();
        assert_eq!(
            substitute(&argv, &paths),
            [
                "agent",
                "--in=/r",
                "/r/.git/bitsota/brief.md/r/.git/bitsota/brief.md",
                "/r/submission.json",
                "{other}"
            ]
        );
        assert_eq!(
            shell_words(&["sh".into(), "-c".into(), "echo 'hi' $X".into()]),
            r#"sh -c 'echo '\''hi'\'' $X'"#
        );
    }
}
