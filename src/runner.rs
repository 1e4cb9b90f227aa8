//! The process runner shared by `bench`, replays and agents: one command in its own process
//! group under one deadline, its output teed to the terminal and a log file and captured for
//! metric extraction, and everything it started killed when the deadline passes or the user
//! interrupts (SIGTERM, a grace period, SIGKILL, plus a Linux child subreaper for processes
//! that leave the group).

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal};

use crate::error::{Error, Result};
use crate::output::live::Tee;
use crate::output::Output;
use crate::timefmt::duration;

/// The fixed PATH validators give the commands.
const VALIDATOR_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// Variables validators set when they materialised a submission artifact; passed through from
/// the miner's environment so an artifact-first benchmark can run locally.
const ARTIFACT_VARS: [&str; 3] = [
    "AUTORESEARCH_SUBMISSION_ARTIFACT_PATH",
    "AUTORESEARCH_SUBMISSION_ARTIFACT_URI",
    "AUTORESEARCH_SUBMISSION_ARTIFACT_BYTES",
];
/// Variables holding (or naming files that hold) the hotkey secret: `BITSOTA_HOTKEY_MNEMONIC`,
/// `…_MNEMONIC_FILE`, `…_PASSWORD`, `…_PASSWORD_FILE`.
pub(crate) const SECRET_PREFIX: &str = "BITSOTA_HOTKEY_";
/// `git rev-parse --local-env-vars`: they describe the miner's invocation, not the checkout the
/// benchmark runs in.
const GIT_LOCAL_VARS: [&str; 15] = [
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_CONFIG",
    "GIT_CONFIG_PARAMETERS",
    "GIT_CONFIG_COUNT",
    "GIT_OBJECT_DIRECTORY",
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_IMPLICIT_WORK_TREE",
    "GIT_GRAFT_FILE",
    "GIT_INDEX_FILE",
    "GIT_NO_REPLACE_OBJECTS",
    "GIT_REPLACE_REF_BASE",
    "GIT_PREFIX",
    "GIT_SHALLOW_FILE",
    "GIT_COMMON_DIR",
];
/// How long a timed-out process group gets between SIGTERM and SIGKILL.
const KILL_GRACE: Duration = Duration::from_secs(2);
/// Output kept in memory per stream for metric extraction (the log file has all of it).
const CAPTURE_LIMIT: usize = 64 << 20;

/// The environment the task's commands run in: the validator's (a fixed PATH, `HOME` = the
/// checkout, the task's `validator_benchmark_env`), or with `inherit` the miner's own minus
/// the hotkey secrets and git's repository variables.
pub(crate) struct TaskEnv {
    pub(crate) inherit: bool,
    /// Pass `AUTORESEARCH_SUBMISSION_ARTIFACT_*` from the miner's environment into the
    /// validator's (a local `bench`); a replay of exact bytes never does.
    pub(crate) miner_artifact_vars: bool,
    pub(crate) task_vars: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub(crate) struct Step {
    pub(crate) name: &'static str,
    pub(crate) command: String,
    pub(crate) exit_code: Option<i32>,
    pub(crate) signal: Option<i32>,
    pub(crate) timed_out: bool,
    pub(crate) seconds: f64,
}

impl Step {
    pub(crate) fn outcome(&self) -> String {
        if self.timed_out {
            format!("timed out after {}", duration(self.seconds))
        } else if let Some(code) = self.exit_code {
            format!("exited with {code} after {}", duration(self.seconds))
        } else {
            format!("killed by signal {} after {}", self.signal.unwrap_or(0), duration(self.seconds))
        }
    }
}

/// While a benchmark runs in its own process group, Ctrl-C (or Ctrl-\\, SIGTERM, SIGHUP) no
/// longer reaches it: catch the signal ourselves so the group is killed and the temporary
/// worktree removed.
pub(crate) struct SignalGuard {
    _interrupt: crate::interrupt::Interrupt,
}

impl SignalGuard {
    pub(crate) fn install() -> SignalGuard {
        SignalGuard { _interrupt: crate::interrupt::Interrupt::catch() }
    }
}

pub(crate) fn interrupted_error() -> Error {
    Error::new(crate::error::Kind::Interrupted, "interrupted; the task's commands were stopped")
}

pub(crate) struct CommandRun {
    pub(crate) step: Step,
    pub(crate) stdout: Vec<u8>,
    pub(crate) stderr: Vec<u8>,
}

pub(crate) enum Chunk {
    Data(usize, Vec<u8>),
    Eof,
}

fn apply_env(cmd: &mut Command, env: &TaskEnv, dir: &Path) {
    if env.inherit {
        // Even an inherited environment never hands the hotkey secrets to the task's code, nor
        // git's repository variables, which would point the benchmark's own git commands at
        // the miner's repository instead of the checkout it runs in.
        for (key, _) in std::env::vars_os() {
            if key.to_str().is_some_and(|k| k.starts_with(SECRET_PREFIX) || GIT_LOCAL_VARS.contains(&k)) {
                cmd.env_remove(&key);
            }
        }
    } else {
        let passthrough: Vec<(&str, std::ffi::OsString)> = ARTIFACT_VARS
            .iter()
            .filter(|_| env.miner_artifact_vars)
            .filter_map(|k| std::env::var_os(k).map(|v| (*k, v)))
            .collect();
        cmd.env_clear();
        cmd.env("PATH", VALIDATOR_PATH).env("HOME", dir);
        for (key, value) in passthrough {
            cmd.env(key, value);
        }
    }
    cmd.env("LANG", "C.UTF-8")
        .env("LC_ALL", "C.UTF-8")
        .env("PYTHONNOUSERSITE", "1")
        .env("PIP_DISABLE_PIP_VERSION_CHECK", "1");
    for (key, value) in &env.task_vars {
        cmd.env(key, value);
    }
}

/// Run one command through `sh -c` in its own process group, teeing its output, until it exits
/// or the deadline passes (then the whole group is killed).
pub(crate) fn run_command(
    env: &TaskEnv,
    dir: &Path,
    command: &str,
    name: &'static str,
    deadline: Instant,
    log: &mut LogFile,
    tee: &mut Tee,
) -> Result<CommandRun> {
    log.line(&format!("$ {name}: {command}"));
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c").arg(command).current_dir(dir);
    apply_env(&mut cmd, env, dir);
    run_process(cmd, command, name, deadline, log, tee)
}

/// Run a prepared command (program, arguments, directory and environment set) in its own
/// process group with stdin closed, teeing its output, until it exits or the deadline passes
/// (then the whole group is killed). `command` is how the step is named in the log.
pub(crate) fn run_process(
    mut cmd: Command,
    command: &str,
    name: &'static str,
    deadline: Instant,
    log: &mut LogFile,
    tee: &mut Tee,
) -> Result<CommandRun> {
    use std::os::unix::process::CommandExt;

    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).process_group(0);
    die_with_parent(&mut cmd);
    let started = Instant::now();
    // Before the spawn, so even a process that escapes the group at once is caught.
    let mut reaper = subreaper::Subreaper::enable();
    let mut child = cmd.spawn().map_err(|e| {
        Error::usage(format!("could not start the {name} command `{command}`")).with_source(e)
    })?;
    let pgid = child.id() as libc::pid_t;
    // If git-bitsota itself is killed (SIGKILL, a crash), the group must not live on.
    let mut keeper = keeper::start(pgid);

    let (tx, rx) = mpsc::channel();
    let mut readers = 0;
    if let Some(pipe) = child.stdout.take() {
        spawn_reader(pipe, 0, tx.clone());
        readers += 1;
    }
    if let Some(pipe) = child.stderr.take() {
        spawn_reader(pipe, 1, tx.clone());
        readers += 1;
    }
    drop(tx);

    let mut captured = [Capture::default(), Capture::default()];
    let mut exit = None;
    let mut timed_out = false;
    tee.phase(name);
    loop {
        if exit.is_none() {
            exit = child.try_wait().ok().flatten();
        }
        if exit.is_some() && readers == 0 {
            break;
        }
        if crate::interrupt::interrupted() {
            kill_group(pgid, &mut child, &mut reaper);
            let _ = child.wait();
            reaper.sweep(pgid);
            tee.clear();
            log.line("# interrupted");
            return Err(interrupted_error());
        }
        let now = Instant::now();
        if now >= deadline {
            timed_out = true;
            kill_group(pgid, &mut child, &mut reaper);
            break;
        }
        match rx.recv_timeout((deadline - now).min(Duration::from_millis(200))) {
            Ok(Chunk::Data(stream, bytes)) => {
                log.bytes(&bytes);
                tee.write(&bytes);
                captured[stream].push(&bytes);
            }
            Ok(Chunk::Eof) => readers -= 1,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => readers = 0,
        }
        tee.tick();
        reaper.reap_exited(pgid);
    }
    // Daemons the command left behind are part of its run; validators' containers end them too.
    signal_group(pgid, Signal::KILL);
    if let Some(keeper) = keeper.as_mut() {
        let _ = keeper.wait();
    }
    let status = match exit {
        Some(status) => Some(status),
        None => child.wait().ok(),
    };
    // Then those that left the group (`setsid`, double forks), which may hold our pipes.
    reaper.sweep(pgid);
    drop(reaper);
    if timed_out {
        // Collect what the killed group wrote last, without waiting on a pipe held elsewhere.
        let until = Instant::now() + Duration::from_secs(1);
        while readers > 0 {
            let left = until.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(Chunk::Data(stream, bytes)) => {
                    log.bytes(&bytes);
                    tee.write(&bytes);
                    captured[stream].push(&bytes);
                }
                Ok(Chunk::Eof) => readers -= 1,
                Err(_) => break,
            }
        }
    }
    tee.clear();
    use std::os::unix::process::ExitStatusExt;
    let step = Step {
        name,
        command: command.to_string(),
        exit_code: status.and_then(|s| s.code()),
        signal: status.and_then(|s| s.signal()),
        timed_out,
        seconds: started.elapsed().as_secs_f64(),
    };
    log.line(&format!("\n# {name}: {}", step.outcome()));
    let [stdout, stderr] = captured;
    Ok(CommandRun { step, stdout: stdout.bytes, stderr: stderr.bytes })
}

fn spawn_reader(mut pipe: impl Read + Send + 'static, stream: usize, tx: mpsc::Sender<Chunk>) {
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match pipe.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    if tx.send(Chunk::Data(stream, buf[..n].to_vec())).is_err() {
                        return;
                    }
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
        }
        let _ = tx.send(Chunk::Eof);
    });
}

/// Processes that leave the command's process group (`setsid`, a daemon's double fork) are
/// out of reach of a group kill. On Linux we become a child subreaper while the command runs:
/// its orphaned descendants are re-parented to us instead of to init, so they can be found (by
/// parent pid in `/proc`) and killed with their own process groups. Not covered: processes
/// handed to another service (systemd-run, a container runtime, at/cron), and non-Linux systems.
mod subreaper {
    #[cfg(target_os = "linux")]
    use std::time::{Duration, Instant};

    #[cfg(target_os = "linux")]
    use rustix::process::{Pid, Signal};

    pub struct Subreaper {
        active: bool,
        #[cfg(target_os = "linux")]
        last_reap: Instant,
    }

    impl Subreaper {
        pub fn enable() -> Subreaper {
            #[cfg(target_os = "linux")]
            {
                // Any non-zero value turns the flag on; rustix passes the pid given.
                let active = rustix::process::set_child_subreaper(Some(rustix::process::getpid())).is_ok();
                Subreaper { active, last_reap: Instant::now() }
            }
            #[cfg(not(target_os = "linux"))]
            Subreaper { active: false }
        }

        /// Reap orphans that already exited, so a long run does not pile up zombies; `keep` is
        /// the command itself, which `Child` waits for.
        pub fn reap_exited(&mut self, keep: libc::pid_t) {
            #[cfg(target_os = "linux")]
            if self.last_reap.elapsed() >= Duration::from_secs(1) {
                self.reap_now(keep);
            }
            #[cfg(not(target_os = "linux"))]
            let _ = keep;
        }

        /// As [`Self::reap_exited`], without the rate limit: while a killed group winds down,
        /// its zombies re-parented to us would otherwise keep the group looking alive.
        pub fn reap_now(&mut self, keep: libc::pid_t) {
            #[cfg(target_os = "linux")]
            {
                if !self.active {
                    return;
                }
                self.last_reap = Instant::now();
                for (pid, zombie) in children() {
                    if zombie && pid != keep {
                        reap(pid);
                    }
                }
            }
            #[cfg(not(target_os = "linux"))]
            let _ = keep;
        }

        /// Kill every process re-parented to us, with its process group, until none is left
        /// and the command's (killed) group `pgid` is gone: its members re-parent their
        /// children to us only as they finish exiting. Call it once the command itself has
        /// been waited for.
        pub fn sweep(&self, pgid: libc::pid_t) {
            #[cfg(not(target_os = "linux"))]
            let _ = pgid;
            #[cfg(target_os = "linux")]
            {
                if !self.active {
                    return;
                }
                let until = Instant::now() + Duration::from_secs(2);
                loop {
                    let found = children();
                    let group_left = super::group_alive(pgid);
                    if (found.is_empty() && !group_left) || Instant::now() >= until {
                        return;
                    }
                    for (pid, zombie) in &found {
                        if !zombie {
                            // `pid` is our child; `-pid` is only the group it leads, if any.
                            super::signal_group(*pid, Signal::KILL);
                            if let Some(pid) = Pid::from_raw(*pid) {
                                let _ = rustix::process::kill_process(pid, Signal::KILL);
                            }
                        }
                    }
                    std::thread::sleep(Duration::from_millis(20));
                    for (pid, _) in found {
                        reap(pid);
                    }
                }
            }
        }
    }

    impl Drop for Subreaper {
        fn drop(&mut self) {
            #[cfg(target_os = "linux")]
            if self.active {
                let _ = rustix::process::set_child_subreaper(None);
            }
        }
    }

    /// Reap one specific child of ours if it has exited, without blocking.
    #[cfg(target_os = "linux")]
    fn reap(pid: libc::pid_t) {
        if let Some(pid) = Pid::from_raw(pid) {
            let _ = rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::NOHANG);
        }
    }

    /// Our child processes, with whether each is a zombie, from `/proc/<pid>/stat`.
    #[cfg(target_os = "linux")]
    fn children() -> Vec<(libc::pid_t, bool)> {
        let me = std::process::id() as libc::pid_t;
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for entry in dir.flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<libc::pid_t>().ok()) else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            // `pid (comm) state ppid …`; comm may contain spaces and parentheses.
            let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
                continue;
            };
            let mut fields = rest.split_whitespace();
            let state = fields.next().unwrap_or("");
            if fields.next().and_then(|p| p.parse::<libc::pid_t>().ok()) == Some(me) {
                out.push((pid, state == "Z"));
            }
        }
        out
    }
}

/// SIGTERM to the group, a short grace, then SIGKILL to whatever is left.
fn kill_group(pgid: libc::pid_t, child: &mut Child, reaper: &mut subreaper::Subreaper) {
    signal_group(pgid, Signal::TERM);
    let until = Instant::now() + KILL_GRACE;
    let mut reaped = false;
    while Instant::now() < until {
        if !reaped {
            reaped = matches!(child.try_wait(), Ok(Some(_)));
        }
        reaper.reap_now(pgid);
        if reaped && !group_alive(pgid) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    signal_group(pgid, Signal::KILL);
}

/// Send `signal` to the process group `pgid` (a group this runner created).
fn signal_group(pgid: libc::pid_t, signal: Signal) {
    if let Some(pgid) = Pid::from_raw(pgid) {
        let _ = rustix::process::kill_process_group(pgid, signal);
    }
}

/// Whether any process of the group `pgid` is left (signal 0).
fn group_alive(pgid: libc::pid_t) -> bool {
    Pid::from_raw(pgid).is_some_and(|pgid| rustix::process::test_kill_process_group(pgid).is_ok())
}

/// The command's `sh` (the group leader) gets SIGKILL when git-bitsota dies (Linux
/// `PR_SET_PDEATHSIG`); the [`keeper`] takes care of the rest of the group.
fn die_with_parent(cmd: &mut Command) {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        let parent = rustix::process::getpid();
        // SAFETY: the closure runs in the forked child before exec, where only async-signal-
        // safe work is allowed: it makes two system calls (prctl, getppid) through rustix,
        // without allocating, locking or touching any state shared with the parent.
        unsafe {
            cmd.pre_exec(move || {
                rustix::process::set_parent_process_death_signal(Some(Signal::KILL))?;
                // The parent may have died before the prctl: then nothing would ever signal us.
                if rustix::process::getppid() != Some(parent) {
                    return Err(std::io::ErrorKind::Other.into());
                }
                Ok(())
            });
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = cmd;
}

/// A small process in the command's group (git-bitsota itself, started with
/// [`keeper::ENV`]) that kills the whole group as soon as its parent, this git-bitsota, is gone:
/// a SIGKILL of git-bitsota cannot be caught, and a process group has no "die with the
/// parent" of its own. It is killed with the group when the command ends.
pub mod keeper {
    use std::process::{Child, Command, Stdio};
    use std::time::Duration;

    use rustix::process::{Pid, Signal};

    /// Set to this process's pid in the keeper's environment; `main` checks it first.
    pub const ENV: &str = "BITSOTA_INTERNAL_GROUP_KEEPER";

    /// Start the keeper in group `pgid`; `None` when it cannot be started (the group leader's
    /// death signal still applies).
    pub(crate) fn start(pgid: libc::pid_t) -> Option<Child> {
        use std::os::unix::process::CommandExt;
        let exe = std::env::current_exe().ok()?;
        Command::new(exe)
            .env_clear()
            .env(ENV, std::process::id().to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(pgid)
            .spawn()
            .ok()
    }

    /// The keeper's whole life: wait until the parent named in [`ENV`] is no longer our parent,
    /// then SIGKILL our process group (ourselves included). Returns an exit status if [`ENV`]
    /// is not a pid.
    pub fn run(parent: &std::ffi::OsStr) -> i32 {
        let Some(parent) = parent.to_str().and_then(|p| p.parse::<i32>().ok()).and_then(Pid::from_raw) else {
            return 2;
        };
        while rustix::process::getppid() == Some(parent) {
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = rustix::process::kill_current_process_group(Signal::KILL);
        1
    }
}

/// The tail of one output stream, kept for metric extraction.
#[derive(Default)]
pub(crate) struct Capture {
    bytes: Vec<u8>,
}

impl Capture {
    fn push(&mut self, chunk: &[u8]) {
        self.bytes.extend_from_slice(chunk);
        if self.bytes.len() > CAPTURE_LIMIT + CAPTURE_LIMIT / 4 {
            let cut = self.bytes.len() - CAPTURE_LIMIT;
            self.bytes.drain(..cut);
        }
    }
}

/// The full log under the git dir.
pub(crate) struct LogFile {
    file: Option<File>,
    path: PathBuf,
    out: Output,
}

impl LogFile {
    pub(crate) fn create(path: &Path, out: &Output) -> Result<LogFile> {
        let file = OpenOptions::new().write(true).create_new(true).open(path).map_err(|e| {
            Error::usage(format!("cannot create the log file {}", path.display())).with_source(e)
        })?;
        Ok(LogFile { file: Some(file), path: path.to_path_buf(), out: out.clone() })
    }
    pub(crate) fn bytes(&mut self, bytes: &[u8]) {
        if let Some(file) = &mut self.file {
            if let Err(e) = file.write_all(bytes) {
                // Keep the benchmark running; say once that the log is incomplete.
                self.out.warn(format!("writing {} failed ({e}); the log is incomplete", self.path.display()));
                self.file = None;
            }
        }
    }
    pub(crate) fn line(&mut self, text: &str) {
        self.bytes(format!("{text}\n").as_bytes());
    }
}
