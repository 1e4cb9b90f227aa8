//! The state file (`.git/bitsota.toml`) and the output layer under stress: concurrent runs,
//! stale and live locks, odd but valid files and task records, symlinks, read-only `.git`,
//! colour and quiet rules, and a closed stderr.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};

use git_bitsota::test_support::{State, StateFile};

use crate::common::{task_record, write, Env, BIN};

const BENCH: &[u8] = b"print('score: 1')\n";

fn state_path(repo: &Path) -> PathBuf {
    repo.join(".git/bitsota.toml")
}

fn read_state(repo: &Path) -> State {
    StateFile::new(state_path(repo)).read_bound().expect("state reads back")
}

/// `init` with `record` written to a file; returns the run.
fn init_with(env: &Env, repo: &Path, record: &Value, extra: &[&str]) -> crate::common::Run {
    let file = env.path("record.json");
    fs::write(&file, record.to_string()).unwrap();
    let mut args = vec!["init", "demo-task", "--task-file", file.to_str().unwrap()];
    args.extend_from_slice(extra);
    env.tool(repo, &args)
}

fn leftovers(repo: &Path) -> Vec<String> {
    crate::common::names_in(&repo.join(".git"))
        .into_iter()
        .filter(|n| n.starts_with("bitsota.toml.") && !n.contains(".corrupt-"))
        .collect()
}

#[test]
fn concurrent_runs_lose_no_update() {
    let env = Env::new();
    let repo =
        env.bound(&[("train.py", b"x\n"), ("bench.py", BENCH)], json!({"allowed_patch_paths": ["train.py"]}));
    // Consent once, so the parallel runs only append their result.
    env.tool(&repo, &["bench", "--yes"]).expect(0);
    let before = read_state(&repo).bench.len();

    let runs = 8;
    let children: Vec<_> = (0..runs)
        .map(|_| {
            let mut cmd = env.command(BIN, &repo);
            cmd.args(["bench", "--json"]).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
            cmd.spawn().unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    }
    // Every run's record is there: none overwrote another's.
    assert_eq!(read_state(&repo).bench.len(), before + runs);
    assert_eq!(leftovers(&repo), Vec::<String>::new(), "no lock or temp file is left behind");
}

#[test]
fn stale_lock_of_a_dead_process_is_taken_over() {
    let env = Env::new();
    let repo =
        env.bound(&[("train.py", b"x\n"), ("bench.py", BENCH)], json!({"allowed_patch_paths": ["train.py"]}));
    let mut dead = std::process::Command::new("true").spawn().unwrap();
    let pid = dead.id();
    dead.wait().unwrap();
    fs::write(repo.join(".git/bitsota.toml.lock"), pid.to_string()).unwrap();

    let record = task_record("https://example.invalid/task.git", "main", &["bench.py"]);
    init_with(&env, &repo, &record, &[]).expect(0);
    assert_eq!(read_state(&repo).task.allowed_patch_paths, ["bench.py"]);
    assert!(!repo.join(".git/bitsota.toml.lock").exists());
}

#[test]
fn live_lock_is_waited_for_not_taken_over() {
    let env = Env::new();
    let repo =
        env.bound(&[("train.py", b"x\n"), ("bench.py", BENCH)], json!({"allowed_patch_paths": ["train.py"]}));
    let lock = repo.join(".git/bitsota.toml.lock");
    // Another process holds the lock until we tell it to let go.
    let holder_script = "import fcntl, sys\n\
         f = open(sys.argv[1], 'a')\n\
         fcntl.flock(f, fcntl.LOCK_EX)\n\
         print('locked', flush=True)\n\
         sys.stdin.readline()\n";
    let mut holder = env.command("python3", &repo);
    holder.args(["-c", holder_script]).arg(&lock);
    let mut holder = holder.stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(holder.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "locked");

    let file = env.path("record.json");
    let record = task_record("https://example.invalid/task.git", "main", &["bench.py"]);
    fs::write(&file, record.to_string()).unwrap();
    let mut tool = env.command(BIN, &repo);
    tool.args(["init", "demo-task", "--task-file", file.to_str().unwrap()]);
    let mut tool = tool.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();

    std::thread::sleep(Duration::from_millis(1500));
    assert!(tool.try_wait().unwrap().is_none(), "init must wait while the lock is held");
    assert_eq!(read_state(&repo).task.allowed_patch_paths, ["train.py"], "nothing written yet");

    holder.stdin.take().unwrap().write_all(b"\n").unwrap();
    holder.wait().unwrap();
    let out = tool.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(read_state(&repo).task.allowed_patch_paths, ["bench.py"]);
}

#[test]
fn wrong_types_missing_task_and_bad_versions_block_and_are_never_rewritten() {
    let env = Env::new();
    let repo =
        env.bound(&[("train.py", b"x\n"), ("bench.py", BENCH)], json!({"allowed_patch_paths": ["train.py"]}));
    let path = state_path(&repo);
    let good = fs::read_to_string(&path).unwrap();
    let cases = [
        good.replace("version = 1", "version = 0"),
        good.replace("version = 1", "version = -1"),
        good.replace("version = 1", "version = \"1\""),
        good.replace("version = 1", "version = 1.0"),
        good.replace("version = 1\n", ""),
        good.replace("max_patch_bytes = 262144", "max_patch_bytes = \"262144\""),
        good.replace("max_patch_bytes = 262144", "max_patch_bytes = -5"),
        good.replace("allowed_patch_paths = [\"train.py\"]", "allowed_patch_paths = \"train.py\""),
        "version = 1\ncoordinator_url = \"https://x.invalid\"\n".to_string(),
        "version = 1\ntask = 5\n".to_string(),
        String::new(),
    ];
    for text in cases {
        fs::write(&path, &text).unwrap();
        let run = env.tool(&repo, &["check", "--json"]).expect(2);
        assert!(run.stderr.contains(&*path.to_string_lossy()), "names the path: {}", run.stderr);
        assert!(run.json()["error"]["code"].as_str().unwrap().starts_with("state_"), "{text}");
        // init without --force refuses too, and nothing touches the file.
        let record = task_record("https://example.invalid/task.git", "main", &["train.py"]);
        init_with(&env, &repo, &record, &[]).expect(2);
        assert_eq!(fs::read_to_string(&path).unwrap(), text, "never rewritten");
    }
    // A wrong type inside says where it is.
    let line = good.lines().position(|l| l.starts_with("max_patch_bytes")).unwrap() + 1;
    fs::write(&path, good.replace("max_patch_bytes = 262144", "max_patch_bytes = \"x\"")).unwrap();
    let run = env.tool(&repo, &["check"]).expect(2);
    assert!(run.stderr.contains(&format!("corrupt: line {line}: ")), "{}", run.stderr);
}

#[test]
fn unknown_keys_everywhere_survive_a_rewrite() {
    let env = Env::new();
    let repo =
        env.bound(&[("train.py", b"x\n"), ("bench.py", BENCH)], json!({"allowed_patch_paths": ["train.py"]}));
    let path = state_path(&repo);
    let mut text = fs::read_to_string(&path).unwrap();
    text = text.replacen(
        "version = 1\n",
        "version = 1\nfuture_flag = true\nseen_at = 1979-05-27T07:32:00Z\nmixed = [1, \"a\", [2.5, {k = \"v\"}]]\n",
        1,
    );
    text.push_str(
        "\n[future]\nnested = { deep = [1, 2] }\n\n\
         [claim]\nid = \"c1\"\nhotkey = \"5F\"\nstatus = \"active\"\nexpires_at = \"2030-01-01T00:00:00Z\"\n\
         lease = 42\n\n\
         [[submissions]]\nid = \"s1\"\nclaim_id = \"c1\"\nstatus = \"pending_verification\"\n\
         base_ref = \"abc\"\npatch_sha256 = \"00\"\npatch_bytes = 3\nscore_hint = 1.5\n\n\
         [[future_list]]\na = 1\n\n\
         [pending_submission]\nclaim_id = \"c1\"\npatch_sha256 = \"00\"\nat = \"2030-01-01T00:00:00Z\"\n\n\
         [pending_claim]\nat = \"2030-01-01T00:00:00Z\"\nknown = [\"c0\"]\n",
    );
    fs::write(&path, &text).unwrap();

    // Rebinding the same task rewrites the file and keeps all of it.
    let record = task_record("https://example.invalid/task.git", "main", &["train.py"]);
    init_with(&env, &repo, &record, &[]).expect(0);
    let after: toml::Table = toml::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
    let before: toml::Table = toml::from_str(&text).unwrap();
    for key in
        ["future_flag", "seen_at", "mixed", "future", "future_list", "pending_submission", "pending_claim"]
    {
        assert_eq!(after.get(key), before.get(key), "{key}");
    }
    assert_eq!(after["claim"]["lease"], toml::Value::Integer(42));
    assert_eq!(after["submissions"][0]["score_hint"], toml::Value::Float(1.5));
    env.tool(&repo, &["check", "--json"]).expect(1);
}

#[test]
fn odd_but_valid_task_records_bind_and_read_back() {
    let env = Env::new();
    let repo = env.repo_with("repo", &[("train.py", b"x\n")]);
    let base = task_record("https://example.invalid/task.git", "main", &["train.py"]);
    let cases: &[(&str, Value, u64)] = &[
        ("float", json!(262144.0), 262_144),
        ("string", json!("262144"), 262_144),
        ("python zero string", json!("0"), 1),
        ("null", Value::Null, 262_144),
        // Beyond i64: Python int() takes it; TOML cannot hold it, so it is capped, and the
        // state file must still read back (it used to be written as u64::MAX and then refused).
        ("huge", serde_json::from_str("99999999999999999999").unwrap(), i64::MAX as u64),
        ("huge float", json!(1e300), i64::MAX as u64),
    ];
    for (what, value, want) in cases {
        let mut record = base.clone();
        record["max_patch_bytes"] = value.clone();
        init_with(&env, &repo, &record, &[]).expect(0);
        assert_eq!(read_state(&repo).task.max_patch_bytes, *want, "{what}");
        let report = env.tool(&repo, &["check", "--json"]).expect(1).json();
        assert_eq!(report["max_patch_bytes"].as_u64(), Some(*want), "{what}");
    }

    // Unicode and very long text, null optionals, and extra fields TOML cannot hold as they are.
    let mut record = base.clone();
    record["title"] = json!("Größte Verbesserung 🚀 ".repeat(200));
    record["benchmark_command"] = json!(format!("python3 bench.py {}", "--flag ".repeat(5000)));
    record["setup_command"] = Value::Null;
    record["result_path"] = Value::Null;
    record["secondary_metric_name"] = Value::Null;
    record["model"] = serde_json::from_str(
        r#"{"params": 123456789012345678901234567890, "none": null, "mixed": [1, "two", [3.5, null, {"k": null}], {"x": true}],
            "": "empty key", "dotted.key": "v", "line\nbreak": "\u0000nul", "nested": [{"a": 1}, {"b": [[]]}]}"#,
    )
    .unwrap();
    init_with(&env, &repo, &record, &[]).expect(0);
    let state = read_state(&repo);
    assert_eq!(state.task.title, record["title"].as_str().unwrap());
    assert_eq!(state.task.setup_command, None);
    assert_eq!(state.task.result_path, None);
    let model = state.task.extra["model"].as_table().unwrap();
    assert_eq!(model["params"].as_str(), Some("123456789012345678901234567890"));
    assert!(!model.contains_key("none"));
    assert_eq!(model["line\nbreak"].as_str(), Some("\u{0}nul"));
    env.tool(&repo, &["check", "--json"]).expect(1);
    // Rewriting it (same task) keeps it readable.
    init_with(&env, &repo, &record, &[]).expect(0);
    assert_eq!(read_state(&repo).task.extra, state.task.extra);
}

#[test]
fn refused_task_records_leave_the_state_alone() {
    let env = Env::new();
    let repo =
        env.bound(&[("train.py", b"x\n"), ("bench.py", BENCH)], json!({"allowed_patch_paths": ["train.py"]}));
    let before = fs::read(state_path(&repo)).unwrap();
    let base = task_record("https://example.invalid/task.git", "main", &["train.py"]);
    for (key, value) in [
        // The validator would iterate the characters of a string; refuse instead of guessing.
        ("allowed_patch_paths", json!("train.py")),
        ("allowed_patch_paths", json!(["train.py", null])),
        ("max_patch_bytes", json!("262144.0")),
        ("max_patch_bytes", json!([1])),
        ("time_budget_seconds", json!(10_000_000)),
        ("id", json!(42)),
    ] {
        let mut record = base.clone();
        record[key] = value.clone();
        let run = init_with(&env, &repo, &record, &["--json"]).expect(2);
        assert_eq!(run.json()["error"]["code"], "bad_task_record", "{key}={value}");
        assert!(run.stderr.contains(key), "{key}: {}", run.stderr);
        assert_eq!(fs::read(state_path(&repo)).unwrap(), before);
    }
}

#[test]
fn symlinked_state_file_stays_a_symlink() {
    let env = Env::new();
    let repo =
        env.bound(&[("train.py", b"x\n"), ("bench.py", BENCH)], json!({"allowed_patch_paths": ["train.py"]}));
    let elsewhere = env.path("kept/bitsota.toml");
    fs::create_dir_all(elsewhere.parent().unwrap()).unwrap();
    fs::rename(state_path(&repo), &elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, state_path(&repo)).unwrap();

    let record = task_record("https://example.invalid/task.git", "main", &["bench.py"]);
    init_with(&env, &repo, &record, &[]).expect(0);
    assert!(fs::symlink_metadata(state_path(&repo)).unwrap().file_type().is_symlink());
    assert!(fs::read_to_string(&elsewhere).unwrap().contains("\"bench.py\""));
    assert_eq!(leftovers(&repo), Vec::<String>::new());
}

#[test]
fn read_only_git_dir_is_a_clear_error() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    let repo =
        env.bound(&[("train.py", b"x\n"), ("bench.py", BENCH)], json!({"allowed_patch_paths": ["train.py"]}));
    let git = repo.join(".git");
    let before = fs::read(state_path(&repo)).unwrap();
    fs::set_permissions(&git, fs::Permissions::from_mode(0o555)).unwrap();
    // root ignores directory permissions; nothing to test then.
    let writable = fs::write(git.join("probe"), b"").is_ok();
    if !writable {
        let record = task_record("https://example.invalid/task.git", "main", &["bench.py"]);
        let run = init_with(&env, &repo, &record, &["--json"]).expect(2);
        assert!(run.stderr.contains("bitsota.toml.lock"), "names the file: {}", run.stderr);
        assert!(run.stderr.contains("caused by:"), "{}", run.stderr);
        assert_eq!(run.json()["version"], 1);
        assert_eq!(fs::read(state_path(&repo)).unwrap(), before);
    }
    fs::set_permissions(&git, fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn json_errors_carry_no_colour_and_quiet_keeps_warnings() {
    let env = Env::new();
    let repo = env.repo_with("repo", &[("train.py", b"x\n")]);
    // Not bound: an error with a hint.
    let run = env.tool(&repo, &["--color", "always", "check", "--json"]).expect(2);
    assert!(!run.stdout.contains(&0x1b), "no ANSI in JSON: {}", run.out());
    assert_eq!(run.json()["error"]["code"], "not_bound");
    assert!(run.stderr.contains("\u{1b}["), "stderr is coloured on request: {}", run.stderr);

    let run = env.tool(&repo, &["check", "-q", "--color", "never"]).expect(2);
    assert!(run.stderr.starts_with("error: "), "{}", run.stderr);
    assert!(!run.stderr.contains('\u{1b}'));

    // -q hides hints, not warnings.
    let record = task_record("https://example.invalid/task.git", "main", &["../escape", "train.py"]);
    let run = init_with(&env, &repo, &record, &["-q"]).expect(0);
    assert!(run.stderr.contains("warning: "), "{}", run.stderr);
    assert!(!run.stderr.contains("hint: "), "{}", run.stderr);
    // (NO_COLOR and TERM=dumb need a terminal to matter: see output.rs's unit test.)
}

#[test]
fn closed_or_broken_stderr_does_not_change_the_outcome() {
    let env = Env::new();
    let repo = env.repo_with("repo", &[("train.py", b"x\n")]);
    // stderr closed outright.
    let mut cmd = env.command("sh", &repo);
    cmd.args(["-c", &format!("exec 2>&-; exec '{BIN}' check --json")]);
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let value: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(value["error"]["code"], "not_bound");

    // stderr a pipe nobody reads any more (EPIPE on every write).
    let mut cmd = env.command(BIN, &repo);
    cmd.args(["check", "--json"]).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    drop(child.stderr.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2), "no panic");
    let value: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(value["error"]["code"], "not_bound");

    // And a successful run with a broken stderr is still a success (warnings lost, state written).
    let record = task_record("https://example.invalid/task.git", "main", &["../escape", "train.py"]);
    fs::write(env.path("record.json"), record.to_string()).unwrap();
    let mut cmd = env.command(BIN, &repo);
    cmd.args(["init", "demo-task", "--task-file", env.path("record.json").to_str().unwrap()]);
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    drop(child.stderr.take());
    assert_eq!(child.wait_with_output().unwrap().status.code(), Some(0));
    write(&repo.join("train.py"), b"y\n");
    assert_eq!(read_state(&repo).task.slug, "demo-task");
}

#[test]
fn force_keeps_every_copy_moved_aside() {
    let env = Env::new();
    let repo =
        env.bound(&[("train.py", b"x\n"), ("bench.py", BENCH)], json!({"allowed_patch_paths": ["train.py"]}));
    let record = task_record("https://example.invalid/task.git", "main", &["train.py"]);
    // Two corrupt files moved aside within the same second: neither copy is lost.
    for junk in ["first = [", "second = ["] {
        fs::write(state_path(&repo), junk).unwrap();
        init_with(&env, &repo, &record, &["--force"]).expect(0);
    }
    let mut kept: Vec<String> = fs::read_dir(repo.join(".git"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().contains(".corrupt-"))
        .map(|p| fs::read_to_string(p).unwrap())
        .collect();
    kept.sort();
    assert_eq!(kept, ["first = [", "second = ["]);

    // A state file that cannot be read for another reason is not moved aside by --force.
    fs::remove_file(state_path(&repo)).unwrap();
    fs::create_dir(state_path(&repo)).unwrap();
    let run = init_with(&env, &repo, &record, &["--force"]).expect(2);
    assert!(run.stderr.contains("cannot read"), "{}", run.stderr);
    assert!(state_path(&repo).is_dir());
}
