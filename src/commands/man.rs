//! `git bitsota man` — UNBUILT PLACEHOLDER, replaced by its real implementation.
use crate::cli::ManArgs;
use crate::ctx::Ctx;
use crate::error::{Error, Result};

#[allow(unused_variables)]
pub fn run(ctx: &Ctx, args: &ManArgs) -> Result<()> {
    Err(Error::usage("`man` is not built yet"))
}
