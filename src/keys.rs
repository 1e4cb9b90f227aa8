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

use std::ffi::OsString;
use std::fmt;
use std::fs::File;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use argon2::{Algorithm, Argon2, Version};
use crypto_secretbox::aead::{AeadInPlace, KeyInit};
use crypto_secretbox::{Key, Nonce, XSalsa20Poly1305};
use serde_json::{Map, Value};
use sp_core::crypto::{Pair as _, Ss58AddressFormat, Ss58Codec};
use sp_core::sr25519;
use zeroize::{Zeroize, Zeroizing};

use crate::error::{Error, Result};

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

    /// A hotkey straight from a mnemonic, for tests and tools (origin: `mnemonic-env`).
    pub fn from_phrase_for_tests(phrase: &str) -> Result<Hotkey> {
        let pair = pair_from_phrase(phrase, "the phrase")?;
        Ok(Hotkey::new(pair, Origin::MnemonicEnv))
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

/// sr25519 verification of a raw-bytes signature (what the coordinator checks).
pub fn verify(public: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> bool {
    let public = sr25519::Public::from_raw(*public);
    let signature = sr25519::Signature::from_raw(*signature);
    sr25519::Pair::verify(&signature, message, &public)
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
// Secret inputs from the environment
// ---------------------------------------------------------------------------------------

/// Secret inputs taken from the environment once, at start-up.
///
/// An empty variable counts as unset (so `VAR= git bitsota …` turns it off). The override
/// `BITSOTA_ALLOW_INSECURE_KEYFILE` accepts `1`, `true`, `yes` or `on`.
pub struct Secrets {
    mnemonic: Option<Zeroizing<String>>,
    mnemonic_file: Option<PathBuf>,
    password: Option<Zeroizing<String>>,
    password_file: Option<PathBuf>,
    allow_insecure: bool,
}

impl Secrets {
    /// Read the `BITSOTA_HOTKEY_*` variables and remove the two that hold secrets
    /// (`…_MNEMONIC`, `…_PASSWORD`) so no child process (git, a benchmark) inherits them.
    /// The `…_FILE` paths and the override are not secret and stay.
    ///
    /// Call it first thing in `main`, before any thread exists (changing the environment is
    /// not thread-safe). The values' bytes in the initial environment block are overwritten
    /// first ([`crate::harden::scrub_env_values`]): removal alone leaves them readable in
    /// `/proc/<pid>/environ`.
    pub fn take_from_env() -> Secrets {
        let secrets = Secrets::from_lookup(|name| std::env::var_os(name));
        crate::harden::scrub_env_values(&[ENV_MNEMONIC, ENV_PASSWORD]);
        for name in [ENV_MNEMONIC, ENV_PASSWORD] {
            std::env::remove_var(name);
        }
        secrets
    }

    /// Same as `take_from_env`, from any lookup; the environment is not touched.
    pub fn from_lookup(get: impl Fn(&str) -> Option<OsString>) -> Secrets {
        let non_empty = |name: &str| get(name).filter(|value| !value.is_empty());
        Secrets {
            mnemonic: non_empty(ENV_MNEMONIC).map(secret_string),
            mnemonic_file: non_empty(ENV_MNEMONIC_FILE).map(PathBuf::from),
            password: non_empty(ENV_PASSWORD).map(secret_string),
            password_file: non_empty(ENV_PASSWORD_FILE).map(PathBuf::from),
            allow_insecure: non_empty(ENV_ALLOW_INSECURE).is_some_and(|v| is_truthy(&v)),
        }
    }
}

/// Shows which inputs are set, never their values.
impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secrets")
            .field("mnemonic", &self.mnemonic.as_ref().map(|_| "<set>"))
            .field("mnemonic_file", &self.mnemonic_file)
            .field("password", &self.password.as_ref().map(|_| "<set>"))
            .field("password_file", &self.password_file)
            .field("allow_insecure", &self.allow_insecure)
            .finish()
    }
}

/// Move an environment value into a wiped-on-drop string. Invalid UTF-8 is replaced with
/// U+FFFD rather than refused: such a value can be neither a BIP39 phrase nor a password the
/// Python tools wrote, so it fails later with the right message ("not a valid mnemonic",
/// "wrong password").
fn secret_string(value: OsString) -> Zeroizing<String> {
    use std::os::unix::ffi::OsStringExt;
    let bytes = Zeroizing::new(value.into_vec());
    Zeroizing::new(String::from_utf8_lossy(&bytes).into_owned())
}

fn is_truthy(value: &OsString) -> bool {
    let value = value.to_string_lossy().to_ascii_lowercase();
    matches!(value.as_str(), "1" | "true" | "yes" | "on")
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
    fn busy(&self, message: &str) -> Box<dyn std::any::Any>;
}

/// Never asks, shows nothing: for tests, `--json` and non-interactive use.
pub struct NoUi;

impl KeyUi for NoUi {
    fn ask_password(&self, _keyfile: &Path) -> Result<Option<Zeroizing<String>>> {
        Ok(None)
    }
    fn busy(&self, _message: &str) -> Box<dyn std::any::Any> {
        Box::new(())
    }
}

// ---------------------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------------------

/// Load the signing hotkey: mnemonic env var > mnemonic file > wallet keyfile.
pub fn load_hotkey(secrets: &Secrets, wallet: &WalletSelector, ui: &dyn KeyUi) -> Result<Hotkey> {
    let hotkey = load_any(secrets, wallet, ui)?;
    refuse_coldkey_public(&hotkey, wallet)?;
    Ok(hotkey)
}

fn load_any(secrets: &Secrets, wallet: &WalletSelector, ui: &dyn KeyUi) -> Result<Hotkey> {
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
    let file = open_nonblocking(&path).ok()?;
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
fn load_keyfile(path: &Path, secrets: &Secrets, ui: &dyn KeyUi) -> Result<sr25519::Pair> {
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

// ---------------------------------------------------------------------------------------
// Files holding secrets
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy)]
enum SecretFile {
    Keyfile,
    Mnemonic,
    Password,
}

impl SecretFile {
    fn what(self) -> &'static str {
        match self {
            SecretFile::Keyfile => "hotkey file",
            SecretFile::Mnemonic => "mnemonic file",
            SecretFile::Password => "password file",
        }
    }

    fn missing_hint(self) -> String {
        match self {
            SecretFile::Keyfile => format!(
                "choose the wallet with --wallet-path/--wallet-name/--wallet-hotkey \
                 (or BT_WALLET_PATH/BT_WALLET_NAME/BT_WALLET_HOTKEY), or set \
                 {ENV_MNEMONIC_FILE} to a file holding the hotkey's mnemonic"
            ),
            SecretFile::Mnemonic => format!("{ENV_MNEMONIC_FILE} names this file"),
            SecretFile::Password => format!("{ENV_PASSWORD_FILE} names this file"),
        }
    }

    /// Mnemonic and password files may come from process substitution (`<(…)`), a pipe.
    fn may_be_pipe(self) -> bool {
        !matches!(self, SecretFile::Keyfile)
    }
}

/// Read a file holding a secret, refusing one that others could read or change.
///
/// Symlinks: we follow them (wallets are sometimes linked in from a secrets mount), but the
/// checks use the metadata of the file actually opened (`fstat` on our handle), i.e. of the
/// target: a link's own mode is always 0777 and says nothing. Reading from the same handle
/// also means the file cannot be swapped between the check and the read.
///
/// File types: a keyfile must be a regular file. A mnemonic or password file may also be a
/// pipe, so `BITSOTA_HOTKEY_PASSWORD_FILE=<(pass show …)` works. The open is non-blocking:
/// opening a FIFO nobody writes to would otherwise hang for ever.
fn read_secret_file(path: &Path, kind: SecretFile, allow_insecure: bool) -> Result<Zeroizing<Vec<u8>>> {
    let what = kind.what();
    let shown = path.display();
    let mut file = open_nonblocking(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::auth(format!("no {what} at {shown}"))
                .with_code("key_not_found")
                .with_hint(kind.missing_hint())
        } else {
            Error::auth(format!("cannot open {what} {shown}")).with_code("key_unreadable").with_source(e)
        }
    })?;
    let meta = file.metadata().map_err(|e| {
        Error::auth(format!("cannot inspect {what} {shown}")).with_code("key_unreadable").with_source(e)
    })?;
    if meta.is_dir() {
        return Err(Error::auth(format!("{what} {shown} is a directory")).with_code("key_unreadable"));
    }
    // Checked before the permissions, so `/dev/zero` gets no misleading chmod hint.
    let pipe = is_pipe(&meta);
    let readable_type = meta.is_file() || (pipe && kind.may_be_pipe());
    if !readable_type {
        return Err(Error::auth(format!("{what} {shown} is not a regular file")).with_code("key_unreadable"));
    }
    if !allow_insecure {
        check_private(path, what, &meta)?;
    }
    let limit = MAX_SECRET_FILE_BYTES + 1;
    let content = if pipe {
        read_pipe(&file, limit, PIPE_WAIT).map_err(|e| {
            let err = Error::auth(format!("cannot read {what} {shown}")).with_code("key_unreadable");
            if e.kind() == std::io::ErrorKind::TimedOut {
                err.with_hint(format!("nothing was written to the pipe within {} s", PIPE_WAIT.as_secs()))
            } else {
                err.with_source(e)
            }
        })?
    } else {
        // Sized up front so the buffer is not reallocated: a reallocation leaves an unwiped copy.
        let expected = usize::try_from(meta.len()).unwrap_or(usize::MAX).min(MAX_SECRET_FILE_BYTES);
        let mut content = Zeroizing::new(Vec::with_capacity(expected + 1));
        (&mut file).take(limit as u64).read_to_end(&mut content).map_err(|e| {
            Error::auth(format!("cannot read {what} {shown}")).with_code("key_unreadable").with_source(e)
        })?;
        content
    };
    if content.len() > MAX_SECRET_FILE_BYTES {
        return Err(Error::auth(format!("{what} {shown} is too large to be a key")).with_code("bad_keyfile"));
    }
    Ok(content)
}

fn open_nonblocking(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    // O_NOCTTY: a terminal device named here must not become our controlling terminal.
    std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY).open(path)
}

fn is_pipe(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::FileTypeExt;
    meta.file_type().is_fifo()
}

/// How long a mnemonic or password pipe may stay silent (a password manager behind `<(…)`
/// may be asking for its own passphrase first).
const PIPE_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// Read a pipe opened non-blocking, up to `limit` bytes, until the writer closes it. A FIFO
/// that no writer ever opens times out instead of hanging: Linux reports neither data nor
/// hang-up for it, and a plain read would say end-of-file at once or block for ever.
fn read_pipe(file: &File, limit: usize, wait: std::time::Duration) -> std::io::Result<Zeroizing<Vec<u8>>> {
    let deadline = std::time::Instant::now() + wait;
    let mut content = Zeroizing::new(Vec::with_capacity(limit));
    let mut chunk = Zeroizing::new([0u8; 4096]);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Err(std::io::ErrorKind::TimedOut.into());
        }
        let mut fds = [rustix::event::PollFd::new(file, rustix::event::PollFlags::IN)];
        // `left` is at most PIPE_WAIT, which always fits.
        let timeout = rustix::event::Timespec::try_from(left)
            .unwrap_or(rustix::event::Timespec { tv_sec: PIPE_WAIT.as_secs() as _, tv_nsec: 0 });
        let ready = match rustix::event::poll(&mut fds, Some(&timeout)) {
            Ok(ready) => ready,
            Err(rustix::io::Errno::INTR) => continue,
            Err(err) => return Err(err.into()),
        };
        if ready == 0 {
            continue; // the deadline check above ends the loop
        }
        let room = (limit - content.len()).min(chunk.len());
        match (&*file).read(&mut chunk[..room]) {
            Ok(0) => return Ok(content),
            Ok(n) => {
                // Never beyond the capacity reserved above, so no reallocation copies.
                content.extend_from_slice(&chunk[..n]);
                if content.len() >= limit {
                    return Ok(content);
                }
            }
            Err(e)
                if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted) => {}
            Err(e) => return Err(e),
        }
    }
}

/// Refuse a secret file that group or others can access, or that another user owns (they
/// could replace its content). Both can be overridden with `BITSOTA_ALLOW_INSECURE_KEYFILE=1`.
fn check_private(path: &Path, what: &str, meta: &std::fs::Metadata) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let override_note = format!("or set {ENV_ALLOW_INSECURE}=1 to use it anyway");
    let mode = meta.mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(Error::auth(format!(
            "refusing {what} {}: it is accessible by group or others (mode {mode:04o})",
            path.display()
        ))
        .with_code("insecure_keyfile")
        .with_hint(format!("chmod 600 {} ({override_note})", shell_quote(path))));
    }
    let me = rustix::process::geteuid().as_raw();
    if meta.uid() != me {
        return Err(Error::auth(format!(
            "refusing {what} {}: it is owned by uid {}, not by you (uid {me})",
            path.display(),
            meta.uid()
        ))
        .with_code("insecure_keyfile")
        .with_hint(format!("copy it to a file of your own with mode 600 ({override_note})")));
    }
    Ok(())
}

/// Quote a path for a copy-pasteable shell hint, only when needed.
fn shell_quote(path: &Path) -> String {
    let text = path.display().to_string();
    let plain = |c: char| c.is_ascii_alphanumeric() || "/._-+=:,@%".contains(c);
    if !text.is_empty() && text.chars().all(plain) {
        text
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

// ---------------------------------------------------------------------------------------
// `$NACL` keyfiles
// ---------------------------------------------------------------------------------------

const NACL_PREFIX: &[u8] = b"$NACL";
const NACL_NONCE_LEN: usize = 24;
const NACL_TAG_LEN: usize = 16;
/// The same fixed salt for every file and user (bittensor-wallet `keyfile.rs`, BT7 `keyfile.py`).
const NACL_SALT: [u8; 16] =
    [0x13, 0x71, 0x83, 0xdf, 0xf1, 0x5a, 0x09, 0xbc, 0x9c, 0x90, 0xb5, 0x51, 0x87, 0x39, 0xe9, 0xb1];

/// Argon2i (v0x13, one lane, 32-byte key) cost parameters.
struct KdfCost {
    m_cost_kib: u32,
    t_cost: u32,
}

/// libsodium's `…_SENSITIVE` limits (512 MiB, 8 passes): what bittensor-wallet writes.
const BTWALLET_COST: KdfCost = KdfCost { m_cost_kib: 524_288, t_cost: 8 };
/// libsodium's `…_MODERATE` limits (128 MiB, 6 passes): what SN94-BitSota's own
/// `bittensor_network/keyfile.py` writes, same framing and salt.
const BITSOTA_COST: KdfCost = KdfCost { m_cost_kib: 131_072, t_cost: 6 };

/// Decrypt a `$NACL` keyfile: `"$NACL"` ‖ 24-byte nonce ‖ 16-byte Poly1305 tag ‖ ciphertext.
fn unlock_nacl(raw: &[u8], path: &Path, secrets: &Secrets, ui: &dyn KeyUi) -> Result<Zeroizing<Vec<u8>>> {
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
fn nacl_open(
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

fn derive_nacl_key(password: &[u8], cost: &KdfCost) -> Result<Zeroizing<[u8; 32]>> {
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
fn keyfile_password(
    keyfile: &Path,
    secrets: &Secrets,
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

fn strip_one_newline(text: &str) -> &str {
    match text.strip_suffix('\n') {
        Some(rest) => rest.strip_suffix('\r').unwrap_or(rest),
        None => text,
    }
}

// ---------------------------------------------------------------------------------------
// Keyfile JSON
// ---------------------------------------------------------------------------------------

/// Parsed keyfile JSON whose strings (the secrets among them) are wiped when dropped.
struct WipedJson(Value);

impl Drop for WipedJson {
    fn drop(&mut self) {
        wipe_strings(&mut self.0);
    }
}

fn wipe_strings(value: &mut Value) {
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
fn pair_from_keyfile_json(bytes: &[u8], path: &Path) -> Result<sr25519::Pair> {
    let doc = parse_json(bytes, path)?;
    let Some(fields) = doc.0.as_object() else {
        return Err(bad_keyfile(path, "it is JSON but not an object"));
    };
    check_crypto_type(fields, path)?;
    let pair = derive_pair(fields, path)?;
    check_public_fields(fields, &pair.public().0, path)?;
    Ok(pair)
}

fn bad_keyfile(path: &Path, why: &str) -> Error {
    Error::auth(format!("cannot use keyfile {}: {why}", path.display())).with_code("bad_keyfile")
}

/// Parse without ever echoing content: serde_json's syntax errors carry only a position,
/// but we build the message ourselves from that position to be sure.
fn parse_json(bytes: &[u8], path: &Path) -> Result<WipedJson> {
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
fn check_crypto_type(fields: &Map<String, Value>, path: &Path) -> Result<()> {
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
fn text_field<'a>(fields: &'a Map<String, Value>, name: &str, path: &Path) -> Result<Option<&'a str>> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(bad_keyfile(path, &format!("`{name}` is not a string"))),
    }
}

fn derive_pair(fields: &Map<String, Value>, path: &Path) -> Result<sr25519::Pair> {
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
fn decode_hex_secret(text: &str, len: usize) -> Option<Zeroizing<Vec<u8>>> {
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
fn check_public_fields(fields: &Map<String, Value>, derived: &[u8; 32], path: &Path) -> Result<()> {
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
