//! The patch engine: what exactly would be submitted.
//!
//! The submission is `base commit → working tree (+ index + untracked, not ignored files)`,
//! restricted to the changes validators accept. It is built with git plumbing on a private
//! copy of the index (`GIT_INDEX_FILE`), so the user's index is never touched, and with
//! explicit options, so the user's configuration cannot change the bytes:
//!
//! 1. copy `.git/index` to a temporary file (or `read-tree` the base when there is none);
//! 2. list what differs from that index, both walks at once: `diff-files --raw` (unstaged
//!    work) and `ls-files -o --exclude-standard` (untracked work); committed and staged work is
//!    already in the index;
//! 3. judge each candidate path by its name before reading it: `update-index --add --remove`
//!    only what could be submitted or costs nothing (allowed paths, removals, symlinks,
//!    conflicts). Untracked files that can never be submitted are never read; tracked ones
//!    whose stat data changed are hashed without being stored and, if they really changed,
//!    reported as refused while the private index keeps their base entry;
//! 4. `diff-index --cached --raw -M` (no patch): the precise change of each path;
//! 5. put every refused change back to its base state in the private index (repeated while
//!    that drags an allowed change out with it), then render the patch of the allowed paths
//!    only (`-p --binary --full-index`, literal pathspecs). Nothing refused is ever rendered.

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

/// One record of `git diff-files --raw -z`: what changed in the work tree against the index.
struct Unstaged<'a> {
    path: &'a [u8],
    /// The index entry's mode.
    index_mode: &'a str,
    /// The mode git would record for the work-tree file.
    dst_mode: &'a str,
    /// The index entry's object id.
    index_oid: &'a str,
    status: u8,
}

fn parse_unstaged(output: &[u8]) -> Result<Vec<Unstaged<'_>>> {
    let bad = || Error::usage("unexpected output from `git diff-files --raw`").with_code("git_output");
    let mut found = Vec::new();
    let mut records = output.split(|b| *b == 0);
    while let Some(header) = records.next() {
        if header.is_empty() {
            continue;
        }
        let path = records.next().filter(|p| !p.is_empty()).ok_or_else(bad)?;
        let header = std::str::from_utf8(header).map_err(|_| bad())?;
        let parts: Vec<&str> = header.trim_start_matches(':').split(' ').collect();
        let [index_mode, dst_mode, index_oid, _, status] = parts[..] else {
            return Err(bad());
        };
        let status = *status.as_bytes().first().ok_or_else(bad)?;
        found.push(Unstaged { path, index_mode, dst_mode, index_oid, status });
    }
    Ok(found)
}

/// Whether `path` is a regular file in the work tree (not a symlink, directory or missing).
fn is_regular_file(repo: &Repo, path: &[u8]) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let full = repo.work_tree().join(std::ffi::OsStr::from_bytes(path));
    std::fs::symlink_metadata(full).is_ok_and(|m| m.file_type().is_file())
}

/// The submission from the working tree: `base_commit → working tree`, allowed changes only.
///
/// Every candidate path is judged from git's raw records first: a path that can never be
/// submitted is never written into the object store and never rendered as a patch (a
/// multi-GB checkpoint outside the allowed paths costs one streamed hash when its stat data
/// changed, and nothing otherwise).
pub fn from_worktree(repo: &Repo, base_commit: &str, patterns: &[Pattern]) -> Result<Built> {
    // Ctrl-C stops the gits; the private index is removed on the way out (exit 130).
    let _interrupt = crate::interrupt::Interrupt::catch();
    let built = crate::interrupt::or_interrupted(build_from_worktree(repo, base_commit, patterns))?;
    // Ctrl-C between two git runs: stop here all the same.
    crate::interrupt::check()?;
    Ok(built)
}

fn build_from_worktree(repo: &Repo, base_commit: &str, patterns: &[Pattern]) -> Result<Built> {
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
    // Regular files that changed (or only look changed) and can never be submitted: judged by
    // a hash that is never stored.
    let mut screened: Vec<Unstaged> = Vec::new();
    for record in parse_unstaged(&tracked)? {
        match record.status {
            b'U' => {
                unmerged.insert(record.path);
                to_update.insert(record.path);
            }
            // A removal costs nothing, and its record pairs with an addition into a rename.
            b'D' => {
                to_update.insert(record.path);
            }
            _ if !reasons_for(record.path, patterns).is_empty() && is_regular_file(repo, record.path) => {
                screened.push(record)
            }
            _ => {
                to_update.insert(record.path);
            }
        }
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
    // Out-of-scope files whose content really differs from the index: judged against the base
    // here, and kept at their base state in the private index so no diff ever reads them.
    let mut screened_changes = Vec::new();
    let mut keep_at_base = Vec::new();
    let candidates: Vec<Unstored> = screened
        .iter()
        .map(|r| Unstored {
            path: r.path,
            mode: r.dst_mode,
            known_mode: r.index_mode,
            known_oid: r.index_oid,
        })
        .collect();
    judge_unstored(repo, &git, base_commit, &candidates, patterns, &mut screened_changes, &mut keep_at_base)?;
    if !keep_at_base.is_empty() {
        git()
            .args(["update-index", "-z", "--index-info"])
            .stdin(std::mem::take(&mut keep_at_base))
            .output()?;
    }

    // The precise changes, without a patch: nothing is rendered before it is judged.
    let raw_only = || git().arg("diff-index").arg("--cached").args(RAW_ONLY).arg(base_commit).output();
    let render = |pathspecs: &[&[u8]]| {
        git()
            .arg("--literal-pathspecs")
            .arg("diff-index")
            .arg("--cached")
            .args(RAW_AND_PATCH)
            .arg(base_commit)
            .arg("--")
            .args(pathspecs.iter().map(|p| os_str(p)))
            .output()
    };
    // While the full raw run looks at everything, render the allowed work-tree changes in
    // parallel: when the raw run finds nothing else (no refused or committed change), that
    // patch is the one, and the check costs one diff-index run of wall time.
    let guessed: Vec<&[u8]> =
        to_update.iter().copied().filter(|p| reasons_for(p, patterns).is_empty()).collect();
    let (first, guess) = std::thread::scope(|scope| {
        let guess = (!guessed.is_empty() && pathspec_bytes(&guessed) <= MAX_PATHSPEC_BYTES)
            .then(|| scope.spawn(|| render(&guessed)));
        let first = raw_only();
        let guess = guess.and_then(|handle| handle.join().ok()).and_then(Result::ok);
        (first, guess)
    });
    let mut raw = split_raw_and_patch(&first?)?.0;
    let mut guess = guess.map(|bytes| split_raw_and_patch(&bytes)).transpose()?;
    // A file removed from the index only (`git rm --cached`) is untracked but exists at base:
    // compare it with its base state, so an unchanged file does not show up as deleted plus
    // added. Regular files are hashed without storing; anything else is cheap to add.
    let untracked_paths: BTreeSet<&[u8]> = untracked_outside.iter().map(|u| u.path.as_slice()).collect();
    let readd: Vec<&RawChange> =
        raw.iter().filter(|c| c.status == b'D' && untracked_paths.contains(c.src_path.as_slice())).collect();
    if !readd.is_empty() {
        let (regular, other): (Vec<&RawChange>, Vec<&RawChange>) =
            readd.into_iter().partition(|c| is_regular_file(repo, &c.src_path));
        let readded: BTreeSet<Vec<u8>> = regular.iter().chain(&other).map(|c| c.src_path.clone()).collect();
        let modes: Vec<(Vec<u8>, String, String)> = regular
            .iter()
            .map(|c| (c.src_path.clone(), work_tree_mode(repo, &c.src_path, &c.src_mode), c.src_oid.clone()))
            .collect();
        let candidates: Vec<Unstored> = modes
            .iter()
            .zip(&regular)
            .map(|((path, mode, oid), c)| Unstored { path, mode, known_mode: &c.src_mode, known_oid: oid })
            .collect();
        judge_unstored(
            repo,
            &git,
            base_commit,
            &candidates,
            patterns,
            &mut screened_changes,
            &mut keep_at_base,
        )?;
        // Unchanged ones go back to their base entry (also what a changed one is kept at).
        for c in &regular {
            keep_at_base.extend_from_slice(format!("{} {}\t", c.src_mode, c.src_oid).as_bytes());
            keep_at_base.extend_from_slice(&c.src_path);
            keep_at_base.push(0);
        }
        if !keep_at_base.is_empty() {
            git()
                .args(["update-index", "-z", "--index-info"])
                .stdin(std::mem::take(&mut keep_at_base))
                .output()?;
        }
        update_index(&git, other.iter().map(|c| c.src_path.as_slice()))?;
        untracked_outside.retain(|u| !readded.contains(&u.path));
        raw = split_raw_and_patch(&raw_only()?)?.0;
        guess = None;
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
    // When no refused path collides with an allowed one (a file `d` and a directory `d/`),
    // putting the refused changes back cannot evict an allowed change: one round, no second
    // look, and a parallel render of exactly the allowed changes stays good.
    let unlimited_revert = std::cell::RefCell::new(Vec::new());
    if !revert.is_empty() && !collides(&files) {
        let guessed_right = guess.as_ref().is_some_and(|(guess_raw, _)| {
            names_exactly(guess_raw, &files.iter().filter(|f| f.allowed()).collect::<Vec<_>>())
        });
        // Only a render without pathspecs (a fallback) needs them put back.
        if !guessed_right {
            *unlimited_revert.borrow_mut() = std::mem::take(&mut revert);
        }
        revert.clear();
    }
    // Put refused changes back to base in the private index, then look again. Restoring a
    // base path evicts entries it collides with, so an allowed change can vanish with it: such
    // a change needs the refused one, and is refused too. Each round refuses at least one more
    // change, so this ends.
    while !revert.is_empty() {
        guess = None;
        git().args(["update-index", "-z", "--index-info"]).stdin(std::mem::take(&mut revert)).output()?;
        let left = split_raw_and_patch(&raw_only()?)?.0;
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
    // Only allowed changes are left in the private index: render exactly those.
    let allowed: Vec<&ChangedFile> = files.iter().filter(|f| f.allowed()).collect();
    let patch = match guess {
        _ if allowed.is_empty() => Vec::new(),
        Some((guess_raw, guess_patch)) if names_exactly(&guess_raw, &allowed) => guess_patch,
        _ => render_allowed(&allowed, |pathspecs| {
            if pathspecs.is_empty() && !unlimited_revert.borrow().is_empty() {
                let lines = std::mem::take(&mut *unlimited_revert.borrow_mut());
                git().args(["update-index", "-z", "--index-info"]).stdin(lines).output()?;
            }
            render(pathspecs)
        })?,
    };

    files.extend(untracked_outside);
    files.extend(screened_changes);
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(Built { files, patch })
}

fn os_str(path: &[u8]) -> &std::ffi::OsStr {
    use std::os::unix::ffi::OsStrExt;
    std::ffi::OsStr::from_bytes(path)
}

/// Pathspecs beyond this many bytes are not passed (the argument list has a limit); the diff
/// is then taken whole.
const MAX_PATHSPEC_BYTES: usize = 256 << 10;

/// The patch of exactly the `allowed` changes, from a `RAW_AND_PATCH` run limited to their
/// paths (`render(&[])` is the unlimited run). The raw records of that run must name exactly
/// the allowed changes, or the unlimited run is used.
fn render_allowed(allowed: &[&ChangedFile], render: impl Fn(&[&[u8]]) -> Result<Vec<u8>>) -> Result<Vec<u8>> {
    let pathspecs: Vec<&[u8]> = sides(allowed).into_iter().collect();
    if pathspec_bytes(&pathspecs) <= MAX_PATHSPEC_BYTES {
        let (raw, patch) = split_raw_and_patch(&render(&pathspecs)?)?;
        if names_exactly(&raw, allowed) {
            return Ok(patch);
        }
    }
    Ok(split_raw_and_patch(&render(&[])?)?.1)
}

/// Whether a refused change's path is, contains or lies inside an allowed change's path.
fn collides(files: &[ChangedFile]) -> bool {
    let allowed: Vec<&ChangedFile> = files.iter().filter(|f| f.allowed()).collect();
    let allowed = sides(&allowed);
    let refused: Vec<&ChangedFile> = files.iter().filter(|f| !f.allowed()).collect();
    sides(&refused).into_iter().any(|path| {
        let mut inside = path.to_vec();
        inside.push(b'/');
        // `path` itself, anything under `path/`, or a directory of `path`.
        let below = allowed
            .range(path..)
            .take_while(|a| a.starts_with(path))
            .any(|a| a.len() == path.len() || a.starts_with(&inside));
        let above =
            path.iter().enumerate().filter(|(_, b)| **b == b'/').any(|(i, _)| allowed.contains(&path[..i]));
        below || above
    })
}

/// Both paths of every change.
fn sides<'a>(files: &[&'a ChangedFile]) -> BTreeSet<&'a [u8]> {
    let mut paths = BTreeSet::new();
    for file in files {
        paths.insert(file.path.as_slice());
        paths.extend(file.from.as_deref());
    }
    paths
}

/// Whether raw records are exactly the `allowed` changes (same paths, same number).
fn names_exactly(raw: &[RawChange], allowed: &[&ChangedFile]) -> bool {
    let seen: BTreeSet<&[u8]> = raw
        .iter()
        .flat_map(|c| std::iter::once(c.src_path.as_slice()).chain(c.dst_path.as_deref()))
        .collect();
    raw.len() == allowed.len() && seen == sides(allowed)
}

fn pathspec_bytes(paths: &[&[u8]]) -> usize {
    paths.iter().map(|p| p.len() + 1).sum()
}

/// The mode `update-index` would record for a regular file in the work tree: executable or
/// not, unless the index's mode is kept (`old_mode` is a regular file's).
fn work_tree_mode(repo: &Repo, path: &[u8], old_mode: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    let full = repo.work_tree().join(os_str(path));
    match std::fs::symlink_metadata(full) {
        Ok(meta) if meta.permissions().mode() & 0o111 != 0 => "100755".to_string(),
        Ok(_) => "100644".to_string(),
        Err(_) => old_mode.to_string(),
    }
}

/// A work-tree file to judge without storing it, and the entry it is compared with.
struct Unstored<'a> {
    path: &'a [u8],
    /// The mode git would record for the file.
    mode: &'a str,
    known_mode: &'a str,
    known_oid: &'a str,
}

/// Judge files that can never be submitted without writing them into the object store: hash
/// each (streamed, never stored) and compare with `known_oid` (the index entry, or the base
/// entry). A file that differs is compared with the base commit and becomes a refused change
/// in `changes`; `keep_at_base` gets the `--index-info` lines that hold every differing path
/// at its base state in the private index, so no diff reads its content.
fn judge_unstored(
    repo: &Repo,
    git: &dyn Fn() -> crate::repo::Git,
    base_commit: &str,
    candidates: &[Unstored],
    patterns: &[Pattern],
    changes: &mut Vec<ChangedFile>,
    keep_at_base: &mut Vec<u8>,
) -> Result<()> {
    if candidates.is_empty() {
        return Ok(());
    }
    let hashes = hash_unstored(repo, git, candidates)?;
    let differing: Vec<(&[u8], &str, String)> = candidates
        .iter()
        .zip(hashes)
        .filter(|(c, hash)| *hash != c.known_oid || c.mode != c.known_mode)
        .map(|(c, hash)| (c.path, c.mode, hash))
        .collect();
    if differing.is_empty() {
        return Ok(());
    }
    let base = base_entries(git, base_commit, differing.iter().map(|(p, _, _)| *p))?;
    for (path, mode, hash) in differing {
        let no_oid = "0".repeat(hash.len());
        let change = match base.get(path) {
            Some((base_mode, base_oid)) => {
                keep_at_base.extend_from_slice(format!("{base_mode} {base_oid}\t").as_bytes());
                if *base_oid == hash && base_mode == mode {
                    None
                } else if file_type(base_mode) != file_type(mode) {
                    Some(Change::TypeChanged)
                } else {
                    Some(Change::Modified)
                }
            }
            None => {
                keep_at_base.extend_from_slice(format!("0 {no_oid}\t").as_bytes());
                Some(Change::Added)
            }
        };
        keep_at_base.extend_from_slice(path);
        keep_at_base.push(0);
        if let Some(change) = change {
            changes.push(ChangedFile {
                path: path.to_vec(),
                from: None,
                change,
                reasons: reasons_for(path, patterns),
            });
        }
    }
    Ok(())
}

/// The kind of entry a mode is (regular file of either mode, symlink, gitlink).
fn file_type(mode: &str) -> &str {
    match mode {
        "100644" | "100755" => "file",
        other => other,
    }
}

/// The blob ids git would give these work-tree files, computed without writing anything.
/// Files with a conversion attribute are hashed by `git hash-object` (without `-w`), which
/// applies the conversion; the others are streamed through the hash here, so even a huge file
/// costs one read and little memory.
fn hash_unstored(
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
fn stream_blob_hash(path: &std::path::Path, kind: gix::hash::Kind) -> Result<String> {
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
fn attributed_paths(output: &[u8]) -> BTreeSet<&[u8]> {
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
fn base_entries<'a>(
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

/// `--raw -z` records only: what changed, with nothing read or rendered.
const RAW_ONLY: [&str; 4] = ["-z", "--raw", "--no-abbrev", "-M"];

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

/// The changes of a pushed commit (`base_commit → commit`), for the pre-push check. Every
/// change is judged from the raw records; the patch holds the allowed changes only, so a
/// committed checkpoint outside the allowed paths is never read.
pub fn from_commit(repo: &Repo, base_commit: &str, commit: &str, patterns: &[Pattern]) -> Result<Built> {
    let git = || repo.git().stable_config();
    let output = git().args(["diff-tree", "-r"]).args(RAW_ONLY).args([base_commit, commit]).output()?;
    let (raw, _) = split_raw_and_patch(&output)?;
    let mut files: Vec<ChangedFile> = raw.iter().map(|c| to_changed(c, patterns)).collect();
    let allowed: Vec<&ChangedFile> = files.iter().filter(|f| f.allowed()).collect();
    let patch = if allowed.is_empty() {
        Vec::new()
    } else {
        let render = |pathspecs: &[&[u8]]| {
            git()
                .arg("--literal-pathspecs")
                .args(["diff-tree", "-r"])
                .args(RAW_AND_PATCH)
                .args([base_commit, commit, "--"])
                .args(pathspecs.iter().map(|p| os_str(p)))
                .output()
        };
        render_allowed(&allowed, render)?
    };
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

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, refused: bool) -> ChangedFile {
        ChangedFile {
            path: path.as_bytes().to_vec(),
            from: None,
            change: Change::Modified,
            reasons: if refused { vec![Reason::Outside] } else { Vec::new() },
        }
    }

    #[test]
    fn collisions_are_a_path_and_what_lies_under_it() {
        assert!(collides(&[file("d", true), file("d/x", false)]));
        assert!(collides(&[file("d/x", true), file("d", false)]));
        assert!(collides(&[file("a/b/c", true), file("a", false)]));
        assert!(!collides(&[file("d", true), file("dx", false), file("d.txt", false), file("e/d", false)]));
        assert!(!collides(&[file("weights.bin", true), file("src/train.py", false)]));
    }
}
