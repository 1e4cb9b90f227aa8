//! Files holding secrets (mnemonic, password, keyfile): permissions, size limits, and FIFOs
//! read without hanging.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use zeroize::Zeroizing;

use super::{ENV_ALLOW_INSECURE, ENV_MNEMONIC_FILE, ENV_PASSWORD_FILE, MAX_SECRET_FILE_BYTES};
use crate::error::{Error, Result};

#[derive(Clone, Copy)]
pub(super) enum SecretFile {
    Keyfile,
    Mnemonic,
    Password,
}

impl SecretFile {
    fn what(self) -> &'static str {
        match self {
            SecretFile::Keyfile => "hotkey file",
            SecretFile::Mnemonic => "mnemonic file",
            SecretFile::Password => "password file",
        }
    }

    fn missing_hint(self) -> String {
        match self {
            SecretFile::Keyfile => format!(
                "choose the wallet with --wallet-path/--wallet-name/--wallet-hotkey \
                 (or BT_WALLET_PATH/BT_WALLET_NAME/BT_WALLET_HOTKEY), or set \
                 {ENV_MNEMONIC_FILE} to a file holding the hotkey's mnemonic"
            ),
            SecretFile::Mnemonic => format!("{ENV_MNEMONIC_FILE} names this file"),
            SecretFile::Password => format!("{ENV_PASSWORD_FILE} names this file"),
        }
    }

    /// Mnemonic and password files may come from process substitution (`<(…)`), a pipe.
    fn may_be_pipe(self) -> bool {
        !matches!(self, SecretFile::Keyfile)
    }
}

/// Read a file holding a secret, refusing one that others could read or change.
///
/// Symlinks: we follow them (wallets are sometimes linked in from a secrets mount), but the
/// checks use the metadata of the file actually opened (`fstat` on our handle), i.e. of the
/// target: a link's own mode is always 0777 and says nothing. Reading from the same handle
/// also means the file cannot be swapped between the check and the read.
///
/// File types: a keyfile must be a regular file. A mnemonic or password file may also be a
/// pipe, so `BITSOTA_HOTKEY_PASSWORD_FILE=<(pass show …)` works. The open is non-blocking:
/// opening a FIFO nobody writes to would otherwise hang for ever.
pub(super) fn read_secret_file(
    path: &Path,
    kind: SecretFile,
    allow_insecure: bool,
) -> Result<Zeroizing<Vec<u8>>> {
    let what = kind.what();
    let shown = path.display();
    let mut file = crate::fsutil::open_nonblocking(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::auth(format!("no {what} at {shown}"))
                .with_code("key_not_found")
                .with_hint(kind.missing_hint())
        } else {
            Error::auth(format!("cannot open {what} {shown}")).with_code("key_unreadable").with_source(e)
        }
    })?;
    let meta = file.metadata().map_err(|e| {
        Error::auth(format!("cannot inspect {what} {shown}")).with_code("key_unreadable").with_source(e)
    })?;
    if meta.is_dir() {
        return Err(Error::auth(format!("{what} {shown} is a directory")).with_code("key_unreadable"));
    }
    // Checked before the permissions, so `/dev/zero` gets no misleading chmod hint.
    let pipe = is_pipe(&meta);
    let readable_type = meta.is_file() || (pipe && kind.may_be_pipe());
    if !readable_type {
        return Err(Error::auth(format!("{what} {shown} is not a regular file")).with_code("key_unreadable"));
    }
    if !allow_insecure {
        check_private(path, what, &meta)?;
    }
    let limit = MAX_SECRET_FILE_BYTES + 1;
    let content = if pipe {
        read_pipe(&file, limit, PIPE_WAIT).map_err(|e| {
            let err = Error::auth(format!("cannot read {what} {shown}")).with_code("key_unreadable");
            if e.kind() == std::io::ErrorKind::TimedOut {
                err.with_hint(format!("nothing was written to the pipe within {} s", PIPE_WAIT.as_secs()))
            } else {
                err.with_source(e)
            }
        })?
    } else {
        // Sized up front so the buffer is not reallocated: a reallocation leaves an unwiped copy.
        let expected = usize::try_from(meta.len()).unwrap_or(usize::MAX).min(MAX_SECRET_FILE_BYTES);
        let mut content = Zeroizing::new(Vec::with_capacity(expected + 1));
        (&mut file).take(limit as u64).read_to_end(&mut content).map_err(|e| {
            Error::auth(format!("cannot read {what} {shown}")).with_code("key_unreadable").with_source(e)
        })?;
        content
    };
    if content.len() > MAX_SECRET_FILE_BYTES {
        return Err(Error::auth(format!("{what} {shown} is too large to be a key")).with_code("bad_keyfile"));
    }
    Ok(content)
}

pub(super) fn is_pipe(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::FileTypeExt;
    meta.file_type().is_fifo()
}

/// How long a mnemonic or password pipe may stay silent (a password manager behind `<(…)`
/// may be asking for its own passphrase first).
pub(super) const PIPE_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// Read a pipe opened non-blocking, up to `limit` bytes, until the writer closes it. A FIFO
/// that no writer ever opens times out instead of hanging: Linux reports neither data nor
/// hang-up for it, and a plain read would say end-of-file at once or block for ever.
pub(super) fn read_pipe(
    file: &File,
    limit: usize,
    wait: std::time::Duration,
) -> std::io::Result<Zeroizing<Vec<u8>>> {
    let deadline = std::time::Instant::now() + wait;
    let mut content = Zeroizing::new(Vec::with_capacity(limit));
    let mut chunk = Zeroizing::new([0u8; 4096]);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Err(std::io::ErrorKind::TimedOut.into());
        }
        let mut fds = [rustix::event::PollFd::new(file, rustix::event::PollFlags::IN)];
        // `left` is at most PIPE_WAIT, which always fits.
        let timeout = rustix::event::Timespec::try_from(left)
            .unwrap_or(rustix::event::Timespec { tv_sec: PIPE_WAIT.as_secs() as _, tv_nsec: 0 });
        let ready = match rustix::event::poll(&mut fds, Some(&timeout)) {
            Ok(ready) => ready,
            Err(rustix::io::Errno::INTR) => continue,
            Err(err) => return Err(err.into()),
        };
        if ready == 0 {
            continue; // the deadline check above ends the loop
        }
        let room = (limit - content.len()).min(chunk.len());
        match (&*file).read(&mut chunk[..room]) {
            Ok(0) => return Ok(content),
            Ok(n) => {
                // Never beyond the capacity reserved above, so no reallocation copies.
                content.extend_from_slice(&chunk[..n]);
                if content.len() >= limit {
                    return Ok(content);
                }
            }
            Err(e)
                if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted) => {}
            Err(e) => return Err(e),
        }
    }
}

/// Refuse a secret file that group or others can access, or that another user owns (they
/// could replace its content). Both can be overridden with `BITSOTA_ALLOW_INSECURE_KEYFILE=1`.
pub(super) fn check_private(path: &Path, what: &str, meta: &std::fs::Metadata) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let override_note = format!("or set {ENV_ALLOW_INSECURE}=1 to use it anyway");
    let mode = meta.mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(Error::auth(format!(
            "refusing {what} {}: it is accessible by group or others (mode {mode:04o})",
            path.display()
        ))
        .with_code("insecure_keyfile")
        .with_hint(format!("chmod 600 {} ({override_note})", shell_quote(path))));
    }
    let me = rustix::process::geteuid().as_raw();
    if meta.uid() != me {
        return Err(Error::auth(format!(
            "refusing {what} {}: it is owned by uid {}, not by you (uid {me})",
            path.display(),
            meta.uid()
        ))
        .with_code("insecure_keyfile")
        .with_hint(format!("copy it to a file of your own with mode 600 ({override_note})")));
    }
    Ok(())
}

/// Quote a path for a copy-pasteable shell hint, only when needed.
pub(super) fn shell_quote(path: &Path) -> String {
    let text = path.display().to_string();
    let plain = |c: char| c.is_ascii_alphanumeric() || "/._-+=:,@%".contains(c);
    if !text.is_empty() && text.chars().all(plain) {
        text
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}
