//! `git bitsota tasks` — UNBUILT PLACEHOLDER, replaced by its real implementation.
use crate::cli::TasksArgs;
use crate::ctx::Ctx;
use crate::error::{Error, Result};

#[allow(unused_variables)]
pub fn run(ctx: &Ctx, args: &TasksArgs) -> Result<()> {
    Err(Error::usage("`tasks` is not built yet"))
}
