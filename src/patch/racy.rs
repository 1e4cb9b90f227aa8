//! Big racily clean files: hashed once, then trusted.
//!
//! Git trusts an index entry's stat data only when the file is older than the index file. Right
//! after a clone, a checkout or `git reset --hard`, files written in the same second as the
//! index are "racily clean", and `git diff-files` re-hashes each of them on every run until
//! something rewrites the index. `git status` does; `check` never writes the user's index, so a
//! multi-GB checkpoint would be read again by every check.
//!
//! Instead, racily clean files of at least [`BIG`] bytes are judged here: their blob id (the
//! streamed hash of `hash_unstored`, or `hash-object` without `-w` when attributes convert them)
//! is compared with the index entry, and a file proven equal is left out of `diff-files` (a
//! literal exclude pathspec). The proof is remembered in `<git dir>/bitsota-verified` with the
//! file's full stat data and reused while the stat data is unchanged and older than the hash
//! (git's own rule: any write after the hash began would give the file a newer change time).
//! Only a proof excludes a path, so choosing candidates is a matter of cost, never of verdict.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::unstored::{hash_unstored, Unstored};
use super::*;

/// Smaller racy files are left to git: re-hashing them costs less than proving them.
pub(super) const BIG: u64 = 1 << 20;

/// Where the proofs are kept, in the (per-worktree) git dir.
const PROOFS_FILE: &str = "bitsota-verified";
const PROOFS_HEADER: &str = "git-bitsota verified blobs v1";

/// A stat result that can only stay equal while the file is not written, renamed over, or
/// chmod-ed: every such change sets a new change time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Fingerprint {
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
    ino: u64,
    dev: u64,
    mode: u32,
    uid: u32,
    gid: u32,
}

impl Fingerprint {
    fn of(meta: &std::fs::Metadata) -> Fingerprint {
        Fingerprint {
            size: meta.size(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
            ino: meta.ino(),
            dev: meta.dev(),
            mode: meta.mode(),
            uid: meta.uid(),
            gid: meta.gid(),
        }
    }

    /// Whether a hash started at `started` proves the content of every later file with this
    /// fingerprint: both times are older than the start by more than any clock granularity.
    fn settled_before(&self, started: SystemTime) -> bool {
        let Ok(started) = started.duration_since(UNIX_EPOCH) else { return false };
        let limit = started.saturating_sub(Duration::from_secs(2)).as_secs() as i64;
        self.mtime.0 < limit && self.ctime.0 < limit
    }
}

/// One proof: the file with `fingerprint` hashes to `oid`.
#[derive(Debug, Clone, PartialEq)]
struct Proof {
    oid: String,
    fingerprint: Fingerprint,
}

/// A racily clean candidate: an index entry git would re-hash.
struct Candidate {
    path: Vec<u8>,
    oid: String,
    mode: &'static str,
    fingerprint: Fingerprint,
}

/// The paths `diff-files` need not look at: big racily clean regular files whose content is
/// proven to be the index entry's. Any trouble (an index gix cannot read, a file that cannot be
/// read) leaves the path to git, which then decides as it always does.
pub(super) fn proven_clean(
    repo: &Repo,
    git: &dyn Fn() -> crate::repo::Git,
    index_path: &std::path::Path,
) -> Result<Vec<Vec<u8>>> {
    let candidates = racy_candidates(repo, index_path);
    let proofs_path = repo.git_dir().join(PROOFS_FILE);
    if candidates.is_empty() {
        // Proofs of files that are no longer racy are not needed again.
        let _ = std::fs::remove_file(&proofs_path);
        return Ok(Vec::new());
    }
    let known = read_proofs(&proofs_path);
    let mut proven = Vec::new();
    let mut kept: BTreeMap<Vec<u8>, Proof> = BTreeMap::new();
    let mut to_hash = Vec::new();
    for candidate in candidates {
        match known.get(&candidate.path) {
            Some(proof) if proof.oid == candidate.oid && proof.fingerprint == candidate.fingerprint => {
                kept.insert(candidate.path.clone(), proof.clone());
                proven.push(candidate.path);
            }
            _ => to_hash.push(candidate),
        }
    }
    if !to_hash.is_empty() {
        let started = SystemTime::now();
        let unstored: Vec<Unstored> = to_hash
            .iter()
            .map(|c| Unstored { path: &c.path, mode: c.mode, known_mode: c.mode, known_oid: &c.oid })
            .collect();
        // A file that cannot be read is left to git; Ctrl-C stops the check.
        let hashes = match hash_unstored(repo, git, &unstored) {
            Ok(hashes) => hashes,
            Err(e) if e.kind() == crate::error::Kind::Interrupted => return Err(e),
            Err(_) => Vec::new(),
        };
        for (candidate, hash) in to_hash.into_iter().zip(hashes) {
            // The same file before and after the hash, with the index entry's content.
            let after = std::fs::symlink_metadata(repo.work_tree().join(os_str(&candidate.path)));
            let unchanged = after.is_ok_and(|meta| Fingerprint::of(&meta) == candidate.fingerprint);
            if !unchanged || hash != candidate.oid {
                continue;
            }
            if candidate.fingerprint.settled_before(started) {
                let proof = Proof { oid: candidate.oid.clone(), fingerprint: candidate.fingerprint };
                kept.insert(candidate.path.clone(), proof);
            }
            proven.push(candidate.path);
        }
    }
    if kept != known {
        // Advisory: a proof that cannot be written is made again next time.
        let _ = crate::fsutil::write_atomic(&proofs_path, &render_proofs(&kept), Some(0o600));
    }
    proven.sort();
    Ok(proven)
}

/// `:(exclude,literal)` pathspecs for `paths`.
pub(super) fn exclude_pathspecs(paths: &[Vec<u8>]) -> Vec<std::ffi::OsString> {
    paths
        .iter()
        .map(|path| {
            let mut spec = std::ffi::OsString::from(":(exclude,literal)");
            spec.push(os_str(path));
            spec
        })
        .collect()
}

/// Whether the work tree has changes against HEAD (tracked or untracked, not ignored), as `git
/// status` sees them, without writing the index (optional locks off) and without letting git
/// re-hash big racily clean files proven unchanged: those are left out of the status, and only
/// their staged state is compared with HEAD. `None` when git cannot tell.
pub fn work_tree_dirty(repo: &Repo) -> Option<bool> {
    let git = || repo.git().env("GIT_OPTIONAL_LOCKS", "0");
    let proven = proven_clean(repo, &git, repo.index_path()).ok()?;
    std::thread::scope(|scope| {
        let staged = (!proven.is_empty()).then(|| {
            scope.spawn(|| {
                let literal = proven.iter().map(|p| {
                    let mut spec = std::ffi::OsString::from(":(literal)");
                    spec.push(os_str(p));
                    spec
                });
                git().args(["diff-index", "--cached", "--quiet", "HEAD", "--"]).args(literal).output_any()
            })
        });
        let status = git()
            .args(["status", "--porcelain", "-z", "--untracked-files=normal", "--"])
            .args(exclude_pathspecs(&proven))
            .output()
            .ok()?;
        let staged_differs = match staged.map(|handle| handle.join()) {
            None => false,
            Some(Ok(Ok((Some(0), _, _)))) => false,
            Some(Ok(Ok((Some(1), _, _)))) => true,
            Some(_) => return None,
        };
        Some(!status.is_empty() || staged_differs)
    })
}

/// Stage-0 regular-file entries of at least [`BIG`] bytes whose stat data still matches the
/// file but which are not older than the index: the entries git would hash on every run.
fn racy_candidates(repo: &Repo, index_path: &std::path::Path) -> Vec<Candidate> {
    let Ok(index) = gix_index::File::at(index_path, repo.object_hash(), true, Default::default()) else {
        return Vec::new();
    };
    let timestamp = index.timestamp();
    let options = gix_index::entry::stat::Options::default();
    let mut found = Vec::new();
    for entry in index.entries() {
        let regular = match entry.mode {
            gix_index::entry::Mode::FILE => "100644",
            gix_index::entry::Mode::FILE_EXECUTABLE => "100755",
            _ => continue,
        };
        use gix_index::entry::Flags;
        let skipped = Flags::ASSUME_VALID | Flags::SKIP_WORKTREE | Flags::INTENT_TO_ADD;
        if entry.stage_raw() != 0
            || entry.flags.intersects(skipped)
            || !entry.stat.is_racy(timestamp, options)
        {
            continue;
        }
        let path = entry.path(&index).to_vec();
        // Git sees a path behind a symlinked directory as deleted: leave such a path to it.
        if behind_a_symlink(repo, &path) {
            continue;
        }
        let full = repo.work_tree().join(os_str(&path));
        let Ok(meta) = std::fs::symlink_metadata(&full) else { continue };
        let executable = meta.mode() & 0o111 != 0;
        if !meta.file_type().is_file() || meta.size() < BIG || executable != (regular == "100755") {
            continue;
        }
        // git's own comparison: a file whose stat data differs is reported without a hash.
        let now = gix_index::fs::Metadata::from_path_no_follow(&full).ok();
        let Some(now) = now.and_then(|now| gix_index::entry::Stat::from_fs(&now).ok()) else { continue };
        if !entry.stat.matches(&now, options) {
            continue;
        }
        found.push(Candidate {
            path,
            oid: entry.id.to_string(),
            mode: regular,
            fingerprint: Fingerprint::of(&meta),
        });
    }
    found
}

/// Whether a directory on the way to `path` (inside the work tree) is not a plain directory.
fn behind_a_symlink(repo: &Repo, path: &[u8]) -> bool {
    let mut dir = repo.work_tree().to_path_buf();
    let mut parts: Vec<&[u8]> = path.split(|b| *b == b'/').collect();
    parts.pop();
    parts.into_iter().any(|part| {
        dir.push(os_str(part));
        !std::fs::symlink_metadata(&dir).is_ok_and(|meta| meta.file_type().is_dir())
    })
}

/// The proofs file: a header line, then `oid size mtime.ns ctime.ns ino dev mode uid gid
/// hex(path)` lines. Anything unreadable counts as no proof.
fn read_proofs(path: &std::path::Path) -> BTreeMap<Vec<u8>, Proof> {
    let mut proofs = BTreeMap::new();
    let Ok(file) = crate::fsutil::open_regular_file(path) else { return proofs };
    let mut text = String::new();
    use std::io::Read;
    if file.take(1 << 20).read_to_string(&mut text).is_err() {
        return proofs;
    }
    let mut lines = text.lines();
    if lines.next() != Some(PROOFS_HEADER) {
        return proofs;
    }
    for line in lines {
        if let Some((path, proof)) = parse_proof(line) {
            proofs.insert(path, proof);
        }
    }
    proofs
}

fn parse_proof(line: &str) -> Option<(Vec<u8>, Proof)> {
    let fields: Vec<&str> = line.split(' ').collect();
    let [oid, size, mtime, ctime, ino, dev, mode, uid, gid, path] = fields[..] else { return None };
    let time = |field: &str| -> Option<(i64, i64)> {
        let (secs, nanos) = field.split_once('.')?;
        Some((secs.parse().ok()?, nanos.parse().ok()?))
    };
    let fingerprint = Fingerprint {
        size: size.parse().ok()?,
        mtime: time(mtime)?,
        ctime: time(ctime)?,
        ino: ino.parse().ok()?,
        dev: dev.parse().ok()?,
        mode: mode.parse().ok()?,
        uid: uid.parse().ok()?,
        gid: gid.parse().ok()?,
    };
    if !matches!(oid.len(), 40 | 64) || !oid.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Some((hex::decode(path).ok()?, Proof { oid: oid.to_string(), fingerprint }))
}

fn render_proofs(proofs: &BTreeMap<Vec<u8>, Proof>) -> Vec<u8> {
    let mut text = format!("{PROOFS_HEADER}\n");
    for (path, Proof { oid, fingerprint: f }) in proofs {
        text.push_str(&format!(
            "{oid} {} {}.{} {}.{} {} {} {} {} {} {}\n",
            f.size,
            f.mtime.0,
            f.mtime.1,
            f.ctime.0,
            f.ctime.1,
            f.ino,
            f.dev,
            f.mode,
            f.uid,
            f.gid,
            hex::encode(path)
        ));
    }
    text.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fingerprint(secs: i64) -> Fingerprint {
        Fingerprint {
            size: 5 << 20,
            mtime: (secs, 1),
            ctime: (secs, 2),
            ino: 42,
            dev: 7,
            mode: 0o100644,
            uid: 0,
            gid: 0,
        }
    }

    #[test]
    fn proofs_survive_a_round_trip_and_garbage_is_no_proof() {
        let mut proofs = BTreeMap::new();
        let oid = "a".repeat(40);
        proofs.insert(b"weights bin\xff".to_vec(), Proof { oid: oid.clone(), fingerprint: fingerprint(100) });
        let text = render_proofs(&proofs);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("proofs");
        std::fs::write(&path, &text).unwrap();
        assert_eq!(read_proofs(&path), proofs);
        std::fs::write(&path, b"git-bitsota verified blobs v1\nnot a proof\nzz 1 2.3 4.5 6 7 8 9 10 00\n")
            .unwrap();
        assert!(read_proofs(&path).is_empty());
        std::fs::write(&path, b"other header\n").unwrap();
        assert!(read_proofs(&path).is_empty());
    }

    #[test]
    fn a_proof_counts_only_for_files_settled_before_the_hash_began() {
        let at = |secs: u64| UNIX_EPOCH + Duration::from_secs(secs);
        assert!(fingerprint(100).settled_before(at(103)));
        // Changed in the same second or just before: a write right after could keep the times.
        assert!(!fingerprint(100).settled_before(at(101)));
        assert!(!fingerprint(100).settled_before(at(102)));
        let mut late_ctime = fingerprint(100);
        late_ctime.ctime.0 = 102;
        assert!(!late_ctime.settled_before(at(103)));
    }
}
