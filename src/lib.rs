//! git-bitsota: a git extension for BitSota (Bittensor SN94) research tasks.
//!
//! `main.rs` only calls [`main`]. Every module is private to the crate; the integration tests
//! reach the few pieces they check directly through [`test_support`], everything else through
//! the binary.

pub(crate) mod agent;
pub(crate) mod artifact;
pub(crate) mod attempts;
pub(crate) mod auth;
pub(crate) mod bench_outputs;
pub(crate) mod bench_results;
pub(crate) mod bind;
pub(crate) mod brief;
pub(crate) mod canonical_json;
pub(crate) mod check;
pub(crate) mod claims;
pub(crate) mod cli;
pub(crate) mod client;
pub(crate) mod commands;
pub(crate) mod consent;
pub(crate) mod ctx;
pub(crate) mod error;
pub(crate) mod fnmatch;
pub(crate) mod fsutil;
pub(crate) mod harden;
pub(crate) mod ideas;
pub(crate) mod implements;
pub(crate) mod interrupt;
pub(crate) mod keys;
pub(crate) mod lockfile;
pub(crate) mod manpage;
pub(crate) mod measure;
pub(crate) mod metric;
pub(crate) mod mutation;
pub(crate) mod output;
pub(crate) mod patch;
pub(crate) mod peer_review;
pub(crate) mod problems;
pub(crate) mod replay;
pub(crate) mod repo;
pub(crate) mod runner;
pub(crate) mod served_values;
pub(crate) mod sidecar;
pub(crate) mod state;
pub(crate) mod submission_api;
pub(crate) mod task;
pub mod test_support;
pub(crate) mod timefmt;
pub(crate) mod validator;
pub(crate) mod work_items;
pub(crate) mod worktree;

#[cfg(not(unix))]
compile_error!(
    "git-bitsota is Unix-only (Linux and macOS): it relies on process groups, flock and O_NOFOLLOW"
);

use clap::Parser;

use crate::error::Kind;

/// Run the command line and return the process exit status (cli.md §7).
pub fn main() -> i32 {
    // Before anything else (and before any thread exists): no core dump and no same-user
    // reader of /proc/<pid>/{environ,mem}; then take the secret variables out of the
    // environment, overwriting their bytes, so no child process or /proc reader finds them.
    harden::no_dumps();
    let secrets = keys::SecretSources::take_from_env();
    // A benchmark's group keeper (see runner::keeper) is this binary started with one variable.
    if let Some(parent) = std::env::var_os(runner::keeper::ENV) {
        return runner::keeper::run(&parent);
    }
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return usage_error(err),
    };
    let out = output::Output::new(cli.global.json, cli.global.quiet, cli.global.verbose, cli.global.color);
    let ctx = ctx::Ctx::new(out, cli.global.clone(), secrets);
    match commands::run(&ctx, cli.command) {
        Ok(()) => 0,
        Err(err) if err.kind() == Kind::BrokenPipe => 0,
        Err(err) => {
            if !err.is_reported() {
                ctx.out.error(&err);
            }
            err.exit_code()
        }
    }
}

/// clap's own errors: `--help`/`--version` exit 0, everything else is a usage error (exit 2),
/// also reported as JSON when `--json` was among the arguments.
fn usage_error(err: clap::Error) -> i32 {
    use clap::error::ErrorKind;
    let _ = err.print();
    if matches!(err.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        return 0;
    }
    if std::env::args_os().any(|a| a == "--json") {
        let first_line =
            err.to_string().lines().next().unwrap_or("").trim_start_matches("error: ").to_string();
        let out = output::Output::plain(true);
        let _ =
            out.json(&serde_json::json!({"version": 1, "error": {"code": "usage", "message": first_line}}));
    }
    Kind::Usage.exit_code()
}
