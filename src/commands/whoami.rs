//! `git bitsota whoami`: the signing hotkey's address and where it was loaded from. Never a
//! secret.

use serde_json::json;

use crate::ctx::Ctx;
use crate::error::Result;

pub fn run(ctx: &Ctx) -> Result<()> {
    let hotkey = ctx.hotkey()?;
    let origin = hotkey.origin();
    let path = origin.path().map(|p| p.display().to_string());
    if ctx.out.is_json() {
        return ctx.out.json(&json!({
            "version": 1,
            "ss58": hotkey.ss58(),
            "public_key": hotkey.public_hex(),
            "source": origin.label(),
            "path": path,
        }));
    }
    ctx.out.line(hotkey.ss58())?;
    ctx.out.info(format!("public key: 0x{}", hotkey.public_hex()));
    match path {
        Some(path) => ctx.out.info(format!("loaded from: {} ({path})", origin.label())),
        None => ctx.out.info(format!("loaded from: {} (BITSOTA_HOTKEY_MNEMONIC)", origin.label())),
    }
    Ok(())
}
