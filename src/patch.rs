//! The patch engine: what exactly would be submitted.
//!
//! The submission is `base commit → working tree (+ index + untracked, not ignored files)`,
//! restricted to the changes validators accept. It is built with git plumbing on a private
//! copy of the index (`GIT_INDEX_FILE`), so the user's index is never touched, and with
//! explicit options, so the user's configuration cannot change the bytes:
//!
//! 1. copy `.git/index` to a temporary file (or `read-tree` the base when there is none);
//! 2. list what differs from that index, both walks at once: `diff-files` (unstaged work) and
//!    `ls-files -o --exclude-standard` (untracked work); committed and staged work is already
//!    in the index;
//! 3. `update-index --add --remove` the candidates into the private index, except untracked
//!    files that could never be submitted (out of scope: they may be huge artifacts, and are
//!    never hashed into the object store);
//! 4. `diff-index --cached --raw -M -p --binary --full-index` with fixed prefixes: the precise
//!    change of each path and the patch, in one run;
//! 5. if a change cannot be submitted, put it back to its base state in the private index and
//!    take the patch again (repeated while that drags an allowed change out with it).

use std::collections::BTreeSet;
use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::fnmatch::Pattern;
use crate::repo::{split_nul, Repo};
use crate::validator;

/// How a path changed between the base commit and what is submitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Added,
    Modified,
    Deleted,
    Renamed,
    TypeChanged,
}

impl Change {
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Added => "added",
            Change::Modified => "modified",
            Change::Deleted => "deleted",
            Change::Renamed => "renamed",
            Change::TypeChanged => "type_changed",
        }
    }
}

/// Why a changed path cannot be part of the submission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reason {
    /// No allowed pattern matches it (or one side of a rename).
    Outside,
    /// A `.pyc`/`.pyo` path, by the validator's rule.
    Bytecode,
    /// Git would quote it, or the validator's parsing would change it.
    Unquotable,
    /// An untracked nested repository: it cannot travel in a patch.
    NestedRepository,
    /// A merge conflict in progress (unmerged index entries): the file holds conflict markers.
    Unmerged,
    /// A submodule (gitlink) change: validators clone without submodules, so `git apply`
    /// replays it as nothing.
    Submodule,
    /// An allowed change that cannot apply without a refused one: a file replaced by a
    /// directory of the same name (or the reverse) where the other side is refused.
    NeedsRefused,
    /// `.gitattributes` conversion (`text`, `eol`, `filter`, …) means a checkout of what git
    /// stores does not give the work tree's bytes back: validators would run other bytes.
    Converted,
}

/// One changed path, as `check` lists it.
#[derive(Debug, Clone)]
pub struct ChangedFile {
    /// Repository-relative path as git stores it (bytes; usually UTF-8).
    pub path: Vec<u8>,
    /// The old path of a rename.
    pub from: Option<Vec<u8>>,
    pub change: Change,
    /// Empty when the change is submitted.
    pub reasons: Vec<Reason>,
}

impl ChangedFile {
    pub fn allowed(&self) -> bool {
        self.reasons.is_empty()
    }
    pub fn display_path(&self) -> String {
        String::from_utf8_lossy(&self.path).into_owned()
    }
    pub fn display_from(&self) -> Option<String> {
        self.from.as_ref().map(|f| String::from_utf8_lossy(f).into_owned())
    }
    /// The path, or `old -> new` for a rename.
    pub fn label(&self) -> String {
        match self.display_from() {
            Some(from) => format!("{from} -> {}", self.display_path()),
            None => self.display_path(),
        }
    }
}

/// The changes found and the exact patch of the submittable ones.
#[derive(Debug, Clone)]
pub struct Built {
    /// Every changed path, sorted by path.
    pub files: Vec<ChangedFile>,
    /// The patch bytes of the allowed changes (empty when there are none).
    pub patch: Vec<u8>,
}

/// Judge one path against the task's rules.
pub fn reasons_for(path: &[u8], patterns: &[Pattern]) -> Vec<Reason> {
    let mut reasons = Vec::new();
    if validator::is_unquotable(path) {
        reasons.push(Reason::Unquotable);
    }
    let text = String::from_utf8_lossy(path);
    if validator::is_bytecode(&text) {
        reasons.push(Reason::Bytecode);
    }
    if !validator::is_allowed(&text, patterns) {
        reasons.push(Reason::Outside);
    }
    reasons
}

/// One record of `git diff-* --raw -z` output.
#[derive(Debug)]
struct RawChange {
    src_mode: String,
    dst_mode: String,
    src_oid: String,
    dst_oid: String,
    status: u8,
    src_path: Vec<u8>,
    dst_path: Option<Vec<u8>>,
}

/// The mode of a gitlink (submodule commit) entry.
const GITLINK: &str = "160000";

fn to_changed(raw: &RawChange, patterns: &[Pattern]) -> ChangedFile {
    let change = match raw.status {
        b'A' => Change::Added,
        b'D' => Change::Deleted,
        b'R' | b'C' => Change::Renamed,
        b'T' => Change::TypeChanged,
        _ => Change::Modified,
    };
    // A rename is judged on both of its paths.
    let mut reasons = reasons_for(&raw.src_path, patterns);
    if let Some(dst) = &raw.dst_path {
        reasons.extend(reasons_for(dst, patterns));
    }
    if raw.src_mode == GITLINK || raw.dst_mode == GITLINK {
        reasons.push(Reason::Submodule);
    }
    reasons.sort();
    reasons.dedup();
    match &raw.dst_path {
        Some(dst) => ChangedFile { path: dst.clone(), from: Some(raw.src_path.clone()), change, reasons },
        None => ChangedFile { path: raw.src_path.clone(), from: None, change, reasons },
    }
}

/// A private index file in the git dir, removed on drop.
struct TempIndex {
    path: PathBuf,
}

impl TempIndex {
    fn create(repo: &Repo, base_commit: &str) -> Result<TempIndex> {
        let path = repo.git_dir().join(format!("bitsota-index.{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let temp = TempIndex { path };
        match std::fs::copy(repo.index_path(), &temp.path) {
            // Keep the index's mtime: git trusts an entry's stat data only when the entry is
            // older than the index file ("racy git"), so a fresh mtime on the copy would hide
            // same-size edits made in the second the index was written.
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

fn keep_mtime(from: &std::path::Path, to: &std::path::Path) -> Result<()> {
    let fail =
        |e: std::io::Error| Error::usage(format!("cannot copy the index {}", from.display())).with_source(e);
    let modified = std::fs::metadata(from).and_then(|m| m.modified()).map_err(fail)?;
    let file = std::fs::OpenOptions::new().write(true).open(to).map_err(fail)?;
    file.set_modified(modified).map_err(fail)
}

impl Drop for TempIndex {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        let _ = std::fs::remove_file(self.path.with_extension("lock"));
    }
}

/// The submission from the working tree: `base_commit → working tree`, allowed changes only.
pub fn from_worktree(repo: &Repo, base_commit: &str, patterns: &[Pattern]) -> Result<Built> {
    let index = TempIndex::create(repo, base_commit)?;
    let git = || repo.git().stable_config().index_file(&index.path);

    // What differs from the (copied) index: tracked files changed or removed in the work tree
    // (`diff-files`, which stats in parallel like `git status`) and untracked files. Committed
    // and staged work is already in the index. The two walks run at the same time.
    // `check-attr` spends most of its time reading the index: start it now, ask it later.
    let attributes = AttributeQuery::start(&git)?;
    let (tracked, untracked) = std::thread::scope(|scope| {
        let tracked = scope.spawn(|| git().args(["diff-files", "-z", "--raw", "--no-renames"]).output());
        let untracked = git().args(["ls-files", "-z", "-o", "--exclude-standard"]).output();
        let tracked = tracked.join().unwrap_or_else(|_| Err(Error::usage("`git diff-files` did not finish")));
        (tracked, untracked)
    });
    let (tracked, untracked) = (tracked?, untracked?);
    // `update-index` below resolves a conflict with whatever the file holds (markers and all):
    // remember which paths were unmerged (status `U`) first.
    let mut to_update: BTreeSet<&[u8]> = BTreeSet::new();
    let mut unmerged: BTreeSet<&[u8]> = BTreeSet::new();
    let mut records = tracked.split(|b| *b == 0);
    while let Some(header) = records.next() {
        if header.is_empty() {
            continue;
        }
        let path = records.next().filter(|p| !p.is_empty()).ok_or_else(|| {
            Error::usage("unexpected output from `git diff-files --raw`").with_code("git_output")
        })?;
        if header.ends_with(b" U") {
            unmerged.insert(path);
        }
        to_update.insert(path);
    }
    let mut untracked_outside: Vec<ChangedFile> = Vec::new();
    for path in split_nul(&untracked) {
        // A trailing `/` marks a nested repository.
        if let Some(dir) = path.strip_suffix(b"/") {
            untracked_outside.push(ChangedFile {
                path: dir.to_vec(),
                from: None,
                change: Change::Added,
                reasons: vec![Reason::NestedRepository],
            });
            continue;
        }
        let reasons = reasons_for(path, patterns);
        if reasons.is_empty() {
            to_update.insert(path);
        } else {
            untracked_outside.push(ChangedFile {
                path: path.to_vec(),
                from: None,
                change: Change::Added,
                reasons,
            });
        }
    }
    update_index(&git, to_update.iter().copied())?;

    // The precise changes and, in the same run, the patch (used when nothing is left out).
    let raw_and_patch =
        || git().arg("diff-index").arg("--cached").args(RAW_AND_PATCH).arg(base_commit).output();
    let (mut raw, mut patch) = split_raw_and_patch(&raw_and_patch()?)?;
    // A file removed from the index only (`git rm --cached`) is untracked but exists at base:
    // hash it after all, so an unchanged file does not show up as deleted plus added.
    let readd: Vec<Vec<u8>> = raw
        .iter()
        .filter(|c| c.status == b'D' && untracked_outside.iter().any(|u| u.path == c.src_path))
        .map(|c| c.src_path.clone())
        .collect();
    if !readd.is_empty() {
        untracked_outside.retain(|u| !readd.contains(&u.path));
        update_index(&git, readd.iter().map(Vec::as_slice))?;
        (raw, patch) = split_raw_and_patch(&raw_and_patch()?)?;
    }

    let mut files: Vec<ChangedFile> = Vec::new();
    let mut revert = Vec::new();
    for change in &raw {
        let mut file = to_changed(change, patterns);
        let sides = std::iter::once(&change.src_path).chain(change.dst_path.as_ref());
        if sides.into_iter().any(|p| unmerged.contains(p.as_slice())) {
            file.reasons.push(Reason::Unmerged);
            file.reasons.sort();
        }
        files.push(file);
    }
    for i in converted(repo, &git, attributes, &raw, &files)? {
        files[i].reasons.push(Reason::Converted);
    }
    for (file, change) in files.iter().zip(&raw) {
        if !file.allowed() {
            revert_lines(change, &mut revert);
        }
    }
    // Put refused changes back to base in the private index, then diff again. Restoring a
    // base path evicts entries it collides with (a file `d` and a directory `d/`), so an
    // allowed change can vanish with it: such a change needs the refused one, and is refused
    // too. Each round refuses at least one more change, so this ends.
    while !revert.is_empty() {
        git().args(["update-index", "-z", "--index-info"]).stdin(std::mem::take(&mut revert)).output()?;
        let (left, left_patch) = split_raw_and_patch(&raw_and_patch()?)?;
        patch = left_patch;
        let present: BTreeSet<&[u8]> = left
            .iter()
            .flat_map(|c| std::iter::once(c.src_path.as_slice()).chain(c.dst_path.as_deref()))
            .collect();
        for (file, change) in files.iter_mut().zip(&raw) {
            let sides = std::iter::once(&file.path).chain(file.from.as_ref());
            if file.allowed() && !sides.into_iter().all(|p| present.contains(p.as_slice())) {
                file.reasons.push(Reason::NeedsRefused);
                revert_lines(change, &mut revert);
            }
        }
    }

    files.extend(untracked_outside);
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(Built { files, patch })
}

/// A `git check-attr --stdin` started early for the conversion attributes.
struct AttributeQuery {
    child: Option<std::process::Child>,
}

const ATTRIBUTES: [&str; 6] = ["text", "eol", "crlf", "filter", "ident", "working-tree-encoding"];

impl AttributeQuery {
    fn start(git: &dyn Fn() -> crate::repo::Git) -> Result<AttributeQuery> {
        let child = git().args(["check-attr", "-z", "--stdin"]).args(ATTRIBUTES).spawn_piped()?;
        Ok(AttributeQuery { child: Some(child) })
    }

    /// Send NUL-terminated paths, close stdin, and return the `path NUL attr NUL value NUL`
    /// records.
    fn ask(mut self, paths: Vec<u8>) -> Result<Vec<u8>> {
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
fn converted(
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
    // Records: path NUL attribute NUL value NUL.
    let fields: Vec<&[u8]> = output.split(|b| *b == 0).collect();
    let mut attributed: BTreeSet<&[u8]> = BTreeSet::new();
    for record in fields.chunks(3) {
        if let [path, _, value] = record {
            if !matches!(*value, b"unspecified" | b"unset") {
                attributed.insert(path);
            }
        }
    }
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

/// `--raw -z` records, then the patch with every option that fixes its bytes.
const RAW_AND_PATCH: [&str; 12] = [
    "-z",
    "--raw",
    "--no-abbrev",
    "-p",
    "--binary",
    "--full-index",
    "-M",
    "--no-ext-diff",
    "--no-textconv",
    "--no-color",
    "--src-prefix=a/",
    "--dst-prefix=b/",
];

/// Split `--raw -z -p` output: raw records (`:srcmode dstmode srcoid dstoid STATUS NUL path
/// NUL [dstpath NUL]`), an empty record, then the patch bytes.
fn split_raw_and_patch(bytes: &[u8]) -> Result<(Vec<RawChange>, Vec<u8>)> {
    let bad = || Error::usage("unexpected output from `git diff --raw -p`").with_code("git_output");
    let mut changes = Vec::new();
    let mut rest = bytes;
    let field = |rest: &mut &[u8]| -> Result<Vec<u8>> {
        let end = rest.iter().position(|b| *b == 0).ok_or_else(bad)?;
        let value = rest[..end].to_vec();
        *rest = &rest[end + 1..];
        Ok(value)
    };
    while !rest.is_empty() {
        if rest[0] == 0 {
            return Ok((changes, rest[1..].to_vec()));
        }
        let header = String::from_utf8(field(&mut rest)?).map_err(|_| bad())?;
        let parts: Vec<&str> = header.trim_start_matches(':').split(' ').collect();
        let [src_mode, dst_mode, src_oid, dst_oid, status] = parts[..] else {
            return Err(bad());
        };
        let status = *status.as_bytes().first().ok_or_else(bad)?;
        let src_path = field(&mut rest)?;
        let dst_path = if matches!(status, b'R' | b'C') { Some(field(&mut rest)?) } else { None };
        changes.push(RawChange {
            src_mode: src_mode.to_string(),
            dst_mode: dst_mode.to_string(),
            src_oid: src_oid.to_string(),
            dst_oid: dst_oid.to_string(),
            status,
            src_path,
            dst_path,
        });
    }
    Ok((changes, Vec::new()))
}

/// Bring the private index in line with the working tree for `paths`.
fn update_index<'a>(git: &dyn Fn() -> crate::repo::Git, paths: impl Iterator<Item = &'a [u8]>) -> Result<()> {
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

/// `--index-info` lines that put a change back to its base state in the private index.
fn revert_lines(change: &RawChange, out: &mut Vec<u8>) {
    // Mode 0 removes the entry; the id must still have the repository's hash length.
    let no_oid = "0".repeat(change.src_oid.len());
    // The source side: restore it if it existed at base.
    if change.src_mode != "000000" {
        out.extend_from_slice(format!("{} {}\t", change.src_mode, change.src_oid).as_bytes());
    } else {
        out.extend_from_slice(format!("0 {no_oid}\t").as_bytes());
    }
    out.extend_from_slice(&change.src_path);
    out.push(0);
    // The destination of a rename did not exist at base: remove it.
    if let Some(dst) = &change.dst_path {
        out.extend_from_slice(format!("0 {no_oid}\t").as_bytes());
        out.extend_from_slice(dst);
        out.push(0);
    }
}

/// The changes of a pushed commit (`base_commit → commit`), for the pre-push check. Nothing is
/// left out: the patch is everything that was committed.
pub fn from_commit(repo: &Repo, base_commit: &str, commit: &str, patterns: &[Pattern]) -> Result<Built> {
    let output = repo
        .git()
        .stable_config()
        .args(["diff-tree", "-r"])
        .args(RAW_AND_PATCH)
        .args([base_commit, commit])
        .output()?;
    let (raw, patch) = split_raw_and_patch(&output)?;
    let mut files: Vec<ChangedFile> = raw.iter().map(|c| to_changed(c, patterns)).collect();
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(Built { files, patch })
}

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
fn safe_work_tree_path(repo: &Repo, path: &[u8]) -> Result<PathBuf> {
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
