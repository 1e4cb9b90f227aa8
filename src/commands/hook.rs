//! `git bitsota hook install [--force] [--print] | uninstall | status`: the pre-push hook that
//! runs `git bitsota check --pre-push` (cli.md §6).
//!
//! The hook is ours only when its content is exactly one of the bodies some git-bitsota release
//! wrote ([`SHIPPED`]); anything else is foreign and is never changed without `--force`.

use std::fs;
use std::io::{ErrorKind, Read};
use std::path::{Component, Path, PathBuf};

use serde_json::json;

use crate::ctx::Ctx;
use crate::error::{Error, Result, ResultExt};
use crate::repo::Repo;

const HOOK_NAME: &str = "pre-push";
const BACKUP_NAME: &str = "pre-push.bitsota-backup";

/// The hook this version writes. Changing it means appending the new body to [`SHIPPED`] (and
/// bumping the marker), never editing an entry: old bodies must stay recognisable.
const CURRENT: &str = HOOK_V2;

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

/// v2: `--` before git's arguments, so a remote named like an option (`--help`) is read as the
/// remote, not as an option that makes `check` print help and let the push through.
const HOOK_V2: &str = r#"#!/bin/sh
# installed by git-bitsota v2: checks pushed commits against the bound task's allowed paths.
# Remove it with `git bitsota hook uninstall`, or skip it once with `git push --no-verify`.
command -v git-bitsota >/dev/null 2>&1 || {
    echo >&2 "pre-push hook: 'git-bitsota' was not found on your PATH ($PATH)."
    echo >&2 "Install git-bitsota or add its directory to PATH (GUI git clients often use a shorter PATH)."
    echo >&2 "If you no longer want this check, delete the hook file: $0"
    exit 1
}
exec git bitsota check --pre-push -- "$@"
"#;

/// Every hook body any git-bitsota release has written, oldest first; the last is [`CURRENT`].
const SHIPPED: &[&str] = &[HOOK_V1, HOOK_V2];

/// Hooks are small scripts; a bigger file is not one of ours and is not shown whole.
const READ_LIMIT: u64 = 64 * 1024;
/// How much of a foreign hook is shown when refusing to replace it.
const SHOW_LINES: usize = 12;

/// Directory names that belong to hook managers: a hook written there is regenerated away or
/// bypasses the manager's configuration.
const MANAGED_DIRS: &[(&str, &str)] = &[
    (".husky", "husky"),
    ("husky", "husky"),
    (".lefthook", "lefthook"),
    ("lefthook", "lefthook"),
    (".pre-commit", "pre-commit"),
    ("pre-commit", "pre-commit"),
    (".overcommit", "overcommit"),
    (".yorkie", "yorkie"),
    (".simple-git-hooks", "simple-git-hooks"),
];

/// Markers hook managers leave in the scripts they generate.
const MANAGER_MARKERS: &[(&str, &str)] = &[
    ("husky", "husky"),
    ("pre-commit", "pre-commit"),
    ("lefthook", "lefthook"),
    ("overcommit", "overcommit"),
    ("simple-git-hooks", "simple-git-hooks"),
    ("git-lfs", "git-lfs"),
];

/// What is at the hook path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Existing {
    Absent,
    /// Empty or whitespace only: nothing to lose.
    Empty,
    /// Ours, the current body and executable.
    Current,
    /// Ours but an older body (or not executable any more).
    Outdated,
    /// Anything else; the first bytes are kept to show them.
    Foreign(String),
}

/// Classify hook `content` against the bodies in `shipped` (last = current).
fn classify(content: &str, executable: bool, shipped: &[&str]) -> Existing {
    let trimmed = content.trim();
    if trimmed.is_empty() {
        return Existing::Empty;
    }
    // CRLF endings (a checkout or editor on Windows) do not make a body foreign.
    let normalised = trimmed.replace("\r\n", "\n");
    match shipped.iter().position(|body| body.trim() == normalised) {
        Some(i) if i + 1 == shipped.len() && executable => Existing::Current,
        Some(_) => Existing::Outdated,
        None => Existing::Foreign(content.to_string()),
    }
}

/// Why installing into the hooks directory would be a bad idea, if it would.
#[derive(Debug, Clone)]
enum Redirect {
    /// `core.hooksPath` points outside this repository (shared by other repositories).
    Outside,
    /// `core.hooksPath` points into a hook manager's directory.
    Managed(&'static str),
}

/// Where the hook goes, and what `core.hooksPath` says about it.
struct Place {
    dir: PathBuf,
    hook: PathBuf,
    backup: PathBuf,
    hooks_path: Option<String>,
    hooks_path_origin: Option<String>,
    redirect: Option<Redirect>,
    /// Set when the hooks dir is inside the work tree (the hook would show as untracked).
    in_work_tree: Option<PathBuf>,
}

fn locate(repo: &Repo) -> Result<Place> {
    let raw = repo.git().reading_hooks_config().args(["rev-parse", "--git-path", "hooks"]).output()?;
    let text = String::from_utf8(raw)
        .map_err(|_| Error::usage("`git rev-parse --git-path hooks` printed a path that is not UTF-8"))?;
    let text = text.trim_end_matches(['\n', '\r']);
    if text.is_empty() {
        return Err(Error::usage("`git rev-parse --git-path hooks` printed nothing"));
    }
    // A relative answer is relative to where git ran: the work tree root.
    let dir = absolute(&repo.work_tree().join(text));

    let (hooks_path, hooks_path_origin) = hooks_path_config(repo)?;
    let work_tree = canonical_or_lexical(repo.work_tree());
    let common = canonical_or_lexical(repo.common_dir());
    let git_dir = canonical_or_lexical(repo.git_dir());
    let resolved = canonical_or_lexical(&dir);
    let inside =
        resolved.starts_with(&work_tree) || resolved.starts_with(&common) || resolved.starts_with(&git_dir);
    let in_git_dir = resolved.starts_with(&common) || resolved.starts_with(&git_dir);
    let redirect = if hooks_path.is_none() {
        None
    } else if let Some(manager) = managed_by(&resolved) {
        Some(Redirect::Managed(manager))
    } else if !inside {
        Some(Redirect::Outside)
    } else {
        None
    };
    let in_work_tree =
        (!in_git_dir).then(|| resolved.strip_prefix(&work_tree).ok().map(Path::to_path_buf)).flatten();
    Ok(Place {
        hook: dir.join(HOOK_NAME),
        backup: dir.join(BACKUP_NAME),
        dir,
        hooks_path,
        hooks_path_origin,
        redirect,
        in_work_tree,
    })
}

/// `core.hooksPath` and the config file that sets it, when set.
fn hooks_path_config(repo: &Repo) -> Result<(Option<String>, Option<String>)> {
    let (code, stdout, _) = repo
        .git()
        .reading_hooks_config()
        .args(["config", "--show-origin", "--get", "core.hooksPath"])
        .output_any()?;
    if code != Some(0) {
        return Ok((None, None));
    }
    let text = String::from_utf8_lossy(&stdout);
    let line = text.trim_end_matches(['\n', '\r']);
    // `<origin>\t<value>`
    match line.split_once('\t') {
        Some((origin, value)) => Ok((Some(value.to_string()), Some(origin.to_string()))),
        None => Ok((Some(line.to_string()), None)),
    }
}

fn managed_by(path: &Path) -> Option<&'static str> {
    path.components().find_map(|c| match c {
        Component::Normal(name) => {
            let name = name.to_str()?;
            MANAGED_DIRS.iter().find(|(dir, _)| *dir == name).map(|(_, manager)| *manager)
        }
        _ => None,
    })
}

fn manager_of_script(content: &str) -> Option<&'static str> {
    let lower = content.to_ascii_lowercase();
    MANAGER_MARKERS.iter().find(|(marker, _)| lower.contains(marker)).map(|(_, name)| *name)
}

/// Make `path` absolute without touching the file system more than needed.
fn absolute(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Canonical form of `path`, canonicalising the longest existing ancestor when the path does
/// not exist yet (a hooks dir that install will create).
fn canonical_or_lexical(path: &Path) -> PathBuf {
    let path = absolute(path);
    let mut existing = path.as_path();
    let mut rest = Vec::new();
    loop {
        if let Ok(canon) = fs::canonicalize(existing) {
            let mut out = canon;
            for part in rest.iter().rev() {
                out.push(part);
            }
            return out;
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                existing = parent;
            }
            _ => return path,
        }
    }
}

/// Read what is at the hook path.
fn inspect(hook: &Path) -> Result<Existing> {
    let file = match fs::File::open(hook) {
        Ok(file) => file,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            // A dangling symlink is still something we must not clobber silently.
            if fs::symlink_metadata(hook).is_ok() {
                return Ok(Existing::Foreign(format!(
                    "(a symbolic link to a missing file: {})",
                    link_target(hook)
                )));
            }
            return Ok(Existing::Absent);
        }
        Err(e) => return Err(Error::usage(format!("cannot read the hook {}", hook.display())).with_source(e)),
    };
    let meta = file.metadata().or_usage(|| format!("cannot read the hook {}", hook.display()))?;
    if !meta.is_file() {
        return Ok(Existing::Foreign(format!("(not a regular file: {})", hook.display())));
    }
    let mut bytes = Vec::new();
    file.take(READ_LIMIT)
        .read_to_end(&mut bytes)
        .or_usage(|| format!("cannot read the hook {}", hook.display()))?;
    let content = String::from_utf8_lossy(&bytes).into_owned();
    if fs::symlink_metadata(hook).is_ok_and(|m| m.file_type().is_symlink()) {
        // A symlinked hook is shared with something else: never ours.
        return Ok(match classify(&content, true, &[]) {
            Existing::Empty => Existing::Foreign(format!("(a symbolic link to {})", link_target(hook))),
            other => other,
        });
    }
    Ok(classify(&content, is_executable(&meta), SHIPPED))
}

fn link_target(path: &Path) -> String {
    fs::read_link(path).map(|t| t.display().to_string()).unwrap_or_else(|_| "?".to_string())
}

fn is_executable(meta: &fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o111 != 0
}

/// Write the hook atomically: a temporary file in the same directory, mode 0755, renamed over.
fn write_hook(place: &Place) -> Result<()> {
    let fail = |what: &str, e: std::io::Error| {
        Error::usage(format!("cannot {what} {}", place.dir.display())).with_source(e)
    };
    fs::create_dir_all(&place.dir).map_err(|e| fail("create the hooks directory", e))?;
    crate::fsutil::write_atomic(&place.hook, CURRENT.as_bytes(), Some(0o755))
        .map_err(|e| fail("write the pre-push hook in", e))
}

/// A hook inside the work tree would show up as an untracked change (and `check` would flag
/// it); keep it out with a line in `info/exclude`.
fn exclude_hook(repo: &Repo, rel_dir: &Path) -> Result<()> {
    let Some(rel) = rel_dir.join(HOOK_NAME).to_str().map(|s| format!("/{s}")) else {
        return Ok(());
    };
    repo.add_exclude_line("the pre-push hook is not part of the work", &rel)
}

fn show_foreign(ctx: &Ctx, hook: &Path, content: &str) {
    let manager = manager_of_script(content).map(|m| format!(" (it looks like {m}'s)")).unwrap_or_default();
    ctx.out.warn(format!("{} is not a git-bitsota hook{manager}; its first lines:", hook.display()));
    let lines: Vec<&str> = content.lines().collect();
    for line in lines.iter().take(SHOW_LINES) {
        ctx.out.warn(format!("  | {line}"));
    }
    if lines.len() > SHOW_LINES {
        ctx.out.warn(format!("  | … ({} more lines)", lines.len() - SHOW_LINES));
    }
}

fn redirect_error(place: &Place) -> Option<Error> {
    let value = place.hooks_path.as_deref().unwrap_or("?");
    let origin = place.hooks_path_origin.as_deref().map(|o| format!(" (set in {o})")).unwrap_or_default();
    let message = match place.redirect.as_ref()? {
        Redirect::Outside => format!(
            "core.hooksPath = {value}{origin} points outside this repository ({}); a hook installed there \
             runs for every repository that uses that directory",
            place.dir.display()
        ),
        Redirect::Managed(manager) => format!(
            "core.hooksPath = {value}{origin} points into {manager}'s directory ({}); {manager} owns and \
             regenerates the hooks there",
            place.dir.display()
        ),
    };
    let hint = match place.redirect.as_ref()? {
        Redirect::Outside => "install anyway with `git bitsota hook install --force`, or print the lines to add to \
                              your own hook with `git bitsota hook install --print`",
        Redirect::Managed(_) => "add `git bitsota check --pre-push -- \"$@\"` to the manager's pre-push configuration \
                                 (see `git bitsota hook install --print`), or write the hook anyway with --force",
    };
    Some(Error::usage(message).with_code("hooks_path_redirected").with_hint(hint))
}

pub fn install(ctx: &Ctx, force: bool, print: bool) -> Result<()> {
    let repo = ctx.repo()?;
    let place = locate(&repo)?;
    if print {
        return print_hook(ctx, &place);
    }
    let existing = inspect(&place.hook)?;
    if matches!(existing, Existing::Current) {
        report_install(ctx, &place, Installed::Unchanged, None)?;
        return warn_if_unbound(ctx, &repo);
    }
    if !force {
        if let Some(err) = redirect_error(&place) {
            return Err(err);
        }
    }
    let mut backup = None;
    let action = match &existing {
        // Returned above; nothing to write.
        Existing::Current => return warn_if_unbound(ctx, &repo),
        Existing::Absent | Existing::Empty => Installed::New,
        Existing::Outdated => Installed::Upgraded,
        Existing::Foreign(content) => {
            if !force {
                show_foreign(ctx, &place.hook, content);
                return Err(Error::usage(format!(
                    "a pre-push hook that git-bitsota did not write already exists at {}",
                    place.hook.display()
                ))
                .with_code("foreign_hook")
                .with_hint(format!(
                    "`git bitsota hook install --print` prints the lines to merge into it by hand; \
                     `git bitsota hook install --force` moves it to {BACKUP_NAME} and installs ours"
                )));
            }
            back_up(&place)?;
            backup = Some(place.backup.clone());
            Installed::Replaced
        }
    };
    if let Err(err) = write_hook(&place) {
        // Put a moved-away foreign hook back rather than leave no hook at all.
        if backup.is_some() {
            let _ = fs::rename(&place.backup, &place.hook);
        }
        return Err(err);
    }
    if let Some(rel) = &place.in_work_tree {
        exclude_hook(&repo, rel)?;
    }
    report_install(ctx, &place, action, backup.as_deref())?;
    warn_if_unbound(ctx, &repo)
}

/// Move a foreign hook to the backup name, refusing to overwrite a different earlier backup.
fn back_up(place: &Place) -> Result<()> {
    if fs::symlink_metadata(&place.backup).is_ok() {
        let same = match (fs::read(&place.backup), fs::read(&place.hook)) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        };
        if !same {
            return Err(Error::usage(format!(
                "a backup of an earlier hook already exists at {}",
                place.backup.display()
            ))
            .with_code("backup_exists")
            .with_hint("move or delete that backup first; --force never overwrites one"));
        }
    }
    fs::rename(&place.hook, &place.backup).map_err(|e| {
        Error::usage(format!("cannot move {} to {}", place.hook.display(), place.backup.display()))
            .with_source(e)
    })
}

/// What `hook install` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Installed {
    New,
    Unchanged,
    Upgraded,
    Replaced,
}

impl Installed {
    fn as_str(self) -> &'static str {
        match self {
            Installed::New => "installed",
            Installed::Unchanged => "unchanged",
            Installed::Upgraded => "upgraded",
            Installed::Replaced => "replaced",
        }
    }
}

/// What `hook status` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HookStatus {
    Installed,
    Outdated,
    Redirected,
    Foreign,
    Absent,
}

impl HookStatus {
    fn as_str(self) -> &'static str {
        match self {
            HookStatus::Installed => "installed",
            HookStatus::Outdated => "outdated",
            HookStatus::Redirected => "redirected",
            HookStatus::Foreign => "foreign",
            HookStatus::Absent => "absent",
        }
    }
}

fn report_install(ctx: &Ctx, place: &Place, action: Installed, backup: Option<&Path>) -> Result<()> {
    if ctx.out.is_json() {
        return ctx.out.json(&json!({
            "version": 1,
            "status": "installed",
            "action": action.as_str(),
            "path": place.hook.display().to_string(),
            "backup": backup.map(|b| b.display().to_string()),
        }));
    }
    let path = place.hook.display();
    match action {
        Installed::Unchanged => ctx.out.line(format!("the pre-push hook is already installed at {path}"))?,
        Installed::Upgraded => ctx.out.line(format!("upgraded the pre-push hook at {path}"))?,
        Installed::New | Installed::Replaced => {
            ctx.out.line(format!("installed the pre-push hook at {path}"))?
        }
    }
    if let Some(backup) = backup {
        ctx.out.info(format!(
            "the previous hook was moved to {}; `git bitsota hook uninstall` puts it back",
            backup.display()
        ));
    }
    if place.redirect.is_some() {
        ctx.out.warn(format!(
            "installed despite core.hooksPath = {} (--force)",
            place.hooks_path.as_deref().unwrap_or("?")
        ));
    }
    Ok(())
}

/// After install: a hook in an unbound clone refuses every push, so say so.
fn warn_if_unbound(ctx: &Ctx, repo: &Repo) -> Result<()> {
    match ctx.state_file(repo).read() {
        Ok(Some(_)) => {
            ctx.out.hint(format!(
                "pushes now run `git bitsota check --pre-push`; skip it once with {}=1 or `git push --no-verify`",
                crate::check::SKIP_VAR
            ));
        }
        Ok(None) => ctx.out.warn(
            "this clone is not bound to a task yet, so the hook will refuse pushes; bind it with `git bitsota init TASK`",
        ),
        Err(_) => ctx.out.warn("the state file cannot be read, so the hook will refuse pushes until it is fixed"),
    }
    Ok(())
}

fn print_hook(ctx: &Ctx, place: &Place) -> Result<()> {
    if ctx.out.is_json() {
        return ctx.out.json(&json!({
            "version": 1,
            "hook": CURRENT,
            "path": place.hook.display().to_string(),
        }));
    }
    ctx.out.bytes(CURRENT.as_bytes())?;
    ctx.out.hint(format!(
        "to merge by hand, add the `command -v` guard and `git bitsota check --pre-push -- \"$@\"` to {} \
         (it must get the hook's arguments and stdin), or to your hook manager's pre-push step",
        place.hook.display()
    ));
    Ok(())
}

pub fn uninstall(ctx: &Ctx) -> Result<()> {
    let repo = ctx.repo()?;
    let place = locate(&repo)?;
    let existing = inspect(&place.hook)?;
    let has_backup = fs::symlink_metadata(&place.backup).is_ok();
    let removed = match existing {
        Existing::Foreign(content) => {
            show_foreign(ctx, &place.hook, &content);
            return Err(Error::usage(format!(
                "the pre-push hook at {} was not written by git-bitsota; leaving it alone",
                place.hook.display()
            ))
            .with_code("foreign_hook")
            .with_hint("edit or delete it yourself if it runs `git bitsota check --pre-push`"));
        }
        Existing::Absent => false,
        Existing::Empty | Existing::Current | Existing::Outdated => {
            fs::remove_file(&place.hook).map_err(|e| {
                Error::usage(format!("cannot remove {}", place.hook.display())).with_source(e)
            })?;
            true
        }
    };
    let restored = if has_backup {
        fs::rename(&place.backup, &place.hook).map_err(|e| {
            Error::usage(format!("cannot restore {} to {}", place.backup.display(), place.hook.display()))
                .with_source(e)
        })?;
        true
    } else {
        false
    };
    if ctx.out.is_json() {
        return ctx.out.json(&json!({
            "version": 1,
            "removed": removed,
            "restored": restored,
            "path": place.hook.display().to_string(),
        }));
    }
    let path = place.hook.display();
    match (removed, restored) {
        (true, true) => {
            ctx.out.line(format!("removed the git-bitsota hook and restored the previous hook at {path}"))
        }
        (true, false) => ctx.out.line(format!("removed the pre-push hook at {path}")),
        (false, true) => {
            ctx.out.line(format!("no git-bitsota hook was installed; restored the backed-up hook at {path}"))
        }
        (false, false) => ctx.out.line(format!("no git-bitsota hook is installed (looked at {path})")),
    }
}

pub fn status(ctx: &Ctx) -> Result<()> {
    let repo = ctx.repo()?;
    let place = locate(&repo)?;
    let existing = inspect(&place.hook)?;
    let status = match (&existing, &place.redirect) {
        (Existing::Current, _) => HookStatus::Installed,
        (Existing::Outdated, _) => HookStatus::Outdated,
        (_, Some(_)) => HookStatus::Redirected,
        (Existing::Foreign(_), None) => HookStatus::Foreign,
        (Existing::Absent | Existing::Empty, None) => HookStatus::Absent,
    };
    let backup = fs::symlink_metadata(&place.backup).is_ok().then(|| place.backup.display().to_string());
    if ctx.out.is_json() {
        return ctx.out.json(&json!({
            "version": 1,
            "status": status.as_str(),
            "path": place.hook.display().to_string(),
            "hooks_path": place.hooks_path,
            "backup": backup,
        }));
    }
    let path = place.hook.display();
    match status {
        HookStatus::Installed => ctx.out.line(format!("installed: {path}"))?,
        HookStatus::Outdated => {
            ctx.out.line(format!(
                "outdated: {path} was written by an older git-bitsota (or lost its executable bit)"
            ))?;
            ctx.out.hint("`git bitsota hook install` upgrades it");
        }
        HookStatus::Redirected => {
            ctx.out.line(format!(
                "redirected: core.hooksPath = {} sends hooks to {}",
                place.hooks_path.as_deref().unwrap_or("?"),
                place.dir.display()
            ))?;
            if let Some(err) = redirect_error(&place) {
                ctx.out.info(err.message());
                if let Some(hint) = err.hint() {
                    ctx.out.hint(hint);
                }
            }
        }
        HookStatus::Foreign => {
            ctx.out.line(format!("foreign: {path} exists and was not written by git-bitsota"))?;
            ctx.out.hint("`git bitsota hook install --print` shows the lines to merge into it");
        }
        HookStatus::Absent => {
            ctx.out.line(format!("absent: no pre-push hook at {path}"))?;
            ctx.out.hint("install it with `git bitsota hook install`");
        }
    }
    if let Some(backup) = backup {
        ctx.out.info(format!("a backed-up earlier hook is at {backup}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const OLDER: &str =
        "#!/bin/sh\n# installed by git-bitsota v0\nexec git bitsota check --pre-push \"$@\"\n";

    #[test]
    fn current_body_is_marked_and_guarded() {
        assert!(CURRENT.starts_with("#!/bin/sh\n# installed by git-bitsota v"));
        assert!(CURRENT.contains("command -v git-bitsota"));
        assert!(CURRENT.contains("exit 1"));
        assert!(CURRENT.trim_end().ends_with("exec git bitsota check --pre-push -- \"$@\""));
        assert_eq!(SHIPPED.last(), Some(&CURRENT));
    }

    #[test]
    fn classification() {
        let shipped = [OLDER, CURRENT];
        assert_eq!(classify(CURRENT, true, &shipped), Existing::Current);
        assert_eq!(classify(CURRENT, false, &shipped), Existing::Outdated);
        assert_eq!(classify(OLDER, true, &shipped), Existing::Outdated);
        assert_eq!(classify(&CURRENT.replace('\n', "\r\n"), true, &shipped), Existing::Current);
        assert_eq!(classify(&format!("\n{CURRENT}\n\n"), true, &shipped), Existing::Current);
        assert_eq!(classify("  \n", true, &shipped), Existing::Empty);
        let edited = CURRENT.replace("exec git", "echo hi\nexec git");
        assert!(matches!(classify(&edited, true, &shipped), Existing::Foreign(_)));
    }

    #[test]
    fn hook_managers_are_recognised() {
        assert_eq!(managed_by(Path::new("/r/.husky/_")), Some("husky"));
        assert_eq!(managed_by(Path::new("/r/.githooks")), None);
        assert_eq!(manager_of_script("#!/bin/sh\n. \"$(dirname \"$0\")/_/husky.sh\"\n"), Some("husky"));
    }
}
