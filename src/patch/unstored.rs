//! Judging a tracked out-of-scope file without storing it: its work-tree mode and a
//! streamed hash compared with the index and the base, with the attributes that make git
//! convert its bytes (then `hash-object` without `-w`). Never its compressed object, never
//! its patch.

use super::*;

/// The mode `update-index` would record for a regular file in the work tree: executable or
/// not, unless the index's mode is kept (`old_mode` is a regular file's).
pub(super) fn work_tree_mode(repo: &Repo, path: &[u8], old_mode: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    let full = repo.work_tree().join(os_str(path));
    match std::fs::symlink_metadata(full) {
        Ok(meta) if meta.permissions().mode() & 0o111 != 0 => "100755".to_string(),
        Ok(_) => "100644".to_string(),
        Err(_) => old_mode.to_string(),
    }
}

/// A work-tree file to judge without storing it, and the entry it is compared with.
pub(super) struct Unstored<'a> {
    pub(super) path: &'a [u8],
    /// The mode git would record for the file.
    pub(super) mode: &'a str,
    pub(super) known_mode: &'a str,
    pub(super) known_oid: &'a str,
}

/// Judge files that can never be submitted without writing them into the object store: hash
/// each (streamed, never stored) and compare with `known_oid` (the index entry, or the base
/// entry). A file that differs is compared with the base commit and becomes a refused change
/// in `changes`; `keep_at_base` gets the `--index-info` lines that hold every differing path
/// at its base state in the private index, so no diff reads its content. Returns the paths
/// that differ (those `keep_at_base` names).
pub(super) fn judge_unstored(
    repo: &Repo,
    git: &dyn Fn() -> crate::repo::Git,
    base_commit: &str,
    candidates: &[Unstored],
    patterns: &[Pattern],
    changes: &mut Vec<ChangedFile>,
    keep_at_base: &mut Vec<u8>,
) -> Result<Vec<Vec<u8>>> {
    if candidates.is_empty() {
        return Ok(Vec::new());
    }
    let hashes = hash_unstored(repo, git, candidates)?;
    let differing: Vec<(&[u8], &str, String)> = candidates
        .iter()
        .zip(hashes)
        .filter(|(c, hash)| *hash != c.known_oid || c.mode != c.known_mode)
        .map(|(c, hash)| (c.path, c.mode, hash))
        .collect();
    if differing.is_empty() {
        return Ok(Vec::new());
    }
    let kept = differing.iter().map(|(path, _, _)| path.to_vec()).collect();
    let base = base_entries(git, base_commit, differing.iter().map(|(p, _, _)| *p))?;
    for (path, mode, hash) in differing {
        let change = match base.get(path) {
            Some((base_mode, base_oid)) => {
                index_info_line(keep_at_base, base_mode, base_oid, path);
                if *base_oid == hash && base_mode == mode {
                    None
                } else if file_type(base_mode) != file_type(mode) {
                    Some(Change::TypeChanged)
                } else {
                    Some(Change::Modified)
                }
            }
            None => {
                removal_line(keep_at_base, hash.len(), path);
                Some(Change::Added)
            }
        };
        if let Some(change) = change {
            changes.push(ChangedFile {
                path: path.to_vec(),
                from: None,
                change,
                reasons: reasons_for(path, patterns),
            });
        }
    }
    Ok(kept)
}

/// The kind of entry a mode is (regular file of either mode, symlink, gitlink).
pub(super) fn file_type(mode: &str) -> &str {
    match mode {
        "100644" | "100755" => "file",
        other => other,
    }
}

/// The blob ids git would give these work-tree files, computed without writing anything.
/// Files with a conversion attribute are hashed by `git hash-object` (without `-w`), which
/// applies the conversion; the others are streamed through the hash here, so even a huge file
/// costs one read and little memory.
pub(super) fn hash_unstored(
    repo: &Repo,
    git: &dyn Fn() -> crate::repo::Git,
    candidates: &[Unstored],
) -> Result<Vec<String>> {
    let mut input = Vec::new();
    for c in candidates {
        input.extend_from_slice(c.path);
        input.push(0);
    }
    let output = git().args(["check-attr", "-z", "--stdin"]).args(ATTRIBUTES).stdin(input).output()?;
    let converted = attributed_paths(&output);
    let mut hashes = Vec::with_capacity(candidates.len());
    for &Unstored { path, known_oid, .. } in candidates {
        let kind = if known_oid.len() == 64 { gix::hash::Kind::Sha256 } else { gix::hash::Kind::Sha1 };
        let hash = if converted.contains(path) {
            let out = git().arg("hash-object").arg("--").arg(os_str(path)).output()?;
            String::from_utf8_lossy(&out).trim().to_string()
        } else {
            stream_blob_hash(&repo.work_tree().join(os_str(path)), kind)?
        };
        hashes.push(hash);
    }
    Ok(hashes)
}

/// The git blob id of a file's bytes, read in chunks.
pub(super) fn stream_blob_hash(path: &std::path::Path, kind: gix::hash::Kind) -> Result<String> {
    use std::io::Read;
    let fail = |e: std::io::Error| Error::usage(format!("cannot read {}", path.display())).with_source(e);
    let mut file = std::fs::File::open(path).map_err(fail)?;
    let len = file.metadata().map_err(fail)?.len();
    let mut hasher = gix::hash::hasher(kind);
    hasher.update(format!("blob {len}\0").as_bytes());
    let mut buf = vec![0u8; 1 << 16];
    let mut read_total = 0u64;
    loop {
        let n = file.read(&mut buf).map_err(fail)?;
        if n == 0 {
            break;
        }
        read_total += n as u64;
        hasher.update(&buf[..n]);
        crate::interrupt::check()?;
    }
    if read_total != len {
        return Err(fail(std::io::Error::other("the file changed while it was read")));
    }
    let id = hasher
        .try_finalize()
        .map_err(|e| Error::usage(format!("cannot hash {}", path.display())).with_source(e))?;
    Ok(id.to_string())
}

/// Paths of `check-attr -z` output (`path NUL attr NUL value NUL`) with any attribute set.
pub(super) fn attributed_paths(output: &[u8]) -> BTreeSet<&[u8]> {
    let fields: Vec<&[u8]> = output.split(|b| *b == 0).collect();
    let mut attributed = BTreeSet::new();
    for record in fields.chunks(3) {
        if let [path, _, value] = record {
            if !matches!(*value, b"unspecified" | b"unset") {
                attributed.insert(*path);
            }
        }
    }
    attributed
}

/// `(mode, oid)` of each of `paths` in the base commit's tree (absent paths are left out).
pub(super) fn base_entries<'a>(
    git: &dyn Fn() -> crate::repo::Git,
    base_commit: &str,
    paths: impl Iterator<Item = &'a [u8]>,
) -> Result<std::collections::BTreeMap<Vec<u8>, (String, String)>> {
    let bad = || Error::usage("unexpected output from `git ls-tree`").with_code("git_output");
    let paths: Vec<&[u8]> = paths.collect();
    let mut found = std::collections::BTreeMap::new();
    for chunk in paths.chunks(1000) {
        let output = git()
            .arg("--literal-pathspecs")
            .args(["ls-tree", "-z", "--full-tree", base_commit, "--"])
            .args(chunk.iter().map(|p| os_str(p)))
            .output()?;
        // Records: `mode SP type SP oid TAB path NUL`.
        for record in split_nul(&output) {
            let tab = record.iter().position(|b| *b == b'\t').ok_or_else(bad)?;
            let header = std::str::from_utf8(&record[..tab]).map_err(|_| bad())?;
            let [mode, kind, oid] = header.split(' ').collect::<Vec<_>>()[..] else {
                return Err(bad());
            };
            if kind != "tree" {
                found.insert(record[tab + 1..].to_vec(), (mode.to_string(), oid.to_string()));
            }
        }
    }
    Ok(found)
}

/// A `git check-attr --stdin` started early for the conversion attributes.
pub(super) struct AttributeQuery {
    pub(super) child: Option<std::process::Child>,
}

pub(super) const ATTRIBUTES: [&str; 6] = ["text", "eol", "crlf", "filter", "ident", "working-tree-encoding"];

impl AttributeQuery {
    pub(super) fn start(git: &dyn Fn() -> crate::repo::Git) -> Result<AttributeQuery> {
        let child = git().args(["check-attr", "-z", "--stdin"]).args(ATTRIBUTES).spawn_piped()?;
        Ok(AttributeQuery { child: Some(child) })
    }

    /// Send NUL-terminated paths, close stdin, and return the `path NUL attr NUL value NUL`
    /// records.
    pub(super) fn ask(mut self, paths: Vec<u8>) -> Result<Vec<u8>> {
        let failed = || Error::usage("`git check-attr` failed").with_code("git_output");
        let mut child = self.child.take().ok_or_else(failed)?;
        let mut stdin = child.stdin.take().ok_or_else(failed)?;
        // Write from a thread: git answers as it reads, and a full pipe must not deadlock us.
        let writer = std::thread::spawn(move || {
            use std::io::Write;
            let _ = stdin.write_all(&paths);
        });
        let output = child.wait_with_output().map_err(|e| failed().with_source(e))?;
        let _ = writer.join();
        if output.status.success() {
            Ok(output.stdout)
        } else {
            Err(failed())
        }
    }
}

impl Drop for AttributeQuery {
    /// Not asked: closing stdin ends it; reap it so no zombie is left.
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            drop(child.stdin.take());
            let _ = child.wait();
        }
    }
}

/// Allowed changes (indices into `raw`/`files`) whose work-tree bytes a validator would not
/// get back. Git stores a file through its clean conversion (`text=auto` turns CRLF into LF)
/// and validators check the blob out through the smudge one, so compare that round trip with
/// the file. Only paths with a conversion attribute are read; checkout is pinned to a Linux
/// validator's defaults (`core.eol=lf`, no autocrlf).
pub(super) fn converted(
    repo: &Repo,
    git: &dyn Fn() -> crate::repo::Git,
    attributes: AttributeQuery,
    raw: &[RawChange],
    files: &[ChangedFile],
) -> Result<Vec<usize>> {
    let candidates: Vec<usize> = (0..raw.len())
        .filter(|&i| {
            files[i].allowed()
                && raw[i].status != b'D'
                && matches!(raw[i].dst_mode.as_str(), "100644" | "100755")
        })
        .collect();
    if candidates.is_empty() {
        return Ok(Vec::new());
    }
    let mut input = Vec::new();
    for &i in &candidates {
        input.extend_from_slice(&files[i].path);
        input.push(0);
    }
    let output = attributes.ask(input)?;
    let attributed = attributed_paths(&output);
    let checked: Vec<usize> =
        candidates.into_iter().filter(|&i| attributed.contains(files[i].path.as_slice())).collect();
    if checked.is_empty() {
        return Ok(Vec::new());
    }
    let mut differ = Vec::new();
    for i in checked {
        // Allowed paths are UTF-8 (others are unquotable).
        let Ok(name) = std::str::from_utf8(&files[i].path) else { continue };
        // One run per file: `--batch --filters` prints the unfiltered size in its header.
        let checkout = git()
            .args(["-c", "core.eol=lf", "cat-file", "--filters"])
            .arg(format!("--path={name}"))
            .arg(&raw[i].dst_oid)
            .output()?;
        // A file that cannot be read is left to the patch as git saw it.
        if std::fs::read(repo.work_tree().join(name)).is_ok_and(|bytes| bytes != checkout) {
            differ.push(i);
        }
    }
    Ok(differ)
}
