//! Writing files so that no reader ever sees half of one.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Replace `path` with `bytes` atomically: a temporary file beside the target, fsync, rename,
/// then fsync the directory so the rename survives a crash. A symlink stays a symlink (its
/// target is replaced). The file gets `mode` when given, else keeps the target's permissions.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: Option<u32>) -> std::io::Result<()> {
    let target = match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => fs::canonicalize(path)?,
        _ => path.to_path_buf(),
    };
    let dir = match target.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let permissions = match mode {
        Some(mode) => permissions_from_mode(mode),
        None => fs::metadata(&target).ok().map(|m| m.permissions()),
    };
    let written = (|| {
        let mut file = OpenOptions::new().write(true).create(true).truncate(true).open(&tmp)?;
        // Set explicitly: the umask may have masked bits off at creation.
        if let Some(permissions) = permissions {
            file.set_permissions(permissions)?;
        }
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, &target)
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    if let Ok(dir) = File::open(&dir) {
        let _ = dir.sync_all();
    }
    Ok(())
}

#[cfg(unix)]
fn permissions_from_mode(mode: u32) -> Option<fs::Permissions> {
    use std::os::unix::fs::PermissionsExt;
    Some(fs::Permissions::from_mode(mode))
}

/// Only Unix has modes; elsewhere a new file keeps what the file system gives it.
#[cfg(not(unix))]
fn permissions_from_mode(_mode: u32) -> Option<fs::Permissions> {
    None
}
