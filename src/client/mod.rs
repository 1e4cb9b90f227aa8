//! The coordinator client: one ureq agent, BT-AUTH-V1 signing, limits, retries, and the
//! mapping of every failure to the exit codes of cli.md §7.
//!
//! * Base URL: `https://`, or `http://` for loopback hosts only (exit 2 otherwise). A path
//!   prefix in the base URL goes into the request URL but never into the signed path
//!   (protocol.md §2). Plain http never goes through a proxy from the environment.
//! * Timeouts: connect 10 s; a whole request 60 s (GET) or what the caller asks (submit: 120 s).
//! * Responses over 16 MiB are refused (exit 5): by `Content-Length` before reading, else by
//!   a capped read.
//! * Only GETs are retried (up to 3 times, backoff 0.5/1/2 s) on connect errors (a connect
//!   timeout included), resets, 502/503/504, and 429 honouring `Retry-After` up to 30 s, all
//!   within one deadline (the whole-request timeout) over every attempt and wait.
//!   POSTs are never retried here.
//! * Redirects are not followed: a signed request must not be replayed elsewhere, and the
//!   coordinator's routes do not redirect. A 3xx is reported as a refused request (exit 5).
//! * Exit codes: unreachable or timed out → 3; 401/403 → 4; other 4xx/5xx, or an answer that
//!   is not the JSON expected → 5, with the server's `detail` (or the start of its body).
//!
//! Test-only knobs (documented, harmless in production): `BITSOTA_HTTP_TIMEOUT_SECS`
//! replaces the whole-request timeouts (seconds, fractions allowed) and
//! `BITSOTA_HTTP_BACKOFF_MS` replaces the first retry delay, so fault tests run fast.

use std::io::ErrorKind;
use std::time::{Duration, Instant};

use serde_json::Value;
use ureq::http::{self};
use ureq::Agent;

use crate::auth::{self, SignedRequest};
use crate::canonical_json::to_canonical_string;
use crate::error::{Error, Result};
use crate::keys::Hotkey;
use crate::output::Output;

mod api;
mod url;

pub use api::{find_task, is_live};
pub use url::{check_base_url, is_loopback};

pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
pub const GET_TIMEOUT: Duration = Duration::from_secs(60);
pub const SUBMIT_TIMEOUT: Duration = Duration::from_secs(120);

impl RequestSpec {
    /// The whole-request timeout of cli.md §8: 120 s to create a submission, 60 s otherwise.
    pub fn timeout(&self) -> Duration {
        if self.method == "POST" && self.path == "/api/v1/submissions" {
            SUBMIT_TIMEOUT
        } else {
            GET_TIMEOUT
        }
    }
}
pub const MAX_RESPONSE_BYTES: u64 = 16 * 1024 * 1024;
pub const MAX_RETRIES: u32 = 3;
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);
pub const ENV_TIMEOUT: &str = "BITSOTA_HTTP_TIMEOUT_SECS";
pub const ENV_BACKOFF_MS: &str = "BITSOTA_HTTP_BACKOFF_MS";

/// How much of a non-JSON or error body is quoted back to the user.
const QUOTE_CHARS: usize = 500;

/// A request before it is signed and sent: what `request --dry-run` shows.
#[derive(Debug, Clone)]
pub struct RequestSpec {
    /// Upper-case method.
    pub method: String,
    /// Route path with its leading `/`, as signed.
    pub path: String,
    /// urlencoded query without `?`, as signed (empty when none).
    pub query: String,
    /// The exact body bytes: canonical JSON, or `None` for no body.
    pub body: Option<Vec<u8>>,
}

impl RequestSpec {
    /// Validate the method and path, encode the query and canonicalise the body.
    pub fn new(
        method: &str,
        path: &str,
        query: &[(String, String)],
        body: Option<&Value>,
    ) -> Result<RequestSpec> {
        let method = method.trim().to_ascii_uppercase();
        if method.is_empty() || http::Method::from_bytes(method.as_bytes()).is_err() {
            return Err(Error::usage(format!("invalid HTTP method {method:?}")).with_code("bad_request"));
        }
        let path = auth::normalize_path(path);
        if path.contains(['?', '#']) {
            return Err(Error::usage(format!("the path {path:?} contains `?` or `#`"))
                .with_code("bad_request")
                .with_hint("pass query parameters with --query K=V; they are signed separately"));
        }
        if !path.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::usage(format!(
                "the path {path:?} has spaces, control or non-ASCII characters"
            ))
            .with_code("bad_request")
            .with_hint("percent-encode them; the path is signed exactly as given"));
        }
        let body = match body {
            Some(value) => Some(canonical_body(value)?),
            None => None,
        };
        Ok(RequestSpec { method, path, query: auth::encode_query(query), body })
    }

    /// Sign for `hotkey` at `timestamp`.
    pub fn sign(&self, hotkey: &Hotkey, timestamp: u64) -> SignedRequest {
        auth::sign_request(hotkey, &self.method, &self.path, &self.query, self.body.as_deref(), timestamp)
    }

    fn is_retryable_method(&self) -> bool {
        self.method == "GET"
    }
}

/// Canonical JSON bytes of a body (protocol.md §3.3): these are hashed and sent.
pub fn canonical_body(value: &Value) -> Result<Vec<u8>> {
    to_canonical_string(value).map(String::into_bytes).map_err(|e| {
        Error::usage("the request body cannot be canonicalised").with_code("bad_body").with_source(e)
    })
}

/// A response as received (status < 400 reaches the caller; errors are mapped before).
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
    /// `Retry-After` and `Location`, for retry and redirect reporting.
    pub retry_after: Option<String>,
    pub location: Option<String>,
}

impl Response {
    /// The body as JSON, or exit 5 quoting the start of the body.
    pub fn json(&self, what: &str) -> Result<Value> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&self.body).map_err(|_| {
            Error::server(format!(
                "the coordinator's answer to {what} is not JSON: {}",
                quote_body(&self.body)
            ))
            .with_code("bad_response")
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// The coordinator at one base URL.
pub struct Coordinator {
    base: String,
    agent: Agent,
    out: Output,
    timeout_override: Option<Duration>,
    backoff: Duration,
}

impl Coordinator {
    /// A client for `base_url` (checked: https, or http on loopback). `out` receives
    /// `--verbose` request lines and the spinner.
    pub fn new(base_url: &str, out: &Output) -> Result<Coordinator> {
        let base = check_base_url(base_url)?;
        // http:// is allowed only for loopback, i.e. because the request stays on this
        // machine; a proxy from the environment (HTTP_PROXY, ALL_PROXY, …) would carry the
        // signed request off it in clear. https keeps the environment's proxy (a CONNECT
        // tunnel: TLS stays end to end).
        let direct = base.get(..7).is_some_and(|scheme| scheme.eq_ignore_ascii_case("http://"));
        let mut config = Agent::config_builder();
        if direct {
            config = config.proxy(None);
        }
        let config = config
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .timeout_global(Some(GET_TIMEOUT))
            .http_status_as_error(false)
            .max_redirects(0)
            .max_redirects_will_error(false)
            .user_agent(format!("git-bitsota/{}", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(Coordinator {
            base,
            agent: Agent::new_with_config(config),
            out: out.clone(),
            timeout_override: env_duration_secs(ENV_TIMEOUT),
            backoff: env_millis(ENV_BACKOFF_MS).unwrap_or(Duration::from_millis(500)),
        })
    }

    /// The full URL of a request (base prefix + path + `?query`).
    pub fn url_for(&self, spec: &RequestSpec) -> String {
        let mut url = format!("{}{}", self.base, spec.path);
        if !spec.query.is_empty() {
            url.push('?');
            url.push_str(&spec.query);
        }
        url
    }

    /// Send a request, signed by `signer` when given (signed afresh before each attempt), and
    /// return a response with status < 400. GETs are retried; nothing else is.
    pub fn send(&self, spec: &RequestSpec, signer: Option<&Hotkey>) -> Result<Response> {
        let timeout = self.timeout_override.unwrap_or(spec.timeout());
        let what = format!("{} {}", spec.method, spec.path);
        let retries = if spec.is_retryable_method() { MAX_RETRIES } else { 0 };
        // One deadline over every attempt and every wait: a server that answers slowly with
        // 503s (or resets) cannot hold a GET for several whole-request timeouts.
        let deadline = Instant::now() + timeout;
        let mut attempt = 0;
        loop {
            let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(1));
            let outcome = self.attempt(spec, signer, left);
            let wait = match &outcome {
                Ok(resp) if attempt < retries => retry_delay_for_status(resp, self.backoff, attempt),
                Err(Failure::Transport(e)) if attempt < retries && is_transient(e) => {
                    Some(backoff_delay(self.backoff, attempt))
                }
                _ => None,
            };
            // A wait that would end past the deadline is not worth starting.
            let wait = wait.filter(|delay| Instant::now() + *delay < deadline);
            match wait {
                Some(delay) => {
                    attempt += 1;
                    self.out.detail(format!(
                        "retrying {what} in {:.1} s (attempt {} of {})",
                        delay.as_secs_f64(),
                        attempt + 1,
                        retries + 1
                    ));
                    std::thread::sleep(delay);
                }
                None => {
                    return match outcome {
                        Ok(resp) => check_status(resp, &what),
                        Err(failure) => Err(failure.into_error(&what, &self.base, timeout)),
                    };
                }
            }
        }
    }

    fn attempt(
        &self,
        spec: &RequestSpec,
        signer: Option<&Hotkey>,
        timeout: Duration,
    ) -> Result<Response, Failure> {
        let url = self.url_for(spec);
        let mut builder = http::Request::builder().method(spec.method.as_str()).uri(url.as_str());
        if let Some(hotkey) = signer {
            let signed = spec.sign(hotkey, auth::now_unix());
            for (name, value) in signed.headers.pairs() {
                builder = builder.header(name, value);
            }
        }
        self.out.detail(format!(
            "> {} {url}{}",
            spec.method,
            if signer.is_some() { " (signed)" } else { "" }
        ));
        let started = Instant::now();
        let _spinner = self.out.spinner(&format!("{} {}", spec.method, spec.path));
        let result = match &spec.body {
            Some(body) => {
                let request = builder
                    .header("Content-Type", "application/json")
                    .body(body.clone())
                    .map_err(Failure::Build)?;
                let request = self.agent.configure_request(request).timeout_global(Some(timeout)).build();
                self.agent.run(request)
            }
            // A POST without a body still says `Content-Length: 0`, as `requests` does.
            None if spec.method != "GET" && spec.method != "HEAD" => {
                let request = builder.body(Vec::new()).map_err(Failure::Build)?;
                let request = self.agent.configure_request(request).timeout_global(Some(timeout)).build();
                self.agent.run(request)
            }
            None => {
                let request = builder.body(()).map_err(Failure::Build)?;
                let request = self.agent.configure_request(request).timeout_global(Some(timeout)).build();
                self.agent.run(request)
            }
        };
        let mut response = result.map_err(Failure::Transport)?;
        let status = response.status().as_u16();
        let header =
            |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        let retry_after = header("retry-after");
        let location = header("location");
        if let Some(length) = response.body().content_length() {
            if length > MAX_RESPONSE_BYTES {
                return Err(Failure::TooLarge(Some(length)));
            }
        }
        let body = response.body_mut().with_config().limit(MAX_RESPONSE_BYTES).read_to_vec().map_err(
            |e| match e {
                ureq::Error::BodyExceedsLimit(_) => Failure::TooLarge(None),
                other => Failure::Transport(other),
            },
        )?;
        self.out.detail(format!(
            "< HTTP {status} ({} bytes, {} ms)",
            body.len(),
            started.elapsed().as_millis()
        ));
        Ok(Response { status, body, retry_after, location })
    }

    // --- typed calls -----------------------------------------------------------------------

    /// A GET returning JSON; signed when `signer` is given (the miner's reads are unsigned).
    pub fn get_json(&self, path: &str, query: &[(String, String)], signer: Option<&Hotkey>) -> Result<Value> {
        let spec = RequestSpec::new("GET", path, query, None)?;
        self.send(&spec, signer)?.json(&format!("GET {}", spec.path))
    }

    /// An unsigned GET returning text (onboarding markdown).
    pub fn get_text(&self, path: &str) -> Result<String> {
        let spec = RequestSpec::new("GET", path, &[], None)?;
        Ok(self.send(&spec, None)?.text())
    }

    /// A signed POST of `body` (sent as the canonical bytes that were signed).
    pub fn post_json(&self, path: &str, body: &Value, hotkey: &Hotkey) -> Result<Value> {
        let spec = RequestSpec::new("POST", path, &[], Some(body))?;
        self.send(&spec, Some(hotkey))?.json(&format!("POST {}", spec.path))
    }

    /// A signed POST without a body (the hash of empty bytes is signed).
    pub fn post_empty(&self, path: &str, hotkey: &Hotkey) -> Result<Value> {
        let spec = RequestSpec::new("POST", path, &[], None)?;
        self.send(&spec, Some(hotkey))?.json(&format!("POST {}", spec.path))
    }
}

// --- failures ----------------------------------------------------------------------------------

enum Failure {
    Build(http::Error),
    Transport(ureq::Error),
    TooLarge(Option<u64>),
}

impl Failure {
    fn into_error(self, what: &str, base: &str, timeout: Duration) -> Error {
        match self {
            Failure::Build(e) => Error::usage(format!("cannot build the request {what}"))
                .with_code("bad_request")
                .with_source(e),
            Failure::TooLarge(length) => {
                let size = length.map(|n| format!(" ({n} bytes)")).unwrap_or_default();
                Error::server(format!(
                    "the coordinator's answer to {what} is larger than {} MiB{size}; refused",
                    MAX_RESPONSE_BYTES / (1024 * 1024)
                ))
                .with_code("response_too_large")
            }
            Failure::Transport(e) => transport_error(e, what, base, timeout),
        }
    }
}

fn transport_error(e: ureq::Error, what: &str, base: &str, timeout: Duration) -> Error {
    let unreachable = || {
        Error::network(format!("cannot reach the coordinator at {base} ({what})"))
            .with_hint("check the network and --coordinator-url / BITSOTA_COORDINATOR_URL")
    };
    match e {
        ureq::Error::Timeout(ureq::Timeout::Connect | ureq::Timeout::Resolve) => Error::network(format!(
            "cannot connect to the coordinator at {base} within {} s ({what})",
            CONNECT_TIMEOUT.as_secs()
        ))
        .with_code("timeout")
        .with_hint("check the network and --coordinator-url / BITSOTA_COORDINATOR_URL"),
        ureq::Error::Timeout(_) => Error::network(format!(
            "the coordinator at {base} did not answer {what} within {:.0} s",
            timeout.as_secs_f64().max(1.0)
        ))
        .with_code("timeout")
        .with_hint("retry later; the coordinator may be overloaded"),
        ureq::Error::HostNotFound => unreachable().with_source(e),
        ureq::Error::ConnectionFailed => unreachable().with_source(e),
        ureq::Error::Io(ref io) if io.kind() == ErrorKind::TimedOut => {
            Error::network(format!("the coordinator at {base} did not answer {what} in time"))
                .with_code("timeout")
                .with_source(e)
        }
        ureq::Error::Io(_) => unreachable().with_source(e),
        ureq::Error::BodyExceedsLimit(_) => Failure::TooLarge(None).into_error(what, base, timeout),
        ureq::Error::Protocol(_) | ureq::Error::LargeResponseHeader(..) => {
            Error::server(format!("the coordinator sent a malformed HTTP answer to {what}"))
                .with_code("bad_response")
                .with_source(e)
        }
        ureq::Error::BadUri(_) | ureq::Error::Http(_) | ureq::Error::RequireHttpsOnly(_) => {
            Error::usage(format!("cannot build the request {what}")).with_code("bad_request").with_source(e)
        }
        other => unreachable().with_source(other),
    }
}

/// Connect errors (a connect timeout too: 10 s) and resets are worth another try; other
/// timeouts are not (60 s each).
fn is_transient(e: &ureq::Error) -> bool {
    match e {
        ureq::Error::ConnectionFailed | ureq::Error::Timeout(ureq::Timeout::Connect) => true,
        ureq::Error::Io(io) => matches!(
            io.kind(),
            ErrorKind::ConnectionRefused
                | ErrorKind::ConnectionReset
                | ErrorKind::ConnectionAborted
                | ErrorKind::BrokenPipe
                | ErrorKind::UnexpectedEof
        ),
        _ => false,
    }
}

fn backoff_delay(base: Duration, attempt: u32) -> Duration {
    base.saturating_mul(1u32 << attempt.min(8))
}

/// Whether a response status asks for a retry, and after how long. A `Retry-After` beyond
/// 30 s is not waited for: the 429 is reported instead.
fn retry_delay_for_status(resp: &Response, base: Duration, attempt: u32) -> Option<Duration> {
    match resp.status {
        502..=504 => Some(backoff_delay(base, attempt)),
        429 => match resp.retry_after.as_deref().map(str::trim).and_then(|v| v.parse::<u64>().ok()) {
            Some(secs) if Duration::from_secs(secs) > MAX_RETRY_AFTER => None,
            Some(secs) => Some(Duration::from_secs(secs).max(base)),
            None => Some(backoff_delay(base, attempt)),
        },
        _ => None,
    }
}

/// Map a status ≥ 300 to its error (401/403 → 4, others → 5), with the server's `detail`.
fn check_status(resp: Response, what: &str) -> Result<Response> {
    let status = resp.status;
    if status < 300 {
        return Ok(resp);
    }
    if status < 400 {
        let location = resp.location.as_deref().unwrap_or("nowhere");
        return Err(Error::server(format!(
            "the coordinator answered {what} with HTTP {status}, a redirect to {location}, which is not followed"
        ))
        .with_code("unexpected_redirect")
        .with_hint("check --coordinator-url"));
    }
    let detail = error_detail(&resp.body);
    let detail_text = if detail.is_empty() { String::new() } else { format!(": {detail}") };
    if status == 401 || status == 403 {
        return Err(Error::auth(format!("the coordinator refused {what}: HTTP {status}{detail_text}"))
            .with_code(if status == 401 { "unauthorized" } else { "forbidden" })
            .with_hint(
                "check that the signing hotkey (`git bitsota whoami`) is the right one, registered on \
                 SN94, and that this machine's clock is synced",
            ));
    }
    let code = match status {
        404 => "not_found",
        409 => "conflict",
        422 => "invalid_request",
        429 => "rate_limited",
        400..=499 => "rejected",
        _ => "server_error",
    };
    Err(Error::server(format!("the coordinator refused {what}: HTTP {status}{detail_text}")).with_code(code))
}

/// FastAPI's `{"detail": "…"}` or `{"detail": [{"loc": […], "msg": "…"}]}`, else the start of
/// the body.
pub fn error_detail(body: &[u8]) -> String {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return quote_body(body);
    };
    match value.get("detail") {
        Some(Value::String(text)) => quote_text(text),
        Some(Value::Array(items)) => {
            let parts: Vec<String> = items
                .iter()
                .map(|item| {
                    let msg = item.get("msg").and_then(Value::as_str).map(str::to_string);
                    let loc = item.get("loc").and_then(Value::as_array).map(|parts| {
                        parts
                            .iter()
                            .map(|p| p.as_str().map(str::to_string).unwrap_or_else(|| p.to_string()))
                            .collect::<Vec<_>>()
                            .join(".")
                    });
                    match (msg, loc) {
                        (Some(msg), Some(loc)) if !loc.is_empty() => format!("{loc}: {msg}"),
                        (Some(msg), _) => msg,
                        _ => item.to_string(),
                    }
                })
                .collect();
            quote_text(&parts.join("; "))
        }
        Some(other) => quote_text(&other.to_string()),
        None => quote_text(&value.to_string()),
    }
}

fn quote_body(body: &[u8]) -> String {
    if body.is_empty() {
        return "(empty body)".to_string();
    }
    quote_text(&String::from_utf8_lossy(body))
}

/// At most QUOTE_CHARS characters, on one line, control characters made visible.
pub(super) fn quote_text(text: &str) -> String {
    let text = text.trim();
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        if i == QUOTE_CHARS {
            out.push('…');
            break;
        }
        match c {
            '\n' | '\r' | '\t' => out.push(' '),
            c if c.is_control() => out.push_str(&c.escape_default().to_string()),
            c => out.push(c),
        }
    }
    out
}

fn env_duration_secs(name: &str) -> Option<Duration> {
    let value = std::env::var(name).ok()?;
    let secs: f64 = value.trim().parse().ok()?;
    (secs.is_finite() && secs > 0.0 && secs < 86_400.0).then(|| Duration::from_secs_f64(secs))
}

fn env_millis(name: &str) -> Option<Duration> {
    let value = std::env::var(name).ok()?;
    value.trim().parse::<u64>().ok().filter(|ms| *ms <= 60_000).map(Duration::from_millis)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn base_url_rules() {
        assert_eq!(
            check_base_url("https://autoresearch.bitsota.com/").unwrap(),
            "https://autoresearch.bitsota.com"
        );
        assert_eq!(check_base_url("https://h.example/prefix").unwrap(), "https://h.example/prefix");
        for ok in ["http://127.0.0.1:8080", "http://127.3.4.5", "http://localhost:1", "http://[::1]:99"] {
            assert!(check_base_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://example.com",
            "ftp://x",
            "example.com",
            "https://",
            "http://10.0.0.1",
            "https://u:p@h.example",
        ] {
            let err = check_base_url(bad).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{bad}");
        }
    }

    #[test]
    fn connect_timeouts_say_so_and_are_retried() {
        let connect = || ureq::Error::Timeout(ureq::Timeout::Connect);
        let err = transport_error(connect(), "GET /x", "https://h.example", GET_TIMEOUT);
        assert_eq!((err.exit_code(), err.code()), (3, "timeout"));
        assert!(err.message().contains("cannot connect") && err.message().contains("10 s"), "{err:?}");
        assert!(is_transient(&connect()));
        let global = ureq::Error::Timeout(ureq::Timeout::Global);
        assert!(!is_transient(&global));
        let err = transport_error(global, "GET /x", "https://h.example", GET_TIMEOUT);
        assert!(err.message().contains("within 60 s"), "{err:?}");
    }

    #[test]
    fn details_are_quoted() {
        assert_eq!(error_detail(br#"{"detail":"claim expired"}"#), "claim expired");
        assert_eq!(
            error_detail(br#"{"detail":[{"loc":["body","summary"],"msg":"field required","type":"x"}]}"#),
            "body.summary: field required"
        );
        assert_eq!(error_detail(b"<html>\nBad gateway</html>"), "<html> Bad gateway</html>");
        assert_eq!(error_detail(b""), "(empty body)");
    }

    #[test]
    fn spec_rejects_queries_in_paths() {
        assert!(RequestSpec::new("GET", "/api/v1/claims?x=1", &[], None).is_err());
        assert!(RequestSpec::new("G ET", "/x", &[], None).is_err());
        let spec = RequestSpec::new(
            "post",
            "api/v1/x",
            &[("a".into(), "b c".into())],
            Some(&json!({"b":1,"a":2.0})),
        )
        .unwrap();
        assert_eq!(spec.method, "POST");
        assert_eq!(spec.path, "/api/v1/x");
        assert_eq!(spec.query, "a=b+c");
        assert_eq!(spec.body.as_deref(), Some(&br#"{"a":2.0,"b":1}"#[..]));
    }
}
