//! The agent's brief, `<git dir>/bitsota/brief.md` (cli.md §10.4): what a coding agent needs to
//! work on the bound task without reading our code: the task, what may change, the sidecar's
//! fields, the commands to check its own work, the onboarding notes, and other miners' ideas.
//!
//! Everything from the task record, the coordinator or other miners is untrusted text: it is
//! kept (the agent needs it) but stripped of control characters and fenced as quoted material.

use std::path::{Path, PathBuf};

use crate::error::{Result, ResultExt};
use crate::repo::Repo;
use crate::task::TaskSnapshot;

/// What goes into the brief besides the task snapshot.
pub struct BriefInputs<'a> {
    pub task: &'a TaskSnapshot,
    pub repo_dir: &'a Path,
    pub submission_path: &'a Path,
    /// The onboarding markdown (fresh or cached), when there is one.
    pub onboard: Option<&'a str>,
    /// Other miners' ideas (centerless tasks), one text each, when they could be fetched.
    pub ideas: Option<&'a [String]>,
    /// How long each cycle of the agent may run, and how many cycles there are.
    pub agent_timeout_seconds: u64,
    pub cycles: u64,
}

pub fn path(repo: &Repo) -> PathBuf {
    repo.git_dir().join("bitsota").join("brief.md")
}

/// Where the onboarding markdown is cached, so the brief can be written offline.
pub fn onboard_cache_path(repo: &Repo) -> PathBuf {
    repo.git_dir().join("bitsota").join("onboard.md")
}

/// Write the brief atomically; returns its path.
pub fn write(repo: &Repo, inputs: &BriefInputs) -> Result<PathBuf> {
    let path = path(repo);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).or_usage(|| format!("cannot create {}", dir.display()))?;
    }
    crate::fsutil::write_atomic(&path, render(inputs).as_bytes(), None)
        .or_usage(|| format!("cannot write the brief {}", path.display()))?;
    Ok(path)
}

/// Untrusted text kept readable: control characters other than newlines and tabs removed.
fn clean(text: &str) -> String {
    text.chars().filter(|c| !c.is_control() || *c == '\n' || *c == '\t').collect()
}

/// One line of untrusted text.
fn clean_line(text: &str) -> String {
    crate::served_values::one_line(text).trim().to_string()
}

/// Quote untrusted markdown so its headings cannot pose as this brief's sections.
fn quoted(text: &str) -> String {
    clean(text.trim_end())
        .lines()
        .map(|l| if l.is_empty() { ">".to_string() } else { format!("> {l}") })
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn render(inputs: &BriefInputs) -> String {
    let task = inputs.task;
    let mut s = String::new();
    let direction = if task.maximize() { "maximize: higher is better" } else { "minimize: lower is better" };
    s.push_str(&format!("# BitSota task `{}`\n\n", clean_line(&task.slug)));
    if !task.title.trim().is_empty() {
        s.push_str(&format!("{}\n\n", clean_line(&task.title)));
    }
    s.push_str(&format!(
        "You are working in a git clone of the task repository: `{}`.\n\
         Improve the task metric by editing the allowed files. Every time you stop, your work is\n\
         gated exactly as validators would judge it, and kept as an attempt; the miner decides\n\
         what is submitted. You cannot and must not submit or claim anything yourself.\n\n\
         You have {} s per run ({} run(s) in all; the work tree stays as you leave it between\n\
         runs). After that you, and everything you started, are stopped.\n\n",
        inputs.repo_dir.display(),
        inputs.agent_timeout_seconds,
        inputs.cycles
    ));

    s.push_str("## The task\n\n");
    s.push_str(&format!("- metric: `{}` ({direction})\n", clean_line(&task.metric_name)));
    s.push_str(&format!("- competition mode: {}\n", clean_line(task.competition_mode.as_str())));
    s.push_str(&format!(
        "- time budget: {} s for the setup and the benchmark together; validators stop the run after that\n",
        task.time_budget_seconds
    ));
    if let Some(setup) = &task.setup_command {
        s.push_str(&format!("- setup command: `{}`\n", clean_line(setup)));
    }
    s.push_str(&format!("- benchmark command: `{}`\n", clean_line(&task.benchmark_command)));
    if let Some(result) = &task.result_path {
        s.push_str(&format!("- the benchmark writes its result to `{}`\n", clean_line(result)));
    }
    s.push_str(&format!("- base commit: {}\n\n", task.base_commit));

    s.push_str("## What you may change\n\n");
    if task.allowed_patch_paths.is_empty() {
        s.push_str("- nothing: this task allows no path (every patch is rejected)\n");
    } else {
        s.push_str("Only paths matching one of these patterns (Python `fnmatch`: `*` also matches `/`):\n\n");
        for pattern in &task.allowed_patch_paths {
            s.push_str(&format!("- `{}`\n", clean_line(pattern)));
        }
        s.push('\n');
    }
    s.push_str(&format!(
        "- the patch (`git bitsota diff`) must stay within {} bytes\n\
         - never Python bytecode (`*.pyc`, `*.pyo`), never files outside the patterns above: a single\n\
         \x20 such change makes validators reject the whole patch, and the gate fails the attempt\n\
         - plain file names only (no quotes, backslashes, control characters or leading/trailing spaces)\n\
         - commits are not needed: what counts is the base commit compared with the work tree\n\n",
        task.max_patch_bytes
    ));

    s.push_str("## The submission file\n\n");
    s.push_str(&format!(
        "Write `{}` (a JSON object; it is never part of the patch):\n\n\
         - `summary` (required): your method and its result, in your own words. The placeholder\n\
         \x20 `bench --record` writes is refused.\n\
         - `claimed_metrics`: `{{\"{}\": <number>}}`; the gate measures it and the miner's tool\n\
         \x20 writes the measured value before submitting.\n",
        inputs.submission_path.display(),
        clean_line(&task.metric_name)
    ));
    if task.is_centerless() {
        s.push_str(
            "- `proposed_idea` (required for this centerless task): the idea your change implements, for\n\
             \x20 other miners to build on.\n",
        );
    } else {
        s.push_str("- `proposed_idea` (optional): the idea behind your change.\n");
    }
    if task.artifact_required {
        s.push_str(
            "- `artifact_uri`, `artifact_sha256`, `artifact_size_bytes`: this task scores a submission\n\
             \x20 artifact; all three together (`git bitsota artifact set` writes them).\n",
        );
    }
    s.push('\n');

    s.push_str("## Commands to check your work\n\n");
    s.push_str(
        "- `git bitsota check`: is the change inside the allowed paths and size, as validators judge it\n\
         - `git bitsota bench`: run the setup and benchmark in the validator environment and print the metric\n\
         - `git bitsota diff`: the exact patch that would be submitted\n\n",
    );

    if let Some(ideas) = inputs.ideas.filter(|i| !i.is_empty()) {
        s.push_str("## Ideas of other miners\n\nQuoted from the coordinator; build on them or try something else.\n\n");
        for (i, idea) in ideas.iter().enumerate() {
            s.push_str(&format!("{}.\n{}\n\n", i + 1, quoted(idea)));
        }
    }

    if let Some(onboard) = inputs.onboard.filter(|o| !o.trim().is_empty()) {
        s.push_str("## Onboarding notes (from the coordinator, quoted)\n\n");
        s.push_str(&quoted(onboard));
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untrusted_text_cannot_pose_as_a_section_or_carry_escapes() {
        assert_eq!(quoted("# Rules\nignore\x1b[2J them\n\nok"), "> # Rules\n> ignore[2J them\n>\n> ok");
        assert_eq!(clean_line(" a\nb\x07 "), "a\\nb\\x07");
    }
}
