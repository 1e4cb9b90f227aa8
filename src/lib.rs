//! git-bitsota: a git extension for BitSota (Bittensor SN94) research tasks.
//!
//! `main.rs` only calls [`main`]; everything else lives here so tests and benches can reach it.

pub mod artifact;
pub mod auth;
pub mod bench_outputs;
pub mod bind;
pub mod canonical_json;
pub mod check;
pub mod claims;
pub mod cli;
pub mod client;
pub mod commands;
pub mod consent;
pub mod ctx;
pub mod error;
pub mod fnmatch;
pub mod fsutil;
pub mod harden;
pub mod ideas;
pub mod implements;
pub mod interrupt;
pub mod keys;
pub mod manpage;
pub mod measure;
pub mod metric;
pub mod mutation;
pub mod output;
pub mod patch;
pub mod replay;
pub mod repo;
pub mod runner;
pub mod served;
pub mod sidecar;
pub mod state;
pub mod submission_api;
pub mod task;
pub mod timefmt;
pub mod validator;
pub mod work_items;
pub mod worktree;

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
    let secrets = keys::Secrets::take_from_env();
    // A benchmark's group keeper (see runner::keeper) is this binary started with one variable.
    if let Some(parent) = std::env::var_os(runner::keeper::ENV) {
        return runner::keeper::run(&parent);
    }
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return usage_error(err),
    };
    let out = output::Output::new(cli.global.json, cli.global.quiet, cli.global.verbose, cli.global.color);
    if cli.global.verbose {
        repo::trace_git_commands(&out);
    }
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
