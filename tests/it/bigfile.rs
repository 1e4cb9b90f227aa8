//! What is not submitted costs nothing: a tracked file outside the allowed paths (a model
//! checkpoint) is never written into the object store and never rendered as a patch, whether it
//! is modified in the work tree, committed, racily clean after a reset or renamed across the
//! allowed surface; and the verdicts stay what they were.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use crate::common::{check_json, listed, problem, problem_codes, task_record, write, Env};

const BIG: usize = 3 << 20;

/// Deterministic bytes that do not compress (so a stored copy would show in the store's size).
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// A bound repo with `weights.bin` (outside `src/*`) and `src/train.py` committed.
fn repo_with_weights(env: &Env) -> PathBuf {
    let weights = noise(1, BIG);
    let repo = env.repo_with("repo", &[("weights.bin", &weights), ("src/train.py", b"lr = 1\n")]);
    env.bind(&repo, &task_record("https://example.invalid/task.git", "main", &["src/*"]));
    repo
}

/// Every file under `.git/objects` with its size.
fn objects(repo: &Path) -> BTreeMap<String, u64> {
    fn walk(dir: &Path, out: &mut BTreeMap<String, u64>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                walk(&path, out);
            } else {
                out.insert(path.to_string_lossy().into_owned(), meta.len());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(&repo.join(".git/objects"), &mut out);
    out
}

fn stored(env: &Env, repo: &Path, oid: &str) -> bool {
    env.git_run(repo, &["cat-file", "-e", oid]).code == 0
}

/// The blob id of a work-tree file, computed by git without storing it.
fn blob_id(env: &Env, repo: &Path, path: &str) -> String {
    env.git(repo, &["hash-object", "--", path]).trim().to_string()
}

/// Run `check -v ARGS` and return the git commands it ran that render a patch (`-p`).
fn patch_runs(env: &Env, repo: &Path, args: &[&str]) -> Vec<String> {
    let mut all = vec!["-v"];
    all.extend_from_slice(args);
    let run = env.tool(repo, &all);
    run.stderr.lines().filter(|l| l.contains("run: git") && l.contains(" -p ")).map(str::to_string).collect()
}

#[test]
fn a_modified_checkpoint_outside_the_surface_is_refused_but_never_stored_or_rendered() {
    let env = Env::new();
    let repo = repo_with_weights(&env);
    write(&repo.join("weights.bin"), &noise(2, BIG));
    write(&repo.join("src/train.py"), b"lr = 2\n");
    let new_weights = blob_id(&env, &repo, "weights.bin");
    let before = objects(&repo);

    let (code, report) = check_json(&env, &repo, &[]);
    assert_eq!(code, 1, "{report}");
    assert_eq!(problem_codes(&report), ["outside_allowed_paths"]);
    assert_eq!(problem(&report, "outside_allowed_paths")["paths"], serde_json::json!(["weights.bin"]));
    assert_eq!(
        listed(&report),
        [("src/train.py".into(), "modified".into(), true), ("weights.bin".into(), "modified".into(), false)]
    );
    let (code, report) = check_json(&env, &repo, &["--allow-outside"]);
    assert_eq!(code, 0, "{report}");
    let patch = env.tool(&repo, &["diff", "--allow-outside"]).expect(0).out();
    assert!(patch.contains("src/train.py") && !patch.contains("weights.bin"), "{patch}");

    // The checkpoint was hashed, never stored: only the small allowed blob is new.
    assert!(!stored(&env, &repo, &new_weights));
    let after = objects(&repo);
    let grown: u64 = after.iter().filter(|(k, _)| !before.contains_key(*k)).map(|(_, v)| v).sum();
    assert!(grown < 4096, "the object store grew by {grown} bytes");
    // And no patch run ever named it.
    for run in patch_runs(&env, &repo, &["check", "--allow-outside"]) {
        assert!(!run.contains("weights.bin") && run.contains("src/train.py"), "{run}");
    }
}

#[test]
fn a_touched_or_racily_clean_checkpoint_is_no_change() {
    let env = Env::new();
    let repo = repo_with_weights(&env);
    write(&repo.join("src/train.py"), b"lr = 2\n");
    // Same bytes, new stat data: not a change.
    let same = fs::read(repo.join("weights.bin")).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    write(&repo.join("weights.bin"), &same);
    let (code, report) = check_json(&env, &repo, &[]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(listed(&report), [("src/train.py".into(), "modified".into(), true)]);
    let before = objects(&repo);

    // `git reset --hard` rewrites the file in the second the index is written (racily clean),
    // next to an untracked checkpoint outside the surface.
    env.git(&repo, &["reset", "-q", "--hard"]);
    write(&repo.join("extra.ckpt"), &noise(3, BIG));
    let (code, report) = check_json(&env, &repo, &[]);
    assert_eq!(code, 1, "{report}");
    assert_eq!(listed(&report), [("extra.ckpt".into(), "added".into(), false)]);
    assert_eq!(objects(&repo), before, "nothing may be written by the check");
    let ckpt = blob_id(&env, &repo, "extra.ckpt");
    assert!(!stored(&env, &repo, &ckpt));
}

#[test]
fn a_committed_checkpoint_is_judged_from_raw_records_in_check_and_pre_push() {
    let env = Env::new();
    let repo = repo_with_weights(&env);
    write(&repo.join("weights.bin"), &noise(4, BIG));
    write(&repo.join("src/train.py"), b"lr = 3\n");
    env.git(&repo, &["commit", "-q", "-am", "tune and retrain"]);
    let head = env.git(&repo, &["rev-parse", "HEAD"]).trim().to_string();
    let base = env.git(&repo, &["rev-parse", "HEAD~1"]).trim().to_string();
    let before = objects(&repo);

    let (code, report) = check_json(&env, &repo, &[]);
    assert_eq!(code, 1, "{report}");
    assert_eq!(problem_codes(&report), ["outside_allowed_paths"]);
    assert_eq!(
        listed(&report),
        [("src/train.py".into(), "modified".into(), true), ("weights.bin".into(), "modified".into(), false)]
    );
    for run in patch_runs(&env, &repo, &["check"]) {
        assert!(!run.contains("weights.bin"), "{run}");
    }
    // Committed work only: the snapshot is the submission, no private index is built, and one
    // render covers the allowed change.
    let run = env.tool(&repo, &["-v", "check", "--json"]);
    assert!(!run.stderr.contains("update-index"), "{}", run.stderr);
    let renders: Vec<&str> =
        run.stderr.lines().filter(|l| l.contains("run: git") && l.contains(" -p ")).collect();
    assert_eq!(renders.len(), 1, "{}", run.stderr);
    assert!(renders[0].ends_with("-- src/train.py"), "{}", renders[0]);

    let line = format!("refs/heads/main {head} refs/heads/main {base}\n");
    let run = env.tool_stdin(&repo, &["--json", "check", "--pre-push", "origin", "x"], line.as_bytes());
    assert_eq!(run.code, 1, "{}", run.stderr);
    let pushed = &run.json()["refs"][0];
    assert_eq!(problem_codes(pushed), ["outside_allowed_paths"]);
    assert_eq!(
        listed(pushed),
        [("src/train.py".into(), "modified".into(), true), ("weights.bin".into(), "modified".into(), false)]
    );
    // The pre-push patch is of the allowed change only.
    let run = env.tool_stdin(&repo, &["-v", "check", "--pre-push", "origin", "x"], line.as_bytes());
    let renders: Vec<&str> =
        run.stderr.lines().filter(|l| l.contains("run: git") && l.contains(" -p ")).collect();
    assert_eq!(renders.len(), 1, "{}", run.stderr);
    assert!(renders[0].ends_with("-- src/train.py"), "{}", renders[0]);
    assert_eq!(objects(&repo), before);
}

#[test]
fn a_checkpoint_renamed_across_the_surface_is_refused_as_a_rename() {
    let env = Env::new();
    let repo = repo_with_weights(&env);
    env.git(&repo, &["mv", "weights.bin", "src/weights.bin"]);
    let (code, report) = check_json(&env, &repo, &[]);
    assert_eq!(code, 1, "{report}");
    assert_eq!(listed(&report), [("src/weights.bin".into(), "renamed".into(), false)]);
    assert_eq!(report["files"][0]["from"], "weights.bin");
    assert_eq!(problem_codes(&report), ["outside_allowed_paths", "empty_patch"]);
    // Renamed and committed: the pre-push check sees the same rename.
    env.git(&repo, &["commit", "-q", "-m", "move"]);
    let head = env.git(&repo, &["rev-parse", "HEAD"]).trim().to_string();
    let base = env.git(&repo, &["rev-parse", "HEAD~1"]).trim().to_string();
    let line = format!("refs/heads/main {head} refs/heads/main {base}\n");
    let run = env.tool_stdin(&repo, &["--json", "check", "--pre-push", "origin", "x"], line.as_bytes());
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(listed(&run.json()["refs"][0]), [("src/weights.bin".into(), "renamed".into(), false)]);
    assert_eq!(run.json()["refs"][0]["patch_bytes"], 0);

    let before = objects(&repo);

    // Moved back in the work tree only (a plain `mv`): the file is where and what the base has
    // (compared by a hash that is not stored), so nothing changed.
    fs::rename(repo.join("src/weights.bin"), repo.join("weights.bin")).unwrap();
    let (code, report) = check_json(&env, &repo, &[]);
    assert_eq!(code, 1, "{report}");
    assert_eq!(listed(&report), []);
    assert_eq!(problem_codes(&report), ["empty_patch"]);
    // Under a new name: the base's file is deleted and the new one is an untracked file
    // outside the surface, never hashed.
    fs::rename(repo.join("weights.bin"), repo.join("weights-old.bin")).unwrap();
    let (code, report) = check_json(&env, &repo, &[]);
    assert_eq!(code, 1, "{report}");
    assert_eq!(
        listed(&report),
        [("weights-old.bin".into(), "added".into(), false), ("weights.bin".into(), "deleted".into(), false)]
    );
    assert_eq!(objects(&repo), before);
}

#[test]
fn an_out_of_scope_file_removed_from_the_index_only_is_compared_without_storing() {
    let env = Env::new();
    let repo = repo_with_weights(&env);
    write(&repo.join("src/train.py"), b"lr = 2\n");
    env.git(&repo, &["rm", "-q", "--cached", "weights.bin"]);
    let (code, report) = check_json(&env, &repo, &[]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(listed(&report), [("src/train.py".into(), "modified".into(), true)]);
    // Changed on disk too: a refused modification, still not stored.
    write(&repo.join("weights.bin"), &noise(5, BIG));
    let (code, report) = check_json(&env, &repo, &[]);
    assert_eq!(code, 1, "{report}");
    assert_eq!(
        listed(&report),
        [("src/train.py".into(), "modified".into(), true), ("weights.bin".into(), "modified".into(), false)]
    );
    assert!(!stored(&env, &repo, &blob_id(&env, &repo, "weights.bin")));
}

#[test]
fn a_mode_change_of_an_out_of_scope_file_is_seen_without_a_content_change() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    let repo = repo_with_weights(&env);
    fs::set_permissions(repo.join("weights.bin"), fs::Permissions::from_mode(0o755)).unwrap();
    let (code, report) = check_json(&env, &repo, &[]);
    assert_eq!(code, 1, "{report}");
    assert_eq!(listed(&report), [("weights.bin".into(), "modified".into(), false)]);
}

#[test]
fn the_patch_rendered_alongside_the_raw_run_is_used_only_when_it_is_exactly_the_allowed_changes() {
    let env = Env::new();
    let repo = repo_with_weights(&env);
    // Work-tree edit only: the parallel render is the patch.
    write(&repo.join("src/train.py"), b"lr = 2\n");
    let alone = env.tool(&repo, &["diff"]).expect(0).out();
    assert!(alone.contains("+lr = 2") && alone.matches("diff --git").count() == 1, "{alone}");
    // Plus a committed allowed file and a staged one the work-tree walk does not see: the
    // patch must hold all three.
    write(&repo.join("src/new.py"), b"new = 1\n");
    env.git(&repo, &["add", "src/new.py"]);
    env.git(&repo, &["commit", "-q", "-m", "add"]);
    write(&repo.join("src/staged.py"), b"staged = 1\n");
    env.git(&repo, &["add", "src/staged.py"]);
    let all = env.tool(&repo, &["diff"]).expect(0).out();
    for needle in ["b/src/train.py", "b/src/new.py", "b/src/staged.py"] {
        assert!(all.contains(needle), "{needle} missing:\n{all}");
    }
    assert_eq!(all.matches("diff --git").count(), 3, "{all}");
    // And with a refused change next to them, none of its bytes.
    write(&repo.join("weights.bin"), &noise(9, BIG));
    let left = env.tool(&repo, &["diff", "--allow-outside"]).expect(0).out();
    assert_eq!(left, all);
}

/// Set a file's modification time (seconds since the epoch).
fn set_mtime(path: &Path, secs: u64) {
    let file = fs::OpenOptions::new().write(true).open(path).unwrap();
    file.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs)).unwrap();
}

fn mtime_secs(path: &Path) -> u64 {
    let modified = fs::metadata(path).unwrap().modified().unwrap();
    modified.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// The `diff-files` commands `check -v` ran.
fn diff_files_runs(env: &Env, repo: &Path) -> Vec<String> {
    let run = env.tool(repo, &["-v", "check", "--json"]);
    run.stderr
        .lines()
        .filter(|l| l.contains("run: git") && l.contains(" diff-files "))
        .map(str::to_string)
        .collect()
}

#[test]
fn a_big_racily_clean_checkpoint_is_hashed_once_then_trusted_until_it_changes() {
    let env = Env::new();
    let repo = repo_with_weights(&env);
    let weights = repo.join("weights.bin");
    let proofs = repo.join(".git/bitsota-verified");
    // A proof counts only for a file whose change time is 2 s older than the hash.
    std::thread::sleep(std::time::Duration::from_millis(3100));
    // Racily clean: the index is no newer than the file, so git would hash it on every run.
    set_mtime(&repo.join(".git/index"), mtime_secs(&weights));
    write(&repo.join("src/train.py"), b"lr = 2\n");
    let index_before = fs::read(repo.join(".git/index")).unwrap();

    for round in 0..2 {
        let runs = diff_files_runs(&env, &repo);
        assert_eq!(runs.len(), 1, "{runs:?}");
        assert!(runs[0].contains(":(exclude,literal)weights.bin"), "round {round}: {runs:?}");
        let (code, report) = check_json(&env, &repo, &[]);
        assert_eq!(code, 0, "{report}");
        assert_eq!(listed(&report), [("src/train.py".into(), "modified".into(), true)]);
        let recorded = fs::read_to_string(&proofs).unwrap();
        assert!(recorded.contains(&blob_id(&env, &repo, "weights.bin")), "{recorded}");
        assert!(recorded.trim_end().ends_with(&hex_of(b"weights.bin")), "{recorded}");
    }

    // (The allowed edit's blob is in the store by now.)
    let objects_before = objects(&repo);
    // Same size, same modification time, other bytes: only the change time tells, and the
    // proof no longer counts.
    let old_mtime = mtime_secs(&weights);
    let mut changed = fs::read(&weights).unwrap();
    changed[BIG / 2] ^= 0xff;
    write(&weights, &changed);
    set_mtime(&weights, old_mtime);
    let runs = diff_files_runs(&env, &repo);
    assert!(!runs[0].contains("exclude"), "{runs:?}");
    let (code, report) = check_json(&env, &repo, &[]);
    assert_eq!(code, 1, "{report}");
    assert_eq!(
        listed(&report),
        [("src/train.py".into(), "modified".into(), true), ("weights.bin".into(), "modified".into(), false)]
    );
    assert_eq!(problem_codes(&report), ["outside_allowed_paths"]);
    // Git agrees the file changed (an independent look at the same state).
    assert_ne!(
        blob_id(&env, &repo, "weights.bin"),
        env.git(&repo, &["rev-parse", "HEAD:weights.bin"]).trim()
    );
    assert_eq!(fs::read(repo.join(".git/index")).unwrap(), index_before, "the user's index is never written");
    assert_eq!(objects(&repo), objects_before, "nothing may be written into the object store");
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn a_racily_clean_checkpoint_behind_a_symlinked_directory_is_left_to_git() {
    let env = Env::new();
    let repo =
        env.repo_with("repo", &[("models/weights.bin", &noise(4, BIG)), ("src/train.py", b"lr = 1\n")]);
    env.bind(&repo, &task_record("https://example.invalid/task.git", "main", &["src/*"]));
    write(&repo.join("src/train.py"), b"lr = 2\n");
    // The directory moves out of the clone and a symlink takes its place: the same file (same
    // inode and times) is now behind a symlink, which git counts as a deletion.
    let moved = env.path("moved-models");
    fs::rename(repo.join("models"), &moved).unwrap();
    std::os::unix::fs::symlink(&moved, repo.join("models")).unwrap();
    set_mtime(&repo.join(".git/index"), mtime_secs(&moved.join("weights.bin")));
    let runs = diff_files_runs(&env, &repo);
    assert!(!runs[0].contains("exclude"), "{runs:?}");
    let (code, report) = check_json(&env, &repo, &[]);
    assert_eq!(code, 1, "{report}");
    assert_eq!(
        listed(&report),
        [
            ("models".into(), "added".into(), false),
            ("models/weights.bin".into(), "deleted".into(), false),
            ("src/train.py".into(), "modified".into(), true)
        ]
    );
}

/// `bench` records whether the work tree was dirty: with a big racily clean file proven
/// unchanged, git's status is not asked to re-hash it, and a staged change of it still counts.
#[test]
fn bench_dirty_flag_does_not_rehash_a_proven_checkpoint_and_still_sees_it_staged() {
    let env = Env::new();
    let weights = noise(5, BIG);
    let repo = env.repo_with("repo", &[("weights.bin", &weights), ("src/train.py", b"lr = 1\n")]);
    let mut record = task_record("https://example.invalid/task.git", "main", &["src/*"]);
    record["benchmark_command"] = serde_json::json!("echo score=1");
    env.bind(&repo, &record);
    let bench = |env: &Env| {
        let run = env.tool(&repo, &["-v", "bench", "--yes", "--json"]).expect(0);
        let status: Vec<String> = run
            .stderr
            .lines()
            .filter(|l| l.contains("run: git") && l.contains(" status "))
            .map(String::from)
            .collect();
        (run.json()["dirty"].clone(), status)
    };
    set_mtime(&repo.join(".git/index"), mtime_secs(&repo.join("weights.bin")));
    let (dirty, status) = bench(&env);
    assert_eq!(dirty, false);
    assert_eq!(status.len(), 1, "{status:?}");
    assert!(status[0].contains(":(exclude,literal)weights.bin"), "{status:?}");

    // Staged, and the work tree holds the staged bytes: only the comparison with HEAD tells.
    let mut staged = weights.clone();
    staged[7] ^= 1;
    write(&repo.join("weights.bin"), &staged);
    env.git(&repo, &["add", "weights.bin"]);
    set_mtime(&repo.join(".git/index"), mtime_secs(&repo.join("weights.bin")));
    let (dirty, status) = bench(&env);
    assert!(status[0].contains(":(exclude,literal)weights.bin"), "{status:?}");
    assert_eq!(dirty, true);
}

/// Committed renames, deletions, additions and a mode change inside the surface, with nothing
/// left in the work tree: what `diff` prints (rendered from the snapshot alone) is what a
/// validator's `git apply` turns the base into HEAD with.
#[test]
fn committed_work_alone_is_rendered_from_the_snapshot_and_replays_to_head() {
    let env = Env::new();
    let repo = env.repo_with(
        "repo",
        &[
            ("src/a.py", b"a = 1\n"),
            ("src/b.py", b"b = 1\n"),
            ("src/run.sh", b"echo hi\n"),
            ("README", b"r\n"),
        ],
    );
    env.bind(&repo, &task_record(repo.to_str().unwrap(), "main", &["src/*"]));
    let base = env.git(&repo, &["rev-parse", "HEAD"]).trim().to_string();
    env.git(&repo, &["mv", "src/a.py", "src/renamed.py"]);
    env.git(&repo, &["rm", "-q", "src/b.py"]);
    write(&repo.join("src/new.py"), b"n = 2\n");
    write(&repo.join("src/renamed.py"), b"a = 1\n# kept\n");
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(repo.join("src/run.sh"), fs::Permissions::from_mode(0o755)).unwrap();
    env.git(&repo, &["add", "-A"]);
    env.git(&repo, &["commit", "-q", "-m", "work"]);
    let (code, report) = check_json(&env, &repo, &[]);
    assert_eq!(code, 0, "{report}");
    let run = env.tool(&repo, &["-v", "diff"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!run.stderr.contains("update-index"), "{}", run.stderr);
    let replayed = env.validator_replay(repo.to_str().unwrap(), &base, &run.stdout, "validator");
    for path in ["src/renamed.py", "src/new.py", "src/run.sh", "README"] {
        assert_eq!(fs::read(replayed.join(path)).unwrap(), fs::read(repo.join(path)).unwrap(), "{path}");
    }
    assert!(!replayed.join("src/a.py").exists() && !replayed.join("src/b.py").exists());
    assert_ne!(fs::metadata(replayed.join("src/run.sh")).unwrap().permissions().mode() & 0o111, 0);
}
