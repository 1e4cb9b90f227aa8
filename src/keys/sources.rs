//! Secret inputs from the environment: the mnemonic and password variables (and the files
//! they name), taken out of the environment at start-up.

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;

use zeroize::Zeroizing;

use super::{ENV_ALLOW_INSECURE, ENV_MNEMONIC, ENV_MNEMONIC_FILE, ENV_PASSWORD, ENV_PASSWORD_FILE};

/// Secret inputs taken from the environment once, at start-up.
///
/// An empty variable counts as unset (so `VAR= git bitsota …` turns it off). The override
/// `BITSOTA_ALLOW_INSECURE_KEYFILE` accepts `1`, `true`, `yes` or `on`.
pub struct SecretSources {
    pub(super) mnemonic: Option<Zeroizing<String>>,
    pub(super) mnemonic_file: Option<PathBuf>,
    pub(super) password: Option<Zeroizing<String>>,
    pub(super) password_file: Option<PathBuf>,
    pub(super) allow_insecure: bool,
}

impl SecretSources {
    /// Read the `BITSOTA_HOTKEY_*` variables and remove the two that hold secrets
    /// (`…_MNEMONIC`, `…_PASSWORD`) so no child process (git, a benchmark) inherits them.
    /// The `…_FILE` paths and the override are not secret and stay.
    ///
    /// Call it first thing in `main`, before any thread exists (changing the environment is
    /// not thread-safe). The values' bytes in the initial environment block are overwritten
    /// first ([`crate::harden::scrub_env_values`]): removal alone leaves them readable in
    /// `/proc/<pid>/environ`.
    pub fn take_from_env() -> SecretSources {
        let secrets = SecretSources::from_lookup(|name| std::env::var_os(name));
        crate::harden::scrub_env_values(&[ENV_MNEMONIC, ENV_PASSWORD]);
        for name in [ENV_MNEMONIC, ENV_PASSWORD] {
            std::env::remove_var(name);
        }
        secrets
    }

    /// Same as `take_from_env`, from any lookup; the environment is not touched.
    pub fn from_lookup(get: impl Fn(&str) -> Option<OsString>) -> SecretSources {
        let non_empty = |name: &str| get(name).filter(|value| !value.is_empty());
        SecretSources {
            mnemonic: non_empty(ENV_MNEMONIC).map(secret_string),
            mnemonic_file: non_empty(ENV_MNEMONIC_FILE).map(PathBuf::from),
            password: non_empty(ENV_PASSWORD).map(secret_string),
            password_file: non_empty(ENV_PASSWORD_FILE).map(PathBuf::from),
            allow_insecure: non_empty(ENV_ALLOW_INSECURE).is_some_and(|v| is_truthy(&v)),
        }
    }
}

/// Shows which inputs are set, never their values.
impl fmt::Debug for SecretSources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretSources")
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
pub(super) fn secret_string(value: OsString) -> Zeroizing<String> {
    use std::os::unix::ffi::OsStringExt;
    let bytes = Zeroizing::new(value.into_vec());
    Zeroizing::new(String::from_utf8_lossy(&bytes).into_owned())
}

pub(super) fn is_truthy(value: &OsString) -> bool {
    let value = value.to_string_lossy().to_ascii_lowercase();
    matches!(value.as_str(), "1" | "true" | "yes" | "on")
}
