//! Exit statuses and JSON error codes (cli.md §7): Ctrl-C is 130 and removes what was
//! half-made, a failed git is `git_failed`, and `--help`, the man page and the README list the
//! same statuses as the one table in `src/error.rs`.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::common::{task_record, write, Env};

/// A `git` on PATH that runs the real one, then, for `command`, sends Ctrl-C to git-bitsota
/// and dies of it itself, as a terminal's Ctrl-C does to the whole foreground group.
fn interrupting_git(env: &mut Env, command: &str) {
    let dir = env.path("fake-bin");
    fs::create_dir_all(&dir).unwrap();
    let real = String::from_utf8(
        std::process::Command::new("sh").args(["-c", "command -v git"]).output().unwrap().stdout,
    )
    .unwrap();
    let script = format!(
        "#!/bin/sh\nfor a in \"$@\"; do if [ \"$a\" = {command} ]; then \"{real}\" \"$@\"; kill -INT $PPID; kill -INT $$; fi; done\nexec \"{real}\" \"$@\"\n",
        real = real.trim()
    );
    let git = dir.join("git");
    fs::write(&git, script).unwrap();
    fs::set_permissions(&git, fs::Permissions::from_mode(0o755)).unwrap();
    let bin_dir = Path::new(crate::common::BIN).parent().unwrap();
    env.set("PATH", format!("{}:{}:/usr/local/bin:/usr/bin:/bin", dir.display(), bin_dir.display()));
}

#[test]
fn ctrl_c_during_clone_exits_130_and_removes_the_clone() {
    let mut env = Env::new();
    let upstream = env.repo_with("upstream", &[("src/a.py", b"a\n")]);
    let record = task_record(upstream.to_str().unwrap(), "main", &["src/*"]);
    let file = env.path("record.json");
    fs::write(&file, record.to_string()).unwrap();
    interrupting_git(&mut env, "clone");
    let run = env
        .tool(env.root(), &["--json", "clone", "demo-task", "work", "--task-file", file.to_str().unwrap()]);
    assert_eq!(run.code, 130, "{}", run.stderr);
    assert_eq!(run.error_code(), "interrupted");
    assert!(!env.path("work").exists(), "the half-made clone is removed");
}

#[test]
fn ctrl_c_during_check_exits_130_and_leaves_no_private_index() {
    let mut env = Env::new();
    let repo = env.repo_with("repo", &[("src/a.py", b"a\n")]);
    env.bind(&repo, &task_record("https://example.invalid/t.git", "main", &["src/*"]));
    write(&repo.join("src/a.py"), b"b\n");
    interrupting_git(&mut env, "diff-files");
    let run = env.tool(&repo, &["--json", "check"]);
    assert_eq!(run.code, 130, "{}", run.stderr);
    assert_eq!(run.error_code(), "interrupted");
    let left: Vec<String> = fs::read_dir(repo.join(".git"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("bitsota-index"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn a_failed_git_command_has_its_own_json_code() {
    let env = Env::new();
    let repo = env.repo_with("repo", &[("src/a.py", b"a\n")]);
    env.bind(&repo, &task_record("https://example.invalid/t.git", "main", &["src/*"]));
    // A corrupt index: git itself fails.
    fs::write(repo.join(".git/index"), b"DIRC garbage").unwrap();
    let run = env.tool(&repo, &["--json", "check"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert_eq!(run.error_code(), "git_failed");
}

/// `(status, description)` rows of the `--help` exit-status list.
fn help_statuses(env: &Env) -> Vec<(String, String)> {
    let help = env.tool(env.root(), &["--help"]).expect(0).out();
    let list = help.split("Exit status:\n").nth(1).expect("an exit-status list in --help");
    list.lines()
        .take_while(|l| !l.trim().is_empty())
        .map(|l| {
            let (code, text) = l.trim().split_once(' ').unwrap();
            (code.to_string(), text.trim().to_string())
        })
        .collect()
}

#[test]
fn help_man_page_and_readme_list_the_same_exit_statuses() {
    let env = Env::new();
    let rows = help_statuses(&env);
    let codes: Vec<&str> = rows.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(codes, ["0", "1", "2", "3", "4", "5", "130"]);
    let page = env.tool(env.root(), &["man"]).expect(0).out();
    let section = page.split("EXIT STATUS").nth(1).unwrap().split(".SH").next().unwrap();
    let readme = fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    for (code, text) in &rows {
        assert!(section.contains(&format!("\\fB{code}\\fR")), "the man page lacks {code}");
        let mut capitalized = text.clone();
        capitalized[..1].make_ascii_uppercase();
        let roff = capitalized.replace('-', "\\-").replace('\'', "\\*(Aq");
        assert!(section.contains(&roff), "the man page lacks {text:?}");
        assert!(
            readme.contains(&format!(" | {text} |")) && readme.contains(&format!("| {code} | ")),
            "README lacks {code}: {text}"
        );
    }
}

#[test]
fn a_malformed_sidecar_is_a_problem_of_the_report_and_an_unreadable_one_an_error() {
    let env = Env::new();
    let repo = env.repo_with("repo", &[("src/a.py", b"a\n")]);
    env.bind(&repo, &task_record("https://example.invalid/t.git", "main", &["src/*"]));
    write(&repo.join("src/a.py"), b"b\n");
    write(&repo.join("submission.json"), b"{\"summary\": \"x\",");

    // check --json: the whole report, with the sidecar as one problem (exit 1).
    let run = env.tool(&repo, &["--json", "check"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let report = run.json();
    assert_eq!(crate::common::problem_codes(&report), ["submission_invalid"]);
    assert!(
        crate::common::problem(&report, "submission_invalid")["message"]
            .as_str()
            .unwrap()
            .contains("not valid JSON"),
        "{report}"
    );
    assert_eq!(crate::common::listed(&report), [("src/a.py".into(), "modified".into(), true)]);
    // Human output too: the file list, then the problem.
    let run = env.tool(&repo, &["check"]);
    assert_eq!(run.code, 1);
    assert!(run.out().contains("src/a.py") && run.out().contains("[submission_invalid]"), "{}", run.out());

    // status: everything else, and the problem (no claim, no submissions: nothing to fetch).
    let run = env.tool(&repo, &["--json", "status"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let status = run.json();
    assert_eq!(status["task"]["slug"], "demo-task", "{status}");
    assert_eq!(crate::common::problem_codes(&status["check"]), ["submission_invalid"]);
    let run = env.tool(&repo, &["status"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.out().contains("check has problems"), "{}", run.out());
    assert!(run.out().contains("[submission_invalid] the submission sidecar"), "{}", run.out());

    // Not a JSON object: the same problem.
    write(&repo.join("submission.json"), b"[1, 2]");
    let run = env.tool(&repo, &["--json", "check"]);
    assert_eq!(run.code, 1);
    assert_eq!(crate::common::problem_codes(&run.json()), ["submission_invalid"]);

    // A sidecar path that cannot be read is an error (exit 2), for check and status alike.
    fs::remove_file(repo.join("submission.json")).unwrap();
    fs::create_dir(repo.join("submission.json")).unwrap();
    let run = env.tool(&repo, &["--json", "check"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert_eq!(run.error_code(), "submission_path");
    env.tool(&repo, &["status"]).expect(2);
}

#[test]
fn the_man_page_lists_every_problem_code_of_the_table() {
    let env = Env::new();
    let page = env.tool(env.root(), &["man"]).expect(0).out();
    let section = page.split("PROBLEM CODES").nth(1).unwrap().split(".SH").next().unwrap();
    let terms: Vec<&str> =
        section.lines().filter_map(|l| l.strip_prefix("\\fB").and_then(|l| l.strip_suffix("\\fR"))).collect();
    let table: Vec<&str> = git_bitsota::test_support::ProblemCode::ALL.iter().map(|c| c.code()).collect();
    assert_eq!(terms, table);
}
