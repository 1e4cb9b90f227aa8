//! Trees from exact patch bytes and files from trees, for the agent's attempts: a patch
//! applied to the base in a private index, and paths written into the work tree through one.

use super::*;

/// The tree of `base_commit` with `patch` applied, built in a private index: what a validator
/// checks out after `git apply` of the submission. An attempt of `run` is kept as this tree.
pub fn tree_with_patch(repo: &Repo, base_commit: &str, patch: &[u8]) -> Result<String> {
    let index = TempIndex::create(repo, base_commit)?;
    let git = || repo.git().stable_config().index_file(&index.path);
    git().args(["read-tree", base_commit]).output()?;
    if !patch.is_empty() {
        // Whitespace settings of the user's must not change (or refuse) the bytes.
        git()
            .args(["-c", "apply.whitespace=nowarn", "-c", "apply.ignoreWhitespace=no"])
            .args(["apply", "--cached", "--binary", "--whitespace=nowarn", "-"])
            .stdin(patch.to_vec())
            .output()?;
    }
    let tree = git().arg("write-tree").output()?;
    Ok(String::from_utf8_lossy(&tree).trim().to_string())
}

/// Write `paths` as `tree` has them into the work tree through a private index, and delete
/// those of `paths` that `tree` does not have. The user's index, HEAD and branches are not
/// touched. Paths are repository-relative, as git prints them.
pub fn write_paths_from_tree(repo: &Repo, tree: &str, paths: &[Vec<u8>]) -> Result<()> {
    let index = TempIndex::create(repo, tree)?;
    let git = || repo.git().stable_config().index_file(&index.path);
    git().args(["read-tree", tree]).output()?;
    let present = git().args(["ls-files", "-z", "--"]).output()?;
    let present: BTreeSet<&[u8]> = split_nul(&present).collect();
    let (keep, gone): (Vec<&Vec<u8>>, Vec<&Vec<u8>>) =
        paths.iter().partition(|p| present.contains(p.as_slice()));
    // Deletions first: a path may turn from a file into a directory.
    for path in gone {
        let full = safe_work_tree_path(repo, path)?;
        match std::fs::symlink_metadata(&full) {
            Ok(meta) if !meta.is_dir() => std::fs::remove_file(&full)
                .map_err(|e| Error::usage(format!("cannot remove {}", full.display())).with_source(e))?,
            _ => {}
        }
    }
    let mut input = Vec::new();
    for path in keep {
        safe_work_tree_path(repo, path)?;
        input.extend_from_slice(path);
        input.push(0);
    }
    if !input.is_empty() {
        git().args(["checkout-index", "-f", "-z", "--stdin"]).stdin(input).output()?;
    }
    Ok(())
}

/// `path` inside the work tree, refused when one of its directories is a symlink (writing
/// or deleting through it would reach outside the clone).
pub(super) fn safe_work_tree_path(repo: &Repo, path: &[u8]) -> Result<PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    let relative = std::path::Path::new(std::ffi::OsStr::from_bytes(path));
    let mut dir = repo.work_tree().to_path_buf();
    let mut parts = relative.components().peekable();
    while let Some(part) = parts.next() {
        if !matches!(part, std::path::Component::Normal(_)) {
            return Err(Error::usage(format!("refusing the path {}", relative.display())));
        }
        dir.push(part);
        if parts.peek().is_some() && std::fs::symlink_metadata(&dir).is_ok_and(|m| m.file_type().is_symlink())
        {
            return Err(Error::usage(format!(
                "refusing to write {}: {} is a symbolic link",
                relative.display(),
                dir.display()
            )));
        }
    }
    Ok(dir)
}
