//! `git bitsota show` — UNBUILT PLACEHOLDER, replaced by its real implementation.
use crate::cli::ShowArgs;
use crate::ctx::Ctx;
use crate::error::{Error, Result};

#[allow(unused_variables)]
pub fn run(ctx: &Ctx, args: &ShowArgs) -> Result<()> {
    Err(Error::usage("`show` is not built yet"))
}
