//! `git bitsota init` — UNBUILT PLACEHOLDER, replaced by its real implementation.
use crate::cli::InitArgs;
use crate::ctx::Ctx;
use crate::error::{Error, Result};

#[allow(unused_variables)]
pub fn run(ctx: &Ctx, args: &InitArgs) -> Result<()> {
    Err(Error::usage("`init` is not built yet"))
}
