//! The human form of a check report: each changed path with its verdict, the size against
//! the limit, and every problem with a hint (`check`, `submit`).

use crate::check::{reason_words, Report};
use crate::error::Result;
use crate::output::{escape, quote_bytes, Output, Shown, Style};

pub fn print_check_report(out: &Output, report: &Report) -> Result<()> {
    out.line(format!(
        "task {} · base {}",
        out.paint(Style::Bold, &escape(&report.task_slug, Shown::Line)),
        crate::repo::short_oid(&report.base_commit)
    ))?;
    if report.built.files.is_empty() {
        out.line("no changes since the base commit")?;
    }
    for file in &report.built.files {
        let verdict = if file.allowed() {
            out.paint(Style::Green, "ok     ")
        } else if report.allow_outside {
            out.paint(Style::Yellow, "left out")
        } else {
            out.paint(Style::Red, "refused")
        };
        let name = escape(&file.label(), Shown::Line);
        let why = if file.allowed() { String::new() } else { format!("  ({})", reason_words(file)) };
        out.line(format!("  {verdict} {:<12} {name}{why}", file.change.as_str()))?;
    }
    let size = format!("patch {} of {} bytes", report.patch_bytes(), report.max_patch_bytes);
    let size_style =
        if report.patch_bytes() as u64 > report.max_patch_bytes { Style::Red } else { Style::Dim };
    out.line(out.paint(size_style, &size))?;
    for problem in &report.problems {
        let label = out.paint(Style::Red, "problem:");
        let text = |t: &str| escape(t, Shown::Text);
        out.line(format!("{label} [{}] {}", problem.code, text(&problem.message)))?;
        for path in &problem.paths {
            out.line(format!("    {}", quote_bytes(path.as_bytes())))?;
        }
        if let Some(hint) = &problem.hint {
            out.line(format!("  {} {}", out.paint(Style::Cyan, "hint:"), text(hint)))?;
        }
    }
    if report.ok() {
        out.line(out.paint(Style::Green, "ok: ready to submit"))?;
    }
    Ok(())
}
