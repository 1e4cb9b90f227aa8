//! Scratch checkouts: a linked worktree at one commit under the git dir, for runs that must not
//! see (or touch) the miner's work tree. Removed and pruned from git's worktree list on drop.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::error::{Error, Result, ResultExt};
use crate::repo::{short_oid, Repo};

/// A temporary detached worktree, removed (and pruned) when dropped.
pub(crate) struct TempWorktree {
    repo: Repo,
    dir: PathBuf,
}

impl TempWorktree {
    /// `git worktree add --detach` of `commit` at `<common dir>/bitsota/<label>-<pid>-<nanos>`,
    /// without running the miner's hooks (every git call pins core.hooksPath=/dev/null).
    pub(crate) fn add(repo: &Repo, commit: &str, label: &str) -> Result<TempWorktree> {
        let parent = repo.common_dir().join("bitsota");
        fs::create_dir_all(&parent).or_usage(|| format!("cannot create {}", parent.display()))?;
        let nanos =
            SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
        let dir = parent.join(format!("{label}-{}-{nanos}", std::process::id()));
        // Writing the files dominates (50,000 of them take seconds; on ext4, right after a
        // previous replay deleted as many, tens of seconds of kernel time): git's parallel
        // checkout spreads it over worker processes. `worktree add` passes `-c` on to the
        // `reset --hard` that checks out.
        let workers = format!("checkout.workers={}", checkout_workers());
        repo.git()
            .args(["-c", &workers, "worktree", "add", "--detach", "--quiet"])
            .arg(&dir)
            .arg(commit)
            .output()
            .map_err(|e| {
                Error::usage(format!("cannot create a temporary worktree at {}", short_oid(commit)))
                    .with_source(e)
            })?;
        Ok(TempWorktree { repo: repo.clone(), dir })
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Parallel checkout workers: four per core, at most 16. The work is mostly waiting in the
/// file system, so more workers than cores still pay (benches/replay.sh, README).
fn checkout_workers() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cores * 4).min(16)
}

impl Drop for TempWorktree {
    fn drop(&mut self) {
        let _ = self.repo.git().args(["worktree", "remove", "--force", "--force"]).arg(&self.dir).output();
        if self.dir.exists() {
            let _ = fs::remove_dir_all(&self.dir);
        }
        let _ = self.repo.git().args(["worktree", "prune"]).output();
    }
}
