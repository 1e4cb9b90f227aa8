//! The coordinator client and the commands built on it (`tasks`, `show`, `whoami`,
//! `request`) against the fake coordinator, including every injected fault.

use std::time::Duration;

use git_bitsota::test_support as auth;
use git_bitsota::test_support::sha256_hex;
use serde_json::{json, Value};

use crate::common::{Env, Run, PHRASE, SS58};
use crate::fake_coordinator::{Fake, Fault};

const OTHER_PHRASE: &str =
    "submit brain any offer garlic mix pet sweet rack layer rebel only spot duck someone";

fn task(id: &str, slug: &str, state: &str, active: bool) -> Value {
    let mut record = json!({
        "id": id,
        "slug": slug,
        "title": format!("Title of {slug}"),
        "task_state": state,
        "is_active": active,
        "competition_mode": "standard",
        "metric_name": "heldout_ppl",
        "metric_direction": "minimize",
        "repository": format!("https://github.com/example/{slug}.git"),
        "base_ref": "production",
        "allowed_patch_paths": ["pack/train.py"],
        "max_patch_bytes": 262144,
        "benchmark_command": "python3 bench.py",
        "time_budget_seconds": 21600,
    });
    // Served as written: `1.50`, which must reach `--json` output unchanged.
    record["score_scale"] = serde_json::from_str("1.50").unwrap();
    record
}

const LIVE_ID: &str = "c54218ce-9ffd-4389-b97d-2d952adb4a1a";

/// A fake with two live tasks and a paused one, and an Env pointed at it with a signing key.
fn setup() -> (Fake, Env) {
    let fake = Fake::start();
    fake.add_task(task(LIVE_ID, "qwen3-27b-binary-frontier", "live", true));
    fake.add_task(task("802f6eba-874e-43c4-b097-33a204684bf4", "qwen3-27b-ternary-frontier", "live", true));
    fake.add_task(task("11111111-2222-4333-8444-555555555555", "old-paused-task", "paused", true));
    fake.add_task(task("11111111-2222-4333-8444-666666666666", "inactive-task", "live", false));
    let mut env = Env::new();
    env.set("BITSOTA_COORDINATOR_URL", fake.url());
    env.set("BITSOTA_HOTKEY_MNEMONIC", PHRASE);
    env.set("BITSOTA_HTTP_BACKOFF_MS", "10");
    (fake, env)
}

fn tool(env: &Env, args: &[&str]) -> Run {
    env.tool(env.root(), args)
}

fn error_of(run: &Run) -> (String, String) {
    (run.error_code(), run.error_message())
}

#[test]
fn tasks_lists_live_and_active_by_default() {
    let (fake, env) = setup();
    let run = tool(&env, &["tasks", "--json"]).expect(0);
    let v = run.json();
    assert_eq!(v["version"], 1);
    let slugs: Vec<&str> =
        v["tasks"].as_array().unwrap().iter().map(|t| t["slug"].as_str().unwrap()).collect();
    assert_eq!(slugs, ["qwen3-27b-binary-frontier", "qwen3-27b-ternary-frontier"]);
    // Records as served: numbers keep their text.
    assert!(run.out().contains("\"score_scale\":1.50"), "{}", run.out());
    let all = tool(&env, &["tasks", "--all", "--json"]).expect(0).json();
    assert_eq!(all["tasks"].as_array().unwrap().len(), 4);
    // The listing is unsigned and carries our user agent.
    let log = fake.requests();
    assert!(log.iter().all(|r| r.path == "/api/v1/tasks" && r.header("X-Signature").is_none()));
    let agent = log[0].header("User-Agent").unwrap();
    assert!(agent.starts_with("git-bitsota/"), "{agent}");
}

#[test]
fn tasks_human_table() {
    let (_fake, env) = setup();
    let run = tool(&env, &["tasks"]).expect(0);
    let out = run.out();
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("SLUG") && lines[0].contains("METRIC") && lines[0].contains("BUDGET"),
        "{out}"
    );
    assert!(lines[1].contains("qwen3-27b-binary-frontier") && lines[1].contains("heldout_ppl (minimize)"));
    assert!(lines[1].contains("standard") && lines[1].ends_with("6h"), "{out}");
    assert_eq!(lines.len(), 3, "{out}");
    let all = tool(&env, &["tasks", "--all"]).expect(0).out();
    assert!(all.contains("paused") && all.contains("live, inactive"), "{all}");
}

#[test]
fn show_by_slug_or_id_and_onboard() {
    let (fake, env) = setup();
    fake.set_onboard(LIVE_ID, "# onboard.md\n\nEdit `pack/train.py` only.\n");
    let v = tool(&env, &["show", "QWEN3-27B-binary-frontier", "--json"]).expect(0).json();
    assert_eq!(v["version"], 1);
    assert_eq!(v["task"]["id"], LIVE_ID);
    assert_eq!(v["onboard"], Value::Null);
    let v = tool(&env, &["show", LIVE_ID, "--onboard", "--json"]).expect(0).json();
    assert_eq!(v["task"]["slug"], "qwen3-27b-binary-frontier");
    assert_eq!(v["onboard"], "# onboard.md\n\nEdit `pack/train.py` only.\n");
    let human = tool(&env, &["show", "qwen3-27b-binary-frontier", "--onboard"]).expect(0).out();
    assert!(human.contains("pack/train.py") && human.contains("heldout_ppl (minimize)"), "{human}");
    assert!(human.contains("Edit `pack/train.py` only."), "{human}");
    // Paused tasks can still be shown.
    tool(&env, &["show", "old-paused-task"]).expect(0);
}

#[test]
fn unknown_task_is_exit_2_listing_live_slugs() {
    let (_fake, env) = setup();
    let run = tool(&env, &["show", "nope", "--json"]).expect(2);
    assert_eq!(error_of(&run).0, "unknown_task");
    assert!(
        run.stderr.contains("live tasks: qwen3-27b-binary-frontier, qwen3-27b-ternary-frontier"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("old-paused-task"), "{}", run.stderr);
}

#[test]
fn resolve_task_for_init() {
    let (fake, _env) = setup();
    let coordinator = git_bitsota::test_support::Coordinator::new(
        &fake.url(),
        &git_bitsota::test_support::Output::plain(true),
    )
    .unwrap();
    let record = coordinator.resolve_task(" qwen3-27b-ternary-frontier ").unwrap();
    assert_eq!(record["id"], "802f6eba-874e-43c4-b097-33a204684bf4");
    let err = coordinator.resolve_task("missing").unwrap_err();
    assert_eq!(err.exit_code(), 2);
}

#[test]
fn workflow_calls_are_signed_and_verified() {
    let (fake, _env) = setup();
    let out = git_bitsota::test_support::Output::plain(true);
    let coordinator = git_bitsota::test_support::Coordinator::new(&fake.url(), &out).unwrap();
    let key = crate::common::hotkey_from_phrase(PHRASE);
    let claim = coordinator.claim_task_on_base(LIVE_ID, "git bitsota claim", None, &key).unwrap();
    assert_eq!(claim["miner_hotkey"], SS58);
    assert_eq!(claim["status"], "active");
    let claim_id = claim["id"].as_str().unwrap().to_string();
    // Another hotkey cannot submit on it: 403 → exit 4.
    let other = crate::common::hotkey_from_phrase(OTHER_PHRASE);
    let body = json!({
        "claim_id": claim_id, "base_ref": "0".repeat(40), "patch": "diff --git a/x b/x\n",
        "summary": "héllo ✓ 😀", "claimed_metrics": {"heldout_ppl": 264.0, "tiny": 1e-05, "n": 3},
    });
    let err = coordinator.create_submission(&body, &other).unwrap_err();
    assert_eq!(err.exit_code(), 4);
    assert!(err.message().contains("owned by another hotkey"), "{err:?}");
    let submission = coordinator.create_submission(&body, &key).unwrap();
    assert_eq!(submission["status"], "pending_verification");
    assert_eq!(submission["claimed_metrics"]["tiny"].to_string(), "1e-05");
    let listed = coordinator.list_submissions(Some(LIVE_ID), Some("pending_verification")).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(coordinator.list_claims(Some(LIVE_ID), Some("submitted")).unwrap().len(), 1);
    // Cancel: signed, no body; the claim is no longer active → 409 → exit 5.
    let err = coordinator.cancel_claim(&claim_id, &key).unwrap_err();
    assert_eq!(err.exit_code(), 5);
    assert!(err.message().contains("HTTP 409") && err.message().contains("not active"), "{err:?}");
    // Missing fields → 422 detail list.
    let err = coordinator.create_submission(&json!({"claim_id": claim_id}), &key).unwrap_err();
    assert_eq!(err.exit_code(), 5);
    assert!(err.message().contains("body.summary: Field required"), "{err:?}");

    let log = fake.requests();
    let posts: Vec<_> = log.iter().filter(|r| r.method == "POST").collect();
    assert_eq!(posts.len(), 5);
    for r in &posts {
        assert!(r.auth_error.is_none(), "{r:?}");
    }
    assert_eq!(posts[0].signer.as_deref(), Some(SS58));
    // The wire body is exactly the canonical bytes that were signed.
    let sent = String::from_utf8(posts[2].body.clone()).unwrap();
    assert!(sent.starts_with(r#"{"base_ref":"#), "{sent}");
    assert!(sent.contains(r#""summary":"h\u00e9llo \u2713 \ud83d\ude00""#), "{sent}");
    assert_eq!(posts[2].header("Content-Type"), Some("application/json"));
    let cancel = posts[3];
    assert!(cancel.body.is_empty() && cancel.header("Content-Type").is_none(), "{cancel:?}");
    assert_eq!(cancel.header("Content-Length"), Some("0"));
}

#[test]
fn claims_expire_and_cancel_works() {
    let (fake, _env) = setup();
    let out = git_bitsota::test_support::Output::plain(true);
    let coordinator = git_bitsota::test_support::Coordinator::new(&fake.url(), &out).unwrap();
    let key = crate::common::hotkey_from_phrase(PHRASE);
    let claim = coordinator.claim_task_on_base(LIVE_ID, "first", None, &key).unwrap();
    let expires = claim["expires_at"].as_str().unwrap();
    let created = claim["created_at"].as_str().unwrap();
    assert!(expires > created);
    let cancelled = coordinator.cancel_claim(claim["id"].as_str().unwrap(), &key).unwrap();
    assert_eq!(cancelled["status"], "cancelled");
    let second = coordinator.claim_task_on_base(LIVE_ID, "second", None, &key).unwrap();
    fake.expire_claims();
    let claims = coordinator.list_claims(None, Some("expired")).unwrap();
    assert_eq!(claims.len(), 1);
    assert_eq!(claims[0]["id"], second["id"]);
}

#[test]
fn request_signed_get_with_query_is_verified() {
    let (fake, env) = setup();
    let run = tool(
        &env,
        &[
            "request",
            "GET",
            "/api/v1/claims",
            "--query",
            "task_id=a b/ü",
            "--query",
            "status=active",
            "--json",
        ],
    )
    .expect(0);
    assert_eq!(run.json(), json!([]));
    let log = fake.requests();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].query, "task_id=a+b%2F%C3%BC&status=active");
    assert_eq!(log[0].signer.as_deref(), Some(SS58), "{:?}", log[0]);
    // --unsigned sends no signing headers.
    tool(&env, &["request", "get", "api/v1/tasks", "--unsigned", "--json"]).expect(0);
    let last = fake.requests().pop().unwrap();
    assert_eq!(last.path, "/api/v1/tasks");
    assert!(last.header("X-Hotkey").is_none() && last.signer.is_none());
}

#[test]
fn request_post_claim_and_human_output() {
    let (fake, env) = setup();
    let path = format!("/api/v1/tasks/{LIVE_ID}/claim");
    let run = tool(
        &env,
        &["request", "POST", &path, "--body-json", r#"{"claim_description": "manual miner run"}"#],
    )
    .expect(0);
    // Human output: the JSON answer, indented.
    assert!(run.out().contains("\n  \"status\": \"active\""), "{}", run.out());
    let log = fake.requests();
    assert_eq!(log[0].body, br#"{"claim_description":"manual miner run"}"#);
    assert_eq!(log[0].signer.as_deref(), Some(SS58));
    // Body from a file; a missing field is the server's 422, shown.
    let file = env.path("body.json");
    std::fs::write(&file, "{}").unwrap();
    let run = tool(&env, &["request", "POST", &path, "--body-file", file.to_str().unwrap()]).expect(5);
    assert!(run.stderr.contains("HTTP 422") && run.stderr.contains("claim_description"), "{}", run.stderr);
    // Non-JSON answers are printed as text.
    fake.set_onboard(LIVE_ID, "# hello");
    let run = tool(
        &env,
        &["request", "GET", &format!("/api/v1/tasks/{LIVE_ID}/onboard.md"), "--unsigned", "--json"],
    )
    .expect(0);
    assert_eq!(run.json(), json!({"version": 1, "text": "# hello"}));
}

#[test]
fn request_dry_run_shows_the_exact_signed_message() {
    let (fake, env) = setup();
    let run = tool(
        &env,
        &[
            "request",
            "POST",
            "/api/v1/submissions",
            "--body-json",
            r#"{"b": 1e-5, "a": "é"}"#,
            "--query",
            "x=1",
            "--dry-run",
            "--json",
        ],
    )
    .expect(0);
    let v = run.json();
    assert_eq!(v["version"], 1);
    assert_eq!(v["method"], "POST");
    assert_eq!(v["url"], format!("{}/api/v1/submissions?x=1", fake.url()));
    let body = v["body"].as_str().unwrap();
    assert_eq!(body, r#"{"a":"\u00e9","b":1e-05}"#);
    let headers = &v["headers"];
    assert_eq!(headers["X-Hotkey"], SS58);
    assert_eq!(headers["Content-Type"], "application/json");
    let ts = headers["X-Timestamp"].as_str().unwrap();
    let message = v["message"].as_str().unwrap();
    assert_eq!(
        message,
        format!("BT-AUTH-V1\nPOST\n/api/v1/submissions\nx=1\n{ts}\n{}", sha256_hex(body.as_bytes()))
    );
    let sig: [u8; 64] = hex::decode(headers["X-Signature"].as_str().unwrap()).unwrap().try_into().unwrap();
    let public = git_bitsota::test_support::ss58_to_public(SS58).unwrap();
    assert!(crate::verify::sr25519_verify(&public, message.as_bytes(), &sig));
    // Nothing was sent.
    assert!(fake.requests().is_empty());
    // Human form escapes the message on one line.
    let human = tool(&env, &["request", "POST", "/api/v1/claims/x/cancel", "--dry-run"]).expect(0).out();
    assert!(human.contains(r#"signed message: "BT-AUTH-V1\nPOST\n/api/v1/claims/x/cancel\n\n"#), "{human}");
    assert!(human.contains(auth::EMPTY_BODY_SHA256), "{human}");
    let unsigned = tool(&env, &["request", "GET", "/api/v1/tasks", "--dry-run", "--unsigned", "--json"])
        .expect(0)
        .json();
    assert_eq!(unsigned["message"], Value::Null);
    assert_eq!(unsigned["headers"], json!({}));
}

#[test]
fn request_usage_errors() {
    let (_fake, env) = setup();
    let run = tool(&env, &["request", "POST", "/x", "--body-json", "{bad", "--json"]).expect(2);
    assert_eq!(error_of(&run).0, "bad_body");
    let run = tool(&env, &["request", "GET", "/api/v1/claims?status=active", "--json"]).expect(2);
    assert_eq!(error_of(&run).0, "bad_request");
    let run = tool(&env, &["request", "GET", "/x", "--query", "novalue", "--json"]).expect(2);
    assert_eq!(error_of(&run).0, "bad_query");
    let run = tool(&env, &["request", "POST", "/x", "--body-json", "NaN", "--json"]).expect(2);
    assert_eq!(error_of(&run).0, "bad_body");
}

#[test]
fn server_checks_recanonicalise_and_reject_forgeries() {
    let (fake, _env) = setup();
    let key = crate::common::hotkey_from_phrase(PHRASE);
    let path = format!("/api/v1/tasks/{LIVE_ID}/claim");
    let canonical = br#"{"claim_description":"x","z":1.0}"#;
    let signed = auth::sign_request(&key, "POST", &path, "", Some(canonical), auth::now_unix());
    let h = &signed.headers;
    let headers = [
        ("X-Hotkey", h.hotkey.as_str()),
        ("X-Timestamp", h.timestamp.as_str()),
        ("X-Signature", h.signature.as_str()),
    ];
    // What Python `requests` would put on the wire: spaces, insertion order. Still valid.
    let (status, _) = fake.raw_request("POST", &path, &headers, br#"{"z": 1.0, "claim_description": "x"}"#);
    assert_eq!(status, 200);
    // A changed value is not.
    let (status, body) = fake.raw_request("POST", &path, &headers, br#"{"claim_description":"y","z":1.0}"#);
    assert_eq!(status, 401, "{body}");
    // Unsigned claims are refused.
    let (status, _) = fake.raw_request("POST", &path, &[], canonical);
    assert_eq!(status, 401);
}

#[test]
fn stale_timestamp_is_rejected_as_exit_4() {
    let (fake, env) = setup();
    fake.state().clock_offset = 3600;
    let run = tool(
        &env,
        &[
            "request",
            "POST",
            &format!("/api/v1/tasks/{LIVE_ID}/claim"),
            "--body-json",
            r#"{"claim_description":"x"}"#,
            "--json",
        ],
    )
    .expect(4);
    let (code, message) = error_of(&run);
    assert_eq!(code, "unauthorized");
    assert!(message.contains("HTTP 401") && message.contains("stale timestamp"), "{message}");
    assert!(run.stderr.contains("clock"), "{}", run.stderr);
    assert!(fake.requests()[0].auth_error.as_deref().unwrap().contains("stale"));
}

// --- faults ------------------------------------------------------------------------------------

#[test]
fn server_error_with_detail_is_exit_5() {
    let (fake, env) = setup();
    fake.set_fault(Some(Fault::Status(500, json!({"detail": "database is on fire"}))));
    let run = tool(&env, &["tasks", "--json"]).expect(5);
    let (code, message) = error_of(&run);
    assert_eq!(code, "server_error");
    assert!(message.contains("HTTP 500") && message.contains("database is on fire"), "{message}");
    assert!(run.stderr.contains("database is on fire"), "{}", run.stderr);
    // 500 is not retried.
    assert_eq!(fake.requests().len(), 1);
}

#[test]
fn forbidden_is_exit_4() {
    let (fake, env) = setup();
    fake.push_fault(Fault::Status(403, json!({"detail": "hotkey is not registered on netuid 94"})));
    let run = tool(&env, &["request", "POST", "/api/v1/submissions", "--body-json", "{}"]).expect(4);
    assert!(run.stderr.contains("HTTP 403: hotkey is not registered on netuid 94"), "{}", run.stderr);
}

#[test]
fn non_json_200_is_exit_5() {
    let (fake, env) = setup();
    fake.set_fault(Some(Fault::Raw(200, "text/html", b"<html>maintenance</html>".to_vec())));
    let run = tool(&env, &["tasks", "--json"]).expect(5);
    let (code, message) = error_of(&run);
    assert_eq!(code, "bad_response");
    assert!(message.contains("not JSON") && message.contains("<html>maintenance</html>"), "{message}");
    // A JSON answer of the wrong shape as well.
    fake.set_fault(Some(Fault::Raw(200, "application/json", br#"{"tasks": []}"#.to_vec())));
    let run = tool(&env, &["tasks", "--json"]).expect(5);
    assert_eq!(error_of(&run).0, "bad_response");
    // Non-JSON error bodies are quoted too.
    fake.set_fault(Some(Fault::Raw(502, "text/plain", b"upstream\nbroke".to_vec())));
    let run = tool(&env, &["tasks"]).expect(5);
    assert!(run.stderr.contains("HTTP 502: upstream broke"), "{}", run.stderr);
}

#[test]
fn huge_bodies_are_refused_exit_5() {
    let (fake, env) = setup();
    fake.push_fault(Fault::HugeDeclared);
    let run = tool(&env, &["tasks", "--json"]).expect(5);
    let (code, message) = error_of(&run);
    assert_eq!(code, "response_too_large");
    assert!(message.contains("16 MiB"), "{message}");
    fake.push_fault(Fault::HugeStreamed);
    let run = tool(&env, &["tasks", "--json"]).expect(5);
    assert_eq!(error_of(&run).0, "response_too_large");
}

#[test]
fn slow_answer_times_out_exit_3() {
    let (fake, mut env) = setup();
    env.set("BITSOTA_HTTP_TIMEOUT_SECS", "1");
    fake.push_fault(Fault::Slow(Duration::from_secs(4)));
    // The answer would come after 4 s and succeed: exit 3 proves the 1 s limit cut it off.
    let run = tool(&env, &["tasks", "--json"]).expect(3);
    let (code, message) = error_of(&run);
    assert_eq!(code, "timeout");
    assert!(message.contains("did not answer"), "{message}");
    // Timeouts are not retried.
    assert_eq!(fake.requests().len(), 1);
}

#[test]
fn reset_connection_is_retried_then_exit_3() {
    let (fake, env) = setup();
    // One reset, then a normal answer: the GET is retried and succeeds.
    fake.push_fault(Fault::Reset);
    tool(&env, &["tasks", "--json"]).expect(0);
    assert_eq!(fake.requests().len(), 2);
    // Always reset: 1 + 3 retries, then exit 3.
    fake.set_fault(Some(Fault::Reset));
    let run = tool(&env, &["tasks", "--json"]).expect(3);
    assert_eq!(error_of(&run).0, "network");
    assert_eq!(fake.requests().len(), 2 + 4);
    // POSTs are never retried.
    let run = tool(&env, &["request", "POST", "/api/v1/submissions", "--body-json", "{}"]).expect(3);
    assert!(run.stderr.contains("cannot reach the coordinator"), "{}", run.stderr);
    assert_eq!(fake.requests().len(), 2 + 4 + 1);
}

#[test]
fn gateway_errors_and_429_are_retried_for_gets_only() {
    let (fake, env) = setup();
    fake.push_fault(Fault::Status(503, json!({"detail": "busy"})));
    fake.push_fault(Fault::RetryAfter(1));
    let started = std::time::Instant::now();
    tool(&env, &["tasks", "--json"]).expect(0);
    assert!(started.elapsed() >= Duration::from_secs(1), "Retry-After honoured");
    assert_eq!(fake.requests().len(), 3);
    // Retry-After beyond 30 s is not waited for.
    fake.push_fault(Fault::RetryAfter(120));
    let run = tool(&env, &["tasks", "--json"]).expect(5);
    assert_eq!(error_of(&run).0, "rate_limited");
    // A POST gets its 503 reported at once.
    fake.push_fault(Fault::Status(503, json!({"detail": "busy"})));
    let before = fake.requests().len();
    tool(&env, &["request", "POST", "/api/v1/submissions", "--body-json", "{}"]).expect(5);
    assert_eq!(fake.requests().len(), before + 1);
}

#[test]
fn unreachable_coordinator_is_exit_3() {
    let mut env = Env::new();
    env.set("BITSOTA_HTTP_BACKOFF_MS", "10");
    // common::Env points at the closed port 9 by default.
    let run = tool(&env, &["tasks", "--json"]).expect(3);
    let (code, message) = error_of(&run);
    assert_eq!(code, "network");
    assert!(message.contains("cannot reach the coordinator at http://127.0.0.1:9"), "{message}");
}

#[test]
fn coordinator_url_must_be_https_or_loopback() {
    let env = Env::new();
    for url in ["http://autoresearch.bitsota.com", "ftp://x", "not a url"] {
        let run = tool(&env, &["tasks", "--coordinator-url", url, "--json"]).expect(2);
        assert_eq!(error_of(&run).0, "bad_coordinator_url", "{url}");
    }
}

#[test]
fn base_url_prefix_is_not_signed() {
    let (fake, env) = setup();
    // The fake serves at the root, so a prefixed URL gets a 404, but the dry run shows both.
    let url = format!("{}/prefix/", fake.url());
    let v = tool(&env, &["request", "POST", "/api/v1/x", "--coordinator-url", &url, "--dry-run", "--json"])
        .expect(0)
        .json();
    assert_eq!(v["url"], format!("{}/prefix/api/v1/x", fake.url()));
    assert!(v["message"].as_str().unwrap().starts_with("BT-AUTH-V1\nPOST\n/api/v1/x\n"));
}

#[test]
fn whoami_with_mnemonic_env() {
    let (_fake, env) = setup();
    let v = tool(&env, &["whoami", "--json"]).expect(0).json();
    assert_eq!(
        v,
        json!({
            "version": 1,
            "ss58": SS58,
            "public_key": "dad2c3b1626a106708dc14527fef05cdd720cb3b298c6b7caee28efef38ca836",
            "source": "mnemonic-env",
            "path": null,
        })
    );
}

#[test]
fn redirects_are_not_followed() {
    let (fake, env) = setup();
    fake.push_fault(Fault::Raw(307, "text/plain", b"moved".to_vec()));
    let run = tool(&env, &["tasks", "--json"]).expect(5);
    let (code, message) = error_of(&run);
    assert_eq!(code, "unexpected_redirect");
    assert!(message.contains("HTTP 307"), "{message}");
    assert_eq!(fake.requests().len(), 1);
}

#[test]
fn loopback_rule_edge_cases() {
    let env = Env::new();
    // Spellings that only look like loopback, or reach another host, are refused before any
    // request: exit 2, nothing sent.
    for url in [
        "http://127.1",      // not a dotted quad; resolvers would read it as 127.0.0.1
        "http://2130706433", // same, as one number
        "http://localhost.evil.com",
        "http://localhost.",
        "http://[::ffff:127.0.0.1]", // IPv4-mapped: not the ::1 the contract names
        "http://127.0.0.1@evil.com", // userinfo: the host is evil.com
        "http://127.0.0.1:80@evil.com",
        "https://user:pw@h.example",
        "https://h.example:99999", // no such port
        "http://127.0.0.1:0",
        "http://10.0.0.1",
        "https://h.example/p?x=1",
    ] {
        let run = tool(
            &env,
            &["request", "GET", "/x", "--unsigned", "--dry-run", "--coordinator-url", url, "--json"],
        );
        assert_eq!(run.code, 2, "{url}: {}", run.out());
        assert_eq!(error_of(&run).0, "bad_coordinator_url", "{url}");
    }
    for url in [
        "http://127.0.0.1:8080",
        "http://127.255.255.254",
        "http://localhost:1",
        "http://LOCALHOST",
        "http://[::1]:99",
        "http://[0:0:0:0:0:0:0:1]",
        "https://h.example:443/prefix/",
    ] {
        let run = tool(
            &env,
            &["request", "GET", "/x", "--unsigned", "--dry-run", "--coordinator-url", url, "--json"],
        );
        assert_eq!(run.code, 0, "{url}: {}", run.stderr);
    }
}

#[test]
fn prefixed_base_url_with_non_ascii_query() {
    let (fake, env) = setup();
    let url = format!("{}/pre%20fix/", fake.url());
    let v = tool(
        &env,
        &[
            "request",
            "GET",
            "api/v1/claims",
            "--query",
            "q=a b/ü&😀",
            "--query",
            "q=2",
            "--coordinator-url",
            &url,
            "--dry-run",
            "--json",
        ],
    )
    .expect(0)
    .json();
    let query = "q=a+b%2F%C3%BC%26%F0%9F%98%80&q=2";
    assert_eq!(v["url"], format!("{}/pre%20fix/api/v1/claims?{query}", fake.url()));
    let ts = v["headers"]["X-Timestamp"].as_str().unwrap();
    // Whole seconds, now-ish.
    assert!(ts.len() == 10 && ts.parse::<u64>().unwrap().abs_diff(auth::now_unix()) < 60, "{ts}");
    assert_eq!(
        v["message"],
        format!("BT-AUTH-V1\nGET\n/api/v1/claims\n{query}\n{ts}\n{}", auth::EMPTY_BODY_SHA256)
    );
    // Sent for real, the server sees the same query and accepts the signature.
    tool(&env, &["request", "GET", "/api/v1/claims", "--query", "q=a b/ü&😀", "--query", "q=2", "--json"])
        .expect(0);
    let log = fake.requests();
    assert_eq!(log[0].query, query);
    assert!(log[0].auth_error.is_none() && log[0].signer.as_deref() == Some(SS58), "{:?}", log[0]);
}

#[test]
fn loopback_http_never_goes_through_a_proxy() {
    // Plain http is allowed only because it stays on this machine: a proxy from the
    // environment would carry the signed request off it. The proxy here is a closed port, so
    // going through it would fail with exit 3.
    let (fake, mut env) = setup();
    for var in ["ALL_PROXY", "HTTPS_PROXY", "HTTP_PROXY", "all_proxy", "https_proxy", "http_proxy"] {
        env.set(var, "http://127.0.0.1:9");
    }
    tool(&env, &["tasks", "--json"]).expect(0);
    let path = format!("/api/v1/tasks/{LIVE_ID}/claim");
    tool(&env, &["request", "POST", &path, "--body-json", r#"{"claim_description":"x"}"#, "--json"])
        .expect(0);
    assert_eq!(fake.requests().len(), 2);
}
