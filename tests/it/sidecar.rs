//! The submission sidecar contract (protocol.md §7.7, cli.md §5): loading and validation.

use std::fs;
use std::path::Path;

use serde_json::{json, Map, Value};

use git_bitsota::test_support::Kind;
use git_bitsota::test_support::{parse_record, Strictness, TaskSnapshot};
use git_bitsota::test_support::{sidecar, Sidecar, PLACEHOLDER_SUMMARY};

use crate::common::{task_record, Env};

fn task(overrides: Value) -> TaskSnapshot {
    let mut record = task_record("https://example.com/task.git", "main", &["solution.txt"]);
    for (key, value) in overrides.as_object().unwrap() {
        record[key] = value.clone();
    }
    parse_record(&record, Strictness::WarnOnly, "2026-01-01T00:00:00Z").unwrap().snapshot
}

fn car(value: Value) -> Sidecar {
    let Value::Object(map) = value else { panic!("not an object") };
    Sidecar::from_map("submission.json".into(), map)
}

fn good() -> Map<String, Value> {
    json!({
        "summary": "Better schedule; local score 2.5.",
        "claimed_metrics": {"score": 2.5, "params": 100},
        "execution_log": "sh bench.sh: score=2.5",
        "notes": "ignored by the coordinator",
    })
    .as_object()
    .unwrap()
    .clone()
}

fn problems_with(changes: Value, task: &TaskSnapshot) -> Vec<String> {
    let mut map = good();
    for (key, value) in changes.as_object().unwrap() {
        if value == &json!("<remove>") {
            map.remove(key);
        } else {
            map.insert(key.clone(), value.clone());
        }
    }
    sidecar::problems(&Sidecar::from_map("s.json".into(), map), task)
}

#[track_caller]
fn assert_one_problem(problems: Vec<String>, needle: &str) {
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains(needle), "{:?} does not mention {needle:?}", problems[0]);
}

#[test]
fn a_good_sidecar_has_no_problems_and_keeps_unknown_fields() {
    let t = task(json!({}));
    let s = car(Value::Object(good()));
    assert!(sidecar::problems(&s, &t).is_empty());
    assert_eq!(s.summary(), Some("Better schedule; local score 2.5."));
    assert_eq!(s.raw()["notes"], "ignored by the coordinator");
    assert!(!s.has_artifact());
    assert!(!s.has_artifact());
}

#[test]
fn summary_problems() {
    let t = task(json!({}));
    assert_one_problem(problems_with(json!({"summary": "<remove>"}), &t), "`summary` is missing");
    assert_one_problem(problems_with(json!({"summary": null}), &t), "`summary` is missing");
    assert_one_problem(problems_with(json!({"summary": "  \n"}), &t), "`summary` is empty");
    assert_one_problem(problems_with(json!({"summary": 5}), &t), "must be a string");
    assert_one_problem(problems_with(json!({"summary": PLACEHOLDER_SUMMARY}), &t), "placeholder");
}

#[test]
fn claimed_metrics_problems() {
    let t = task(json!({}));
    assert_one_problem(
        problems_with(json!({"claimed_metrics": "<remove>"}), &t),
        "`claimed_metrics` is missing",
    );
    assert_one_problem(
        problems_with(json!({"claimed_metrics": {}}), &t),
        "no value for the task metric `score`",
    );
    assert_one_problem(problems_with(json!({"claimed_metrics": {"other": 1}}), &t), "task metric `score`");
    assert_one_problem(problems_with(json!({"claimed_metrics": {"score": "2.5"}}), &t), "finite number");
    assert_one_problem(problems_with(json!({"claimed_metrics": {"score": true}}), &t), "finite number");
    assert_one_problem(problems_with(json!({"claimed_metrics": [1]}), &t), "JSON object");
    assert!(problems_with(json!({"claimed_metrics": {"score": 3}}), &t).is_empty());
}

#[test]
fn centerless_needs_a_proposed_idea() {
    let t = task(json!({"competition_mode": "centerless"}));
    assert_one_problem(problems_with(json!({}), &t), "proposed_idea");
    assert_one_problem(problems_with(json!({"proposed_idea": "   "}), &t), "proposed_idea");
    assert!(problems_with(json!({"proposed_idea": "Use a cosine schedule."}), &t).is_empty());
    // Standard tasks do not need one, but a wrong type is still wrong.
    let standard = task(json!({}));
    assert_one_problem(
        problems_with(json!({"proposed_idea": 3}), &standard),
        "`proposed_idea` must be a string",
    );
    assert_one_problem(
        problems_with(json!({"execution_log": ["x"]}), &standard),
        "`execution_log` must be a string",
    );
}

#[test]
fn artifact_fields() {
    let t = task(json!({}));
    let sha = "AB".repeat(32);
    let full = json!({
        "artifact_uri": "https://huggingface.co/x/resolve/abc/a.zip",
        "artifact_sha256": sha,
        "artifact_size_bytes": 123,
    });
    assert!(problems_with(full.clone(), &t).is_empty());
    let mut map = good();
    for (k, v) in full.as_object().unwrap() {
        map.insert(k.clone(), v.clone());
    }
    let s = Sidecar::from_map("s.json".into(), map);
    assert!(s.has_artifact());
    assert_eq!(s.artifact_sha256(), Some("ab".repeat(32)));
    assert_eq!(s.artifact_size_bytes(), Some(123));

    assert_one_problem(
        problems_with(json!({"artifact_uri": "https://h/a.zip"}), &t),
        "artifact_sha256, artifact_size_bytes missing",
    );
    let bad = |field: &str, value: Value| {
        let mut changes = full.clone();
        changes[field] = value;
        problems_with(changes, &t)
    };
    assert_one_problem(bad("artifact_uri", json!("http://h/a.zip")), "https://");
    assert_one_problem(bad("artifact_uri", json!("https://")), "https://");
    assert_one_problem(bad("artifact_sha256", json!("abc")), "64 hex");
    assert_one_problem(bad("artifact_sha256", json!("g".repeat(64))), "64 hex");
    assert_one_problem(bad("artifact_size_bytes", json!(0)), "positive integer");
    assert_one_problem(bad("artifact_size_bytes", json!(-5)), "positive integer");
    assert_one_problem(bad("artifact_size_bytes", json!("123")), "positive integer");
    assert_one_problem(bad("artifact_size_bytes", json!(1.5)), "positive integer");
    // null and "" mean "not given", as in the reference client.
    assert!(problems_with(json!({"artifact_uri": "", "artifact_sha256": null}), &t).is_empty());

    let artifact_task = task(json!({"requires_submission_artifact": true}));
    // A missing artifact is the check's `artifact_missing`, not a sidecar problem.
    assert!(problems_with(json!({}), &artifact_task).is_empty());
    assert!(problems_with(full, &artifact_task).is_empty());
}

#[test]
fn loading() {
    let env = Env::new();
    let path = env.path("submission.json");
    assert!(sidecar::load(&path).unwrap().is_none());

    fs::write(&path, b"{\"summary\": ").unwrap();
    let err = sidecar::load(&path).unwrap_err();
    assert_eq!(err.code(), "submission_invalid");
    assert_eq!(err.kind(), Kind::Problems);
    assert!(err.message().contains("not valid JSON"), "{}", err.message());

    fs::write(&path, b"[1, 2]").unwrap();
    assert_eq!(sidecar::load(&path).unwrap_err().code(), "submission_invalid");

    // A directory where the file should be is a bad path (usage), not a bad sidecar.
    let dir = env.path("dir.json");
    fs::create_dir_all(&dir).unwrap();
    assert_eq!(sidecar::load(&dir).unwrap_err().kind(), Kind::Usage);

    fs::write(&path, serde_json::to_vec(&good()).unwrap()).unwrap();
    let s = sidecar::load(&path).unwrap().unwrap();
    assert_eq!(s.path(), path.as_path());
    assert_eq!(s.raw(), &good());
}

#[test]
fn paths_resolve_against_the_current_directory() {
    let env = Env::new();
    let dir = env.repo_with("tree", &[("a.txt", b"a\n")]);
    let repo = git_bitsota::test_support::Repo::discover_from(&dir).unwrap();
    let work = repo.work_tree();
    assert_eq!(sidecar::resolve_path(&repo, None).unwrap(), work.join("submission.json"));
    assert_eq!(
        sidecar::resolve_path(&repo, Some(Path::new("/abs/s.json"))).unwrap(),
        Path::new("/abs/s.json")
    );
    let cwd = std::env::current_dir().unwrap();
    assert_eq!(sidecar::resolve_path(&repo, Some(Path::new("rel.json"))).unwrap(), cwd.join("rel.json"));
    assert!(sidecar::resolve_path(&repo, Some(Path::new(""))).is_err());
}

#[test]
fn record_bench_creates_with_placeholder_and_merges() {
    let env = Env::new();
    let path = env.path("s.json");
    let fields = |score: f64| sidecar::BenchRecordFields {
        claimed_metrics: json!({"score": score}).as_object().unwrap().clone(),
        execution_log: format!("score = {score}"),
    };
    assert!(sidecar::record_bench(&path, fields(1.0)).unwrap());
    let s = sidecar::load(&path).unwrap().unwrap();
    assert!(s.summary_is_placeholder());
    assert_one_problem(sidecar::problems(&s, &task(json!({}))), "placeholder");

    let mut map = s.raw().clone();
    map.insert("summary".into(), json!("mine"));
    map.insert("proposed_idea".into(), json!("idea"));
    map.insert("claimed_metrics".into(), json!({"score": 1.0, "stale": 9}));
    sidecar::write(&path, &map).unwrap();
    assert!(!sidecar::record_bench(&path, fields(2.0)).unwrap());
    let s = sidecar::load(&path).unwrap().unwrap();
    assert_eq!(s.summary(), Some("mine"));
    assert_eq!(s.proposed_idea(), Some("idea"));
    assert_eq!(s.claimed_metrics().unwrap(), json!({"score": 2.0}).as_object().unwrap());
    assert_eq!(s.execution_log(), Some("score = 2"));
    assert!(fs::read_to_string(&path).unwrap().ends_with("}\n"));
    // No temporary files left next to it.
    let names = crate::common::names_in(env.root());
    assert!(!names.iter().any(|n| n.contains(".tmp-")), "{names:?}");
}

#[test]
fn loading_edge_cases_bom_non_objects_huge_and_fifo() {
    let env = Env::new();
    let path = env.path("submission.json");
    // A UTF-8 byte-order mark (Windows editors) is not content.
    let mut bytes = b"\xef\xbb\xbf".to_vec();
    bytes.extend(serde_json::to_vec(&good()).unwrap());
    fs::write(&path, &bytes).unwrap();
    assert_eq!(sidecar::load(&path).unwrap().unwrap().raw(), &good());

    for text in ["\"summary\"", "3", "null", "true", "", "\u{feff}", "{} {}"] {
        fs::write(&path, text).unwrap();
        let err = sidecar::load(&path).unwrap_err();
        assert_eq!(err.code(), "submission_invalid", "{text:?}");
        assert_eq!(err.kind(), Kind::Problems, "{text:?}");
    }
    fs::write(&path, b"{\"summary\": \"\xff\"}").unwrap();
    assert!(sidecar::load(&path).unwrap_err().message().contains("not UTF-8"));

    // Far bigger than any description: refused without parsing it.
    let mut huge = b"{\"summary\": \"".to_vec();
    huge.resize(5 << 20, b'a');
    huge.extend_from_slice(b"\"}");
    fs::write(&path, &huge).unwrap();
    let err = sidecar::load(&path).unwrap_err();
    assert_eq!(err.code(), "submission_invalid");
    assert!(err.message().contains("larger than"), "{}", err.message());

    // A FIFO would block a reader forever: a bad path, reported at once.
    let fifo = env.path("fifo.json");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let err = sidecar::load(&fifo).unwrap_err();
    assert_eq!(err.kind(), Kind::Usage);
    assert_eq!(err.code(), "submission_path");
}
