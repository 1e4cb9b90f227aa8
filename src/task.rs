//! The coordinator's task record: validation of untrusted input and the snapshot kept in the
//! state file.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::fnmatch::Pattern;

/// Defaults the validator applies when a task leaves a field out (protocol.md §6.3, REPLAY).
pub const DEFAULT_MAX_PATCH_BYTES: u64 = 262_144;
pub const DEFAULT_TIME_BUDGET_SECONDS: u64 = 3_600;
/// Posting docs allow 1–86400 s; we accept up to a week so a future longer task still works,
/// and refuse anything beyond as a broken or hostile record.
pub const MAX_TIME_BUDGET_SECONDS: u64 = 7 * 86_400;

/// Task fields as kept in `[task]` of the state file (cli.md §2). Unknown fields of the
/// coordinator's record are kept in `extra`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TaskSnapshot {
    pub id: String,
    pub slug: String,
    #[serde(default)]
    pub title: String,
    pub repository: String,
    pub base_ref: String,
    pub base_commit: String,
    pub metric_name: String,
    pub metric_direction: MetricDirection,
    pub competition_mode: CompetitionMode,
    pub allowed_patch_paths: Vec<String>,
    pub max_patch_bytes: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub setup_command: Option<String>,
    pub benchmark_command: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_path: Option<String>,
    pub time_budget_seconds: u64,
    #[serde(default)]
    pub artifact_required: bool,
    pub fetched_at: String,
    #[serde(flatten)]
    pub extra: toml::Table,
}

/// A closed list of values the coordinator serves, with `Other` keeping a value a newer
/// coordinator may send (stored and shown as served; treated as the list's default).
macro_rules! served_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
        #[serde(from = "String", into = "String")]
        pub enum $name {
            $($variant,)+
            Other(String),
        }

        impl $name {
            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$variant => $text,)+
                    $name::Other(text) => text,
                }
            }
        }

        impl From<String> for $name {
            fn from(text: String) -> Self {
                match text.as_str() {
                    $($text => $name::$variant,)+
                    _ => $name::Other(text),
                }
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.as_str().to_string()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }
    };
}

served_enum! {
    /// Which way the task's metric improves.
    MetricDirection { Minimize = "minimize", Maximize = "maximize" }
}

served_enum! {
    /// How miners take part (protocol.md §4.6–§4.8).
    CompetitionMode { Standard = "standard", Centerless = "centerless", PeerEvaluation = "peer_evaluation" }
}

impl TaskSnapshot {
    pub fn patterns(&self) -> Vec<Pattern> {
        self.allowed_patch_paths.iter().map(|p| Pattern::new(p)).collect()
    }
    /// The run deadline, within the limits a task record is held to (the state file may have
    /// been edited by hand).
    pub fn time_budget(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.time_budget_seconds.clamp(1, MAX_TIME_BUDGET_SECONDS))
    }
    pub fn is_centerless(&self) -> bool {
        self.competition_mode == CompetitionMode::Centerless
    }
    pub fn maximize(&self) -> bool {
        self.metric_direction == MetricDirection::Maximize
    }
    /// `validator_benchmark_env` when the record carried one (string values only, as validators
    /// stringify them).
    pub fn benchmark_env(&self) -> Vec<(String, String)> {
        let Some(toml::Value::Table(env)) = self.extra.get("validator_benchmark_env") else {
            return Vec::new();
        };
        env.iter()
            .filter(|(key, _)| !key.trim().is_empty())
            .map(|(key, value)| {
                let text = match value {
                    toml::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (key.trim().to_string(), text)
            })
            .collect()
    }
}

/// The allowed patterns for a terminal, comma separated, each escaped (they come from the task).
pub fn allowed_paths_words(patterns: &[String]) -> String {
    let shown: Vec<String> =
        patterns.iter().map(|p| crate::output::escape(p, crate::output::Shown::Line)).collect();
    shown.join(", ")
}

/// How strictly to treat allowed-path patterns that can never match (cli.md: `init` warns;
/// issue "mining workflow": `clone` refuses a hostile record and creates nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strictness {
    WarnOnly,
    Refuse,
}

/// A validated record: the snapshot (with an empty `base_commit`) and warnings for the user.
#[derive(Debug, Clone)]
pub struct ParsedTask {
    pub snapshot: TaskSnapshot,
    pub warnings: Vec<String>,
}

/// Why a task record was refused; the caller picks the exit code (a file given by the user is a
/// usage error, a record served by the coordinator a server error).
#[derive(Debug, Clone, PartialEq)]
pub struct RecordError(pub Vec<String>);

impl std::fmt::Display for RecordError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join("; "))
    }
}
impl std::error::Error for RecordError {}

const KNOWN_FIELDS: &[&str] = &[
    "id",
    "slug",
    "title",
    "repository",
    "base_ref",
    "base_commit",
    "metric_name",
    "metric_direction",
    "competition_mode",
    "allowed_patch_paths",
    "max_patch_bytes",
    "setup_command",
    "benchmark_command",
    "result_path",
    "time_budget_seconds",
    "artifact_required",
    "fetched_at",
];

/// Validate an untrusted task record and build its snapshot.
pub fn parse_record(
    record: &Value,
    strictness: Strictness,
    fetched_at: &str,
) -> Result<ParsedTask, RecordError> {
    let Some(map) = record.as_object() else {
        return Err(RecordError(vec!["the task record is not a JSON object".into()]));
    };
    let mut errors = Vec::new();
    let mut warnings = Vec::new();

    let id = required_string(map, "id", &mut errors);
    if let Some(id) = &id {
        if id.len() > 128 || !id.chars().all(|c| c.is_ascii_alphanumeric() || "-._~".contains(c)) {
            errors.push(format!("`id` {id:?} is not a plain identifier (it is used in request paths)"));
        }
    }
    let slug = required_string(map, "slug", &mut errors);
    if let Some(slug) = &slug {
        if let Some(why) = bad_slug(slug) {
            errors.push(format!("`slug` {slug:?} {why}"));
        }
    }
    let repository = required_string(map, "repository", &mut errors);
    if let Some(repo) = &repository {
        if let Err(why) = check_repository(repo) {
            errors.push(format!("`repository` {repo:?}: {why}"));
        }
    }
    let base_ref = required_string(map, "base_ref", &mut errors);
    if let Some(base_ref) = &base_ref {
        if let Some(why) = bad_ref(base_ref) {
            errors.push(format!("`base_ref` {base_ref:?} {why}"));
        }
    }
    let metric_name = required_string(map, "metric_name", &mut errors);
    if let Some(metric) = &metric_name {
        if metric.len() > 200 || metric.chars().any(char::is_control) {
            errors.push(format!("`metric_name` {metric:?} is not a usable metric name"));
        }
    }
    let benchmark_command = required_string(map, "benchmark_command", &mut errors);

    let metric_direction = match map.get("metric_direction") {
        None | Some(Value::Null) => {
            warnings.push("the task record has no `metric_direction`; assuming `minimize`".into());
            MetricDirection::Minimize
        }
        Some(Value::String(s)) if s == "minimize" || s == "maximize" => MetricDirection::from(s.clone()),
        Some(other) => {
            errors.push(format!("`metric_direction` must be \"minimize\" or \"maximize\", not {other}"));
            MetricDirection::Other(String::new())
        }
    };
    let competition_mode = match map.get("competition_mode") {
        None | Some(Value::Null) => {
            warnings.push("the task record has no `competition_mode`; assuming `standard`".into());
            CompetitionMode::Standard
        }
        Some(Value::String(s)) => {
            let mode = CompetitionMode::from(s.clone());
            if matches!(mode, CompetitionMode::Other(_)) {
                warnings.push(format!("unknown `competition_mode` {s:?}; treating it like `standard`"));
            }
            mode
        }
        Some(other) => {
            errors.push(format!("`competition_mode` must be a string, not {other}"));
            CompetitionMode::Other(String::new())
        }
    };

    let allowed_patch_paths = match map.get("allowed_patch_paths") {
        Some(Value::Array(items)) => {
            let mut patterns = Vec::new();
            for item in items {
                match item {
                    Value::String(p) => patterns.push(p.clone()),
                    other => errors.push(format!("`allowed_patch_paths` holds a non-string entry {other}")),
                }
            }
            if patterns.is_empty() {
                warnings.push("`allowed_patch_paths` is empty: validators reject every changed path".into());
            }
            for pattern in &patterns {
                if let Some(why) = unmatchable_pattern(pattern) {
                    let text = format!("allowed path {pattern:?} {why}");
                    match strictness {
                        Strictness::Refuse => errors.push(text),
                        Strictness::WarnOnly => warnings.push(text),
                    }
                } else if pattern.starts_with("./") || pattern.ends_with('/') {
                    warnings.push(format!(
                        "allowed path {pattern:?} can never match a file path as git prints it \
                         (no leading `./`, no trailing `/`)"
                    ));
                }
            }
            patterns
        }
        None | Some(Value::Null) => {
            errors.push("missing field `allowed_patch_paths`".into());
            Vec::new()
        }
        Some(other) => {
            errors.push(format!("`allowed_patch_paths` must be an array of strings, not {other}"));
            Vec::new()
        }
    };

    let max_patch_bytes = match python_int_or_default(map.get("max_patch_bytes"), DEFAULT_MAX_PATCH_BYTES) {
        Ok(n) => n,
        Err(why) => {
            errors.push(format!("`max_patch_bytes` {why}"));
            0
        }
    };
    let time_budget_seconds =
        match python_int_or_default(map.get("time_budget_seconds"), DEFAULT_TIME_BUDGET_SECONDS) {
            Ok(n) if n > MAX_TIME_BUDGET_SECONDS => {
                errors.push(format!(
                    "`time_budget_seconds` {n} is out of range (tasks allow 1 to 86400 seconds; \
                     git-bitsota accepts up to {MAX_TIME_BUDGET_SECONDS})"
                ));
                0
            }
            Ok(n) => n,
            Err(why) => {
                errors.push(format!("`time_budget_seconds` {why}"));
                0
            }
        };

    let setup_command = optional_string(map, "setup_command", &mut errors);
    let result_path = optional_string(map, "result_path", &mut errors);
    if let Some(path) = &result_path {
        if path.starts_with('/') || path.split('/').any(|part| part == "..") {
            errors.push(format!("`result_path` {path:?} must stay inside the repository"));
        }
    }
    let title = match map.get("title") {
        Some(Value::String(s)) => s.clone(),
        _ => String::new(),
    };

    if !errors.is_empty() {
        return Err(RecordError(errors));
    }
    let extra = map
        .iter()
        .filter(|(key, _)| !KNOWN_FIELDS.contains(&key.as_str()))
        .filter_map(|(key, value)| json_to_toml(value).map(|v| (key.clone(), v)))
        .collect();
    let snapshot = TaskSnapshot {
        id: id.unwrap_or_default(),
        slug: slug.unwrap_or_default(),
        title,
        repository: repository.unwrap_or_default(),
        base_ref: base_ref.unwrap_or_default(),
        base_commit: String::new(),
        metric_name: metric_name.unwrap_or_default(),
        metric_direction,
        competition_mode,
        allowed_patch_paths,
        max_patch_bytes,
        setup_command: setup_command.filter(|s| !s.trim().is_empty()),
        benchmark_command: benchmark_command.unwrap_or_default(),
        result_path: result_path.filter(|s| !s.trim().is_empty()),
        time_budget_seconds,
        artifact_required: artifact_required(map),
        fetched_at: fetched_at.to_string(),
        extra,
    };
    Ok(ParsedTask { snapshot, warnings })
}

fn required_string(
    map: &serde_json::Map<String, Value>,
    key: &str,
    errors: &mut Vec<String>,
) -> Option<String> {
    match map.get(key) {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Some(Value::String(_)) => {
            errors.push(format!("`{key}` is empty"));
            None
        }
        None | Some(Value::Null) => {
            errors.push(format!("missing field `{key}`"));
            None
        }
        Some(other) => {
            errors.push(format!("`{key}` must be a string, not {other}"));
            None
        }
    }
}

fn optional_string(
    map: &serde_json::Map<String, Value>,
    key: &str,
    errors: &mut Vec<String>,
) -> Option<String> {
    match map.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.trim().to_string()),
        Some(other) => {
            errors.push(format!("`{key}` must be a string, not {other}"));
            None
        }
    }
}

/// The validator's `max(1, int(value or default))`: a falsy value (missing, null, false, 0, 0.0,
/// "") means the default; any other value goes through Python's `int()` (floats truncated,
/// integer strings parsed, so `"0"` or `0.5` give 1, not the default). The result is capped at
/// `i64::MAX`, the largest integer the state file (TOML) can hold; no patch comes near it.
fn python_int_or_default(value: Option<&Value>, default: u64) -> Result<u64, String> {
    let n: i128 = match value {
        None | Some(Value::Null) | Some(Value::Bool(false)) => return Ok(default),
        Some(Value::Bool(true)) => 1,
        Some(Value::Number(num)) => {
            let text = num.to_string();
            if let Ok(i) = text.parse::<i128>() {
                i
            } else {
                match text.parse::<f64>() {
                    // `as` saturates, like a cap on Python's unbounded int.
                    Ok(f) if f.is_finite() => f.trunc() as i128,
                    _ => return Err(format!("{text} is not a usable number")),
                }
            }
        }
        Some(Value::String(s)) if s.is_empty() => return Ok(default),
        Some(Value::String(s)) => python_int_text(s).ok_or_else(|| format!("{s:?} is not an integer"))?,
        Some(other) => return Err(format!("must be a number, not {other}")),
    };
    if n == 0 && value.is_some_and(|v| v.is_number()) {
        // 0 and 0.0 are falsy; a float like 0.5 is truthy and becomes int 0, then 1.
        let falsy = value.and_then(Value::as_f64).is_some_and(|f| f == 0.0);
        if falsy {
            return Ok(default);
        }
    }
    Ok(n.clamp(1, i64::MAX as i128) as u64)
}

/// Python's `int(str)` for base 10: surrounding whitespace, a sign, digits with single `_`
/// between them. Saturates beyond i128.
fn python_int_text(text: &str) -> Option<i128> {
    let t = text.trim();
    let (negative, digits) = match t.as_bytes().first()? {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty() || digits.starts_with('_') || digits.ends_with('_') || digits.contains("__") {
        return None;
    }
    let mut n: i128 = 0;
    for c in digits.chars().filter(|c| *c != '_') {
        let d = c.to_digit(10)? as i128;
        n = n.saturating_mul(10).saturating_add(d);
    }
    Some(if negative { -n } else { n })
}

/// Artifact-first detection as the reference launcher does it (protocol.md §5).
fn artifact_required(map: &serde_json::Map<String, Value>) -> bool {
    if let Some(flag) = map.get("requires_submission_artifact") {
        return match flag {
            Value::Bool(b) => *b,
            Value::String(s) => {
                ["1", "true", "yes", "artifact"].contains(&s.trim().to_ascii_lowercase().as_str())
            }
            Value::Number(n) => n.to_string().parse::<f64>().is_ok_and(|f| f != 0.0),
            _ => false,
        };
    }
    if let Some(Value::String(surface)) = map.get("submission_surface") {
        return surface.trim().eq_ignore_ascii_case("artifact");
    }
    if let Some(Value::Array(fields)) = map.get("required_submission_fields") {
        return fields.iter().any(|f| f.as_str() == Some("artifact_uri"));
    }
    false
}

/// Why a slug cannot be used in the branch name `bitsota/<slug>`, if it cannot.
fn bad_slug(slug: &str) -> Option<&'static str> {
    if slug.len() > 120 {
        return Some("is longer than 120 characters");
    }
    if !slug.chars().all(|c| c.is_ascii_alphanumeric() || "-._".contains(c)) {
        return Some("may only use letters, digits, `-`, `_` and `.`");
    }
    if slug.starts_with(['.', '-']) || slug.contains("..") || slug.ends_with(".lock") || slug.ends_with('.') {
        return Some("is not usable in a git branch name");
    }
    None
}

/// Why a base ref cannot be passed to git safely, if it cannot.
fn bad_ref(reference: &str) -> Option<&'static str> {
    if reference.starts_with('-') {
        return Some("starts with `-`");
    }
    if reference.len() > 255
        || reference.contains("..")
        || reference.chars().any(|c| c.is_whitespace() || c.is_control() || "~^:?*[\\".contains(c))
    {
        return Some("is not a valid branch, tag or commit name");
    }
    None
}

/// Why an allowed-path pattern can never match a repository-relative path, if so.
fn unmatchable_pattern(pattern: &str) -> Option<&'static str> {
    if pattern.starts_with('/') {
        Some("is absolute; it can never match a path inside the repository")
    } else if pattern.split('/').any(|part| part == "..") {
        Some("climbs out with `..`; it can never match a path inside the repository")
    } else {
        None
    }
}

/// Accept only repository addresses whose transport cannot run commands (cli.md §4 `clone`):
/// `https://`, `ssh://`, scp-like `user@host:path`, `file://` and local paths.
pub fn check_repository(url: &str) -> Result<(), String> {
    if url.starts_with('-') {
        return Err("starts with `-`".into());
    }
    if url.chars().any(char::is_control) {
        return Err("contains control characters".into());
    }
    let lower = url.to_ascii_lowercase();
    if lower.starts_with("https://") || lower.starts_with("ssh://") || lower.starts_with("file://") {
        return Ok(());
    }
    if url.contains("::") {
        return Err("remote-helper transports (`ext::`, `fd::`, …) are refused: they can run commands".into());
    }
    if let Some((scheme, _)) = url.split_once("://") {
        return Err(format!(
            "the `{scheme}://` transport is refused; use https://, ssh://, file:// or a local path"
        ));
    }
    // scp-like `user@host:path`: a colon before any slash means git treats it as ssh.
    if let Some(colon) = url.find(':') {
        let before = &url[..colon];
        if !before.contains('/') {
            let host = before.rsplit_once('@').map_or(before, |(_, host)| host);
            if before.contains('@') && !host.is_empty() && !host.starts_with('-') {
                return Ok(());
            }
            return Err(
                "looks like `host:path` without `user@`; use ssh://host/path or user@host:path".into()
            );
        }
    }
    Ok(())
}

/// Convert a JSON value to TOML for the snapshot's extra fields. TOML has no null: nulls are
/// dropped; integers beyond i64 are kept as their decimal text.
fn json_to_toml(value: &Value) -> Option<toml::Value> {
    Some(match value {
        Value::Null => return None,
        Value::Bool(b) => toml::Value::Boolean(*b),
        Value::Number(n) => {
            let text = n.to_string();
            if let Ok(i) = text.parse::<i64>() {
                toml::Value::Integer(i)
            } else if !text.contains(['.', 'e', 'E']) {
                toml::Value::String(text)
            } else {
                toml::Value::Float(text.parse::<f64>().ok()?)
            }
        }
        Value::String(s) => toml::Value::String(s.clone()),
        Value::Array(items) => toml::Value::Array(items.iter().filter_map(json_to_toml).collect()),
        Value::Object(map) => toml::Value::Table(
            map.iter().filter_map(|(k, v)| json_to_toml(v).map(|v| (k.clone(), v))).collect(),
        ),
    })
}

/// The record as JSON again (for `--json` output of the snapshot).
pub fn snapshot_json(task: &TaskSnapshot) -> Value {
    serde_json::to_value(task).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_forms() {
        for ok in [
            "https://github.com/a/b.git",
            "ssh://git@github.com/a/b.git",
            "git@github.com:a/b.git",
            "file:///tmp/x",
            "/tmp/x",
            "../x",
            "x",
        ] {
            assert!(check_repository(ok).is_ok(), "{ok}");
        }
        for bad in [
            "ext::sh -c touch% /tmp/pwned",
            "fd::3",
            "http://example.com/x",
            "-uhello",
            "git://h/x",
            "host:path",
        ] {
            assert!(check_repository(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn slugs_must_name_a_branch() {
        assert_eq!(bad_slug("qwen3-27b_binary.v2"), None);
        for bad in ["../x", "a b", ".hidden", "-x", "x.lock", "x.", "a..b", "x/y"] {
            assert!(bad_slug(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn python_int_semantics() {
        use serde_json::json;
        let d = 262_144;
        assert_eq!(python_int_or_default(None, d), Ok(d));
        assert_eq!(python_int_or_default(Some(&json!(0)), d), Ok(d));
        assert_eq!(python_int_or_default(Some(&json!(-5)), d), Ok(1));
        assert_eq!(python_int_or_default(Some(&json!(1000.7)), d), Ok(1000));
        assert_eq!(python_int_or_default(Some(&json!("5000")), d), Ok(5000));
        assert_eq!(python_int_or_default(Some(&json!(false)), d), Ok(d));
        assert!(python_int_or_default(Some(&json!("5e3")), d).is_err());
    }

    #[test]
    fn python_int_truthiness_and_range() {
        use serde_json::json;
        let d = 262_144;
        let num = |text: &str| serde_json::from_str::<Value>(text).unwrap();
        // Truthy values that int() turns into 0 give max(1, 0) = 1, not the default.
        assert_eq!(python_int_or_default(Some(&json!("0")), d), Ok(1));
        assert_eq!(python_int_or_default(Some(&num("0.5")), d), Ok(1));
        assert_eq!(python_int_or_default(Some(&num("-0.5")), d), Ok(1));
        assert_eq!(python_int_or_default(Some(&num("0.0")), d), Ok(d));
        assert_eq!(python_int_or_default(Some(&json!(true)), d), Ok(1));
        assert_eq!(python_int_or_default(Some(&num("262144.0")), d), Ok(262_144));
        assert_eq!(python_int_or_default(Some(&json!(" 1_000 ")), d), Ok(1000));
        assert_eq!(python_int_or_default(Some(&json!("+7")), d), Ok(7));
        assert!(python_int_or_default(Some(&json!("262144.0")), d).is_err());
        assert!(python_int_or_default(Some(&json!("1__0")), d).is_err());
        assert!(python_int_or_default(Some(&json!("   ")), d).is_err());
        assert!(python_int_or_default(Some(&json!([1])), d).is_err());
        // Beyond what TOML can store: capped, never u64::MAX (which the state file cannot read).
        let max = i64::MAX as u64;
        assert_eq!(python_int_or_default(Some(&num("99999999999999999999")), d), Ok(max));
        assert_eq!(python_int_or_default(Some(&num("1e300")), d), Ok(max));
        assert_eq!(python_int_or_default(Some(&json!("9".repeat(60))), d), Ok(max));
    }
}
