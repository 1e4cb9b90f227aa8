//! `git bitsota diff` — UNBUILT PLACEHOLDER, replaced by its real implementation.
use crate::cli::DiffArgs;
use crate::ctx::Ctx;
use crate::error::{Error, Result};

#[allow(unused_variables)]
pub fn run(ctx: &Ctx, args: &DiffArgs) -> Result<()> {
    Err(Error::usage("`diff` is not built yet"))
}
