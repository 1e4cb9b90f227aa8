//! Finding the task clone, and running `git` for everything whose bytes another git must accept.
//!
//! Discovery and rev-parsing use gix (in-process, honours `GIT_DIR`/`GIT_WORK_TREE`). Child
//! `git` processes get the discovered directories explicitly, a scrubbed environment and an
//! explicit argv (never a shell), so user configuration and the caller's environment cannot
//! change what they print.

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::{Error, Result, ResultExt};
use crate::output::Output;

/// Environment variables that change what plumbing prints or which external programs it runs.
const SCRUBBED_ENV: &[&str] = &[
    "GIT_EXTERNAL_DIFF",
    "GIT_DIFF_OPTS",
    "GIT_DIFF_PATH_COUNTER",
    "GIT_DIFF_PATH_TOTAL",
    "GIT_PAGER",
    "PAGER",
    "GIT_INDEX_FILE",
    "GIT_LITERAL_PATHSPECS",
    "GIT_GLOB_PATHSPECS",
    "GIT_NOGLOB_PATHSPECS",
    "GIT_ICASE_PATHSPECS",
    "GIT_TRACE",
    "GIT_TRACE2",
    "GIT_TRACE2_EVENT",
    "GIT_TRACE2_PERF",
    "GIT_FLUSH",
];

/// Config that must not vary with the user's settings when we ask git for bytes (every call).
pub const STABLE_CONFIG: &[&str] = &[
    "core.quotePath=false",
    "core.splitIndex=false",
    "core.safecrlf=false",
    "diff.suppressBlankEmpty=false",
    "diff.noprefix=false",
    "diff.mnemonicPrefix=false",
    "color.ui=never",
    "color.diff=never",
    "diff.relative=false",
    "diff.algorithm=myers",
    "diff.context=3",
    "core.autocrlf=false",
];

/// A discovered, non-bare repository with a work tree.
#[derive(Debug, Clone)]
pub struct Repo {
    git_dir: PathBuf,
    common_dir: PathBuf,
    work_tree: PathBuf,
    index_path: PathBuf,
    /// The repository as discovered, for rev-parsing and history walks without reopening it.
    gix: gix::ThreadSafeRepository,
    /// Where `-v` shows the git commands run for this repository.
    trace: Option<Output>,
}

fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

impl Repo {
    /// Add `line` (after a `# git-bitsota: <why>` comment) to `<common dir>/info/exclude` unless a
    /// line already says it.
    pub fn add_exclude_line(&self, why: &str, line: &str) -> Result<()> {
        let info = self.common_dir().join("info");
        let path = info.join("exclude");
        let existing = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(Error::usage(format!("cannot read {}", path.display())).with_source(e)),
        };
        if existing.split(|b| *b == b'\n').any(|l| l.trim_ascii() == line.as_bytes()) {
            return Ok(());
        }
        let mut text = String::new();
        if !existing.is_empty() && !existing.ends_with(b"\n") {
            text.push('\n');
        }
        text.push_str(&format!("# git-bitsota: {why}\n{line}\n"));
        std::fs::create_dir_all(&info)
            .and_then(|_| std::fs::OpenOptions::new().create(true).append(true).open(&path))
            .and_then(|mut file| file.write_all(text.as_bytes()))
            .or_usage(|| format!("cannot update {}", path.display()))
    }

    /// Find the repository containing the current directory, honouring `GIT_DIR`,
    /// `GIT_WORK_TREE` and the other discovery variables as git does.
    pub fn discover() -> Result<Repo> {
        let cwd = std::env::current_dir().or_usage(|| "cannot determine the current directory")?;
        Self::discover_from(&cwd)
    }

    pub fn discover_from(dir: &Path) -> Result<Repo> {
        let shared = gix::ThreadSafeRepository::discover_with_environment_overrides(dir).map_err(|e| {
            Error::usage(format!("not a git repository: {}", dir.display()))
                .with_code("not_a_repository")
                .with_source(e)
                .with_hint("run this inside a task clone, or create one with `git bitsota clone TASK`")
        })?;
        Self::from_gix(shared)
    }

    /// Open exactly `dir/.git` (no upward discovery, no `GIT_DIR`): for a directory this tool
    /// just created, so a hostile name can never make it bind an enclosing repository.
    pub fn open_exact(dir: &Path) -> Result<Repo> {
        let git_dir = dir.join(".git");
        let shared = gix::ThreadSafeRepository::open(&git_dir).map_err(|e| {
            Error::usage(format!("not a git repository: {}", crate::output::quote_path(dir)))
                .with_code("not_a_repository")
                .with_source(e)
        })?;
        let repo = Self::from_gix(shared)?;
        if repo.work_tree != canonical(dir) {
            return Err(Error::usage(format!(
                "{} is not the work tree of {}",
                crate::output::quote_path(dir),
                crate::output::quote_path(&git_dir)
            ))
            .with_code("not_a_repository"));
        }
        Ok(repo)
    }

    fn from_gix(shared: gix::ThreadSafeRepository) -> Result<Repo> {
        let repo = shared.to_thread_local();
        let Some(work_tree) = repo.workdir() else {
            return Err(Error::usage(format!(
                "{} is a bare repository; git bitsota needs a work tree",
                repo.git_dir().display()
            ))
            .with_code("bare_repository")
            .with_hint("clone the task repository (`git bitsota clone TASK`) and run it there"));
        };
        Ok(Repo {
            git_dir: canonical(repo.git_dir()),
            common_dir: canonical(repo.common_dir()),
            work_tree: canonical(work_tree),
            index_path: repo.index_path(),
            gix: shared,
            trace: None,
        })
    }

    /// Show the git commands run for this repository on `out`'s verbose channel (`-v`).
    pub fn traced(mut self, out: &Output) -> Repo {
        self.trace = Some(out.clone());
        self
    }

    pub fn git_dir(&self) -> &Path {
        &self.git_dir
    }
    /// The directory shared by all worktrees of the clone (`git rev-parse --git-common-dir`).
    pub fn common_dir(&self) -> &Path {
        &self.common_dir
    }
    pub fn work_tree(&self) -> &Path {
        &self.work_tree
    }
    pub fn index_path(&self) -> &Path {
        &self.index_path
    }
    /// The repository's object format (SHA-1 or SHA-256).
    pub fn object_hash(&self) -> gix::hash::Kind {
        self.gix.to_thread_local().object_hash()
    }
    /// `<common dir>/bitsota.toml`: one state file per clone, shared by its worktrees.
    pub fn state_path(&self) -> PathBuf {
        self.common_dir.join("bitsota.toml")
    }

    /// Resolve `spec` (any rev-parse syntax) to a commit id, or `None` if it names nothing.
    pub fn resolve_commit(&self, spec: &str) -> Result<Option<String>> {
        let repo = self.gix.to_thread_local();
        let Ok(id) = repo.rev_parse_single(spec) else {
            return Ok(None);
        };
        let commit = id
            .object()
            .and_then(|object| object.peel_to_commit())
            .or_usage(|| format!("`{spec}` does not name a commit"))?;
        Ok(Some(commit.id.to_string()))
    }

    /// The tree id of a commit.
    pub fn commit_tree(&self, commit: &str) -> Result<gix::ObjectId> {
        let repo = self.gix.to_thread_local();
        let tree = repo
            .rev_parse_single(format!("{commit}^{{tree}}").as_str())
            .or_usage(|| format!("cannot read the tree of commit {commit}"))?;
        Ok(tree.detach())
    }

    /// Whether `ancestor` is `descendant` or one of its ancestors.
    pub fn is_ancestor(&self, ancestor: &str, descendant: &str) -> Result<bool> {
        if ancestor == descendant {
            return Ok(true);
        }
        let repo = self.gix.to_thread_local();
        let parse = |spec: &str| {
            gix::ObjectId::from_hex(spec.as_bytes()).or_usage(|| format!("`{spec}` is not an object id"))
        };
        let (a, d) = (parse(ancestor)?, parse(descendant)?);
        let base = repo.merge_base(a, d).or_usage(|| format!("cannot walk the history of {descendant}"))?;
        Ok(base.is_some_and(|id| id.detach() == a))
    }

    /// A `git` command bound to this repository, with a scrubbed environment.
    pub fn git(&self) -> Git {
        Git::new(Some(self))
    }
}

/// Config pinned on every git call that keeps a repository's own settings from running
/// programs: no file-system monitor (`core.fsmonitor` names a command).
const NO_MONITOR: &[&str] = &["core.fsmonitor=false"];

/// No hooks for plumbing (`post-index-change`, `post-checkout`, …): the hooks directory is
/// the task repository's and the miner's, not ours to run.
const NO_HOOKS: &str = "core.hooksPath=/dev/null";

/// One `git` invocation: explicit argv, scrubbed environment, output captured as bytes.
///
/// Every call runs with [`STABLE_CONFIG`], `core.fsmonitor=false` and `core.hooksPath=/dev/null`
/// (only [`Git::reading_hooks_config`] leaves the hooks path alone, to ask where hooks live).
pub struct Git {
    command: Command,
    args: Vec<OsString>,
    hooks_off: bool,
    stdin: Option<Vec<u8>>,
    trace: Option<Output>,
}

impl Git {
    /// `git` outside any repository (clone), or bound to `repo`.
    pub fn new(repo: Option<&Repo>) -> Git {
        let mut command = Command::new("git");
        for var in SCRUBBED_ENV {
            command.env_remove(var);
        }
        // Plumbing output is parsed; keep it in one language.
        command.env("LC_ALL", "C").env("LANGUAGE", "C");
        // Variables that point git at some other repository than the one meant here.
        for var in ["GIT_DIR", "GIT_WORK_TREE", "GIT_COMMON_DIR", "GIT_OBJECT_DIRECTORY", "GIT_NAMESPACE"] {
            command.env_remove(var);
        }
        if let Some(repo) = repo {
            command
                .env("GIT_DIR", &repo.git_dir)
                .env("GIT_WORK_TREE", &repo.work_tree)
                .current_dir(&repo.work_tree);
        }
        command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let trace = repo.and_then(|r| r.trace.clone());
        Git { command, args: Vec::new(), hooks_off: true, stdin: None, trace }
    }

    /// For asking git where the hooks are (`rev-parse --git-path hooks`, `config core.hooksPath`):
    /// the hooks path is not pinned, so the answer is the repository's own.
    pub fn reading_hooks_config(mut self) -> Self {
        self.hooks_off = false;
        self
    }

    /// Say at a call site that its output bytes must not vary with the user's config. Every
    /// call already pins [`STABLE_CONFIG`] (see [`Git::new`]); this changes nothing.
    pub fn stable_config(self) -> Self {
        self
    }

    /// The `-c` options every call starts with.
    fn pinned_config(&self) -> Vec<&'static str> {
        let mut pins: Vec<&str> = STABLE_CONFIG.iter().chain(NO_MONITOR).copied().collect();
        if self.hooks_off {
            pins.push(NO_HOOKS);
        }
        pins
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_os_string());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        for arg in args {
            self = self.arg(arg);
        }
        self
    }

    pub fn env(mut self, key: &str, value: impl AsRef<OsStr>) -> Self {
        self.command.env(key, value);
        self
    }

    pub fn current_dir(mut self, dir: &Path) -> Self {
        self.command.current_dir(dir);
        self
    }

    /// Use a private index file instead of the user's.
    pub fn index_file(self, index: &Path) -> Self {
        self.env("GIT_INDEX_FILE", index)
    }

    /// Show this command on `out`'s verbose channel (`-v`), for git run outside a repository.
    pub fn traced(mut self, out: &Output) -> Self {
        self.trace = Some(out.clone());
        self
    }

    pub fn stdin(mut self, bytes: Vec<u8>) -> Self {
        self.stdin = Some(bytes);
        self
    }

    fn describe(&self) -> String {
        let args: Vec<String> = self.args.iter().map(|a| a.to_string_lossy().into_owned()).collect();
        format!("git {}", args.join(" "))
    }

    /// The command with the pinned config, then the caller's arguments.
    fn finish(mut self) -> (Command, String, Option<Vec<u8>>) {
        let what = self.describe();
        if let Some(out) = &self.trace {
            out.detail(format!("run: {what}"));
        }
        for pin in self.pinned_config() {
            self.command.arg("-c").arg(pin);
        }
        self.command.args(&self.args);
        (self.command, what, self.stdin)
    }

    /// Run to completion; stdout on success, an error carrying stderr otherwise.
    pub fn output(self) -> Result<Vec<u8>> {
        let (status, stdout, stderr, what) = self.run()?;
        if status.success() {
            Ok(stdout)
        } else {
            Err(failure(&what, status.code(), &stderr))
        }
    }

    /// Run with stderr passed through (git's own progress and messages reach the user);
    /// stdout is discarded. An error when git fails.
    pub fn run_visible(self) -> Result<()> {
        let (mut command, what, _) = self.finish();
        command.stdout(Stdio::null()).stderr(Stdio::inherit());
        let status = command.status().map_err(|e| {
            Error::usage(format!("could not run `{what}`"))
                .with_source(e)
                .with_hint("git-bitsota needs `git` on PATH")
        })?;
        if status.success() {
            Ok(())
        } else {
            Err(failure(&what, status.code(), b""))
        }
    }

    /// Start git with stdin and stdout piped, for a conversation (`check-attr --stdin`); the
    /// caller writes, closes stdin, reads and waits.
    pub fn spawn_piped(self) -> Result<std::process::Child> {
        let (mut command, what, _) = self.finish();
        command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::null());
        command.spawn().map_err(|e| {
            Error::usage(format!("could not run `{what}`"))
                .with_source(e)
                .with_hint("git-bitsota needs `git` on PATH")
        })
    }

    /// Run to completion and return the exit code and both outputs, whatever the exit code.
    pub fn output_any(self) -> Result<(Option<i32>, Vec<u8>, Vec<u8>)> {
        let (status, stdout, stderr, _) = self.run()?;
        Ok((status.code(), stdout, stderr))
    }

    fn run(self) -> Result<(std::process::ExitStatus, Vec<u8>, Vec<u8>, String)> {
        let (mut command, what, stdin) = self.finish();
        if stdin.is_some() {
            command.stdin(Stdio::piped());
        }
        let mut child = command.spawn().map_err(|e| {
            Error::usage(format!("could not run `{what}`"))
                .with_source(e)
                .with_hint("git-bitsota needs `git` on PATH")
        })?;
        // Feed stdin from a thread so a large input cannot deadlock against a full stdout pipe.
        let feeder = match (stdin, child.stdin.take()) {
            (Some(bytes), Some(mut pipe)) => Some(std::thread::spawn(move || {
                // git may stop reading early; that is reported through its exit code.
                let _ = pipe.write_all(&bytes);
            })),
            _ => None,
        };
        let output = child.wait_with_output().or_usage(|| format!("`{what}` did not finish"))?;
        if let Some(feeder) = feeder {
            let _ = feeder.join();
        }
        Ok((output.status, output.stdout, output.stderr, what))
    }
}

fn failure(what: &str, code: Option<i32>, stderr: &[u8]) -> Error {
    // Killed by Ctrl-C (the terminal signals the whole foreground group): an interruption.
    if code.is_none() && crate::interrupt::interrupted() {
        return crate::interrupt::error();
    }
    let stderr = String::from_utf8_lossy(stderr);
    let stderr = stderr.trim();
    let code = code.map_or_else(|| "a signal".to_string(), |c| format!("exit {c}"));
    let mut err = Error::usage(format!("`{what}` failed ({code})")).with_code("git_failed");
    if !stderr.is_empty() {
        err = err.with_source(GitStderr(stderr.to_string()));
    }
    err
}

#[derive(Debug)]
struct GitStderr(String);
impl std::fmt::Display for GitStderr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for GitStderr {}

/// The first 12 characters of an object id, for people (the whole text if shorter).
pub fn short_oid(oid: &str) -> &str {
    oid.get(..12).unwrap_or(oid)
}

/// Split NUL-terminated output into its records.
pub fn split_nul(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    bytes.split(|b| *b == 0).filter(|part| !part.is_empty())
}
