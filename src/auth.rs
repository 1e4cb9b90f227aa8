//! BT-AUTH-V1 request signing (protocol.md §3), byte-compatible with the reference Python
//! client `miner/research_auth.py`.
//!
//! The signed message is six lines joined by `\n`, no trailing newline:
//! `BT-AUTH-V1`, the upper-cased method, the route path (leading `/`, no base-URL prefix, no
//! query), the urlencoded query (empty when none), the unix timestamp in whole seconds, and
//! the lowercase hex SHA-256 of the canonical body bytes (of `b""` when there is no body).
//! The three headers carry the ss58 address, the timestamp and the bare lowercase hex
//! signature.
//!
//! [`verify_request`] is what the coordinator must be doing; the test fake uses it.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::canonical_json::sha256_hex;
use crate::keys::Hotkey;

pub const SCHEME: &str = "BT-AUTH-V1";
pub const HEADER_HOTKEY: &str = "X-Hotkey";
pub const HEADER_TIMESTAMP: &str = "X-Timestamp";
pub const HEADER_SIGNATURE: &str = "X-Signature";

/// SHA-256 of the empty body (requests without a body, such as cancel).
pub const EMPTY_BODY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// The three BT-AUTH-V1 headers of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHeaders {
    pub hotkey: String,
    pub timestamp: String,
    /// 128 lowercase hex digits, no `0x`.
    pub signature: String,
}

impl SignedHeaders {
    /// `(name, value)` pairs in the order they are sent.
    pub fn pairs(&self) -> [(&'static str, &str); 3] {
        [
            (HEADER_HOTKEY, self.hotkey.as_str()),
            (HEADER_TIMESTAMP, self.timestamp.as_str()),
            (HEADER_SIGNATURE, self.signature.as_str()),
        ]
    }
}

/// A signed request: the exact message that was signed and the headers carrying it.
#[derive(Debug, Clone)]
pub struct SignedRequest {
    pub message: String,
    pub headers: SignedHeaders,
}

/// The route path as the reference signs it: prepend `/` when missing, nothing else.
pub fn normalize_path(path: &str) -> String {
    if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    }
}

/// Python `urllib.parse.urlencode(pairs)`: `quote_plus` of each key and value (UTF-8, space →
/// `+`, only `A-Za-z0-9_.-~` kept, uppercase `%XX`), `k=v` joined by `&`, order kept.
pub fn encode_query(pairs: &[(String, String)]) -> String {
    pairs.iter().map(|(k, v)| format!("{}={}", quote_plus(k), quote_plus(v))).collect::<Vec<_>>().join("&")
}

fn quote_plus(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-' | b'~' => out.push(byte as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// Lowercase hex SHA-256 of the body bytes that are sent; `None` (no body) hashes `b""`.
pub fn body_sha256(body: Option<&[u8]>) -> String {
    sha256_hex(body.unwrap_or(b""))
}

/// The six-line BT-AUTH-V1 message. `path` is used as given (see [`normalize_path`]),
/// `query` without a leading `?`.
pub fn signing_message(method: &str, path: &str, query: &str, timestamp: &str, body_sha256: &str) -> String {
    format!("{SCHEME}\n{}\n{path}\n{query}\n{timestamp}\n{body_sha256}", method.to_ascii_uppercase())
}

/// Unix time in whole seconds, as `X-Timestamp` carries it.
pub fn now_unix() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Sign one request. `body` must be exactly the bytes that will be sent (the canonical JSON).
pub fn sign_request(
    hotkey: &Hotkey,
    method: &str,
    path: &str,
    query: &str,
    body: Option<&[u8]>,
    timestamp: u64,
) -> SignedRequest {
    let timestamp = timestamp.to_string();
    let message = signing_message(method, &normalize_path(path), query, &timestamp, &body_sha256(body));
    let signature = hex::encode(hotkey.sign(message.as_bytes()));
    SignedRequest {
        message,
        headers: SignedHeaders { hotkey: hotkey.ss58().to_string(), timestamp, signature },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_matches_protocol_vector() {
        let body = br#"{"claim_description":"manual miner run"}"#;
        let hash = body_sha256(Some(body));
        assert_eq!(hash, "c1be902f35c60f63f4624eeb84549ac540c54eec7a0fe818943f81145cec43ad");
        let msg = signing_message(
            "post",
            "/api/v1/tasks/c54218ce-9ffd-4389-b97d-2d952adb4a1a/claim",
            "",
            "1750000000",
            &hash,
        );
        assert_eq!(
            msg,
            "BT-AUTH-V1\nPOST\n/api/v1/tasks/c54218ce-9ffd-4389-b97d-2d952adb4a1a/claim\n\n1750000000\nc1be902f35c60f63f4624eeb84549ac540c54eec7a0fe818943f81145cec43ad"
        );
        assert_eq!(body_sha256(None), EMPTY_BODY_SHA256);
    }

    #[test]
    fn query_encoding_is_pythons_urlencode() {
        let q = |pairs: &[(&str, &str)]| {
            encode_query(&pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>())
        };
        assert_eq!(
            q(&[("task_id", "abc"), ("status", "pending_verification")]),
            "task_id=abc&status=pending_verification"
        );
        assert_eq!(q(&[("q", "a b/ü")]), "q=a+b%2F%C3%BC");
        assert_eq!(q(&[("k~", "x=y&z")]), "k~=x%3Dy%26z");
        assert_eq!(q(&[]), "");
    }

    #[test]
    fn path_gets_a_leading_slash() {
        assert_eq!(normalize_path("api/v1/tasks"), "/api/v1/tasks");
        assert_eq!(normalize_path("/api/v1/tasks"), "/api/v1/tasks");
    }
}
