//! The keyfile's JSON: the secret it holds, checked against the public fields it names.

use std::path::Path;

use serde_json::{Map, Value};
use sp_core::crypto::Pair as _;
use sp_core::sr25519;
use zeroize::{Zeroize, Zeroizing};

use super::{pair_from_phrase, ss58_of, ss58_to_public};
use crate::error::{Error, Result};

/// Parsed keyfile JSON whose strings (the secrets among them) are wiped when dropped.
pub(super) struct WipedJson(Value);

impl Drop for WipedJson {
    fn drop(&mut self) {
        wipe_strings(&mut self.0);
    }
}

pub(super) fn wipe_strings(value: &mut Value) {
    match value {
        Value::String(text) => text.zeroize(),
        Value::Array(items) => items.iter_mut().for_each(wipe_strings),
        Value::Object(fields) => fields.values_mut().for_each(wipe_strings),
        _ => {}
    }
}

/// A bittensor keyfile: one JSON object, any key order, `null` for absent values, unknown
/// keys ignored. Secret: `secretPhrase` > `secretSeed` > `privateKey` (bittensor-wallet's
/// order); public fields, when present, must match the derived key.
pub(super) fn pair_from_keyfile_json(bytes: &[u8], path: &Path) -> Result<sr25519::Pair> {
    let doc = parse_json(bytes, path)?;
    let Some(fields) = doc.0.as_object() else {
        return Err(bad_keyfile(path, "it is JSON but not an object"));
    };
    check_crypto_type(fields, path)?;
    let pair = derive_pair(fields, path)?;
    check_public_fields(fields, &pair.public().0, path)?;
    Ok(pair)
}

pub(super) fn bad_keyfile(path: &Path, why: &str) -> Error {
    Error::auth(format!("cannot use keyfile {}: {why}", path.display())).with_code("bad_keyfile")
}

/// Parse without ever echoing content: serde_json's syntax errors carry only a position,
/// but we build the message ourselves from that position to be sure.
pub(super) fn parse_json(bytes: &[u8], path: &Path) -> Result<WipedJson> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(bad_keyfile(path, "it is empty"));
    }
    serde_json::from_slice(bytes).map(WipedJson).map_err(|e| {
        bad_keyfile(
            path,
            &format!(
                "it is neither JSON nor a known encrypted format (error at line {}, column {})",
                e.line(),
                e.column()
            ),
        )
    })
}

/// `cryptoType` absent or 1 is sr25519; 0 is ed25519, which would give a different address.
pub(super) fn check_crypto_type(fields: &Map<String, Value>, path: &Path) -> Result<()> {
    let shown = match fields.get("cryptoType") {
        None | Some(Value::Null) => return Ok(()),
        Some(value) => match value.as_u64() {
            Some(1) => return Ok(()),
            Some(0) => "0 (ed25519)".to_string(),
            Some(other) => other.to_string(),
            None => "that is not an integer".to_string(),
        },
    };
    Err(Error::auth(format!(
        "keyfile {} has cryptoType {shown}; only sr25519 (cryptoType 1) hotkeys are supported",
        path.display()
    ))
    .with_code("unsupported_key_type"))
}

/// A string field; absent and `null` are `None`. Other types are an error that names the
/// field but never shows its value.
pub(super) fn text_field<'a>(
    fields: &'a Map<String, Value>,
    name: &str,
    path: &Path,
) -> Result<Option<&'a str>> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(bad_keyfile(path, &format!("`{name}` is not a string"))),
    }
}

pub(super) fn derive_pair(fields: &Map<String, Value>, path: &Path) -> Result<sr25519::Pair> {
    if let Some(phrase) = text_field(fields, "secretPhrase", path)? {
        return pair_from_phrase(phrase, &format!("`secretPhrase` in {}", path.display()));
    }
    for (name, len) in [("secretSeed", 32), ("privateKey", 64)] {
        if let Some(text) = text_field(fields, name, path)? {
            let bytes = decode_hex_secret(text, len).ok_or_else(|| {
                bad_keyfile(path, &format!("`{name}` is not 0x followed by {} hex digits", 2 * len))
            })?;
            return sr25519::Pair::from_seed_slice(&bytes)
                .map_err(|_| bad_keyfile(path, &format!("`{name}` is not a valid sr25519 secret")));
        }
    }
    for name in ["ss58Address", "publicKey", "accountId"] {
        if text_field(fields, name, path)?.is_some() {
            return Err(Error::auth(format!(
                "{} is a public-only keyfile (did you point at `*pub.txt` or `coldkeypub.txt`?)",
                path.display()
            ))
            .with_code("public_only_keyfile")
            .with_hint("select the hotkey itself: <wallet path>/<name>/hotkeys/<hotkey>"));
        }
    }
    Err(bad_keyfile(path, "it holds no key (no secretPhrase, secretSeed or privateKey)"))
}

/// `0x` + exactly `2 * len` hex digits, decoded into a wiped-on-drop buffer. `None` on any
/// problem: the hex crate's errors quote the offending character, which would be secret.
pub(super) fn decode_hex_secret(text: &str, len: usize) -> Option<Zeroizing<Vec<u8>>> {
    let digits = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")).unwrap_or(text);
    if digits.len() != 2 * len {
        return None;
    }
    let mut out = Zeroizing::new(vec![0u8; len]);
    hex::decode_to_slice(digits, &mut out[..]).ok()?;
    Some(out)
}

/// Compare the derived public key with `ss58Address`, `publicKey` and `accountId`. Stricter
/// than the Python tools, it catches hand-edited, mixed-up or damaged files.
pub(super) fn check_public_fields(
    fields: &Map<String, Value>,
    derived: &[u8; 32],
    path: &Path,
) -> Result<()> {
    let mismatch = |name: &str, claimed: String| {
        Error::auth(format!(
            "keyfile {} is inconsistent: its secret gives {} but `{name}` says {claimed}",
            path.display(),
            ss58_of(derived)
        ))
        .with_code("key_mismatch")
        .with_hint("the file was edited or damaged; re-create it with `btcli wallet regen-hotkey`")
    };
    if let Some(address) = text_field(fields, "ss58Address", path)? {
        let Some(public) = ss58_to_public(address) else {
            return Err(bad_keyfile(path, "`ss58Address` is not a valid ss58 address (format 42)"));
        };
        if &public != derived {
            return Err(mismatch("ss58Address", address.to_string()));
        }
    }
    for name in ["publicKey", "accountId"] {
        if let Some(text) = text_field(fields, name, path)? {
            let public = decode_hex_secret(text, 32)
                .ok_or_else(|| bad_keyfile(path, &format!("`{name}` is not 0x followed by 64 hex digits")))?;
            if public[..] != derived[..] {
                return Err(mismatch(name, format!("0x{}", hex::encode(&public[..]))));
            }
        }
    }
    Ok(())
}
