//! The patch engine: what exactly would be submitted.
//!
//! The submission is `base commit → working tree (+ index + untracked, not ignored files)`,
//! restricted to the changes validators accept. It is built with git plumbing on private
//! index files (`GIT_INDEX_FILE`), so the user's index is never touched, and with explicit
//! options, so the user's configuration cannot change the bytes:
//!
//! 1. snapshot `.git/index` (a hard link, else a copy with its mtime; `read-tree` the base
//!    when there is none); the snapshot is only read;
//! 2. list what differs, all at once: `diff-files --raw` (unstaged work), `ls-files -o
//!    --exclude-standard` (untracked work) and `diff-index --cached --raw` of the snapshot
//!    (staged and committed work). Big racily clean files that git would re-hash on every
//!    run are proven unchanged first and left out of `diff-files` (`racy.rs`);
//! 3. judge each candidate path by its name before reading it: only what could be submitted
//!    or costs nothing (allowed paths, removals, symlinks, conflicts) is taken from the work
//!    tree. Untracked files that can never be submitted are never read; tracked ones whose
//!    stat data changed are hashed without being stored and, if they really changed,
//!    reported as refused and kept at their base state;
//! 4. build a second private index of the touched paths only (their staged entries, base
//!    states, removed paths dropped with `--index-info`, then `update-index --add --remove
//!    --replace` from the work tree) and run `diff-index --cached --raw -M` (no patch)
//!    limited to those paths: the precise change of each path.
//!    Every other path is the same at base and in the submission;
//! 5. put every refused change back to its base state in that index (repeated while that
//!    drags an allowed change out with it), then render the patch of the allowed paths only
//!    (`-p --binary --full-index`, literal pathspecs). Nothing refused is ever rendered.
//!
//! A touched set too large for the argument list takes the whole snapshot instead (updated
//! in place, diffed without pathspecs).

use std::collections::BTreeSet;
use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::fnmatch::Pattern;
use crate::repo::{split_nul, Repo};
use crate::validator;

mod index;
mod racy;
mod raw;
mod tree;
mod unstored;

use index::*;
pub use racy::work_tree_dirty;
use raw::*;
pub use tree::{tree_with_patch, write_paths_from_tree};
use unstored::*;

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
pub struct ChangesAndPatch {
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
#[derive(Debug, Clone)]
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
pub fn from_worktree(repo: &Repo, base_commit: &str, patterns: &[Pattern]) -> Result<ChangesAndPatch> {
    from_worktree_telling(repo, base_commit, patterns, None)
}

/// [`from_worktree`], sending on `walked` once the work-tree walks are done: what follows is a
/// chain of small gits that leaves a core idle for other work.
pub fn from_worktree_telling(
    repo: &Repo,
    base_commit: &str,
    patterns: &[Pattern],
    walked: Option<std::sync::mpsc::Sender<()>>,
) -> Result<ChangesAndPatch> {
    // Ctrl-C stops the gits; the private index is removed on the way out (exit 130).
    let _interrupt = crate::interrupt::Interrupt::catch();
    let built = crate::interrupt::or_interrupted(build_from_worktree(repo, base_commit, patterns, walked))?;
    // Ctrl-C between two git runs: stop here all the same.
    crate::interrupt::check()?;
    Ok(built)
}

fn build_from_worktree(
    repo: &Repo,
    base_commit: &str,
    patterns: &[Pattern],
    walked: Option<std::sync::mpsc::Sender<()>>,
) -> Result<ChangesAndPatch> {
    // A snapshot of the user's index: every walk reads the same one, and it is never written.
    let index = TempIndex::create(repo, base_commit)?;
    let git = || repo.git().stable_config().index_file(&index.path);

    // What differs from the snapshot: tracked files changed or removed in the work tree
    // (`diff-files`, which stats in parallel like `git status`) and untracked files; and what
    // the snapshot itself holds that the base does not (staged and committed work, read from
    // the index and the trees only). The walks run at the same time.
    let (tracked, untracked, staged) = std::thread::scope(|scope| {
        // With renames: when the work tree adds nothing, these are the submission's records.
        let staged =
            scope.spawn(|| git().args(["diff-index", "--cached"]).args(RAW_ONLY).arg(base_commit).output());
        let untracked = scope.spawn(|| git().args(["ls-files", "-z", "-o", "--exclude-standard"]).output());
        // Big files git would re-hash on every run (racily clean), proven unchanged instead.
        let tracked = racy::proven_clean(repo, &git, &index.path).and_then(|proven| {
            let excluded = racy::exclude_pathspecs(&proven);
            git().args(["diff-files", "-z", "--raw", "--no-renames", "--"]).args(excluded).output()
        });
        let unfinished = |what: &str| Err(Error::usage(format!("`git {what}` did not finish")));
        let untracked = untracked.join().unwrap_or_else(|_| unfinished("ls-files"));
        let staged = staged.join().unwrap_or_else(|_| unfinished("diff-index"));
        (tracked, untracked, staged)
    });
    if let Some(walked) = walked {
        let _ = walked.send(());
    }
    let (tracked, untracked, staged) = (tracked?, untracked?, staged?);
    // `check-attr` spends most of its time reading the index: start it now (the walks kept both
    // cores busy; what follows is a chain of small gits), ask it at the end.
    let mut attributes = Some(AttributeQuery::start(&git)?);
    let staged_with_renames = split_raw_and_patch(&staged)?.0;
    let staged = without_renames(&staged_with_renames);
    // `update-index` below resolves a conflict with whatever the file holds (markers and all):
    // remember which paths were unmerged (status `U`) first.
    let mut to_update: BTreeSet<&[u8]> = BTreeSet::new();
    // Removed from the work tree: their entries are dropped with `--index-info` (mode 0), which
    // also works where `update-index --remove` refuses, behind a symlinked directory.
    let mut removed: BTreeSet<&[u8]> = BTreeSet::new();
    let mut unmerged: BTreeSet<&[u8]> = BTreeSet::new();
    // Regular files that changed (or only look changed) and can never be submitted: judged by
    // a hash that is never stored.
    let mut screened: Vec<Unstaged> = Vec::new();
    let unstaged = parse_unstaged(&tracked)?;
    for &record in &unstaged {
        match record.status {
            b'U' => {
                unmerged.insert(record.path);
                to_update.insert(record.path);
            }
            // A removal costs nothing, and its record pairs with an addition into a rename.
            b'D' => {
                removed.insert(record.path);
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
    // Out-of-scope files whose content really differs from the index: judged against the base
    // here, and kept at their base state in the submitted index so no diff ever reads them.
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
    let kept = judge_unstored(
        repo,
        &git,
        base_commit,
        &candidates,
        patterns,
        &mut screened_changes,
        &mut keep_at_base,
    )?;

    // Committed or staged work only: the snapshot is the submission.
    let snapshot_only = to_update.is_empty()
        && removed.is_empty()
        && unmerged.is_empty()
        && kept.is_empty()
        && staged.iter().all(|c| c.status != b'U');
    if snapshot_only {
        let built = from_snapshot(
            repo,
            &git,
            base_commit,
            patterns,
            &staged_with_renames,
            &mut attributes,
            &untracked_outside,
        )?;
        if let Some(mut built) = built {
            built.files.extend(untracked_outside);
            built.files.sort_by(|a, b| a.path.cmp(&b.path));
            return Ok(built);
        }
    }

    // The index that is diffed against the base. Every path outside `touched` is the same in
    // the base, the snapshot and the work tree (or untracked and refused), so a private index
    // of the touched paths alone, diffed with them as pathspecs, gives the same records as
    // the whole snapshot would, without rewriting or diffing all of its entries.
    let touched: BTreeSet<&[u8]> = to_update
        .iter()
        .chain(&removed)
        .copied()
        .chain(staged.iter().map(|c| c.src_path.as_slice()))
        .chain(kept.iter().map(Vec::as_slice))
        .collect();
    let touched: Vec<&[u8]> = touched.into_iter().collect();
    // An unmerged entry is rebuilt from the work tree; one `diff-files` did not list is rare
    // enough to take the whole snapshot.
    let small = pathspec_bytes(&touched) <= MAX_PATHSPEC_BYTES
        && staged.iter().all(|c| c.status != b'U' || to_update.contains(c.src_path.as_slice()));
    let submitted = if small { Some(TempIndex::empty(repo, "submitted")?) } else { None };
    let submitted_path = submitted.as_ref().map_or(&index.path, |s| &s.path);
    let target = || repo.git().stable_config().index_file(submitted_path);
    let limit: Option<&[&[u8]]> = small.then_some(touched.as_slice());
    if small {
        // The snapshot's entries of the touched paths first (staged ones, and those the work
        // tree changed, so `update-index` finds what it removes or replaces); the base states
        // and work-tree states below replace them.
        let mut entries = Vec::new();
        let staged_entries = staged.iter().filter(|c| !matches!(c.status, b'D' | b'U'));
        let staged_entries =
            staged_entries.map(|c| (c.dst_mode.as_str(), c.dst_oid.as_str(), c.src_path.as_slice()));
        let unstaged_entries =
            unstaged.iter().filter(|r| r.status != b'U').map(|r| (r.index_mode, r.index_oid, r.path));
        for (mode, oid, path) in staged_entries.chain(unstaged_entries) {
            if mode != "000000" {
                index_info_line(&mut entries, mode, oid, path);
            }
        }
        keep_at_base.splice(0..0, entries);
    }
    let oid_len = repo.object_hash().len_in_hex();
    for path in &removed {
        removal_line(&mut keep_at_base, oid_len, path);
    }
    if !keep_at_base.is_empty() {
        target()
            .args(["update-index", "-z", "--index-info"])
            .stdin(std::mem::take(&mut keep_at_base))
            .output()?;
    }
    update_index(&target, to_update.iter().copied())?;

    // The precise changes, without a patch: nothing is rendered before it is judged.
    // A small index is only ever diffed with its paths as pathspecs: anything else would see
    // every other base path as deleted.
    let raw_only = || match limit {
        Some([]) => Ok(Vec::new()),
        _ => target()
            .arg("--literal-pathspecs")
            .arg("diff-index")
            .arg("--cached")
            .args(RAW_ONLY)
            .arg(base_commit)
            .arg("--")
            .args(limit.unwrap_or_default().iter().map(|p| os_str(p)))
            .output(),
    };
    let render = |pathspecs: &[&[u8]]| {
        let pathspecs = if pathspecs.is_empty() { limit.unwrap_or_default() } else { pathspecs };
        target()
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
        to_update.iter().chain(&removed).copied().filter(|p| reasons_for(p, patterns).is_empty()).collect();
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
        // Already touched: removed from the snapshot, present at base.
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
            index_info_line(&mut keep_at_base, &c.src_mode, &c.src_oid, &c.src_path);
        }
        if !keep_at_base.is_empty() {
            target()
                .args(["update-index", "-z", "--index-info"])
                .stdin(std::mem::take(&mut keep_at_base))
                .output()?;
        }
        update_index(&target, other.iter().map(|c| c.src_path.as_slice()))?;
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
    let attributes = match attributes.take() {
        Some(query) => query,
        None => AttributeQuery::start(&git)?,
    };
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
        target().args(["update-index", "-z", "--index-info"]).stdin(std::mem::take(&mut revert)).output()?;
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
                target().args(["update-index", "-z", "--index-info"]).stdin(lines).output()?;
            }
            render(pathspecs)
        })?,
    };

    files.extend(untracked_outside);
    files.extend(screened_changes);
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(ChangesAndPatch { files, patch })
}

/// When the work tree adds nothing to the snapshot (no unstaged, untracked-allowed or screened
/// change), the snapshot's own records against the base, renames included, are the changes, and
/// the allowed ones are rendered from the snapshot directly: no second private index, two gits
/// fewer. `None` leaves the decision to the general way: a refused change that collides with an
/// allowed one (putting it back could evict the other), a file removed from the index only, a
/// render whose records are not exactly the allowed changes.
fn from_snapshot(
    repo: &Repo,
    git: &dyn Fn() -> crate::repo::Git,
    base_commit: &str,
    patterns: &[Pattern],
    raw: &[RawChange],
    attributes: &mut Option<AttributeQuery>,
    untracked: &[ChangedFile],
) -> Result<Option<ChangesAndPatch>> {
    let untracked: BTreeSet<&[u8]> = untracked.iter().map(|u| u.path.as_slice()).collect();
    if raw.iter().any(|c| c.status == b'D' && untracked.contains(c.src_path.as_slice())) {
        return Ok(None);
    }
    let mut files: Vec<ChangedFile> = raw.iter().map(|c| to_changed(c, patterns)).collect();
    if let Some(query) = attributes.take() {
        for i in converted(repo, git, query, raw, &files)? {
            files[i].reasons.push(Reason::Converted);
        }
    }
    if files.iter().any(|f| !f.allowed()) && collides(&files) {
        return Ok(None);
    }
    let allowed: Vec<&ChangedFile> = files.iter().filter(|f| f.allowed()).collect();
    let mut patch = Vec::new();
    if !allowed.is_empty() {
        let pathspecs: Vec<&[u8]> = sides(&allowed).into_iter().collect();
        if pathspec_bytes(&pathspecs) > MAX_PATHSPEC_BYTES {
            return Ok(None);
        }
        let output = git()
            .arg("--literal-pathspecs")
            .arg("diff-index")
            .arg("--cached")
            .args(RAW_AND_PATCH)
            .arg(base_commit)
            .arg("--")
            .args(pathspecs.iter().map(|p| os_str(p)))
            .output()?;
        let (rendered, bytes) = split_raw_and_patch(&output)?;
        if !names_exactly(&rendered, &allowed) {
            return Ok(None);
        }
        patch = bytes;
    }
    Ok(Some(ChangesAndPatch { files, patch }))
}

/// Raw records with every rename split into its deletion and addition, in path order (what
/// `--no-renames` would have printed).
fn without_renames(records: &[RawChange]) -> Vec<RawChange> {
    let mut split = Vec::with_capacity(records.len());
    for record in records {
        match (&record.dst_path, record.status) {
            (Some(dst), b'R') => {
                let no_oid = "0".repeat(record.src_oid.len());
                split.push(RawChange {
                    dst_mode: "000000".to_string(),
                    dst_oid: no_oid.clone(),
                    status: b'D',
                    dst_path: None,
                    ..record.clone()
                });
                split.push(RawChange {
                    src_mode: "000000".to_string(),
                    dst_mode: record.dst_mode.clone(),
                    src_oid: no_oid,
                    dst_oid: record.dst_oid.clone(),
                    status: b'A',
                    src_path: dst.clone(),
                    dst_path: None,
                });
            }
            _ => split.push(record.clone()),
        }
    }
    split.sort_by(|a, b| a.src_path.cmp(&b.src_path));
    split
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

/// The changes of a pushed commit (`base_commit → commit`), for the pre-push check. Every
/// change is judged from the raw records; the patch holds the allowed changes only, so a
/// committed checkpoint outside the allowed paths is never read.
pub fn from_commit(
    repo: &Repo,
    base_commit: &str,
    commit: &str,
    patterns: &[Pattern],
) -> Result<ChangesAndPatch> {
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
    Ok(ChangesAndPatch { files, patch })
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
