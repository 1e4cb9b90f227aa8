//! The check: what would be submitted and every reason it would be refused, as a report that
//! `check`, `diff`, `submit` and `status` share (cli.md §5).

use std::collections::BTreeSet;

use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::fnmatch::Pattern;
use crate::patch::{self, ChangedFile, ChangesAndPatch, Reason};
use crate::problems::ProblemCode;
use crate::repo::Repo;
use crate::task::TaskSnapshot;
use crate::validator::{self, Rejection};

/// Set (non-empty, not `0`) to let the pre-push check pass with a notice (cli.md §3).
pub const SKIP_VAR: &str = "BITSOTA_SKIP_CHECK";

/// One problem, with the stable code of cli.md §5.
#[derive(Debug, Clone)]
pub struct Problem {
    pub code: &'static str,
    pub message: String,
    pub paths: Vec<String>,
    pub hint: Option<String>,
}

impl Problem {
    /// The problem `code` with the table's message and hint.
    pub fn of(code: ProblemCode) -> Problem {
        Problem::new(code.code(), code.message()).with_hint(code.hint())
    }
    pub fn with_message(mut self, message: impl Into<String>) -> Problem {
        self.message = message.into();
        self
    }
    pub fn new(code: &'static str, message: impl Into<String>) -> Problem {
        Problem { code, message: message.into(), paths: Vec::new(), hint: None }
    }
    pub fn with_paths(mut self, paths: Vec<String>) -> Problem {
        self.paths = paths;
        self
    }
    pub fn with_hint(mut self, hint: impl Into<String>) -> Problem {
        self.hint = Some(hint.into());
        self
    }
}

/// What the sidecar contributes to the check (the caller loads and validates it).
#[derive(Debug, Clone, Default)]
pub struct SidecarFacts {
    /// The sidecar exists and names an artifact (`artifact_uri`).
    pub has_artifact: bool,
    /// Its validation problems (each becomes a `submission_invalid` problem).
    pub problems: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Report {
    pub task_slug: String,
    pub base_commit: String,
    pub max_patch_bytes: u64,
    pub built: ChangesAndPatch,
    /// `--allow-outside`: refused changes are left out of the patch, not problems.
    pub allow_outside: bool,
    pub problems: Vec<Problem>,
}

impl Report {
    /// A report on `built` for `task`, with no problem yet.
    pub fn new(task: &TaskSnapshot, built: ChangesAndPatch) -> Report {
        Report {
            task_slug: task.slug.clone(),
            base_commit: task.base_commit.clone(),
            max_patch_bytes: task.max_patch_bytes,
            built,
            allow_outside: false,
            problems: Vec::new(),
        }
    }

    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
    pub fn patch_bytes(&self) -> usize {
        self.built.patch.len()
    }
    pub fn patch_text(&self) -> Option<&str> {
        std::str::from_utf8(&self.built.patch).ok()
    }
    /// Changes left out of the patch because `--allow-outside` was given.
    pub fn left_out(&self) -> Vec<String> {
        match self.allow_outside {
            true => self.built.files.iter().filter(|f| !f.allowed()).map(ChangedFile::display_path).collect(),
            false => Vec::new(),
        }
    }
    pub fn push(&mut self, problem: Problem) {
        self.problems.push(problem);
    }

    /// The `check --json` object of cli.md §5.
    pub fn to_json(&self) -> Value {
        let files: Vec<Value> = self.built.files.iter().map(file_json).collect();
        let problems: Vec<Value> = self
            .problems
            .iter()
            .map(|p| json!({"code": p.code, "message": p.message, "paths": p.paths}))
            .collect();
        json!({
            "version": 1,
            "ok": self.ok(),
            "task": self.task_slug,
            "base_commit": self.base_commit,
            "patch_bytes": self.patch_bytes(),
            "max_patch_bytes": self.max_patch_bytes,
            "files": files,
            "problems": problems,
        })
    }
}

fn file_json(file: &ChangedFile) -> Value {
    let mut entry = json!({
        "path": file.display_path(),
        "change": file.change.as_str(),
        "allowed": file.allowed(),
    });
    if let Some(from) = file.display_from() {
        entry["from"] = json!(from);
    }
    entry
}

pub(crate) fn reason_words(file: &ChangedFile) -> String {
    let words: Vec<&str> = file.reasons.iter().map(|r| ProblemCode::for_reason(*r).words()).collect();
    words.join(", ")
}

/// Paths (renames as `old -> new`) of the files refused for `reason`.
fn paths_with(files: &[ChangedFile], reason: Reason) -> Vec<String> {
    files.iter().filter(|f| f.reasons.contains(&reason)).map(ChangedFile::label).collect()
}

/// CheckOptions of one check run.
#[derive(Debug, Clone, Default)]
pub struct CheckOptions {
    /// Leave refused changes out instead of reporting them as problems.
    pub allow_outside: bool,
    /// The sidecar's contribution, when one was read.
    pub sidecar: Option<SidecarFacts>,
}

/// Check the working tree against the bound task.
pub fn check_worktree(repo: &Repo, task: &TaskSnapshot, options: &CheckOptions) -> Result<Report> {
    let built = patch::from_worktree(repo, &task.base_commit, &task.patterns())?;
    judge_worktree(task, built, options)
}

/// Check the working tree with the sidecar at `sidecar_path` (or the default one), read while
/// the patch engine runs: asking git whether the default sidecar is tracked reads the whole
/// index, which is done once the engine's walks no longer keep the cores busy. The sidecar's
/// error, if any, comes first.
pub fn check_worktree_and_sidecar(
    repo: &Repo,
    task: &TaskSnapshot,
    allow_outside: bool,
    sidecar_path: Option<&std::path::Path>,
) -> Result<Report> {
    let (walked, walks_done) = std::sync::mpsc::channel();
    let (sidecar, built) = std::thread::scope(|scope| {
        let built = scope
            .spawn(|| patch::from_worktree_telling(repo, &task.base_commit, &task.patterns(), Some(walked)));
        // Also when the engine ended early (the sender is gone).
        let _ = walks_done.recv();
        let sidecar = sidecar_facts(repo, task, sidecar_path);
        let built = built.join().unwrap_or_else(|_| Err(Error::usage("the patch engine did not finish")));
        (sidecar, built)
    });
    let options = CheckOptions { allow_outside, sidecar: sidecar? };
    judge_worktree(task, built?, &options)
}

fn judge_worktree(task: &TaskSnapshot, built: ChangesAndPatch, options: &CheckOptions) -> Result<Report> {
    let patterns = task.patterns();
    let mut report = Report::new(task, built);
    report.allow_outside = options.allow_outside;
    if !options.allow_outside {
        file_problems(&mut report);
    }
    patch_problems(&mut report, &patterns);

    let has_artifact = options.sidecar.as_ref().is_some_and(|s| s.has_artifact);
    let artifact_ok = crate::artifact::task_requires_artifact(task) && has_artifact;
    if report.built.patch.is_empty() && !artifact_ok {
        let mut problem = Problem::of(ProblemCode::EmptyPatch);
        problem.hint = Some(if report.left_out().is_empty() {
            format!(
                "edit files matching allowed_patch_paths: {}",
                crate::task::allowed_paths_words(&task.allowed_patch_paths)
            )
        } else {
            "every change was left out; only changes inside allowed_patch_paths are submitted".to_string()
        });
        report.push(problem);
    }
    // Judged on a sidecar that exists (check does not require one; submit does).
    let missing = options
        .sidecar
        .as_ref()
        .and_then(|_| crate::artifact::missing_problem(task, report.built.patch.is_empty(), has_artifact));
    report.problems.extend(missing);
    if let Some(sidecar) = &options.sidecar {
        for message in &sidecar.problems {
            report.push(Problem::of(ProblemCode::SubmissionInvalid).with_message(message.clone()));
        }
    }
    Ok(report)
}

/// Check a pushed commit (`base_commit → commit`) for the pre-push hook. No sidecar, and an
/// empty change is fine (a push of unrelated history is not a submission).
pub fn check_commit(repo: &Repo, task: &TaskSnapshot, commit: &str) -> Result<Report> {
    let patterns = task.patterns();
    let built = patch::from_commit(repo, &task.base_commit, commit, &patterns)?;
    let mut report = Report::new(task, built);
    file_problems(&mut report);
    patch_problems(&mut report, &patterns);
    Ok(report)
}

/// Problems for refused paths: one per reason, listing the paths.
fn file_problems(report: &mut Report) {
    for reason in crate::problems::PER_FILE {
        let code = ProblemCode::for_reason(reason);
        let paths = paths_with(&report.built.files, reason);
        if !paths.is_empty() {
            let message = format!("{} {}", paths.len(), code.message());
            report.push(Problem::of(code).with_message(message).with_paths(paths));
        }
    }
}

/// Problems of the patch bytes themselves: encoding, size, and what validators would read.
fn patch_problems(report: &mut Report, patterns: &[Pattern]) {
    let Ok(text) = std::str::from_utf8(&report.built.patch) else {
        report.push(Problem::of(ProblemCode::PatchNotUtf8));
        return;
    };
    let extracted = validator::extract_paths(text);
    let mut problems = Vec::new();
    let mut misread = Vec::new();
    for rejection in validator::rejections(text.len(), &extracted, patterns, report.max_patch_bytes) {
        match rejection {
            Rejection::TooLarge { bytes, max } => problems.push(
                Problem::of(ProblemCode::PatchTooLarge)
                    .with_message(format!("the patch is {bytes} bytes; the task allows {max}")),
            ),
            Rejection::Unparseable => misread.push("(no path found in the patch)".to_string()),
            Rejection::Bytecode(paths) | Rejection::Disallowed(paths) => misread.extend(paths),
        }
    }
    // The paths validators extract must be exactly the submitted ones. (Sets: a patch may
    // touch thousands of paths.)
    let mut expected: BTreeSet<String> = BTreeSet::new();
    for file in report.built.files.iter().filter(|f| f.allowed()) {
        expected.extend(file.display_from());
        expected.insert(file.display_path());
    }
    let extracted_set: BTreeSet<&String> = extracted.iter().collect();
    let unexpected = extracted.iter().filter(|p| !expected.contains(*p));
    // And every submitted path must be among what they read, or the patch is not what we think.
    let unread = expected.iter().filter(|p| !extracted_set.contains(p));
    misread.extend(unexpected.chain(unread).cloned());
    // Paths refused for other reasons are already reported; do not double-report them here.
    let refused: BTreeSet<String> =
        report.built.files.iter().filter(|f| !f.allowed()).map(|f| f.display_path()).collect();
    misread.retain(|p| !refused.contains(p));
    misread.sort();
    misread.dedup();
    if !misread.is_empty() {
        // Validators split `diff --git a/X b/X` at the first ` b/`, so such a name is misread.
        let hint = if expected.iter().any(|p| p.contains(" b/")) {
            "a file name containing ` b/` is misread from the `diff --git` line; rename it"
        } else {
            "a changed line starting with `-- ` or `++ ` reads like a file header; reword that line"
        };
        problems.push(Problem::of(ProblemCode::PatchMisread).with_paths(misread).with_hint(hint));
    }
    report.problems.extend(problems);
}

/// The sidecar's facts when the file exists; `check` does not require it (cli.md §5).
pub fn sidecar_facts(
    repo: &Repo,
    task: &TaskSnapshot,
    path: Option<&std::path::Path>,
) -> Result<Option<SidecarFacts>> {
    let path = crate::sidecar::resolve_path(repo, path)?;
    let loaded = match crate::sidecar::load(&path) {
        // A file that is not a JSON object is one more problem of the report, not the end of
        // it; a file that cannot be read stays an error (exit 2).
        Err(err) if err.kind() == crate::error::Kind::Problems => {
            return Ok(Some(SidecarFacts {
                problems: vec![err.message().to_string()],
                ..SidecarFacts::default()
            }));
        }
        other => other?,
    };
    match loaded {
        None => Ok(None),
        Some(sidecar) => Ok(Some(SidecarFacts {
            has_artifact: sidecar.has_artifact(),
            problems: crate::sidecar::problems(&sidecar, task),
        })),
    }
}

/// The check of what `diff` prints (and `bench --replay` replays): an error when a problem
/// other than size or emptiness would make `submit` refuse it.
pub fn submittable(repo: &Repo, task: &TaskSnapshot, allow_outside: bool) -> Result<Report> {
    let options = CheckOptions { allow_outside, sidecar: None };
    let report = check_worktree(repo, task, &options)?;
    // Refused paths would make `submit` refuse too: say so rather than print a patch that
    // will not be sent. Size and emptiness do not change what the bytes are.
    let blocking: Vec<_> =
        report.problems.iter().filter(|p| !matches!(p.code, "patch_too_large" | "empty_patch")).collect();
    if let Some(first) = blocking.first() {
        let mut err = Error::problems(format!("{} [{}]", first.message, first.code)).with_code(first.code);
        if !first.paths.is_empty() {
            err = Error::problems(format!("{} [{}]: {}", first.message, first.code, first.paths.join(", ")))
                .with_code(first.code);
        }
        return Err(err.with_hint(first.hint.clone().unwrap_or_else(|| "see `git bitsota check`".into())));
    }
    Ok(report)
}
