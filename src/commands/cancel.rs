//! `git bitsota cancel` — UNBUILT PLACEHOLDER, replaced by its real implementation.

use crate::ctx::Ctx;
use crate::error::{Error, Result};

#[allow(unused_variables)]
pub fn run(ctx: &Ctx) -> Result<()> {
    Err(Error::usage("`cancel` is not built yet"))
}
