//! Streaming SHA-256 of files and readers: large reads, constant memory, a progress bar.

use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::output::{Output, Progress};

/// Bytes read per call: large enough that syscalls cost nothing next to hashing, small enough
/// to stay in cache.
pub const CHUNK: usize = 1 << 20;

/// The SHA-256 (lower-case hex) and size of some bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digested {
    pub sha256: String,
    pub size_bytes: u64,
}

/// Open `path` for reading only when it is a regular file. Opened non-blocking and checked on
/// the open descriptor, so a FIFO or device is refused instead of hanging, and a file swapped
/// after a look is still caught. A missing path is a usage error (exit 2).
pub fn open_regular(path: &Path, what: &str) -> Result<File> {
    crate::fsutil::open_regular_file(path).map_err(|e| {
        let (why, hint) = match e.kind() {
            ErrorKind::NotFound => ("does not exist".to_string(), None),
            ErrorKind::InvalidInput => (
                format!("is {e}"),
                Some("give the path of the artifact file itself (e.g. the .zip validators download)"),
            ),
            _ => ("cannot be read".to_string(), None),
        };
        let err = Error::usage(format!("the {what} {} {why}", path.display())).with_code("artifact_path");
        match hint {
            Some(hint) => err.with_hint(hint),
            None => err.with_source(e),
        }
    })
}

/// Hash the regular file at `path`, with a progress bar (bytes, rate, ETA) on a terminal.
pub fn hash_file(path: &Path, out: &Output) -> Result<Digested> {
    let file = open_regular(path, "artifact file")?;
    let total = file.metadata().map(|m| m.len()).ok();
    advise_sequential(&file);
    let progress = out.progress_bytes(&format!("hashing {}", path.display()), total);
    let read_error = |e: std::io::Error| {
        Error::usage(format!("cannot read {}", path.display())).with_code("artifact_path").with_source(e)
    };
    let digested = copy_hashing(file, std::io::sink(), &progress).map_err(|e| match e {
        CopyError::Read(e) | CopyError::Write(e) => read_error(e),
    })?;
    progress.finish();
    Ok(digested)
}

/// Why [`copy_hashing`] stopped.
#[derive(Debug)]
pub enum CopyError {
    Read(std::io::Error),
    Write(std::io::Error),
}

/// Copy `reader` to `writer`, hashing every byte on the way, in [`CHUNK`]-sized reads.
pub fn copy_hashing(
    mut reader: impl Read,
    mut writer: impl Write,
    progress: &Progress,
) -> std::result::Result<Digested, CopyError> {
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; CHUNK];
    let mut size_bytes = 0u64;
    loop {
        let n = match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(CopyError::Read(e)),
        };
        hasher.update(&buffer[..n]);
        writer.write_all(&buffer[..n]).map_err(CopyError::Write)?;
        size_bytes += n as u64;
        progress.advance(n as u64);
    }
    writer.flush().map_err(CopyError::Write)?;
    Ok(Digested { sha256: hex::encode(hasher.finalize()), size_bytes })
}

/// Tell the kernel the file is read once, front to back (bigger read-ahead).
fn advise_sequential(file: &File) {
    #[cfg(target_os = "linux")]
    {
        // Failure is harmless: it is only advice.
        let _ = rustix::fs::fadvise(file, 0, None, rustix::fs::Advice::Sequential);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = file;
}

/// A SHA-256 as written in a sidecar: 64 hex digits, compared lower-cased.
pub fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit())
}
