//! Putting an artifact where validators put it: `<checkout>/.autoresearch-submission/artifact`,
//! announced to the benchmark by three variables with a path relative to the checkout
//! (protocol.md §7.6). Used by `bench --artifact` and by replays.

use std::fs::{self, OpenOptions};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use super::hash::open_regular;
use crate::error::{Error, Result};

pub const DIR_NAME: &str = ".autoresearch-submission";
pub const FILE_NAME: &str = "artifact";
pub const ENV_PATH: &str = "AUTORESEARCH_SUBMISSION_ARTIFACT_PATH";
pub const ENV_URI: &str = "AUTORESEARCH_SUBMISSION_ARTIFACT_URI";
pub const ENV_BYTES: &str = "AUTORESEARCH_SUBMISSION_ARTIFACT_BYTES";
/// The line for `info/exclude` that keeps the placed artifact out of every patch and check.
pub const EXCLUDE_LINE: &str = "/.autoresearch-submission/";

/// An artifact in place. Dropping it removes `.autoresearch-submission/` again.
#[derive(Debug)]
pub struct Placed {
    dir: PathBuf,
    env: Vec<(String, String)>,
    linked: bool,
}

impl Placed {
    /// The variables validators set for setup and benchmark.
    pub fn env(&self) -> &[(String, String)] {
        &self.env
    }
    /// The placed file.
    pub fn path(&self) -> PathBuf {
        self.dir.join(FILE_NAME)
    }
    /// Whether it is a hard link of the source (else a copy).
    pub fn linked(&self) -> bool {
        self.linked
    }
}

impl Drop for Placed {
    fn drop(&mut self) {
        // remove_dir_all does not follow symlinks: only what is inside our directory goes.
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Put `source` at `<root>/.autoresearch-submission/artifact` (a hard link when on the same
/// file system, else a copy) and return the variables for the run: the path relative to
/// `root`, `uri`, and `size_bytes`. A `.autoresearch-submission` that is a symlink or not a
/// directory is refused; a directory left by an interrupted run is replaced.
pub fn place(root: &Path, source: &Path, uri: &str, size_bytes: u64) -> Result<Placed> {
    place_with(root, source, uri, size_bytes, true)
}

/// [`place`] `ready` in the miner's work tree, where `bench` (and `run`'s gate) measure: the
/// directory goes into `info/exclude` first, so it is never part of a patch.
pub fn place_in_work_tree(repo: &crate::repo::Repo, ready: &super::Ready) -> Result<Placed> {
    repo.add_exclude_line("where bench puts the submission artifact", EXCLUDE_LINE)?;
    place(repo.work_tree(), &ready.file, &ready.uri, ready.size_bytes)
}

/// [`place`], copying without trying a hard link when `try_link` is false.
fn place_with(root: &Path, source: &Path, uri: &str, size_bytes: u64, try_link: bool) -> Result<Placed> {
    let dir = root.join(DIR_NAME);
    let cannot = |what: &str, e: std::io::Error| {
        Error::usage(format!("cannot {what} {}", dir.display())).with_code("artifact_place").with_source(e)
    };
    match fs::symlink_metadata(&dir) {
        Ok(meta) if meta.file_type().is_symlink() || !meta.is_dir() => {
            return Err(Error::usage(format!(
                "{} exists and is not a directory (a symlink or a file); refusing to place the artifact through it",
                dir.display()
            ))
            .with_code("artifact_place")
            .with_hint(format!("remove it; validators create {DIR_NAME}/ themselves")));
        }
        Ok(_) => fs::remove_dir_all(&dir).map_err(|e| cannot("remove the leftover", e))?,
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(cannot("inspect", e)),
    }
    // mkdir never follows a symlink in the last component; the parent is the checkout itself.
    fs::create_dir(&dir).map_err(|e| cannot("create", e))?;
    let mut placed = Placed { dir, env: Vec::new(), linked: false };
    let target = placed.path();

    // A hard link of a symlink would link the symlink itself: resolve it first.
    let source = fs::canonicalize(source).map_err(|e| {
        Error::usage(format!("the artifact file {} cannot be read", source.display()))
            .with_code("artifact_path")
            .with_source(e)
    })?;
    let mut reader = open_regular(&source, "artifact file")?;
    placed.linked = try_link && fs::hard_link(&source, &target).is_ok();
    if !placed.linked {
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.custom_flags(libc::O_NOFOLLOW);
        }
        let copied = options.open(&target).and_then(|mut file| {
            std::io::copy(&mut reader, &mut file)?;
            file.sync_all()
        });
        copied.map_err(|e| {
            Error::usage(format!("cannot copy the artifact to {}", target.display()))
                .with_code("artifact_place")
                .with_source(e)
        })?;
    }
    placed.env = vec![
        (ENV_PATH.to_string(), format!("{DIR_NAME}/{FILE_NAME}")),
        (ENV_URI.to_string(), uri.to_string()),
        (ENV_BYTES.to_string(), size_bytes.to_string()),
    ];
    Ok(placed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_or_copies_and_removes_on_drop() {
        let root = tempfile::tempdir().unwrap();
        let source = root.path().join("model.zip");
        fs::write(&source, b"bytes").unwrap();
        // A leftover of an interrupted run is replaced.
        fs::create_dir(root.path().join(DIR_NAME)).unwrap();
        fs::write(root.path().join(DIR_NAME).join("stale"), b"x").unwrap();
        let placed = place(root.path(), &source, "https://h/m.zip", 5).unwrap();
        assert!(placed.linked(), "same file system: a hard link");
        assert_eq!(fs::read(placed.path()).unwrap(), b"bytes");
        assert!(!root.path().join(DIR_NAME).join("stale").exists());
        assert_eq!(
            placed.env(),
            [
                (ENV_PATH.to_string(), ".autoresearch-submission/artifact".to_string()),
                (ENV_URI.to_string(), "https://h/m.zip".to_string()),
                (ENV_BYTES.to_string(), "5".to_string()),
            ]
        );
        drop(placed);
        assert!(!root.path().join(DIR_NAME).exists());
        assert!(source.exists(), "the source stays");

        // Where a hard link is impossible (another file system): a copy, and the source stays.
        let placed = place_with(root.path(), &source, "u", 5, false).unwrap();
        assert!(!placed.linked());
        assert_eq!(fs::read(placed.path()).unwrap(), b"bytes");
        {
            use std::os::unix::fs::MetadataExt;
            assert_ne!(fs::metadata(placed.path()).unwrap().ino(), fs::metadata(&source).unwrap().ino());
        }
        drop(placed);
        assert!(!root.path().join(DIR_NAME).exists());
        assert_eq!(fs::read(&source).unwrap(), b"bytes");
    }

    #[test]
    fn refuses_a_symlinked_or_file_directory() {
        let root = tempfile::tempdir().unwrap();
        let source = root.path().join("model.zip");
        fs::write(&source, b"bytes").unwrap();
        let elsewhere = root.path().join("elsewhere");
        fs::create_dir(&elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, root.path().join(DIR_NAME)).unwrap();
        assert_eq!(place(root.path(), &source, "u", 5).unwrap_err().code(), "artifact_place");
        assert!(fs::read_dir(&elsewhere).unwrap().next().is_none());
        fs::remove_file(root.path().join(DIR_NAME)).unwrap();
        fs::write(root.path().join(DIR_NAME), b"a file").unwrap();
        assert_eq!(place(root.path(), &source, "u", 5).unwrap_err().code(), "artifact_place");
    }
}
