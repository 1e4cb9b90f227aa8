//! `git bitsota check` — UNBUILT PLACEHOLDER, replaced by its real implementation.
use crate::cli::CheckArgs;
use crate::ctx::Ctx;
use crate::error::{Error, Result};

#[allow(unused_variables)]
pub fn run(ctx: &Ctx, args: &CheckArgs) -> Result<()> {
    Err(Error::usage("`check` is not built yet"))
}
