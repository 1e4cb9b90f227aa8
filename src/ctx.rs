//! What every command gets: the output layer and the global options, and the ways to reach
//! the repository, its state file, the coordinator URL and the signing hotkey.

use std::path::Path;

use zeroize::Zeroizing;

use crate::cli::{GlobalArgs, DEFAULT_COORDINATOR_URL};
use crate::client::Coordinator;
use crate::error::{Kind, Result, ResultExt};
use crate::keys::{self, Hotkey, KeyUi, SecretSources, WalletSelector};
use crate::output::Output;
use crate::repo::Repo;
use crate::state::{State, StateFile};

pub struct Ctx {
    pub out: Output,
    pub global: GlobalArgs,
    /// Shared so a command run inside another (`run --submit`) signs with the same key.
    secrets: std::sync::Arc<SecretSources>,
}

impl Ctx {
    pub fn new(out: Output, global: GlobalArgs, secrets: SecretSources) -> Ctx {
        Ctx { out, global, secrets: std::sync::Arc::new(secrets) }
    }

    /// The same context with another output layer, for a command run inside another.
    pub fn with_output(&self, out: Output) -> Ctx {
        Ctx { out, global: self.global.clone(), secrets: std::sync::Arc::clone(&self.secrets) }
    }

    /// The repository the command runs in (exit 2 outside a work tree).
    pub fn repo(&self) -> Result<Repo> {
        Repo::discover().map(|repo| repo.traced(&self.out))
    }

    pub fn state_file(&self, repo: &Repo) -> StateFile {
        StateFile::new(repo.state_path())
    }

    /// `--coordinator-url` / `BITSOTA_COORDINATOR_URL`, when given (an empty value is not).
    pub fn explicit_coordinator_url(&self) -> Option<String> {
        let url = self.global.coordinator_url.as_deref().filter(|u| !u.is_empty())?;
        Some(url.trim_end_matches('/').to_string())
    }

    /// `--coordinator-url` / `BITSOTA_COORDINATOR_URL`, else the bound clone's, else the default.
    pub fn coordinator_url(&self, state: Option<&State>) -> String {
        if let Some(url) = self.explicit_coordinator_url() {
            return url;
        }
        if let Some(url) = state.and_then(|s| s.coordinator_url.as_deref()).filter(|u| !u.is_empty()) {
            return url.trim_end_matches('/').to_string();
        }
        DEFAULT_COORDINATOR_URL.to_string()
    }

    /// The coordinator of `--coordinator-url` / `BITSOTA_COORDINATOR_URL` / the state file / default.
    pub fn coordinator(&self, state: Option<&State>) -> Result<Coordinator> {
        Coordinator::new(&self.coordinator_url(state), &self.out)
    }

    /// For commands that work anywhere (`tasks`, `show`, `request`): the URL of the flag or
    /// environment, else of the clone we are in (if bound), else the default. A corrupt
    /// state file in the current clone is an error (it blocks every command).
    pub fn ambient_coordinator(&self) -> Result<Coordinator> {
        let explicit = self.explicit_coordinator_url().is_some();
        let state = match (explicit, self.repo()) {
            (false, Ok(repo)) => self.state_file(&repo).read()?,
            _ => None,
        };
        self.coordinator(state.as_ref())
    }

    pub fn wallet(&self) -> WalletSelector {
        WalletSelector {
            path: self.global.wallet_path.clone(),
            name: self.global.wallet_name.clone(),
            hotkey: self.global.wallet_hotkey.clone(),
        }
    }

    /// Load the signing hotkey (mnemonic env/file, else the wallet keyfile).
    pub fn hotkey(&self) -> Result<Hotkey> {
        // An agent started by `run` gets no key: nothing is claimed or submitted without the
        // miner's say-so (`run --submit` signs in the miner's own process, not the agent's).
        if std::env::var_os(crate::agent::AGENT_MARKER).is_some() {
            return Err(crate::error::Error::auth(
                "signing is disabled inside an agent started by `git bitsota run`",
            )
            .with_code("agent_cannot_sign")
            .with_hint(
                "the miner submits: `git bitsota run --submit`, or `git bitsota submit` after the run",
            ));
        }
        keys::load_hotkey(&self.secrets, &self.wallet(), &self.out)
    }
}

/// The output layer is how key loading asks for a password and shows the KDF spinner.
impl KeyUi for Output {
    fn ask_password(&self, keyfile: &Path) -> Result<Option<Zeroizing<String>>> {
        if !self.stdin_is_terminal() {
            return Ok(None);
        }
        let prompt = format!("Password for {}: ", keyfile.display());
        rpassword::prompt_password(prompt)
            .map(|p| Some(Zeroizing::new(p)))
            .or_kind(Kind::Auth, || "could not read the password from the terminal")
    }

    fn busy(&self, message: &str) -> Box<dyn keys::BusyGuard> {
        Box::new(self.spinner(message))
    }
}
