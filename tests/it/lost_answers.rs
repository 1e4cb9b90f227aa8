//! Signed requests that survive lost answers, kills and a second terminal (issue 14): `claim`
//! adopts before it creates and after a lost answer; one signed request per clone at a time
//! (a clone and its linked worktree share the lock); `cancel` and `submit` look up a lost
//! answer. Every wait is on an event (the fake coordinator's request log or held request, a
//! line the other process printed), never on a guessed duration.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{json, Value};

use crate::common::{task_record, write, Env, Run, BIN, PHRASE};
use crate::fake_coordinator::{Fake, Fault, Hold};

const TASK_ID: &str = "c54218ce-0000-4000-8000-000000000001";
const SUBMISSIONS: &str = "/api/v1/submissions";
const WAITING: &str = "waiting for another git-bitsota";

fn claim_route() -> String {
    format!("/api/v1/tasks/{TASK_ID}/claim")
}

/// A fake coordinator serving one live task whose repository is made here.
fn setup() -> (Fake, Env) {
    let fake = Fake::start();
    let mut env = Env::new();
    env.set("BITSOTA_COORDINATOR_URL", fake.url());
    env.set("BITSOTA_HOTKEY_MNEMONIC", PHRASE);
    env.set("BITSOTA_HTTP_BACKOFF_MS", "10");
    let upstream = env.repo_with("task-repo", &[("train.py", b"lr = 0.1\n"), ("README.md", b"# task\n")]);
    fake.add_task(task_record(upstream.to_str().unwrap(), "main", &["train.py"]));
    (fake, env)
}

/// A clone with an allowed edit and a valid sidecar.
fn ready(env: &Env, name: &str) -> PathBuf {
    env.tool(env.root(), &["clone", "demo-task", name]).expect(0);
    let dir = env.path(name);
    edit(&dir);
    dir
}

fn edit(dir: &Path) {
    write(&dir.join("train.py"), b"lr = 0.05\n");
    let sidecar = json!({"summary": "lower lr", "claimed_metrics": {"score": 1.25}});
    write(&dir.join("submission.json"), &serde_json::to_vec(&sidecar).unwrap());
}

fn state_of(dir: &Path) -> toml::Table {
    let text = std::fs::read_to_string(dir.join(".git/bitsota.toml")).unwrap();
    toml::from_str(&text).unwrap()
}

fn claim_id(dir: &Path) -> Option<String> {
    state_of(dir).get("claim")?.get("id")?.as_str().map(str::to_string)
}

/// A run of the tool in the background, its stderr read line by line as it comes.
struct Background {
    child: Child,
    lines: mpsc::Receiver<String>,
    stderr: Vec<String>,
}

impl Background {
    fn start(env: &Env, dir: &Path, args: &[&str]) -> Background {
        let mut cmd = env.command(BIN, dir);
        cmd.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn");
        let stderr = child.stderr.take().unwrap();
        let (send, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        Background { child, lines, stderr: Vec::new() }
    }

    /// Wait until the process printed a line containing `text` (panics after 30 s).
    fn wait_for_line(&mut self, text: &str) {
        loop {
            match self.lines.recv_timeout(Duration::from_secs(30)) {
                Ok(line) => {
                    let found = line.contains(text);
                    self.stderr.push(line);
                    if found {
                        return;
                    }
                }
                Err(_) => panic!("no line with {text:?}; stderr so far:\n{}", self.stderr.join("\n")),
            }
        }
    }

    fn finish(mut self) -> Run {
        let mut stdout = Vec::new();
        self.child.stdout.take().unwrap().read_to_end(&mut stdout).unwrap();
        let status = self.child.wait().unwrap();
        self.stderr.extend(self.lines.iter());
        Run { code: status.code().unwrap_or(-1), stdout, stderr: self.stderr.join("\n") }
    }

    /// SIGKILL: no clean-up of any kind runs.
    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

// --- claim -----------------------------------------------------------------------------------

#[test]
fn lost_claim_answer_is_adopted_in_the_same_run() {
    let (fake, env) = setup();
    let dir = ready(&env, "work");
    fake.push_route_fault("POST", &claim_route(), Fault::ResetAfterProcessing);
    let run = env.tool(&dir, &["claim", "--json"]).expect(0);
    assert!(run.stderr.contains("answer was lost"), "{}", run.stderr);
    let claims = fake.claims();
    assert_eq!(claims.len(), 1);
    assert_eq!(run.json()["obtained"], "found_after_lost_answer");
    assert_eq!(claim_id(&dir).as_deref(), claims[0]["id"].as_str());
    assert!(state_of(&dir).get("pending_claim").is_none());
    assert_eq!(fake.count("POST", &claim_route()), 1);
}

#[test]
fn lost_claim_request_that_never_arrived_reports_nothing_created() {
    let (fake, env) = setup();
    let dir = ready(&env, "work");
    fake.push_route_fault("POST", &claim_route(), Fault::Reset);
    let run = env.tool(&dir, &["claim"]).expect(3);
    assert!(run.stderr.contains("nothing was created"), "{}", run.stderr);
    assert!(fake.claims().is_empty());
    assert!(claim_id(&dir).is_none());
    // The next claim looks, finds nothing, and creates one.
    env.tool(&dir, &["claim"]).expect(0);
    assert_eq!(fake.claims().len(), 1);
    assert_eq!(claim_id(&dir).as_deref(), fake.claims()[0]["id"].as_str());
}

#[test]
fn claim_adopts_this_hotkeys_active_claim_and_force_makes_a_second() {
    let (fake, env) = setup();
    let first = ready(&env, "first");
    env.tool(&first, &["claim"]).expect(0);
    let made = fake.claims()[0]["id"].as_str().unwrap().to_string();

    // Another clone of the same task with the same hotkey: the coordinator already holds an
    // active claim of this hotkey, so it is adopted, not doubled.
    let second = ready(&env, "second");
    let run = env.tool(&second, &["claim"]).expect(0);
    let said = run.out();
    assert!(said.starts_with(&format!("adopted active claim {made} (created ")), "{said}");
    assert!(said.contains(" left)"), "{said}");
    assert_eq!(fake.claims().len(), 1);
    assert_eq!(fake.count("POST", &claim_route()), 1);
    assert_eq!(claim_id(&second).as_deref(), Some(made.as_str()));

    // --force creates a new one anyway.
    let forced = env.tool(&second, &["claim", "--force", "--json"]).expect(0).json();
    assert_eq!(forced["obtained"], "created");
    let claims = fake.claims();
    assert_eq!(claims.len(), 2);
    assert_eq!(claim_id(&second).as_deref(), claims[1]["id"].as_str());
    assert_ne!(claims[1]["id"], made);
}

#[test]
fn claim_killed_while_the_answer_is_held_is_adopted_by_the_next_run_even_with_force() {
    let (fake, env) = setup();
    let dir = ready(&env, "work");
    let hold = Hold::new(Duration::from_secs(30));
    fake.push_route_fault("POST", &claim_route(), Fault::HoldAfterProcessing(hold.clone()));
    let run = Background::start(&env, &dir, &["claim"]);
    hold.wait_acted();
    run.kill();
    hold.release();
    assert_eq!(fake.claims().len(), 1, "the coordinator made the claim");
    assert!(claim_id(&dir).is_none(), "the killed run recorded nothing");
    assert!(state_of(&dir).get("pending_claim").is_some());

    // Even --force first takes the claim the killed run asked for.
    let next = env.tool(&dir, &["claim", "--force", "--json"]).expect(0);
    assert_eq!(next.json()["obtained"], "found_after_lost_answer");
    assert_eq!(fake.claims().len(), 1);
    assert_eq!(fake.count("POST", &claim_route()), 1);
    assert_eq!(claim_id(&dir).as_deref(), fake.claims()[0]["id"].as_str());
    assert!(state_of(&dir).get("pending_claim").is_none());
}

#[test]
fn second_claim_waits_for_the_first_and_sees_its_claim() {
    let (fake, env) = setup();
    let dir = ready(&env, "work");
    let hold = Hold::new(Duration::from_secs(30));
    fake.push_route_fault("POST", &claim_route(), Fault::HoldAfterProcessing(hold.clone()));
    let first = Background::start(&env, &dir, &["claim"]);
    hold.wait_acted();
    let mut second = Background::start(&env, &dir, &["claim", "--json"]);
    second.wait_for_line(WAITING);
    hold.release();
    first.finish().expect(0);
    let second = second.finish().expect(2);
    assert_eq!(second.error_code(), "claim_active");
    assert_eq!(fake.claims().len(), 1);
    assert_eq!(fake.count("POST", &claim_route()), 1);
}

// --- submit ----------------------------------------------------------------------------------

/// A claimed clone and a linked worktree of it holding the same edit (so the same patch).
fn clone_and_linked_worktree(env: &Env) -> (PathBuf, PathBuf) {
    let dir = ready(env, "work");
    env.tool(&dir, &["claim"]).expect(0);
    let linked = env.path("linked");
    env.git(&dir, &["worktree", "add", "-q", "--detach", linked.to_str().unwrap()]);
    edit(&linked);
    (dir, linked)
}

#[test]
fn two_submits_from_a_clone_and_its_linked_worktree_send_one() {
    let (fake, env) = setup();
    let (dir, linked) = clone_and_linked_worktree(&env);
    let hold = Hold::new(Duration::from_secs(30));
    fake.push_route_fault("POST", SUBMISSIONS, Fault::HoldAfterProcessing(hold.clone()));
    // The first is sending (the coordinator has stored it, the answer is held); the second
    // decides while the first waits for its answer.
    let first = Background::start(&env, &dir, &["submit", "--json"]);
    hold.wait_acted();
    let mut second = Background::start(&env, &linked, &["submit", "--json"]);
    second.wait_for_line(WAITING);
    hold.release();
    let first = first.finish().expect(0);
    let second = second.finish().expect(1);
    let stored = fake.submissions();
    assert_eq!(stored.len(), 1);
    assert_eq!(fake.count("POST", SUBMISSIONS), 1);
    let id = stored[0]["id"].as_str().unwrap();
    assert_eq!(first.json()["submission"]["id"], id);
    assert_eq!(second.error_code(), "duplicate_submission");
    assert!(second.error_message().contains(id), "{}", second.error_message());
    let recorded = state_of(&dir)["submissions"].as_array().unwrap().clone();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0]["id"].as_str(), Some(id));
}

#[test]
fn submit_killed_while_the_answer_is_held_is_recorded_by_the_rerun_without_sending() {
    let (fake, env) = setup();
    let dir = ready(&env, "work");
    env.tool(&dir, &["claim"]).expect(0);
    let hold = Hold::new(Duration::from_secs(30));
    fake.push_route_fault("POST", SUBMISSIONS, Fault::HoldAfterProcessing(hold.clone()));
    let run = Background::start(&env, &dir, &["submit"]);
    hold.wait_acted();
    run.kill();
    hold.release();
    assert_eq!(fake.submissions().len(), 1);
    assert!(state_of(&dir).get("submissions").is_none(), "the killed run recorded nothing");

    let rerun = env.tool(&dir, &["submit", "--json"]).expect(0);
    assert!(rerun.stderr.contains("looking it up"), "{}", rerun.stderr);
    assert_eq!(fake.count("POST", SUBMISSIONS), 1, "nothing sent again");
    let id = fake.submissions()[0]["id"].clone();
    assert_eq!(rerun.json()["submission"]["id"], id);
    assert_eq!(state_of(&dir)["submissions"][0]["id"].as_str(), id.as_str());
    assert!(state_of(&dir).get("pending_submission").is_none());
}

// --- cancel ----------------------------------------------------------------------------------

fn server_status(fake: &Fake, id: &str) -> Value {
    fake.claims().into_iter().find(|c| c["id"] == id).unwrap()["status"].clone()
}

fn cancel_route(id: &str) -> String {
    format!("/api/v1/claims/{id}/cancel")
}

#[test]
fn cancel_with_a_lost_answer_records_what_the_coordinator_did() {
    let (fake, env) = setup();
    let dir = ready(&env, "work");
    env.tool(&dir, &["claim"]).expect(0);
    let id = claim_id(&dir).unwrap();

    // Reset before the coordinator did anything: not cancelled, and said so.
    fake.push_route_fault("POST", &cancel_route(&id), Fault::Reset);
    let run = env.tool(&dir, &["cancel"]).expect(3);
    assert!(run.stderr.contains("did not cancel"), "{}", run.stderr);
    assert_eq!(server_status(&fake, &id), "active");
    assert_eq!(state_of(&dir)["claim"]["status"].as_str(), Some("active"));

    // Cancelled, then the answer is lost: looked up and recorded in the same run.
    fake.push_route_fault("POST", &cancel_route(&id), Fault::ResetAfterProcessing);
    let run = env.tool(&dir, &["cancel", "--json"]).expect(0);
    assert!(run.stderr.contains("answer was lost"), "{}", run.stderr);
    assert_eq!(run.json()["claim"]["status"], "cancelled");
    assert_eq!(server_status(&fake, &id), "cancelled");
    assert_eq!(state_of(&dir)["claim"]["status"].as_str(), Some("cancelled"));
    assert!(state_of(&dir).get("pending_cancel").is_none());
    assert_eq!(fake.count("POST", &cancel_route(&id)), 2);

    // Cancelling again sends nothing.
    env.tool(&dir, &["cancel"]).expect(0);
    assert_eq!(fake.count("POST", &cancel_route(&id)), 2);
}

#[test]
fn cancel_killed_while_the_answer_is_held_is_recorded_by_the_rerun_without_sending() {
    let (fake, env) = setup();
    let dir = ready(&env, "work");
    env.tool(&dir, &["claim"]).expect(0);
    let id = claim_id(&dir).unwrap();
    let hold = Hold::new(Duration::from_secs(30));
    fake.push_route_fault("POST", &cancel_route(&id), Fault::HoldAfterProcessing(hold.clone()));
    let run = Background::start(&env, &dir, &["cancel"]);
    hold.wait_acted();
    run.kill();
    hold.release();
    assert_eq!(server_status(&fake, &id), "cancelled");
    assert_eq!(state_of(&dir)["claim"]["status"].as_str(), Some("active"));

    let rerun = env.tool(&dir, &["cancel"]).expect(0);
    assert!(rerun.stderr.contains("looking the claim up"), "{}", rerun.stderr);
    assert_eq!(fake.count("POST", &cancel_route(&id)), 1, "nothing sent again");
    assert_eq!(state_of(&dir)["claim"]["status"].as_str(), Some("cancelled"));
}

#[test]
fn submit_waiting_for_a_cancel_in_another_terminal_sees_the_claim_cancelled() {
    let (fake, env) = setup();
    let dir = ready(&env, "work");
    env.tool(&dir, &["claim"]).expect(0);
    let id = claim_id(&dir).unwrap();
    let hold = Hold::new(Duration::from_secs(30));
    fake.push_route_fault("POST", &cancel_route(&id), Fault::HoldAfterProcessing(hold.clone()));
    let cancel = Background::start(&env, &dir, &["cancel"]);
    hold.wait_acted();
    let mut submit = Background::start(&env, &dir, &["submit", "--json"]);
    submit.wait_for_line(WAITING);
    hold.release();
    cancel.finish().expect(0);
    let refused = submit.finish().expect(1).json();
    assert_eq!(refused["problems"][0]["code"], "claim_expired", "{refused}");
    assert_eq!(fake.count("POST", SUBMISSIONS), 0);
}

#[test]
fn forced_claim_killed_mid_request_is_adopted_by_a_plain_claim_despite_the_held_one() {
    let (fake, env) = setup();
    let dir = ready(&env, "work");
    env.tool(&dir, &["claim"]).expect(0);
    let hold = Hold::new(Duration::from_secs(30));
    fake.push_route_fault("POST", &claim_route(), Fault::HoldAfterProcessing(hold.clone()));
    let run = Background::start(&env, &dir, &["claim", "--force"]);
    hold.wait_acted();
    run.kill();
    hold.release();
    let claims = fake.claims();
    assert_eq!(claims.len(), 2);
    assert_eq!(
        claim_id(&dir).as_deref(),
        claims[0]["id"].as_str(),
        "the old claim is still the recorded one"
    );

    // Not refused as "already holds an active claim": the killed request's claim is adopted.
    let next = env.tool(&dir, &["claim", "--json"]).expect(0);
    assert_eq!(next.json()["obtained"], "found_after_lost_answer");
    assert_eq!(fake.claims().len(), 2);
    assert_eq!(claim_id(&dir).as_deref(), claims[1]["id"].as_str());
    // Now the held claim is refused as usual.
    assert_eq!(env.tool(&dir, &["claim", "--json"]).expect(2).error_code(), "claim_active");
}
