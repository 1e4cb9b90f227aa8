//! A fake BitSota coordinator for the tests: std-only HTTP/1.1 on 127.0.0.1, one thread per
//! connection, `Connection: close` on every answer.
//!
//! It checks every signed request the way the real server must (protocol.md §3.4): it
//! re-canonicalises the received JSON body, hashes it, rebuilds the BT-AUTH-V1 message from the
//! request line and verifies the sr25519 signature of `X-Hotkey`, and refuses timestamps more
//! than `timestamp_window` seconds from its clock. Signed routes (claim, cancel, submissions)
//! refuse unsigned requests with 401.
//!
//! State is in memory: tasks (+ onboarding markdown), claims (45-minute expiry, owned by the
//! hotkey that made them: another hotkey gets 403), submissions (required fields checked and
//! recorded), and a log of every request. Faults can be queued for the next requests
//! ([`Fake::push_fault`]) or set for all of them ([`Fake::set_fault`]).

#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};

/// Claims expire this long after creation (observed in production: 45 minutes).
pub const CLAIM_TTL_SECS: i64 = 45 * 60;
/// The server's assumed freshness window for `X-Timestamp` (the real one is unknown).
pub const TIMESTAMP_WINDOW_SECS: u64 = 300;
/// More than the client's 16 MiB cap.
pub const HUGE_BYTES: usize = 16 * 1024 * 1024 + 4096;

/// Something to go wrong instead of (or before) the normal answer.
#[derive(Debug, Clone)]
pub enum Fault {
    /// This status with this JSON body (e.g. 500 with `{"detail": …}`).
    Status(u16, Value),
    /// This status, content type and raw body (e.g. a 200 that is not JSON).
    Raw(u16, &'static str, Vec<u8>),
    /// 429 with `Retry-After: secs`.
    RetryAfter(u64),
    /// A 200 declaring a `Content-Length` above 16 MiB, then streaming it.
    HugeDeclared,
    /// A 200 without `Content-Length` streaming more than 16 MiB of valid JSON.
    HugeStreamed,
    /// Wait this long, then answer normally (the request still takes effect).
    Slow(Duration),
    /// Read the request, then reset the connection (RST, no answer).
    Reset,
    /// Process the request normally (it takes effect: a submission is stored), then reset the
    /// connection instead of answering: the answer is lost.
    ResetAfterProcessing,
    /// Process the request normally, then close the connection (FIN) without a word.
    CloseAfterProcessing,
    /// Process the request normally, then hold the answer until [`Hold::release`] or its
    /// time is up (issue 14: a client killed or timed out meanwhile loses the answer).
    HoldAfterProcessing(Hold),
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Logged {
    pub method: String,
    pub path: String,
    /// Raw query string, without `?`.
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The ss58 address whose signature verified, if the request was signed and valid.
    pub signer: Option<String>,
    /// Why the signature was refused, if it was.
    pub auth_error: Option<String>,
}

impl Logged {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

#[derive(Debug, Clone)]
pub struct Claim {
    pub value: Value,
    pub expires_unix: i64,
}

/// Everything the fake knows; tests may read or change it through [`Fake::state`].
pub struct State {
    pub tasks: Vec<Value>,
    pub onboard: HashMap<String, String>,
    pub claims: Vec<Claim>,
    pub submissions: Vec<Value>,
    /// Peer evaluations received (`POST /api/v1/submissions/{id}/peer-evaluate`).
    pub peer_evaluations: Vec<Value>,
    /// Pool work items (issue 13).
    pub work_items: Vec<Value>,
    pub log: Vec<Logged>,
    pub faults: VecDeque<Fault>,
    pub sticky_fault: Option<Fault>,
    /// Faults for the first request with this method and path (taken before `faults`).
    pub route_faults: Vec<(String, String, Fault)>,
    /// Seconds added to the real clock (to make client timestamps stale).
    pub clock_offset: i64,
    pub timestamp_window: u64,
    pub claim_ttl: i64,
    next_id: u64,
}

impl State {
    pub fn now(&self) -> i64 {
        unix_now() + self.clock_offset
    }

    fn new_id(&mut self) -> String {
        self.next_id += 1;
        format!("00000000-0000-4000-8000-{:012x}", self.next_id)
    }

    /// Active claims past their expiry become `expired`.
    fn refresh_claims(&mut self) {
        let now = self.now();
        for claim in &mut self.claims {
            if claim.value["status"] == "active" && claim.expires_unix <= now {
                claim.value["status"] = json!("expired");
            }
        }
    }
}

pub struct Fake {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    stop: AtomicBool,
}

impl Fake {
    /// Start the server on a free loopback port.
    pub fn start() -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                tasks: Vec::new(),
                onboard: HashMap::new(),
                claims: Vec::new(),
                submissions: Vec::new(),
                peer_evaluations: Vec::new(),
                work_items: Vec::new(),
                log: Vec::new(),
                faults: VecDeque::new(),
                sticky_fault: None,
                route_faults: Vec::new(),
                clock_offset: 0,
                timestamp_window: TIMESTAMP_WINDOW_SECS,
                claim_ttl: CLAIM_TTL_SECS,
                next_id: 0,
            }),
            stop: AtomicBool::new(false),
        });
        let server = Arc::clone(&shared);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if server.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let shared = Arc::clone(&server);
                std::thread::spawn(move || handle_connection(stream, &shared));
            }
        });
        Fake { addr, shared }
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Lock the state to read or change it.
    pub fn state(&self) -> MutexGuard<'_, State> {
        self.shared.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn add_task(&self, record: Value) {
        self.state().tasks.push(record);
    }

    pub fn set_onboard(&self, task_id: &str, markdown: &str) {
        self.state().onboard.insert(task_id.to_string(), markdown.to_string());
    }

    /// A fault for the next request (queued faults are used in order).
    pub fn push_fault(&self, fault: Fault) {
        self.state().faults.push_back(fault);
    }

    /// A fault for the next request with this method and path (e.g. `POST`,
    /// `/api/v1/submissions`), whatever other requests come before it.
    pub fn push_route_fault(&self, method: &str, path: &str, fault: Fault) {
        self.state().route_faults.push((method.to_string(), path.to_string(), fault));
    }

    /// What a validator decided about a submission: its status and observed metrics.
    pub fn set_verdict(&self, submission_id: &str, status: &str, observed: Value) {
        let mut state = self.state();
        for s in state.submissions.iter_mut() {
            if s["id"] == submission_id {
                s["status"] = json!(status);
                s["observed_metrics"] = observed.clone();
            }
        }
    }

    /// A fault for every request (until set to `None`).
    pub fn set_fault(&self, fault: Option<Fault>) {
        self.state().sticky_fault = fault;
    }

    pub fn requests(&self) -> Vec<Logged> {
        self.state().log.clone()
    }

    pub fn claims(&self) -> Vec<Value> {
        let mut state = self.state();
        state.refresh_claims();
        state.claims.iter().map(|c| c.value.clone()).collect()
    }

    pub fn submissions(&self) -> Vec<Value> {
        self.state().submissions.clone()
    }

    /// Make every active claim expire now.
    pub fn expire_claims(&self) {
        let mut state = self.state();
        let now = state.now();
        for claim in &mut state.claims {
            claim.expires_unix = now - 1;
            claim.value["expires_at"] = json!(iso(now - 1));
        }
        state.refresh_claims();
    }

    /// Send raw bytes as one request and return (status, body). For requests the tool would
    /// never make (non-canonical bodies, forged headers).
    pub fn raw_request(
        &self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> (u16, String) {
        let mut stream = TcpStream::connect(self.addr).expect("connect to fake");
        let mut head = format!(
            "{method} {target} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\n",
            self.addr,
            body.len()
        );
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(body).unwrap();
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        let text = String::from_utf8_lossy(&answer).into_owned();
        let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
        (status, body)
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
    }
}

// --- HTTP plumbing ----------------------------------------------------------------------------

struct Request {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<String> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone())
    }
}

enum Answer {
    Json(u16, Value),
    Text(u16, &'static str, Vec<u8>),
}

fn read_request(stream: &TcpStream) -> Option<Request> {
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.trim_end().splitn(3, ' ');
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (k, v) = line.split_once(':')?;
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    let length: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; length.min(64 * 1024 * 1024)];
    reader.read_exact(&mut body).ok()?;
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (target, String::new()),
    };
    Some(Request { method, path, query, headers, body })
}

fn handle_connection(mut stream: TcpStream, shared: &Shared) {
    let Some(request) = read_request(&stream) else {
        return;
    };
    let (fault, index) = {
        let mut state = shared.state.lock().unwrap_or_else(|e| e.into_inner());
        let targeted =
            state.route_faults.iter().position(|(m, p, _)| *m == request.method && *p == request.path);
        let fault = match targeted {
            Some(i) => Some(state.route_faults.remove(i).2),
            None => state.faults.pop_front().or_else(|| state.sticky_fault.clone()),
        };
        state.log.push(Logged {
            method: request.method.clone(),
            path: request.path.clone(),
            query: request.query.clone(),
            headers: request.headers.clone(),
            body: request.body.clone(),
            signer: None,
            auth_error: None,
        });
        (fault, state.log.len() - 1)
    };
    match fault {
        Some(Fault::Status(status, body)) => {
            return write_answer(&mut stream, Answer::Json(status, body), &[]);
        }
        Some(Fault::Raw(status, content_type, body)) => {
            return write_answer(&mut stream, Answer::Text(status, content_type, body), &[]);
        }
        Some(Fault::RetryAfter(secs)) => {
            let answer = Answer::Json(429, json!({"detail": "rate limited"}));
            return write_answer(&mut stream, answer, &[("Retry-After", secs.to_string())]);
        }
        Some(Fault::HugeDeclared) => {
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {HUGE_BYTES}\r\nConnection: close\r\n\r\n"
            );
            let _ = stream.write_all(head.as_bytes());
            return stream_filler(&mut stream, b"[", HUGE_BYTES - 1);
        }
        Some(Fault::HugeStreamed) => {
            let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n";
            let _ = stream.write_all(head.as_bytes());
            stream_filler(&mut stream, b"[", HUGE_BYTES);
            let _ = stream.write_all(b"0]");
            return;
        }
        Some(Fault::Reset) => {
            reset(stream);
            return;
        }
        Some(Fault::Slow(delay)) => std::thread::sleep(delay),
        Some(Fault::HoldAfterProcessing(hold)) => {
            let answer = {
                let mut state = shared.state.lock().unwrap_or_else(|e| e.into_inner());
                route(&mut state, &request, index)
            };
            hold.acted_then_wait();
            return write_answer(&mut stream, answer, &[]);
        }
        Some(Fault::ResetAfterProcessing) | Some(Fault::CloseAfterProcessing) => {
            {
                let mut state = shared.state.lock().unwrap_or_else(|e| e.into_inner());
                // Processed, but no answer reaches the client.
                let _ = route(&mut state, &request, index);
            }
            if matches!(fault, Some(Fault::ResetAfterProcessing)) {
                reset(stream);
            } else {
                let _ = stream.shutdown(Shutdown::Both);
            }
            return;
        }
        None => {}
    }
    let answer = {
        let mut state = shared.state.lock().unwrap_or_else(|e| e.into_inner());
        route(&mut state, &request, index)
    };
    write_answer(&mut stream, answer, &[]);
}

/// `0,0,0,…` after `prefix`, `total` bytes in all, until the client hangs up.
fn stream_filler(stream: &mut TcpStream, prefix: &[u8], total: usize) {
    if stream.write_all(prefix).is_err() {
        return;
    }
    let chunk = b"0,".repeat(32 * 1024);
    let mut sent = prefix.len();
    while sent < total {
        let n = chunk.len().min(total - sent);
        if stream.write_all(&chunk[..n]).is_err() {
            return;
        }
        sent += n;
    }
}

/// Close with RST instead of FIN (SO_LINGER with a zero timeout).
fn reset(stream: TcpStream) {
    use std::os::fd::AsRawFd;
    let linger = libc::linger { l_onoff: 1, l_linger: 0 };
    // SAFETY: a valid socket descriptor and a correctly sized linger struct.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            &linger as *const libc::linger as *const libc::c_void,
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
    drop(stream);
}

fn write_answer(stream: &mut TcpStream, answer: Answer, extra: &[(&str, String)]) {
    let (status, content_type, body) = match answer {
        Answer::Json(status, value) => (status, "application/json", serde_json::to_vec(&value).unwrap()),
        Answer::Text(status, content_type, body) => (status, content_type, body),
    };
    let mut head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n",
        reason(status),
        body.len()
    );
    for (k, v) in extra {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&body);
    let _ = stream.flush();
    let _ = stream.shutdown(Shutdown::Write);
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        409 => "Conflict",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

// --- routes -----------------------------------------------------------------------------------

fn detail(status: u16, text: impl Into<String>) -> Answer {
    Answer::Json(status, json!({"detail": text.into()}))
}

fn route(state: &mut State, req: &Request, index: usize) -> Answer {
    let segments: Vec<&str> = req.path.trim_start_matches('/').split('/').collect();
    let signed_route = req.method == "POST"
        && matches!(
            segments.as_slice(),
            ["api", "v1", "tasks", _, "claim"]
                | ["api", "v1", "claims", _, "cancel"]
                | ["api", "v1", "submissions"]
                | ["api", "v1", "work-items", _, "claim"]
                | ["api", "v1", "submissions", _, "peer-evaluate"]
        );
    // Every request that carries signing headers is checked, signed route or not.
    let carries_auth = ["X-Hotkey", "X-Timestamp", "X-Signature"].iter().any(|h| req.header(h).is_some());
    let mut signer = None;
    if signed_route || carries_auth {
        let now = u64::try_from(state.now()).unwrap_or(0);
        match crate::verify::verify_request(
            &req.method,
            &req.path,
            &req.query,
            &req.body,
            |h| req.header(h),
            now,
            state.timestamp_window,
        ) {
            Ok(public) => {
                let ss58 = req.header("X-Hotkey").unwrap_or_default();
                debug_assert_eq!(git_bitsota::test_support::ss58_to_public(&ss58), Some(public));
                state.log[index].signer = Some(ss58.clone());
                signer = Some(ss58);
            }
            Err(e) => {
                state.log[index].auth_error = Some(e.to_string());
                return detail(401, format!("invalid request signature: {e}"));
            }
        }
    }
    let body = if req.body.is_empty() {
        Value::Null
    } else {
        match serde_json::from_slice::<Value>(&req.body) {
            Ok(v) => v,
            Err(_) => return detail(422, "request body is not valid JSON"),
        }
    };
    let query = parse_query(&req.query);
    state.refresh_claims();
    if let Some(answer) = peer_route(state, req, &segments, &query, &body, signer.clone()) {
        return answer;
    }
    match (req.method.as_str(), segments.as_slice()) {
        ("GET", ["healthz"]) => Answer::Json(200, json!({"status": "ok"})),
        ("GET", ["api", "v1", "tasks"]) => Answer::Json(200, Value::Array(state.tasks.clone())),
        ("GET", ["api", "v1", "tasks", id]) => match find_task(state, id) {
            Some(task) => Answer::Json(200, task),
            None => detail(404, "Task not found"),
        },
        ("GET", ["api", "v1", "tasks", id, "onboard.md"]) => match find_task(state, id) {
            Some(task) => {
                let text = state.onboard.get(*id).cloned().unwrap_or_else(|| {
                    format!(
                        "# onboard.md\n\n## Competition\n\n- Slug: `{}`\n",
                        task["slug"].as_str().unwrap_or("")
                    )
                });
                Answer::Text(200, "text/markdown; charset=utf-8", text.into_bytes())
            }
            None => detail(404, "Task not found"),
        },
        ("POST", ["api", "v1", "tasks", id, "claim"]) => {
            claim_task(state, id, &body, signer.unwrap_or_default())
        }
        ("GET", ["api", "v1", "claims"]) => {
            let items = state
                .claims
                .iter()
                .map(|c| c.value.clone())
                .filter(|c| matches_filters(c, &query, &["task_id", "status"]))
                .collect();
            Answer::Json(200, Value::Array(items))
        }
        ("POST", ["api", "v1", "claims", id, "cancel"]) => {
            cancel_claim(state, id, signer.unwrap_or_default())
        }
        ("POST", ["api", "v1", "submissions"]) => create_submission(state, &body, signer.unwrap_or_default()),
        ("GET", ["api", "v1", "submissions"]) => {
            let items = state
                .submissions
                .iter()
                .filter(|s| matches_filters(s, &query, &["task_id", "status", "claim_id", "miner_hotkey"]))
                .cloned()
                .collect();
            Answer::Json(200, Value::Array(items))
        }
        (method, path) if is_competition_route(method, path) => {
            competition_route(state, method, path, &body, &query, signer.unwrap_or_default())
        }
        ("GET", ["api", "v1", "submissions", id]) => {
            match state.submissions.iter().find(|s| s["id"] == *id) {
                Some(s) => Answer::Json(200, s.clone()),
                None => detail(404, "Submission not found"),
            }
        }
        _ => detail(404, "Not Found"),
    }
}

fn find_task(state: &State, id: &str) -> Option<Value> {
    state.tasks.iter().find(|t| t["id"] == id).cloned()
}

fn matches_filters(item: &Value, query: &[(String, String)], keys: &[&str]) -> bool {
    query
        .iter()
        .all(|(k, v)| !keys.contains(&k.as_str()) || item.get(k).and_then(Value::as_str) == Some(v.as_str()))
}

fn missing(fields: &[&str]) -> Answer {
    let items: Vec<Value> = fields
        .iter()
        .map(|f| json!({"loc": ["body", f], "msg": "Field required", "type": "missing"}))
        .collect();
    Answer::Json(422, json!({"detail": items}))
}

fn claim_task(state: &mut State, task_id: &str, body: &Value, hotkey: String) -> Answer {
    let Some(task) = find_task(state, task_id) else {
        return detail(404, "Task not found");
    };
    if task["task_state"] != "live" || task["is_active"] != true {
        return detail(409, "Task is not accepting claims");
    }
    let description = body.get("claim_description").and_then(Value::as_str).unwrap_or("");
    if description.trim().is_empty() {
        return missing(&["claim_description"]);
    }
    let now = state.now();
    let id = state.new_id();
    let expires = now + state.claim_ttl;
    let mut claim = json!({
        "id": id,
        "task_id": task_id,
        "miner_hotkey": hotkey,
        "claim_description": description,
        "status": "active",
        "expires_at": iso(expires),
        "created_at": iso(now),
        "updated_at": iso(now),
        "participation_disclaimer": {
            "code": "no_reward_guarantee",
            "version": "2026-05-23",
            "title": "No reward guarantee",
            "must_display": true,
            "url": "https://bitsota.ai/docs/disclaimer/",
            "summary": "By creating a task claim, you accept that rewards are not guaranteed.",
            "text": "# Disclaimer\n\nTest disclaimer text."
        }
    });
    if let Some(base) = body.get("base_submission_id").and_then(Value::as_str) {
        claim["base_submission_id"] = json!(base);
    }
    state.claims.push(Claim { value: claim.clone(), expires_unix: expires });
    Answer::Json(200, claim)
}

fn cancel_claim(state: &mut State, claim_id: &str, hotkey: String) -> Answer {
    let now = state.now();
    let claim = match owned_active_claim(state, claim_id, &hotkey) {
        Ok(claim) => claim,
        Err(answer) => return answer,
    };
    claim.value["status"] = json!("cancelled");
    claim.value["updated_at"] = json!(iso(now));
    Answer::Json(200, claim.value.clone())
}

/// The claim `claim_id` if `hotkey` owns it and it is active; else the server's answer.
fn owned_active_claim<'a>(
    state: &'a mut State,
    claim_id: &str,
    hotkey: &str,
) -> Result<&'a mut Claim, Answer> {
    let Some(claim) = state.claims.iter_mut().find(|c| c.value["id"] == claim_id) else {
        return Err(detail(404, "Claim not found"));
    };
    if claim.value["miner_hotkey"] != hotkey {
        return Err(detail(403, "Claim is owned by another hotkey"));
    }
    if claim.value["status"] != "active" {
        let status = claim.value["status"].as_str().unwrap_or("?");
        return Err(detail(409, format!("Claim is not active (status: {status})")));
    }
    Ok(claim)
}

fn create_submission(state: &mut State, body: &Value, hotkey: String) -> Answer {
    let Some(fields) = body.as_object() else {
        return detail(422, "body must be a JSON object");
    };
    let text = |k: &str| fields.get(k).and_then(Value::as_str);
    let mut absent = Vec::new();
    for key in ["claim_id", "base_ref", "summary"] {
        if text(key).is_none_or(|v| v.trim().is_empty()) {
            absent.push(key);
        }
    }
    if !fields.get("claimed_metrics").is_some_and(Value::is_object) {
        absent.push("claimed_metrics");
    }
    if !fields.get("patch").is_some_and(Value::is_string) {
        absent.push("patch");
    }
    if !absent.is_empty() {
        return missing(&absent);
    }
    if text("patch") == Some("") && text("artifact_uri").is_none_or(str::is_empty) {
        return detail(422, "A submission needs a non-empty patch or an artifact_uri");
    }
    let claim_id = text("claim_id").unwrap().to_string();
    if let Some(refusal) = idea_refusal(state, &claim_id, fields) {
        return refusal;
    }
    let now = state.now();
    let claim = match owned_active_claim(state, &claim_id, &hotkey) {
        Ok(claim) => claim,
        Err(answer) => return answer,
    };
    claim.value["status"] = json!("submitted");
    claim.value["updated_at"] = json!(iso(now));
    let task_id = claim.value["task_id"].clone();
    let mut submission = Map::new();
    let id = state.new_id();
    submission.insert("id".into(), json!(id));
    submission.insert("task_id".into(), task_id);
    submission.insert("claim_id".into(), json!(claim_id));
    submission.insert("miner_hotkey".into(), json!(hotkey));
    submission.insert("status".into(), json!("pending_verification"));
    submission.insert("created_at".into(), json!(iso(now)));
    submission.insert("updated_at".into(), json!(iso(now)));
    for (k, v) in fields {
        if k != "claim_id" {
            submission.insert(k.clone(), v.clone());
        }
    }
    submission.insert("observed_metrics".into(), Value::Null);
    let submission = Value::Object(submission);
    state.submissions.push(submission.clone());
    complete_work_item(state, &claim_id);
    Answer::Json(200, submission)
}

// --- competition modes (issue 13): pool work items, centerless ideas ---------------------------
//
// Work items: `GET /api/v1/work-items?task_id=&status=`, signed `POST
// /api/v1/work-items/{id}/claim` (an open item of a live task becomes `claimed` with the new
// claim's id; the claim carries `work_item_id`), and `completed` when its claim submits.
// Submissions: `implemented_submission_id` must name a submission of the same task carrying
// a `proposed_idea` (else 422), and a centerless task needs a `proposed_idea` (else 422).
// Seed other hotkeys' submissions with [`Fake::add_submission`].

impl Fake {
    pub fn add_work_item(&self, item: Value) {
        self.state().work_items.push(item);
    }

    pub fn work_items(&self) -> Vec<Value> {
        self.state().work_items.clone()
    }

    /// A submission made elsewhere (another hotkey, an earlier run), stored as given.
    pub fn add_submission(&self, submission: Value) {
        self.state().submissions.push(submission);
    }

    /// An active claim made elsewhere (e.g. by this hotkey from another clone), stored as given;
    /// it expires `ttl` seconds from now.
    pub fn add_claim(&self, mut claim: Value, ttl: i64) {
        let mut state = self.state();
        let now = state.now();
        claim["expires_at"] = json!(iso(now + ttl));
        state.claims.push(Claim { value: claim, expires_unix: now + ttl });
    }
}

fn is_competition_route(method: &str, path: &[&str]) -> bool {
    matches!(
        (method, path),
        ("GET", ["api", "v1", "work-items"]) | ("POST", ["api", "v1", "work-items", _, "claim"])
    )
}

fn competition_route(
    state: &mut State,
    method: &str,
    path: &[&str],
    body: &Value,
    query: &[(String, String)],
    hotkey: String,
) -> Answer {
    match (method, path) {
        ("GET", ["api", "v1", "work-items"]) => {
            let items = state
                .work_items
                .iter()
                .filter(|i| matches_filters(i, query, &["task_id", "status"]))
                .cloned()
                .collect();
            Answer::Json(200, Value::Array(items))
        }
        ("POST", ["api", "v1", "work-items", id, "claim"]) => claim_work_item(state, id, body, hotkey),
        _ => detail(404, "Not Found"),
    }
}

fn claim_work_item(state: &mut State, item_id: &str, body: &Value, hotkey: String) -> Answer {
    let Some(index) = state.work_items.iter().position(|i| i["id"] == item_id) else {
        return detail(404, "Work item not found");
    };
    if state.work_items[index]["status"] != "open" {
        return detail(409, "Work item is not open");
    }
    let task_id = state.work_items[index]["task_id"].as_str().unwrap_or_default().to_string();
    let mut claim_body = body.clone();
    if claim_body.get("claim_description").and_then(Value::as_str).is_none_or(|d| d.trim().is_empty()) {
        claim_body = json!({"claim_description": "work item claim"});
        if let Some(base) = body.get("base_submission_id") {
            claim_body["base_submission_id"] = base.clone();
        }
    }
    let answer = claim_task(state, &task_id, &claim_body, hotkey);
    let Answer::Json(200, mut claim) = answer else {
        return answer;
    };
    claim["work_item_id"] = json!(item_id);
    if let Some(stored) = state.claims.iter_mut().find(|c| c.value["id"] == claim["id"]) {
        stored.value["work_item_id"] = json!(item_id);
    }
    let item = &mut state.work_items[index];
    item["status"] = json!("claimed");
    item["claim_id"] = claim["id"].clone();
    Answer::Json(200, claim)
}

/// The work item held by `claim_id` is done once the claim submits.
fn complete_work_item(state: &mut State, claim_id: &str) {
    for item in state.work_items.iter_mut().filter(|i| i["claim_id"] == claim_id) {
        item["status"] = json!("completed");
    }
}

/// Refuse an idea reference the coordinator could not honour, and a centerless submission
/// without an idea.
fn idea_refusal(state: &State, claim_id: &str, fields: &Map<String, Value>) -> Option<Answer> {
    let task_id = state.claims.iter().find(|c| c.value["id"] == claim_id)?.value["task_id"].clone();
    let task = state.tasks.iter().find(|t| t["id"] == task_id)?;
    let idea = fields.get("proposed_idea").and_then(Value::as_str).unwrap_or("").trim();
    if task["competition_mode"] == "centerless" && idea.is_empty() {
        return Some(detail(422, "Centerless submissions require proposed_idea"));
    }
    let implemented = fields.get("implemented_submission_id").and_then(Value::as_str)?;
    let target = state.submissions.iter().find(|s| s["id"] == implemented);
    let ok = target.is_some_and(|s| {
        s["task_id"] == task_id && s["proposed_idea"].as_str().is_some_and(|i| !i.trim().is_empty())
    });
    if ok {
        None
    } else {
        Some(detail(422, "implemented_submission_id must reference an idea-bearing submission of this task"))
    }
}

// --- small helpers ----------------------------------------------------------------------------

pub fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// `2026-06-24T19:34:03.000000Z`, the coordinator's format.
pub fn iso(unix: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(unix).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.000000Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Form-decoding of a query string (`+` is a space, `%XX` bytes).
pub fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (form_decode(k), form_decode(v))
        })
        .collect()
}

fn form_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

// --- peer evaluation (issue 15) -----------------------------------------------------------------
//
// The routes of protocol.md §4.8 with the server's refusals: an unknown submission (404), a task
// that is not `peer_evaluation` (409), the evaluator's own submission (403), a submission that is
// no longer pending (409), a second evaluation by the same hotkey (409), a status that is not
// accepted/rejected/error (422). Consensus: once `min_peer_evaluations` (default 2) evaluations
// agree, the submission takes that status.

/// The default number of agreeing evaluations a peer_evaluation task needs.
pub const DEFAULT_MIN_PEER_EVALUATIONS: u64 = 2;

impl Fake {
    /// Store a submission made by someone else (e.g. another hotkey), as served.
    pub fn seed_submission(&self, submission: Value) {
        self.state().submissions.push(submission);
    }

    pub fn peer_evaluations(&self) -> Vec<Value> {
        self.state().peer_evaluations.clone()
    }

    /// The POSTs to `…/peer-evaluate` received so far (refused ones included).
    pub fn peer_evaluate_posts(&self) -> Vec<Logged> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == "POST" && r.path.ends_with("/peer-evaluate"))
            .collect()
    }
}

fn peer_route(
    state: &mut State,
    req: &Request,
    segments: &[&str],
    query: &[(String, String)],
    body: &Value,
    signer: Option<String>,
) -> Option<Answer> {
    Some(match (req.method.as_str(), segments) {
        ("GET", ["api", "v1", "submissions", id, "detail"]) => submission_detail(state, id),
        ("GET", ["api", "v1", "submissions", id, "peer-consensus"]) => match consensus(state, id) {
            Some(c) => Answer::Json(200, c),
            None => detail(404, "Submission not found"),
        },
        ("GET", ["api", "v1", "peer-evaluations"]) => {
            let items = state
                .peer_evaluations
                .iter()
                .filter(|e| matches_filters(e, query, &["submission_id", "evaluator_hotkey", "status"]))
                .cloned()
                .collect();
            Answer::Json(200, Value::Array(items))
        }
        ("POST", ["api", "v1", "submissions", id, "peer-evaluate"]) => {
            peer_evaluate(state, id, body, signer.unwrap_or_default())
        }
        _ => return None,
    })
}

fn min_peer_evaluations(task: &Value) -> u64 {
    task.get("min_peer_evaluations")
        .and_then(Value::as_u64)
        .filter(|n| *n > 0)
        .unwrap_or(DEFAULT_MIN_PEER_EVALUATIONS)
}

fn consensus(state: &State, submission_id: &str) -> Option<Value> {
    let submission = state.submissions.iter().find(|s| s["id"] == submission_id)?;
    let task = state.tasks.iter().find(|t| t["id"] == submission["task_id"]).cloned().unwrap_or(Value::Null);
    let required = min_peer_evaluations(&task);
    let count = |status: &str| {
        state
            .peer_evaluations
            .iter()
            .filter(|e| e["submission_id"] == submission_id && e["status"] == status)
            .count() as u64
    };
    let (accepted, rejected, errored) = (count("accepted"), count("rejected"), count("error"));
    let status = if accepted >= required {
        "accepted"
    } else if rejected >= required {
        "rejected"
    } else if errored >= required {
        "error"
    } else {
        "pending"
    };
    Some(json!({
        "submission_id": submission_id,
        "status": status,
        "accepted_count": accepted,
        "rejected_count": rejected,
        "error_count": errored,
        "required": required,
    }))
}

fn submission_detail(state: &State, id: &str) -> Answer {
    let Some(submission) = state.submissions.iter().find(|s| s["id"] == id).cloned() else {
        return detail(404, "Submission not found");
    };
    let task = state.tasks.iter().find(|t| t["id"] == submission["task_id"]).cloned().unwrap_or(Value::Null);
    let evaluations: Vec<Value> =
        state.peer_evaluations.iter().filter(|e| e["submission_id"] == id).cloned().collect();
    Answer::Json(
        200,
        json!({
            "submission": submission,
            "peer_evaluations": evaluations,
            "peer_consensus": consensus(state, id),
            "metric_name": task.get("metric_name").cloned().unwrap_or(Value::Null),
        }),
    )
}

fn peer_evaluate(state: &mut State, id: &str, body: &Value, hotkey: String) -> Answer {
    let Some(index) = state.submissions.iter().position(|s| s["id"] == id) else {
        return detail(404, "Submission not found");
    };
    let submission = state.submissions[index].clone();
    let task = state.tasks.iter().find(|t| t["id"] == submission["task_id"]).cloned().unwrap_or(Value::Null);
    if task["competition_mode"] != "peer_evaluation" {
        return detail(409, "Peer evaluation is only available for peer_evaluation tasks");
    }
    if submission["miner_hotkey"] == hotkey {
        return detail(403, "Miners cannot evaluate their own submissions");
    }
    if submission["status"] != "pending_verification" {
        return detail(409, "Submission is not pending verification");
    }
    if state.peer_evaluations.iter().any(|e| e["submission_id"] == id && e["evaluator_hotkey"] == hotkey) {
        return detail(409, "This hotkey already evaluated this submission");
    }
    let status = body.get("status").and_then(Value::as_str).unwrap_or("");
    if !["accepted", "rejected", "error"].contains(&status) {
        return detail(422, "status must be accepted, rejected or error");
    }
    let observed = body.get("observed_metrics").cloned().unwrap_or_else(|| json!({}));
    if !observed.is_object() {
        return detail(422, "observed_metrics must be an object");
    }
    let now = state.now();
    let evaluation_id = state.new_id();
    let mut evaluation = json!({
        "id": evaluation_id,
        "submission_id": id,
        "evaluator_hotkey": hotkey,
        "status": status,
        "observed_metrics": observed,
        "created_at": iso(now),
    });
    if let Some(notes) = body.get("notes") {
        evaluation["notes"] = notes.clone();
    }
    state.peer_evaluations.push(evaluation.clone());
    if let Some(decided) = consensus(state, id).and_then(|c| c["status"].as_str().map(str::to_string)) {
        if decided != "pending" {
            state.submissions[index]["status"] = json!(decided);
        }
    }
    Answer::Json(200, evaluation)
}

// --- issue 14: held answers and waiting on the server's log ---------------------------------

/// The handle of a [`Fault::HoldAfterProcessing`]: says when the request has taken effect,
/// and lets the test release the answer before its time is up.
#[derive(Debug, Clone)]
pub struct Hold {
    at_most: Duration,
    inner: Arc<(Mutex<HoldState>, std::sync::Condvar)>,
}

#[derive(Debug, Default)]
struct HoldState {
    acted: bool,
    released: bool,
}

impl Hold {
    /// Hold an answer at most this long.
    pub fn new(at_most: Duration) -> Hold {
        Hold { at_most, inner: Arc::default() }
    }

    /// Let the held answer go.
    pub fn release(&self) {
        let (lock, wake) = &*self.inner;
        lock.lock().unwrap_or_else(|e| e.into_inner()).released = true;
        wake.notify_all();
    }

    /// Wait until the server has processed the held request (panics after 30 s).
    pub fn wait_acted(&self) {
        let (lock, wake) = &*self.inner;
        let state = lock.lock().unwrap_or_else(|e| e.into_inner());
        let (state, _) = wake
            .wait_timeout_while(state, Duration::from_secs(30), |s| !s.acted)
            .unwrap_or_else(|e| e.into_inner());
        assert!(state.acted, "the held request never reached the fake coordinator");
    }

    fn acted_then_wait(&self) {
        let (lock, wake) = &*self.inner;
        let mut state = lock.lock().unwrap_or_else(|e| e.into_inner());
        state.acted = true;
        wake.notify_all();
        let _ = wake.wait_timeout_while(state, self.at_most, |s| !s.released);
    }
}

impl Fake {
    /// How many requests with this method and path the server received.
    pub fn count(&self, method: &str, path: &str) -> usize {
        self.state().log.iter().filter(|r| r.method == method && r.path == path).count()
    }
}
