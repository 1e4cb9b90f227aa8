//! `hook install | uninstall | status` and `check --pre-push`, through real `git push`es to a
//! local bare remote with the installed hook.

use std::fs;
use std::path::{Path, PathBuf};

use crate::common::{self, task_record, write, Env, Run};

const FOREIGN: &str = "#!/bin/sh\necho foreign-hook-ran >&2\nexit 0\n";

/// A bound clone `work` (allowed: `train.py`, `src/*`) with remote `origin` = bare `remote.git`
/// and the hook installed; `main` at the base commit has been pushed through the hook.
struct Fixture {
    env: Env,
    repo: PathBuf,
    remote: PathBuf,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture::with_limit(262_144)
    }

    fn with_limit(max_patch_bytes: u64) -> Fixture {
        let fx = Fixture::bare(max_patch_bytes);
        fx.tool(&["hook", "install"]).expect(0);
        // A new branch at the base commit: nothing changed, the hook passes.
        fx.push(&["origin", "main"]).expect(0);
        fx
    }

    /// Bound and with a remote, but no hook.
    fn bare(max_patch_bytes: u64) -> Fixture {
        let env = Env::new();
        let repo = env.repo_with(
            "work",
            &[("train.py", b"x = 1\n"), ("README.md", b"readme\n"), ("src/model.py", b"m = 0\n")],
        );
        let mut record = task_record(repo.to_str().unwrap(), "main", &["train.py", "src/*"]);
        record["max_patch_bytes"] = max_patch_bytes.into();
        env.bind(&repo, &record);
        env.git(env.root(), &["init", "-q", "--bare", "remote.git"]);
        env.git(&repo, &["remote", "add", "origin", "../remote.git"]);
        let remote = env.path("remote.git");
        Fixture { env, repo, remote }
    }

    fn tool(&self, args: &[&str]) -> Run {
        self.env.tool(&self.repo, args)
    }

    fn push(&self, args: &[&str]) -> Run {
        self.push_in(&self.repo, args)
    }

    fn push_in(&self, dir: &Path, args: &[&str]) -> Run {
        let mut all = vec!["push", "-q"];
        all.extend_from_slice(args);
        self.env.git_run(dir, &all)
    }

    fn commit_in(&self, dir: &Path, files: &[(&str, &[u8])], message: &str) {
        for (path, bytes) in files {
            write(&dir.join(path), bytes);
        }
        self.env.git(dir, &["add", "-A"]);
        self.env.git(dir, &["commit", "-q", "-m", message]);
    }

    fn commit(&self, files: &[(&str, &[u8])], message: &str) {
        self.commit_in(&self.repo, files, message);
    }

    fn head(&self, dir: &Path) -> String {
        self.env.git(dir, &["rev-parse", "HEAD"]).trim().to_string()
    }

    fn remote_ref(&self, name: &str) -> Option<String> {
        let run = self.env.git_run(&self.remote, &["rev-parse", "--verify", "-q", name]);
        (run.code == 0).then(|| run.out().trim().to_string())
    }

    fn hooks_dir(&self) -> PathBuf {
        self.repo.join(".git/hooks")
    }

    fn status(&self) -> String {
        let json = self.tool(&["hook", "status", "--json"]).expect(0).json();
        assert_eq!(json["version"], 1);
        json["status"].as_str().unwrap().to_string()
    }
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn installed_hook_is_marked_executable_and_status_says_so() {
    let fx = Fixture::new();
    let hook = fx.hooks_dir().join("pre-push");
    let body = fs::read_to_string(&hook).unwrap();
    assert!(body.starts_with("#!/bin/sh\n# installed by git-bitsota v"), "{body}");
    assert!(body.contains("command -v git-bitsota"));
    assert!(body.contains("exec git bitsota check --pre-push -- \"$@\""));
    assert_eq!(mode(&hook), 0o755);
    let json = fx.tool(&["hook", "status", "--json"]).expect(0).json();
    assert_eq!(json["status"], "installed");
    assert_eq!(json["path"], hook.canonicalize().unwrap().to_str().unwrap());
    // Installing again changes nothing.
    let again = fx.tool(&["hook", "install"]).expect(0);
    assert!(again.out().contains("already installed"), "{}", again.out());
    assert_eq!(fs::read_to_string(&hook).unwrap(), body);
    // No stray temporary files next to it.
    let names = crate::common::names_in(&fx.hooks_dir());
    assert!(!names.iter().any(|n| n.contains("tmp")), "{names:?}");
}

#[test]
fn push_of_allowed_changes_passes() {
    let fx = Fixture::new();
    fx.commit(&[("train.py", b"x = 2\n")], "tune");
    fx.commit(&[("src/model.py", b"m = 1\n"), ("src/new.py", b"n = 1\n")], "model");
    fx.push(&["origin", "main"]).expect(0);
    assert_eq!(fx.remote_ref("refs/heads/main"), Some(fx.head(&fx.repo)));
}

#[test]
fn push_touching_a_disallowed_path_is_rejected_naming_it() {
    let fx = Fixture::new();
    let before = fx.remote_ref("refs/heads/main");
    fx.commit(&[("train.py", b"x = 2\n"), ("README.md", b"changed\n")], "oops");
    let run = fx.push(&["origin", "main"]);
    assert_ne!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("README.md"), "{}", run.stderr);
    assert!(run.stderr.contains("outside_allowed_paths"), "{}", run.stderr);
    assert!(run.stderr.contains("BITSOTA_SKIP_CHECK"), "{}", run.stderr);
    assert_eq!(fx.remote_ref("refs/heads/main"), before);

    // Bytecode is refused even under an allowed pattern.
    let fx = Fixture::new();
    fx.commit(&[("src/model.pyc", b"\x00\x01bytecode")], "pyc");
    let run = fx.push(&["origin", "main"]);
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("src/model.pyc") && run.stderr.contains("bytecode_path"), "{}", run.stderr);
}

#[test]
fn push_over_the_size_limit_is_rejected() {
    let fx = Fixture::with_limit(400);
    let big: String = (0..200).map(|i| format!("value_{i} = {i}\n")).collect();
    fx.commit(&[("train.py", big.as_bytes())], "big");
    let run = fx.push(&["origin", "main"]);
    assert_ne!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("patch_too_large"), "{}", run.stderr);
    assert!(run.stderr.contains("400"), "{}", run.stderr);
}

#[test]
fn branch_delete_and_up_to_date_pushes_pass() {
    let fx = Fixture::new();
    fx.env.git(&fx.repo, &["checkout", "-q", "-b", "side"]);
    fx.commit(&[("README.md", b"not allowed\n")], "side");
    // The hook would refuse this branch; get it there without it.
    fx.push(&["--no-verify", "origin", "side"]).expect(0);
    assert!(fx.remote_ref("refs/heads/side").is_some());
    fx.push(&["origin", ":side"]).expect(0);
    assert_eq!(fx.remote_ref("refs/heads/side"), None);

    // Up to date: git still runs the hook, with empty stdin, and the hook passes. GIT_TRACE
    // shows that it ran.
    fx.env.git(&fx.repo, &["checkout", "-q", "main"]);
    let mut cmd = fx.env.command("git", &fx.repo);
    cmd.args(["push", "-q", "origin", "main"]).env("GIT_TRACE", "1");
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("hooks/pre-push"), "the hook ran: {stderr}");
    assert!(!stderr.contains("error"), "{stderr}");
}

#[test]
fn skip_variable_lets_a_refused_push_through_with_a_notice() {
    let fx = Fixture::new();
    fx.commit(&[("README.md", b"changed\n")], "readme");
    let mut cmd = fx.env.command("git", &fx.repo);
    cmd.args(["push", "-q", "origin", "main"]).env("BITSOTA_SKIP_CHECK", "1");
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("BITSOTA_SKIP_CHECK"), "{stderr}");
    assert_eq!(fx.remote_ref("refs/heads/main"), Some(fx.head(&fx.repo)));
}

#[test]
fn commit_not_descended_from_base_is_refused() {
    let fx = Fixture::new();
    fx.env.git(&fx.repo, &["checkout", "-q", "--orphan", "elsewhere"]);
    fx.env.git(&fx.repo, &["rm", "-q", "-r", "--cached", "."]);
    fx.commit(&[("train.py", b"x = 9\n")], "unrelated history");
    let run = fx.push(&["origin", "elsewhere"]);
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("not_descended_from_base"), "{}", run.stderr);
    assert_eq!(fx.remote_ref("refs/heads/elsewhere"), None);
}

#[test]
fn pushed_commits_are_checked_not_the_working_tree() {
    let fx = Fixture::new();
    fx.commit(&[("train.py", b"x = 3\n")], "ok");
    // Uncommitted out-of-scope edits are not being pushed.
    write(&fx.repo.join("README.md"), b"dirty but not pushed\n");
    fx.push(&["origin", "main"]).expect(0);
}

#[test]
fn foreign_hook_survives_install_without_force() {
    let fx = Fixture::bare(262_144);
    let hook = fx.hooks_dir().join("pre-push");
    write(&hook, FOREIGN.as_bytes());
    set_mode(&hook, 0o755);
    let run = fx.tool(&["hook", "install"]).expect(2);
    assert!(run.stderr.contains("echo foreign-hook-ran"), "{}", run.stderr);
    assert!(run.stderr.contains("--force") && run.stderr.contains("--print"), "{}", run.stderr);
    assert_eq!(fs::read_to_string(&hook).unwrap(), FOREIGN);
    assert_eq!(fx.status(), "foreign");
    // `uninstall` leaves it alone too.
    fx.tool(&["hook", "uninstall"]).expect(2);
    assert_eq!(fs::read_to_string(&hook).unwrap(), FOREIGN);
    // --print writes nothing and prints the lines to merge.
    let print = fx.tool(&["hook", "install", "--print"]).expect(0);
    assert!(print.out().starts_with("#!/bin/sh\n"), "{}", print.out());
    assert!(print.out().contains("git bitsota check --pre-push -- \"$@\""));
    assert_eq!(fs::read_to_string(&hook).unwrap(), FOREIGN);
    fx.tool(&["hook", "install", "--print", "--force"]).expect(2);
}

#[test]
fn force_backs_up_a_foreign_hook_and_uninstall_restores_it() {
    let fx = Fixture::bare(262_144);
    let hook = fx.hooks_dir().join("pre-push");
    let backup = fx.hooks_dir().join("pre-push.bitsota-backup");
    write(&hook, FOREIGN.as_bytes());
    set_mode(&hook, 0o755);
    let run = fx.tool(&["hook", "install", "--force"]).expect(0);
    assert!(run.stderr.contains("pre-push.bitsota-backup"), "{}", run.stderr);
    assert_eq!(fs::read_to_string(&backup).unwrap(), FOREIGN);
    assert_eq!(fx.status(), "installed");

    // Ours is the hook that runs now.
    fx.commit(&[("README.md", b"changed\n")], "readme");
    let push = fx.push(&["origin", "main"]);
    assert_ne!(push.code, 0);
    assert!(!push.stderr.contains("foreign-hook-ran"), "{}", push.stderr);

    fx.tool(&["hook", "uninstall"]).expect(0);
    assert_eq!(fs::read_to_string(&hook).unwrap(), FOREIGN);
    assert_eq!(mode(&hook), 0o755);
    assert!(!backup.exists());
    assert_eq!(fx.status(), "foreign");
    let push = fx.push(&["origin", "main"]).expect(0);
    assert!(push.stderr.contains("foreign-hook-ran"), "{}", push.stderr);

    // Uninstalling when nothing of ours is there is a no-op.
    write(&hook, b"");
    fs::remove_file(&hook).unwrap();
    fx.tool(&["hook", "uninstall"]).expect(0);
    assert_eq!(fx.status(), "absent");
}

#[test]
fn outdated_or_emptied_hooks_are_upgraded_in_place() {
    let fx = Fixture::new();
    let hook = fx.hooks_dir().join("pre-push");
    // Ours, but it lost its executable bit (git would silently skip it).
    set_mode(&hook, 0o644);
    assert_eq!(fx.status(), "outdated");
    let run = fx.tool(&["hook", "install"]).expect(0);
    assert!(run.out().contains("upgraded"), "{}", run.out());
    assert_eq!(mode(&hook), 0o755);
    assert_eq!(fx.status(), "installed");
    // An empty file holds nothing to lose.
    fs::write(&hook, b"\n").unwrap();
    fx.tool(&["hook", "install"]).expect(0);
    assert_eq!(fx.status(), "installed");
    // Our body with CRLF endings is still ours.
    let body = fs::read_to_string(&hook).unwrap();
    fs::write(&hook, body.replace('\n', "\r\n")).unwrap();
    fx.tool(&["hook", "uninstall"]).expect(0);
    assert!(!hook.exists());
}

#[test]
fn hooks_path_inside_the_repository_is_used() {
    let fx = Fixture::bare(262_144);
    fx.env.git(&fx.repo, &["config", "core.hooksPath", ".githooks"]);
    fx.tool(&["hook", "install"]).expect(0);
    let hook = fx.repo.join(".githooks/pre-push");
    assert_eq!(mode(&hook), 0o755);
    assert!(!fx.hooks_dir().join("pre-push").exists());
    // The hook file is kept out of the work: no untracked change, nothing for `check` to flag.
    assert_eq!(fx.env.git(&fx.repo, &["status", "--porcelain"]), "");
    assert_eq!(fx.status(), "installed");

    // Run from a subdirectory too.
    let sub = fx.repo.join("src");
    let json = fx.env.tool(&sub, &["hook", "status", "--json"]).expect(0).json();
    assert_eq!(json["status"], "installed");
    assert_eq!(json["hooks_path"], ".githooks");

    fx.commit(&[("README.md", b"changed\n")], "readme");
    let run = fx.push(&["origin", "main"]);
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("README.md"), "{}", run.stderr);
}

#[test]
fn hooks_path_outside_the_repository_or_managed_is_refused_by_default() {
    let fx = Fixture::bare(262_144);
    let shared = fx.env.path("shared-hooks");
    fx.env.git(&fx.repo, &["config", "core.hooksPath", shared.to_str().unwrap()]);
    let run = fx.tool(&["hook", "install"]).expect(2);
    assert!(run.stderr.contains("core.hooksPath") && run.stderr.contains("outside"), "{}", run.stderr);
    assert!(run.stderr.contains("--force"), "{}", run.stderr);
    assert!(!shared.join("pre-push").exists());
    assert_eq!(fx.status(), "redirected");
    let json = fx.tool(&["hook", "install", "--json"]).expect(2).json();
    assert_eq!(json["error"]["code"], "hooks_path_redirected");

    fx.tool(&["hook", "install", "--force"]).expect(0);
    assert_eq!(mode(&shared.join("pre-push")), 0o755);
    assert_eq!(fx.status(), "installed");
    fx.commit(&[("README.md", b"changed\n")], "readme");
    assert_ne!(fx.push(&["origin", "main"]).code, 0);

    // A hook manager's directory inside the repository.
    fx.env.git(&fx.repo, &["config", "core.hooksPath", ".husky/_"]);
    let run = fx.tool(&["hook", "install"]).expect(2);
    assert!(run.stderr.contains("husky"), "{}", run.stderr);
    assert!(!fx.repo.join(".husky/_/pre-push").exists());
    assert_eq!(fx.status(), "redirected");
}

#[test]
fn pushing_from_a_linked_worktree_runs_the_check() {
    let fx = Fixture::new();
    let wt = fx.env.path("wt");
    fx.env.git(&fx.repo, &["worktree", "add", "-q", "-b", "feature", wt.to_str().unwrap()]);
    // The worktree shares the hooks directory and the state file.
    assert_eq!(fx.env.tool(&wt, &["hook", "status", "--json"]).expect(0).json()["status"], "installed");

    fx.commit_in(&wt, &[("README.md", b"from the worktree\n")], "readme");
    let run = fx.push_in(&wt, &["origin", "feature"]);
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("README.md"), "{}", run.stderr);
    assert_eq!(fx.remote_ref("refs/heads/feature"), None);

    fx.env.git(&wt, &["reset", "-q", "--hard", "HEAD~1"]);
    fx.commit_in(&wt, &[("train.py", b"x = 5\n")], "tune");
    fx.push_in(&wt, &["origin", "feature"]).expect(0);
    assert_eq!(fx.remote_ref("refs/heads/feature"), Some(fx.head(&wt)));
}

#[test]
fn hook_without_git_bitsota_on_path_fails_with_instructions() {
    let fx = Fixture::new();
    let path = "/usr/local/bin:/usr/bin:/bin";
    if !common::precondition(
        !path.split(':').any(|dir| Path::new(dir).join("git-bitsota").exists()),
        "a git-bitsota is installed system-wide",
    ) {
        return;
    }
    fx.commit(&[("train.py", b"x = 2\n")], "tune");
    let mut cmd = fx.env.command("git", &fx.repo);
    cmd.args(["push", "-q", "origin", "main"]).env("PATH", path);
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("'git-bitsota' was not found on your PATH"), "{stderr}");
    assert!(stderr.contains("delete the hook file") && stderr.contains("pre-push"), "{stderr}");
    assert_ne!(fx.remote_ref("refs/heads/main"), Some(fx.head(&fx.repo)));
}

#[test]
fn status_and_install_edge_cases() {
    let env = Env::new();
    // Outside a repository: exit 2.
    env.tool(env.root(), &["hook", "status"]).expect(2);
    env.tool(env.root(), &["hook", "install"]).expect(2);

    let repo = env.repo_with("plain", &[("a.txt", b"a\n")]);
    let json = env.tool(&repo, &["hook", "status", "--json"]).expect(0).json();
    assert_eq!(json["status"], "absent");
    assert!(json["path"].as_str().unwrap().ends_with(".git/hooks/pre-push"));
    // Installing in an unbound clone works but warns that pushes will be refused.
    let run = env.tool(&repo, &["hook", "install"]).expect(0);
    assert!(run.stderr.contains("not bound"), "{}", run.stderr);
    // A missing hooks directory is created.
    fs::remove_dir_all(repo.join(".git/hooks")).unwrap();
    env.tool(&repo, &["hook", "install"]).expect(0);
    assert!(repo.join(".git/hooks/pre-push").is_file());
}

#[test]
fn pre_push_check_by_hand() {
    let fx = Fixture::bare(262_144);
    // Empty stdin (what git sends for an up-to-date push): pass.
    fx.env.tool_stdin(&fx.repo, &["check", "--pre-push", "origin", "../remote.git"], b"").expect(0);
    // A delete line only: pass.
    let zero = "0".repeat(40);
    let head = fx.head(&fx.repo);
    let delete = format!("(delete) {zero} refs/heads/x {head}\n");
    fx.env.tool_stdin(&fx.repo, &["check", "--pre-push", "origin", "u"], delete.as_bytes()).expect(0);
    // A refused commit, with --json.
    fx.commit(&[("README.md", b"changed\n")], "readme");
    let head = fx.head(&fx.repo);
    let line = format!("refs/heads/main {head} refs/heads/main {zero}\n");
    let run = fx
        .env
        .tool_stdin(&fx.repo, &["check", "--pre-push", "--json", "origin", "u"], line.as_bytes())
        .expect(1);
    let json = run.json();
    assert_eq!(json["ok"], false);
    assert_eq!(json["refs"][0]["commit"], head.as_str());
    // Garbage input is a usage error, not a crash.
    fx.env.tool_stdin(&fx.repo, &["check", "--pre-push", "origin", "u"], b"not a ref line\n").expect(2);
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn annotated_tags_are_checked_through_the_commit_they_name() {
    let fx = Fixture::new();
    fx.commit(&[("train.py", b"x = 2\n")], "tune");
    fx.env.git(&fx.repo, &["tag", "-a", "good", "-m", "good"]);
    fx.push(&["origin", "main", "good"]).expect(0);
    assert!(fx.remote_ref("refs/tags/good").is_some());

    // A tag of a tree names no commit: nothing to check.
    fx.env.git(&fx.repo, &["tag", "tree-tag", "HEAD^{tree}"]);
    fx.push(&["origin", "tree-tag"]).expect(0);

    fx.commit(&[("README.md", b"changed\n")], "readme");
    fx.env.git(&fx.repo, &["tag", "-a", "bad", "-m", "bad"]);
    let run = fx.push(&["origin", "bad"]);
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("README.md"), "{}", run.stderr);
    assert_eq!(fx.remote_ref("refs/tags/bad"), None);
}

#[test]
fn a_local_ref_with_spaces_is_parsed_from_the_right() {
    // git passes what the user typed when it cannot expand it: `HEAD^{/fix bug}` has a space.
    let fx = Fixture::new();
    fx.commit(&[("train.py", b"x = 2\n")], "fix bug");
    fx.push(&["origin", "HEAD^{/fix bug}:refs/heads/good"]).expect(0);
    assert_eq!(fx.remote_ref("refs/heads/good"), Some(fx.head(&fx.repo)));
    fx.commit(&[("README.md", b"changed\n")], "bad readme");
    let run = fx.push(&["origin", "HEAD^{/bad readme}:refs/heads/bad"]);
    assert_ne!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("README.md"), "{}", run.stderr);
    assert_eq!(fx.remote_ref("refs/heads/bad"), None);
}

#[test]
fn ref_lines_parse_sha256_ids_and_refuse_garbage() {
    use git_bitsota::test_support::parse_lines;
    let (zero, oid) = ("0".repeat(64), "ab".repeat(32));
    let lines = parse_lines(format!(
        "\n(delete) {zero} refs/heads/x {oid}\nHEAD^{{/a b}} {oid} refs/heads/y {zero}\n"
    ))
    .unwrap();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0].local_ref, "(delete)");
    assert_eq!(lines[1].local_ref, "HEAD^{/a b}");
    assert_eq!(lines[1].remote_ref, "refs/heads/y");
    assert_eq!(lines[1].remote_oid, zero);
    for bad in [format!("refs/heads/a {oid} refs/heads/a"), format!("a {oid} b {}", "0".repeat(50))] {
        assert!(parse_lines(&bad).is_err(), "{bad}");
    }
}

#[test]
fn pre_push_by_hand_prints_a_hint_instead_of_waiting() {
    let fx = Fixture::bare(262_144);
    // No arguments (a person, not git) and empty stdin: a one-line hint, exit 0.
    let run = fx.env.tool_stdin(&fx.repo, &["check", "--pre-push"], b"").expect(0);
    assert!(run.stderr.contains("git bitsota hook install"), "{}", run.stderr);
    assert_eq!(run.stderr.trim().lines().count(), 1, "{}", run.stderr);

    // On a terminal, with or without arguments: the hint at once, stdin is not read.
    let mut master = 0;
    let mut slave = 0;
    // SAFETY: openpty fills in two new descriptors; the others are optional (null).
    let rc = unsafe {
        libc::openpty(&mut master, &mut slave, std::ptr::null_mut(), std::ptr::null(), std::ptr::null())
    };
    if !common::precondition(rc == 0, "no pseudo-terminal available") {
        return;
    }
    for args in [&["check", "--pre-push"][..], &["check", "--pre-push", "origin", "../remote.git"][..]] {
        use std::os::fd::{FromRawFd, OwnedFd};
        // SAFETY: `dup` returns a fresh descriptor that the OwnedFd then owns.
        let tty = unsafe { OwnedFd::from_raw_fd(libc::dup(slave)) };
        let mut cmd = fx.env.command(common::BIN, &fx.repo);
        cmd.args(args).stdin(std::process::Stdio::from(tty));
        let mut child =
            cmd.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::piped()).spawn().unwrap();
        let started = std::time::Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if started.elapsed() > std::time::Duration::from_secs(10) {
                let _ = child.kill();
                panic!("{args:?} waited on the terminal");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
        assert!(status.success(), "{args:?}: {stderr}");
        assert!(stderr.contains("pre-push hook"), "{args:?}: {stderr}");
    }
    // SAFETY: closes the two descriptors openpty gave us.
    unsafe {
        libc::close(master);
        libc::close(slave);
    }
}
