//! `git bitsota completions SHELL`: print a completion script generated from the clap definition.

use clap_complete::Shell;

use crate::cli::CompletionsArgs;
use crate::ctx::Ctx;
use crate::error::Result;

/// What the shell sees: the dashed program on PATH.
const PROGRAM: &str = "git-bitsota";

pub fn run(ctx: &Ctx, args: &CompletionsArgs) -> Result<()> {
    let script = match args.shell {
        Shell::Bash => bash(),
        shell => generate(shell, PROGRAM),
    };
    if ctx.out.is_json() {
        let script = String::from_utf8_lossy(&script);
        return ctx
            .out
            .json(&serde_json::json!({"version": 1, "shell": args.shell.to_string(), "script": script}));
    }
    ctx.out.bytes(&script)
}

fn generate(shell: Shell, bin_name: &str) -> Vec<u8> {
    let mut cmd = crate::cli::command().bin_name(bin_name);
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, bin_name, &mut script);
    script
}

/// Bash: clap_complete's case labels disagree with its dispatch for a name containing `-`
/// (`git__bitsota` vs `git__subcmd__bitsota`), so subcommand options never complete. Generate
/// for a name without one, register it for `git-bitsota`, and add `_git_bitsota`, the function
/// git's own completion calls for `git bitsota <TAB>`.
fn bash() -> Vec<u8> {
    const INTERNAL: &str = "gitbitsota";
    let generated = String::from_utf8_lossy(&generate(Shell::Bash, INTERNAL)).into_owned();
    let mut script = String::new();
    for line in generated.lines() {
        match line.trim_start().starts_with("complete -F _gitbitsota") {
            true => script.push_str(&line.replace(&format!(" {INTERNAL}"), &format!(" {PROGRAM}"))),
            false => script.push_str(line),
        }
        script.push('\n');
    }
    script.push_str(
        r#"
# `git bitsota <TAB>`: git's completion calls _git_bitsota with its own words/cword.
_git_bitsota() {
    local COMP_WORDS=("git-bitsota" "${words[@]:2}")
    local COMP_CWORD=$((cword - 1))
    _gitbitsota "git-bitsota" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
}
"#,
    );
    script.into_bytes()
}
