//! `git bitsota bench` — UNBUILT PLACEHOLDER, replaced by its real implementation.
use crate::cli::BenchArgs;
use crate::ctx::Ctx;
use crate::error::{Error, Result};

#[allow(unused_variables)]
pub fn run(ctx: &Ctx, args: &BenchArgs) -> Result<()> {
    Err(Error::usage("`bench` is not built yet"))
}
