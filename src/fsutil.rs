//! Writing files so that no reader ever sees half of one, and so that a hostile repository
//! cannot aim a write elsewhere: temporary files are created fresh (`O_CREAT|O_EXCL`), never
//! through a symlink (`O_NOFOLLOW`), under a name nobody can guess in advance.

use std::fs::{self, File, OpenOptions};
use std::hash::{BuildHasher, Hasher};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// How many fresh names to try before giving up (a collision needs a 64-bit guess).
const TEMP_ATTEMPTS: usize = 16;

/// A temporary file created in `dir`, named `.<stem>.tmp-<random>`: created new (an existing
/// file or symlink of that name is an error, never opened), not followed if a symlink appears,
/// created with `mode` (less the umask). Returns the open file and its path; the caller renames
/// or removes it.
pub fn create_temp(dir: &Path, stem: &str, mode: u32) -> std::io::Result<(File, PathBuf)> {
    let mut last = None;
    for _ in 0..TEMP_ATTEMPTS {
        let path = dir.join(format!(".{stem}.tmp-{}", random_suffix()));
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&path)
        {
            Ok(file) => return Ok((file, path)),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no free temporary file name")))
}

/// A name part nobody can guess in advance (16 hex digits), for temporary files and directories.
pub fn random_suffix() -> String {
    format!("{:016x}", unpredictable())
}

/// 64 bits nobody outside this process can predict: std's hasher keys come from the OS's
/// random source, and each `RandomState` gets new ones.
fn unpredictable() -> u64 {
    let mut hasher = std::hash::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    hasher.finish()
}

/// Replace `path` with `bytes` atomically: a fresh temporary file beside the target (see
/// [`create_temp`]), fsync, rename, then fsync the directory so the rename survives a crash.
/// A symlink stays a symlink (its target is replaced); callers writing into a task's work tree
/// refuse symlinks first. The file gets `mode` when given, else keeps the target's permissions
/// (a new file gets what a plain create would give).
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
    let permissions = match mode {
        Some(mode) => Some(fs::Permissions::from_mode(mode)),
        None => fs::metadata(&target).ok().map(|meta| meta.permissions()),
    };
    let (mut file, tmp) = create_temp(&dir, &name, 0o666)?;
    let written = (|| {
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

/// Open `path` for reading without blocking on it: a FIFO or a device named there (by a task
/// repository, a task's code, or an environment variable) cannot hang the open, and a terminal
/// never becomes our controlling terminal. Check the descriptor's metadata before reading.
pub fn open_nonblocking(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY).open(path)
}

/// Open `path` for reading only if it is a regular file, checked on the open descriptor (so a
/// file swapped after a look is still caught); reads then block as usual.
pub fn open_regular_file(path: &Path) -> std::io::Result<File> {
    let file = open_nonblocking(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        let kind = if meta.is_dir() { "a directory" } else { "not a regular file" };
        return Err(std::io::Error::new(ErrorKind::InvalidInput, kind));
    }
    if let Ok(flags) = rustix::fs::fcntl_getfl(&file) {
        let _ = rustix::fs::fcntl_setfl(&file, flags & !rustix::fs::OFlags::NONBLOCK);
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_differ_and_never_follow_a_planted_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let (_a, first) = create_temp(dir.path(), "x", 0o600).unwrap();
        let (_b, second) = create_temp(dir.path(), "x", 0o600).unwrap();
        assert_ne!(first, second);
        let outside = dir.path().join("outside");
        fs::write(&outside, "keep").unwrap();
        let target = dir.path().join("t");
        std::os::unix::fs::symlink("outside", dir.path().join(".t.tmp-0000000000000000")).unwrap();
        write_atomic(&target, b"new", None).unwrap();
        assert_eq!(fs::read(&outside).unwrap(), b"keep");
        assert_eq!(fs::read(&target).unwrap(), b"new");
    }
}
