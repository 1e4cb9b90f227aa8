//! Shared test plumbing: hermetic git, the binary under test, task repos and records.

#![allow(dead_code)]

use std::ffi::OsStr;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{json, Value};

pub const BIN: &str = env!("CARGO_BIN_EXE_git-bitsota");

/// TEST-ONLY hotkey mnemonics (tests/data/signing-vectors.json) and the first one's address.
pub const PHRASE: &str = "quick monitor wasp inflict margin route rule among beach cave uncover pave";
pub const SS58: &str = "5H1cuWW6GMGRfsmrEuCspSt1aZg6TRD2wM1fuVoHLV3njATc";
pub const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");

/// A temporary HOME with git configuration switched off, fixed identities and dates.
pub struct Env {
    pub dir: tempfile::TempDir,
    extra: Vec<(String, String)>,
}

/// What a run of the tool (or git) gave.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Run {
    pub fn out(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}\nstderr: {}", self.out(), self.stderr))
    }
    /// The `--json` error object's code (empty when there is none).
    pub fn error_code(&self) -> String {
        self.json()["error"]["code"].as_str().unwrap_or_default().to_string()
    }
    /// The `--json` error object's message (empty when there is none).
    pub fn error_message(&self) -> String {
        self.json()["error"]["message"].as_str().unwrap_or_default().to_string()
    }
    /// Panic with everything printed unless the exit code is `code`.
    #[track_caller]
    pub fn expect(self, code: i32) -> Run {
        assert_eq!(self.code, code, "exit code\nstdout: {}\nstderr: {}", self.out(), self.stderr);
        self
    }
}

impl Env {
    pub fn new() -> Env {
        let dir = tempfile::Builder::new().prefix("bitsota-test-").tempdir().expect("tempdir");
        fs::create_dir_all(dir.path().join("home")).unwrap();
        Env { dir, extra: Vec::new() }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }
    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// An environment variable for every later command run in this Env.
    pub fn set(&mut self, key: &str, value: impl Into<String>) {
        self.extra.retain(|(k, _)| k != key);
        self.extra.push((key.to_string(), value.into()));
    }

    /// A Command with the hermetic environment. PATH starts with the directory of the binary
    /// under test, so `git bitsota` and installed hooks find it.
    pub fn command(&self, program: impl AsRef<OsStr>, cwd: &Path) -> Command {
        let mut cmd = Command::new(program);
        cmd.current_dir(cwd).env_clear();
        let bin_dir = Path::new(BIN).parent().unwrap();
        let path = format!("{}:/usr/local/bin:/usr/bin:/bin", bin_dir.display());
        let home = self.home().to_string_lossy().into_owned();
        let fixed = [
            ("PATH", path.as_str()),
            ("HOME", home.as_str()),
            ("GIT_CONFIG_GLOBAL", "/dev/null"),
            ("GIT_CONFIG_SYSTEM", "/dev/null"),
            ("GIT_CONFIG_NOSYSTEM", "1"),
            ("GIT_AUTHOR_NAME", "Test Miner"),
            ("GIT_AUTHOR_EMAIL", "miner@example.invalid"),
            ("GIT_AUTHOR_DATE", "2026-01-01T00:00:00Z"),
            ("GIT_COMMITTER_NAME", "Test Miner"),
            ("GIT_COMMITTER_EMAIL", "miner@example.invalid"),
            ("GIT_COMMITTER_DATE", "2026-01-01T00:00:00Z"),
            ("GIT_TERMINAL_PROMPT", "0"),
            ("LANG", "C"),
            ("TZ", "UTC"),
        ];
        for (k, v) in fixed {
            cmd.env(k, v);
        }
        // No real coordinator, ever: a closed local port unless a test sets its fake one.
        cmd.env("BITSOTA_COORDINATOR_URL", "http://127.0.0.1:9");
        cmd.env("BT_WALLET_PATH", self.root().join("no-wallets"));
        for (k, v) in &self.extra {
            cmd.env(k, v);
        }
        cmd
    }

    fn finish(mut cmd: Command, stdin: Option<&[u8]>) -> Run {
        cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn");
        if let Some(bytes) = stdin {
            let mut pipe = child.stdin.take().unwrap();
            // The child may exit without reading; that is fine.
            let _ = pipe.write_all(bytes);
        }
        let out = child.wait_with_output().expect("wait");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: out.stdout,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Run `git-bitsota ARGS` in `cwd`.
    pub fn tool(&self, cwd: &Path, args: &[&str]) -> Run {
        let mut cmd = self.command(BIN, cwd);
        cmd.args(args);
        Env::finish(cmd, None)
    }

    pub fn tool_stdin(&self, cwd: &Path, args: &[&str], stdin: &[u8]) -> Run {
        let mut cmd = self.command(BIN, cwd);
        cmd.args(args);
        Env::finish(cmd, Some(stdin))
    }

    /// Run git; panics when it fails. Returns stdout.
    #[track_caller]
    pub fn git(&self, cwd: &Path, args: &[&str]) -> String {
        let run = self.git_run(cwd, args);
        assert_eq!(run.code, 0, "git {args:?} failed: {}", run.stderr);
        run.out()
    }

    pub fn git_run(&self, cwd: &Path, args: &[&str]) -> Run {
        let mut cmd = self.command("git", cwd);
        cmd.args(args);
        Env::finish(cmd, None)
    }

    pub fn git_stdin(&self, cwd: &Path, args: &[&str], stdin: &[u8]) -> Run {
        let mut cmd = self.command("git", cwd);
        cmd.args(args);
        Env::finish(cmd, Some(stdin))
    }

    /// A repository with `files` committed on branch `main`, tagged... nothing else.
    pub fn repo_with(&self, name: &str, files: &[(&str, &[u8])]) -> PathBuf {
        let dir = self.path(name);
        fs::create_dir_all(&dir).unwrap();
        self.git(&dir, &["init", "-q", "-b", "main"]);
        for (path, bytes) in files {
            write(&dir.join(path), bytes);
        }
        self.git(&dir, &["add", "-A"]);
        self.git(&dir, &["commit", "-q", "-m", "base"]);
        dir
    }

    /// A repository (`task`) with `files` committed on `main`, bound to the task record of
    /// [`task_record`] (repository: that directory, allowed: `solution.txt`) with `overrides`
    /// merged in: the one way tests make a bound clone.
    pub fn bound(&self, files: &[(&str, &[u8])], overrides: Value) -> PathBuf {
        let repo = self.repo_with("task", files);
        let mut record = task_record(repo.to_str().unwrap(), "main", &["solution.txt"]);
        for (key, value) in overrides.as_object().expect("overrides are a JSON object") {
            record[key] = value.clone();
        }
        self.bind(&repo, &record);
        repo
    }

    /// What a validator does with a patch: `git clone` of `repository`, a detached checkout of
    /// `base`, `git apply -` of the exact bytes (which must apply). Returns the checkout.
    pub fn validator_replay(&self, repository: &str, base: &str, patch: &[u8], name: &str) -> PathBuf {
        let dir = self.path(name);
        self.git(self.root(), &["clone", "--quiet", repository, dir.to_str().unwrap()]);
        self.git(&dir, &["checkout", "--quiet", "--detach", base]);
        let applied = self.git_stdin(&dir, &["apply", "-"], patch);
        assert_eq!(applied.code, 0, "git apply failed: {}", applied.stderr);
        dir
    }

    /// Write a task record to a file and `init` the repo with it (exit 0 expected).
    pub fn bind(&self, repo: &Path, record: &Value) {
        let file = self.path("task-record.json");
        fs::write(&file, serde_json::to_vec(record).unwrap()).unwrap();
        let slug = record["slug"].as_str().unwrap_or("task");
        self.tool(repo, &["init", slug, "--task-file", file.to_str().unwrap()]).expect(0);
    }
}

pub fn write(path: &Path, bytes: &[u8]) {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).unwrap();
    }
    fs::write(path, bytes).unwrap();
}

/// A task record in the coordinator's shape (protocol.md §5), for a repo at `repository`
/// whose base ref is `base_ref`.
pub fn task_record(repository: &str, base_ref: &str, allowed: &[&str]) -> Value {
    json!({
        "id": "c54218ce-0000-4000-8000-000000000001",
        "slug": "demo-task",
        "title": "Demo task",
        "repository": repository,
        "base_ref": base_ref,
        "metric_name": "score",
        "metric_direction": "maximize",
        "competition_mode": "standard",
        "allowed_patch_paths": allowed,
        "max_patch_bytes": 262144,
        "benchmark_command": "python3 bench.py",
        "time_budget_seconds": 3600,
        "task_state": "live",
        "is_active": true
    })
}

/// `git bitsota check --json EXTRA…` in `repo`: the exit code and the report.
pub fn check_json(env: &Env, repo: &Path, extra: &[&str]) -> (i32, Value) {
    let mut args = vec!["check", "--json"];
    args.extend_from_slice(extra);
    let run = env.tool(repo, &args);
    (run.code, run.json())
}

/// The codes of a `check --json` report's problems, in order.
pub fn problem_codes(report: &Value) -> Vec<String> {
    report["problems"].as_array().unwrap().iter().map(|p| p["code"].as_str().unwrap().to_string()).collect()
}

/// The problem with `code` (panics with the report when there is none).
pub fn problem<'a>(report: &'a Value, code: &str) -> &'a Value {
    report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["code"] == code)
        .unwrap_or_else(|| panic!("no {code} problem in {report}"))
}

/// `(path, change, allowed)` of every file a `check --json` report lists.
pub fn listed(report: &Value) -> Vec<(String, String, bool)> {
    report["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let text = |k: &str| f[k].as_str().unwrap().to_string();
            (text("path"), text("change"), f["allowed"].as_bool().unwrap())
        })
        .collect()
}

/// Every file (and symlink) under `dir` except `.git`, as sorted relative paths.
pub fn files_under(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.file_name().is_some_and(|n| n == ".git") {
                continue;
            }
            if fs::symlink_metadata(&path).unwrap().is_dir() {
                walk(root, &path, out);
            } else {
                out.push(path.strip_prefix(root).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// The names of the entries of `dir`, sorted.
pub fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

/// Whether a test's precondition holds. When it does not, the test is skipped with a note,
/// except in CI (`CI` set), where a test that cannot run is a failure, not a silent pass.
pub fn precondition(holds: bool, what: &str) -> bool {
    if !holds {
        assert!(std::env::var_os("CI").is_none(), "cannot run in CI: {what}");
        eprintln!("skipped: {what}");
    }
    holds
}

/// Whether the process `pid` is gone (or a zombie waiting to be reaped): what a test asserts
/// about processes a command had to kill, instead of waiting to see whether they act.
pub fn process_is_dead(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat.rfind(')').and_then(|i| stat[i + 1..].split_whitespace().next()) == Some("Z"),
    }
}

/// The pid a test script wrote into `path`, waiting for the file to be complete.
pub fn pid_in(path: &Path) -> u32 {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.trim().parse().unwrap_or_else(|e| panic!("{}: {text:?}: {e}", path.display()))
}

/// Key loading that never asks and shows nothing.
pub struct NoUi;

impl git_bitsota::test_support::KeyUi for NoUi {
    fn ask_password(
        &self,
        _keyfile: &Path,
    ) -> Result<Option<zeroize::Zeroizing<String>>, git_bitsota::test_support::Error> {
        Ok(None)
    }
    fn busy(&self, _message: &str) -> Box<dyn git_bitsota::test_support::BusyGuard> {
        Box::new(())
    }
}

/// The hotkey of a TEST-ONLY mnemonic, loaded the way the tool loads one from
/// `BITSOTA_HOTKEY_MNEMONIC`.
pub fn hotkey_from_phrase(phrase: &str) -> git_bitsota::test_support::Hotkey {
    use git_bitsota::test_support::{load_hotkey, SecretSources, WalletSelector};
    let sources =
        SecretSources::from_lookup(|name| (name == "BITSOTA_HOTKEY_MNEMONIC").then(|| phrase.into()));
    let nowhere = WalletSelector { path: "/nonexistent".into(), name: "none".into(), hotkey: "none".into() };
    load_hotkey(&sources, &nowhere, &NoUi).expect("a valid test mnemonic")
}
