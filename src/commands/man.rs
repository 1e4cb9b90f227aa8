//! `git bitsota man [--install [PREFIX]]`: print the man page, or install it where man-db finds
//! it (`PREFIX/share/man/man1`, default PREFIX `~/.local`).

use std::path::{Path, PathBuf};

use serde_json::json;

use crate::cli::ManArgs;
use crate::ctx::Ctx;
use crate::error::{Error, Result, ResultExt};
use crate::manpage;

pub const PAGE_NAME: &str = "git-bitsota.1";

pub fn run(ctx: &Ctx, args: &ManArgs) -> Result<()> {
    let page = manpage::render();
    let Some(prefix) = &args.install else {
        if ctx.out.is_json() {
            return ctx.out.json(&json!({"version": 1, "man": String::from_utf8_lossy(&page)}));
        }
        return ctx.out.bytes(&page);
    };
    let prefix = match prefix {
        Some(given) => match given.strip_prefix("~") {
            // A quoted `~` reaches us unexpanded; expand it as a shell would.
            Ok(rest) => home()?.join(rest),
            Err(_) => given.clone(),
        },
        None => default_prefix()?,
    };
    let dir = prefix.join("share").join("man").join("man1");
    let path = dir.join(PAGE_NAME);
    write_atomic(&dir, &path, &page)?;
    if ctx.out.is_json() {
        return ctx.out.json(&json!({"version": 1, "path": path.display().to_string()}));
    }
    ctx.out.line(format!("installed the man page at {}", path.display()))?;
    ctx.out.hint(format!(
        "`git bitsota --help` and `man git-bitsota` find it when {} is on PATH, or add {} to MANPATH",
        prefix.join("bin").display(),
        prefix.join("share").join("man").display()
    ));
    Ok(())
}

/// Next to the binary when it lives in `<prefix>/bin` (man-db maps each PATH entry
/// `<prefix>/bin` to `<prefix>/share/man`, so `man` and `git bitsota --help` find the page
/// without MANPATH), else `~/.local`.
fn default_prefix() -> Result<PathBuf> {
    let exe = std::env::current_exe().ok().and_then(|p| std::fs::canonicalize(p).ok());
    let beside_bin =
        exe.as_deref().and_then(Path::parent).filter(|dir| dir.file_name() == Some("bin".as_ref()));
    match beside_bin.and_then(Path::parent) {
        Some(prefix) => Ok(prefix.to_path_buf()),
        None => Ok(home()?.join(".local")),
    }
}

fn home() -> Result<PathBuf> {
    match std::env::var_os("HOME") {
        Some(home) if !home.is_empty() => Ok(PathBuf::from(home)),
        _ => Err(Error::usage("HOME is not set, so there is no default prefix")
            .with_hint("name one: `git bitsota man --install PREFIX`")),
    }
}

/// Temp file in the same directory, then rename: a reader never sees half a page.
fn write_atomic(dir: &Path, path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::create_dir_all(dir)
        .and_then(|_| crate::fsutil::write_atomic(path, bytes, None))
        .or_usage(|| format!("cannot write {}", path.display()))
}
