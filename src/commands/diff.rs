//! `git bitsota diff`: the exact patch bytes `submit` would send, on stdout.

use crate::check;
use crate::cli::DiffArgs;
use crate::ctx::Ctx;
use crate::error::Result;

pub fn run(ctx: &Ctx, args: &DiffArgs) -> Result<()> {
    let repo = ctx.repo()?;
    let state = ctx.state_file(&repo).read_bound()?;
    let report = check::submittable(&repo, &state.task, args.allow_outside)?;
    for path in report.left_out() {
        ctx.out.warn(format!("left out: {path}"));
    }
    if ctx.out.is_json() {
        // The patch is UTF-8 whenever `submit` could send it; otherwise the bytes are shown
        // lossily and `patch_not_utf8` says why it cannot be sent.
        return ctx.out.json(&serde_json::json!({
            "version": 1,
            "patch": String::from_utf8_lossy(&report.built.patch),
            "patch_bytes": report.patch_bytes(),
            "patch_sha256": crate::canonical_json::sha256_hex(&report.built.patch),
            "left_out": report.left_out(),
        }));
    }
    ctx.out.bytes(&report.built.patch)
}
