//! `git bitsota bench`: validator environment, metric rules, time-outs, baseline worktree,
//! consent and `--record` — with task records whose commands are small shell scripts.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::json;

use git_bitsota::test_support::sidecar;
use git_bitsota::test_support::StateFile;

use crate::common::{pid_in, precondition, process_is_dead, task_record, write, Env, Run};

fn bench(env: &Env, repo: &Path, extra: &[&str]) -> Run {
    let mut args = vec!["bench", "--yes", "--json"];
    args.extend_from_slice(extra);
    env.tool(repo, &args)
}

fn state(repo: &Path) -> git_bitsota::test_support::State {
    StateFile::new(repo.join(".git/bitsota.toml")).read_bound().unwrap()
}

#[test]
fn metric_value_shape_wins_over_other_shapes() {
    let env = Env::new();
    let script = br#"mkdir -p out
printf '{"metric_name": "score", "metric_value": 1.5, "metrics": {"score": 9}, "score": 8}' > out/result.json
echo "score=7"
"#;
    let repo = env.bound(
        &[("bench.sh", script)],
        json!({"benchmark_command": "sh bench.sh", "result_path": "out/result.json"}),
    );
    let v = bench(&env, &repo, &[]).expect(0).json();
    assert_eq!(v["version"], 1);
    assert_eq!(v["status"], "ok");
    assert_eq!(v["value"].as_f64(), Some(1.5));
    assert_eq!(v["metric_name"], "score");
    assert!(v["baseline"].is_null());
    let log = v["log"].as_str().unwrap();
    assert!(log.contains("/.git/bitsota/bench-"), "{log}");
    assert!(fs::read_to_string(log).unwrap().contains("score=7"));
}

#[test]
fn metrics_object_shape() {
    let env = Env::new();
    let script = br#"printf '{"metric_name": "other", "metric_value": 1, "metrics": {"score": 2.5}, "score": 8}' > result.json"#;
    let repo = env.bound(
        &[("bench.sh", script)],
        json!({"benchmark_command": "sh bench.sh", "result_path": "result.json"}),
    );
    let v = bench(&env, &repo, &[]).expect(0).json();
    assert_eq!(v["value"].as_f64(), Some(2.5));
}

#[test]
fn top_level_key_shape_with_python_float_semantics() {
    let env = Env::new();
    // float(" 3_000.5 ") in Python is 3000.5.
    let script = br#"printf '{"score": " 3_000.5 "}' > result.json"#;
    let repo = env.bound(
        &[("bench.sh", script)],
        json!({"benchmark_command": "sh bench.sh", "result_path": "result.json"}),
    );
    let v = bench(&env, &repo, &[]).expect(0).json();
    assert_eq!(v["status"], "ok");
    assert_eq!(v["value"].as_f64(), Some(3000.5));
}

#[test]
fn result_path_has_no_fallback_to_output() {
    let env = Env::new();
    let repo = env.bound(
        &[("bench.sh", b"echo score=7\n")],
        json!({"benchmark_command": "sh bench.sh", "result_path": "result.json"}),
    );
    let v = bench(&env, &repo, &[]).expect(1).json();
    assert_eq!(v["status"], "error");
    assert!(v["value"].is_null());
    assert!(v["message"].as_str().unwrap().contains("result file not found: result.json"), "{v}");

    // A result file left over from an earlier run does not count as this run's result.
    write(&repo.join("result.json"), br#"{"score": 1}"#);
    let v = bench(&env, &repo, &[]).expect(1).json();
    assert_eq!(v["status"], "error");
    assert!(v["message"].as_str().unwrap().contains("left over"), "{v}");

    // Invalid JSON and a missing key are errors too.
    let repo2 = {
        let env2 = &env;
        let dir = env2.repo_with("task2", &[("bench.sh", b"echo '{oops' > r.json; echo score=7\n")]);
        let mut record = task_record(dir.to_str().unwrap(), "main", &["x"]);
        record["benchmark_command"] = json!("sh bench.sh");
        record["result_path"] = json!("r.json");
        env2.bind(&dir, &record);
        dir
    };
    let v = bench(&env, &repo2, &[]).expect(1).json();
    assert!(v["message"].as_str().unwrap().contains("result file is not valid JSON"), "{v}");
}

#[test]
fn metric_from_output_last_match_over_stdout_then_stderr() {
    let env = Env::new();
    let script = b"echo 'score: 1'\necho 'SCORE = 4.25'\necho 'Score=5e-1' >&2\necho 'best_score: 99'\n";
    let repo = env.bound(&[("bench.sh", script)], json!({"benchmark_command": "sh bench.sh"}));
    let v = bench(&env, &repo, &[]).expect(0).json();
    // stderr comes after stdout in the validator's combined text, so its match is the last.
    assert_eq!(v["value"].as_f64(), Some(5e-1));
    assert_eq!(v["exit_code"], 0);
}

#[test]
fn rejection_line_makes_status_rejected() {
    let env = Env::new();
    let script = b"echo score=3\necho 'validator_rejection=quality_floor ppl too high' >&2\nexit 1\n";
    let repo = env.bound(&[("bench.sh", script)], json!({"benchmark_command": "sh bench.sh"}));
    let v = bench(&env, &repo, &[]).expect(1).json();
    assert_eq!(v["status"], "rejected");
    assert_eq!(v["rejection"], "quality_floor");
    assert!(v["value"].is_null());
    assert_eq!(v["exit_code"], 1);
}

#[test]
fn non_zero_exit_is_an_error_even_with_a_metric() {
    let env = Env::new();
    let repo =
        env.bound(&[("bench.sh", b"echo score=3\nexit 2\n")], json!({"benchmark_command": "sh bench.sh"}));
    let run = env.tool(&repo, &["bench", "--yes"]).expect(1);
    assert!(run.out().contains("no metric (error"), "{}", run.out());
    assert!(run.out().contains("validators do not count it"), "{}", run.out());
    // The command's output streams to stderr, never stdout.
    assert!(run.stderr.contains("score=3"), "{}", run.stderr);
    assert!(!run.out().contains("score=3"));
    let v = bench(&env, &repo, &[]).expect(1).json();
    assert_eq!(v["status"], "error");
    assert_eq!(v["exit_code"], 2);
    let records = state(&repo).bench;
    let last = records.last().unwrap();
    assert_eq!(last.status.as_str(), "error");
    assert_eq!(last.exit_code, Some(2));
    assert_eq!(last.kind, "candidate");
}

#[test]
fn setup_failure_stops_before_the_benchmark() {
    let env = Env::new();
    let repo = env.bound(
        &[("bench.sh", b"touch ran\necho score=1\n")],
        json!({"setup_command": "echo preparing; exit 4", "benchmark_command": "sh bench.sh"}),
    );
    let v = bench(&env, &repo, &[]).expect(1).json();
    assert_eq!(v["status"], "error");
    assert!(v["message"].as_str().unwrap().contains("setup failed (exited with 4"), "{v}");
    assert!(!repo.join("ran").exists());
    // --no-setup skips it.
    let v = bench(&env, &repo, &["--no-setup"]).expect(0).json();
    assert_eq!(v["value"].as_f64(), Some(1.0));
}

#[test]
fn timeout_kills_the_whole_process_group() {
    let env = Env::new();
    // The grandchild ignores SIGTERM: only the SIGKILL of the whole group (after the budget of
    // 1 s and the grace period) stops it. It writes its pid before the benchmark goes on.
    let script = b"sh -c 'trap \"\" TERM; echo $$ > late.pid; exec sleep 60' &\n\
        while [ ! -s late.pid ]; do sleep 0.05; done\nsleep 60\necho score=1\n";
    let repo = env.bound(
        &[("bench.sh", script)],
        json!({"benchmark_command": "sh bench.sh", "time_budget_seconds": 1}),
    );
    let v = bench(&env, &repo, &[]).expect(1).json();
    assert_eq!(v["status"], "timeout");
    let pid = pid_in(&repo.join("late.pid"));
    assert!(process_is_dead(pid), "the grandchild {pid} survived the time-out");
}

#[test]
fn processes_that_leave_the_group_with_setsid_are_killed_too() {
    if !precondition(
        Path::new("/proc/self/stat").exists() && Path::new("/usr/bin/setsid").exists(),
        "needs Linux /proc and setsid",
    ) {
        return;
    }
    let env = Env::new();
    // A daemon in its own session (out of reach of a group kill), started by a benchmark that
    // times out and by one that finishes normally; each waits until the daemon wrote its pid.
    let daemon = "setsid sh -c 'echo $$ > escaped.pid; exec sleep 60' </dev/null >/dev/null 2>&1 &\n\
        while [ ! -s escaped.pid ]; do sleep 0.05; done";
    for (script, status) in
        [(format!("{daemon}\nsleep 60\n"), "timeout"), (format!("{daemon}\necho score=1\n"), "ok")]
    {
        let repo = env.bound(
            &[("bench.sh", script.as_bytes())],
            json!({"benchmark_command": "sh bench.sh", "time_budget_seconds": 1}),
        );
        let v = bench(&env, &repo, &[]).json();
        assert_eq!(v["status"], status, "{v}");
        let pid = pid_in(&repo.join("escaped.pid"));
        assert!(process_is_dead(pid), "the setsid daemon {pid} survived ({status})");
        fs::remove_dir_all(&repo).unwrap();
    }
}

#[test]
fn validator_environment_and_inherit_env() {
    let env = {
        let mut env = Env::new();
        env.set("MY_PRIVATE_VAR", "leak");
        env.set("AUTORESEARCH_SUBMISSION_ARTIFACT_PATH", "/tmp/artifact.zip");
        env
    };
    let script = b"env | sort > env.txt\necho score=1\n";
    let repo = env.bound(
        &[("bench.sh", script)],
        json!({"benchmark_command": "sh bench.sh", "validator_benchmark_env": {"TASK_KNOB": "7"}}),
    );
    bench(&env, &repo, &[]).expect(0);
    let seen = fs::read_to_string(repo.join("env.txt")).unwrap();
    let lines: Vec<&str> = seen.lines().collect();
    assert!(lines.contains(&"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"), "{seen}");
    assert!(
        lines.contains(&format!("HOME={}", fs::canonicalize(&repo).unwrap().display()).as_str()),
        "{seen}"
    );
    for expected in [
        "LANG=C.UTF-8",
        "LC_ALL=C.UTF-8",
        "PYTHONNOUSERSITE=1",
        "PIP_DISABLE_PIP_VERSION_CHECK=1",
        "TASK_KNOB=7",
    ] {
        assert!(lines.contains(&expected), "{expected} missing in {seen}");
    }
    assert!(lines.contains(&"AUTORESEARCH_SUBMISSION_ARTIFACT_PATH=/tmp/artifact.zip"), "{seen}");
    assert!(!seen.contains("MY_PRIVATE_VAR"), "{seen}");
    assert!(!seen.contains("GIT_CONFIG_GLOBAL"), "{seen}");

    bench(&env, &repo, &["--inherit-env"]).expect(0);
    let seen = fs::read_to_string(repo.join("env.txt")).unwrap();
    assert!(seen.contains("MY_PRIVATE_VAR=leak"), "{seen}");
    assert!(seen.contains("LC_ALL=C.UTF-8"), "{seen}");
}

#[test]
fn hotkey_secrets_and_git_repository_variables_never_reach_the_benchmark() {
    let mut env = Env::new();
    let repo = env.bound(
        &[("bench.sh", b"env | sort > env.txt\necho score=1\n")],
        json!({"benchmark_command": "sh bench.sh"}),
    );
    env.set("BITSOTA_HOTKEY_MNEMONIC", "abandon abandon secret words");
    env.set("BITSOTA_HOTKEY_MNEMONIC_FILE", "/tmp/mnemonic.txt");
    env.set("BITSOTA_HOTKEY_PASSWORD", "hunter2-secret");
    env.set("BITSOTA_HOTKEY_PASSWORD_FILE", "/tmp/password.txt");
    // As `git --git-dir=… bitsota bench` exports it.
    env.set("GIT_DIR", repo.join(".git").to_str().unwrap());
    env.set("GIT_INDEX_FILE", repo.join(".git/index").to_str().unwrap());
    env.set("MY_PRIVATE_VAR", "kept");
    for extra in [&[][..], &["--inherit-env"][..]] {
        bench(&env, &repo, extra).expect(0);
        let seen = fs::read_to_string(repo.join("env.txt")).unwrap();
        assert!(!seen.contains("BITSOTA_HOTKEY"), "{extra:?}: {seen}");
        assert!(!seen.contains("secret"), "{extra:?}: {seen}");
        assert!(!seen.contains("GIT_DIR") && !seen.contains("GIT_INDEX_FILE"), "{extra:?}: {seen}");
        assert_eq!(seen.contains("MY_PRIVATE_VAR=kept"), !extra.is_empty(), "{extra:?}: {seen}");
    }
}

#[test]
fn consent_is_asked_once_per_set_of_commands() {
    let env = Env::new();
    let repo =
        env.bound(&[("bench.sh", b"touch ran\necho score=1\n")], json!({"benchmark_command": "sh bench.sh"}));
    // Not interactive and no --yes: refuse, show the commands, run nothing.
    let run = env.tool(&repo, &["bench", "--json"]).expect(2);
    assert_eq!(run.json()["error"]["code"], "consent_required");
    assert!(run.stderr.contains("benchmark: sh bench.sh"), "{}", run.stderr);
    assert!(run.stderr.contains("--yes"), "{}", run.stderr);
    assert!(!repo.join("ran").exists());

    env.tool(&repo, &["bench", "--yes"]).expect(0);
    assert!(state(&repo).trusted_commands.is_some());
    // Remembered: no --yes needed for the same commands.
    env.tool(&repo, &["bench"]).expect(0);

    // New commands from a new record: asked again.
    let mut record = task_record(repo.to_str().unwrap(), "main", &["solution.txt"]);
    record["benchmark_command"] = json!("sh bench.sh; echo again");
    env.bind(&repo, &record);
    let run = env.tool(&repo, &["bench", "--json"]).expect(2);
    assert_eq!(run.json()["error"]["code"], "consent_required");
}

#[test]
fn baseline_runs_in_a_temporary_worktree_and_touches_nothing() {
    let env = Env::new();
    let repo = env.bound(
        &[
            ("bench.sh", b"echo \"score=$(cat solution.txt)\"\necho built > build.out\n"),
            ("solution.txt", b"1\n"),
            ("notes.txt", b"a\n"),
        ],
        json!({"benchmark_command": "sh bench.sh", "metric_direction": "maximize"}),
    );
    // The miner's state: a branch, a staged change, an unstaged change, an untracked file.
    env.git(&repo, &["branch", "experiment"]);
    write(&repo.join("notes.txt"), b"staged\n");
    env.git(&repo, &["add", "notes.txt"]);
    write(&repo.join("solution.txt"), b"3\n");
    write(&repo.join("untracked.txt"), b"u\n");

    let index_before = fs::read(repo.join(".git/index")).unwrap();
    let refs_before = env.git(&repo, &["for-each-ref", "--format=%(refname) %(objectname)"]);
    let head_before = fs::read(repo.join(".git/HEAD")).unwrap();

    let v = bench(&env, &repo, &["--baseline"]).expect(0).json();
    assert_eq!(v["status"], "ok");
    assert_eq!(v["value"].as_f64(), Some(3.0));
    assert_eq!(v["baseline"].as_f64(), Some(1.0));
    assert_eq!(v["baseline_status"], "ok");
    assert_eq!(v["improvement"].as_f64(), Some(2.0));
    assert_eq!(v["dirty"], true);

    assert_eq!(fs::read(repo.join(".git/index")).unwrap(), index_before, "index bytes changed");
    assert_eq!(fs::read(repo.join(".git/HEAD")).unwrap(), head_before);
    assert_eq!(env.git(&repo, &["for-each-ref", "--format=%(refname) %(objectname)"]), refs_before);
    assert_eq!(fs::read(repo.join("solution.txt")).unwrap(), b"3\n");
    assert_eq!(fs::read(repo.join("notes.txt")).unwrap(), b"staged\n");
    assert!(repo.join("untracked.txt").exists());
    let worktrees = env.git(&repo, &["worktree", "list", "--porcelain"]);
    assert_eq!(worktrees.matches("worktree ").count(), 1, "{worktrees}");
    assert!(
        !repo.join(".git/worktrees").exists()
            || fs::read_dir(repo.join(".git/worktrees")).unwrap().next().is_none()
    );
    let names = crate::common::names_in(&repo.join(".git/bitsota"));
    assert!(!names.iter().any(|n| n.starts_with("baseline-")), "temporary worktree left behind: {names:?}");

    let records = state(&repo).bench;
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].kind, "baseline");
    assert_eq!(records[0].value, Some(1.0));
    assert_eq!(records[0].source, state(&repo).task.base_commit);
    assert_eq!(records[1].kind, "candidate");
    assert_eq!(records[1].value, Some(3.0));

    // Human output names both and the improvement in the task's direction.
    let run = env.tool(&repo, &["bench", "--yes", "--baseline"]).expect(0);
    let text = run.out();
    assert!(text.contains("baseline  score = 1"), "{text}");
    assert!(text.contains("candidate score = 3"), "{text}");
    assert!(text.contains("+2 (+200.00%), better (higher is better)"), "{text}");

    // Without --baseline, the latest good baseline for the same base commit and commands is shown.
    let v = bench(&env, &repo, &[]).expect(0).json();
    assert_eq!(v["baseline"].as_f64(), Some(1.0));
    assert!(v.get("baseline_status").is_none());
}

#[test]
fn baseline_that_writes_files_and_fails_still_touches_nothing() {
    let env = Env::new();
    // At the base commit the benchmark scribbles over tracked files, its HOME and the index
    // of its checkout, then fails; the candidate (with the fix) passes.
    let script = b"echo scribble > solution.txt\necho x > \"$HOME/home-file\"\necho new > new.txt\ngit add -A 2>/dev/null\n[ -f fixed ] || { echo 'validator_rejection=broken' >&2; exit 3; }\necho score=2\n";
    let repo = env.bound(
        &[("bench.sh", script), ("solution.txt", b"1\n")],
        json!({"benchmark_command": "sh bench.sh"}),
    );
    env.git(&repo, &["branch", "experiment"]);
    write(&repo.join("fixed"), b"");
    env.git(&repo, &["add", "fixed"]);
    env.git(&repo, &["commit", "-q", "-m", "fix"]);
    let refs_before = env.git(&repo, &["for-each-ref", "--format=%(refname) %(objectname)"]);
    let head_before = fs::read(repo.join(".git/HEAD")).unwrap();

    let v = bench(&env, &repo, &["--baseline"]).json();
    assert_eq!(v["baseline_status"], "rejected", "{v}");
    assert!(v["baseline"].is_null());
    // The candidate ran in the miner's tree, as validators would run it.
    assert_eq!(v["status"], "ok", "{v}");
    assert_eq!(fs::read(repo.join("solution.txt")).unwrap(), b"scribble\n");
    // HOME is the checkout's root, as for validators.
    assert!(repo.join("home-file").exists());
    // Undo the candidate's own scribbles (staged by its `git add -A`).
    env.git(&repo, &["reset", "-q", "--hard"]);

    // Nothing of the baseline run is left in the miner's repository.
    assert_eq!(env.git(&repo, &["for-each-ref", "--format=%(refname) %(objectname)"]), refs_before);
    assert_eq!(fs::read(repo.join(".git/HEAD")).unwrap(), head_before);
    assert_eq!(env.git(&repo, &["status", "--porcelain"]), "");
    assert_eq!(env.git(&repo, &["worktree", "list", "--porcelain"]).matches("worktree ").count(), 1);
    let names = crate::common::names_in(&repo.join(".git/bitsota"));
    assert!(!names.iter().any(|n| n.starts_with("baseline-")), "temporary worktree left behind: {names:?}");
}

#[test]
fn record_writes_a_sidecar_accepted_once_the_summary_is_edited() {
    let env = Env::new();
    let script = br#"printf '{"metric_name": "score", "metric_value": 2.5, "metrics": {"score": 2.5, "params": 100, "flag": true, "label": "x"}}' > result.json
echo done
"#;
    let repo = env.bound(
        &[("bench.sh", script), ("solution.txt", b"1\n"), (".gitignore", b"result.json\n")],
        json!({"benchmark_command": "sh bench.sh", "result_path": "result.json"}),
    );
    let v = bench(&env, &repo, &["--record"]).expect(0).json();
    let path = repo.join("submission.json");
    assert_eq!(
        v["sidecar"].as_str().map(PathBuf::from),
        Some(fs::canonicalize(&repo).unwrap().join("submission.json"))
    );

    let task = state(&repo).task;
    let loaded = sidecar::load(&path).unwrap().unwrap();
    assert_eq!(loaded.claimed_metrics().unwrap(), json!({"score": 2.5, "params": 100}).as_object().unwrap());
    let log = loaded.execution_log().unwrap();
    assert!(log.contains("benchmark: sh bench.sh"), "{log}");
    assert!(log.contains("score = 2.5"), "{log}");
    assert!(loaded.summary_is_placeholder());
    let problems = sidecar::problems(&loaded, &task);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("placeholder"));
    // `submit --dry-run` refuses the placeholder, and accepts the same file once it is edited.
    write(&repo.join("solution.txt"), b"2\n");
    let dry = env.tool(&repo, &["submit", "--dry-run", "--json"]).expect(1);
    assert!(dry.out().contains("placeholder"), "{}\n{}", dry.out(), dry.stderr);

    // The miner edits the summary: now the sidecar is accepted.
    let mut map = loaded.raw().clone();
    map.insert("summary".into(), json!("Tuned the solution; local score 2.5."));
    map.insert("notes".into(), json!("kept"));
    fs::write(&path, serde_json::to_vec_pretty(&map).unwrap()).unwrap();
    let edited = sidecar::load(&path).unwrap().unwrap();
    assert!(sidecar::problems(&edited, &task).is_empty());
    let dry = env.tool(&repo, &["submit", "--dry-run", "--json"]).expect(0).json();
    assert_eq!(dry["body"]["claimed_metrics"], json!({"score": 2.5, "params": 100}));
    assert_eq!(dry["body"]["summary"], "Tuned the solution; local score 2.5.");
    write(&repo.join("solution.txt"), b"1\n");

    // Recording again keeps the summary and unknown fields, replaces the metrics.
    bench(&env, &repo, &["--record"]).expect(0);
    let again = sidecar::load(&path).unwrap().unwrap();
    assert_eq!(again.summary(), Some("Tuned the solution; local score 2.5."));
    assert_eq!(again.raw()["notes"], "kept");
    // The sidecar is excluded from the patch by init, so the tree stays clean.
    assert_eq!(bench(&env, &repo, &[]).expect(0).json()["dirty"], false);
}

#[test]
fn record_to_a_relative_submission_file_and_refuses_a_broken_one() {
    let env = Env::new();
    let repo = env.bound(&[("bench.sh", b"echo score=4\n")], json!({"benchmark_command": "sh bench.sh"}));
    let sub = repo.join("sub");
    fs::create_dir_all(&sub).unwrap();
    env.tool(&sub, &["bench", "--yes", "--record", "--submission-file", "../../side.json"]).expect(0);
    let side = sidecar::load(&env.path("side.json")).unwrap().unwrap();
    assert_eq!(side.claimed_metrics().unwrap()["score"], json!(4));

    // A sidecar that is not JSON is never overwritten, and nothing runs.
    write(&env.path("side.json"), b"{not json");
    let run = env
        .tool(&sub, &["bench", "--yes", "--json", "--record", "--submission-file", "../../side.json"])
        .expect(1);
    assert_eq!(run.json()["error"]["code"], "submission_invalid");
    assert_eq!(fs::read(env.path("side.json")).unwrap(), b"{not json");
}

#[test]
fn not_bound_is_a_usage_error() {
    let env = Env::new();
    let repo = env.repo_with("plain", &[("a", b"a")]);
    let run = env.tool(&repo, &["bench", "--yes", "--json"]).expect(2);
    assert_eq!(run.json()["error"]["code"], "not_bound");
}
