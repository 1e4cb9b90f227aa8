//! `git bitsota completions` — UNBUILT PLACEHOLDER, replaced by its real implementation.
use crate::cli::CompletionsArgs;
use crate::ctx::Ctx;
use crate::error::{Error, Result};

#[allow(unused_variables)]
pub fn run(ctx: &Ctx, args: &CompletionsArgs) -> Result<()> {
    Err(Error::usage("`completions` is not built yet"))
}
