//! The signing hotkey: where it comes from, how it is unlocked, and sr25519 signing.
//!
//! Sources, first match wins (cli.md §3, wallet-and-signing.md §7):
//! 1. `BITSOTA_HOTKEY_MNEMONIC` (read once at start-up, then removed from the environment);
//! 2. the file named by `BITSOTA_HOTKEY_MNEMONIC_FILE` (its whole content, trimmed);
//! 3. the wallet keyfile `<wallet path>/<name>/hotkeys/<hotkey>`, plaintext JSON or `$NACL`.
//!
//! Every key problem is an exit-4 error (`Error::auth`). No secret (phrase, seed, private key,
//! password, decrypted keyfile) ever goes into an error, a log line or Debug output, and
//! secrets are held in `Zeroizing` buffers so they are wiped when dropped. The coldkey is
//! never read: signing requests needs only the hotkey, and a key that resolves to the
//! wallet's `coldkey` file or matches its `coldkeypub.txt` is refused.

mod keyfile;
mod nacl;
mod secret_file;
mod sources;

use std::fmt;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use serde_json::Value;
use sp_core::crypto::{Pair as _, Ss58AddressFormat, Ss58Codec};
use sp_core::sr25519;
use zeroize::{Zeroize, Zeroizing};

use crate::error::{Error, Result};

use keyfile::*;
use nacl::*;
use secret_file::*;
pub use sources::SecretSources;

pub const ENV_MNEMONIC: &str = "BITSOTA_HOTKEY_MNEMONIC";
pub const ENV_MNEMONIC_FILE: &str = "BITSOTA_HOTKEY_MNEMONIC_FILE";
pub const ENV_PASSWORD: &str = "BITSOTA_HOTKEY_PASSWORD";
pub const ENV_PASSWORD_FILE: &str = "BITSOTA_HOTKEY_PASSWORD_FILE";
pub const ENV_ALLOW_INSECURE: &str = "BITSOTA_ALLOW_INSECURE_KEYFILE";

/// Bittensor addresses use the generic Substrate ss58 format. We pass it explicitly instead
/// of relying on sp-core's process-wide default.
const SS58_FORMAT: u16 = 42;

/// Keyfiles are under 1 KiB; refuse anything big rather than read a wrong file whole.
const MAX_SECRET_FILE_BYTES: usize = 64 * 1024;

// ---------------------------------------------------------------------------------------
// The loaded key
// ---------------------------------------------------------------------------------------

/// Where the hotkey was loaded from (shown by `whoami`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    MnemonicEnv,
    MnemonicFile(PathBuf),
    WalletFile(PathBuf),
}

impl Origin {
    pub fn label(&self) -> &'static str {
        match self {
            Origin::MnemonicEnv => "mnemonic-env",
            Origin::MnemonicFile(_) => "mnemonic-file",
            Origin::WalletFile(_) => "wallet-file",
        }
    }

    pub fn path(&self) -> Option<&Path> {
        match self {
            Origin::MnemonicEnv => None,
            Origin::MnemonicFile(path) | Origin::WalletFile(path) => Some(path),
        }
    }
}

/// An unlocked sr25519 hotkey. Its Debug output shows only the address and origin.
pub struct Hotkey {
    pair: sr25519::Pair,
    public: [u8; 32],
    ss58: String,
    origin: Origin,
}

impl Hotkey {
    fn new(pair: sr25519::Pair, origin: Origin) -> Hotkey {
        let public = pair.public();
        let ss58 = public.to_ss58check_with_version(Ss58AddressFormat::custom(SS58_FORMAT));
        Hotkey { public: public.0, ss58, pair, origin }
    }

    /// The ss58 address, format 42 (`5…`).
    pub fn ss58(&self) -> &str {
        &self.ss58
    }

    pub fn public(&self) -> &[u8; 32] {
        &self.public
    }

    /// The public key as 64 lower-case hex digits, no `0x`.
    pub fn public_hex(&self) -> String {
        hex::encode(self.public)
    }

    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    /// sr25519 signature (context `b"substrate"`) over exactly these bytes, no `<Bytes>` wrap,
    /// as substrate-interface and bittensor-wallet sign. Randomized: verify, don't compare.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.pair.sign(message).0
    }
}

/// Never prints the secret: only the address and where it came from.
impl fmt::Debug for Hotkey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hotkey")
            .field("ss58", &self.ss58)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

/// The public key of a format-42 ss58 address; `None` for anything else.
pub fn ss58_to_public(ss58: &str) -> Option<[u8; 32]> {
    let (public, format) = sr25519::Public::from_ss58check_with_version(ss58).ok()?;
    (u16::from(format) == SS58_FORMAT).then_some(public.0)
}

fn ss58_of(public: &[u8; 32]) -> String {
    sr25519::Public::from_raw(*public).to_ss58check_with_version(Ss58AddressFormat::custom(SS58_FORMAT))
}

// ---------------------------------------------------------------------------------------
// Wallet selection and the user interface hooks
// ---------------------------------------------------------------------------------------

/// Which wallet hotkey to load (from `--wallet-*` / `BT_WALLET_*` / defaults).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalletSelector {
    pub path: PathBuf,
    pub name: String,
    pub hotkey: String,
}

impl WalletSelector {
    /// `<path>/<name>/hotkeys/<hotkey>`, with a leading `~` of the path expanded from `$HOME`
    /// (only `~` itself, not `~user`, as bittensor-wallet does; a relative path stays relative).
    pub fn keyfile(&self) -> PathBuf {
        expand_tilde(&self.path).join(&self.name).join("hotkeys").join(&self.hotkey)
    }

    /// Names must be single path components: `--wallet-hotkey ../coldkey` must not reach the
    /// coldkey (or anything else outside the wallet).
    fn check_names(&self) -> Result<()> {
        for (what, value, flag) in
            [("wallet name", &self.name, "--wallet-name"), ("hotkey name", &self.hotkey, "--wallet-hotkey")]
        {
            let mut parts = Path::new(value).components();
            if !matches!((parts.next(), parts.next()), (Some(Component::Normal(_)), None)) {
                return Err(Error::usage(format!("invalid {what} {value:?}"))
                    .with_code("bad_wallet_selector")
                    .with_hint(format!("{flag} takes a plain name, without `/`, `.` or `..`")));
            }
        }
        Ok(())
    }
}

fn expand_tilde(path: &Path) -> PathBuf {
    match (path.strip_prefix("~"), std::env::var_os("HOME")) {
        (Ok(rest), Some(home)) if !home.is_empty() => PathBuf::from(home).join(rest),
        _ => path.to_path_buf(),
    }
}

/// How the module talks to the user while unlocking; implemented by the output layer.
pub trait KeyUi {
    /// Ask for the keyfile password without echo; Ok(None) when there is no terminal to ask on.
    fn ask_password(&self, keyfile: &Path) -> Result<Option<Zeroizing<String>>>;
    /// Called around the slow Argon2i derivation; the returned guard stops the spinner when dropped.
    fn busy(&self, message: &str) -> Box<dyn BusyGuard>;
}

/// Shown while a slow step runs; dropping it ends the display.
pub trait BusyGuard {}

/// Nothing shown.
impl BusyGuard for () {}

// ---------------------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------------------

/// Load the signing hotkey: mnemonic env var > mnemonic file > wallet keyfile.
pub fn load_hotkey(secrets: &SecretSources, wallet: &WalletSelector, ui: &dyn KeyUi) -> Result<Hotkey> {
    let hotkey = load_any(secrets, wallet, ui)?;
    refuse_coldkey_public(&hotkey, wallet)?;
    Ok(hotkey)
}

fn load_any(secrets: &SecretSources, wallet: &WalletSelector, ui: &dyn KeyUi) -> Result<Hotkey> {
    if let Some(phrase) = &secrets.mnemonic {
        let pair = pair_from_phrase(phrase, ENV_MNEMONIC)?;
        return Ok(Hotkey::new(pair, Origin::MnemonicEnv));
    }
    if let Some(path) = &secrets.mnemonic_file {
        let content = read_secret_file(path, SecretFile::Mnemonic, secrets.allow_insecure)?;
        let what = format!("the mnemonic in {}", path.display());
        let phrase =
            std::str::from_utf8(&content).map_err(|_| bad_mnemonic(&what, "the file is not UTF-8 text"))?;
        if phrase.trim().is_empty() {
            return Err(bad_mnemonic(&what, "the file is empty"));
        }
        let pair = pair_from_phrase(phrase.trim(), &what)?;
        return Ok(Hotkey::new(pair, Origin::MnemonicFile(path.clone())));
    }
    wallet.check_names()?;
    let keyfile = wallet.keyfile();
    refuse_coldkey_file(&keyfile)?;
    let pair = load_keyfile(&keyfile, secrets, ui)?;
    Ok(Hotkey::new(pair, Origin::WalletFile(keyfile)))
}

// ---------------------------------------------------------------------------------------
// Never the coldkey
// ---------------------------------------------------------------------------------------

/// The coldkey must never sign requests (wallet-and-signing.md §7.6). Wallet names cannot
/// reach it (`check_names`), but a symlinked `hotkeys/<name>` can: refuse a keyfile that
/// resolves to a file named `coldkey` outside a `hotkeys` directory, before any password is
/// asked for.
fn refuse_coldkey_file(keyfile: &Path) -> Result<()> {
    // A missing file is reported by the read that follows.
    let Ok(real) = std::fs::canonicalize(keyfile) else {
        return Ok(());
    };
    let named_coldkey = real.file_name().is_some_and(|n| n == "coldkey");
    let in_hotkeys = real.parent().and_then(Path::file_name).is_some_and(|n| n == "hotkeys");
    if named_coldkey && !in_hotkeys {
        return Err(Error::auth(format!(
            "refusing {}: it is a wallet's coldkey ({}), which never signs requests",
            keyfile.display(),
            real.display()
        ))
        .with_code("coldkey_refused")
        .with_hint("select a hotkey with --wallet-hotkey (one of <wallet path>/<name>/hotkeys/*)"));
    }
    Ok(())
}

/// Whatever the source (a copied file, a coldkey mnemonic in the environment), refuse a key
/// whose public key is the one in the selected wallet's `coldkeypub.txt`.
fn refuse_coldkey_public(hotkey: &Hotkey, wallet: &WalletSelector) -> Result<()> {
    let Some((coldkey, path)) = coldkey_public(wallet) else {
        return Ok(());
    };
    if &coldkey != hotkey.public() {
        return Ok(());
    }
    Err(Error::auth(format!(
        "refusing to sign with {}: it is the coldkey of wallet {:?} ({})",
        hotkey.ss58(),
        wallet.name,
        path.display()
    ))
    .with_code("coldkey_refused")
    .with_hint("sign with a hotkey of that wallet, never with its coldkey"))
}

/// The public key in `<wallet path>/<name>/coldkeypub.txt`, if there is a readable one. It is
/// public data, so any problem with it just skips the check.
fn coldkey_public(wallet: &WalletSelector) -> Option<([u8; 32], PathBuf)> {
    wallet.check_names().ok()?;
    let path = expand_tilde(&wallet.path).join(&wallet.name).join("coldkeypub.txt");
    let file = crate::fsutil::open_nonblocking(&path).ok()?;
    if !file.metadata().ok()?.is_file() {
        return None;
    }
    let mut text = String::new();
    file.take(MAX_SECRET_FILE_BYTES as u64).read_to_string(&mut text).ok()?;
    let text = text.trim();
    // BT7 also wrote a bare `0x…` public key.
    if let Some(public) = decode_hex_secret(text, 32) {
        return Some((public[..].try_into().ok()?, path));
    }
    let doc: Value = serde_json::from_str(text).ok()?;
    let public = match doc.get("ss58Address").and_then(Value::as_str) {
        Some(address) => ss58_to_public(address)?,
        None => decode_hex_secret(doc.get("publicKey")?.as_str()?, 32)?[..].try_into().ok()?,
    };
    Some((public, path))
}

/// BIP39 phrase → sr25519 pair, exactly as bittensor-wallet and substrate-interface derive it.
/// `from_phrase`, not `from_string`: a phrase never needs SURI syntax (`//hard`, `///pw`).
fn pair_from_phrase(phrase: &str, what: &str) -> Result<sr25519::Pair> {
    match sr25519::Pair::from_phrase(phrase, None) {
        Ok((pair, mut seed)) => {
            seed.zeroize();
            Ok(pair)
        }
        // Say what is wrong without repeating any of the words.
        Err(_) if phrase.chars().any(char::is_uppercase) => {
            Err(bad_mnemonic(what, "the words must be lower-case"))
        }
        Err(_) => {
            Err(bad_mnemonic(what, "expected 12, 15, 18, 21 or 24 English BIP39 words with a valid checksum"))
        }
    }
}

fn bad_mnemonic(what: &str, hint: &str) -> Error {
    Error::auth(format!("{what} is not a valid BIP39 mnemonic"))
        .with_code("bad_mnemonic")
        .with_hint(hint.to_string())
}

/// Read a wallet keyfile and turn it into a pair, whatever its format.
fn load_keyfile(path: &Path, secrets: &SecretSources, ui: &dyn KeyUi) -> Result<sr25519::Pair> {
    let raw = read_secret_file(path, SecretFile::Keyfile, secrets.allow_insecure)?;
    // Detection by first bytes, in bittensor-wallet's order.
    if raw.starts_with(NACL_PREFIX) {
        let json = unlock_nacl(&raw, path, secrets, ui)?;
        return pair_from_keyfile_json(&json, path);
    }
    for (prefix, format) in [(&b"$ANSIBLE_VAULT"[..], "Ansible Vault"), (b"gAAAAA", "Fernet")] {
        if raw.starts_with(prefix) {
            return Err(Error::auth(format!(
                "legacy encrypted keyfile {} ({format}) is not supported",
                path.display()
            ))
            .with_code("legacy_keyfile")
            .with_hint(
                "re-create it with `btcli wallet regen-hotkey` (from the hotkey's mnemonic), \
                 or point BITSOTA_HOTKEY_MNEMONIC_FILE at a file holding the mnemonic",
            ));
        }
    }
    pair_from_keyfile_json(&raw, path)
}
