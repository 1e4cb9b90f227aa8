//! `git bitsota claim` — UNBUILT PLACEHOLDER, replaced by its real implementation.
use crate::cli::ClaimArgs;
use crate::ctx::Ctx;
use crate::error::{Error, Result};

#[allow(unused_variables)]
pub fn run(ctx: &Ctx, args: &ClaimArgs) -> Result<()> {
    Err(Error::usage("`claim` is not built yet"))
}
