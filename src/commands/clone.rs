//! `git bitsota clone` — UNBUILT PLACEHOLDER, replaced by its real implementation.
use crate::cli::CloneArgs;
use crate::ctx::Ctx;
use crate::error::{Error, Result};

#[allow(unused_variables)]
pub fn run(ctx: &Ctx, args: &CloneArgs) -> Result<()> {
    Err(Error::usage("`clone` is not built yet"))
}
