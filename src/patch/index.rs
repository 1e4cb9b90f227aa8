//! Private index files: a snapshot of `.git/index` that keeps its mtime (git's racy-entry
//! check depends on it), filled with `update-index` and put back path by path; removed on drop.

use super::*;

/// A private index file in the git dir, removed on drop.
pub(super) struct TempIndex {
    pub(super) path: PathBuf,
}

impl TempIndex {
    pub(super) fn create(repo: &Repo, base_commit: &str) -> Result<TempIndex> {
        let path = repo.git_dir().join(format!("bitsota-index.{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let temp = TempIndex { path };
        // A hard link is a snapshot for free: git never rewrites an index in place (it renames
        // a new file over it, here and in the user's repository), and it is the same file, so
        // its mtime is the index's own. Git trusts an entry's stat data only when the entry is
        // older than the index file ("racy git"): a fresh mtime would hide same-size edits made
        // in the second the index was written.
        if std::fs::hard_link(repo.index_path(), &temp.path).is_ok() {
            return Ok(temp);
        }
        match std::fs::copy(repo.index_path(), &temp.path) {
            // A copy keeps the index's mtime, for the same reason.
            Ok(_) => keep_mtime(repo.index_path(), &temp.path)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                repo.git().index_file(&temp.path).args(["read-tree", base_commit]).output()?;
            }
            Err(e) => {
                return Err(Error::usage(format!("cannot copy the index {}", repo.index_path().display()))
                    .with_source(e));
            }
        }
        Ok(temp)
    }
}

impl TempIndex {
    /// A private index that starts empty (git creates the file on its first write).
    pub(super) fn empty(repo: &Repo, what: &str) -> Result<TempIndex> {
        let path = repo.git_dir().join(format!("bitsota-index.{}.{what}", std::process::id()));
        let temp = TempIndex { path };
        match std::fs::remove_file(&temp.path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(Error::usage(format!("cannot remove the stale index {}", temp.path.display()))
                    .with_source(e))
            }
            _ => Ok(temp),
        }
    }
}

pub(super) fn keep_mtime(from: &std::path::Path, to: &std::path::Path) -> Result<()> {
    let fail =
        |e: std::io::Error| Error::usage(format!("cannot copy the index {}", from.display())).with_source(e);
    let modified = std::fs::metadata(from).and_then(|m| m.modified()).map_err(fail)?;
    let file = std::fs::OpenOptions::new().write(true).open(to).map_err(fail)?;
    file.set_modified(modified).map_err(fail)
}

impl Drop for TempIndex {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        let mut lock = self.path.clone().into_os_string();
        lock.push(".lock");
        let _ = std::fs::remove_file(lock);
    }
}

/// Bring the private index in line with the working tree for `paths`.
pub(super) fn update_index<'a>(
    git: &dyn Fn() -> crate::repo::Git,
    paths: impl Iterator<Item = &'a [u8]>,
) -> Result<()> {
    let mut input = Vec::new();
    for path in paths {
        input.extend_from_slice(path);
        input.push(0);
    }
    if input.is_empty() {
        return Ok(());
    }
    git().args(["update-index", "--add", "--remove", "--replace", "-z", "--stdin"]).stdin(input).output()?;
    Ok(())
}

/// One `update-index -z --index-info` line: `MODE OID TAB PATH NUL`.
pub(super) fn index_info_line(out: &mut Vec<u8>, mode: &str, oid: &str, path: &[u8]) {
    out.extend_from_slice(format!("{mode} {oid}\t").as_bytes());
    out.extend_from_slice(path);
    out.push(0);
}

/// An `--index-info` line that removes `path`'s entry: mode 0, with an all-zero id of the
/// repository's hash length (`oid_len` hex digits).
pub(super) fn removal_line(out: &mut Vec<u8>, oid_len: usize, path: &[u8]) {
    index_info_line(out, "0", &"0".repeat(oid_len), path);
}

/// `--index-info` lines that put a change back to its base state in the private index.
pub(super) fn revert_lines(change: &RawChange, out: &mut Vec<u8>) {
    let oid_len = change.src_oid.len();
    // The source side: restore it if it existed at base.
    if change.src_mode != "000000" {
        index_info_line(out, &change.src_mode, &change.src_oid, &change.src_path);
    } else {
        removal_line(out, oid_len, &change.src_path);
    }
    // The destination of a rename did not exist at base: remove it.
    if let Some(dst) = &change.dst_path {
        removal_line(out, oid_len, dst);
    }
}
