//! `git bitsota hook` — UNBUILT PLACEHOLDER, replaced by its real implementation.
use crate::ctx::Ctx;
use crate::error::{Error, Result};

#[allow(unused_variables)]
pub fn install(ctx: &Ctx, force: bool, print: bool) -> Result<()> {
    Err(Error::usage("`hook` is not built yet"))
}
#[allow(unused_variables)]
pub fn uninstall(ctx: &Ctx) -> Result<()> {
    Err(Error::usage("`hook` is not built yet"))
}
#[allow(unused_variables)]
pub fn status(ctx: &Ctx) -> Result<()> {
    Err(Error::usage("`hook` is not built yet"))
}
