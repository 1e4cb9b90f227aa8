//! The coordinator's side of BT-AUTH-V1, written here from protocol.md §3 rather than from
//! the client's code, so the fake coordinator checks our signatures independently: the
//! message is rebuilt from the received request, the received JSON body is re-canonicalised
//! (the reference client sends non-canonical bytes), and sp-core verifies the sr25519
//! signature against the public key in `X-Hotkey`.

use sha2::{Digest, Sha256};
use sp_core::crypto::{Pair as _, Ss58Codec};
use sp_core::sr25519;

use git_bitsota::test_support::canonicalize_str;

pub const HEADER_HOTKEY: &str = "X-Hotkey";
pub const HEADER_TIMESTAMP: &str = "X-Timestamp";
pub const HEADER_SIGNATURE: &str = "X-Signature";

/// Why a server would refuse a signed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyError {
    MissingHeader(&'static str),
    BadHotkey,
    BadTimestamp,
    StaleTimestamp { skew: u64, window: u64 },
    BadSignatureEncoding,
    BadBody(String),
    BadSignature,
}

impl std::fmt::Display for VerifyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VerifyError::MissingHeader(name) => write!(f, "missing header {name}"),
            VerifyError::BadHotkey => write!(f, "X-Hotkey is not a format-42 ss58 address"),
            VerifyError::BadTimestamp => write!(f, "X-Timestamp is not a whole number of seconds"),
            VerifyError::StaleTimestamp { skew, window } => {
                write!(f, "stale timestamp: {skew} s away from the server clock (allowed {window} s)")
            }
            VerifyError::BadSignatureEncoding => write!(f, "X-Signature is not 128 lowercase hex digits"),
            VerifyError::BadBody(why) => write!(f, "body is not canonicalisable JSON: {why}"),
            VerifyError::BadSignature => write!(f, "signature does not verify"),
        }
    }
}

/// sr25519 verification of `message` by `public`.
pub fn sr25519_verify(public: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> bool {
    sr25519::Pair::verify(
        &sr25519::Signature::from_raw(*signature),
        message,
        &sr25519::Public::from_raw(*public),
    )
}

/// The public key of a format-42 ss58 address.
fn public_of(ss58: &str) -> Option<[u8; 32]> {
    let (public, format) = sr25519::Public::from_ss58check_with_version(ss58).ok()?;
    (u16::from(format) == 42).then_some(public.0)
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Verify a received request the way the coordinator must; the timestamp must be within
/// `window` seconds of `now`. `header` looks a header up by name. Returns the signer's key.
pub fn verify_request(
    method: &str,
    path: &str,
    query: &str,
    body: &[u8],
    header: impl Fn(&str) -> Option<String>,
    now: u64,
    window: u64,
) -> Result<[u8; 32], VerifyError> {
    let hotkey = header(HEADER_HOTKEY).ok_or(VerifyError::MissingHeader(HEADER_HOTKEY))?;
    let timestamp = header(HEADER_TIMESTAMP).ok_or(VerifyError::MissingHeader(HEADER_TIMESTAMP))?;
    let signature = header(HEADER_SIGNATURE).ok_or(VerifyError::MissingHeader(HEADER_SIGNATURE))?;
    let public = public_of(&hotkey).ok_or(VerifyError::BadHotkey)?;
    if timestamp.is_empty() || !timestamp.bytes().all(|b| b.is_ascii_digit()) {
        return Err(VerifyError::BadTimestamp);
    }
    let ts: u64 = timestamp.parse().map_err(|_| VerifyError::BadTimestamp)?;
    let skew = ts.abs_diff(now);
    if skew > window {
        return Err(VerifyError::StaleTimestamp { skew, window });
    }
    let lower_hex =
        signature.len() == 128 && signature.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    let mut sig = [0u8; 64];
    if !lower_hex || hex::decode_to_slice(&signature, &mut sig).is_err() {
        return Err(VerifyError::BadSignatureEncoding);
    }
    // An empty body hashes as the empty string; a JSON body as its canonical form.
    let body_hash = if body.is_empty() {
        sha256_hex(b"")
    } else {
        let text = std::str::from_utf8(body).map_err(|_| VerifyError::BadBody("not UTF-8".into()))?;
        let canonical = canonicalize_str(text).map_err(|e| VerifyError::BadBody(e.to_string()))?;
        sha256_hex(canonical.as_bytes())
    };
    let path = if path.starts_with('/') { path.to_string() } else { format!("/{path}") };
    let message =
        format!("BT-AUTH-V1\n{}\n{path}\n{query}\n{timestamp}\n{body_hash}", method.to_ascii_uppercase());
    if sr25519_verify(&public, message.as_bytes(), &sig) {
        Ok(public)
    } else {
        Err(VerifyError::BadSignature)
    }
}
