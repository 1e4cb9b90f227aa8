//! `git bitsota submissions` — UNBUILT PLACEHOLDER, replaced by its real implementation.
use crate::cli::SubmissionsArgs;
use crate::ctx::Ctx;
use crate::error::{Error, Result};

#[allow(unused_variables)]
pub fn run(ctx: &Ctx, args: &SubmissionsArgs) -> Result<()> {
    Err(Error::usage("`submissions` is not built yet"))
}
