//! The man page `git-bitsota(1)`, generated from the clap definition plus the sections clap
//! cannot know about (files, environment, exit status, the sidecar, the hook).
//!
//! `man/git-bitsota.1` in the repository is this output; a test keeps the two equal.

use clap_mangen::roff::{bold, italic, roman, Inline, Roff};
use clap_mangen::Man;

use crate::cli;

/// The rendered page (roff source).
pub fn render() -> Vec<u8> {
    let mut root = cli::command();
    root.build();
    let man = Man::new(root.clone()).title("GIT-BITSOTA").manual("Git Manual");

    // Every roff render starts with the same apostrophe preamble; the page needs it once.
    let mut page = Roff::new().render().into_bytes();
    piece(&mut page, |w| man.render_title(w));
    piece(&mut page, |w| man.render_name_section(w));
    piece(&mut page, |w| man.render_synopsis_section(w));
    piece(&mut page, |w| man.render_description_section(w));
    piece(&mut page, |w| man.render_options_section(w));

    let mut roff = Roff::new();
    roff.control("SH", ["COMMANDS"]);
    roff.text([roman("Global options work before or after the command name. Every command accepts --json.")]);
    commands(&mut roff, &root);
    piece(&mut page, |w| roff.to_writer(w));
    for sub in subcommands(&root) {
        render_command(&mut page, sub, &root);
    }

    let mut tail = Roff::new();
    submission_section(&mut tail);
    problems_section(&mut tail);
    hook_section(&mut tail);
    files_section(&mut tail);
    environment_section(&mut tail);
    exit_status_section(&mut tail);
    see_also_section(&mut tail);
    piece(&mut page, |w| tail.to_writer(w));
    piece(&mut page, |w| man.render_version_section(w));
    page
}

/// Append one rendered piece without its preamble.
fn piece(page: &mut Vec<u8>, render: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>) {
    let mut buf = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = render(&mut buf);
    let preamble = Roff::new().render();
    let body = buf.strip_prefix(preamble.as_bytes()).unwrap_or(&buf);
    page.extend_from_slice(body);
}

/// A one-line index of the commands, so the page reads top-down.
fn commands(roff: &mut Roff, root: &clap::Command) {
    for sub in subcommands(root) {
        roff.control("TP", []);
        roff.text([bold(format!("git bitsota {}", sub.get_name()))]);
        if let Some(about) = sub.get_about() {
            roff.text([roman(about.to_string())]);
        }
    }
}

fn subcommands(cmd: &clap::Command) -> impl Iterator<Item = &clap::Command> {
    cmd.get_subcommands().filter(|s| !s.is_hide_set() && s.get_name() != "help")
}

/// One `.SS` block per (nested) subcommand: usage, description and its own options. Global
/// options are documented once, in OPTIONS.
fn render_command(page: &mut Vec<u8>, sub: &clap::Command, parent: &clap::Command) {
    let path = format!("{} {}", parent.get_bin_name().unwrap_or("git bitsota"), sub.get_name());
    let mut roff = Roff::new();
    roff.control("SS", [path.as_str()]);
    let usage = sub.clone().render_usage().to_string();
    let usage = usage.trim().trim_start_matches("Usage:").trim();
    roff.text([bold(usage.to_string())]);
    if let Some(about) = sub.get_long_about().or_else(|| sub.get_about()) {
        roff.control("PP", []);
        roff.text([roman(about.to_string())]);
    }
    piece(page, |w| roff.to_writer(w));

    let own: Vec<clap::Arg> = sub
        .get_arguments()
        .filter(|a| !a.is_global_set() && !a.is_hide_set())
        .filter(|a| !matches!(a.get_id().as_str(), "help" | "version"))
        .cloned()
        .collect();
    if !own.is_empty() {
        let stripped =
            clap::Command::new("command").disable_help_flag(true).disable_version_flag(true).args(own);
        let mut options = Vec::new();
        piece(&mut options, |w| Man::new(stripped).render_options_section(w));
        // Keep clap_mangen's option list but not its section heading: this is a subsection.
        let body = options.strip_prefix(b".SH OPTIONS\n".as_slice()).unwrap_or(&options);
        page.extend_from_slice(body);
    }
    let nested: Vec<&clap::Command> = subcommands(sub).collect();
    if !nested.is_empty() {
        let mut named = sub.clone();
        if named.get_bin_name().is_none() {
            named = named.bin_name(path.clone());
        }
        for child in nested {
            render_command(page, child, &named);
        }
    }
}

fn entry(roff: &mut Roff, term: Vec<Inline>, text: &str) {
    roff.control("TP", []);
    roff.text(term);
    roff.text([roman(text)]);
}

fn submission_section(roff: &mut Roff) {
    roff.control("SH", ["SUBMISSION FILE"]);
    roff.text([roman(
        "The submission sidecar (submission.json at the work tree root, or --submission-file) is a JSON \
         object sent next to the patch. check validates it when it exists; submit requires it.",
    )]);
    let fields: &[(&str, &str)] = &[
        ("summary", "required: a short explanation of the method and the local result."),
        (
            "claimed_metrics",
            "required: an object of metric values; it must contain the task's metric. bench --record writes it.",
        ),
        ("execution_log", "optional: benchmark command, baseline and candidate metric. bench --record writes it."),
        ("proposed_idea", "optional; required for centerless tasks."),
        ("implemented_submission_id", "optional: the submission whose idea this one implements."),
        (
            "artifact_uri, artifact_sha256, artifact_size_bytes",
            "optional, together: an artifact for artifact-first tasks (sha256 as 64 hex digits, sent lower-cased).",
        ),
        ("base_ref, notes", "accepted and ignored; the base sent is always the task's base commit."),
    ];
    for (field, text) in fields {
        entry(roff, vec![bold(*field)], text);
    }
}

fn problems_section(roff: &mut Roff) {
    roff.control("SH", ["PROBLEM CODES"]);
    roff.text([roman(
        "check, submit and the pre-push check report problems by code (check --json lists them under \
         \"problems\"); any problem means exit status 1. With --allow-outside, the per-file refusals \
         (the first eight) leave those changes out of the patch and list them instead.",
    )]);
    for code in crate::problems::ProblemCode::ALL {
        let text = format!("{}. Hint: {}.", capitalize(code.message()), code.hint().trim_end_matches('.'));
        entry(roff, vec![bold(code.code())], &text);
    }
}

fn hook_section(roff: &mut Roff) {
    roff.control("SH", ["PRE-PUSH HOOK"]);
    roff.text([roman(
        "git bitsota hook install writes a pre-push hook into the directory git rev-parse --git-path hooks \
         names (core.hooksPath is honoured). The hook runs git bitsota check --pre-push, which checks every \
         pushed commit (base commit to that commit, committed content only) against the task's allowed \
         paths, the bytecode rule and the size limit, offline. Deletes and up-to-date pushes pass. A foreign \
         hook is never replaced without --force, which moves it to pre-push.bitsota-backup; hook uninstall \
         removes only the git-bitsota hook and restores that backup. Skip the check once with \
         BITSOTA_SKIP_CHECK=1 or git push --no-verify.",
    )]);
}

fn files_section(roff: &mut Roff) {
    roff.control("SH", ["FILES"]);
    let files: &[(&str, &str)] = &[
        (
            "<git common dir>/bitsota.toml",
            "The state file: the task snapshot, base commit, claim and submissions of this clone (.git/bitsota.toml \
             in a normal clone; shared by linked worktrees). Written atomically under bitsota.toml.lock; never \
             holds a secret. A corrupt or newer-version file stops every command; init --force moves it aside to \
             bitsota.toml.corrupt-<unix time>.",
        ),
        (
            "<git common dir>/bitsota.toml.request-lock",
            "Locked (a kernel lock, released when the process ends) by claim, cancel and submit from the decision \
             to send a signed request until its answer is recorded: a second run, in this clone or a linked \
             worktree, waits (saying so after one second) and then decides on what the first one recorded.",
        ),
        (
            "submission.json",
            "The submission sidecar at the work tree root (see SUBMISSION FILE); --submission-file overrides.",
        ),
        (
            "<git common dir>/info/exclude",
            "clone and init add the line /submission.json, so the sidecar is never part of the patch, and the \
             task's result_path when it is neither tracked nor an allowed path.",
        ),
        (
            "<hooks dir>/pre-push",
            "The hook written by hook install; a replaced foreign hook is kept as pre-push.bitsota-backup next to it.",
        ),
        (
            "<git common dir>/bitsota/artifacts/<sha256>",
            "Artifacts downloaded by artifact set, artifact verify --download and bench --artifact URI, named by \
             the SHA-256 of their bytes; bench uses them instead of downloading again. Delete freely.",
        ),
        (
            "<work tree>/.autoresearch-submission/artifact",
            "Where bench puts the artifact for a run, as validators do (a hard link when possible, else a copy); \
             excluded in info/exclude and removed after the run.",
        ),
        (
            "bench logs",
            "The full output of each bench run is saved under the git dir; the path is printed and reported as \
             log by bench --json.",
        ),
        (
            "<wallet path>/<name>/hotkeys/<hotkey>",
            "The Bittensor hotkey file that signs requests (default ~/.bittensor/wallets/default/hotkeys/default); \
             it must not be readable by group or others.",
        ),
    ];
    for (file, text) in files {
        entry(roff, vec![italic(*file)], text);
    }
}

fn environment_section(roff: &mut Roff) {
    roff.control("SH", ["ENVIRONMENT"]);
    let vars: &[(&str, &str)] = &[
        (
            "BITSOTA_COORDINATOR_URL",
            "Coordinator base URL, as --coordinator-url (default: the state file's, else https://autoresearch.bitsota.com). \
             Must be https://, except loopback hosts.",
        ),
        ("NO_COLOR", "When set and not empty, --color auto prints no colour."),
        ("BT_WALLET_PATH", "Wallets directory, as --wallet-path (default ~/.bittensor/wallets)."),
        ("BT_WALLET_NAME", "Wallet name, as --wallet-name (default default)."),
        ("BT_WALLET_HOTKEY", "Hotkey name, as --wallet-hotkey (default default)."),
        (
            "BITSOTA_HOTKEY_MNEMONIC",
            "The hotkey's mnemonic; takes precedence over the wallet files. Removed from the environment at start-up.",
        ),
        ("BITSOTA_HOTKEY_MNEMONIC_FILE", "A file holding the hotkey's mnemonic; takes precedence over the wallet files."),
        (
            "BITSOTA_HOTKEY_PASSWORD",
            "Password of a $NACL-encrypted keyfile; without it a no-echo prompt is shown when stdin is a terminal.",
        ),
        ("BITSOTA_HOTKEY_PASSWORD_FILE", "A file holding that password (one trailing newline is ignored)."),
        (
            "BITSOTA_ALLOW_INSECURE_KEYFILE",
            "Set to 1 to accept key, mnemonic or password files readable by group or others.",
        ),
        ("BITSOTA_SKIP_CHECK", "Set to 1 to make the pre-push check pass with a notice on stderr."),
        (
            "BITSOTA_ARTIFACT_TIMEOUT_SECS",
            "For tests: replaces the validators' 60 s connect and read limits for artifact downloads.",
        ),
        (
            "GIT_DIR, GIT_WORK_TREE",
            "Honoured when finding the repository, as git does. No secret is ever accepted as a command-line argument.",
        ),
    ];
    for (var, text) in vars {
        entry(roff, vec![bold(*var)], text);
    }
}

fn exit_status_section(roff: &mut Roff) {
    roff.control("SH", ["EXIT STATUS"]);
    for (code, json, description) in crate::error::exit_statuses() {
        let mut text = format!("{}.", capitalize(description));
        if !json.is_empty() {
            text.push_str(&format!(" JSON error code {json}, unless a more specific one is given."));
        }
        entry(roff, vec![bold(code.to_string())], &text);
    }
    roff.control("PP", []);
    roff.text([roman(
        "Errors go to stderr as error: <what>, the cause chain and a hint; with --json they are also printed on \
         stdout as {\"version\":1,\"error\":{\"code\":...,\"message\":...}}.",
    )]);
}

fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

fn see_also_section(roff: &mut Roff) {
    roff.control("SH", ["SEE ALSO"]);
    roff.text([
        bold("git"),
        roman("(1), "),
        bold("githooks"),
        roman("(5), "),
        bold("git-rev-parse"),
        roman("(1)"),
    ]);
}
