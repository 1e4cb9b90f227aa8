//! Fetching an artifact URI the way validators do (protocol.md §7.6, §10.2): one GET,
//! redirects never followed, 60 s to connect and 60 s per read, `Content-Length` compared with
//! the size the sidecar states. The body is streamed to disk, never held in memory, and has no
//! size cap (artifacts are gigabytes).
//!
//! Agent rules as for the coordinator (client.rs): proxies from the environment for https,
//! none for plain http (which is only accepted on loopback hosts).
//!
//! Test-only knob: `BITSOTA_ARTIFACT_TIMEOUT_SECS` replaces the 60 s connect/read limits
//! (seconds, fractions allowed), so a stalling server is caught quickly in tests.

use std::fs::{self, File, OpenOptions};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ureq::http::Uri;
use ureq::Agent;

use super::hash::{self, CopyError, Digested};
use crate::check::Problem;
use crate::error::{Error, Result};
use crate::output::Output;

/// Validators' limit for connecting and for each read.
pub const VALIDATOR_TIMEOUT: Duration = Duration::from_secs(60);
pub const ENV_TIMEOUT: &str = "BITSOTA_ARTIFACT_TIMEOUT_SECS";

/// A checked artifact URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactUri {
    pub text: String,
    /// `http://` on a loopback host: usable here, but validators will not fetch it.
    pub local_http: bool,
}

/// Check an artifact URI: `https://HOST/…`, or `http://` on a loopback host. A bad URI is a
/// usage error (exit 2).
pub fn parse_uri(text: &str) -> Result<ArtifactUri> {
    let trimmed = text.trim();
    let bad = |why: &str| {
        Error::usage(format!("invalid artifact URI {trimmed:?}: {why}"))
            .with_code("artifact_uri")
            .with_hint("use the https:// URL that serves the artifact's bytes itself")
    };
    if trimmed.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("it contains spaces or control characters"));
    }
    let uri: Uri = trimmed.parse().map_err(|_| bad("it is not a URL"))?;
    let Some(host) = uri.host().filter(|h| !h.is_empty()) else {
        return Err(bad("it has no host"));
    };
    if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
        return Err(bad("credentials in the URL are not supported"));
    }
    match uri.scheme_str().map(str::to_ascii_lowercase).as_deref() {
        Some("https") => Ok(ArtifactUri { text: trimmed.to_string(), local_http: false }),
        Some("http") if crate::client::is_loopback(host) => {
            Ok(ArtifactUri { text: trimmed.to_string(), local_http: true })
        }
        Some("http") => Err(bad(
            "validators only download https:// (http:// is accepted for loopback hosts, for local tests)",
        )),
        _ => Err(bad("the scheme must be https://")),
    }
}

/// The warning for a loopback `http://` artifact.
pub fn local_http_warning(uri: &ArtifactUri) -> Option<String> {
    uri.local_http.then(|| {
        format!("{} is plain http on this machine: fine for a local rehearsal, but validators will not download it", uri.text)
    })
}

/// What the validator would see at the URI, and what was read when the body was downloaded.
#[derive(Debug, Clone, Default)]
pub struct Fetched {
    pub uri: String,
    pub http_status: Option<u16>,
    pub content_length: Option<u64>,
    pub downloaded_bytes: Option<u64>,
    pub sha256: Option<String>,
    /// Where the downloaded bytes are (in the cache), when the whole body was read.
    pub file: Option<PathBuf>,
    pub problems: Vec<Problem>,
}

impl Fetched {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }

    /// The `artifact verify --json` object of cli.md §10.5.
    pub fn to_json(&self) -> serde_json::Value {
        let problems: Vec<serde_json::Value> =
            self.problems.iter().map(|p| serde_json::json!({"code": p.code, "message": p.message})).collect();
        serde_json::json!({
            "version": 1,
            "ok": self.ok(),
            "uri": self.uri,
            "http_status": self.http_status,
            "content_length": self.content_length,
            "downloaded_bytes": self.downloaded_bytes,
            "sha256": self.sha256,
            "problems": problems,
        })
    }
}

/// What the sidecar says the artifact is.
#[derive(Debug, Clone, Default)]
pub struct Expected {
    pub sha256: Option<String>,
    pub size_bytes: Option<u64>,
}

/// One validator-like GET of `uri`. Without `download_dir` it stops after the headers and
/// reads no body; with it, the body is streamed into a file there (named by its sha256 once
/// complete) and checked against `expected`. Network trouble becomes a problem, not an error:
/// errors are only local (the download directory cannot be written).
pub fn fetch(
    uri: &ArtifactUri,
    expected: &Expected,
    download_dir: Option<&Path>,
    out: &Output,
) -> Result<Fetched> {
    let mut fetched = Fetched { uri: uri.text.clone(), ..Fetched::default() };
    let agent = agent(uri);
    out.detail(format!("> GET {} (artifact)", uri.text));
    let response = agent.get(&uri.text).header("Accept-Encoding", "identity").call();
    let mut response = match response {
        Ok(response) => response,
        Err(e) => {
            fetched.problems.push(unreachable(&uri.text, &transport_words(&e)));
            return Ok(fetched);
        }
    };
    let status = response.status().as_u16();
    fetched.http_status = Some(status);
    let header =
        |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(|v| v.trim().to_string());
    fetched.content_length = header("content-length").and_then(|v| v.parse::<u64>().ok());
    out.detail(format!("< HTTP {status}, Content-Length {:?}", fetched.content_length));
    if (300..400).contains(&status) {
        let location = header("location").unwrap_or_else(|| "(no Location header)".into());
        let shown = crate::served_values::shorten(&crate::served_values::one_line(&location), 300);
        fetched.problems.push(
            Problem::new(
                "artifact_redirect",
                format!(
                    "{} answers HTTP {status}, a redirect to {shown}; validators do not follow redirects",
                    uri.text
                ),
            )
            .with_hint(
                "use a URL that serves the bytes itself: Hugging Face `resolve/` URLs redirect to a CDN",
            ),
        );
        return Ok(fetched);
    }
    if !(200..300).contains(&status) {
        fetched.problems.push(unreachable(&uri.text, &format!("HTTP {status}")));
        return Ok(fetched);
    }
    if let (Some(length), Some(size)) = (fetched.content_length, expected.size_bytes) {
        if length != size {
            fetched.problems.push(size_mismatch(format!(
                "{} serves Content-Length {length} but artifact_size_bytes is {size}",
                uri.text
            )));
        }
    }
    let Some(dir) = download_dir else {
        return Ok(fetched);
    };

    let total = fetched.content_length;
    let progress = out.progress_bytes(&format!("downloading {}", uri.text), total);
    let partial = Partial::create(dir)?;
    let reader = response.body_mut().as_reader();
    let copied = hash::copy_hashing(reader, partial.file(), &progress);
    progress.finish();
    let digested = match copied {
        Ok(digested) => digested,
        Err(CopyError::Read(e)) => {
            fetched
                .problems
                .push(unreachable(&uri.text, &format!("the download broke off: {}", io_words(&e))));
            return Ok(fetched);
        }
        Err(CopyError::Write(e)) => {
            return Err(Error::usage(format!("cannot write the download into {}", dir.display()))
                .with_code("artifact_cache")
                .with_source(e));
        }
    };
    let Digested { sha256, size_bytes } = digested.clone();
    fetched.downloaded_bytes = Some(size_bytes);
    fetched.sha256 = Some(sha256.clone());
    fetched.file = Some(partial.keep_as(&sha256)?);
    if let Some(size) = expected.size_bytes {
        if size != size_bytes {
            fetched.problems.push(size_mismatch(format!(
                "{} served {size_bytes} bytes but artifact_size_bytes is {size}",
                uri.text
            )));
        }
    }
    if let Some(want) = expected.sha256.as_deref() {
        if !want.eq_ignore_ascii_case(&sha256) {
            fetched.problems.push(
                Problem::new(
                    "artifact_sha256_mismatch",
                    format!("the bytes at {} have sha256 {sha256} but artifact_sha256 is {}", uri.text, want.to_ascii_lowercase()),
                )
                .with_hint("run `git bitsota artifact set URI` to record what the URI serves, or upload the right file"),
            );
        }
    }
    Ok(fetched)
}

fn unreachable(uri: &str, why: &str) -> Problem {
    Problem::new("artifact_unreachable", format!("validators cannot download {uri}: {why}"))
        .with_hint("the URL must be public and answer a plain GET with the file")
}

fn size_mismatch(message: String) -> Problem {
    Problem::new("artifact_size_mismatch", message).with_hint(
        "run `git bitsota artifact set URI` to record what the URI serves, or upload the right file",
    )
}

/// The agent: validator limits, no redirects, statuses as values, proxies only for https.
fn agent(uri: &ArtifactUri) -> Agent {
    let timeout = timeout();
    let mut config = Agent::config_builder();
    if uri.local_http {
        config = config.proxy(None);
    }
    let config = config
        .timeout_connect(Some(timeout))
        .timeout_per_read(Some(timeout))
        .http_status_as_error(false)
        .max_redirects(0)
        .max_redirects_will_error(false)
        .user_agent(format!("git-bitsota/{}", env!("CARGO_PKG_VERSION")))
        .build();
    Agent::new_with_config(config)
}

/// The connect/read limit: the validator's 60 s unless the test knob says otherwise.
pub fn timeout() -> Duration {
    std::env::var(ENV_TIMEOUT)
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0 && *s < 86_400.0)
        .map(Duration::from_secs_f64)
        .unwrap_or(VALIDATOR_TIMEOUT)
}

fn transport_words(e: &ureq::Error) -> String {
    match e {
        ureq::Error::Timeout(ureq::Timeout::Connect | ureq::Timeout::Resolve) => {
            format!("no connection within {:.0} s", timeout().as_secs_f64())
        }
        ureq::Error::Timeout(_) => format!("no answer within {:.0} s", timeout().as_secs_f64().max(1.0)),
        ureq::Error::HostNotFound => "the host name does not resolve".to_string(),
        ureq::Error::ConnectionFailed => "the connection was refused".to_string(),
        ureq::Error::Io(io) => io_words(io),
        other => other.to_string(),
    }
}

fn io_words(e: &std::io::Error) -> String {
    match e.kind() {
        ErrorKind::TimedOut | ErrorKind::WouldBlock => {
            format!("no data for {:.0} s", timeout().as_secs_f64().max(1.0))
        }
        ErrorKind::ConnectionRefused => "the connection was refused".to_string(),
        _ => {
            // ureq wraps its own errors (a read timeout among them) in io errors.
            let text = e.to_string();
            if text.to_ascii_lowercase().contains("timeout")
                || text.to_ascii_lowercase().contains("timed out")
            {
                format!("no data for {:.0} s ({text})", timeout().as_secs_f64().max(1.0))
            } else {
                text
            }
        }
    }
}

/// Remove the partial downloads of processes that no longer exist (killed mid-download).
fn remove_abandoned(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(".partial-")) else { continue };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<i32>().ok()) else { continue };
        // Signal 0 only asks whether the process exists.
        let gone = rustix::process::Pid::from_raw(pid)
            .is_some_and(|pid| rustix::process::test_kill_process(pid) == Err(rustix::io::Errno::SRCH));
        if gone {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// A download in progress: a new file in the download directory, removed unless kept.
struct Partial {
    path: PathBuf,
    file: File,
    kept: bool,
}

impl Partial {
    fn create(dir: &Path) -> Result<Partial> {
        let cannot = |e: std::io::Error| {
            Error::usage(format!("cannot create a download file in {}", dir.display()))
                .with_code("artifact_cache")
                .with_source(e)
        };
        fs::create_dir_all(dir).map_err(cannot)?;
        remove_abandoned(dir);
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let path = dir.join(format!(".partial-{}-{stamp}", std::process::id()));
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.custom_flags(libc::O_NOFOLLOW);
        }
        let file = options.open(&path).map_err(cannot)?;
        Ok(Partial { path, file, kept: false })
    }

    fn file(&self) -> &File {
        &self.file
    }

    /// Make the download durable and name it `<sha256>` in its directory.
    fn keep_as(mut self, sha256: &str) -> Result<PathBuf> {
        let target = self.path.with_file_name(sha256);
        // Not kept (removed on drop) unless both steps succeed.
        self.file.sync_all().and_then(|_| fs::rename(&self.path, &target)).map_err(|e| {
            Error::usage(format!("cannot store the download as {}", target.display()))
                .with_code("artifact_cache")
                .with_source(e)
        })?;
        self.kept = true;
        Ok(target)
    }
}

impl Drop for Partial {
    fn drop(&mut self) {
        if !self.kept {
            let _ = fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_rules() {
        let https = parse_uri(" https://huggingface.co/x/resolve/main/a.zip?download=1 ").unwrap();
        assert_eq!(https.text, "https://huggingface.co/x/resolve/main/a.zip?download=1");
        assert!(!https.local_http);
        for local in ["http://127.0.0.1:8080/a.zip", "http://localhost/a", "http://[::1]:9/a"] {
            assert!(parse_uri(local).unwrap().local_http, "{local}");
        }
        for bad in [
            "http://example.com/a.zip",
            "ftp://example.com/a.zip",
            "file:///tmp/a.zip",
            "https://user:pw@example.com/a.zip",
            "https://example.com/a b.zip",
            "https:///a.zip",
            "a.zip",
        ] {
            assert_eq!(parse_uri(bad).unwrap_err().code(), "artifact_uri", "{bad}");
        }
    }

    #[test]
    fn rehearsal_means_a_loopback_coordinator() {
        assert!(crate::artifact::is_local_rehearsal("http://127.0.0.1:4000"));
        assert!(!crate::artifact::is_local_rehearsal("https://127.0.0.1:4000"));
        assert!(!crate::artifact::is_local_rehearsal("http://example.com"));
        assert!(!crate::artifact::is_local_rehearsal("https://autoresearch.bitsota.com"));
    }
}
