//! Replaying as a validator (issue 15): `review` (peer evaluation) and `bench --replay`, against
//! the fake coordinator's peer-evaluation routes, with task repositories whose benchmark is a
//! small shell script. Every replay must leave the miner's work tree, index, HEAD, branches and
//! worktree list exactly as they were.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::{names_in, task_record, write, Env, Run, PHRASE, SS58};
use crate::fake_coordinator::{iso, unix_now, Fake};

const TASK_ID: &str = "c54218ce-0000-4000-8000-000000000001";
const OTHER: &str = "5OtherMinerHotkeyAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

/// Prints the metric from `solution.txt`; `bad` makes the task's own gate refuse it, `slow`
/// outlives any time budget; every run appends a line to `$MARK`.
const BENCH: &[u8] = br#"echo ran >> "$MARK"
s=$(cat solution.txt)
if [ "$s" = bad ]; then echo 'validator_rejection=quality_floor score too low' >&2; exit 1; fi
if [ "$s" = slow ]; then sleep 60; fi
echo "score=$s"
"#;

struct World {
    fake: Fake,
    env: Env,
    upstream: PathBuf,
    base: String,
    /// The miner's clone, bound to the task.
    clone: PathBuf,
    mark: PathBuf,
}

fn world(mode: &str, tweak: impl FnOnce(&mut Value)) -> World {
    let fake = Fake::start();
    let mut env = Env::new();
    env.set("BITSOTA_COORDINATOR_URL", fake.url());
    env.set("BITSOTA_HOTKEY_MNEMONIC", PHRASE);
    let upstream = env.repo_with(
        "task-repo",
        &[("bench.sh", BENCH), ("solution.txt", b"1\n"), (".gitignore", b"data/\n"), ("notes.txt", b"n\n")],
    );
    let base = env.git(&upstream, &["rev-parse", "HEAD"]).trim().to_string();
    let mark = env.path("benchmark-ran");
    let mut record = task_record(upstream.to_str().unwrap(), "main", &["solution.txt"]);
    record["competition_mode"] = json!(mode);
    record["benchmark_command"] = json!("sh bench.sh");
    record["time_budget_seconds"] = json!(60);
    record["min_peer_evaluations"] = json!(2);
    record["validator_benchmark_env"] = json!({"MARK": mark.to_str().unwrap()});
    tweak(&mut record);
    fake.add_task(record);
    env.tool(env.root(), &["clone", "demo-task", "miner"]).expect(0);
    let clone = env.path("miner");
    World { fake, env, upstream, base, clone, mark }
}

/// A one-line change of `solution.txt` from `from` to `to`, as git writes it.
fn solution_patch(from: &str, to: &str) -> String {
    format!(
        "diff --git a/solution.txt b/solution.txt\n--- a/solution.txt\n+++ b/solution.txt\n@@ -1 +1 @@\n-{from}\n+{to}\n"
    )
}

impl World {
    /// A submission of `miner` as the coordinator serves it.
    fn seed(&self, id: &str, miner: &str, status: &str, patch: &str, base: &str) {
        self.fake.seed_submission(json!({
            "id": id,
            "task_id": TASK_ID,
            "claim_id": format!("claim-{id}"),
            "miner_hotkey": miner,
            "status": status,
            "base_ref": base,
            "patch": patch,
            "summary": "seeded",
            "claimed_metrics": {"score": 5},
            "observed_metrics": null,
            "created_at": iso(unix_now()),
        }));
    }

    fn review(&self, args: &[&str]) -> Run {
        let mut all = vec!["review", "--json"];
        all.extend_from_slice(args);
        self.env.tool(&self.clone, &all)
    }

    fn benchmark_runs(&self) -> usize {
        fs::read_to_string(&self.mark).map(|t| t.lines().count()).unwrap_or(0)
    }

    /// The miner's state with uncommitted work: a branch, a staged and an unstaged change,
    /// an untracked file.
    fn dirty_miner(&self) {
        self.env.git(&self.clone, &["branch", "experiment"]);
        write(&self.clone.join("notes.txt"), b"staged\n");
        self.env.git(&self.clone, &["add", "notes.txt"]);
        write(&self.clone.join("solution.txt"), b"9\n");
        write(&self.clone.join("untracked.txt"), b"u\n");
    }
}

/// Everything a replay must not change in the miner's clone.
fn snapshot(env: &Env, repo: &Path) -> String {
    let index = fs::read(repo.join(".git/index")).unwrap();
    let git = |args: &[&str]| {
        let mut all = vec!["--no-optional-locks"];
        all.extend_from_slice(args);
        env.git(repo, &all)
    };
    let mut files = String::new();
    for name in ["solution.txt", "notes.txt", "untracked.txt", "bench.sh"] {
        files.push_str(&format!("{name}: {:?}\n", fs::read(repo.join(name)).ok()));
    }
    format!(
        "index {}\nHEAD {}\nrefs\n{}status\n{}worktrees\n{}files\n{files}",
        git_bitsota::test_support::sha256_hex(&index),
        fs::read_to_string(repo.join(".git/HEAD")).unwrap(),
        git(&["for-each-ref", "--format=%(refname) %(objectname)"]),
        git(&["status", "--porcelain=v1", "-uall"]),
        git(&["worktree", "list", "--porcelain"]),
    )
}

/// No temporary worktree is left, registered or on disk.
fn assert_no_worktree_left(env: &Env, repo: &Path) {
    let list = env.git(repo, &["worktree", "list", "--porcelain"]);
    assert_eq!(list.matches("worktree ").count(), 1, "{list}");
    let bitsota = repo.join(".git/bitsota");
    let names = if bitsota.exists() { names_in(&bitsota) } else { Vec::new() };
    assert!(!names.iter().any(|n| n.starts_with("replay-")), "temporary worktree left: {names:?}");
    assert!(
        !repo.join(".git/worktrees").exists() || names_in(&repo.join(".git/worktrees")).is_empty(),
        "worktree admin dir left"
    );
}

#[test]
fn good_patch_is_accepted_with_the_observed_metric_and_sent_once() {
    let w = world("peer_evaluation", |_| {});
    w.seed("sub-good", OTHER, "pending_verification", &solution_patch("1", "5"), &w.base);
    w.dirty_miner();
    let before = snapshot(&w.env, &w.clone);

    let v = w.review(&["sub-good", "--yes"]).expect(0).json();
    assert_eq!(v["status"], "accepted", "{v}");
    assert_eq!(v["observed_metrics"], json!({"score": 5.0}));
    assert_eq!(v["claimed_metrics"], json!({"score": 5}));
    assert_eq!(v["sent"], true);
    // notes are omitted when empty.
    assert_eq!(v["body"], json!({"status": "accepted", "observed_metrics": {"score": 5.0}}));
    assert_eq!(w.benchmark_runs(), 1);

    let posts = w.fake.peer_evaluate_posts();
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].path, "/api/v1/submissions/sub-good/peer-evaluate");
    assert_eq!(posts[0].signer.as_deref(), Some(SS58), "{:?}", posts[0].auth_error);
    assert_eq!(posts[0].json(), json!({"status": "accepted", "observed_metrics": {"score": 5.0}}));
    assert_eq!(w.fake.peer_evaluations().len(), 1);

    assert_eq!(snapshot(&w.env, &w.clone), before);
    assert_no_worktree_left(&w.env, &w.clone);

    // Recorded in the state, and never sent twice: refused before anything runs.
    let state = fs::read_to_string(w.clone.join(".git/bitsota.toml")).unwrap();
    assert!(state.contains("[[reviews]]"), "{state}");
    assert!(state.contains("submission_id = \"sub-good\""), "{state}");
    let run = w.review(&["sub-good", "--yes"]).expect(2);
    assert_eq!(run.error_code(), "already_evaluated");
    assert_eq!(w.fake.peer_evaluate_posts().len(), 1);
    assert_eq!(w.benchmark_runs(), 1);
}

#[test]
fn patch_outside_the_surface_is_rejected_with_the_validators_note_and_nothing_runs() {
    let w = world("peer_evaluation", |_| {});
    let patch = format!(
        "{}diff --git a/bench.sh b/bench.sh\n--- a/bench.sh\n+++ b/bench.sh\n@@ -1 +1 @@\n-echo ran >> \"$MARK\"\n+echo score=99; exit 0\n",
        solution_patch("1", "5")
    );
    w.seed("sub-out", OTHER, "pending_verification", &patch, &w.base);
    let v = w.review(&["sub-out", "--yes", "--notes", "checked by hand"]).expect(0).json();
    assert_eq!(v["status"], "rejected", "{v}");
    assert_eq!(v["observed_metrics"], json!({}));
    let notes = v["notes"].as_str().unwrap();
    assert!(notes.starts_with("validator_rejection=disallowed_patch_paths: bench.sh"), "{notes}");
    assert!(notes.ends_with("\nchecked by hand"), "{notes}");
    assert_eq!(w.benchmark_runs(), 0, "the benchmark ran");
    let posts = w.fake.peer_evaluate_posts();
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].json()["status"], "rejected");
    assert_eq!(posts[0].json()["notes"], json!(notes));
}

#[test]
fn patch_that_does_not_apply_is_an_error() {
    let w = world("peer_evaluation", |_| {});
    w.seed("sub-stale", OTHER, "pending_verification", &solution_patch("7", "8"), &w.base);
    w.dirty_miner();
    let before = snapshot(&w.env, &w.clone);
    let v = w.review(&["sub-stale", "--yes"]).expect(0).json();
    assert_eq!(snapshot(&w.env, &w.clone), before);
    assert_eq!(v["status"], "error", "{v}");
    assert!(v["notes"].as_str().unwrap().starts_with("git apply failed"), "{v}");
    assert_eq!(w.benchmark_runs(), 0);
    assert_no_worktree_left(&w.env, &w.clone);
}

#[test]
fn benchmark_that_prints_a_rejection_and_fails_is_rejected() {
    let w = world("peer_evaluation", |_| {});
    w.seed("sub-bad", OTHER, "pending_verification", &solution_patch("1", "bad"), &w.base);
    w.dirty_miner();
    let before = snapshot(&w.env, &w.clone);
    let v = w.review(&["sub-bad", "--yes"]).expect(0).json();
    assert_eq!(snapshot(&w.env, &w.clone), before);
    assert_eq!(v["status"], "rejected", "{v}");
    assert_eq!(v["observed_metrics"], json!({}));
    assert!(v["notes"].as_str().unwrap().starts_with("validator_rejection=quality_floor"), "{v}");
    assert_eq!(w.benchmark_runs(), 1);
}

#[test]
fn oversized_patch_is_rejected_before_the_replay() {
    let w = world("peer_evaluation", |r| r["max_patch_bytes"] = json!(120));
    let patch = solution_patch("1", &"7".repeat(200));
    w.seed("sub-big", OTHER, "pending_verification", &patch, &w.base);
    let v = w.review(&["sub-big", "--yes", "--dry-run"]).expect(0).json();
    assert_eq!(v["status"], "rejected", "{v}");
    let notes = v["notes"].as_str().unwrap();
    assert!(
        notes
            .starts_with(&format!("validator_rejection=patch_too_large: the patch is {} bytes", patch.len())),
        "{notes}"
    );
    assert_eq!(w.benchmark_runs(), 0);
}

#[test]
fn own_submission_wrong_mode_and_already_evaluated_are_refused_before_anything_runs() {
    let w = world("peer_evaluation", |_| {});
    w.seed("sub-mine", SS58, "pending_verification", &solution_patch("1", "5"), &w.base);
    let run = w.review(&["sub-mine", "--yes"]).expect(2);
    assert_eq!(run.error_code(), "own_submission");

    w.seed("sub-done", OTHER, "pending_verification", &solution_patch("1", "5"), &w.base);
    w.fake.state().peer_evaluations.push(json!({
        "id": "ev-1", "submission_id": "sub-done", "evaluator_hotkey": SS58, "status": "accepted",
        "observed_metrics": {"score": 5.0},
    }));
    let run = w.review(&["sub-done", "--yes", "--dry-run"]).expect(2);
    assert_eq!(run.error_code(), "already_evaluated");

    w.seed("sub-old", OTHER, "accepted", &solution_patch("1", "5"), &w.base);
    let run = w.review(&["sub-old", "--yes"]).expect(2);
    assert_eq!(run.error_code(), "not_pending");

    let standard = world("standard", |_| {});
    standard.seed("sub-std", OTHER, "pending_verification", &solution_patch("1", "5"), &standard.base);
    let run = standard.review(&["sub-std", "--yes"]).expect(2);
    assert_eq!(run.error_code(), "not_peer_evaluation");
    assert!(run.stderr.contains("--local"), "{}", run.stderr);
    let run = standard.review(&[]).expect(2);
    assert_eq!(run.error_code(), "not_peer_evaluation");

    for world in [&w, &standard] {
        assert!(world.fake.peer_evaluate_posts().is_empty());
        assert_eq!(world.benchmark_runs(), 0);
        assert_no_worktree_left(&world.env, &world.clone);
    }
}

#[test]
fn the_fake_coordinator_refuses_what_the_server_refuses() {
    // The refusals the client checks first are the server's too: prove the fake has them, so
    // the tests above cannot pass against a server that would accept anything.
    let w = world("peer_evaluation", |_| {});
    w.seed("sub-mine", SS58, "pending_verification", &solution_patch("1", "5"), &w.base);
    w.seed("sub-other", OTHER, "pending_verification", &solution_patch("1", "5"), &w.base);
    w.seed("sub-old", OTHER, "rejected", &solution_patch("1", "5"), &w.base);
    let body = r#"{"observed_metrics":{"score":5.0},"status":"accepted"}"#;
    let send = |id: &str| {
        let run = w.env.tool(
            &w.clone,
            &[
                "request",
                "POST",
                &format!("/api/v1/submissions/{id}/peer-evaluate"),
                "--body-json",
                body,
                "--json",
            ],
        );
        (run.code, run.error_message())
    };
    let (code, message) = send("sub-mine");
    assert_eq!(code, 4, "{message}");
    assert!(message.contains("own submissions"), "{message}");
    let (code, message) = send("sub-old");
    assert_eq!(code, 5);
    assert!(message.contains("not pending"), "{message}");
    assert_eq!(send("sub-other").0, 0);
    let (code, message) = send("sub-other");
    assert_eq!(code, 5);
    assert!(message.contains("already evaluated"), "{message}");

    let standard = world("standard", |_| {});
    standard.seed("sub-std", OTHER, "pending_verification", &solution_patch("1", "5"), &standard.base);
    let run = standard.env.tool(
        &standard.clone,
        &["request", "POST", "/api/v1/submissions/sub-std/peer-evaluate", "--body-json", body, "--json"],
    );
    assert_eq!(run.code, 5);
    assert!(run.error_message().contains("only available for peer_evaluation"), "{}", run.error_message());
}

#[test]
fn dry_run_prints_the_body_and_sends_nothing() {
    let w = world("peer_evaluation", |_| {});
    w.seed("sub-good", OTHER, "pending_verification", &solution_patch("1", "5"), &w.base);
    let v = w.review(&["sub-good", "--yes", "--dry-run", "--notes", "  "]).expect(0).json();
    assert_eq!(v["sent"], false);
    assert_eq!(v["body"], json!({"status": "accepted", "observed_metrics": {"score": 5.0}}));
    assert!(w.fake.peer_evaluate_posts().is_empty());
    assert!(!fs::read_to_string(w.clone.join(".git/bitsota.toml")).unwrap().contains("[[reviews]]"));
    // Human output shows claimed against observed.
    let run = w.env.tool(&w.clone, &["review", "sub-good", "--dry-run"]).expect(0);
    assert!(run.out().contains("metric   score: observed 5.0 / claimed 5"), "{}", run.out());
    assert!(w.fake.peer_evaluate_posts().is_empty());
}

#[test]
fn local_replays_any_tasks_submission_and_sends_nothing() {
    let mut w = world("standard", |_| {});
    // No hotkey at all: --local signs nothing.
    w.env.set("BITSOTA_HOTKEY_MNEMONIC", "");
    w.seed("sub-mine", SS58, "accepted", &solution_patch("1", "6"), &w.base);
    let v = w.review(&["sub-mine", "--yes", "--local"]).expect(0).json();
    assert_eq!(v["status"], "accepted", "{v}");
    assert_eq!(v["observed_metrics"], json!({"score": 6.0}));
    assert_eq!(v["sent"], false);
    w.seed("sub-bad", OTHER, "pending_verification", &solution_patch("1", "bad"), &w.base);
    let v = w.review(&["sub-bad", "--yes", "--local"]).expect(1).json();
    assert_eq!(v["status"], "rejected");
    assert!(w.fake.peer_evaluate_posts().is_empty());
}

#[test]
fn a_base_commit_missing_locally_is_fetched_from_the_task_repository() {
    let w = world("peer_evaluation", |_| {});
    // Upstream moves on after the miner cloned; the submission is based on the new commit.
    write(&w.upstream.join("solution.txt"), b"2\n");
    w.env.git(&w.upstream, &["commit", "-qam", "later"]);
    let later = w.env.git(&w.upstream, &["rev-parse", "HEAD"]).trim().to_string();
    assert_ne!(w.env.git_run(&w.clone, &["cat-file", "-e", &format!("{later}^{{commit}}")]).code, 0);
    w.seed("sub-later", OTHER, "pending_verification", &solution_patch("2", "7"), &later);
    let before = snapshot(&w.env, &w.clone);
    let v = w.review(&["sub-later", "--yes", "--dry-run"]).expect(0).json();
    assert_eq!(v["status"], "accepted", "{v}");
    assert_eq!(v["observed_metrics"], json!({"score": 7.0}));
    assert_eq!(snapshot(&w.env, &w.clone), before, "refs or FETCH_HEAD changed");
    assert!(!w.clone.join(".git/FETCH_HEAD").exists());
}

#[test]
fn replay_killed_by_the_time_budget_is_an_error_and_touches_nothing() {
    let w = world("peer_evaluation", |r| r["time_budget_seconds"] = json!(2));
    w.seed("sub-slow", OTHER, "pending_verification", &solution_patch("1", "slow"), &w.base);
    w.dirty_miner();
    let before = snapshot(&w.env, &w.clone);
    let started = Instant::now();
    let v = w.review(&["sub-slow", "--yes"]).expect(0).json();
    assert!(started.elapsed() < Duration::from_secs(20), "{:?}", started.elapsed());
    assert_eq!(v["status"], "error", "{v}");
    assert_eq!(v["notes"], "Benchmark exceeded the fixed replay time budget (2 s)");
    assert_eq!(w.fake.peer_evaluate_posts().len(), 1);
    assert_eq!(snapshot(&w.env, &w.clone), before);
    assert_no_worktree_left(&w.env, &w.clone);
}

#[test]
fn interrupted_replay_cleans_up_and_sends_nothing() {
    let w = world("peer_evaluation", |_| {});
    w.seed("sub-slow", OTHER, "pending_verification", &solution_patch("1", "slow"), &w.base);
    w.dirty_miner();
    let before = snapshot(&w.env, &w.clone);
    let mut cmd = w.env.command(crate::common::BIN, &w.clone);
    cmd.args(["review", "sub-slow", "--yes", "--json"]).stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = cmd.spawn().unwrap();
    // Wait until the benchmark runs, then Ctrl-C (SIGINT to the tool).
    let until = Instant::now() + Duration::from_secs(30);
    while w.benchmark_runs() == 0 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(w.benchmark_runs(), 1, "the benchmark never started");
    // SAFETY: signals the child we spawned.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(130), "{}", String::from_utf8_lossy(&output.stderr));
    let v: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(v["error"]["code"], "interrupted");
    assert!(w.fake.peer_evaluate_posts().is_empty());
    assert_eq!(snapshot(&w.env, &w.clone), before);
    assert_no_worktree_left(&w.env, &w.clone);
}

#[test]
fn review_list_shows_pending_submissions_of_others_with_consensus() {
    let w = world("peer_evaluation", |_| {});
    w.seed("sub-a", OTHER, "pending_verification", &solution_patch("1", "5"), &w.base);
    w.seed("sub-b", OTHER, "pending_verification", &solution_patch("1", "6"), &w.base);
    w.seed("sub-mine", SS58, "pending_verification", &solution_patch("1", "7"), &w.base);
    w.seed("sub-done", OTHER, "accepted", &solution_patch("1", "8"), &w.base);
    w.fake.state().peer_evaluations.push(json!({
        "id": "ev-1", "submission_id": "sub-b", "evaluator_hotkey": SS58, "status": "accepted",
        "observed_metrics": {"score": 6.0},
    }));
    let v = w.review(&[]).expect(0).json();
    let rows = v["submissions"].as_array().unwrap();
    let ids: Vec<&str> = rows.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["sub-a", "sub-b"]);
    assert_eq!(rows[0]["evaluated_by_me"], false);
    assert_eq!(rows[1]["evaluated_by_me"], true);
    assert_eq!(rows[1]["consensus"]["accepted_count"], 1);
    assert_eq!(rows[1]["consensus"]["required"], 2);
    assert_eq!(rows[0]["claimed_metrics"], json!({"score": 5}));
    assert_eq!(rows[0]["miner_hotkey"], OTHER);
    let text = w.env.tool(&w.clone, &["review"]).expect(0).out();
    assert!(text.contains("sub-b") && text.contains("1/2"), "{text}");
}

#[test]
fn bench_replay_fails_where_bench_passes_because_the_benchmark_reads_an_ignored_file() {
    let w = world("standard", |r| {
        r["benchmark_command"] = json!("cat data/weights.txt >/dev/null && sh bench.sh");
    });
    write(&w.clone.join("data/weights.txt"), b"local only\n");
    w.env.git(&w.clone, &["branch", "experiment"]);
    write(&w.clone.join("solution.txt"), b"4\n");
    w.env.git(&w.clone, &["add", "solution.txt"]);
    let before = snapshot(&w.env, &w.clone);

    let v = w.env.tool(&w.clone, &["bench", "--yes", "--json"]).expect(0).json();
    assert_eq!(v["value"].as_f64(), Some(4.0));
    assert!(v.get("replay").is_none());

    let v = w.env.tool(&w.clone, &["bench", "--yes", "--json", "--replay"]).expect(1).json();
    assert_eq!(v["replay"], true);
    assert_eq!(v["status"], "error", "{v}");
    assert!(v["value"].is_null());
    assert!(fs::read_to_string(v["log"].as_str().unwrap()).unwrap().contains("data/weights.txt"));

    assert_eq!(snapshot(&w.env, &w.clone), before);
    assert_no_worktree_left(&w.env, &w.clone);
}

/// `bench` passes the artifact variables of the miner's shell through (local rehearsal); a
/// replay of exact bytes does not, as a validator's environment has none of the miner's.
#[test]
fn bench_replay_never_takes_artifact_variables_from_the_miners_environment() {
    let mut w = world("standard", |r| {
        r["benchmark_command"] = json!("echo \"seen=[$AUTORESEARCH_SUBMISSION_ARTIFACT_PATH]\"; sh bench.sh");
    });
    w.env.set("AUTORESEARCH_SUBMISSION_ARTIFACT_PATH", "/from/the/shell");
    write(&w.clone.join("solution.txt"), b"2\n");
    let v = w.env.tool(&w.clone, &["bench", "--yes", "--json"]).expect(0).json();
    let log = fs::read_to_string(v["log"].as_str().unwrap()).unwrap();
    assert!(log.contains("seen=[/from/the/shell]"), "{log}");
    let v = w.env.tool(&w.clone, &["bench", "--yes", "--json", "--replay"]).expect(0).json();
    let log = fs::read_to_string(v["log"].as_str().unwrap()).unwrap();
    assert!(log.contains("seen=[]"), "{log}");
}

#[test]
fn bench_replay_record_says_the_number_came_from_a_replay() {
    let w = world("standard", |_| {});
    write(&w.clone.join("solution.txt"), b"3\n");
    let v = w.env.tool(&w.clone, &["bench", "--yes", "--json", "--replay", "--record"]).expect(0).json();
    assert_eq!(v["replay"], true);
    assert_eq!(v["status"], "ok");
    assert_eq!(v["value"].as_f64(), Some(3.0));
    let sidecar: Value = serde_json::from_slice(&fs::read(w.clone.join("submission.json")).unwrap()).unwrap();
    assert_eq!(sidecar["claimed_metrics"], json!({"score": 3}));
    let log = sidecar["execution_log"].as_str().unwrap();
    assert!(log.contains("replayed as a validator"), "{log}");
    let state = fs::read_to_string(w.clone.join(".git/bitsota.toml")).unwrap();
    assert!(state.contains("kind = \"replay\""), "{state}");
    // A change outside the surface is refused as `diff` refuses it, before anything runs.
    write(&w.clone.join("notes.txt"), b"changed\n");
    let run = w.env.tool(&w.clone, &["bench", "--yes", "--json", "--replay"]).expect(1);
    assert_eq!(run.error_code(), "outside_allowed_paths");
    assert_eq!(w.benchmark_runs(), 1);
}

#[test]
fn status_and_submissions_show_the_peer_consensus_of_own_submissions_and_sent_reviews() {
    let w = world("peer_evaluation", |_| {});
    write(&w.clone.join("solution.txt"), b"4\n");
    write(&w.clone.join("submission.json"), br#"{"summary": "four", "claimed_metrics": {"score": 4}}"#);
    w.env.tool(&w.clone, &["claim"]).expect(0);
    let sent = w.env.tool(&w.clone, &["submit", "--json"]).expect(0).json();
    let mine = sent["submission"]["id"].as_str().unwrap().to_string();
    w.fake.state().peer_evaluations.push(json!({
        "id": "ev-9", "submission_id": mine, "evaluator_hotkey": OTHER, "status": "accepted",
        "observed_metrics": {"score": 4.0},
    }));
    w.seed("sub-other", OTHER, "pending_verification", &solution_patch("1", "5"), &w.base);
    w.review(&["sub-other", "--yes"]).expect(0);

    let status = w.env.tool(&w.clone, &["status", "--json"]).expect(0).json();
    let ours = &status["submissions"][0];
    assert_eq!(ours["id"], mine.as_str());
    assert_eq!(ours["peer_consensus"]["accepted_count"], 1, "{status}");
    assert_eq!(ours["peer_consensus"]["required"], 2);
    assert_eq!(status["reviews"][0]["submission_id"], "sub-other");
    assert_eq!(status["reviews"][0]["status"], "accepted");
    let text = w.env.tool(&w.clone, &["status"]).expect(0).out();
    assert!(text.contains("peer consensus 1/2"), "{text}");
    assert!(text.contains("review   sub-other accepted"), "{text}");

    let listed = w.env.tool(&w.clone, &["submissions", "--json"]).expect(0).json();
    let rows = listed["submissions"].as_array().unwrap();
    let own = rows.iter().find(|s| s["id"] == mine.as_str()).unwrap();
    assert_eq!(own["peer_consensus"]["accepted_count"], 1);
    let other = rows.iter().find(|s| s["id"] == "sub-other").unwrap();
    assert!(other.get("peer_consensus").is_none(), "only this clone's own submissions: {other}");
}

#[test]
fn a_lost_answer_is_looked_up_and_the_evaluation_recorded_once() {
    let w = world("peer_evaluation", |_| {});
    w.seed("sub-good", OTHER, "pending_verification", &solution_patch("1", "5"), &w.base);
    w.fake.push_route_fault(
        "POST",
        "/api/v1/submissions/sub-good/peer-evaluate",
        crate::fake_coordinator::Fault::ResetAfterProcessing,
    );
    let v = w.review(&["sub-good", "--yes"]).expect(0).json();
    assert_eq!(v["sent"], true, "{v}");
    assert_eq!(w.fake.peer_evaluations().len(), 1);
    let state = fs::read_to_string(w.clone.join(".git/bitsota.toml")).unwrap();
    assert_eq!(state.matches("[[reviews]]").count(), 1, "{state}");
    assert!(!state.contains("pending_review"), "{state}");
    w.review(&["sub-good", "--yes"]).expect(2);
    assert_eq!(w.fake.peer_evaluate_posts().len(), 1);
}

#[test]
fn an_evaluation_whose_answer_and_lookup_were_lost_is_recorded_by_the_next_run_not_sent_again() {
    let w = world("peer_evaluation", |_| {});
    w.seed("sub-good", OTHER, "pending_verification", &solution_patch("1", "5"), &w.base);
    // As a run killed after its POST left things: the evaluation arrived, the state only has
    // the in-flight mark.
    w.fake.state().peer_evaluations.push(json!({
        "id": "ev-lost", "submission_id": "sub-good", "evaluator_hotkey": SS58, "status": "accepted",
        "observed_metrics": {"score": 5.0},
    }));
    let path = w.clone.join(".git/bitsota.toml");
    let mut state = fs::read_to_string(&path).unwrap();
    state = state.replacen("version = 1\n", "version = 1\npending_review = \"sub-good\"\n", 1);
    fs::write(&path, state).unwrap();

    let run = w.review(&["sub-good", "--yes"]).expect(2);
    assert_eq!(run.error_code(), "already_evaluated");
    let state = fs::read_to_string(&path).unwrap();
    assert!(state.contains("[[reviews]]") && !state.contains("pending_review"), "{state}");
    assert!(state.contains("evaluation_id = \"ev-lost\""), "{state}");
    assert!(w.fake.peer_evaluate_posts().is_empty());
    assert_eq!(w.benchmark_runs(), 0);
}

#[test]
fn a_secondary_metric_is_required_and_observed_when_the_task_has_one() {
    let w = world("peer_evaluation", |r| {
        r["secondary_metric_name"] = json!("latency");
        r["benchmark_command"] =
            json!("sh bench.sh; [ \"$(cat solution.txt)\" = 5 ] && echo latency=0.25; true");
    });
    w.seed("sub-both", OTHER, "pending_verification", &solution_patch("1", "5"), &w.base);
    w.seed("sub-one", OTHER, "pending_verification", &solution_patch("1", "6"), &w.base);
    let v = w.review(&["sub-both", "--yes", "--dry-run"]).expect(0).json();
    assert_eq!(v["status"], "accepted", "{v}");
    assert_eq!(v["observed_metrics"], json!({"score": 5.0, "latency": 0.25}));
    let v = w.review(&["sub-one", "--yes", "--dry-run"]).expect(0).json();
    assert_eq!(v["status"], "error", "{v}");
    assert_eq!(v["observed_metrics"], json!({}));
    assert!(v["notes"].as_str().unwrap().contains("metric 'latency' not found"), "{v}");
}

#[test]
fn a_worktree_left_by_a_killed_replay_is_removed_by_the_next_one() {
    let w = world("peer_evaluation", |_| {});
    // As a replay killed with SIGKILL leaves it: registered, on disk, its process gone.
    let stale = w.clone.join(".git/bitsota/replay-99999999-1");
    w.env.git(&w.clone, &["worktree", "add", "--detach", "-q", stale.to_str().unwrap(), &w.base]);
    // One of a live process (this test) is left alone.
    let live = w.clone.join(format!(".git/bitsota/replay-{}-1", std::process::id()));
    w.env.git(&w.clone, &["worktree", "add", "--detach", "-q", live.to_str().unwrap(), &w.base]);
    w.seed("sub-good", OTHER, "pending_verification", &solution_patch("1", "5"), &w.base);
    w.review(&["sub-good", "--yes", "--local"]).expect(0);
    assert!(!stale.exists());
    assert!(live.exists());
    let list = w.env.git(&w.clone, &["worktree", "list", "--porcelain"]);
    assert!(!list.contains("replay-99999999"), "{list}");
    assert!(list.contains(&format!("replay-{}-1", std::process::id())), "{list}");
}

#[test]
fn a_base_the_task_repository_lacks_is_an_error_and_an_unreachable_repository_no_verdict() {
    let w = world("peer_evaluation", |_| {});
    let missing = "0123456789abcdef0123456789abcdef01234567";
    w.seed("sub-nobase", OTHER, "pending_verification", &solution_patch("1", "5"), missing);
    let v = w.review(&["sub-nobase", "--yes", "--dry-run"]).expect(0).json();
    assert_eq!(v["status"], "error", "{v}");
    assert!(v["notes"].as_str().unwrap().contains("was not found"), "{v}");

    // A ref name is the task repository's, not the miner's branch of the same name.
    w.env.git(&w.clone, &["branch", "-f", "main", "HEAD"]);
    write(&w.upstream.join("solution.txt"), b"3\n");
    w.env.git(&w.upstream, &["commit", "-qam", "upstream main moved"]);
    w.seed("sub-ref", OTHER, "pending_verification", &solution_patch("3", "4"), "main");
    let v = w.review(&["sub-ref", "--yes", "--dry-run"]).expect(0).json();
    assert_eq!(v["status"], "accepted", "{v}");
    assert_eq!(v["observed_metrics"], json!({"score": 4.0}));

    // The repository cannot be reached: nothing is judged, nothing sent.
    fs::rename(&w.upstream, w.env.path("moved-away")).unwrap();
    w.seed("sub-far", OTHER, "pending_verification", &solution_patch("1", "5"), missing);
    let run = w.review(&["sub-far", "--yes"]).expect(3);
    assert_eq!(run.error_code(), "base_unavailable");
    assert!(w.fake.peer_evaluate_posts().is_empty());
    assert_no_worktree_left(&w.env, &w.clone);
}

#[test]
fn a_submissions_artifact_is_fetched_as_validators_do_and_placed_for_the_benchmark() {
    use crate::artifact_server::{Answer, Server};
    let w = world("peer_evaluation", |r| {
        r["benchmark_command"] =
            json!("cat \"$AUTORESEARCH_SUBMISSION_ARTIFACT_PATH\" > /dev/null && echo \"score=$(cat $AUTORESEARCH_SUBMISSION_ARTIFACT_PATH)\"");
    });
    let server = Server::start();
    let bytes = b"8".to_vec();
    server.route("/model.bin", Answer::Bytes(bytes.clone()));
    server.route("/moved.bin", Answer::Status(302, Some("https://cdn.example/model.bin".into())));
    let sha = git_bitsota::test_support::sha256_hex(&bytes);
    let with_artifact = |id: &str, uri: String| {
        w.fake.seed_submission(json!({
            "id": id, "task_id": TASK_ID, "miner_hotkey": OTHER, "status": "pending_verification",
            "base_ref": w.base, "patch": solution_patch("1", "5"), "claimed_metrics": {"score": 8},
            "artifact_uri": uri, "artifact_sha256": sha, "artifact_size_bytes": bytes.len(),
        }));
    };
    with_artifact("sub-art", server.url("/model.bin"));
    let v = w.review(&["sub-art", "--yes", "--dry-run"]).expect(0).json();
    assert_eq!(v["status"], "accepted", "{v}");
    assert_eq!(v["observed_metrics"], json!({"score": 8.0}));
    assert_no_worktree_left(&w.env, &w.clone);

    with_artifact("sub-moved", server.url("/moved.bin"));
    let v = w.review(&["sub-moved", "--yes", "--dry-run"]).expect(0).json();
    assert_eq!(v["status"], "error", "{v}");
    assert!(v["notes"].as_str().unwrap().contains("redirect"), "{v}");

    // Not reachable from here: no verdict, nothing sent.
    with_artifact("sub-gone", "http://127.0.0.1:9/model.bin".to_string());
    let run = w.review(&["sub-gone", "--yes"]);
    assert_ne!(run.code, 0);
    assert!(w.fake.peer_evaluate_posts().is_empty());
    assert_eq!(w.benchmark_runs(), 0);
}

/// A base commit of more files than git's parallel-checkout threshold (100): the replay asks
/// for parallel checkout workers, and the worktree they write is the whole base, byte for byte.
#[test]
fn bench_replay_checks_out_a_large_base_with_parallel_workers_and_misses_nothing() {
    let env = Env::new();
    let names: Vec<String> = (0..150).map(|i| format!("many/f{i:03}.txt")).collect();
    let contents: Vec<String> = (0..150).map(|i| format!("{i}\n")).collect();
    let mut files: Vec<(&str, &[u8])> =
        names.iter().zip(&contents).map(|(n, c)| (n.as_str(), c.as_bytes())).collect();
    files.push(("solution.txt", b"1\n"));
    // The score is the sum of every file's number (0 + … + 149 = 11175) plus the solution.
    let command =
        "s=$(cat solution.txt); t=$(cat many/* | awk '{s+=$1} END {print s}'); echo score=$((s + t))";
    let repo = env.bound(&files, json!({"benchmark_command": command}));
    write(&repo.join("solution.txt"), b"5\n");
    let run = env.tool(&repo, &["-v", "bench", "--yes", "--json", "--replay"]).expect(0);
    let v = run.json();
    assert_eq!(v["replay"], true);
    assert_eq!(v["value"].as_f64(), Some(11180.0), "{v}");
    let add: Vec<&str> = run.stderr.lines().filter(|l| l.contains(" worktree add ")).collect();
    assert_eq!(add.len(), 1, "{}", run.stderr);
    assert!(add[0].contains("-c checkout.workers="), "{}", add[0]);
    assert_no_worktree_left(&env, &repo);
}

/// The benchmark leaves symlinks to a directory outside the clone, at the top of the replay
/// worktree and deeper: removing the worktree removes the links, never what they point at.
#[test]
fn removing_the_replay_worktree_never_follows_the_benchmarks_symlinks() {
    let env = Env::new();
    let outside = env.path("outside");
    fs::create_dir_all(outside.join("keep/deeper")).unwrap();
    fs::write(outside.join("keep/deeper/precious.txt"), b"precious\n").unwrap();
    let command = format!(
        "ln -s {0} top-link && mkdir -p sub && ln -s {0} sub/link && echo score=$(cat solution.txt)",
        outside.display()
    );
    let repo = env.bound(&[("solution.txt", b"1\n")], json!({"benchmark_command": command}));
    write(&repo.join("solution.txt"), b"2\n");
    let v = env.tool(&repo, &["bench", "--yes", "--json", "--replay"]).expect(0).json();
    assert_eq!(v["value"].as_f64(), Some(2.0), "{v}");
    assert_eq!(fs::read(outside.join("keep/deeper/precious.txt")).unwrap(), b"precious\n");
    assert_no_worktree_left(&env, &repo);
}
