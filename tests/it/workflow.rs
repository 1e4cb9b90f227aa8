//! The mining workflow end to end against the fake coordinator (issue 4): `clone` → edit →
//! `check` → `claim` → `submit` → `status`, with a validator-style replay of what the fake
//! received (`git clone` of the task repository, `git checkout` of the received `base_ref`,
//! `git apply -` of the received `patch`) and an independent Python oracle for the
//! validator's pre-replay rules (protocol.md §7.4–§7.5: `re` and `fnmatch`, exactly).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use git_bitsota::test_support::sha256_hex;
use serde_json::{json, Value};

use crate::common::{files_under, problem_codes, task_record, write, Env, PHRASE, SS58};
use crate::fake_coordinator::{iso, unix_now, Fake, Fault};

const OTHER_PHRASE: &str =
    "submit brain any offer garlic mix pet sweet rack layer rebel only spot duck someone";
const TASK_ID: &str = "c54218ce-0000-4000-8000-000000000001";
const ALLOWED: &[&str] = &["train.py", "src/*", "assets/*.bin"];
const DISCLAIMER_SUMMARY: &str = "rewards are not guaranteed";
const SUBMISSIONS: &str = "/api/v1/submissions";

const BASE_FILES: &[(&str, &[u8])] = &[
    ("train.py", b"lr = 0.1\nsteps = 100\n"),
    ("src/model.py", b"def model():\n    return 1\n"),
    ("src/old.py", b"OLD = True\n"),
    ("src/crlf.txt", b"line one\r\nline two\r\n"),
    ("bench.py", b"print('score: 1.0')\n"),
    ("README.md", b"# task\n"),
];

/// A fake coordinator serving one task whose repository is a local repo made here; base_ref
/// is the tag `v1`, and `main` has moved on past it (so the base is not the branch head).
struct World {
    fake: Fake,
    env: Env,
    upstream: PathBuf,
    base_commit: String,
    record: Value,
}

fn world_with(tweak: impl FnOnce(&mut Value)) -> World {
    let fake = Fake::start();
    let mut env = Env::new();
    env.set("BITSOTA_COORDINATOR_URL", fake.url());
    env.set("BITSOTA_HOTKEY_MNEMONIC", PHRASE);
    env.set("BITSOTA_HTTP_BACKOFF_MS", "10");
    let upstream = env.repo_with("task-repo", BASE_FILES);
    env.git(&upstream, &["tag", "v1"]);
    let base_commit = env.git(&upstream, &["rev-parse", "v1^{commit}"]).trim().to_string();
    write(&upstream.join("train.py"), b"lr = 0.2 # upstream moved on\n");
    env.git(&upstream, &["commit", "-qam", "later"]);
    let mut record = task_record(upstream.to_str().unwrap(), "v1", ALLOWED);
    tweak(&mut record);
    fake.add_task(record.clone());
    World { fake, env, upstream, base_commit, record }
}

fn world() -> World {
    world_with(|_| {})
}

impl World {
    /// `git bitsota clone demo-task NAME` from the Env root; the clone's path.
    fn clone(&self, name: &str) -> PathBuf {
        self.env.tool(self.env.root(), &["clone", "demo-task", name]).expect(0);
        self.env.path(name)
    }

    /// A clone with an allowed edit and a valid sidecar: ready to claim and submit.
    fn ready(&self, name: &str) -> PathBuf {
        let dir = self.clone(name);
        write(&dir.join("train.py"), format!("lr = 0.05 # {name}\nsteps = 100\n").as_bytes());
        sidecar(&dir, json!({"summary": "lower lr", "claimed_metrics": {"score": 1.25}}));
        dir
    }

    fn posts(&self, path: &str) -> usize {
        self.fake.requests().iter().filter(|r| r.method == "POST" && r.path == path).count()
    }
}

fn sidecar(dir: &Path, value: Value) {
    fs::write(dir.join("submission.json"), serde_json::to_vec_pretty(&value).unwrap()).unwrap();
}

fn state_of(dir: &Path) -> toml::Table {
    let text = fs::read_to_string(dir.join(".git/bitsota.toml")).unwrap();
    toml::from_str(&text).unwrap()
}

/// Change the recorded claim's `expires_at` (as if time had passed).
fn set_local_expiry(dir: &Path, unix: i64) {
    let path = dir.join(".git/bitsota.toml");
    let mut state: toml::Table = toml::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
    state["claim"].as_table_mut().unwrap().insert("expires_at".into(), toml::Value::String(iso(unix)));
    fs::write(&path, toml::to_string(&state).unwrap()).unwrap();
}

/// Every file under `dir` except `.git` (and the sidecar), with its bytes.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    files_under(dir)
        .into_iter()
        .filter(|rel| rel != "submission.json")
        .map(|rel| {
            let bytes = fs::read(dir.join(&rel)).unwrap();
            (rel, bytes)
        })
        .collect()
}

/// What a validator does with a received submission: the pre-replay rules (by the Python
/// oracle), then `git clone` of the task repository, `git checkout` of `base_ref` and
/// `git apply -` of `patch`. Returns the replayed checkout.
fn replay(w: &World, submission: &Value, name: &str) -> PathBuf {
    let verdict = python_prechecks(
        submission["patch"].as_str().unwrap(),
        &w.record["allowed_patch_paths"],
        w.record["max_patch_bytes"].as_u64().unwrap(),
    );
    assert_eq!(verdict["rejections"], json!([]), "the validator would reject: {verdict}");
    let repository = w.record["repository"].as_str().unwrap();
    let (base, patch) = (submission["base_ref"].as_str().unwrap(), submission["patch"].as_str().unwrap());
    w.env.validator_replay(repository, base, patch.as_bytes(), name)
}

/// The validator's pre-replay rules (protocol.md §7.4–§7.5), in Python with `re` and
/// `fnmatch` exactly as the reference: an oracle independent of our Rust port.
const PRECHECKS_PY: &str = r#"
import fnmatch, json, re, sys
d = json.load(sys.stdin)
patch, allowed, limit = d["patch"], d["allowed"], d["max"]
out = []
if len(patch.encode("utf-8")) > limit:
    out.append("patch_too_large")
raw = []
for m in re.finditer(r"^diff --git a/(.+?) b/(.+?)$", patch, re.MULTILINE):
    raw += [m.group(1), m.group(2)]
for line in patch.splitlines():
    if line.startswith("--- ") or line.startswith("+++ "):
        raw.append(line[4:])
paths = []
for p in raw:
    p = p.strip().split("\t", 1)[0]
    if p == "/dev/null":
        continue
    if p.startswith("a/") or p.startswith("b/"):
        p = p[2:]
    if p and p not in paths:
        paths.append(p)
if patch.strip() and not paths:
    out.append("unparseable_patch_surface")
if any(p.lstrip("./").lower().endswith((".pyc", ".pyo")) for p in paths):
    out.append("generated_python_cache_paths")
if any(not any(fnmatch.fnmatch(p, a) for a in allowed) for p in paths):
    out.append("disallowed_patch_paths")
print(json.dumps({"rejections": out, "paths": sorted(paths)}))
"#;

fn python_prechecks(patch: &str, allowed: &Value, max: u64) -> Value {
    let input = json!({"patch": patch, "allowed": allowed, "max": max}).to_string();
    let mut child = std::process::Command::new("python3")
        .args(["-c", PRECHECKS_PY])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3");
    {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

// --- the full flow -------------------------------------------------------------------------------

#[test]
fn full_flow_clone_edit_check_claim_submit_status_replays_byte_for_byte() {
    let w = world();
    let env = &w.env;
    let run = env.tool(env.root(), &["clone", "demo-task", "work", "--json"]).expect(0);
    let cloned = run.json();
    assert_eq!(cloned["base_commit"], w.base_commit.as_str());
    assert_eq!(cloned["branch"], "bitsota/demo-task");
    let dir = env.path("work");
    // The record came from the fake's listing.
    assert!(w.fake.requests().iter().any(|r| r.method == "GET" && r.path == "/api/v1/tasks"));
    // On branch bitsota/demo-task at the tag's commit, not at main's head.
    assert_eq!(env.git(&dir, &["rev-parse", "HEAD"]).trim(), w.base_commit);
    assert_eq!(env.git(&dir, &["symbolic-ref", "--short", "HEAD"]).trim(), "bitsota/demo-task");
    assert_eq!(fs::read(dir.join("train.py")).unwrap(), b"lr = 0.1\nsteps = 100\n");
    let exclude = fs::read_to_string(dir.join(".git/info/exclude")).unwrap();
    assert!(exclude.lines().any(|l| l == "/submission.json"), "{exclude}");
    let state = state_of(&dir);
    assert_eq!(state["task"]["base_commit"].as_str(), Some(w.base_commit.as_str()));
    assert_eq!(state["coordinator_url"].as_str(), Some(w.fake.url().as_str()));

    // Edit: a local commit, then uncommitted edits (unstaged, staged deletion, new files,
    // a binary file, CRLF bytes), and an out-of-scope file that is ignored.
    write(&dir.join("train.py"), b"lr = 0.05\nsteps = 100\n");
    env.git(&dir, &["commit", "-qam", "lower lr"]);
    write(&dir.join("src/model.py"), b"def model():\n    return 2  # better\n");
    write(&dir.join("src/crlf.txt"), b"line one\r\nline 2\r\nline three\r\n");
    write(&dir.join("src/new_layer.py"), "# new file, ünïcode\nLAYER = 3\n".as_bytes());
    env.git(&dir, &["rm", "-q", "src/old.py"]);
    let binary: Vec<u8> = (0..=255u8).cycle().take(3000).collect();
    write(&dir.join("assets/w.bin"), &binary);
    sidecar(&dir, json!({"summary": "lower lr, better model", "claimed_metrics": {"score": 1.5}}));

    let report = env.tool(&dir, &["check", "--json"]).expect(0).json();
    assert_eq!(report["ok"], true, "{report}");
    let files: Vec<(&str, &str)> = report["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["path"].as_str().unwrap(), f["change"].as_str().unwrap()))
        .collect();
    assert_eq!(
        files,
        [
            ("assets/w.bin", "added"),
            ("src/crlf.txt", "modified"),
            ("src/model.py", "modified"),
            ("src/new_layer.py", "added"),
            ("src/old.py", "deleted"),
            ("train.py", "modified"),
        ]
    );
    let diff = env.tool(&dir, &["diff"]).expect(0).stdout;

    // Claim: signed, recorded, disclaimer shown, time left printed.
    let claim = env.tool(&dir, &["claim", "-m", "trying a lower lr"]);
    let claim = claim.expect(0);
    assert!(claim.stderr.contains(DISCLAIMER_SUMMARY), "{}", claim.stderr);
    assert!(claim.stderr.contains("https://bitsota.ai/docs/disclaimer/"), "{}", claim.stderr);
    assert!(claim.out().contains("left"), "{}", claim.out());
    let served = w.fake.claims();
    assert_eq!(served.len(), 1);
    assert_eq!(served[0]["claim_description"], "trying a lower lr");
    assert_eq!(served[0]["miner_hotkey"], SS58);
    let claim_id = served[0]["id"].as_str().unwrap().to_string();
    let state = state_of(&dir);
    assert_eq!(state["claim"]["id"].as_str(), Some(claim_id.as_str()));
    assert_eq!(state["claim"]["hotkey"].as_str(), Some(SS58));
    assert_eq!(state["claim"]["status"].as_str(), Some("active"));

    // Dry run: the body, nothing sent.
    let dry = env.tool(&dir, &["submit", "--dry-run", "--json"]).expect(0).json();
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["body"]["base_ref"], w.base_commit.as_str());
    assert_eq!(dry["body"]["claim_id"], claim_id.as_str());
    assert_eq!(dry["body"]["patch"].as_str().unwrap().as_bytes(), diff.as_slice());
    assert_eq!(w.posts(SUBMISSIONS), 0);

    let submitted = env.tool(&dir, &["submit", "--json"]).expect(0).json();
    let stored = w.fake.submissions();
    assert_eq!(stored.len(), 1);
    let received = &stored[0];
    assert_eq!(received["claim_id"], claim_id.as_str());
    assert_eq!(received["base_ref"], w.base_commit.as_str());
    assert_eq!(received["summary"], "lower lr, better model");
    assert_eq!(received["claimed_metrics"], json!({"score": 1.5}));
    let patch = received["patch"].as_str().unwrap();
    assert_eq!(patch.as_bytes(), diff.as_slice(), "submit sends exactly what `diff` prints");
    assert_eq!(submitted["submission"]["id"], received["id"]);
    assert_eq!(submitted["patch_bytes"], patch.len());
    assert_eq!(submitted["patch_sha256"], sha256_hex(patch.as_bytes()).as_str());

    // The independent oracle reads exactly the changed paths.
    let oracle = python_prechecks(patch, &w.record["allowed_patch_paths"], 262144);
    assert_eq!(
        oracle["paths"],
        json!(["assets/w.bin", "src/crlf.txt", "src/model.py", "src/new_layer.py", "src/old.py", "train.py"])
    );
    // The replay gives the miner's files byte for byte.
    let replayed = replay(&w, received, "replay");
    assert_eq!(tree(&replayed), tree(&dir));
    assert_eq!(fs::read(replayed.join("src/crlf.txt")).unwrap(), b"line one\r\nline 2\r\nline three\r\n");
    assert_eq!(fs::read(replayed.join("assets/w.bin")).unwrap(), binary);
    assert!(!replayed.join("src/old.py").exists());

    // Recorded in the state file.
    let state = state_of(&dir);
    assert_eq!(state["claim"]["status"].as_str(), Some("submitted"));
    let subs = state["submissions"].as_array().unwrap();
    assert_eq!(subs.len(), 1);
    assert_eq!(subs[0]["id"].as_str(), received["id"].as_str());
    assert_eq!(subs[0]["claim_id"].as_str(), Some(claim_id.as_str()));
    assert_eq!(subs[0]["base_ref"].as_str(), Some(w.base_commit.as_str()));
    assert_eq!(subs[0]["patch_sha256"].as_str(), Some(sha256_hex(patch.as_bytes()).as_str()));
    assert_eq!(subs[0]["patch_bytes"].as_integer(), Some(patch.len() as i64));
    assert_eq!(subs[0]["status"].as_str(), Some("pending_verification"));
    assert!(state.get("pending_submission").is_none(), "no attempt left in flight");

    // Status: pending, then the validator's verdict.
    let status = env.tool(&dir, &["status", "--json"]).expect(0).json();
    assert_eq!(status["base_commit"], w.base_commit.as_str());
    assert_eq!(status["claim"]["id"], claim_id.as_str());
    assert_eq!(status["claim"]["status"], "submitted");
    assert_eq!(status["check"]["ok"], true);
    assert_eq!(status["submissions"][0]["status"], "pending_verification");
    let id = received["id"].as_str().unwrap();
    w.fake.set_verdict(id, "accepted", json!({"score": 1.4375}));
    let human = env.tool(&dir, &["status"]).expect(0);
    let out = human.out();
    assert!(out.contains("demo-task") && out.contains(&w.base_commit), "{out}");
    assert!(out.contains(id) && out.contains("accepted") && out.contains("1.4375"), "{out}");
    assert!(out.contains("6 allowed, 0 refused"), "{out}");
    assert_eq!(state_of(&dir)["submissions"][0]["status"].as_str(), Some("accepted"));

    // Submissions: all, mine (by the signing key), and another key's view.
    let all = env.tool(&dir, &["submissions", "--json"]).expect(0).json();
    assert_eq!(all["submissions"].as_array().unwrap().len(), 1);
    let mine = env.tool(&dir, &["submissions", "--mine", "--json"]).expect(0).json();
    assert_eq!(mine["submissions"][0]["id"], id);
    let accepted = env.tool(&dir, &["submissions", "--status", "accepted", "--json"]).expect(0).json();
    assert_eq!(accepted["submissions"].as_array().unwrap().len(), 1);
    let rejected = env.tool(&dir, &["submissions", "--status", "rejected", "--json"]).expect(0).json();
    assert_eq!(rejected["submissions"], json!([]));
    let table = env.tool(&dir, &["submissions"]).expect(0).out();
    assert!(table.contains(id) && table.contains("accepted"), "{table}");
    let mut other = Env::new();
    other.set("BITSOTA_COORDINATOR_URL", w.fake.url());
    other.set("BITSOTA_HOTKEY_MNEMONIC", OTHER_PHRASE);
    let theirs = other.tool(&dir, &["submissions", "--mine", "--json"]).expect(0).json();
    assert_eq!(theirs["submissions"], json!([]));

    // Every signed request verified.
    for r in w.fake.requests().iter().filter(|r| r.method == "POST") {
        assert!(r.auth_error.is_none() && r.signer.as_deref() == Some(SS58), "{r:?}");
    }
}

#[test]
fn disclaimer_once_claim_rules_and_cancel() {
    let w = world();
    let env = &w.env;
    let dir = w.ready("work");
    let first = env.tool(&dir, &["claim"]).expect(0);
    assert!(first.stderr.contains(DISCLAIMER_SUMMARY), "{}", first.stderr);
    assert_eq!(w.fake.claims()[0]["claim_description"], "git bitsota claim");
    assert_eq!(state_of(&dir)["disclaimers_seen"].as_array().unwrap().len(), 1);

    // A second claim while this one is active is refused (nothing sent) unless --force.
    let again = env.tool(&dir, &["claim", "--json"]).expect(2);
    assert_eq!(again.error_code(), "claim_active");
    assert_eq!(w.fake.claims().len(), 1);

    // Cancel: signed, recorded locally.
    let cancelled = env.tool(&dir, &["cancel", "--json"]).expect(0).json();
    assert_eq!(cancelled["claim"]["status"], "cancelled");
    assert_eq!(w.fake.claims()[0]["status"], "cancelled");
    assert_eq!(state_of(&dir)["claim"]["status"].as_str(), Some("cancelled"));
    // Submitting on a cancelled claim is refused before anything is sent.
    let refused = env.tool(&dir, &["submit", "--json"]).expect(1).json();
    assert_eq!(problem_codes(&refused), ["claim_expired"]);
    assert_eq!(w.posts(SUBMISSIONS), 0);

    // Claim again: the disclaimer version was seen, so it is not shown again.
    let second = env.tool(&dir, &["claim"]).expect(0);
    assert!(!second.stderr.contains(DISCLAIMER_SUMMARY), "{}", second.stderr);
    let forced = env.tool(&dir, &["claim", "--force"]).expect(0);
    assert!(!forced.stderr.contains(DISCLAIMER_SUMMARY), "{}", forced.stderr);
    assert_eq!(w.fake.claims().len(), 3);
    assert_eq!(state_of(&dir)["claim"]["id"].as_str(), w.fake.claims()[2]["id"].as_str());

    // A quiet claim does not count as having shown a new disclaimer version.
    let dir2 = w.ready("work2");
    env.tool(&dir2, &["claim", "-q"]).expect(0);
    let shown = env.tool(&dir2, &["claim", "--force"]).expect(0);
    assert!(shown.stderr.contains(DISCLAIMER_SUMMARY), "{}", shown.stderr);

    // Cancel without a claim.
    let dir3 = w.ready("work3");
    assert_eq!(env.tool(&dir3, &["cancel", "--json"]).expect(2).error_code(), "claim_missing");
}

#[test]
fn claim_refused_when_the_task_is_not_live() {
    let w = world();
    let dir = w.ready("work");
    w.fake.state().tasks[0]["task_state"] = json!("paused");
    let run = w.env.tool(&dir, &["claim", "--json"]).expect(2);
    assert_eq!(run.error_code(), "task_not_live");
    w.fake.state().tasks[0]["task_state"] = json!("live");
    w.fake.state().tasks[0]["is_active"] = json!(false);
    assert_eq!(w.env.tool(&dir, &["claim", "--json"]).expect(2).error_code(), "task_not_live");
    assert_eq!(w.posts(&format!("/api/v1/tasks/{TASK_ID}/claim")), 0);
    assert!(state_of(&dir).get("claim").is_none());
}

#[test]
fn status_warns_when_the_claim_is_short_or_expired() {
    let w = world();
    let dir = w.ready("work");
    let none = w.env.tool(&dir, &["status"]).expect(0);
    assert!(none.out().contains("claim    none"), "{}", none.out());
    w.env.tool(&dir, &["claim"]).expect(0);
    let fresh = w.env.tool(&dir, &["status"]).expect(0);
    assert!(!fresh.stderr.contains("warning"), "{}", fresh.stderr);
    assert!(fresh.out().contains("active") && fresh.out().contains("left"), "{}", fresh.out());
    // The coordinator's expiry is what counts (it is copied into the state file).
    set_server_expiry(&w.fake, unix_now() + 300);
    let short = w.env.tool(&dir, &["status"]).expect(0);
    assert!(short.stderr.contains("warning: the claim expires in"), "{}", short.stderr);
    // "4m59s left": minutes and seconds, not hours.
    let minutes = short.out().split_whitespace().any(|w| {
        let w = w.trim_start_matches('(');
        w.split_once('m').is_some_and(|(m, s)| m.parse::<u32>().is_ok() && s.len() == 3 && s.ends_with('s'))
    });
    assert!(minutes && short.out().contains("s left"), "{}", short.out());
    let recorded = state_of(&dir)["claim"]["expires_at"].as_str().unwrap().to_string();
    assert_eq!(Some(recorded.as_str()), w.fake.claims()[0]["expires_at"].as_str());
    // Past its expiry: the coordinator reports it expired.
    w.fake.expire_claims();
    let run = w.env.tool(&dir, &["status", "--json"]).expect(0);
    assert_eq!(run.json()["claim"]["status"], "expired");
    assert!(run.stderr.contains("warning: the claim has expired"), "{}", run.stderr);
    let again = w.env.tool(&dir, &["status"]).expect(0);
    assert!(again.stderr.contains("warning: the claim has expired"), "{}", again.stderr);
    assert_eq!(state_of(&dir)["claim"]["status"].as_str(), Some("expired"));
    // Coordinator unreachable: the recorded state and a warning, then exit 3 (the statuses
    // are not live); the local expiry is what is left to warn about.
    set_local_status(&dir, "active");
    set_local_expiry(&dir, unix_now() - 60);
    let mut offline = Env::new();
    offline.set("BITSOTA_COORDINATOR_URL", "http://127.0.0.1:9");
    offline.set("BITSOTA_HTTP_BACKOFF_MS", "1");
    let run = offline.tool(&dir, &["status"]).expect(3);
    assert!(run.stderr.contains("cannot reach the coordinator"), "{}", run.stderr);
    assert!(run.stderr.contains("warning: the claim has expired"), "{}", run.stderr);
    assert!(run.out().contains("demo-task"), "{}", run.out());
}

fn set_server_expiry(fake: &Fake, unix: i64) {
    let mut state = fake.state();
    for claim in state.claims.iter_mut() {
        claim.expires_unix = unix;
        claim.value["expires_at"] = json!(iso(unix));
    }
}

fn set_local_status(dir: &Path, status: &str) {
    let path = dir.join(".git/bitsota.toml");
    let mut state: toml::Table = toml::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
    state["claim"].as_table_mut().unwrap().insert("status".into(), toml::Value::String(status.into()));
    fs::write(&path, toml::to_string(&state).unwrap()).unwrap();
}

// --- refusals ------------------------------------------------------------------------------------

#[test]
fn submit_refuses_a_missing_or_expired_claim() {
    let w = world();
    let env = &w.env;
    let dir = w.ready("work");
    let missing = env.tool(&dir, &["submit", "--json"]).expect(1).json();
    assert_eq!(problem_codes(&missing), ["claim_missing"]);
    // --dry-run needs no claim.
    let dry = env.tool(&dir, &["submit", "--dry-run", "--json"]).expect(0).json();
    assert_eq!(dry["body"]["claim_id"], "");
    assert!(dry["body_bytes"].as_u64().unwrap() > 0);

    // Expired locally: refused offline.
    env.tool(&dir, &["claim"]).expect(0);
    set_local_expiry(&dir, unix_now() - 1);
    let expired = env.tool(&dir, &["submit", "--json"]).expect(1).json();
    assert_eq!(problem_codes(&expired), ["claim_expired"]);
    let human = env.tool(&dir, &["submit"]).expect(1);
    assert!(human.out().contains("claim_expired") && human.out().contains("expired"), "{}", human.out());
    assert_eq!(w.posts(SUBMISSIONS), 0);

    // Expired on the coordinator only: its refusal (409) is exit 5 with its detail, and
    // nothing is left in flight.
    set_local_expiry(&dir, unix_now() + 2000);
    w.fake.expire_claims();
    let run = env.tool(&dir, &["submit"]).expect(5);
    assert!(run.stderr.contains("not active") && run.stderr.contains("expired"), "{}", run.stderr);
    assert!(w.fake.submissions().is_empty());
    assert!(state_of(&dir).get("pending_submission").is_none());
}

#[test]
fn submit_on_another_hotkeys_claim_is_exit_4() {
    let mut w = world();
    let dir = w.ready("work");
    w.env.tool(&dir, &["claim"]).expect(0);
    w.env.set("BITSOTA_HOTKEY_MNEMONIC", OTHER_PHRASE);
    let run = w.env.tool(&dir, &["submit"]).expect(4);
    assert!(run.stderr.contains("403") && run.stderr.contains("another hotkey"), "{}", run.stderr);
    assert!(run.stderr.contains("the claim was made by"), "{}", run.stderr);
    assert!(w.fake.submissions().is_empty());
    assert!(state_of(&dir).get("submissions").is_none());
    // Cancelling someone else's claim is refused too.
    w.env.tool(&dir, &["cancel"]).expect(4);
    assert_eq!(w.fake.claims()[0]["status"], "active");
}

#[test]
fn centerless_task_needs_proposed_idea() {
    let w = world_with(|r| r["competition_mode"] = json!("centerless"));
    let env = &w.env;
    let dir = w.ready("work");
    env.tool(&dir, &["claim"]).expect(0);
    let run = env.tool(&dir, &["submit", "--json"]).expect(1).json();
    assert_eq!(problem_codes(&run), ["submission_invalid"]);
    assert!(run["problems"][0]["message"].as_str().unwrap().contains("proposed_idea"), "{run}");
    assert_eq!(w.posts(SUBMISSIONS), 0);
    sidecar(
        &dir,
        json!({"summary": "s", "claimed_metrics": {"score": 1}, "proposed_idea": "  a better lr  "}),
    );
    env.tool(&dir, &["submit", "--json"]).expect(0);
    assert_eq!(w.fake.submissions()[0]["proposed_idea"], "a better lr");
}

#[test]
fn sidecar_problems_are_refused_before_sending() {
    let w = world();
    let env = &w.env;
    let dir = w.ready("work");
    env.tool(&dir, &["claim"]).expect(0);
    fs::remove_file(dir.join("submission.json")).unwrap();
    assert_eq!(
        problem_codes(&env.tool(&dir, &["submit", "--json"]).expect(1).json()),
        ["submission_invalid"]
    );
    sidecar(&dir, json!({"summary": "s", "claimed_metrics": {"other_metric": 1}}));
    assert_eq!(
        problem_codes(&env.tool(&dir, &["submit", "--json"]).expect(1).json()),
        ["submission_invalid"]
    );
    sidecar(&dir, json!({"summary": "s", "claimed_metrics": {"score": 1}, "artifact_uri": "http://x/a.zip"}));
    let bad_artifact = env.tool(&dir, &["submit", "--json"]).expect(1).json();
    let found = problem_codes(&bad_artifact);
    assert!(!found.is_empty() && found.iter().all(|c| c == "submission_invalid"), "{bad_artifact}");
    assert_eq!(w.posts(SUBMISSIONS), 0);
}

#[test]
fn empty_and_oversize_patches_are_refused() {
    let w = world_with(|r| r["max_patch_bytes"] = json!(400));
    let env = &w.env;
    let dir = w.clone("work");
    sidecar(&dir, json!({"summary": "s", "claimed_metrics": {"score": 1}}));
    env.tool(&dir, &["claim"]).expect(0);
    // (An empty patch is scored on an artifact, which the sidecar does not name.)
    let empty = env.tool(&dir, &["submit", "--json"]).expect(1).json();
    assert_eq!(problem_codes(&empty), ["empty_patch", "artifact_missing"]);
    // Only out-of-scope changes, left out: still empty.
    write(&dir.join("README.md"), b"# mine\n");
    let left = env.tool(&dir, &["submit", "--allow-outside", "--json"]).expect(1).json();
    assert_eq!(problem_codes(&left), ["empty_patch", "artifact_missing"]);

    write(&dir.join("src/model.py"), "x = 1\n".repeat(100).as_bytes());
    let big = env.tool(&dir, &["submit", "--allow-outside", "--json"]).expect(1).json();
    assert_eq!(problem_codes(&big), ["patch_too_large"]);
    assert!(big["patch_bytes"].as_u64().unwrap() > 400);
    assert_eq!(w.posts(SUBMISSIONS), 0);
    // The oracle agrees about the size.
    let diff = env.tool(&dir, &["diff", "--allow-outside"]).expect(0).out();
    let verdict = python_prechecks(&diff, &w.record["allowed_patch_paths"], 400);
    assert_eq!(verdict["rejections"], json!(["patch_too_large"]));
}

#[test]
fn out_of_scope_changes_are_refused_or_left_out() {
    let w = world();
    let env = &w.env;
    let dir = w.ready("work");
    write(&dir.join("README.md"), b"# changed outside\n");
    write(&dir.join("notes/plan.txt"), b"new and outside\n");
    env.tool(&dir, &["claim"]).expect(0);
    let refused = env.tool(&dir, &["submit", "--json"]).expect(1).json();
    assert_eq!(problem_codes(&refused), ["outside_allowed_paths"]);
    assert_eq!(refused["problems"][0]["paths"], json!(["README.md", "notes/plan.txt"]));
    assert_eq!(w.posts(SUBMISSIONS), 0);

    let run = env.tool(&dir, &["submit", "--allow-outside", "--json"]).expect(0);
    assert!(run.stderr.contains("left out") && run.stderr.contains("README.md"), "{}", run.stderr);
    let received = &w.fake.submissions()[0];
    let patch = received["patch"].as_str().unwrap();
    assert!(!patch.contains("README.md") && !patch.contains("notes/plan.txt"), "{patch}");
    let replayed = replay(&w, received, "replay");
    assert_eq!(fs::read(replayed.join("train.py")).unwrap(), fs::read(dir.join("train.py")).unwrap());
    assert_eq!(fs::read(replayed.join("README.md")).unwrap(), b"# task\n");
    assert!(!replayed.join("notes/plan.txt").exists());
}

#[test]
fn duplicate_submit_is_refused_without_force() {
    let w = world();
    let env = &w.env;
    let dir = w.ready("work");
    env.tool(&dir, &["claim"]).expect(0);
    env.tool(&dir, &["submit"]).expect(0);
    let again = env.tool(&dir, &["submit", "--json"]).expect(1);
    assert_eq!(again.error_code(), "duplicate_submission");
    assert_eq!(w.posts(SUBMISSIONS), 1);
    // --force sends it (this coordinator then refuses: the claim is no longer active).
    let forced = env.tool(&dir, &["submit", "--force"]);
    assert_eq!(w.posts(SUBMISSIONS), 2);
    assert_eq!(forced.code, 5, "{}", forced.stderr);
    assert_eq!(w.fake.submissions().len(), 1);
    assert_eq!(state_of(&dir)["submissions"].as_array().unwrap().len(), 1);
}

// --- lost answers ------------------------------------------------------------------------------

#[test]
fn answer_lost_after_the_server_stored_it_is_found_not_resent() {
    for fault in [Fault::ResetAfterProcessing, Fault::CloseAfterProcessing] {
        let w = world();
        let env = &w.env;
        let dir = w.ready("work");
        env.tool(&dir, &["claim"]).expect(0);
        w.fake.push_route_fault("POST", SUBMISSIONS, fault.clone());
        let run = env.tool(&dir, &["submit", "--json"]);
        assert_eq!(run.code, 0, "{fault:?}: {}\n{}", run.out(), run.stderr);
        assert!(run.stderr.contains("answer was lost"), "{}", run.stderr);
        let stored = w.fake.submissions();
        assert_eq!(stored.len(), 1, "{fault:?}");
        assert_eq!(run.json()["submission"]["id"], stored[0]["id"]);
        assert_eq!(w.posts(SUBMISSIONS), 1, "{fault:?}");
        let state = state_of(&dir);
        assert_eq!(state["submissions"][0]["id"].as_str(), stored[0]["id"].as_str());
        assert!(state.get("pending_submission").is_none());
        // And a later submit is a refused duplicate, not a second submission.
        assert_eq!(env.tool(&dir, &["submit", "--json"]).expect(1).error_code(), "duplicate_submission");
    }
}

#[test]
fn second_submit_after_a_lost_answer_looks_it_up_instead_of_resending() {
    let mut w = world();
    let dir = w.ready("work");
    w.env.tool(&dir, &["claim"]).expect(0);
    // The answer times out; the coordinator stores the submission only after our immediate
    // look-up, so that look-up finds nothing.
    w.env.set("BITSOTA_HTTP_TIMEOUT_SECS", "1");
    w.fake.push_route_fault("POST", SUBMISSIONS, Fault::Slow(Duration::from_secs(3)));
    let run = w.env.tool(&dir, &["submit"]).expect(3);
    assert!(run.stderr.contains("git bitsota submit` again"), "{}", run.stderr);
    assert!(state_of(&dir).get("pending_submission").is_some());
    let started = Instant::now();
    while w.fake.submissions().is_empty() && started.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(w.fake.submissions().len(), 1);
    w.env.set("BITSOTA_HTTP_TIMEOUT_SECS", "30");
    let second = w.env.tool(&dir, &["submit", "--json"]).expect(0);
    assert!(second.stderr.contains("looking it up"), "{}", second.stderr);
    assert_eq!(w.posts(SUBMISSIONS), 1, "not sent again");
    assert_eq!(second.json()["submission"]["id"], w.fake.submissions()[0]["id"]);
    assert!(state_of(&dir).get("pending_submission").is_none());
}

#[test]
fn lost_request_that_never_arrived_is_sent_once_more() {
    let w = world();
    let dir = w.ready("work");
    w.env.tool(&dir, &["claim"]).expect(0);
    // Reset before the server processed anything: nothing stored.
    w.fake.push_route_fault("POST", SUBMISSIONS, Fault::Reset);
    w.env.tool(&dir, &["submit"]).expect(3);
    assert!(w.fake.submissions().is_empty());
    // The next run looks first (nothing there), then sends.
    w.env.tool(&dir, &["submit"]).expect(0);
    assert_eq!(w.posts(SUBMISSIONS), 2);
    assert_eq!(w.fake.submissions().len(), 1);
    // A server error after which the outcome is unknown is looked up too.
    let w = world();
    let dir = w.ready("work");
    w.env.tool(&dir, &["claim"]).expect(0);
    w.fake.push_route_fault("POST", SUBMISSIONS, Fault::Status(502, json!({"detail": "bad gateway"})));
    let run = w.env.tool(&dir, &["submit"]).expect(5);
    assert!(run.stderr.contains("502"), "{}", run.stderr);
    assert!(state_of(&dir).get("pending_submission").is_some(), "outcome unknown: still pending");
    w.env.tool(&dir, &["submit"]).expect(0);
    assert_eq!(w.fake.submissions().len(), 1);
}

// --- clone ---------------------------------------------------------------------------------------

#[test]
fn clone_defaults_to_the_repository_basename_and_refuses_a_non_empty_target() {
    let w = world();
    let env = &w.env;
    let ws = env.path("ws");
    fs::create_dir_all(&ws).unwrap();
    env.tool(&ws, &["clone", "demo-task"]).expect(0);
    assert!(ws.join("task-repo/.git").is_dir());
    assert_eq!(env.git(&ws.join("task-repo"), &["rev-parse", "HEAD"]).trim(), w.base_commit);
    // Again: the target exists and is not empty.
    let run = env.tool(&ws, &["clone", "demo-task", "--json"]).expect(2);
    assert_eq!(run.error_code(), "target_exists");
    assert_eq!(env.git(&ws.join("task-repo"), &["rev-parse", "HEAD"]).trim(), w.base_commit);
    let keep = ws.join("keep");
    write(&keep.join("mine.txt"), b"do not touch\n");
    assert_eq!(
        env.tool(&ws, &["clone", "demo-task", "keep", "--json"]).expect(2).error_code(),
        "target_exists"
    );
    assert_eq!(fs::read(keep.join("mine.txt")).unwrap(), b"do not touch\n");
    // An empty directory is fine; so is a task looked up by id.
    fs::create_dir_all(ws.join("empty")).unwrap();
    env.tool(&ws, &["clone", TASK_ID, "empty"]).expect(0);
    assert!(ws.join("empty/train.py").is_file());

    // A file:// URL ending in .git: the basename without .git.
    let bare = env.path("srv/task-bare.git");
    env.git(env.root(), &["clone", "-q", "--bare", w.upstream.to_str().unwrap(), bare.to_str().unwrap()]);
    let fake = Fake::start();
    let mut env2 = Env::new();
    env2.set("BITSOTA_COORDINATOR_URL", fake.url());
    fake.add_task(task_record(&format!("file://{}", bare.display()), "v1", ALLOWED));
    env2.tool(env2.root(), &["clone", "demo-task"]).expect(0);
    assert_eq!(env2.git(&env2.path("task-bare"), &["rev-parse", "HEAD"]).trim(), w.base_commit);
}

#[test]
fn clone_that_fails_half_way_leaves_nothing() {
    // A base_ref the repository does not have (exit 2); a local repository that does not
    // exist (git clone fails, nothing to do with the network: exit 2); a host that cannot be
    // reached (exit 3).
    type Tweak = fn(&mut Value);
    let cases: [(Tweak, i32); 3] = [
        (|r: &mut Value| r["base_ref"] = json!("no-such-branch"), 2),
        (|r: &mut Value| r["repository"] = json!("/nonexistent/task-repo"), 2),
        (|r: &mut Value| r["repository"] = json!("https://127.0.0.1:9/task-repo.git"), 3),
    ];
    for (tweak, code) in cases {
        let w = world_with(tweak);
        let ws = w.env.path("ws");
        fs::create_dir_all(&ws).unwrap();
        let run = w.env.tool(&ws, &["clone", "demo-task", "target"]).expect(code);
        assert!(!ws.join("target").exists(), "{}", run.stderr);
        fs::create_dir_all(ws.join("empty")).unwrap();
        w.env.tool(&ws, &["clone", "demo-task", "empty"]).expect(code);
        assert_eq!(fs::read_dir(ws.join("empty")).unwrap().count(), 0);
    }
}

/// A change to a task record.
type Tweak = Box<dyn Fn(&mut Value)>;

#[test]
fn hostile_task_records_get_a_clear_error_and_create_nothing() {
    let pwned = Env::new();
    let marker = pwned.path("pwned");
    let ext = format!("ext::sh -c touch% {}", marker.display());
    let cases: Vec<(Tweak, &str)> = vec![
        (Box::new(move |r| r["repository"] = json!(ext.clone())), "remote-helper"),
        (Box::new(|r| r["repository"] = json!("fd::3")), "remote-helper"),
        (Box::new(|r| r["repository"] = json!("-uhello")), "starts with `-`"),
        (Box::new(|r| r["repository"] = json!("http://example.com/task.git")), "http://"),
        (Box::new(|r| r["allowed_patch_paths"] = json!(["../outside.py"])), "climbs out"),
        (Box::new(|r| r["allowed_patch_paths"] = json!(["train.py", "/etc/passwd"])), "absolute"),
        (Box::new(|r| r["time_budget_seconds"] = json!(1_000_000_000_000u64)), "time_budget_seconds"),
        (Box::new(|r| r["time_budget_seconds"] = json!("lots")), "time_budget_seconds"),
        (Box::new(|r| r["base_ref"] = json!("--upload-pack=touch")), "base_ref"),
        (Box::new(|r| r["result_path"] = json!("../../etc/shadow")), "result_path"),
        (Box::new(|r| drop(r.as_object_mut().unwrap().remove("base_ref"))), "missing field `base_ref`"),
        (Box::new(|r| drop(r.as_object_mut().unwrap().remove("repository"))), "missing field `repository`"),
        (Box::new(|r| drop(r.as_object_mut().unwrap().remove("allowed_patch_paths"))), "allowed_patch_paths"),
        (Box::new(|r| drop(r.as_object_mut().unwrap().remove("benchmark_command"))), "benchmark_command"),
        (Box::new(|r| r["slug"] = json!("../../evil")), "slug"),
    ];
    for (tweak, why) in cases {
        let w = world_with(|r| tweak(r));
        let ws = w.env.path("ws");
        fs::create_dir_all(&ws).unwrap();
        // By id (a hostile slug cannot be looked up by slug), into the default directory and
        // into a named one.
        for args in [&["clone", TASK_ID][..], &["clone", TASK_ID, "target"][..]] {
            let run = w.env.tool(&ws, args);
            assert_eq!(run.code, 5, "{why}: served by the coordinator → exit 5\n{}", run.stderr);
            assert!(run.stderr.contains(why), "{why}: {}", run.stderr);
            assert_eq!(fs::read_dir(&ws).unwrap().count(), 0, "{why}: created something");
        }
        // The same record from a file: exit 2, nothing created.
        let file = w.env.path("record.json");
        fs::write(&file, w.record.to_string()).unwrap();
        let run = w.env.tool(&ws, &["clone", TASK_ID, "t2", "--task-file", file.to_str().unwrap(), "--json"]);
        assert_eq!(run.code, 2, "{why}: {}", run.stderr);
        assert_eq!(run.error_code(), "bad_task_record", "{why}");
        assert_eq!(fs::read_dir(&ws).unwrap().count(), 0, "{why}: created something");
        assert!(!marker.exists(), "a transport ran a command");
    }
}

#[test]
fn artifact_first_task_submits_an_empty_patch_with_the_artifact() {
    let w = world_with(|r| r["requires_submission_artifact"] = json!(true));
    let env = &w.env;
    let dir = w.clone("work");
    env.tool(&dir, &["claim"]).expect(0);
    // No artifact yet: refused.
    sidecar(&dir, json!({"summary": "s", "claimed_metrics": {"score": 1}}));
    let run = env.tool(&dir, &["submit", "--json"]).expect(1).json();
    assert!(problem_codes(&run).contains(&"artifact_missing".to_string()), "{run}");
    let sha = "AB".repeat(32);
    sidecar(
        &dir,
        json!({"summary": "s", "claimed_metrics": {"score": 1},
               "artifact_uri": " https://example.com/a.zip ", "artifact_sha256": sha,
               "artifact_size_bytes": 1234}),
    );
    // (No network in tests: the download check has its own tests in artifact.rs.)
    env.tool(&dir, &["submit", "--json", "--no-verify-artifact"]).expect(0);
    let received = &w.fake.submissions()[0];
    assert_eq!(received["patch"], "");
    assert_eq!(received["artifact_uri"], "https://example.com/a.zip");
    assert_eq!(received["artifact_sha256"], "ab".repeat(32).as_str());
    assert_eq!(received["artifact_size_bytes"], 1234);
}

/// `init TASK` without `--task-file` fetches the record from the coordinator (by slug or id)
/// and binds a plain `git clone` of the task repository.
#[test]
fn init_fetches_the_record_from_the_coordinator() {
    let w = world();
    let plain = w.env.path("plain");
    w.env.git(w.env.root(), &["clone", "-q", w.upstream.to_str().unwrap(), "plain"]);
    w.env.tool(&plain, &["init", "DEMO-TASK"]).expect(0);
    let state = state_of(&plain);
    assert_eq!(state["task"]["base_commit"].as_str(), Some(w.base_commit.as_str()));
    assert_eq!(state["task"]["id"].as_str(), w.record["id"].as_str());
    assert!(w.fake.requests().iter().any(|r| r.method == "GET" && r.path == "/api/v1/tasks"));
    // An unknown task is a usage error naming the live ones.
    let run = w.env.tool(&plain, &["init", "no-such-task"]).expect(2);
    assert!(run.stderr.contains("demo-task"), "{}", run.stderr);
}
