//! `$NACL` keyfiles: Argon2i key derivation and XSalsa20-Poly1305, as the Bittensor wallet
//! writes them (wallet-and-signing.md).

use std::path::Path;

use argon2::{Algorithm, Argon2, Version};
use crypto_secretbox::aead::{AeadInPlace, KeyInit};
use crypto_secretbox::{Key, Nonce, XSalsa20Poly1305};
use zeroize::Zeroizing;

use super::secret_file::{read_secret_file, SecretFile};
use super::{KeyUi, SecretSources, ENV_PASSWORD, ENV_PASSWORD_FILE};
use crate::error::{Error, Result};

pub(super) const NACL_PREFIX: &[u8] = b"$NACL";
pub(super) const NACL_NONCE_LEN: usize = 24;
pub(super) const NACL_TAG_LEN: usize = 16;
/// The same fixed salt for every file and user (bittensor-wallet `keyfile.rs`, BT7 `keyfile.py`).
pub(super) const NACL_SALT: [u8; 16] =
    [0x13, 0x71, 0x83, 0xdf, 0xf1, 0x5a, 0x09, 0xbc, 0x9c, 0x90, 0xb5, 0x51, 0x87, 0x39, 0xe9, 0xb1];

/// Argon2i (v0x13, one lane, 32-byte key) cost parameters.
pub(super) struct KdfCost {
    m_cost_kib: u32,
    t_cost: u32,
}

/// libsodium's `…_SENSITIVE` limits (512 MiB, 8 passes): what bittensor-wallet writes.
pub(super) const BTWALLET_COST: KdfCost = KdfCost { m_cost_kib: 524_288, t_cost: 8 };
/// libsodium's `…_MODERATE` limits (128 MiB, 6 passes): what SN94-BitSota's own
/// `bittensor_network/keyfile.py` writes, same framing and salt.
pub(super) const BITSOTA_COST: KdfCost = KdfCost { m_cost_kib: 131_072, t_cost: 6 };

/// Decrypt a `$NACL` keyfile: `"$NACL"` ‖ 24-byte nonce ‖ 16-byte Poly1305 tag ‖ ciphertext.
pub(super) fn unlock_nacl(
    raw: &[u8],
    path: &Path,
    secrets: &SecretSources,
    ui: &dyn KeyUi,
) -> Result<Zeroizing<Vec<u8>>> {
    let body = &raw[NACL_PREFIX.len()..];
    if body.len() < NACL_NONCE_LEN + NACL_TAG_LEN {
        return Err(Error::auth(format!("encrypted keyfile {} is truncated", path.display()))
            .with_code("bad_keyfile"));
    }
    let (nonce, sealed) = body.split_at(NACL_NONCE_LEN);
    let (password, source) = keyfile_password(path, secrets, ui)?;
    let _busy = ui.busy(&format!("unlocking {}", path.display()));
    // Decision: when the bittensor-wallet parameters fail the MAC check, also try the
    // SN94-BitSota parameters before saying "wrong password". BitSota miners may have
    // wallets written by that code, and the retry is cheap: a quarter of the memory and
    // 6 passes instead of 8, about +20% on the time a wrong password already costs.
    for cost in [BTWALLET_COST, BITSOTA_COST] {
        if let Some(json) = nacl_open(nonce, sealed, password.as_bytes(), &cost)? {
            return Ok(json);
        }
    }
    Err(Error::auth(format!("wrong password for {}", path.display()))
        .with_code("wrong_password")
        .with_hint(format!("the password was taken from {source}")))
}

/// The plaintext, or `None` when the key does not open the box (wrong password).
pub(super) fn nacl_open(
    nonce: &[u8],
    sealed: &[u8],
    password: &[u8],
    cost: &KdfCost,
) -> Result<Option<Zeroizing<Vec<u8>>>> {
    let key = derive_nacl_key(password, cost)?;
    let cipher = XSalsa20Poly1305::new(Key::from_slice(&key[..]));
    // The MAC is checked before anything is decrypted, in place in a wiped-on-drop buffer.
    let mut buffer = Zeroizing::new(sealed.to_vec());
    match cipher.decrypt_in_place(Nonce::from_slice(nonce), b"", &mut *buffer) {
        Ok(()) => Ok(Some(buffer)),
        Err(_) => Ok(None),
    }
}

pub(super) fn derive_nacl_key(password: &[u8], cost: &KdfCost) -> Result<Zeroizing<[u8; 32]>> {
    // The argon2 error names a parameter or length problem, never the password.
    let failed = |e: argon2::Error| {
        Error::auth(format!("cannot derive the keyfile key: {e}")).with_code("bad_keyfile")
    };
    let params = argon2::Params::new(cost.m_cost_kib, cost.t_cost, 1, Some(32)).map_err(failed)?;
    let argon = Argon2::new(Algorithm::Argon2i, Version::V0x13, params);
    let mut key = Zeroizing::new([0u8; 32]);
    argon.hash_password_into(password, &NACL_SALT, &mut key[..]).map_err(failed)?;
    Ok(key)
}

/// The password for a `$NACL` keyfile and a description of where it came from.
///
/// * `BITSOTA_HOTKEY_PASSWORD`: used exactly as given (like a password passed to the Python
///   library programmatically).
/// * `BITSOTA_HOTKEY_PASSWORD_FILE`: the content minus one trailing `\n` (or `\r\n`), which
///   editors and `echo` add; other whitespace is kept, as it may be part of the password.
/// * the prompt: trimmed of surrounding whitespace, as bittensor-wallet's own prompt does,
///   so passwords set through btcli match.
pub(super) fn keyfile_password(
    keyfile: &Path,
    secrets: &SecretSources,
    ui: &dyn KeyUi,
) -> Result<(Zeroizing<String>, String)> {
    if let Some(password) = &secrets.password {
        return Ok((password.clone(), ENV_PASSWORD.to_string()));
    }
    if let Some(file) = &secrets.password_file {
        let content = read_secret_file(file, SecretFile::Password, secrets.allow_insecure)?;
        let text = std::str::from_utf8(&content).map_err(|_| {
            Error::auth(format!("password file {} is not UTF-8 text", file.display()))
                .with_code("bad_password_file")
        })?;
        let password = Zeroizing::new(strip_one_newline(text).to_string());
        return Ok((password, format!("{ENV_PASSWORD_FILE} ({})", file.display())));
    }
    if let Some(typed) = ui.ask_password(keyfile)? {
        return Ok((Zeroizing::new(typed.trim().to_string()), "the prompt".to_string()));
    }
    Err(Error::auth(format!("{} is encrypted and no password was given", keyfile.display()))
        .with_code("password_required")
        .with_hint(format!(
            "set {ENV_PASSWORD_FILE} to a file (mode 600) holding the password, or set \
             {ENV_PASSWORD}, or run in a terminal to be asked"
        )))
}

pub(super) fn strip_one_newline(text: &str) -> &str {
    match text.strip_suffix('\n') {
        Some(rest) => rest.strip_suffix('\r').unwrap_or(rest),
        None => text,
    }
}
