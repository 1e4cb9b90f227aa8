//! `git bitsota completions SHELL`: print a completion script generated from the clap definition.

use crate::cli::CompletionsArgs;
use crate::ctx::Ctx;
use crate::error::Result;

pub fn run(ctx: &Ctx, args: &CompletionsArgs) -> Result<()> {
    let mut cmd = crate::cli::command();
    let mut script = Vec::new();
    // Completion is for the dashed binary name: that is the program the shell can see.
    clap_complete::generate(args.shell, &mut cmd, "git-bitsota", &mut script);
    if ctx.out.is_json() {
        let script = String::from_utf8_lossy(&script);
        return ctx
            .out
            .json(&serde_json::json!({"version": 1, "shell": args.shell.to_string(), "script": script}));
    }
    ctx.out.bytes(&script)
}
