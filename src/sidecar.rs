//! The submission sidecar, `submission.json` (protocol.md §7.7, cli.md §5): what the miner says
//! about a submission besides the patch. `submit` builds its body from it, `check` validates it
//! when it exists, and `bench --record` writes the measured metrics into it.
//!
//! The file is kept as a raw JSON object so fields this version does not know are never lost.

use std::fs::{self, File};
use std::io::{ErrorKind, Read};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::error::{Error, Result, ResultExt};
use crate::repo::Repo;
use crate::task::TaskSnapshot;

/// File name at the worktree root when `--submission-file` is not given.
pub const DEFAULT_FILE_NAME: &str = "submission.json";

/// A sidecar holds a summary and a short log; a file this big is a mistake, and is not read
/// whole into memory.
const MAX_BYTES: u64 = 4 << 20;

/// The summary `bench --record` writes into a new sidecar. Validation refuses it, so a
/// submission never goes out with it.
pub const PLACEHOLDER_SUMMARY: &str =
    "TODO: describe your method and local result here (written by `git bitsota bench --record`)";

/// Where the sidecar is: `--submission-file` (relative to the current directory, as users
/// expect from a path they typed), else `submission.json` at the worktree root.
///
/// The default file sits in the task's repository, which is not trusted: it is refused (for
/// reading and writing) when it is a symlink, which could aim a write or a submitted summary
/// at any file outside the clone, or tracked by git, which the task would then control.
pub fn resolve_path(repo: &Repo, given: Option<&Path>) -> Result<PathBuf> {
    let Some(given) = given else {
        let path = repo.work_tree().join(DEFAULT_FILE_NAME);
        refuse_untrusted_default(repo, &path)?;
        return Ok(path);
    };
    if given.as_os_str().is_empty() {
        return Err(Error::usage("--submission-file is empty").with_code("submission_path"));
    }
    if given.is_absolute() {
        return Ok(given.to_path_buf());
    }
    let cwd = std::env::current_dir().or_usage(|| "cannot determine the current directory")?;
    Ok(cwd.join(given))
}

fn refuse_untrusted_default(repo: &Repo, path: &Path) -> Result<()> {
    let refused = |why: &str| {
        Error::usage(format!("refusing the submission sidecar {}: {why}", crate::output::quote_path(path)))
            .with_code("submission_path")
            .with_hint(
                "task repositories are not trusted with it: remove it (`git rm --cached submission.json` if \
                 tracked), or keep the sidecar outside the clone with --submission-file",
            )
    };
    if fs::symlink_metadata(path).is_ok_and(|meta| meta.file_type().is_symlink()) {
        return Err(refused("it is a symlink"));
    }
    let literal = format!(":(literal){DEFAULT_FILE_NAME}");
    let listed = repo.git().args(["ls-files", "-z", "--cached", "--", &literal]).output()?;
    if !listed.is_empty() {
        return Err(refused("it is tracked by git"));
    }
    Ok(())
}

/// A loaded sidecar: its path and its JSON object, exactly as read.
#[derive(Debug, Clone, PartialEq)]
pub struct Sidecar {
    path: PathBuf,
    map: Map<String, Value>,
}

/// Read the sidecar. `Ok(None)` when the file does not exist; an unreadable path is a usage
/// error (exit 2); a file that is not a JSON object is `submission_invalid` (exit 1).
pub fn load(path: &Path) -> Result<Option<Sidecar>> {
    let unreadable = |e: std::io::Error| {
        Error::usage(format!("cannot read the submission sidecar {}", path.display()))
            .with_code("submission_path")
            .with_source(e)
    };
    // Look before opening: reading a FIFO or a device would block or never end.
    match fs::metadata(path) {
        Ok(meta) if meta.is_file() => {}
        Ok(_) => {
            return Err(unreadable(std::io::Error::new(ErrorKind::InvalidInput, "not a regular file")));
        }
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(unreadable(e)),
    }
    let invalid = |why: String| {
        Error::problems(format!("the submission sidecar {} {why}", path.display()))
            .with_code("submission_invalid")
            .with_hint("it must be a JSON object like {\"summary\": \"…\", \"claimed_metrics\": {\"<metric>\": 1.0}}")
    };
    let mut bytes = Vec::new();
    File::open(path).and_then(|file| file.take(MAX_BYTES + 1).read_to_end(&mut bytes)).map_err(unreadable)?;
    if bytes.len() as u64 > MAX_BYTES {
        return Err(invalid(format!(
            "is larger than {} MiB; it only describes a submission",
            MAX_BYTES >> 20
        )));
    }
    // Editors on Windows start UTF-8 files with a byte-order mark; it is not content.
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(&bytes);
    let text = std::str::from_utf8(bytes).map_err(|_| invalid("is not UTF-8".into()))?;
    let value: Value = serde_json::from_str(text).map_err(|e| invalid(format!("is not valid JSON: {e}")))?;
    match value {
        Value::Object(map) => Ok(Some(Sidecar { path: path.to_path_buf(), map })),
        _ => Err(invalid("must hold a JSON object".into())),
    }
}

/// A non-empty, trimmed string field; `None` when absent, null, empty or not a string.
fn text_field<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    match map.get(key) {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim()),
        _ => None,
    }
}

/// Absent, null and "" all mean "not given", as in the reference client's body builder.
fn is_unset(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.trim().is_empty(),
        _ => false,
    }
}

impl Sidecar {
    /// A sidecar built in memory (for tests and callers that hold the fields already).
    pub fn from_map(path: PathBuf, map: Map<String, Value>) -> Sidecar {
        Sidecar { path, map }
    }
    pub fn path(&self) -> &Path {
        &self.path
    }
    /// Every field as read, including those this version does not know.
    pub fn raw(&self) -> &Map<String, Value> {
        &self.map
    }
    pub fn summary(&self) -> Option<&str> {
        text_field(&self.map, "summary")
    }
    pub fn claimed_metrics(&self) -> Option<&Map<String, Value>> {
        self.map.get("claimed_metrics").and_then(Value::as_object)
    }
    pub fn execution_log(&self) -> Option<&str> {
        text_field(&self.map, "execution_log")
    }
    pub fn proposed_idea(&self) -> Option<&str> {
        text_field(&self.map, "proposed_idea")
    }
    pub fn implemented_submission_id(&self) -> Option<&str> {
        text_field(&self.map, "implemented_submission_id")
    }
    pub fn artifact_uri(&self) -> Option<&str> {
        text_field(&self.map, "artifact_uri")
    }
    /// Lower-cased, as the reference client sends it.
    pub fn artifact_sha256(&self) -> Option<String> {
        text_field(&self.map, "artifact_sha256").map(str::to_ascii_lowercase)
    }
    /// The size when it is a positive JSON integer (anything else is reported by [`problems`]).
    pub fn artifact_size_bytes(&self) -> Option<u64> {
        self.map.get("artifact_size_bytes").and_then(positive_int)
    }
    /// The sidecar names an artifact (`artifact_uri` non-empty).
    pub fn has_artifact(&self) -> bool {
        self.artifact_uri().is_some()
    }
    /// The summary is the placeholder `bench --record` wrote.
    pub fn summary_is_placeholder(&self) -> bool {
        self.summary() == Some(PLACEHOLDER_SUMMARY)
    }
}

fn positive_int(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.to_string().parse::<u64>().ok().filter(|n| *n > 0),
        _ => None,
    }
}

/// A JSON number that is a finite float (what a metric value must be).
pub fn is_finite_number(value: &Value) -> bool {
    match value {
        Value::Number(n) => n.to_string().parse::<f64>().is_ok_and(f64::is_finite),
        _ => false,
    }
}

/// Everything that makes this sidecar unfit for a submission of `task`, one message each
/// (all belong to the `submission_invalid` problem). Empty when it is fine.
pub fn problems(sidecar: &Sidecar, task: &TaskSnapshot) -> Vec<String> {
    problems_for(sidecar, task, false)
}

/// [`problems`], where `local_rehearsal` (the coordinator itself is on this machine) also
/// accepts an `http://` artifact on a loopback host, as for the coordinator URL.
pub fn problems_for(sidecar: &Sidecar, task: &TaskSnapshot, local_rehearsal: bool) -> Vec<String> {
    let map = &sidecar.map;
    let mut out = Vec::new();

    match map.get("summary") {
        None | Some(Value::Null) => out.push("`summary` is missing".to_string()),
        Some(Value::String(s)) if s.trim().is_empty() => out.push("`summary` is empty".to_string()),
        Some(Value::String(s)) if s.trim() == PLACEHOLDER_SUMMARY => out.push(
            "`summary` is still the placeholder written by `bench --record`; describe your method and result"
                .to_string(),
        ),
        Some(Value::String(_)) => {}
        Some(other) => out.push(format!("`summary` must be a string, not {}", kind(other))),
    }

    let metric = &task.metric_name;
    match map.get("claimed_metrics") {
        None | Some(Value::Null) => out.push(format!(
            "`claimed_metrics` is missing (it needs at least the task metric `{metric}`; `git bitsota bench --record` writes it)"
        )),
        Some(Value::Object(metrics)) => match metrics.get(metric.as_str()) {
            None => out.push(format!("`claimed_metrics` has no value for the task metric `{metric}`")),
            Some(v) if !is_finite_number(v) => {
                out.push(format!("`claimed_metrics.{metric}` must be a finite number, not {v}"))
            }
            Some(_) => {}
        },
        Some(other) => out.push(format!("`claimed_metrics` must be a JSON object, not {}", kind(other))),
    }

    for key in ["proposed_idea", "implemented_submission_id", "execution_log"] {
        if let Some(v) = map.get(key) {
            if !matches!(v, Value::Null | Value::String(_)) {
                out.push(format!("`{key}` must be a string or null, not {}", kind(v)));
            }
        }
    }
    if task.is_centerless() && sidecar.proposed_idea().is_none() {
        out.push("centerless tasks need a non-empty `proposed_idea` with every submission".to_string());
    }

    artifact_problems(sidecar, local_rehearsal, &mut out);
    out
}

fn artifact_problems(sidecar: &Sidecar, local_rehearsal: bool, out: &mut Vec<String>) {
    let map = &sidecar.map;
    const FIELDS: [&str; 3] = ["artifact_uri", "artifact_sha256", "artifact_size_bytes"];
    let given: Vec<&str> = FIELDS.iter().copied().filter(|key| !is_unset(map.get(*key))).collect();
    // A required but absent artifact is the check's `artifact_missing` problem.
    if given.is_empty() {
        return;
    }
    if given.len() < FIELDS.len() {
        let missing: Vec<&str> = FIELDS.iter().copied().filter(|key| !given.contains(key)).collect();
        out.push(format!(
            "artifact fields come together: {} given but {} missing",
            given.join(", "),
            missing.join(", ")
        ));
    }
    match map.get("artifact_uri") {
        Some(Value::String(uri)) if !uri.trim().is_empty() => {
            let uri = uri.trim();
            let lower = uri.to_ascii_lowercase();
            let host_part = lower.strip_prefix("https://").unwrap_or("");
            let local = local_rehearsal && crate::artifact::parse_uri(uri).is_ok_and(|u| u.local_http);
            if !local && (host_part.is_empty() || host_part.starts_with('/')) {
                out.push(format!(
                    "`artifact_uri` must be a public https:// URL (validators download it), not {uri:?}"
                ));
            } else if uri.chars().any(|c| c.is_whitespace() || c.is_control()) {
                out.push(format!("`artifact_uri` {uri:?} contains spaces or control characters"));
            }
        }
        v if is_unset(v) => {}
        Some(other) => out.push(format!("`artifact_uri` must be a string, not {}", kind(other))),
        None => {}
    }
    match map.get("artifact_sha256") {
        Some(Value::String(sha)) if !sha.trim().is_empty() => {
            let sha = sha.trim();
            if sha.len() != 64 || !sha.chars().all(|c| c.is_ascii_hexdigit()) {
                out.push(format!(
                    "`artifact_sha256` must be 64 hex digits (SHA-256 of the artifact file), not {sha:?}"
                ));
            }
        }
        v if is_unset(v) => {}
        Some(other) => out.push(format!("`artifact_sha256` must be a string, not {}", kind(other))),
        None => {}
    }
    match map.get("artifact_size_bytes") {
        v if is_unset(v) => {}
        Some(v) if positive_int(v).is_some() => {}
        Some(v) => out.push(format!(
            "`artifact_size_bytes` must be a positive integer (the artifact's exact size in bytes), not {v}"
        )),
        None => {}
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// What `bench --record` puts into the sidecar.
pub struct BenchRecordFields {
    pub claimed_metrics: Map<String, Value>,
    pub execution_log: String,
}

/// Merge a bench result into the sidecar at `path`: replace `claimed_metrics` and
/// `execution_log`, keep every other field, and add the placeholder summary when there is none.
/// Returns true when the file was created. An existing file that is not a JSON object is left
/// alone (error), never overwritten.
pub fn record_bench(path: &Path, fields: BenchRecordFields) -> Result<bool> {
    let existing = load(path)?;
    let created = existing.is_none();
    let mut map = existing.map(|s| s.map).unwrap_or_default();
    if is_unset(map.get("summary")) {
        map.insert("summary".into(), Value::String(PLACEHOLDER_SUMMARY.into()));
    }
    map.insert("claimed_metrics".into(), Value::Object(fields.claimed_metrics));
    map.insert("execution_log".into(), Value::String(fields.execution_log));
    write(path, &map)?;
    Ok(created)
}

/// Write the sidecar atomically (temp file in the same directory, fsync, rename), pretty
/// printed so the miner can edit it.
pub fn write(path: &Path, map: &Map<String, Value>) -> Result<()> {
    let mut text =
        serde_json::to_string_pretty(map).or_usage(|| "could not serialise the submission sidecar")?;
    text.push('\n');
    crate::fsutil::write_atomic(path, text.as_bytes(), None).map_err(|e| {
        Error::usage(format!("cannot write the submission sidecar {}", path.display()))
            .with_code("submission_path")
            .with_source(e)
    })
}
