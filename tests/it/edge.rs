//! Edge cases of the patch engine on real repositories, each judged the way a validator
//! replays a submission (protocol.md §7.3–§7.5: `git apply -` on a clean clone at the base
//! commit, then the work tree is benchmarked): the change is either submitted and replays
//! byte for byte, or refused with a problem code. The user's index is never written.

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};

use serde_json::json;

use crate::common::{check_json, files_under, listed, problem, problem_codes, task_record, write, Env};

/// A repo with `files` committed on `main`, bound to a task allowing `allowed`; returns the
/// repo and its base commit.
fn bound(env: &Env, files: &[(&str, &[u8])], allowed: &[&str]) -> (PathBuf, String) {
    // Room for the binary case; the limit has its own tests.
    let repo = env.bound(files, json!({"allowed_patch_paths": allowed, "max_patch_bytes": 16 << 20}));
    let base = env.git(&repo, &["rev-parse", "HEAD"]).trim().to_string();
    (repo, base)
}

fn entry(path: &str, change: &str, allowed: bool) -> (String, String, bool) {
    (path.to_string(), change.to_string(), allowed)
}

/// What a work tree holds, `.git` aside: each path with its kind, mode bits and bytes (a
/// symlink's bytes are its target).
fn snapshot(dir: &Path) -> Vec<(String, String)> {
    let describe = |rel: &String| {
        let path = dir.join(rel);
        let meta = fs::symlink_metadata(&path).unwrap();
        if meta.file_type().is_symlink() {
            format!("link -> {}", fs::read_link(&path).unwrap().display())
        } else {
            let exec = meta.permissions().mode() & 0o111 != 0;
            format!("file exec={exec} {:?}", String::from_utf8_lossy(&fs::read(&path).unwrap()))
        }
    };
    files_under(dir)
        .into_iter()
        .map(|rel| {
            let d = describe(&rel);
            (rel, d)
        })
        .collect()
}

fn index_bytes(repo: &Path) -> Vec<u8> {
    fs::read(repo.join(".git/index")).unwrap()
}

#[test]
fn symlinks_modes_empty_files_and_file_directory_swaps_replay_exactly() {
    let env = Env::new();
    let (repo, base) = bound(
        &env,
        &[
            ("src/a.py", b"a\n"),
            ("src/b.py", b"b\n"),
            ("src/run.sh", b"#!/bin/sh\n"),
            ("src/empty", b""),
            ("src/nonl.txt", b"no newline"),
            ("src/x", b"a file that becomes a directory\n"),
            ("src/d/y.py", b"a directory that becomes a file\n"),
        ],
        &["src/*"],
    );
    symlink("a.py", repo.join("src/link")).unwrap();
    env.git(&repo, &["add", "src/link"]);
    env.git(&repo, &["commit", "-q", "-m", "link"]);
    let base_with_link = env.git(&repo, &["rev-parse", "HEAD"]).trim().to_string();
    assert_ne!(base, base_with_link);
    // Rebind on the commit with the link so it is part of the base.
    let mut record = task_record("https://example.invalid/task.git", &base_with_link, &["src/*"]);
    record["max_patch_bytes"] = json!(16 << 20);
    env.bind(&repo, &record);

    // Retarget a link, add one, turn a file into a link, flip the executable bit only,
    // delete an empty file, add empty files, keep a missing final newline, and swap a file
    // for a directory of the same name and back.
    fs::remove_file(repo.join("src/link")).unwrap();
    symlink("b.py", repo.join("src/link")).unwrap();
    symlink("a.py", repo.join("src/newlink")).unwrap();
    fs::remove_file(repo.join("src/b.py")).unwrap();
    symlink("a.py", repo.join("src/b.py")).unwrap();
    fs::set_permissions(repo.join("src/run.sh"), fs::Permissions::from_mode(0o755)).unwrap();
    fs::remove_file(repo.join("src/empty")).unwrap();
    write(&repo.join("src/new_empty.py"), b"");
    write(&repo.join("src/nonl.txt"), b"still no newline");
    fs::remove_file(repo.join("src/x")).unwrap();
    write(&repo.join("src/x/y.py"), b"now inside a directory\n");
    fs::remove_dir_all(repo.join("src/d")).unwrap();
    write(&repo.join("src/d"), b"now a file\n");

    let index = index_bytes(&repo);
    let (code, report) = check_json(&env, &repo, &[]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(
        listed(&report),
        vec![
            entry("src/b.py", "type_changed", true),
            entry("src/d", "added", true),
            entry("src/d/y.py", "deleted", true),
            entry("src/link", "modified", true),
            // Git pairs the deleted and the added empty file as a rename.
            entry("src/new_empty.py", "renamed", true),
            entry("src/newlink", "added", true),
            entry("src/nonl.txt", "modified", true),
            entry("src/run.sh", "modified", true),
            entry("src/x", "deleted", true),
            entry("src/x/y.py", "added", true),
        ]
    );
    let patch = env.tool(&repo, &["diff"]).expect(0).stdout;
    assert_eq!(index_bytes(&repo), index, "the user's index is untouched");
    let fresh = env.validator_replay(repo.to_str().unwrap(), &base_with_link, &patch, "fresh");
    assert_eq!(snapshot(&fresh), snapshot(&repo));
}

#[test]
fn large_binary_unicode_and_spaced_names_round_trip() {
    let env = Env::new();
    // Incompressible bytes (an LCG), so the base85 literal is really over a megabyte.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let big: Vec<u8> = (0..1_200_000)
        .map(|_| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 56) as u8
        })
        .collect();
    let (repo, base) = bound(&env, &[("src/keep.py", b"k\n")], &["src/*"]);
    write(&repo.join("src/weights.bin"), &big);
    write(&repo.join("src/with space.py"), b"spaced\n");
    write(&repo.join("src/caf\u{e9} dir/na\u{ef}ve.py"), b"unicode\n");
    write(&repo.join("src/\u{65e5}\u{672c}.py"), b"cjk\n");

    let (code, report) = check_json(&env, &repo, &[]);
    assert_eq!(code, 0, "{report}");
    assert!(report["patch_bytes"].as_u64().unwrap() > 1_000_000);
    let patch = env.tool(&repo, &["diff"]).expect(0).stdout;
    let text = String::from_utf8(patch.clone()).unwrap();
    // Names are not quoted; git ends a `+++` name that has a space with a TAB, which the
    // validator cuts at.
    assert!(text.contains("+++ b/src/with space.py\t\n"), "{}", &text[..text.len().min(2000)]);
    assert!(text.contains("diff --git a/src/caf\u{e9} dir/na\u{ef}ve.py b/src/caf\u{e9} dir/na\u{ef}ve.py\n"));
    let fresh = env.validator_replay(repo.to_str().unwrap(), &base, &patch, "fresh");
    assert_eq!(fs::read(fresh.join("src/weights.bin")).unwrap(), big);
    assert_eq!(snapshot(&fresh), snapshot(&repo));
}

#[test]
fn a_name_containing_space_b_slash_is_misread_by_validators() {
    let env = Env::new();
    let (repo, _) = bound(&env, &[("src/keep.py", b"k\n")], &["src/*"]);
    // `diff --git a/src/a b/c.py b/src/a b/c.py`: the validator's non-greedy regex reads
    // `src/a` and `c.py b/src/a b/c.py`, and the second is outside `src/*`.
    write(&repo.join("src/a b/c.py"), b"x\n");
    let (code, report) = check_json(&env, &repo, &[]);
    assert_eq!(code, 1, "{report}");
    assert_eq!(problem_codes(&report), vec!["patch_misread"]);
    let misread = problem(&report, "patch_misread");
    assert!(misread["paths"].as_array().unwrap().contains(&json!("c.py b/src/a b/c.py")), "{misread}");
    let human = env.tool(&repo, &["check", "--color", "never"]).expect(1);
    assert!(human.out().contains("` b/`"), "the hint names the cause: {}", human.out());
    // `diff` refuses too, rather than print what would be rejected.
    env.tool(&repo, &["diff"]).expect(1);
}

#[test]
fn an_allowed_change_that_needs_a_refused_one_is_refused_too() {
    let env = Env::new();
    // Only files under `src/x/` may change: deleting the file `src/x` is outside, and
    // `src/x/y.py` cannot be created on a validator's clone while that file exists.
    let (repo, base) =
        bound(&env, &[("src/x", b"file\n"), ("src/x2/ok.py", b"1\n")], &["src/x/*", "src/x2/*"]);
    fs::remove_file(repo.join("src/x")).unwrap();
    write(&repo.join("src/x/y.py"), b"new\n");
    write(&repo.join("src/x2/ok.py"), b"2\n");

    let (code, report) = check_json(&env, &repo, &[]);
    assert_eq!(code, 1, "{report}");
    assert_eq!(problem_codes(&report), vec!["outside_allowed_paths", "needs_refused_change"]);
    assert_eq!(problem(&report, "needs_refused_change")["paths"], json!(["src/x/y.py"]));
    assert_eq!(
        listed(&report),
        vec![
            entry("src/x", "deleted", false),
            entry("src/x/y.py", "added", false),
            entry("src/x2/ok.py", "modified", true)
        ]
    );

    // Left out together, the rest is a patch that applies.
    let (code, report) = check_json(&env, &repo, &["--allow-outside"]);
    assert_eq!(code, 0, "{report}");
    let diff = env.tool(&repo, &["diff", "--allow-outside"]).expect(0);
    assert!(diff.stderr.contains("left out: src/x/y.py"), "{}", diff.stderr);
    let fresh = env.validator_replay(repo.to_str().unwrap(), &base, &diff.stdout, "fresh");
    assert_eq!(fs::read(fresh.join("src/x")).unwrap(), b"file\n");
    assert_eq!(fs::read(fresh.join("src/x2/ok.py")).unwrap(), b"2\n");

    // The reverse: the directory's file is outside, the file replacing it is allowed.
    let env = Env::new();
    let (repo, _) = bound(&env, &[("src/d/y.py", b"in a dir\n")], &["src/d"]);
    fs::remove_dir_all(repo.join("src/d")).unwrap();
    write(&repo.join("src/d"), b"now a file\n");
    let (_, report) = check_json(&env, &repo, &[]);
    assert_eq!(problem_codes(&report), vec!["outside_allowed_paths", "needs_refused_change", "empty_patch"]);
    assert_eq!(problem(&report, "needs_refused_change")["paths"], json!(["src/d"]));
}

#[test]
fn a_merge_conflict_in_progress_is_refused_without_touching_the_index() {
    let env = Env::new();
    let (repo, base) = bound(&env, &[("src/a.py", b"base\n"), ("src/b.py", b"b\n")], &["src/*"]);
    env.git(&repo, &["checkout", "-q", "-b", "other"]);
    write(&repo.join("src/a.py"), b"theirs\n");
    env.git(&repo, &["commit", "-q", "-am", "theirs"]);
    env.git(&repo, &["checkout", "-q", "main"]);
    write(&repo.join("src/a.py"), b"ours\n");
    write(&repo.join("src/b.py"), b"b2\n");
    env.git(&repo, &["commit", "-q", "-am", "ours"]);
    assert_ne!(env.git_run(&repo, &["merge", "-q", "other"]).code, 0, "the merge conflicts");
    assert!(!env.git(&repo, &["ls-files", "-u"]).is_empty());

    let index = index_bytes(&repo);
    let (code, report) = check_json(&env, &repo, &[]);
    assert_eq!(code, 1, "{report}");
    assert_eq!(problem_codes(&report), vec!["unmerged_path"]);
    assert_eq!(problem(&report, "unmerged_path")["paths"], json!(["src/a.py"]));
    assert_eq!(
        listed(&report),
        vec![entry("src/a.py", "modified", false), entry("src/b.py", "modified", true)]
    );
    // Left out, the conflict markers never reach a validator.
    let diff = env.tool(&repo, &["diff", "--allow-outside"]).expect(0);
    assert!(!String::from_utf8_lossy(&diff.stdout).contains("<<<<<<<"));
    let fresh = env.validator_replay(repo.to_str().unwrap(), &base, &diff.stdout, "fresh");
    assert_eq!(fs::read(fresh.join("src/a.py")).unwrap(), b"base\n");
    assert_eq!(fs::read(fresh.join("src/b.py")).unwrap(), b"b2\n");
    assert_eq!(index_bytes(&repo), index, "the user's index is untouched");
    assert!(!env.git(&repo, &["ls-files", "-u"]).is_empty(), "still unmerged");

    // Resolved and added, it is submitted.
    write(&repo.join("src/a.py"), b"resolved\n");
    env.git(&repo, &["add", "src/a.py"]);
    let (code, report) = check_json(&env, &repo, &[]);
    assert_eq!(code, 0, "{report}");
}

#[test]
fn a_submodule_change_is_refused() {
    let env = Env::new();
    let (repo, base) = bound(&env, &[("src/a.py", b"a\n")], &["src/*"]);
    // A gitlink entry straight in the index: no network, no nested clone needed.
    let commit_a = base.clone();
    env.git(&repo, &["update-index", "--add", "--cacheinfo", &format!("160000,{commit_a},src/sub")]);
    env.git(&repo, &["commit", "-q", "-m", "submodule"]);
    // What a clone without `--recursive` has: an empty directory (a missing one is a deletion).
    fs::create_dir_all(repo.join("src/sub")).unwrap();
    let with_sub = env.git(&repo, &["rev-parse", "HEAD"]).trim().to_string();
    let record = task_record("https://example.invalid/task.git", &with_sub, &["src/*"]);
    env.bind(&repo, &record);

    // Bump the submodule commit (staged) and make an ordinary change.
    env.git(&repo, &["update-index", "--cacheinfo", &format!("160000,{with_sub},src/sub")]);
    write(&repo.join("src/a.py"), b"a2\n");
    let (code, report) = check_json(&env, &repo, &[]);
    assert_eq!(code, 1, "{report}");
    assert_eq!(problem_codes(&report), vec!["submodule_change"]);
    assert_eq!(
        listed(&report),
        vec![entry("src/a.py", "modified", true), entry("src/sub", "modified", false)]
    );
    let diff = env.tool(&repo, &["diff", "--allow-outside"]).expect(0);
    assert!(!String::from_utf8_lossy(&diff.stdout).contains("Subproject"));
    // The pre-push check refuses a pushed submodule bump too.
    env.git(&repo, &["commit", "-q", "-m", "bump"]);
    let head = env.git(&repo, &["rev-parse", "HEAD"]).trim().to_string();
    let line = format!("refs/heads/main {head} refs/heads/main {}\n", "0".repeat(40));
    let run = env.tool_stdin(&repo, &["check", "--pre-push", "origin", "x"], line.as_bytes());
    assert_eq!(run.code, 1, "{}\n{}", run.out(), run.stderr);
    assert!(
        run.out().contains("submodule_change") || run.stderr.contains("submodule_change"),
        "{}",
        run.stderr
    );
}

#[test]
fn line_endings_that_gitattributes_convert_are_refused_unless_they_round_trip() {
    let env = Env::new();
    let (repo, base) = bound(
        &env,
        &[
            (".gitattributes", b"* text=auto\nsrc/win.txt eol=crlf\nsrc/raw.bin -text\n"),
            ("src/auto.txt", b"a\nb\n"),
            ("src/win.txt", b"a\nb\n"),
            ("src/lf.txt", b"a\nb\n"),
            ("src/raw.bin", b"a\nb\n"),
        ],
        &["src/*"],
    );
    // Check `eol=crlf` out as validators will (CRLF in the work tree).
    fs::remove_file(repo.join("src/win.txt")).unwrap();
    env.git(&repo, &["checkout", "--", "src/win.txt"]);
    assert_eq!(fs::read(repo.join("src/win.txt")).unwrap(), b"a\r\nb\r\n");

    // `text=auto` turns CRLF into LF: a validator's checkout would not give these bytes.
    write(&repo.join("src/auto.txt"), b"a\r\nb\r\nc\r\n");
    write(&repo.join("src/new.txt"), b"x\r\ny\r\n");
    // These round-trip: CRLF under `eol=crlf`, LF under `text=auto`, anything under `-text`.
    write(&repo.join("src/win.txt"), b"a\r\nb\r\nc\r\n");
    write(&repo.join("src/lf.txt"), b"a\nb\nc\n");
    write(&repo.join("src/raw.bin"), b"a\r\nb\r\nc\r\n");

    let (code, report) = check_json(&env, &repo, &[]);
    assert_eq!(code, 1, "{report}");
    assert_eq!(problem_codes(&report), vec!["converted_by_attributes"]);
    assert_eq!(problem(&report, "converted_by_attributes")["paths"], json!(["src/auto.txt", "src/new.txt"]));

    // What is submitted replays byte for byte.
    let patch = env.tool(&repo, &["diff", "--allow-outside"]).expect(0).stdout;
    let fresh = env.validator_replay(repo.to_str().unwrap(), &base, &patch, "fresh");
    for path in ["src/win.txt", "src/lf.txt", "src/raw.bin"] {
        assert_eq!(fs::read(fresh.join(path)).unwrap(), fs::read(repo.join(path)).unwrap(), "{path}");
    }
    assert_eq!(fs::read(fresh.join("src/auto.txt")).unwrap(), b"a\nb\n", "left out");

    // Following the hint makes the files submittable, and then they replay exactly.
    for path in ["src/auto.txt", "src/new.txt"] {
        env.git(&repo, &["add", path]);
        fs::remove_file(repo.join(path)).unwrap();
        env.git(&repo, &["checkout", "--", path]);
    }
    let (code, report) = check_json(&env, &repo, &[]);
    assert_eq!(code, 0, "{report}");
    let patch = env.tool(&repo, &["diff"]).expect(0).stdout;
    let fresh = env.validator_replay(repo.to_str().unwrap(), &base, &patch, "fresh2");
    assert_eq!(snapshot(&fresh), snapshot(&repo));
}

#[test]
fn stash_ignored_untracked_dirs_and_detached_heads() {
    let env = Env::new();
    let (repo, base) =
        bound(&env, &[(".gitignore", b"src/*.log\nbuild/\n"), ("src/a.py", b"a\n")], &["src/*"]);
    // Stashed work is not in the work tree, so it is not submitted.
    write(&repo.join("src/a.py"), b"stashed\n");
    write(&repo.join("src/stashed_new.py"), b"stashed too\n");
    env.git(&repo, &["stash", "-q", "-u"]);
    let (code, report) = check_json(&env, &repo, &[]);
    assert_eq!((code, problem_codes(&report)), (1, vec!["empty_patch".to_string()]), "{report}");

    // Ignored files inside an allowed directory are not submitted; untracked files inside
    // untracked directories are.
    write(&repo.join("src/run.log"), b"ignored\n");
    write(&repo.join("src/build/out.py"), b"ignored\n");
    write(&repo.join("src/new/deeper/n.py"), b"n\n");
    write(&repo.join("src/new/t.py"), b"t\n");
    let (code, report) = check_json(&env, &repo, &[]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(
        listed(&report),
        vec![entry("src/new/deeper/n.py", "added", true), entry("src/new/t.py", "added", true)]
    );

    // A detached HEAD with local commits beyond base: the patch is still base → work tree.
    write(&repo.join("src/a.py"), b"committed\n");
    env.git(&repo, &["commit", "-q", "-am", "local"]);
    env.git(&repo, &["checkout", "-q", "--detach"]);
    write(&repo.join("src/a.py"), b"committed, then edited\n");
    let index = index_bytes(&repo);
    let (code, report) = check_json(&env, &repo, &[]);
    assert_eq!(code, 0, "{report}");
    let patch = env.tool(&repo, &["diff"]).expect(0).stdout;
    assert_eq!(index_bytes(&repo), index);
    let fresh = env.validator_replay(repo.to_str().unwrap(), &base, &patch, "fresh");
    assert_eq!(fs::read(fresh.join("src/a.py")).unwrap(), b"committed, then edited\n");
    assert!(!fresh.join("src/run.log").exists() && !fresh.join("src/build").exists());
    assert!(fresh.join("src/new/deeper/n.py").exists());

    // An unborn branch (no commit at all on it): still base → work tree, same bytes.
    env.git(&repo, &["checkout", "-q", "--orphan", "unborn"]);
    assert_eq!(env.tool(&repo, &["diff"]).expect(0).stdout, patch);
}

#[test]
fn skip_worktree_and_sparse_entries_follow_git() {
    let env = Env::new();
    let (repo, _) =
        bound(&env, &[("src/a.py", b"a\n"), ("src/s.py", b"s\n"), ("src/gone.py", b"g\n")], &["src/*"]);
    // Entries git is told not to look at (what sparse checkout sets on absent files) are not
    // changes: an absent skip-worktree file is not a deletion, and an edit under
    // skip-worktree is not seen, exactly as `git status` shows.
    env.git(&repo, &["update-index", "--skip-worktree", "src/s.py", "src/gone.py"]);
    fs::remove_file(repo.join("src/gone.py")).unwrap();
    write(&repo.join("src/s.py"), b"hidden edit\n");
    write(&repo.join("src/a.py"), b"a2\n");
    let (code, report) = check_json(&env, &repo, &[]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(listed(&report), vec![entry("src/a.py", "modified", true)]);
}
