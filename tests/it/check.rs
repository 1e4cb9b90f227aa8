//! The patch engine and `check`/`diff`/`init` on real repositories: patch fidelity against
//! `git apply`, every problem code from a real repo state, exit codes, subdirectories,
//! linked worktrees and a corrupt state file.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use serde_json::{json, Value};

use crate::common::{check_json, files_under, listed, problem, problem_codes, task_record, write, Env};

fn is_executable(path: &Path) -> bool {
    fs::metadata(path).unwrap().permissions().mode() & 0o111 != 0
}

const BINARY: &[u8] = b"\x00\x01\x02binary\xff\xfe\x00data";

#[test]
fn patch_replays_byte_for_byte_under_hostile_config() {
    let env = Env::new();
    let base_files: Vec<(&str, &[u8])> = vec![
        ("src/a.py", b"print('a')\n"),
        ("src/data.bin", BINARY),
        ("src/run.sh", b"#!/bin/sh\necho run\n"),
        ("src/nonl.txt", b"no trailing newline"),
        ("src/crlf.txt", b"one\r\ntwo\r\n"),
        (
            "src/old_name.py",
            b"def moved():\n    return 'this file is renamed, with enough content to be detected'\n",
        ),
        ("src/gone.py", b"x = 1\n"),
        ("README.md", b"# task\n"),
    ];
    let repo = env.repo_with("repo", &base_files);
    fs::set_permissions(repo.join("src/run.sh"), fs::Permissions::from_mode(0o755)).unwrap();
    env.git(&repo, &["add", "src/run.sh"]);
    env.git(&repo, &["commit", "-q", "-m", "make run.sh executable"]);
    let base = env.git(&repo, &["rev-parse", "HEAD"]).trim().to_string();
    env.bind(&repo, &task_record("https://example.invalid/task.git", "main", &["src/*"]));

    // Configuration that would corrupt a naive `git diff`.
    for (key, value) in [
        ("diff.noprefix", "true"),
        ("diff.mnemonicPrefix", "true"),
        ("color.ui", "always"),
        ("color.diff", "always"),
        ("diff.external", "/bin/false"),
        ("core.quotePath", "true"),
        ("diff.renames", "copies"),
        ("diff.relative", "true"),
        ("core.autocrlf", "true"),
        ("diff.context", "1"),
    ] {
        env.git(&repo, &["config", key, value]);
    }

    // A local commit, then staged, unstaged and untracked work of every kind.
    write(&repo.join("src/a.py"), b"print('a, committed')\n");
    env.git(&repo, &["commit", "-q", "-am", "local work"]);
    write(&repo.join("src/crlf.txt"), b"one\r\ntwo\r\nthree\r\n");
    env.git(&repo, &["add", "src/crlf.txt"]);
    write(&repo.join("src/nonl.txt"), b"still no trailing newline, changed");
    write(&repo.join("src/new.txt"), b"untracked text\n");
    write(&repo.join("src/new.bin"), b"\x00\x10untracked binary\x00");
    write(&repo.join("src/data.bin"), b"\x00changed binary\x00\xff");
    fs::set_permissions(repo.join("src/a.py"), fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(repo.join("src/run.sh"), fs::Permissions::from_mode(0o644)).unwrap();
    env.git(&repo, &["mv", "src/old_name.py", "src/new_name.py"]);
    fs::remove_file(repo.join("src/gone.py")).unwrap();
    write(&repo.join("README.md"), b"# task, edited outside the allowed paths\n");

    let index_before = fs::read(repo.join(".git/index")).unwrap();
    let head_before = env.git(&repo, &["rev-parse", "HEAD"]);

    let (code, report) = check_json(&env, &repo, &[]);
    assert_eq!(code, 1, "README.md is outside: {report}");
    assert_eq!(problem_codes(&report), vec!["outside_allowed_paths"]);
    assert_eq!(problem(&report, "outside_allowed_paths")["paths"], json!(["README.md"]));

    let files = listed(&report);
    let expect = |p: &str, c: &str, a: bool| (p.to_string(), c.to_string(), a);
    assert_eq!(
        files,
        vec![
            expect("README.md", "modified", false),
            expect("src/a.py", "modified", true),
            expect("src/crlf.txt", "modified", true),
            expect("src/data.bin", "modified", true),
            expect("src/gone.py", "deleted", true),
            expect("src/new.bin", "added", true),
            expect("src/new.txt", "added", true),
            expect("src/new_name.py", "renamed", true),
            expect("src/nonl.txt", "modified", true),
            expect("src/run.sh", "modified", true),
        ]
    );
    let renamed =
        report["files"].as_array().unwrap().iter().find(|f| f["path"] == "src/new_name.py").unwrap();
    assert_eq!(renamed["from"], "src/old_name.py");

    let diff = env.tool(&repo, &["diff", "--allow-outside"]).expect(0);
    let patch = diff.stdout.clone();
    assert!(std::str::from_utf8(&patch).is_ok(), "the patch is UTF-8 text");
    assert!(!patch.windows(2).any(|w| w == b"\x1b["), "no colour codes");
    assert!(String::from_utf8_lossy(&patch).contains("diff --git a/src/a.py b/src/a.py"));
    assert!(diff.stderr.contains("README.md"), "left-out paths are listed: {}", diff.stderr);

    // The user's index and HEAD are untouched.
    assert_eq!(fs::read(repo.join(".git/index")).unwrap(), index_before);
    assert_eq!(env.git(&repo, &["rev-parse", "HEAD"]), head_before);

    // Replay as validators do, on fresh clones at the base commit: `git apply --index` and
    // `git apply -` (the validator's form).
    for (name, apply_args) in
        [("fresh-index", vec!["apply", "--index", "-"]), ("fresh-plain", vec!["apply", "-"])]
    {
        let fresh = env.path(name);
        env.git(env.root(), &["clone", "-q", repo.to_str().unwrap(), name]);
        env.git(&fresh, &["checkout", "-q", "--detach", &base]);
        env.git_stdin(&fresh, &apply_args, &patch).expect(0);

        let mut expected: Vec<String> =
            files_under(&repo).into_iter().filter(|p| p.starts_with("src/")).collect();
        expected.push("README.md".into());
        expected.sort();
        assert_eq!(files_under(&fresh), expected, "{name}: same set of files");
        for path in &expected {
            let got = fs::read(fresh.join(path)).unwrap();
            if path == "README.md" {
                assert_eq!(got, b"# task\n", "{name}: the outside change is left out");
                continue;
            }
            assert_eq!(got, fs::read(repo.join(path)).unwrap(), "{name}: {path} bytes");
            assert_eq!(
                is_executable(&fresh.join(path)),
                is_executable(&repo.join(path)),
                "{name}: {path} mode"
            );
        }
    }
}

#[test]
fn clean_change_passes_with_exit_zero() {
    let env = Env::new();
    let repo = env.bound(
        &[("src/train.py", b"lr = 1\n"), ("README.md", b"r\n")],
        json!({"allowed_patch_paths": ["src/*"]}),
    );
    write(&repo.join("src/train.py"), b"lr = 2\n");
    let (code, report) = check_json(&env, &repo, &[]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["ok"], true);
    assert_eq!(report["version"], 1);
    assert_eq!(report["task"], "demo-task");
    assert_eq!(report["base_commit"], env.git(&repo, &["rev-parse", "HEAD"]).trim());
    assert_eq!(report["max_patch_bytes"], 262144);
    let diff = env.tool(&repo, &["diff"]).expect(0);
    assert_eq!(report["patch_bytes"].as_u64().unwrap() as usize, diff.stdout.len());
    // `diff --json` carries the same bytes, their size and hash.
    let as_json = env.tool(&repo, &["diff", "--json"]).expect(0).json();
    assert_eq!(as_json["patch"].as_str().unwrap().as_bytes(), diff.stdout.as_slice());
    assert_eq!(as_json["patch_bytes"].as_u64().unwrap() as usize, diff.stdout.len());
    assert_eq!(as_json["patch_sha256"], git_bitsota::test_support::sha256_hex(&diff.stdout));
    // Human output names the file and says it is fine.
    let human = env.tool(&repo, &["check", "--color", "never"]).expect(0);
    assert!(human.out().contains("src/train.py"), "{}", human.out());
    assert!(human.out().contains("ready to submit"), "{}", human.out());
    // `-v` shows the git commands run for the repository; without it, none.
    let verbose = env.tool(&repo, &["check", "-v"]).expect(0);
    assert!(verbose.stderr.contains("run: git "), "{}", verbose.stderr);
    assert!(!human.stderr.contains("run: git "), "{}", human.stderr);
}

#[test]
fn every_offline_problem_code_from_a_real_repo() {
    // empty_patch
    let env = Env::new();
    let repo = env.bound(
        &[("src/train.py", b"x\n"), ("src/q.sql", b"-- comment\nselect 1;\n")],
        json!({"allowed_patch_paths": ["src/*"]}),
    );
    let (code, report) = check_json(&env, &repo, &[]);
    assert_eq!((code, problem_codes(&report)), (1, vec!["empty_patch".to_string()]));

    // bytecode_path (untracked, inside the allowed pattern)
    write(&repo.join("src/__pycache__/train.cpython-311.pyc"), b"\x00bytecode");
    write(&repo.join("src/train.py"), b"y\n");
    let (code, report) = check_json(&env, &repo, &[]);
    assert_eq!(code, 1);
    assert_eq!(problem_codes(&report), vec!["bytecode_path"]);
    assert_eq!(problem(&report, "bytecode_path")["paths"], json!(["src/__pycache__/train.cpython-311.pyc"]));
    fs::remove_dir_all(repo.join("src/__pycache__")).unwrap();

    // unquotable_path
    write(&repo.join("src/tab\there.py"), b"z\n");
    let (code, report) = check_json(&env, &repo, &[]);
    assert_eq!(code, 1);
    assert_eq!(problem_codes(&report), vec!["unquotable_path"]);
    let listed =
        report["files"].as_array().unwrap().iter().find(|f| f["path"] == "src/tab\there.py").unwrap();
    assert_eq!(listed["allowed"], false);
    fs::remove_file(repo.join("src/tab\there.py")).unwrap();

    // patch_misread: removing a line that starts with "-- " yields a "--- comment" line that
    // validators read as a file header.
    write(&repo.join("src/q.sql"), b"select 1;\n");
    let (code, report) = check_json(&env, &repo, &[]);
    assert_eq!(code, 1);
    assert_eq!(problem_codes(&report), vec!["patch_misread"]);
    assert_eq!(problem(&report, "patch_misread")["paths"], json!(["comment"]));
    env.git(&repo, &["checkout", "--", "src/q.sql"]);

    // patch_not_utf8: a Latin-1 text file
    write(&repo.join("src/latin1.txt"), b"caf\xe9\n");
    let (code, report) = check_json(&env, &repo, &[]);
    assert_eq!(code, 1);
    assert_eq!(problem_codes(&report), vec!["patch_not_utf8"]);
    fs::remove_file(repo.join("src/latin1.txt")).unwrap();

    // submission_invalid: a sidecar without a summary
    write(&repo.join("submission.json"), br#"{"claimed_metrics": {"score": 1.0}}"#);
    let (code, report) = check_json(&env, &repo, &[]);
    assert_eq!(code, 1);
    assert_eq!(problem_codes(&report), vec!["submission_invalid"]);
    // ... and the sidecar itself is never a changed file (info/exclude).
    assert!(report["files"].as_array().unwrap().iter().all(|f| f["path"] != "submission.json"));
    fs::remove_file(repo.join("submission.json")).unwrap();

    // outside_allowed_paths, also for one side of a rename
    env.git(&repo, &["mv", "src/q.sql", "q.sql"]);
    let (code, report) = check_json(&env, &repo, &[]);
    assert_eq!(code, 1);
    assert_eq!(problem_codes(&report), vec!["outside_allowed_paths"]);
    let entry = &report["files"][0];
    assert_eq!(
        (entry["change"].as_str(), entry["from"].as_str(), entry["allowed"].as_bool()),
        (Some("renamed"), Some("src/q.sql"), Some(false))
    );
    // With --allow-outside the rename is left out whole and the rest passes.
    let (code, report) = check_json(&env, &repo, &["--allow-outside"]);
    assert_eq!(code, 0, "{report}");
}

#[test]
fn patch_too_large_counts_exact_bytes() {
    let env = Env::new();
    let repo = env.repo_with("repo", &[("src/train.py", b"x\n")]);
    let mut record = task_record("https://example.invalid/t.git", "main", &["src/*"]);
    write(&repo.join("src/train.py"), b"y\n");
    // Measure the exact patch, then set the limit one byte below and at it.
    env.bind(&repo, &record);
    let size = env.tool(&repo, &["diff"]).expect(0).stdout.len() as u64;
    record["max_patch_bytes"] = json!(size - 1);
    env.bind(&repo, &record);
    let (code, report) = check_json(&env, &repo, &[]);
    assert_eq!((code, problem_codes(&report)), (1, vec!["patch_too_large".to_string()]));
    record["max_patch_bytes"] = json!(size);
    env.bind(&repo, &record);
    assert_eq!(check_json(&env, &repo, &[]).0, 0);
}

#[test]
fn empty_allowed_list_allows_nothing() {
    let env = Env::new();
    let repo = env.bound(&[("src/train.py", b"x\n")], json!({"allowed_patch_paths": []}));
    write(&repo.join("src/train.py"), b"y\n");
    let (code, report) = check_json(&env, &repo, &[]);
    assert_eq!(code, 1);
    assert!(problem_codes(&report).contains(&"outside_allowed_paths".to_string()));
}

#[test]
fn not_bound_and_not_a_repo_are_usage_errors() {
    let env = Env::new();
    let repo = env.repo_with("repo", &[("a", b"a\n")]);
    let run = env.tool(&repo, &["check", "--json"]).expect(2);
    assert_eq!(run.json()["error"]["code"], "not_bound");
    assert!(run.stderr.contains("git bitsota init"), "{}", run.stderr);
    let outside = env.path("plain-dir");
    fs::create_dir_all(&outside).unwrap();
    let run = env.tool(&outside, &["check"]).expect(2);
    assert!(run.stderr.contains("error:"), "{}", run.stderr);
    // An unknown flag is a usage error too.
    env.tool(&repo, &["check", "--no-such-flag"]).expect(2);
}

#[test]
fn works_from_a_subdirectory_and_a_linked_worktree() {
    let env = Env::new();
    let repo = env.bound(
        &[("src/deep/train.py", b"x\n"), ("README.md", b"r\n")],
        json!({"allowed_patch_paths": ["src/*"]}),
    );
    write(&repo.join("src/deep/train.py"), b"y\n");
    let (code, report) = check_json(&env, &repo.join("src/deep"), &[]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["files"][0]["path"], "src/deep/train.py");

    // A linked worktree shares the state file but has its own changes.
    let wt = env.path("wt");
    env.git(&repo, &["worktree", "add", "-q", "-b", "other", wt.to_str().unwrap()]);
    write(&wt.join("README.md"), b"changed in the worktree\n");
    let (code, report) = check_json(&env, &wt, &[]);
    assert_eq!(code, 1, "{report}");
    assert_eq!(problem(&report, "outside_allowed_paths")["paths"], json!(["README.md"]));
    assert!(!wt.join(".git").is_dir(), "the worktree has a .git file, not a dir");
    assert!(!env.path("wt").join("bitsota.toml").exists());
}

#[test]
fn corrupt_or_newer_state_blocks_until_init_force() {
    let env = Env::new();
    let repo = env.bound(&[("src/train.py", b"x\n")], json!({"allowed_patch_paths": ["src/*"]}));
    let state = repo.join(".git/bitsota.toml");
    fs::write(&state, b"version = 1\n[task\nbroken").unwrap();
    let run = env.tool(&repo, &["check"]).expect(2);
    assert!(run.stderr.contains("bitsota.toml"), "names the path: {}", run.stderr);
    assert_eq!(fs::read(&state).unwrap(), b"version = 1\n[task\nbroken", "never rewritten");
    // init without --force refuses too
    let record = env.path("record.json");
    fs::write(&record, task_record("https://example.invalid/t.git", "main", &["src/*"]).to_string()).unwrap();
    env.tool(&repo, &["init", "demo-task", "--task-file", record.to_str().unwrap()]).expect(2);
    env.tool(&repo, &["init", "demo-task", "--task-file", record.to_str().unwrap(), "--force"]).expect(0);
    let aside: Vec<_> = fs::read_dir(repo.join(".git"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("bitsota.toml.corrupt-"))
        .collect();
    assert_eq!(aside.len(), 1, "moved aside once");

    // A newer format version is refused, not rewritten.
    let text = fs::read_to_string(&state).unwrap().replace("version = 1", "version = 2");
    fs::write(&state, &text).unwrap();
    let run = env.tool(&repo, &["check", "--json"]).expect(2);
    assert_eq!(run.json()["error"]["code"], "state_too_new");
    assert_eq!(fs::read_to_string(&state).unwrap(), text);
}

#[test]
fn init_binds_resolves_and_excludes_once() {
    let env = Env::new();
    let repo = env.repo_with("repo", &[("src/train.py", b"x\n")]);
    env.git(&repo, &["tag", "v1"]);
    let base = env.git(&repo, &["rev-parse", "HEAD"]).trim().to_string();
    write(&repo.join("src/train.py"), b"later\n");
    env.git(&repo, &["commit", "-qam", "later"]);

    // A tag, a full sha and an unknown ref.
    let mut record = task_record("https://example.invalid/t.git", "v1", &["src/*", "../escape", "/abs"]);
    // Fields this version does not know are kept in the snapshot.
    record["secondary_metric"] = json!({"name": "latency_ms", "direction": "minimize"});
    record["min_peer_evaluations"] = json!(3);
    let file = env.path("record.json");
    fs::write(&file, record.to_string()).unwrap();
    let run = env.tool(&repo, &["init", "demo-task", "--task-file", file.to_str().unwrap()]).expect(0);
    assert!(run.stderr.contains("../escape"), "warns about a pattern that can never match: {}", run.stderr);
    let state = fs::read_to_string(repo.join(".git/bitsota.toml")).unwrap();
    assert!(state.contains(&format!("base_commit = \"{base}\"")), "{state}");
    assert!(state.contains("base_ref = \"v1\""));
    let parsed: toml::Table = toml::from_str(&state).unwrap();
    assert_eq!(parsed["task"]["min_peer_evaluations"].as_integer(), Some(3), "{state}");
    assert_eq!(parsed["task"]["secondary_metric"]["name"].as_str(), Some("latency_ms"), "{state}");

    record["base_ref"] = json!(base);
    fs::write(&file, record.to_string()).unwrap();
    env.tool(&repo, &["init", "demo-task", "--task-file", file.to_str().unwrap()]).expect(0);
    let exclude = fs::read_to_string(repo.join(".git/info/exclude")).unwrap();
    assert_eq!(exclude.lines().filter(|l| *l == "/submission.json").count(), 1, "{exclude}");

    record["base_ref"] = json!("no-such-branch");
    fs::write(&file, record.to_string()).unwrap();
    let before = fs::read(repo.join(".git/bitsota.toml")).unwrap();
    let run = env.tool(&repo, &["init", "demo-task", "--task-file", file.to_str().unwrap()]).expect(2);
    assert!(run.stderr.contains("no-such-branch"), "{}", run.stderr);
    assert_eq!(fs::read(repo.join(".git/bitsota.toml")).unwrap(), before, "state untouched on error");

    // origin/<base_ref> when there is no local ref of that name.
    let clone = env.path("clone");
    env.git(env.root(), &["clone", "-q", repo.to_str().unwrap(), "clone"]);
    env.git(&repo, &["branch", "production", &base]);
    env.git(&clone, &["fetch", "-q", "origin"]);
    record["base_ref"] = json!("production");
    fs::write(&file, record.to_string()).unwrap();
    env.tool(&clone, &["init", "demo-task", "--task-file", file.to_str().unwrap()]).expect(0);
    let state = fs::read_to_string(clone.join(".git/bitsota.toml")).unwrap();
    assert!(state.contains(&format!("base_commit = \"{base}\"")), "{state}");

    // A record for another task than the one named is refused.
    env.tool(&clone, &["init", "other-task", "--task-file", file.to_str().unwrap()]).expect(2);
}

#[test]
fn user_index_env_and_intent_to_add_do_not_leak() {
    let env = Env::new();
    let repo = env.bound(&[("src/train.py", b"x\n")], json!({"allowed_patch_paths": ["src/*"]}));
    write(&repo.join("src/ita.py"), b"intent to add\n");
    env.git(&repo, &["add", "-N", "src/ita.py"]);
    let before = fs::read(repo.join(".git/index")).unwrap();
    let mut env = env;
    // A GIT_INDEX_FILE in the caller's environment must not redirect the tool.
    env.set("GIT_INDEX_FILE", env.path("bogus-index").to_string_lossy().into_owned());
    let (code, report) = check_json(&env, &repo, &[]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["files"][0]["path"], "src/ita.py");
    assert_eq!(report["files"][0]["change"], "added");
    assert_eq!(fs::read(repo.join(".git/index")).unwrap(), before);
    assert!(!env.path("bogus-index").exists());
}

#[test]
fn honours_git_dir_and_work_tree_and_refuses_bare_repos() {
    let env = Env::new();
    let repo = env.bound(&[("src/train.py", b"x\n")], json!({"allowed_patch_paths": ["src/*"]}));
    write(&repo.join("src/train.py"), b"y\n");
    // From an unrelated directory, pointed at the clone by the environment.
    let elsewhere = env.path("elsewhere");
    fs::create_dir_all(&elsewhere).unwrap();
    let mut cmd = env.command(crate::common::BIN, &elsewhere);
    cmd.args(["check", "--json"]).env("GIT_DIR", repo.join(".git")).env("GIT_WORK_TREE", &repo);
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["files"][0]["path"], "src/train.py");

    let bare = env.path("bare.git");
    env.git(env.root(), &["init", "-q", "--bare", bare.to_str().unwrap()]);
    let run = env.tool(&bare, &["check", "--json"]).expect(2);
    assert_eq!(run.json()["error"]["code"], "bare_repository");
}

#[test]
fn a_closed_stdout_pipe_is_not_an_error() {
    use std::io::Read;
    use std::process::Stdio;
    let env = Env::new();
    let repo = env.bound(&[("src/big.txt", b"start\n")], json!({"allowed_patch_paths": ["src/*"]}));
    // A patch far larger than a pipe buffer.
    let big: Vec<u8> = (0..200_000).flat_map(|i| format!("line {i}\n").into_bytes()).collect();
    write(&repo.join("src/big.txt"), &big);
    let mut cmd = env.command(crate::common::BIN, &repo);
    cmd.arg("diff").stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut first = [0u8; 10];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap();
    // The read end is dropped here, like `git bitsota diff | head -c 10`.
    let out = child.wait_with_output().unwrap();
    assert_eq!(&first, b"diff --git");
    assert_eq!(out.status.code(), Some(0), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stderr.is_empty(), "nothing on stderr: {}", String::from_utf8_lossy(&out.stderr));
}

/// "Racy git": an edit of the same size in the same second as the index was written has the
/// stat data the index recorded; only the index's own mtime tells git to look at the content.
/// The private index copy must keep that mtime. Each round has a good chance of landing in
/// one second; without the fix, 6 rounds caught the bug in one run of three.
#[test]
fn same_second_same_size_edits_are_seen() {
    for round in 0..20 {
        let env = Env::new();
        let repo = env.repo_with("repo", &[("src/train.py", b"x\n")]);
        write(&repo.join("src/train.py"), b"y\n");
        env.bind(&repo, &task_record("https://example.invalid/t.git", "main", &["src/*"]));
        let (code, report) = check_json(&env, &repo, &[]);
        assert_eq!(code, 0, "round {round}: {report}");
        assert_eq!(report["files"][0]["path"], "src/train.py", "round {round}");
    }
}

#[test]
fn sha256_repositories_work_end_to_end() {
    let env = Env::new();
    let repo = env.path("repo256");
    fs::create_dir_all(&repo).unwrap();
    env.git(&repo, &["init", "-q", "--object-format=sha256", "-b", "main"]);
    write(&repo.join("src/train.py"), b"x\n");
    env.git(&repo, &["add", "-A"]);
    env.git(&repo, &["commit", "-q", "-m", "base"]);
    let base = env.git(&repo, &["rev-parse", "HEAD"]).trim().to_string();
    assert_eq!(base.len(), 64);
    env.bind(&repo, &task_record("https://example.invalid/t.git", "main", &["src/*"]));
    write(&repo.join("src/train.py"), b"y\n");
    write(&repo.join("staged-outside.txt"), b"out\n");
    env.git(&repo, &["add", "staged-outside.txt"]);
    let (code, report) = check_json(&env, &repo, &["--allow-outside"]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["base_commit"], base);
    let patch = env.tool(&repo, &["diff", "--allow-outside"]).expect(0).stdout;
    let fresh = env.path("fresh256");
    env.git(env.root(), &["clone", "-q", repo.to_str().unwrap(), "fresh256"]);
    env.git(&fresh, &["checkout", "-q", "--detach", &base]);
    env.git_stdin(&fresh, &["apply", "-"], &patch).expect(0);
    assert_eq!(fs::read(fresh.join("src/train.py")).unwrap(), b"y\n");
    assert!(!fresh.join("staged-outside.txt").exists());
}
