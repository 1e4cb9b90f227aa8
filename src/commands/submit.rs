//! `git bitsota submit` — UNBUILT PLACEHOLDER, replaced by its real implementation.
use crate::cli::SubmitArgs;
use crate::ctx::Ctx;
use crate::error::{Error, Result};

#[allow(unused_variables)]
pub fn run(ctx: &Ctx, args: &SubmitArgs) -> Result<()> {
    Err(Error::usage("`submit` is not built yet"))
}
