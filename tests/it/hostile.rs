//! Attacks from hostile task records, task repositories and coordinators (issue 10), each
//! reproduced end to end against the binary: the consent prompt on a real pty, a benchmark
//! reading `/proc/$PPID/environ`, planted symlinks, a `.git.git` repository, a remote named
//! `--help`, a non-UTF-8 branch, a FIFO result file, SIGKILL/SIGQUIT during bench, a slow
//! coordinator, a spying hook and fsmonitor.
//!
//! `BITSOTA_ATTACK_BIN=/path/to/git-bitsota` runs them against another build (an older release
//! fails them).

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::{task_record, write, Env, Run, BIN, PHRASE};
use crate::fake_coordinator::{Fake, Fault};

/// The binary attacked: this build, or `BITSOTA_ATTACK_BIN`.
fn bin() -> String {
    std::env::var("BITSOTA_ATTACK_BIN").unwrap_or_else(|_| BIN.to_string())
}

/// An Env whose PATH finds the attacked binary first (hooks run `git bitsota` through PATH).
fn attack_env() -> Env {
    let mut env = Env::new();
    if let Ok(other) = std::env::var("BITSOTA_ATTACK_BIN") {
        let dir = Path::new(&other).parent().unwrap().display().to_string();
        env.set("PATH", format!("{dir}:/usr/local/bin:/usr/bin:/bin"));
    }
    env
}

fn tool(env: &Env, cwd: &Path, args: &[&str]) -> Run {
    let mut cmd = env.command(bin(), cwd);
    cmd.args(args);
    finish(cmd)
}

fn finish(mut cmd: Command) -> Run {
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let out = cmd.output().expect("spawn");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Wait for `child` at most `limit`; kill it (and fail) if it runs longer.
fn wait_at_most(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let until = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() >= until {
            let _ = child.kill();
            let _ = child.wait();
            panic!("still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn wait_for_file(path: &Path, limit: Duration) -> String {
    let until = Instant::now() + limit;
    loop {
        if let Ok(text) = fs::read_to_string(path) {
            if text.ends_with('\n') {
                return text;
            }
        }
        assert!(Instant::now() < until, "{} did not appear", path.display());
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn group_alive(pgid: i32) -> bool {
    Command::new("kill")
        .args(["-0", "--", &format!("-{pgid}")])
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success()
}

fn kill_group(pgid: i32) {
    let _ = Command::new("kill").args(["-KILL", "--", &format!("-{pgid}")]).stderr(Stdio::null()).status();
}

fn signal(pid: u32, name: &str) {
    Command::new("kill").args([&format!("-{name}"), &pid.to_string()]).status().unwrap();
}

// ---------------------------------------------------------------------------------------------
// 1. The consent prompt cannot be spoofed

/// Run `bench` (without --yes) on a pseudo-terminal, answer `n`, return all it wrote there.
fn bench_on_pty(env: &Env, repo: &Path) -> Vec<u8> {
    let script = r#"
import os, pty, subprocess, sys, time
master, slave = pty.openpty()
p = subprocess.Popen(sys.argv[1:], stdin=slave, stdout=subprocess.DEVNULL, stderr=slave, close_fds=True)
os.close(slave)
seen = b""
deadline = time.time() + 30
answered = False
while time.time() < deadline:
    try:
        chunk = os.read(master, 65536)
    except OSError:
        break
    if not chunk:
        break
    seen += chunk
    if not answered and b"[y/N]" in seen:
        os.write(master, b"n\n")
        answered = True
p.wait(timeout=30)
sys.stdout.buffer.write(seen)
"#;
    let mut cmd = env.command("python3", repo);
    cmd.arg("-c").arg(script).arg(bin()).arg("bench").env("NO_COLOR", "1").env("TERM", "dumb");
    let run = finish(cmd);
    assert_eq!(run.code, 0, "pty driver failed: {}", run.stderr);
    run.stdout
}

#[test]
fn consent_prompt_shows_every_control_character() {
    let env = attack_env();
    let spoof = "touch PWNED #\r\x1b[2K  benchmark: python3 bench.py";
    let repo = env.bound(
        &[("bench.py", b"print('score=1')\n")],
        json!({"benchmark_command": spoof, "setup_command": "echo a\x1b[8mhidden\x1b[0m\necho b"}),
    );
    let shown = bench_on_pty(&env, &repo);
    let text = String::from_utf8_lossy(&shown);
    assert!(text.contains("[y/N]"), "no prompt: {text}");
    assert!(!shown.contains(&0x1b), "an escape sequence reached the terminal: {text:?}");
    assert!(text.contains(r"touch PWNED #\r\e[2K  benchmark: python3 bench.py"), "{text}");
    assert!(text.contains(r"echo a\e[8mhidden\e[0m\n"), "newline marked: {text}");
    assert!(!repo.join("PWNED").exists(), "answering n ran nothing");
}

// ---------------------------------------------------------------------------------------------
// 2. The benchmark cannot read the hotkey secrets

#[test]
fn benchmark_reading_parent_environ_finds_no_secret() {
    let mut env = attack_env();
    let password = "hunter2-not-a-real-password";
    env.set("BITSOTA_HOTKEY_MNEMONIC", PHRASE);
    env.set("BITSOTA_HOTKEY_PASSWORD", password);
    // $PPID of the benchmark's `sh -c` is git-bitsota itself.
    let command = "cat /proc/$PPID/environ > environ.out 2>&1; tr '\\0' '\\n' < environ.out; echo score=1";
    let repo = env.bound(&[("solution.txt", b"base\n")], json!({"benchmark_command": command}));
    let run = tool(&env, &repo, &["bench", "--yes", "--json"]);
    let seen = fs::read(repo.join("environ.out")).expect("the benchmark ran");
    let log = run.json()["log"].as_str().map(|p| fs::read(p).unwrap()).unwrap_or_default();
    for haystack in [&seen, &log, &run.stderr.as_bytes().to_vec()] {
        let text = String::from_utf8_lossy(haystack);
        assert!(!text.contains("quick monitor wasp"), "mnemonic leaked: {text}");
        assert!(!text.contains(password), "password leaked: {text}");
    }
    run.expect(0);
}

// ---------------------------------------------------------------------------------------------
// 3. Symlinks from the task repository never aim a write outside the clone

#[test]
fn committed_sidecar_symlink_is_refused_for_reading_and_writing() {
    let env = attack_env();
    let outside = env.path("outside.json");
    fs::write(&outside, br#"{"summary": "a file outside the clone"}"#).unwrap();
    let repo = env.repo_with("task", &[("bench.sh", b"echo score=1\n")]);
    std::os::unix::fs::symlink("../outside.json", repo.join("submission.json")).unwrap();
    env.git(&repo, &["add", "submission.json"]);
    env.git(&repo, &["commit", "-q", "-m", "hostile sidecar"]);
    let mut record = task_record(repo.to_str().unwrap(), "main", &["solution.txt"]);
    record["benchmark_command"] = json!("sh bench.sh");
    let file = env.path("task-record.json");
    fs::write(&file, serde_json::to_vec(&record).unwrap()).unwrap();
    tool(&env, &repo, &["init", "demo-task", "--task-file", file.to_str().unwrap()]).expect(0);

    let run = tool(&env, &repo, &["bench", "--yes", "--record", "--json"]);
    assert_eq!(fs::read(&outside).unwrap(), br#"{"summary": "a file outside the clone"}"#);
    let run = run.expect(2);
    assert_eq!(run.error_code(), "submission_path");
    assert!(run.error_message().contains("symlink"), "{}", run.error_message());
    let run = tool(&env, &repo, &["check", "--json"]).expect(2);
    assert_eq!(run.error_code(), "submission_path");
    // `submit` would have sent the outside file's summary.
    let run = tool(&env, &repo, &["submit", "--dry-run", "--json"]).expect(2);
    assert_eq!(run.error_code(), "submission_path");

    // Tracked but a regular file: the task controls it, so it is refused too.
    fs::remove_file(repo.join("submission.json")).unwrap();
    write(&repo.join("submission.json"), br#"{"summary": "from the task"}"#);
    env.git(&repo, &["add", "submission.json"]);
    let run = tool(&env, &repo, &["check", "--json"]).expect(2);
    assert!(run.error_message().contains("tracked"), "{}", run.error_message());
    // A sidecar the user names may be anywhere, outside the clone included.
    let own = env.path("mine.json");
    tool(&env, &repo, &["bench", "--yes", "--record", "--json", "--submission-file", own.to_str().unwrap()])
        .expect(0);
    assert!(fs::read_to_string(&own).unwrap().contains("claimed_metrics"));
}

#[test]
fn planted_temp_name_symlinks_are_never_written_through() {
    let env = attack_env();
    let repo = env.bound(&[("bench.sh", b"echo score=1\n")], json!({"benchmark_command": "sh bench.sh"}));
    let victim = env.path("victim.txt");
    fs::write(&victim, "precious").unwrap();
    // The old temp name was `.submission.json.tmp-<pid>`: plant it for the pids coming next.
    let last: u32 = fs::read_to_string("/proc/sys/kernel/ns_last_pid").unwrap().trim().parse().unwrap();
    for pid in last + 1..last + 4000 {
        std::os::unix::fs::symlink(&victim, repo.join(format!(".submission.json.tmp-{pid}"))).unwrap();
    }
    tool(&env, &repo, &["bench", "--yes", "--record", "--json"]).expect(0);
    assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
    let meta = fs::symlink_metadata(repo.join("submission.json")).unwrap();
    assert!(meta.file_type().is_file(), "the sidecar is a regular file of its own");
    assert!(fs::read_to_string(repo.join("submission.json")).unwrap().contains("claimed_metrics"));
}

// ---------------------------------------------------------------------------------------------
// 4. clone cannot hijack an enclosing repository, and an interrupted clone leaves nothing

#[test]
fn dot_git_git_repository_cloned_inside_a_bound_clone_is_refused() {
    let env = attack_env();
    let outer = env.bound(&[("solution.txt", b"mine\n")], json!({}));
    let branch_before = env.git(&outer, &["rev-parse", "--abbrev-ref", "HEAD"]);
    let state_before = fs::read(outer.join(".git/bitsota.toml")).unwrap();
    fs::create_dir_all(outer.join("sub")).unwrap();

    let hostile = env.repo_with("evil/.git.git", &[("x.txt", b"evil\n")]);
    let mut record = task_record(hostile.to_str().unwrap(), "main", &["x.txt"]);
    record["id"] = json!("c54218ce-0000-4000-8000-00000000beef");
    record["slug"] = json!("hostile");
    let file = env.path("hostile.json");
    fs::write(&file, serde_json::to_vec(&record).unwrap()).unwrap();

    let run = tool(
        &env,
        &outer.join("sub"),
        &["clone", "hostile", "--task-file", file.to_str().unwrap(), "--json"],
    );
    assert_eq!(
        fs::read(outer.join(".git/bitsota.toml")).unwrap(),
        state_before,
        "the outer clone was rebound"
    );
    assert_eq!(env.git(&outer, &["rev-parse", "--abbrev-ref", "HEAD"]), branch_before);
    let run = run.expect(2);
    assert_eq!(run.error_code(), "bad_directory");
    assert!(!outer.join("sub/.git").exists());
    // Named explicitly, in any case, it is refused as well.
    let run = tool(
        &env,
        &outer.join("sub"),
        &["clone", "hostile", "--task-file", file.to_str().unwrap(), ".GIT", "--json"],
    );
    assert_eq!(run.expect(2).error_code(), "bad_directory");
}

/// A `git` that sleeps before `checkout`, so a signal can arrive mid-clone.
fn slow_git(env: &Env) -> PathBuf {
    let dir = env.path("slow-git");
    write(
        &dir.join("git"),
        b"#!/bin/sh\ncase \" $* \" in *\" checkout \"*) sleep 3;; esac\nexec /usr/bin/git \"$@\"\n",
    );
    Command::new("chmod").arg("+x").arg(dir.join("git")).status().unwrap();
    dir
}

#[test]
fn interrupted_or_killed_clone_leaves_nothing_bound() {
    let env = attack_env();
    let source = env.repo_with("source", &[("solution.txt", b"base\n")]);
    let record = task_record(source.to_str().unwrap(), "main", &["solution.txt"]);
    let file = env.path("record.json");
    fs::write(&file, serde_json::to_vec(&record).unwrap()).unwrap();
    let slow = slow_git(&env);
    let path = format!("{}:{}:/usr/bin:/bin", slow.display(), Path::new(&bin()).parent().unwrap().display());
    let work = env.path("work");
    fs::create_dir_all(&work).unwrap();
    for (sig, target) in [("INT", "interrupted"), ("KILL", "killed")] {
        let mut cmd = env.command(bin(), &work);
        cmd.env("PATH", &path).args(["clone", "demo-task", "--task-file", file.to_str().unwrap(), target]);
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
        let mut child = cmd.spawn().unwrap();
        std::thread::sleep(Duration::from_millis(1500));
        signal(child.id(), sig);
        let status = wait_at_most(&mut child, Duration::from_secs(20));
        std::thread::sleep(Duration::from_secs(3)); // the slow checkout's sleep ends
        assert!(!work.join(target).exists(), "{target}: a clone was left at the target ({status:?})");
        if sig == "INT" {
            assert_eq!(status.code(), Some(130), "Ctrl-C is handled: exit 130 (cli.md §7)");
            let left: Vec<String> = crate::common::names_in(&work);
            assert!(left.iter().all(|n| !n.starts_with(".bitsota-clone-")), "staging left behind: {left:?}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 5. Control characters from a record, a file name or the coordinator are shown, not obeyed

#[test]
fn control_characters_from_records_names_and_answers_are_made_visible() {
    let env = attack_env();
    let repo = env.bound(
        &[("solution.txt", b"base\n")],
        json!({"allowed_patch_paths": ["solution.txt", "x\x1b]52;c;cHduZWQ=\x07"]}),
    );
    let run = tool(
        &env,
        &repo,
        &["init", "demo-task", "--task-file", env.path("task-record.json").to_str().unwrap()],
    );
    let run = run.expect(0);
    assert!(!run.stdout.contains(&0x1b), "{}", run.out());
    assert!(run.out().contains(r"x\e]52;c;cHduZWQ=\x07"), "{}", run.out());

    // A file name carrying an escape sequence.
    let name = OsStr::from_bytes(b"evil\x1b[8mhidden");
    fs::write(repo.join(name), "x").unwrap();
    let run = tool(&env, &repo, &["check"]);
    assert!(!run.stdout.contains(&0x1b) && !run.stderr.contains('\x1b'), "{}{}", run.out(), run.stderr);
    assert!(run.out().contains(r"evil\e[8mhidden"), "{}", run.out());

    // A coordinator answer that is not JSON: an OSC 52 clipboard write must not pass.
    let fake = Fake::start();
    fake.push_fault(Fault::Raw(200, "text/plain", b"ok \x1b]52;c;cHduZWQ=\x07 done".to_vec()));
    let mut env = env;
    env.set("BITSOTA_COORDINATOR_URL", fake.url());
    let run = tool(&env, env.root(), &["request", "GET", "/api/v1/tasks", "--unsigned"]).expect(0);
    assert!(!run.stdout.contains(&0x1b), "{}", run.out());
    assert!(run.out().contains(r"ok \e]52;c;cHduZWQ=\x07 done"), "{}", run.out());
}

// ---------------------------------------------------------------------------------------------
// 6. The pre-push hook: a remote named like an option, a branch that is not UTF-8

fn hooked_clone(env: &Env) -> (PathBuf, PathBuf) {
    let repo = env.bound(&[("solution.txt", b"base\n")], json!({}));
    tool(env, &repo, &["hook", "install"]).expect(0);
    let remote = env.path("remote.git");
    env.git(env.root(), &["init", "-q", "--bare", remote.to_str().unwrap()]);
    (repo, remote)
}

#[test]
fn remote_named_help_does_not_bypass_the_hook() {
    let env = attack_env();
    let (repo, remote) = hooked_clone(&env);
    env.git(&repo, &["remote", "add", "--", "--help", remote.to_str().unwrap()]);
    write(&repo.join("outside.txt"), b"not allowed\n");
    env.git(&repo, &["add", "outside.txt"]);
    env.git(&repo, &["commit", "-q", "-m", "out of scope"]);
    let push = env.git_run(&repo, &["push", "--", "--help", "HEAD:refs/heads/out"]);
    let listed = env.git(&remote, &["for-each-ref", "--format=%(refname)"]);
    assert!(!listed.contains("refs/heads/out"), "the out-of-scope push went through: {}", push.stderr);
    assert_ne!(push.code, 0);
    assert!(push.stderr.contains("outside_allowed_paths"), "{}", push.stderr);
}

/// The body git-bitsota 0.1 installed, without `--`.
const HOOK_V1: &str = r#"#!/bin/sh
# installed by git-bitsota v1: checks pushed commits against the bound task's allowed paths.
# Remove it with `git bitsota hook uninstall`, or skip it once with `git push --no-verify`.
command -v git-bitsota >/dev/null 2>&1 || {
    echo >&2 "pre-push hook: 'git-bitsota' was not found on your PATH ($PATH)."
    echo >&2 "Install git-bitsota or add its directory to PATH (GUI git clients often use a shorter PATH)."
    echo >&2 "If you no longer want this check, delete the hook file: $0"
    exit 1
}
exec git bitsota check --pre-push "$@"
"#;

#[test]
fn an_installed_v1_hook_is_upgraded_to_the_body_with_the_separator() {
    let env = attack_env();
    let (repo, _remote) = hooked_clone(&env);
    let hook = repo.join(".git/hooks/pre-push");
    fs::write(&hook, HOOK_V1).unwrap();
    let status = tool(&env, &repo, &["hook", "status", "--json"]).expect(0).json();
    assert_eq!(status["status"], "outdated", "{status}");
    tool(&env, &repo, &["hook", "install"]).expect(0);
    let body = fs::read_to_string(&hook).unwrap();
    assert!(body.contains("exec git bitsota check --pre-push -- \"$@\""), "{body}");
}

#[test]
fn non_utf8_branch_pushes_when_the_change_is_allowed() {
    let env = attack_env();
    let (repo, remote) = hooked_clone(&env);
    env.git(&repo, &["remote", "add", "origin", remote.to_str().unwrap()]);
    write(&repo.join("solution.txt"), b"better\n");
    env.git(&repo, &["commit", "-q", "-am", "allowed change"]);
    let branch = OsStr::from_bytes(b"caf\xe9");
    let mut cmd = env.command("git", &repo);
    cmd.arg("branch").arg(branch);
    finish(cmd).expect(0);
    let mut cmd = env.command("git", &repo);
    cmd.args(["push", "origin"]).arg(branch);
    let push = finish(cmd);
    assert_eq!(push.code, 0, "{}", push.stderr);
    assert!(!push.stderr.contains("valid UTF-8"), "{}", push.stderr);
}

// ---------------------------------------------------------------------------------------------
// 7. Reliability: FIFO result file, death of git-bitsota, SIGQUIT, slow GETs

#[test]
fn fifo_result_file_fails_fast_instead_of_hanging() {
    let env = attack_env();
    let repo = env.bound(
        &[("bench.sh", b"mkfifo result.json; echo score=1\n")],
        json!({"benchmark_command": "sh bench.sh", "result_path": "result.json", "time_budget_seconds": 60}),
    );
    let mut cmd = env.command(bin(), &repo);
    cmd.args(["bench", "--yes", "--json"]).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let started = Instant::now();
    let status = wait_at_most(&mut child, Duration::from_secs(20));
    assert!(started.elapsed() < Duration::from_secs(20));
    let mut out = Vec::new();
    std::io::Read::read_to_end(child.stdout.as_mut().unwrap(), &mut out).unwrap();
    let v: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(status.code(), Some(1), "{v}");
    assert!(v["message"].as_str().unwrap().contains("not a regular file"), "{v}");
}

/// Start `bench` on a benchmark that records its process group and keeps children running.
fn start_long_bench(env: &Env) -> (PathBuf, Child, i32) {
    let script =
        b"cut -d' ' -f5 /proc/$$/stat > pgid.tmp; mv pgid.tmp pgid.txt; sleep 300 & sleep 301; wait\n";
    let repo = env.bound(&[("bench.sh", script)], json!({"benchmark_command": "sh bench.sh"}));
    let mut cmd = env.command(bin(), &repo);
    cmd.args(["bench", "--yes", "--json"]).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    let child = cmd.spawn().unwrap();
    let pgid: i32 = wait_for_file(&repo.join("pgid.txt"), Duration::from_secs(30)).trim().parse().unwrap();
    (repo, child, pgid)
}

fn group_gone_within(pgid: i32, limit: Duration) -> bool {
    let until = Instant::now() + limit;
    while Instant::now() < until {
        if !group_alive(pgid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn sigkill_of_git_bitsota_takes_the_benchmark_group_with_it() {
    let env = attack_env();
    let (_repo, mut child, pgid) = start_long_bench(&env);
    assert!(group_alive(pgid));
    signal(child.id(), "KILL");
    child.wait().unwrap();
    let gone = group_gone_within(pgid, Duration::from_secs(5));
    kill_group(pgid);
    assert!(gone, "the benchmark's process group outlived git-bitsota");
}

#[test]
fn sigquit_is_handled_like_ctrl_c() {
    let env = attack_env();
    let (repo, mut child, pgid) = start_long_bench(&env);
    signal(child.id(), "QUIT");
    let status = wait_at_most(&mut child, Duration::from_secs(20));
    let gone = group_gone_within(pgid, Duration::from_secs(5));
    kill_group(pgid);
    assert_eq!(status.code(), Some(130), "interrupted, cleaned up: {status:?}");
    assert!(gone, "the benchmark's group survived SIGQUIT");
    assert!(!repo.join("core").exists());
}

#[test]
fn one_deadline_covers_every_retry_of_a_get() {
    let fake = Fake::start();
    let mut env = attack_env();
    env.set("BITSOTA_COORDINATOR_URL", fake.url());
    env.set("BITSOTA_HTTP_TIMEOUT_SECS", "2");
    // Every answer asks to come back in a second: four attempts would take over 3 s.
    fake.set_fault(Some(Fault::RetryAfter(1)));
    let started = Instant::now();
    let run = tool(&env, env.root(), &["tasks", "--json"]);
    let took = started.elapsed();
    assert!(took < Duration::from_millis(2500), "the GET took {took:?}");
    assert_eq!(run.expect(5).error_code(), "rate_limited");
    assert!(fake.requests().len() <= 2, "{} attempts", fake.requests().len());
}

// ---------------------------------------------------------------------------------------------
// 8. The repository's hooks and fsmonitor never run

#[test]
fn spying_hooks_and_fsmonitor_never_run() {
    let env = attack_env();
    let repo = env.bound(
        &[("bench.sh", b"echo score=1\n"), ("solution.txt", b"base\n")],
        json!({"benchmark_command": "sh bench.sh"}),
    );
    let spied = env.path("spied");
    let spy = |name: &str| {
        let path = repo.join(".git/hooks").join(name);
        write(&path, format!("#!/bin/sh\necho {name} >> {}\n", spied.display()).as_bytes());
        Command::new("chmod").arg("+x").arg(&path).status().unwrap();
        path
    };
    for hook in ["post-index-change", "post-checkout", "reference-transaction"] {
        spy(hook);
    }
    let monitor = spy("fsmonitor-spy");
    env.git(&repo, &["config", "core.fsmonitor", monitor.to_str().unwrap()]);
    fs::remove_file(&spied).ok();
    write(&repo.join("solution.txt"), b"better\n");

    tool(&env, &repo, &["check", "--json"]).expect(0);
    tool(&env, &repo, &["diff"]).expect(0);
    tool(&env, &repo, &["bench", "--yes", "--json", "--baseline"]).expect(0);
    let ran = fs::read_to_string(&spied).unwrap_or_default();
    assert!(ran.is_empty(), "the repository's programs ran: {ran}");
    // Proof the spies work: git itself runs them.
    env.git(&repo, &["status", "--porcelain"]);
    assert!(fs::read_to_string(&spied).unwrap_or_default().contains("fsmonitor-spy"));
}

// ---------------------------------------------------------------------------------------------
// 2 (continued). No core file holds the secrets

#[test]
fn ctrl_backslash_leaves_no_core_file_with_the_mnemonic() {
    let pattern = fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap_or_default();
    assert!(
        !pattern.starts_with('|') && !pattern.contains('/'),
        "this test needs core files written to the current directory (core_pattern is {pattern:?})"
    );
    let fake = Fake::start();
    fake.set_fault(Some(Fault::Slow(Duration::from_secs(20))));
    let mut env = attack_env();
    env.set("BITSOTA_COORDINATOR_URL", fake.url());
    env.set("BITSOTA_HOTKEY_MNEMONIC", PHRASE);
    let cwd = env.path("cwd");
    fs::create_dir_all(&cwd).unwrap();
    // `tasks` is waiting on the coordinator when Ctrl-\ (SIGQUIT) arrives.
    let mut cmd = env.command("sh", &cwd);
    cmd.arg("-c").arg(format!("ulimit -c unlimited && exec '{}' tasks", bin()));
    cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let until = Instant::now() + Duration::from_secs(15);
    while fake.requests().is_empty() {
        assert!(Instant::now() < until, "the request never arrived");
        std::thread::sleep(Duration::from_millis(20));
    }
    signal(child.id(), "QUIT");
    wait_at_most(&mut child, Duration::from_secs(20));
    let cores: Vec<String> =
        crate::common::names_in(&cwd).into_iter().filter(|n| n.starts_with("core")).collect();
    assert!(cores.is_empty(), "a core file was written: {cores:?}");
}
