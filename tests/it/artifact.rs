//! Artifacts (issue 12, cli.md §10.1): `artifact hash | set | verify` against a local HTTP
//! host, hashes cross-checked with `sha256sum` and Python's `hashlib`, the three "artifact
//! required" triggers of `check`, and `submit` refusing an artifact validators cannot fetch.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::artifact_server::{Answer, Server};
use crate::common::{problem_codes, task_record, write, Env, PHRASE};
use crate::fake_coordinator::Fake;

/// Deterministic pseudo-random bytes (an LCG), so big files need no fixture.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 33) as u8
        })
        .collect()
}

/// `sha256sum FILE`: an independent implementation.
fn sha256sum(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().expect("sha256sum");
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().split_whitespace().next().unwrap().to_string()
}

/// Python's hashlib over the file: a second independent implementation.
fn python_sha256(path: &Path) -> String {
    let out = Command::new("python3")
        .args(["-c", "import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],'rb').read()).hexdigest())"])
        .arg(path)
        .output()
        .expect("python3");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn sha_hex(bytes: &[u8]) -> String {
    git_bitsota::test_support::sha256_hex(bytes)
}

/// A repository bound to a task whose allowed path is `train.py`, with `tweak` applied to the
/// record's overrides.
fn bound_repo(env: &Env, tweak: impl FnOnce(&mut Value)) -> PathBuf {
    let mut overrides = json!({"allowed_patch_paths": ["train.py"]});
    tweak(&mut overrides);
    env.bound(&[("train.py", b"lr = 0.1\n"), ("bench.py", b"print(1)\n")], overrides)
}

fn sidecar(dir: &Path, value: Value) {
    fs::write(dir.join("submission.json"), serde_json::to_vec_pretty(&value).unwrap()).unwrap();
}

fn read_sidecar(dir: &Path) -> Value {
    serde_json::from_slice(&fs::read(dir.join("submission.json")).unwrap()).unwrap()
}

/// A bound repo whose sidecar names `uri` with the sha256 and size of `bytes`.
fn repo_naming(env: &Env, uri: &str, bytes: &[u8]) -> PathBuf {
    let repo = bound_repo(env, |_| {});
    sidecar(
        &repo,
        json!({"summary": "s", "claimed_metrics": {"score": 1}, "artifact_uri": uri,
               "artifact_sha256": sha_hex(bytes), "artifact_size_bytes": bytes.len()}),
    );
    repo
}

fn codes(run: &Value) -> Vec<String> {
    problem_codes(run)
}

#[test]
fn hash_agrees_with_sha256sum_and_hashlib() {
    let env = Env::new();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty.bin", Vec::new()),
        ("one.bin", vec![0x61]),
        ("my model.zip", noise(5 * 1024 * 1024 + 17, 1)),
        ("exact-chunk.bin", noise(1 << 20, 2)),
    ];
    for (name, bytes) in cases {
        let path = env.path(name);
        fs::write(&path, &bytes).unwrap();
        let run =
            env.tool(env.root(), &["artifact", "hash", "--json", path.to_str().unwrap()]).expect(0).json();
        assert_eq!(run["sha256"], sha256sum(&path), "{name}");
        assert_eq!(run["sha256"], python_sha256(&path), "{name}");
        assert_eq!(run["size_bytes"], bytes.len(), "{name}");
        assert_eq!(run["path"], path.to_str().unwrap());
        let human = env.tool(env.root(), &["artifact", "hash", path.to_str().unwrap()]).expect(0).out();
        assert!(human.starts_with(&format!("{}  {} bytes", sha256sum(&path), bytes.len())), "{human}");
    }
    // The well-known digest of "abc", so the oracles themselves are checked too.
    let abc = env.path("abc");
    fs::write(&abc, b"abc").unwrap();
    let run = env.tool(env.root(), &["artifact", "hash", "--json", abc.to_str().unwrap()]).expect(0).json();
    assert_eq!(run["sha256"], "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

#[test]
fn hash_refuses_missing_files_directories_and_fifos_without_hanging() {
    let env = Env::new();
    let missing = env.tool(env.root(), &["artifact", "hash", "--json", "nope.zip"]).expect(2);
    assert_eq!(missing.error_code(), "artifact_path");
    assert!(missing.stderr.contains("does not exist"), "{}", missing.stderr);
    let dir = env.tool(env.root(), &["artifact", "hash", "--json", env.home().to_str().unwrap()]).expect(2);
    assert!(dir.stderr.contains("is a directory"), "{}", dir.stderr);

    let fifo = env.path("pipe");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let mut child = env
        .command(crate::common::BIN, env.root())
        .args(["artifact", "hash", fifo.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        // A guard so a regression fails instead of hanging the suite, not a speed check.
        if started.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            panic!("artifact hash hangs on a FIFO");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(2));
}

#[test]
fn verify_accepts_the_exact_bytes_and_reads_no_body_without_download() {
    let env = Env::new();
    let server = Server::start();
    let bytes = noise(3 * 1024 * 1024 + 5, 3);
    server.route("/model.zip", Answer::Bytes(bytes.clone()));
    let uri = server.url("/model.zip");
    let repo = repo_naming(&env, &uri, &bytes);

    let head = env.tool(&repo, &["artifact", "verify", "--json"]).expect(0);
    let head_json = head.json();
    assert_eq!(head_json["ok"], true);
    assert_eq!(head_json["http_status"], 200);
    assert_eq!(head_json["content_length"], bytes.len());
    assert_eq!(head_json["downloaded_bytes"], Value::Null);
    assert_eq!(head_json["sha256"], Value::Null);
    assert_eq!(head_json["problems"], json!([]));
    assert!(head.stderr.contains("validators will not download"), "{}", head.stderr);

    let full = env.tool(&repo, &["artifact", "verify", "--download", "--json"]).expect(0).json();
    assert_eq!(full["downloaded_bytes"], bytes.len());
    assert_eq!(full["sha256"], sha_hex(&bytes));
    // The download is kept in the cache under the git dir, named by its sha256.
    let cached = repo.join(".git/bitsota/artifacts").join(sha_hex(&bytes));
    assert_eq!(fs::read(&cached).unwrap(), bytes);
    assert_eq!(sha256sum(&cached), sha_hex(&bytes));
    assert_eq!(server.hits("/model.zip"), 2);

    // Headers only really means headers only: a body that never comes does not matter.
    server.route(
        "/slow.zip",
        Answer::StallBody(bytes.len() as u64, bytes[..10].to_vec(), Duration::from_secs(30)),
    );
    // (Reading it would end in a broken-off download, a problem, exit 1.)
    let slow_env = Env::new();
    let slow_repo = repo_naming(&slow_env, &server.url("/slow.zip"), &bytes);
    let slow = slow_env.tool(&slow_repo, &["artifact", "verify", "--json"]).expect(0).json();
    assert_eq!(slow["problems"], json!([]));
}

#[test]
fn redirects_are_reported_and_never_followed() {
    let env = Env::new();
    let server = Server::start();
    let bytes = b"artifact bytes".to_vec();
    server.route("/target.zip", Answer::Bytes(bytes.clone()));
    server.route("/resolve/main/model.zip", Answer::Status(302, Some(server.url("/target.zip"))));
    let uri = server.url("/resolve/main/model.zip");
    let repo = repo_naming(&env, &uri, &bytes);

    for args in [&["artifact", "verify"][..], &["artifact", "verify", "--download"][..]] {
        let mut with_json = args.to_vec();
        with_json.push("--json");
        let run = env.tool(&repo, &with_json).expect(1).json();
        assert_eq!(run["ok"], false);
        assert_eq!(run["http_status"], 302);
        assert_eq!(codes(&run), ["artifact_redirect"]);
        let message = run["problems"][0]["message"].as_str().unwrap();
        assert!(message.contains(&server.url("/target.zip")), "the Location is shown: {message}");
        let human = env.tool(&repo, args).expect(1);
        assert!(human.out().contains("Hugging Face"), "{}", human.out());
    }
    // `set` without --file downloads as validators do: refused too, sidecar unchanged.
    let before = fs::read(repo.join("submission.json")).unwrap();
    let set = env.tool(&repo, &["artifact", "set", &uri, "--json"]).expect(1);
    assert_eq!(set.error_code(), "artifact_redirect");
    assert_eq!(fs::read(repo.join("submission.json")).unwrap(), before);
    assert_eq!(server.hits("/target.zip"), 0, "the redirect target was fetched");
    assert_eq!(server.hits("/resolve/main/model.zip"), 5);
}

#[test]
fn unreachable_size_and_sha_mismatches() {
    let server = Server::start();
    let bytes = noise(200_000, 4);
    let mut other = bytes.clone();
    other[100_000] ^= 0xff;
    server.route("/gone.zip", Answer::Status(404, None));
    server.route("/error.zip", Answer::Status(503, None));
    server.route("/bigger.zip", Answer::Bytes(noise(200_001, 4)));
    server.route("/lying.zip", Answer::Declared(bytes.len() as u64, bytes[..150_000].to_vec()));
    server.route("/same-size.zip", Answer::Bytes(other.clone()));

    let verify = |path: &str, download: bool| -> Value {
        let repo_env = Env::new();
        let repo = repo_naming(&repo_env, &server.url(path), &bytes);
        let mut args = vec!["artifact", "verify", "--json"];
        if download {
            args.push("--download");
        }
        repo_env.tool(&repo, &args).expect(1).json()
    };

    let gone = verify("/gone.zip", false);
    assert_eq!(
        (codes(&gone), gone["http_status"].clone()),
        (vec!["artifact_unreachable".to_string()], json!(404))
    );
    assert!(gone["problems"][0]["message"].as_str().unwrap().contains("HTTP 404"));
    assert_eq!(codes(&verify("/error.zip", true)), ["artifact_unreachable"]);

    // A different size shows in the headers already…
    let bigger = verify("/bigger.zip", false);
    assert_eq!(codes(&bigger), ["artifact_size_mismatch"]);
    assert_eq!(bigger["content_length"], 200_001);
    // …and in the bytes read with --download (both the header and the count disagree).
    let bigger_full = verify("/bigger.zip", true);
    assert_eq!(
        codes(&bigger_full),
        ["artifact_size_mismatch", "artifact_size_mismatch", "artifact_sha256_mismatch"]
    );
    assert_eq!(bigger_full["downloaded_bytes"], 200_001);

    // A server that closes early: the download broke off, nothing is cached.
    let lying = verify("/lying.zip", true);
    assert_eq!(codes(&lying), ["artifact_unreachable"]);

    // Same size, other bytes: only the download can tell.
    let same_env = Env::new();
    let same_repo = repo_naming(&same_env, &server.url("/same-size.zip"), &bytes);
    same_env.tool(&same_repo, &["artifact", "verify", "--json"]).expect(0);
    let same = same_env.tool(&same_repo, &["artifact", "verify", "--download", "--json"]).expect(1).json();
    assert_eq!(codes(&same), ["artifact_sha256_mismatch"]);
    assert_eq!(same["sha256"], sha_hex(&other));

    // Nobody listening.
    let closed = Env::new();
    let closed_repo = repo_naming(&closed, "http://127.0.0.1:9/a.zip", &bytes);
    let refused = closed.tool(&closed_repo, &["artifact", "verify", "--json"]).expect(1).json();
    assert_eq!(codes(&refused), ["artifact_unreachable"]);
    assert_eq!(refused["http_status"], Value::Null);
}

#[test]
fn chunked_answers_have_no_length_to_compare_but_download_checks_the_bytes() {
    let env = Env::new();
    let server = Server::start();
    let bytes = noise(1024 * 1024 + 333, 5);
    server.route("/chunked.zip", Answer::Chunked(bytes.clone()));
    let repo = repo_naming(&env, &server.url("/chunked.zip"), &bytes);
    let head = env.tool(&repo, &["artifact", "verify", "--json"]).expect(0).json();
    assert_eq!(head["content_length"], Value::Null);
    let full = env.tool(&repo, &["artifact", "verify", "--download", "--json"]).expect(0).json();
    assert_eq!(full["downloaded_bytes"], bytes.len());
    assert_eq!(full["sha256"], sha_hex(&bytes));
}

#[test]
fn a_stalling_server_times_out_as_unreachable() {
    let server = Server::start();
    let bytes = noise(50_000, 6);
    server.route("/stall.zip", Answer::Stall(Duration::from_secs(300)));
    server.route(
        "/stall-body.zip",
        Answer::StallBody(bytes.len() as u64, bytes[..1000].to_vec(), Duration::from_secs(300)),
    );
    for (path, download) in [("/stall.zip", false), ("/stall-body.zip", true)] {
        let repo_env = {
            let mut e = Env::new();
            e.set("BITSOTA_ARTIFACT_TIMEOUT_SECS", "1");
            e
        };
        let repo = repo_naming(&repo_env, &server.url(path), &bytes);
        let mut args = vec!["artifact", "verify", "--json"];
        if download {
            args.push("--download");
        }
        let run = repo_env.tool(&repo, &args).expect(1).json();
        assert_eq!(codes(&run), ["artifact_unreachable"], "{path}: {run}");
        // The configured limit (1 s) is the one that fired, not the validators' 60 s.
        let message = run["problems"][0]["message"].as_str().unwrap();
        assert!(message.contains(" 1 s"), "{path}: {message}");
        // A broken download leaves nothing behind in the cache.
        let cache = repo.join(".git/bitsota/artifacts");
        let left: Vec<_> =
            fs::read_dir(&cache).map(|d| d.flatten().map(|e| e.file_name()).collect()).unwrap_or_default();
        assert!(left.is_empty(), "{path}: {left:?}");
    }
}

#[test]
fn set_writes_the_fields_keeping_the_others_and_their_order() {
    let env = Env::new();
    let server = Server::start();
    let bytes = noise(777_777, 7);
    server.route("/a.zip", Answer::Bytes(bytes.clone()));
    let uri = server.url("/a.zip");
    let repo = bound_repo(&env, |_| {});
    let file = env.path("packed model.zip");
    fs::write(&file, &bytes).unwrap();

    // No sidecar yet: it is created.
    let run = env
        .tool(&repo, &["artifact", "set", &uri, "--file", file.to_str().unwrap(), "--json"])
        .expect(0)
        .json();
    assert_eq!(run["artifact_uri"], uri);
    assert_eq!(run["artifact_sha256"], sha256sum(&file));
    assert_eq!(run["artifact_size_bytes"], bytes.len());
    assert_eq!(run["verify"]["ok"], true);
    assert_eq!(run["verify"]["content_length"], bytes.len());
    assert_eq!(read_sidecar(&repo)["artifact_sha256"], sha256sum(&file));

    // Existing fields (known or not) are kept, in their order; the artifact fields are replaced in place.
    fs::write(
        repo.join("submission.json"),
        br#"{"zeta": 1, "summary": "s", "artifact_uri": "https://old/x", "artifact_sha256": "00", "artifact_size_bytes": 1, "claimed_metrics": {"score": 2}, "alpha": [1]}"#,
    )
    .unwrap();
    env.tool(&repo, &["artifact", "set", &uri, "--file", file.to_str().unwrap(), "--no-verify"]).expect(0);
    let text = fs::read_to_string(repo.join("submission.json")).unwrap();
    let keys: Vec<usize> = [
        "zeta",
        "summary",
        "artifact_uri",
        "artifact_sha256",
        "artifact_size_bytes",
        "claimed_metrics",
        "alpha",
    ]
    .iter()
    .map(|k| text.find(&format!("\"{k}\"")).unwrap())
    .collect();
    assert!(keys.windows(2).all(|w| w[0] < w[1]), "order lost: {text}");
    let value: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(value["artifact_uri"], uri);
    assert_eq!(value["artifact_size_bytes"], bytes.len());
    assert_eq!(value["alpha"], json!([1]));

    // Without --file: downloaded as validators do, hashed, cached.
    fs::remove_file(repo.join("submission.json")).unwrap();
    let run = env.tool(&repo, &["artifact", "set", &uri, "--json"]).expect(0).json();
    assert_eq!(run["artifact_sha256"], sha256sum(&file));
    assert_eq!(run["verify"]["downloaded_bytes"], bytes.len());
    assert!(repo.join(".git/bitsota/artifacts").join(sha256sum(&file)).is_file());

    // --file with a URI that serves something else: written, but exit 1 with the problem.
    server.route("/other.zip", Answer::Bytes(noise(10, 8)));
    let other = server.url("/other.zip");
    let run = env
        .tool(&repo, &["artifact", "set", &other, "--file", file.to_str().unwrap(), "--json"])
        .expect(1)
        .json();
    assert_eq!(codes(&run["verify"]), ["artifact_size_mismatch"]);
    assert_eq!(read_sidecar(&repo)["artifact_uri"], other);

    // URIs validators cannot use at all are usage errors.
    let http = env
        .tool(
            &repo,
            &[
                "artifact",
                "set",
                "http://example.com/a.zip",
                "--no-verify",
                "--file",
                file.to_str().unwrap(),
                "--json",
            ],
        )
        .expect(2);
    assert_eq!(http.error_code(), "artifact_uri");
    // An empty artifact has no valid size.
    let empty = env.path("empty.zip");
    fs::write(&empty, b"").unwrap();
    env.tool(&repo, &["artifact", "set", &uri, "--file", empty.to_str().unwrap(), "--no-verify"]).expect(2);
    // verify without an artifact in the sidecar is a usage error.
    sidecar(&repo, json!({"summary": "s"}));
    assert_eq!(env.tool(&repo, &["artifact", "verify", "--json"]).expect(2).error_code(), "artifact_missing");
}

#[test]
fn check_requires_an_artifact_for_each_trigger() {
    let full = |repo: &Path| {
        sidecar(
            repo,
            json!({"summary": "s", "claimed_metrics": {"score": 1},
                   "artifact_uri": "https://example.com/a.zip", "artifact_sha256": "ab".repeat(32), "artifact_size_bytes": 10}),
        );
    };
    type Tweak = Box<dyn Fn(&mut Value)>;
    let triggers: Vec<(&str, Tweak, bool)> = vec![
        (
            "requires_submission_artifact",
            Box::new(|r: &mut Value| r["requires_submission_artifact"] = json!(true)),
            true,
        ),
        (
            "validator_benchmark_env",
            Box::new(|r: &mut Value| {
                r["validator_benchmark_env"] = json!({"AUTORESEARCH_REQUIRE_SUBMISSION_ARTIFACT": "yes"})
            }),
            true,
        ),
        ("empty patch", Box::new(|_: &mut Value| {}), false),
    ];
    for (name, tweak, edit) in triggers {
        let env = Env::new();
        let repo = bound_repo(&env, |r| tweak(r));
        if edit {
            write(&repo.join("train.py"), b"lr = 0.2\n");
        }
        sidecar(&repo, json!({"summary": "s", "claimed_metrics": {"score": 1}}));
        let report = env.tool(&repo, &["check", "--json"]).expect(1).json();
        assert!(codes(&report).contains(&"artifact_missing".to_string()), "{name}: {report}");
        full(&repo);
        let report = env.tool(&repo, &["check", "--json"]).json();
        assert!(!codes(&report).contains(&"artifact_missing".to_string()), "{name}: {report}");
        if edit {
            assert_eq!(report["ok"], true, "{name}: {report}");
        }
    }
    // The variable set to something else does not require one.
    let env = Env::new();
    let repo = bound_repo(&env, |r| {
        r["validator_benchmark_env"] = json!({"AUTORESEARCH_REQUIRE_SUBMISSION_ARTIFACT": "0"})
    });
    write(&repo.join("train.py"), b"lr = 0.2\n");
    sidecar(&repo, json!({"summary": "s", "claimed_metrics": {"score": 1}}));
    env.tool(&repo, &["check", "--json"]).expect(0);
}

#[test]
fn submit_refuses_an_artifact_validators_cannot_download_and_sends_nothing() {
    let fake = Fake::start();
    let server = Server::start();
    let mut env = Env::new();
    env.set("BITSOTA_COORDINATOR_URL", fake.url());
    env.set("BITSOTA_HOTKEY_MNEMONIC", PHRASE);
    let upstream = env.repo_with("task-repo", &[("train.py", b"lr = 0.1\n")]);
    fake.add_task(task_record(upstream.to_str().unwrap(), "main", &["train.py"]));
    env.tool(env.root(), &["clone", "demo-task", "work"]).expect(0);
    let dir = env.path("work");
    write(&dir.join("train.py"), b"lr = 0.05\n");
    let bytes = b"the packed model".to_vec();
    server.route("/target.zip", Answer::Bytes(bytes.clone()));
    server.route("/resolve/model.zip", Answer::Status(302, Some(server.url("/target.zip"))));
    sidecar(
        &dir,
        json!({"summary": "s", "claimed_metrics": {"score": 1}, "artifact_uri": server.url("/resolve/model.zip"),
               "artifact_sha256": sha_hex(&bytes), "artifact_size_bytes": bytes.len()}),
    );
    env.tool(&dir, &["claim"]).expect(0);
    let run = env.tool(&dir, &["submit", "--json"]).expect(1).json();
    assert_eq!(codes(&run), ["artifact_redirect"]);
    assert!(fake.submissions().is_empty());
    assert!(!fake.requests().iter().any(|r| r.method == "POST" && r.path == "/api/v1/submissions"));
    assert_eq!(server.hits("/target.zip"), 0);

    // The URL that serves the bytes itself goes through (checked: one header request).
    sidecar(
        &dir,
        json!({"summary": "s", "claimed_metrics": {"score": 1}, "artifact_uri": server.url("/target.zip"),
               "artifact_sha256": sha_hex(&bytes), "artifact_size_bytes": bytes.len()}),
    );
    env.tool(&dir, &["submit", "--json"]).expect(0);
    assert_eq!(server.hits("/target.zip"), 1);
    assert_eq!(fake.submissions()[0]["artifact_uri"], server.url("/target.zip"));
}

#[test]
fn submit_can_skip_the_artifact_check_with_a_warning() {
    let fake = Fake::start();
    let mut env = Env::new();
    env.set("BITSOTA_COORDINATOR_URL", fake.url());
    env.set("BITSOTA_HOTKEY_MNEMONIC", PHRASE);
    let upstream = env.repo_with("task-repo", &[("train.py", b"lr = 0.1\n")]);
    fake.add_task(task_record(upstream.to_str().unwrap(), "main", &["train.py"]));
    env.tool(env.root(), &["clone", "demo-task", "work"]).expect(0);
    let dir = env.path("work");
    write(&dir.join("train.py"), b"lr = 0.05\n");
    sidecar(
        &dir,
        json!({"summary": "s", "claimed_metrics": {"score": 1}, "artifact_uri": "http://127.0.0.1:9/a.zip",
               "artifact_sha256": "ab".repeat(32), "artifact_size_bytes": 10}),
    );
    env.tool(&dir, &["claim"]).expect(0);
    let refused = env.tool(&dir, &["submit", "--json"]).expect(1).json();
    assert_eq!(codes(&refused), ["artifact_unreachable"]);
    let run = env.tool(&dir, &["submit", "--no-verify-artifact"]).expect(0);
    assert!(run.stderr.contains("--no-verify-artifact"), "{}", run.stderr);
    assert_eq!(fake.submissions().len(), 1);
}

// --- bench --artifact ------------------------------------------------------------------------

/// The benchmark reports the three variables, the sha256 of the file at the path it was given
/// (and that the path is relative to its directory), then scores 1.
const REPORTING_BENCH: &[u8] = br#"{
  echo "PATH_VAR=$AUTORESEARCH_SUBMISSION_ARTIFACT_PATH"
  echo "URI_VAR=$AUTORESEARCH_SUBMISSION_ARTIFACT_URI"
  echo "BYTES_VAR=$AUTORESEARCH_SUBMISSION_ARTIFACT_BYTES"
  echo "SHA=$(sha256sum < "$AUTORESEARCH_SUBMISSION_ARTIFACT_PATH" | cut -d' ' -f1)"
  echo "PWD=$(pwd)"
  echo "UNTRACKED=$(git status --porcelain --untracked-files=all | grep -c autoresearch-submission)"
  echo "GIT_OK=$(git status --porcelain >/dev/null 2>&1 && echo yes)"
} > "$HOME/../seen.txt"
case "${MODE:-ok}" in
  fail) exit 3 ;;
  slow) touch "$HOME/../started"; sleep 30 ;;
esac
echo score=1
"#;

fn bench_repo(env: &Env, tweak: impl FnOnce(&mut Value)) -> PathBuf {
    let repo = env.repo_with("task", &[("bench.sh", REPORTING_BENCH), ("train.py", b"lr = 0.1\n")]);
    let mut record = task_record(repo.to_str().unwrap(), "main", &["train.py"]);
    record["benchmark_command"] = json!("sh bench.sh");
    tweak(&mut record);
    env.bind(&repo, &record);
    repo
}

fn seen(env: &Env) -> std::collections::BTreeMap<String, String> {
    let text = fs::read_to_string(env.path("seen.txt")).expect("the benchmark ran");
    fs::remove_file(env.path("seen.txt")).unwrap();
    text.lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[test]
fn bench_places_a_file_artifact_as_validators_do_and_removes_it() {
    let mut env = Env::new();
    let repo = bench_repo(&env, |_| {});
    let bytes = noise(2 * 1024 * 1024 + 3, 9);
    let file = env.path("my model.zip");
    fs::write(&file, &bytes).unwrap();
    let placed = repo.join(".autoresearch-submission");

    let run = env.tool(&repo, &["bench", "--yes", "--json", "--artifact", file.to_str().unwrap()]).expect(0);
    assert_eq!(run.json()["status"], "ok");
    assert_eq!(run.json()["artifact"]["source"], "file");
    assert_eq!(run.json()["artifact"]["size_bytes"], bytes.len());
    let vars = seen(&env);
    assert_eq!(vars["PATH_VAR"], ".autoresearch-submission/artifact");
    assert_eq!(vars["BYTES_VAR"], bytes.len().to_string());
    assert_eq!(vars["SHA"], sha256sum(&file));
    assert!(vars["URI_VAR"].starts_with("file://"), "{vars:?}");
    // git (and so `check`) does not see the placed artifact while it is there.
    assert_eq!((vars["GIT_OK"].as_str(), vars["UNTRACKED"].as_str()), ("yes", "0"), "{vars:?}");
    assert!(!placed.exists(), "left behind after success");
    let exclude = fs::read_to_string(repo.join(".git/info/exclude")).unwrap();
    assert!(exclude.lines().any(|l| l == "/.autoresearch-submission/"), "{exclude}");

    // With a sidecar naming an artifact, its URI is what the run is told.
    sidecar(&repo, json!({"summary": "s", "artifact_uri": "https://example.com/m.zip"}));
    env.tool(&repo, &["bench", "--yes", "--artifact", file.to_str().unwrap()]).expect(0);
    assert_eq!(seen(&env)["URI_VAR"], "https://example.com/m.zip");

    // Failure and timeout clean up too.
    env.set("MODE", "fail");
    let failed = env
        .tool(&repo, &["bench", "--yes", "--inherit-env", "--json", "--artifact", file.to_str().unwrap()])
        .expect(1);
    assert_eq!(failed.json()["status"], "error");
    assert_eq!(seen(&env)["SHA"], sha256sum(&file));
    assert!(!placed.exists(), "left behind after a failure");

    let slow_repo = &repo;
    let mut slow_env = env;
    slow_env.set("MODE", "slow");
    fs::write(
        slow_repo.join(".git/bitsota.toml"),
        fs::read_to_string(slow_repo.join(".git/bitsota.toml"))
            .unwrap()
            .replace("time_budget_seconds = 3600", "time_budget_seconds = 2"),
    )
    .unwrap();
    let timed_out = slow_env
        .tool(slow_repo, &["bench", "--yes", "--inherit-env", "--json", "--artifact", file.to_str().unwrap()])
        .expect(1);
    assert_eq!(timed_out.json()["status"], "timeout");
    assert!(!placed.exists(), "left behind after a timeout");

    // A symlink where the directory goes is refused, and nothing runs.
    slow_env.set("MODE", "ok");
    std::os::unix::fs::symlink(slow_env.home(), &placed).unwrap();
    let refused = slow_env
        .tool(slow_repo, &["bench", "--yes", "--json", "--artifact", file.to_str().unwrap()])
        .expect(2);
    assert_eq!(refused.error_code(), "artifact_place");
    assert!(fs::symlink_metadata(&placed).unwrap().file_type().is_symlink());
    assert!(fs::read_dir(slow_env.home()).unwrap().next().is_none(), "wrote through the symlink");
}

#[test]
fn bench_cleans_up_on_ctrl_c() {
    let mut env = Env::new();
    env.set("MODE", "slow");
    let repo = bench_repo(&env, |_| {});
    let file = env.path("a.bin");
    fs::write(&file, b"abc").unwrap();
    let mut child = env
        .command(crate::common::BIN, &repo)
        .args(["bench", "--yes", "--inherit-env", "--artifact", file.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !env.path("started").exists() {
        // A guard so a regression fails instead of hanging the suite, not a speed check.
        assert!(started.elapsed() < Duration::from_secs(120), "the benchmark never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(repo.join(".autoresearch-submission/artifact").is_file());
    // SAFETY: signals the child we spawned.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().unwrap();
    // The runner's `interrupted` error: exit 130, as cli.md §7 says for Ctrl-C.
    assert_eq!(status.code(), Some(130));
    assert!(!repo.join(".autoresearch-submission").exists(), "left behind after Ctrl-C");
}

#[test]
fn bench_downloads_a_uri_checks_it_against_the_sidecar_and_reuses_the_cache() {
    let env = Env::new();
    let server = Server::start();
    let bytes = noise(1_500_000, 10);
    server.route("/m.zip", Answer::Bytes(bytes.clone()));
    let uri = server.url("/m.zip");
    let repo = bench_repo(&env, |r| r["requires_submission_artifact"] = json!(true));

    // The sidecar names the same URI with other bytes: refused before anything runs.
    sidecar(
        &repo,
        json!({"summary": "s", "artifact_uri": uri, "artifact_sha256": "ab".repeat(32), "artifact_size_bytes": bytes.len()}),
    );
    let refused = env.tool(&repo, &["bench", "--yes", "--json", "--artifact", &uri]).expect(1);
    assert_eq!(refused.error_code(), "artifact_sha256_mismatch");
    assert!(!env.path("seen.txt").exists(), "the benchmark ran");
    assert!(!repo.join(".autoresearch-submission").exists());

    // The right sha256: it is downloaded (the cache already has these bytes from the refused
    // run, by their own sha256) and used.
    sidecar(
        &repo,
        json!({"summary": "s", "artifact_uri": uri, "artifact_sha256": sha_hex(&bytes), "artifact_size_bytes": bytes.len()}),
    );
    let hits = server.hits("/m.zip");
    let run = env.tool(&repo, &["bench", "--yes", "--artifact", &uri]).expect(0);
    assert!(run.stderr.contains("cached"), "{}", run.stderr);
    assert_eq!(server.hits("/m.zip"), hits, "downloaded again what the cache has");
    let vars = seen(&env);
    assert_eq!(vars["URI_VAR"], uri);
    assert_eq!(vars["SHA"], sha_hex(&bytes));

    // Without --artifact the sidecar's cached artifact is used, and that is said.
    let run = env.tool(&repo, &["bench", "--yes"]).expect(0);
    assert!(run.stderr.contains("using the sidecar's artifact from the cache"), "{}", run.stderr);
    assert_eq!(seen(&env)["SHA"], sha_hex(&bytes));
    assert_eq!(server.hits("/m.zip"), hits);

    // A URI the sidecar does not name is downloaded and used as served.
    let other = noise(1000, 11);
    server.route("/other.zip", Answer::Bytes(other.clone()));
    env.tool(&repo, &["bench", "--yes", "--artifact", &server.url("/other.zip")]).expect(0);
    assert_eq!(seen(&env)["SHA"], sha_hex(&other));
    assert_eq!(server.hits("/other.zip"), 1);

    // A redirect is refused before anything runs.
    server.route("/r.zip", Answer::Status(302, Some(uri.clone())));
    let redirect =
        env.tool(&repo, &["bench", "--yes", "--json", "--artifact", &server.url("/r.zip")]).expect(1);
    assert_eq!(redirect.error_code(), "artifact_redirect");
    assert!(!env.path("seen.txt").exists());

    // The task requires an artifact: the baseline cannot run, and says so.
    let run = env.tool(&repo, &["bench", "--yes", "--baseline"]).expect(0);
    assert!(run.stderr.contains("cannot run the baseline"), "{}", run.stderr);
}
