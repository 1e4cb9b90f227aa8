//! `git bitsota check --pre-push REMOTE URL`: git's pre-push hook. Reads the ref lines on
//! stdin and checks, for each pushed commit, the committed changes `base_commit → commit`.
//! Offline; exits 0 on empty input.

use std::io::{IsTerminal, Read};

use serde_json::json;

use crate::check::SKIP_VAR;
use crate::check::{self, Report};
use crate::cli::CheckArgs;
use crate::ctx::Ctx;
use crate::error::{Error, Result, ResultExt};

const BY_HAND_HINT: &str =
    "`check --pre-push` is run by git's pre-push hook; install it with `git bitsota hook install`";

/// One ref line git feeds the hook.
#[derive(Debug, PartialEq, Eq)]
pub struct RefLine {
    pub local_ref: String,
    pub local_oid: String,
    pub remote_ref: String,
    pub remote_oid: String,
}

fn is_zero(oid: &str) -> bool {
    !oid.is_empty() && oid.bytes().all(|b| b == b'0')
}

/// Parse stdin leniently: blank lines skipped; a line with fewer than four fields is an error.
/// The fields are split from the right: the local ref is what the user typed when git cannot
/// expand it, so it may hold spaces (`HEAD^{/fix bug}:refs/heads/x`); the other three cannot.
/// Input is bytes: ref names need not be UTF-8 (they are only shown, lossily).
pub fn parse_lines(input: impl AsRef<[u8]>) -> Result<Vec<RefLine>> {
    let mut lines = Vec::new();
    for line in input.as_ref().split(|b| *b == b'\n').map(<[u8]>::trim_ascii).filter(|l| !l.is_empty()) {
        let mut parts: Vec<&[u8]> = line.rsplitn(4, |b| *b == b' ').collect();
        parts.reverse();
        let refused = || {
            Error::usage(format!("unexpected pre-push input line: {}", crate::output::quote_bytes(line)))
                .with_hint("git feeds `<local ref> <local oid> <remote ref> <remote oid>` lines")
        };
        if parts.len() != 4 || parts.iter().any(|p| p.is_empty()) {
            return Err(refused());
        }
        // Object ids are full hex (SHA-1 or SHA-256); anything else is not git talking.
        let is_oid = |s: &[u8]| matches!(s.len(), 40 | 64) && s.iter().all(|b| b.is_ascii_hexdigit());
        if !is_oid(parts[1]) || !is_oid(parts[3]) {
            return Err(refused());
        }
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        lines.push(RefLine {
            local_ref: text(parts[0]),
            local_oid: text(parts[1]),
            remote_ref: text(parts[2]),
            remote_oid: text(parts[3]),
        });
    }
    Ok(lines)
}

pub fn run(ctx: &Ctx, args: &CheckArgs) -> Result<()> {
    if std::env::var_os(SKIP_VAR).is_some_and(|v| !v.is_empty() && v != "0") {
        ctx.out.warn(format!("{SKIP_VAR} is set: skipping the git-bitsota pre-push check"));
        return Ok(());
    }
    let stdin = std::io::stdin();
    // Git always feeds the hook through a pipe: a terminal means someone typed the command,
    // with or without arguments, and would otherwise wait on a silent read.
    if stdin.is_terminal() {
        ctx.out.info(BY_HAND_HINT);
        return Ok(());
    }
    let mut input = Vec::new();
    stdin.lock().read_to_end(&mut input).or_usage(|| "cannot read the pre-push ref lines from stdin")?;
    let lines = parse_lines(&input)?;
    let pushed: Vec<&RefLine> = lines.iter().filter(|l| !is_zero(&l.local_oid)).collect();
    if pushed.is_empty() {
        // Git always passes REMOTE and URL; without them this is a person, not the hook.
        if args.remote.is_none() {
            ctx.out.info(BY_HAND_HINT);
        }
        if ctx.out.is_json() {
            ctx.out.json(&json!({"version": 1, "ok": true, "refs": []}))?;
        }
        return Ok(());
    }

    let repo = ctx.repo()?;
    let state = ctx.state_file(&repo).read_bound()?;
    let task = &state.task;
    let mut all_ok = true;
    let mut results = Vec::new();
    // Several refs often point at one commit (`git push origin main v1`): check it once.
    let mut checked: std::collections::HashMap<String, Report> = std::collections::HashMap::new();
    for line in pushed {
        // An annotated tag is pushed as the tag object: check the commit it points to. A tag
        // of a tree or blob carries no commit, so there is no change against the base to check.
        let Some(commit) = repo.resolve_commit(&format!("{}^{{commit}}", line.local_oid))? else {
            ctx.out.info(format!(
                "git-bitsota: {} is not a commit; nothing to check",
                escape_line(&line.remote_ref)
            ));
            continue;
        };
        if !checked.contains_key(&commit) {
            let report = if repo.is_ancestor(&task.base_commit, &commit)? {
                check::check_commit(&repo, task, &commit)?
            } else {
                not_descended(task, &commit)
            };
            checked.insert(commit.clone(), report);
        }
        let Some(report) = checked.get(&commit) else { continue };
        all_ok &= report.ok();
        if ctx.out.is_json() {
            let mut value = report.to_json();
            value["ref"] = json!(line.remote_ref);
            value["commit"] = json!(line.local_oid);
            results.push(value);
        } else if !report.ok() {
            print_refusal(ctx, line, report);
        }
    }
    if ctx.out.is_json() {
        ctx.out.json(&json!({"version": 1, "ok": all_ok, "refs": results}))?;
    }
    if all_ok {
        Ok(())
    } else {
        ctx.out.hint(format!(
            "fix the commits, push with {SKIP_VAR}=1 to skip this check once, or `git push --no-verify`"
        ));
        Err(Error::problems("the push was refused by the git-bitsota pre-push check").already_reported())
    }
}

/// A report whose only content is the `not_descended_from_base` problem.
fn not_descended(task: &crate::task::TaskSnapshot, commit: &str) -> Report {
    let mut report =
        Report::new(task, crate::patch::ChangesAndPatch { files: Vec::new(), patch: Vec::new() });
    report.push(check::Problem::of(crate::problems::ProblemCode::NotDescendedFromBase).with_message(
        format!(
            "commit {} does not descend from the task's base commit {}",
            crate::repo::short_oid(commit),
            crate::repo::short_oid(&task.base_commit)
        ),
    ));
    report
}

/// Refusals go to stderr: git shows the hook's stderr to the user.
fn print_refusal(ctx: &Ctx, line: &RefLine, report: &Report) {
    ctx.out.warn(format!(
        "git-bitsota: refusing to push {} ({}) for task {}",
        escape_line(&line.remote_ref),
        crate::repo::short_oid(&line.local_oid),
        escape_line(&report.task_slug)
    ));
    for problem in &report.problems {
        ctx.out.warn(format!("  [{}] {}", problem.code, problem.message));
        for path in &problem.paths {
            ctx.out.warn(format!("      {}", crate::output::quote_bytes(path.as_bytes())));
        }
    }
}

fn escape_line(text: &str) -> String {
    crate::output::escape(text, crate::output::Shown::Line)
}
