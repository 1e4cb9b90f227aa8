//! Competition modes (issue 13): pool work items (`work-items`, `claim --work-item`), centerless
//! ideas (`ideas`, `apply`, `submit --implements`), `claim --base`, and the polish items
//! (`result_path` excluded at clone/init, bench outputs named by `check`, the "Global options"
//! help heading). Every signed request goes to the fake coordinator, which verifies it.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::common::{files_under, task_record, write, Env, PHRASE, SS58};
use crate::fake_coordinator::{iso, unix_now, Fake, Fault};

const TASK_ID: &str = "c54218ce-0000-4000-8000-000000000001";
const OTHER_TASK_ID: &str = "c54218ce-0000-4000-8000-0000000000ff";
const OTHER_HOTKEY: &str = "5CMfHUi3MnBgEuQWEAT1FDmPYrRbsBofBihym4g32jPWZ4Zz";
const ALLOWED: &[&str] = &["train.py", "src/*"];
const WORK_ITEM_CLAIM: &str = "/api/v1/work-items/";

const BASE_FILES: &[(&str, &[u8])] = &[
    ("train.py", b"lr = 0.1\nsteps = 100\n"),
    ("src/model.py", b"def model():\n    return 1\n"),
    ("bench.py", b"print('score: 1.0')\n"),
    ("README.md", b"# task\n"),
];

struct World {
    fake: Fake,
    env: Env,
    upstream: PathBuf,
    base_commit: String,
}

fn world(mode: &str, tweak: impl FnOnce(&mut Value)) -> World {
    let fake = Fake::start();
    let mut env = Env::new();
    env.set("BITSOTA_COORDINATOR_URL", fake.url());
    env.set("BITSOTA_HOTKEY_MNEMONIC", PHRASE);
    env.set("BITSOTA_HTTP_BACKOFF_MS", "10");
    let upstream = env.repo_with("task-repo", BASE_FILES);
    let base_commit = env.git(&upstream, &["rev-parse", "HEAD"]).trim().to_string();
    let mut record = task_record(upstream.to_str().unwrap(), "main", ALLOWED);
    record["competition_mode"] = json!(mode);
    tweak(&mut record);
    fake.add_task(record);
    let mut other = task_record(upstream.to_str().unwrap(), "main", ALLOWED);
    other["id"] = json!(OTHER_TASK_ID);
    other["slug"] = json!("other-task");
    fake.add_task(other);
    World { fake, env, upstream, base_commit }
}

impl World {
    fn clone(&self, name: &str) -> PathBuf {
        self.env.tool(self.env.root(), &["clone", "demo-task", name]).expect(0);
        self.env.path(name)
    }

    /// A patch of the base made with git (a/ b/ prefixes), editing `files`.
    fn patch(&self, files: &[(&str, &[u8])]) -> String {
        let dir = self.env.path(&format!("patch-src-{}", unix_now_nanos()));
        self.env
            .git(self.env.root(), &["clone", "-q", self.upstream.to_str().unwrap(), dir.to_str().unwrap()]);
        for (path, bytes) in files {
            write(&dir.join(path), bytes);
        }
        self.env.git(&dir, &["add", "-A"]);
        self.env.git(&dir, &["diff", "--cached", "--binary", "--full-index"])
    }

    /// A submission made by someone else, as the coordinator would serve it.
    fn seed(
        &self,
        id: &str,
        task: &str,
        miner: &str,
        (status, created): (&str, &str),
        idea: &str,
        patch: &str,
    ) {
        self.fake.add_submission(json!({
            "id": id, "task_id": task, "claim_id": format!("claim-{id}"), "miner_hotkey": miner,
            "status": status, "created_at": created, "base_ref": self.base_commit, "patch": patch,
            "summary": "s", "claimed_metrics": {"score": 1.5}, "observed_metrics": {"score": 1.4},
            "proposed_idea": idea,
        }));
    }

    fn posts_to(&self, prefix: &str) -> Vec<crate::fake_coordinator::Logged> {
        self.fake
            .requests()
            .into_iter()
            .filter(|r| r.method == "POST" && r.path.starts_with(prefix))
            .collect()
    }
}

fn unix_now_nanos() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
}

fn state_of(dir: &Path) -> toml::Table {
    toml::from_str(&fs::read_to_string(dir.join(".git/bitsota.toml")).unwrap()).unwrap()
}

fn ids(list: &Value) -> Vec<String> {
    list.as_array().unwrap().iter().map(|v| v["id"].as_str().unwrap().to_string()).collect()
}

fn item(id: &str, priority: i64, created: &str, status: &str) -> Value {
    json!({
        "id": id, "task_id": TASK_ID, "title": format!("title of {id}"),
        "instructions": format!("do {id}\nstep two"), "priority": priority, "status": status,
        "claim_id": null, "created_at": created, "base_submission_id": null,
    })
}

/// Every file of the work tree (the sidecar included) with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    files_under(dir).into_iter().map(|rel| (rel.clone(), fs::read(dir.join(&rel)).unwrap())).collect()
}

// --- work items ---------------------------------------------------------------------------------

#[test]
fn work_items_are_listed_priority_first_then_oldest_with_a_status_filter() {
    let w = world("standard", |_| {});
    w.fake.add_work_item(item("low", 1, "2026-01-01T00:00:00Z", "open"));
    w.fake.add_work_item(item("high-new", 5, "2026-01-03T00:00:00Z", "open"));
    w.fake.add_work_item(item("high-old", 5, "2026-01-02T00:00:00Z", "open"));
    w.fake.add_work_item(item("taken", 9, "2026-01-01T00:00:00Z", "claimed"));
    let mut foreign = item("foreign", 10, "2026-01-01T00:00:00Z", "open");
    foreign["task_id"] = json!(OTHER_TASK_ID);
    w.fake.add_work_item(foreign);
    let dir = w.clone("work");

    let run = w.env.tool(&dir, &["work-items", "--json"]).expect(0);
    assert_eq!(ids(&run.json()["work_items"]), ["high-old", "high-new", "low"]);
    let listed = w.fake.requests().into_iter().rfind(|r| r.path == "/api/v1/work-items").unwrap();
    assert_eq!(listed.query, format!("task_id={TASK_ID}&status=open"));

    let run = w.env.tool(&dir, &["work-items", "--status", "claimed", "--json"]).expect(0);
    assert_eq!(ids(&run.json()["work_items"]), ["taken"]);

    let out = w.env.tool(&dir, &["work-items"]).expect(0).out();
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("ID") && lines[0].contains("PRIORITY") && lines[0].contains("BASE SUBMISSION")
    );
    assert!(lines[1].starts_with("high-old") && lines[1].contains("title of high-old"), "{lines:?}");
}

#[test]
fn claim_work_item_takes_the_first_open_item_records_it_and_the_submit_completes_it() {
    let w = world("standard", |_| {});
    w.fake.add_work_item(item("second", 1, "2026-01-01T00:00:00Z", "open"));
    let mut first = item("first", 3, "2026-01-02T00:00:00Z", "open");
    first["base_submission_id"] = json!("base-sub");
    first["instructions"] = json!("make lr smaller\n\x1b[31mred\x1b[0m line");
    w.fake.add_work_item(first);
    let dir = w.clone("work");

    let run = w.env.tool(&dir, &["claim", "--work-item", "-m", "pool run"]).expect(0);
    assert!(run.out().contains("claimed work item first"), "{}", run.out());
    assert!(run.out().contains("title: title of first"), "{}", run.out());
    assert!(!run.out().contains('\x1b'), "served text is printed without escapes: {:?}", run.out());
    assert!(run.stderr.contains("git bitsota apply base-sub"), "{}", run.stderr);

    let posts = w.posts_to(WORK_ITEM_CLAIM);
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].path, "/api/v1/work-items/first/claim");
    assert_eq!(posts[0].signer.as_deref(), Some(SS58), "verified by the fake");
    assert_eq!(posts[0].json(), json!({"claim_description": "pool run", "base_submission_id": "base-sub"}));
    let served = w.fake.work_items().into_iter().find(|i| i["id"] == "first").unwrap();
    assert_eq!(served["status"], "claimed");

    let state = state_of(&dir);
    let claim = state["claim"].as_table().unwrap();
    assert_eq!(claim["id"].as_str(), served["claim_id"].as_str());
    assert_eq!(claim["work_item_id"].as_str(), Some("first"));
    assert_eq!(claim["work_item_title"].as_str(), Some("title of first"));
    assert_eq!(claim["work_item_instructions"].as_str(), Some("make lr smaller\n\x1b[31mred\x1b[0m line"));

    let status = w.env.tool(&dir, &["status"]).expect(0);
    assert!(status.out().contains("work item first (claimed): title of first"), "{}", status.out());
    assert!(status.out().contains("make lr smaller") && !status.out().contains('\x1b'), "{}", status.out());

    // Submitting with the work item's claim completes the item, on the server and in the state.
    write(&dir.join("train.py"), b"lr = 0.05\nsteps = 100\n");
    write(&dir.join("submission.json"), br#"{"summary": "smaller lr", "claimed_metrics": {"score": 1.2}}"#);
    w.env.tool(&dir, &["submit"]).expect(0);
    let served = w.fake.work_items().into_iter().find(|i| i["id"] == "first").unwrap();
    assert_eq!(served["status"], "completed");
    assert_eq!(state_of(&dir)["claim"]["work_item_status"].as_str(), Some("completed"));
    let status = w.env.tool(&dir, &["status", "--json"]).expect(0);
    assert_eq!(status.json()["work_item"]["status"], "completed");
}

#[test]
fn claim_work_item_resumes_this_hotkeys_item_and_never_takes_another_hotkeys() {
    let w = world("standard", |_| {});
    // Held by this hotkey's active claim (made from another clone): resumed, nothing sent.
    let mut mine = item("mine", 1, "2026-01-03T00:00:00Z", "claimed");
    mine["claim_id"] = json!("claim-mine");
    w.fake.add_claim(
        json!({"id": "claim-mine", "task_id": TASK_ID, "miner_hotkey": SS58, "status": "active",
               "work_item_id": "mine", "created_at": iso(unix_now())}),
        600,
    );
    // Held by another hotkey's active claim, at a higher priority: never resumed or claimed.
    let mut theirs = item("theirs", 9, "2026-01-01T00:00:00Z", "claimed");
    theirs["claim_id"] = json!("claim-theirs");
    w.fake.add_claim(
        json!({"id": "claim-theirs", "task_id": TASK_ID, "miner_hotkey": OTHER_HOTKEY, "status": "active",
               "work_item_id": "theirs", "created_at": iso(unix_now())}),
        600,
    );
    w.fake.add_work_item(theirs);
    w.fake.add_work_item(mine);
    w.fake.add_work_item(item("open-one", 5, "2026-01-01T00:00:00Z", "open"));
    let dir = w.clone("work");

    let run = w.env.tool(&dir, &["claim", "--work-item"]).expect(0);
    assert!(run.out().contains("resumed work item mine"), "{}", run.out());
    assert!(w.posts_to(WORK_ITEM_CLAIM).is_empty(), "a resumed claim sends nothing");
    let state = state_of(&dir);
    assert_eq!(state["claim"]["id"].as_str(), Some("claim-mine"));
    assert_eq!(state["claim"]["work_item_id"].as_str(), Some("mine"));
    let claims = w.fake.requests().into_iter().find(|r| r.path == "/api/v1/claims").unwrap();
    assert_eq!(claims.query, format!("task_id={TASK_ID}&status=active"));

    // Another hotkey's item by id: refused before signing.
    let run = w.env.tool(&dir, &["claim", "--work-item", "theirs", "--force", "--json"]).expect(2);
    assert_eq!(run.error_code(), "work_item_taken");
    assert!(w.posts_to(WORK_ITEM_CLAIM).is_empty());

    // Without an own item, the first open one is claimed (not the other hotkey's).
    w.fake.state().claims.retain(|c| c.value["id"] != "claim-mine");
    let run = w.env.tool(&dir, &["claim", "--work-item", "--force", "--json"]).expect(0);
    assert_eq!(run.json()["claim"]["work_item_id"], "open-one");
    let posts = w.posts_to(WORK_ITEM_CLAIM);
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].path, "/api/v1/work-items/open-one/claim");
}

#[test]
fn claim_work_item_with_none_open_or_an_active_claim_held_is_refused() {
    let w = world("standard", |_| {});
    let dir = w.clone("work");
    let run = w.env.tool(&dir, &["claim", "--work-item", "--json"]).expect(2);
    assert_eq!(run.error_code(), "no_open_work_items");
    assert_eq!(run.error_message(), "no open work items for demo-task");

    let run = w.env.tool(&dir, &["claim", "--work-item", "nope", "--json"]).expect(2);
    assert_eq!(run.error_code(), "no_work_item");

    w.fake.add_work_item(item("a", 1, "2026-01-01T00:00:00Z", "open"));
    w.fake.add_work_item(item("b", 1, "2026-01-02T00:00:00Z", "open"));
    w.env.tool(&dir, &["claim", "--work-item"]).expect(0);
    let run = w.env.tool(&dir, &["claim", "--work-item", "--json"]).expect(2);
    assert_eq!(run.error_code(), "claim_active");
    assert_eq!(w.posts_to(WORK_ITEM_CLAIM).len(), 1);
}

#[test]
fn claim_base_sends_base_submission_id_for_a_submission_of_this_task_only() {
    let w = world("standard", |_| {});
    w.seed("sub-here", TASK_ID, OTHER_HOTKEY, ("accepted", "2026-01-01T00:00:00Z"), "", "");
    w.seed("sub-there", OTHER_TASK_ID, OTHER_HOTKEY, ("accepted", "2026-01-01T00:00:00Z"), "", "");
    let dir = w.clone("work");

    let run = w.env.tool(&dir, &["claim", "--base", "sub-there", "--json"]).expect(2);
    assert_eq!(run.error_code(), "other_task");
    assert!(w.posts_to("/api/v1/tasks/").is_empty(), "refused before signing");

    let run = w.env.tool(&dir, &["claim", "--base", "sub-here"]).expect(0);
    assert!(run.stderr.contains("git bitsota apply sub-here"), "{}", run.stderr);
    let posts = w.posts_to("/api/v1/tasks/");
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].signer.as_deref(), Some(SS58));
    assert_eq!(posts[0].json()["base_submission_id"], "sub-here");
    assert_eq!(state_of(&dir)["claim"]["base_submission_id"].as_str(), Some("sub-here"));
    assert_eq!(w.fake.claims()[0]["base_submission_id"], "sub-here");
}

// --- ideas --------------------------------------------------------------------------------------

#[test]
fn ideas_are_ordered_by_status_then_others_first_then_newest_with_failed_ones_only_on_all() {
    let w = world("centerless", |_| {});
    w.seed("acc-old", TASK_ID, OTHER_HOTKEY, ("accepted", "2026-01-01T00:00:00Z"), "old idea", "");
    w.seed("acc-mine", TASK_ID, SS58, ("accepted", "2026-01-09T00:00:00Z"), "my idea", "");
    w.seed(
        "acc-new",
        TASK_ID,
        OTHER_HOTKEY,
        ("accepted", "2026-01-02T00:00:00Z"),
        "new idea\nsecond line",
        "",
    );
    w.seed("pend-mine", TASK_ID, SS58, ("pending_verification", "2026-01-08T00:00:00Z"), "p1", "");
    w.seed("pend", TASK_ID, OTHER_HOTKEY, ("pending_verification", "2026-01-03T00:00:00Z"), "p2", "");
    w.seed("rej", TASK_ID, OTHER_HOTKEY, ("rejected", "2026-01-05T00:00:00Z"), "bad", "");
    w.seed("err", TASK_ID, OTHER_HOTKEY, ("error", "2026-01-06T00:00:00Z"), "broken", "");
    w.seed("no-idea", TASK_ID, OTHER_HOTKEY, ("accepted", "2026-01-07T00:00:00Z"), "   ", "");
    w.seed("elsewhere", OTHER_TASK_ID, OTHER_HOTKEY, ("accepted", "2026-01-07T00:00:00Z"), "x", "");
    let dir = w.clone("work");

    let run = w.env.tool(&dir, &["ideas", "--json"]).expect(0);
    let ideas = &run.json()["ideas"];
    assert_eq!(ids(ideas), ["acc-new", "acc-old", "acc-mine", "pend", "pend-mine"]);
    assert_eq!(
        ideas[0],
        json!({"id": "acc-new", "status": "accepted", "miner_hotkey": OTHER_HOTKEY,
               "proposed_idea": "new idea\nsecond line", "claimed_metrics": {"score": 1.5},
               "observed_metrics": {"score": 1.4}, "created_at": "2026-01-02T00:00:00Z"})
    );
    let run = w.env.tool(&dir, &["ideas", "--all", "--json"]).expect(0);
    assert_eq!(
        ids(&run.json()["ideas"]),
        ["acc-new", "acc-old", "acc-mine", "pend", "pend-mine", "err", "rej"]
    );

    let run = w.env.tool(&dir, &["ideas"]).expect(0);
    let first = run.out().lines().nth(1).unwrap().to_string();
    assert!(first.starts_with("acc-new") && first.ends_with("new idea"), "{first}");
    assert!(first.contains("1.4 / 1.5"), "{first}");
    assert!(run.out().contains("(you)"), "{}", run.out());
}

#[test]
fn ideas_on_a_task_without_them_says_so_and_exits_0() {
    let w = world("standard", |_| {});
    let dir = w.clone("work");
    let run = w.env.tool(&dir, &["ideas"]).expect(0);
    assert!(run.stderr.contains("no ideas"), "{}", run.stderr);
    let run = w.env.tool(&dir, &["ideas", "--json"]).expect(0);
    assert_eq!(run.json(), json!({"version": 1, "ideas": []}));
    assert!(!w.fake.requests().iter().any(|r| r.path == "/api/v1/submissions"), "nothing to ask");
}

// --- apply --------------------------------------------------------------------------------------

#[test]
fn apply_puts_the_patch_in_the_work_tree_only_and_records_the_idea() {
    let w = world("centerless", |_| {});
    let patch = w.patch(&[("train.py", b"lr = 0.01\nsteps = 100\n"), ("src/new.py", b"NEW = 1\n")]);
    w.seed("idea-1", TASK_ID, OTHER_HOTKEY, ("accepted", "2026-01-01T00:00:00Z"), "tiny lr", &patch);
    let dir = w.clone("work");
    let index_before = fs::read(dir.join(".git/index")).unwrap();

    let run = w.env.tool(&dir, &["apply", "idea-1", "--json"]).expect(0);
    assert_eq!(
        run.json(),
        json!({"version": 1, "submission_id": "idea-1", "paths": ["src/new.py", "train.py"], "implements": "idea-1"})
    );
    assert_eq!(fs::read(dir.join("train.py")).unwrap(), b"lr = 0.01\nsteps = 100\n");
    assert_eq!(fs::read(dir.join("src/new.py")).unwrap(), b"NEW = 1\n");
    assert_eq!(fs::read(dir.join(".git/index")).unwrap(), index_before, "the index is untouched");
    assert_eq!(w.env.git(&dir, &["diff", "--cached", "--name-only"]), "");
    assert_eq!(state_of(&dir)["implements"].as_str(), Some("idea-1"));
    // The work tree is base + patch: our own diff is the same patch.
    let ours = w.env.tool(&dir, &["diff"]).expect(0);
    assert_eq!(ours.out(), patch);

    // --no-implements applies without recording (on a fresh clone).
    let other = w.clone("work2");
    w.env.tool(&other, &["apply", "idea-1", "--no-implements"]).expect(0);
    assert!(state_of(&other).get("implements").is_none());
}

#[test]
fn apply_refuses_another_tasks_submission_and_a_patch_validators_would_reject() {
    let w = world("centerless", |_| {});
    let good = w.patch(&[("train.py", b"lr = 0.3\nsteps = 100\n")]);
    w.seed("elsewhere", OTHER_TASK_ID, OTHER_HOTKEY, ("accepted", "2026-01-01T00:00:00Z"), "idea", &good);
    let outside = w.patch(&[("train.py", b"lr = 0.3\n"), ("README.md", b"# changed\n")]);
    w.seed("outside", TASK_ID, OTHER_HOTKEY, ("accepted", "2026-01-01T00:00:00Z"), "idea", &outside);
    let bytecode = w.patch(&[("src/m.pyc", b"\x00\x01bytecode")]);
    w.seed("pyc", TASK_ID, OTHER_HOTKEY, ("accepted", "2026-01-01T00:00:00Z"), "idea", &bytecode);
    let dir = w.clone("work");
    let before = snapshot(&dir);

    let run = w.env.tool(&dir, &["apply", "elsewhere", "--json"]).expect(2);
    assert_eq!(run.error_code(), "other_task");
    let run = w.env.tool(&dir, &["apply", "outside", "--json"]).expect(1);
    assert_eq!(run.error_code(), "patch_rejected");
    assert!(run.error_message().contains("disallowed_patch_paths (README.md)"), "{}", run.error_message());
    let run = w.env.tool(&dir, &["apply", "pyc", "--json"]).expect(1);
    assert!(run.error_message().contains("generated_python_cache_paths"), "{}", run.error_message());
    let run = w.env.tool(&dir, &["apply", "missing", "--json"]).expect(5);
    assert_eq!(run.error_code(), "not_found");

    assert_eq!(snapshot(&dir), before, "nothing changed");
    assert!(state_of(&dir).get("implements").is_none());
}

#[test]
fn apply_of_a_patch_that_does_not_apply_changes_nothing_and_names_the_paths() {
    let w = world("centerless", |_| {});
    // src/model.py applies; train.py does not (its context was edited in the clone).
    let patch = w.patch(&[
        ("src/model.py", b"def model():\n    return 2\n"),
        ("train.py", b"lr = 0.4\nsteps = 100\n"),
    ]);
    w.seed("clash", TASK_ID, OTHER_HOTKEY, ("accepted", "2026-01-01T00:00:00Z"), "idea", &patch);
    let dir = w.clone("work");
    write(&dir.join("train.py"), b"lr = 0.9 # mine\nsteps = 7\n");
    let before = snapshot(&dir);
    let index_before = fs::read(dir.join(".git/index")).unwrap();

    let run = w.env.tool(&dir, &["apply", "clash", "--json"]).expect(1);
    assert_eq!(run.error_code(), "patch_does_not_apply");
    assert!(run.error_message().contains("train.py"), "{}", run.error_message());
    assert!(!run.error_message().contains("src/model.py"), "{}", run.error_message());
    assert_eq!(snapshot(&dir), before, "not even the applicable file changed");
    assert_eq!(fs::read(dir.join(".git/index")).unwrap(), index_before);
    assert!(state_of(&dir).get("implements").is_none());
}

// --- implements ---------------------------------------------------------------------------------

#[test]
fn implements_comes_from_the_flag_then_the_sidecar_then_the_state_and_is_checked_before_signing() {
    let w = world("centerless", |_| {});
    let patch = w.patch(&[("src/model.py", b"def model():\n    return 3\n")]);
    w.seed("from-state", TASK_ID, OTHER_HOTKEY, ("accepted", "2026-01-01T00:00:00Z"), "state idea", &patch);
    w.seed("from-sidecar", TASK_ID, OTHER_HOTKEY, ("accepted", "2026-01-01T00:00:00Z"), "sidecar idea", "");
    w.seed(
        "from-flag",
        TASK_ID,
        OTHER_HOTKEY,
        ("pending_verification", "2026-01-01T00:00:00Z"),
        "flag idea",
        "",
    );
    w.seed("no-idea", TASK_ID, OTHER_HOTKEY, ("accepted", "2026-01-01T00:00:00Z"), "", "");
    w.seed("elsewhere", OTHER_TASK_ID, OTHER_HOTKEY, ("accepted", "2026-01-01T00:00:00Z"), "x", "");
    let dir = w.clone("work");
    w.env.tool(&dir, &["apply", "from-state"]).expect(0);
    w.env.tool(&dir, &["claim"]).expect(0);
    let sidecar = |implements: Option<&str>| {
        let mut value =
            json!({"summary": "s", "claimed_metrics": {"score": 1.0}, "proposed_idea": "my idea\nmore"});
        if let Some(id) = implements {
            value["implemented_submission_id"] = json!(id);
        }
        write(&dir.join("submission.json"), value.to_string().as_bytes());
    };
    let dry = |extra: &[&str]| {
        let mut args = vec!["submit", "--dry-run"];
        args.extend_from_slice(extra);
        let human = w.env.tool(&dir, &args).expect(0);
        args.push("--json");
        let json = w.env.tool(&dir, &args).expect(0).json();
        (json["body"]["implemented_submission_id"].clone(), human.stderr)
    };

    sidecar(Some("from-sidecar"));
    let (sent, said) = dry(&["--implements", "from-flag"]);
    assert_eq!(sent, "from-flag");
    assert!(said.contains("implements: submission from-flag (from --implements)"), "{said}");
    assert!(said.contains("idea: my idea") && said.contains("its idea: flag idea"), "{said}");
    let (sent, said) = dry(&[]);
    assert_eq!(sent, "from-sidecar");
    assert!(said.contains("(from the sidecar's implemented_submission_id)"), "{said}");
    sidecar(None);
    let (sent, said) = dry(&[]);
    assert_eq!(sent, "from-state");
    assert!(said.contains("(recorded by `git bitsota apply`)"), "{said}");

    // check shows the same, offline.
    let check = w.env.tool(&dir, &["check"]).expect(0);
    assert!(check.out().contains("idea: my idea"), "{}", check.out());
    assert!(check.out().contains("implements: submission from-state (recorded by"), "{}", check.out());

    // Refused before signing: no idea, another task's, unknown.
    for (bad, why) in [
        ("no-idea", "carries no proposed_idea"),
        ("elsewhere", "another task"),
        ("ghost", "not on the coordinator"),
    ] {
        let run = w.env.tool(&dir, &["submit", "--implements", bad, "--json"]).expect(2);
        assert_eq!(run.error_code(), "bad_implements", "{bad}");
        assert!(run.error_message().contains(why), "{bad}: {}", run.error_message());
    }
    assert!(w.posts_to("/api/v1/submissions").is_empty());

    // A real submit sends it; the fake checks the reference and the signature.
    let run = w.env.tool(&dir, &["submit", "--implements", "from-flag"]).expect(0);
    assert!(run.stderr.contains("implements submission from-flag (from --implements)"), "{}", run.stderr);
    let posts = w.posts_to("/api/v1/submissions");
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].signer.as_deref(), Some(SS58));
    assert_eq!(posts[0].json()["implemented_submission_id"], "from-flag");
    assert_eq!(posts[0].json()["proposed_idea"], "my idea\nmore");
}

// --- polish -------------------------------------------------------------------------------------

#[test]
fn result_path_is_excluded_after_clone_and_init_unless_tracked_or_allowed() {
    let w = world("standard", |r| r["result_path"] = json!("packs/demo/last_run.json"));
    let dir = w.clone("work");
    let exclude = fs::read_to_string(dir.join(".git/info/exclude")).unwrap();
    assert!(exclude.lines().any(|l| l == "/packs/demo/last_run.json"), "{exclude}");
    write(&dir.join("packs/demo/last_run.json"), b"{\"score\": 1}\n");
    let run = w.env.tool(&dir, &["check", "--json"]);
    assert_eq!(run.json()["files"], json!([]), "the result file is not a change");

    // init on a plain clone does the same.
    let plain = w.env.path("plain");
    w.env.git(w.env.root(), &["clone", "-q", w.upstream.to_str().unwrap(), plain.to_str().unwrap()]);
    w.env.tool(&plain, &["init", "demo-task"]).expect(0);
    let exclude = fs::read_to_string(plain.join(".git/info/exclude")).unwrap();
    assert!(exclude.lines().any(|l| l == "/packs/demo/last_run.json"), "{exclude}");

    // Tracked or allowed: left alone (a change to it is the miner's to see).
    for (name, result_path) in [("tracked", "README.md"), ("allowed", "src/last_run.json")] {
        let w = world("standard", |r| r["result_path"] = json!(result_path));
        let dir = w.clone(name);
        let exclude = fs::read_to_string(dir.join(".git/info/exclude")).unwrap();
        assert!(!exclude.contains(result_path), "{name}: {exclude}");
    }
}

#[test]
fn check_names_out_of_scope_files_the_last_bench_run_wrote() {
    let w = world("standard", |r| {
        r["benchmark_command"] = json!("echo 'score: 2.0'; echo scratch > bench_scratch.txt");
    });
    let dir = w.clone("work");
    write(&dir.join("notes.txt"), b"my own notes\n");
    // Older than the run, so not the benchmark's.
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    fs::File::options().write(true).open(dir.join("notes.txt")).unwrap().set_modified(old).unwrap();
    w.env.tool(&dir, &["bench", "--yes"]).expect(0);
    // Written right after the run: the user's, not the benchmark's.
    write(&dir.join("after.txt"), b"written after the run\n");
    let run = w.env.tool(&dir, &["check", "--json"]).expect(1);
    let problem = run.json()["problems"].as_array().unwrap()[0].clone();
    assert_eq!(problem["code"], "outside_allowed_paths");
    let human = w.env.tool(&dir, &["check"]).expect(1);
    let hint = human
        .out()
        .lines()
        .find(|l| l.contains("hint:") && l.contains("bench"))
        .unwrap_or_default()
        .to_string();
    assert!(hint.contains("bench_scratch.txt"), "{}", human.out());
    assert!(!hint.contains("notes.txt") && !hint.contains("after.txt"), "{hint}");
}

#[test]
fn global_options_have_their_own_help_heading() {
    let env = Env::new();
    let run = env.tool(env.root(), &["claim", "--help"]).expect(0);
    let help = run.out();
    let heading = help.find("Global options:").unwrap_or_else(|| panic!("{help}"));
    let (own, global) = help.split_at(heading);
    assert!(own.contains("--work-item") && own.contains("--message"), "{own}");
    assert!(!own.contains("--coordinator-url") && !own.contains("--wallet-name"), "{own}");
    assert!(global.contains("--coordinator-url") && global.contains("--json"), "{global}");
}

#[test]
fn a_work_item_claim_whose_answer_was_lost_is_found_and_recorded_not_sent_again() {
    let w = world("standard", |_| {});
    w.fake.add_work_item(item("first", 5, "2026-01-01T00:00:00Z", "open"));
    w.fake.add_work_item(item("picked", 1, "2026-01-02T00:00:00Z", "open"));
    let dir = w.clone("work");
    w.fake.push_route_fault("POST", "/api/v1/work-items/picked/claim", Fault::ResetAfterProcessing);

    let run = w.env.tool(&dir, &["claim", "--work-item", "picked", "--json"]).expect(0);
    assert_eq!(run.json()["obtained"], "found_after_lost_answer");
    assert_eq!(w.posts_to(WORK_ITEM_CLAIM).len(), 1, "sent once");
    let served = w.fake.work_items().into_iter().find(|i| i["id"] == "picked").unwrap();
    let state = state_of(&dir);
    assert_eq!(state["claim"]["id"].as_str(), served["claim_id"].as_str());
    assert_eq!(state["claim"]["work_item_id"].as_str(), Some("picked"));
    assert_eq!(state["claim"]["work_item_title"].as_str(), Some("title of picked"));
}

#[test]
fn a_plain_claim_that_adopts_a_work_item_claim_records_the_item_and_completes_it_on_submit() {
    let w = world("standard", |_| {});
    let mut held = item("held", 1, "2026-01-01T00:00:00Z", "claimed");
    held["claim_id"] = json!("claim-held");
    w.fake.add_work_item(held);
    w.fake.add_claim(
        json!({"id": "claim-held", "task_id": TASK_ID, "miner_hotkey": SS58, "status": "active",
               "work_item_id": "held", "created_at": iso(unix_now())}),
        600,
    );
    let dir = w.clone("work");
    let run = w.env.tool(&dir, &["claim", "--json"]).expect(0);
    assert_eq!(run.json()["obtained"], "adopted");
    assert_eq!(state_of(&dir)["claim"]["work_item_id"].as_str(), Some("held"));
    write(&dir.join("train.py"), b"lr = 0.06\nsteps = 100\n");
    write(&dir.join("submission.json"), br#"{"summary": "s", "claimed_metrics": {"score": 1.1}}"#);
    w.env.tool(&dir, &["submit"]).expect(0);
    assert_eq!(state_of(&dir)["claim"]["work_item_status"].as_str(), Some("completed"));
    assert_eq!(w.fake.work_items()[0]["status"], "completed");
}

#[test]
fn apply_never_writes_outside_the_work_tree_through_a_served_symlink_or_dot_dot() {
    let w = world("centerless", |_| {});
    let outside = w.env.path("outside");
    fs::create_dir_all(&outside).unwrap();
    // Allowed by `src/*` for validators, but git refuses to write beyond the new symlink.
    let through_link = format!(
        "diff --git a/src/x b/src/x\nnew file mode 120000\n--- /dev/null\n+++ b/src/x\n@@ -0,0 +1 @@\n+{}\n\\ No newline at end of file\n\
         diff --git a/src/x/escape.txt b/src/x/escape.txt\nnew file mode 100644\n--- /dev/null\n+++ b/src/x/escape.txt\n@@ -0,0 +1 @@\n+pwned\n",
        outside.display()
    );
    w.seed("link", TASK_ID, OTHER_HOTKEY, ("accepted", "2026-01-01T00:00:00Z"), "idea", &through_link);
    let dot_dot = "diff --git a/src/../../up.txt b/src/../../up.txt\nnew file mode 100644\n--- /dev/null\n+++ b/src/../../up.txt\n@@ -0,0 +1 @@\n+pwned\n";
    w.seed("dotdot", TASK_ID, OTHER_HOTKEY, ("accepted", "2026-01-01T00:00:00Z"), "idea", dot_dot);
    let dir = w.clone("work");
    let before = snapshot(&dir);

    let run = w.env.tool(&dir, &["apply", "link", "--json"]).expect(1);
    assert_eq!(run.error_code(), "patch_does_not_apply");
    assert!(run.error_message().contains("src/x/escape.txt"), "{}", run.error_message());
    let run = w.env.tool(&dir, &["apply", "dotdot", "--json"]).expect(1);
    assert_eq!(run.error_code(), "patch_does_not_apply");
    assert!(run.error_message().contains("src/../../up.txt"), "{}", run.error_message());

    assert_eq!(snapshot(&dir), before, "nothing changed, the symlink included");
    assert!(crate::common::names_in(&outside).is_empty());
    assert!(!w.env.path("up.txt").exists() && !dir.join("../up.txt").exists());
}
