//! `git bitsota request` — UNBUILT PLACEHOLDER, replaced by its real implementation.
use crate::cli::RequestArgs;
use crate::ctx::Ctx;
use crate::error::{Error, Result};

#[allow(unused_variables)]
pub fn run(ctx: &Ctx, args: &RequestArgs) -> Result<()> {
    Err(Error::usage("`request` is not built yet"))
}
