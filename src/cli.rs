//! The command line, as clap derives it. The man page and completions are generated from
//! this definition, so help texts here are the documentation.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::output::ColorChoice;

pub const DEFAULT_COORDINATOR_URL: &str = "https://autoresearch.bitsota.com";

#[derive(Debug, Parser)]
#[command(
    name = "git-bitsota",
    bin_name = "git bitsota",
    version,
    about = "Mine BitSota (Bittensor SN94) research tasks from a git clone",
    long_about = "Mine BitSota (Bittensor SN94) research tasks from a git clone.\n\n\
        git bitsota lists live tasks, clones a task repository at its base commit, runs its \
        benchmark the way validators do, claims the task with a request signed by your \
        Bittensor hotkey, checks that your changes stay inside the task's allowed patch paths, \
        and submits exactly the patch validators will replay. Task and claim state live in \
        .git/bitsota.toml; commit, branch and stash as you like: the submission is always \
        base commit -> working tree.",
    after_long_help = crate::error::exit_status_help(),
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args, Clone)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// Coordinator base URL (https://, or http:// for loopback hosts only)
    #[arg(long, global = true, env = "BITSOTA_COORDINATOR_URL", value_name = "URL")]
    pub coordinator_url: Option<String>,

    /// Print machine-readable JSON on stdout
    #[arg(long, global = true)]
    pub json: bool,

    /// Print less: only results and errors
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Print more: the git commands and requests being made
    #[arg(short, long, global = true)]
    pub verbose: bool,

    /// When to colour output (NO_COLOR in the environment turns `auto` off)
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,

    /// Bittensor wallets directory
    #[arg(
        long,
        global = true,
        alias = "wallet.path",
        env = "BT_WALLET_PATH",
        value_name = "DIR",
        default_value = "~/.bittensor/wallets"
    )]
    pub wallet_path: PathBuf,

    /// Wallet (coldkey) name whose hotkey signs requests
    #[arg(
        long,
        global = true,
        alias = "wallet.name",
        env = "BT_WALLET_NAME",
        value_name = "NAME",
        default_value = "default"
    )]
    pub wallet_name: String,

    /// Hotkey name inside the wallet
    #[arg(
        long,
        global = true,
        alias = "wallet.hotkey",
        env = "BT_WALLET_HOTKEY",
        value_name = "NAME",
        default_value = "default"
    )]
    pub wallet_hotkey: String,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List tasks (by default only live, active ones)
    Tasks(TasksArgs),
    /// Show one task's metadata (and its onboarding notes with --onboard)
    Show(ShowArgs),
    /// Clone a task's repository at its base commit and bind the clone to the task
    Clone(CloneArgs),
    /// Bind the current clone to a task
    Init(InitArgs),
    /// Show the signing hotkey's address and where it was loaded from
    Whoami,
    /// Claim the bound task (or one of its pool work items) with a signed request
    Claim(ClaimArgs),
    /// List the bound task's pool work items in the order they are picked
    WorkItems(WorkItemsArgs),
    /// List the ideas of a centerless task's submissions, best candidates first
    Ideas(IdeasArgs),
    /// Apply another submission's patch to the work tree (not the index)
    Apply(ApplyArgs),
    /// Cancel this clone's active claim
    Cancel,
    /// Check what would be submitted, offline (also the pre-push hook)
    Check(CheckArgs),
    /// Print the exact patch bytes `submit` would send
    Diff(DiffArgs),
    /// Run the task's setup and benchmark as validators do, and extract the metric
    Bench(BenchArgs),
    /// Check, sign and send the submission
    Submit(SubmitArgs),
    /// Hash, record and verify the submission artifact as validators download it
    Artifact(ArtifactArgs),
    /// Show the bound task, the claim, local changes and this clone's submissions
    Status,
    /// List the bound task's submissions
    Submissions(SubmissionsArgs),
    /// Peer evaluation: list pending submissions of others, or replay one and send a verdict
    Review(ReviewArgs),
    /// Send a signed request to any coordinator route
    Request(RequestArgs),
    /// Run a coding agent in the clone, gate each attempt as validators would, keep it as a ref
    Run(RunArgs),
    /// List the attempts of `run`, print one's patch, or put its files back in the work tree
    Attempts(AttemptsArgs),
    /// Manage the pre-push hook that runs `check --pre-push`
    Hook(HookArgs),
    /// Print or install the man page
    Man(ManArgs),
    /// Print a shell completion script
    Completions(CompletionsArgs),
}

#[derive(Debug, Args)]
pub struct TasksArgs {
    /// Include tasks that are not live or not active
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Task slug or id
    #[arg(value_name = "TASK")]
    pub task: String,
    /// Also print the task's onboarding markdown
    #[arg(long)]
    pub onboard: bool,
}

#[derive(Debug, Args)]
pub struct CloneArgs {
    /// Task slug or id
    #[arg(value_name = "TASK")]
    pub task: String,
    /// Target directory (default: the repository's basename without .git)
    #[arg(value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Use this task record (JSON) instead of fetching it from the coordinator
    #[arg(long, value_name = "FILE")]
    pub task_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Task slug or id
    #[arg(value_name = "TASK")]
    pub task: String,
    /// Take the task record from this JSON file (offline) instead of the coordinator
    #[arg(long, value_name = "FILE")]
    pub task_file: Option<PathBuf>,
    /// Move a corrupt state file aside and start fresh
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct ClaimArgs {
    /// Claim description sent to the coordinator
    #[arg(short = 'm', long = "message", value_name = "TEXT", default_value = "git bitsota claim")]
    pub message: String,
    /// Create a new claim even though this clone, or the coordinator, holds an active claim of this hotkey on the task
    #[arg(long)]
    pub force: bool,
    /// Claim a pool work item: ID, else resume the item held by this hotkey's active claim,
    /// else take the first open item
    #[arg(long, value_name = "ID", num_args = 0..=1, conflicts_with = "base")]
    pub work_item: Option<Option<String>>,
    /// Build on this submission: send it as base_submission_id (apply its patch with `git
    /// bitsota apply`)
    #[arg(long, value_name = "SUBMISSION")]
    pub base: Option<String>,
}

#[derive(Debug, Args)]
pub struct WorkItemsArgs {
    /// Only items with this status (open, claimed, completed)
    #[arg(long, value_name = "S", default_value = "open")]
    pub status: String,
}

#[derive(Debug, Args)]
pub struct IdeasArgs {
    /// Also list ideas of rejected and failed submissions
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Id of a submission of the bound task
    #[arg(value_name = "SUBMISSION")]
    pub submission: String,
    /// Do not record the submission as the idea this work implements
    #[arg(long)]
    pub no_implements: bool,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Run as git's pre-push hook: read ref lines on stdin and check the pushed commits
    #[arg(long)]
    pub pre_push: bool,
    /// Remote name (given by git to the pre-push hook)
    #[arg(value_name = "REMOTE", requires = "pre_push")]
    pub remote: Option<std::ffi::OsString>,
    /// Remote URL (given by git to the pre-push hook)
    #[arg(value_name = "URL", requires = "pre_push")]
    pub url: Option<std::ffi::OsString>,
    /// Sidecar to validate when it exists
    #[arg(long, value_name = "FILE", conflicts_with = "pre_push")]
    pub submission_file: Option<PathBuf>,
    /// Report out-of-scope changes as left out instead of as a problem
    #[arg(long, conflicts_with = "pre_push")]
    pub allow_outside: bool,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// Leave out-of-scope changes out of the patch instead of refusing
    #[arg(long)]
    pub allow_outside: bool,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Skip the task's setup_command
    #[arg(long)]
    pub no_setup: bool,
    /// Also run on a temporary worktree at the base commit and compare
    #[arg(long)]
    pub baseline: bool,
    /// Write claimed_metrics and execution_log into the submission sidecar
    #[arg(long)]
    pub record: bool,
    /// Run the task's commands without asking first
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Pass your own environment to the commands (validators do not)
    #[arg(long)]
    pub inherit_env: bool,
    /// Sidecar written by --record
    #[arg(long, value_name = "FILE")]
    pub submission_file: Option<PathBuf>,
    /// Replay the exact patch (`git bitsota diff`) on a clean worktree at the base commit, as a
    /// validator does, instead of running in the work tree
    #[arg(long, conflicts_with_all = ["baseline", "inherit_env", "no_setup"])]
    pub replay: bool,
    /// Run with this artifact (a file, or an https:// URI downloaded as validators do) at
    /// .autoresearch-submission/artifact; without it, the sidecar's artifact is used when its
    /// bytes are cached
    #[arg(long, value_name = "FILE|URI")]
    pub artifact: Option<String>,
}

#[derive(Debug, Args)]
pub struct ReviewArgs {
    /// Submission id to replay and evaluate (without it: list the submissions to review)
    #[arg(value_name = "SUBMISSION")]
    pub submission: Option<String>,
    /// Run the task's commands without asking first
    #[arg(short = 'y', long, requires = "submission")]
    pub yes: bool,
    /// Replay and print the evaluation body; sign and send nothing
    #[arg(long, requires = "submission")]
    pub dry_run: bool,
    /// Text added to the validator-style note sent with the evaluation
    #[arg(long, value_name = "TEXT", requires = "submission")]
    pub notes: Option<String>,
    /// Replay a submission of any task and send nothing ("would validators accept this?")
    #[arg(long, requires = "submission")]
    pub local: bool,
}

#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// Print the body that would be sent; sign and send nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Submission sidecar (default: submission.json at the worktree root)
    #[arg(long, value_name = "FILE")]
    pub submission_file: Option<PathBuf>,
    /// Leave out-of-scope changes out of the patch (they are listed) instead of refusing
    #[arg(long)]
    pub allow_outside: bool,
    /// Send even though this claim already submitted the same patch
    #[arg(long)]
    pub force: bool,
    /// Name the submission whose idea this implements (implemented_submission_id); overrides
    /// the sidecar's value and the one `apply` recorded
    #[arg(long, value_name = "ID")]
    pub implements: Option<String>,
    /// Do not check that validators can download the sidecar's artifact (a warning is shown)
    #[arg(long)]
    pub no_verify_artifact: bool,
}

#[derive(Debug, Args)]
pub struct ArtifactArgs {
    #[command(subcommand)]
    pub action: ArtifactAction,
}

#[derive(Debug, Subcommand)]
pub enum ArtifactAction {
    /// Print the SHA-256 and byte size of a file, as validators compute them
    Hash {
        /// The artifact file
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Write artifact_uri, artifact_sha256 and artifact_size_bytes into the sidecar
    Set {
        /// https:// URL that serves the artifact's bytes itself (no redirect)
        #[arg(value_name = "URI")]
        uri: String,
        /// Hash this local file instead of downloading URI
        #[arg(long, value_name = "FILE")]
        file: Option<PathBuf>,
        /// Do not check the URI afterwards
        #[arg(long)]
        no_verify: bool,
        /// Sidecar to update (default: submission.json at the worktree root)
        #[arg(long, value_name = "FILE")]
        submission_file: Option<PathBuf>,
    },
    /// Fetch the sidecar's artifact_uri as validators do: one GET, no redirects, 60 s limits
    Verify {
        /// Download the whole body and check its size and sha256 (kept in the cache)
        #[arg(long)]
        download: bool,
        /// Sidecar to read (default: submission.json at the worktree root)
        #[arg(long, value_name = "FILE")]
        submission_file: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct SubmissionsArgs {
    /// Only submissions made by the signing hotkey
    #[arg(long)]
    pub mine: bool,
    /// Only submissions with this status (e.g. pending_verification, accepted, rejected)
    #[arg(long, value_name = "S")]
    pub status: Option<String>,
}

#[derive(Debug, Args)]
pub struct RequestArgs {
    /// HTTP method (GET, POST, ...)
    #[arg(value_name = "METHOD")]
    pub method: String,
    /// Route below the coordinator URL, e.g. /api/v1/tasks
    #[arg(value_name = "PATH")]
    pub path: String,
    /// JSON body (canonicalised before signing)
    #[arg(long, value_name = "JSON", conflicts_with = "body_file")]
    pub body_json: Option<String>,
    /// Read the JSON body from a file (`-` for stdin)
    #[arg(long, value_name = "FILE")]
    pub body_file: Option<PathBuf>,
    /// Query parameter, repeatable
    #[arg(long = "query", value_name = "K=V")]
    pub query: Vec<String>,
    /// Send without BT-AUTH-V1 headers
    #[arg(long)]
    pub unsigned: bool,
    /// Print the signed message, headers and body; send nothing
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// How many times to run the agent (each run is gated and kept as an attempt)
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    pub cycles: u64,
    /// Stop the agent (and everything it started) after SECS seconds [default: the task's time
    /// budget, at least 60]
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: Option<u64>,
    /// After the last cycle, claim if needed and submit the best attempt when it beats the
    /// baseline
    #[arg(long)]
    pub submit: bool,
    /// Run the agent command and the task's commands without asking first
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// The agent command and its arguments, after `--`; {repo_dir}, {intro_path} and
    /// {submission_path} in them are replaced (no shell is involved unless the command is one)
    #[arg(value_name = "COMMAND", required = true, last = true, num_args = 1..)]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct AttemptsArgs {
    #[command(subcommand)]
    pub action: Option<AttemptsAction>,
}

#[derive(Debug, Subcommand)]
pub enum AttemptsAction {
    /// Print an attempt's patch (the bytes `diff` printed when it was made)
    Show {
        /// Attempt number
        #[arg(value_name = "N")]
        n: u64,
    },
    /// Write an attempt's files into the work tree (the index is not touched)
    Restore {
        /// Attempt number
        #[arg(value_name = "N")]
        n: u64,
        /// Overwrite uncommitted changes that are no attempt's
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Args)]
pub struct HookArgs {
    #[command(subcommand)]
    pub action: HookAction,
}

#[derive(Debug, Subcommand)]
pub enum HookAction {
    /// Install the pre-push hook
    Install {
        /// Replace a foreign hook (it is backed up to pre-push.bitsota-backup)
        #[arg(long)]
        force: bool,
        /// Print the hook lines instead of installing them
        #[arg(long, conflicts_with = "force")]
        print: bool,
    },
    /// Remove our hook (restoring a backed-up foreign hook)
    Uninstall,
    /// Say whether the hook is installed, outdated, foreign or redirected
    Status,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Install the man page under PREFIX/share/man/man1 (default PREFIX: the directory above
    /// the `bin` holding git-bitsota, e.g. ~/.cargo, where man and `git bitsota --help` find it;
    /// else ~/.local)
    #[arg(long, value_name = "PREFIX", num_args = 0..=1)]
    pub install: Option<Option<PathBuf>>,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// Shell to generate completions for
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

/// The clap command, for the man page and completions.
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}
