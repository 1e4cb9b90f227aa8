//! `git bitsota artifact hash FILE | set URI [--file FILE] [--no-verify] | verify [--download]`
//! (cli.md §10.1, §10.5).

use std::path::Path;

use serde_json::{json, Map, Value};

use crate::artifact::{self, fetch, Expected, Fetched};
use crate::ctx::Ctx;
use crate::error::{Error, Result};
use crate::output::{Output, Style};
use crate::sidecar;

pub fn hash(ctx: &Ctx, file: &Path) -> Result<()> {
    let digested = artifact::hash_file(file, &ctx.out)?;
    if ctx.out.is_json() {
        return ctx.out.json(&json!({
            "version": 1,
            "path": file.display().to_string(),
            "sha256": digested.sha256,
            "size_bytes": digested.size_bytes,
        }));
    }
    ctx.out.line(format!("{}  {} bytes  {}", digested.sha256, digested.size_bytes, file.display()))
}

pub fn set(
    ctx: &Ctx,
    uri: &str,
    file: Option<&Path>,
    no_verify: bool,
    submission_file: Option<&Path>,
) -> Result<()> {
    let repo = ctx.repo()?;
    let sidecar_path = sidecar::resolve_path(&repo, submission_file)?;
    // Read it first: a broken sidecar is reported before a long download, and never replaced.
    let existing = sidecar::load(&sidecar_path)?;
    let uri = artifact::parse_uri(uri)?;
    if let Some(warning) = fetch::local_http_warning(&uri) {
        ctx.out.warn(warning);
    }
    let (digested, verification) = match file {
        Some(file) => {
            let digested = artifact::hash_file(file, &ctx.out)?;
            refuse_empty(digested.size_bytes)?;
            let verification = match no_verify {
                true => None,
                false => {
                    let expected = Expected {
                        sha256: Some(digested.sha256.clone()),
                        size_bytes: Some(digested.size_bytes),
                    };
                    Some(artifact::fetch(&uri, &expected, None, &ctx.out)?)
                }
            };
            (digested, verification)
        }
        None => {
            let cache = artifact::cache_dir(repo.common_dir());
            let fetched = artifact::fetch(&uri, &Expected::default(), Some(&cache), &ctx.out)?;
            let (Some(sha256), Some(size_bytes), true) =
                (fetched.sha256.clone(), fetched.downloaded_bytes, fetched.ok())
            else {
                if !ctx.out.is_json() {
                    report(&ctx.out, &fetched)?;
                }
                let code = fetched.problems.first().map_or("artifact_unreachable", |p| p.code);
                return Err(Error::problems(format!(
                    "{} cannot be downloaded as validators do; the sidecar is unchanged",
                    fetched.uri
                ))
                .with_code(code)
                .already_reported_unless_json(ctx));
            };
            refuse_empty(size_bytes)?;
            let digested = artifact::Digested { sha256, size_bytes };
            (digested, (!no_verify).then_some(fetched))
        }
    };

    let mut map = existing.map(|s| s.raw().clone()).unwrap_or_default();
    set_fields(&mut map, &uri.text, &digested.sha256, digested.size_bytes);
    sidecar::write(&sidecar_path, &map)?;

    let ok = verification.as_ref().is_none_or(Fetched::ok);
    if ctx.out.is_json() {
        ctx.out.json(&json!({
            "version": 1,
            "artifact_uri": uri.text,
            "artifact_sha256": digested.sha256,
            "artifact_size_bytes": digested.size_bytes,
            "verify": verification.as_ref().map(Fetched::to_json),
        }))?;
    } else {
        ctx.out.line(format!(
            "{} {}: artifact_uri {}, artifact_sha256 {}, artifact_size_bytes {}",
            ctx.out.paint(Style::Green, "wrote"),
            sidecar_path.display(),
            uri.text,
            digested.sha256,
            digested.size_bytes
        ))?;
        match &verification {
            Some(fetched) => report(&ctx.out, fetched)?,
            None => ctx.out.warn("not verified: run `git bitsota artifact verify` before submitting"),
        }
    }
    if ok {
        Ok(())
    } else {
        Err(Error::problems("validators would refuse this artifact URI").already_reported())
    }
}

pub fn verify(ctx: &Ctx, download: bool, submission_file: Option<&Path>) -> Result<()> {
    let repo = ctx.repo()?;
    let sidecar_path = sidecar::resolve_path(&repo, submission_file)?;
    let Some(sidecar) = sidecar::load(&sidecar_path)? else {
        return Err(Error::usage(format!(
            "the submission sidecar {} does not exist",
            sidecar_path.display()
        ))
        .with_code("artifact_missing")
        .with_hint("record the artifact first: `git bitsota artifact set URL --file FILE`"));
    };
    let Some(uri_text) = sidecar.artifact_uri() else {
        return Err(Error::usage(format!("{} names no artifact (`artifact_uri`)", sidecar_path.display()))
            .with_code("artifact_missing")
            .with_hint("record the artifact first: `git bitsota artifact set URL --file FILE`"));
    };
    let uri = artifact::parse_uri(uri_text)?;
    if let Some(warning) = fetch::local_http_warning(&uri) {
        ctx.out.warn(warning);
    }
    let cache = artifact::cache_dir(repo.common_dir());
    let fetched =
        artifact::fetch(&uri, &artifact::expected(&sidecar), download.then_some(cache.as_path()), &ctx.out)?;
    if ctx.out.is_json() {
        ctx.out.json(&fetched.to_json())?;
    } else {
        report(&ctx.out, &fetched)?;
    }
    if fetched.ok() {
        Ok(())
    } else {
        Err(Error::problems(format!("{} problem(s) with the artifact", fetched.problems.len()))
            .already_reported())
    }
}

/// An artifact of no bytes cannot be described (`artifact_size_bytes` must be positive).
fn refuse_empty(size_bytes: u64) -> Result<()> {
    if size_bytes == 0 {
        return Err(Error::usage("the artifact is empty (0 bytes); validators need its bytes")
            .with_code("artifact_empty"));
    }
    Ok(())
}

/// Set the three artifact fields, keeping every other field and the order of those present.
pub fn set_fields(map: &mut Map<String, Value>, uri: &str, sha256: &str, size_bytes: u64) {
    map.insert("artifact_uri".into(), json!(uri));
    map.insert("artifact_sha256".into(), json!(sha256));
    map.insert("artifact_size_bytes".into(), json!(size_bytes));
}

/// A verification for humans: what was seen, then each problem with its hint.
pub fn report(out: &Output, fetched: &Fetched) -> Result<()> {
    let mut seen = Vec::new();
    if let Some(status) = fetched.http_status {
        seen.push(format!("HTTP {status}"));
    }
    if let Some(length) = fetched.content_length {
        seen.push(format!("Content-Length {length}"));
    }
    if let Some(bytes) = fetched.downloaded_bytes {
        seen.push(format!("downloaded {bytes} bytes"));
    }
    if let Some(sha) = &fetched.sha256 {
        seen.push(format!("sha256 {sha}"));
    }
    if !seen.is_empty() {
        out.line(format!("{}: {}", fetched.uri, seen.join(" · ")))?;
    }
    for problem in &fetched.problems {
        out.line(format!("{} [{}] {}", out.paint(Style::Red, "problem:"), problem.code, problem.message))?;
        if let Some(hint) = &problem.hint {
            out.line(format!("  {} {hint}", out.paint(Style::Cyan, "hint:")))?;
        }
    }
    if fetched.ok() {
        out.line(out.paint(Style::Green, "ok: validators can download it"))?;
    }
    Ok(())
}

trait ReportedUnlessJson {
    fn already_reported_unless_json(self, ctx: &Ctx) -> Self;
}

impl ReportedUnlessJson for Error {
    /// The human report is printed; in JSON mode the error object is the output.
    fn already_reported_unless_json(self, ctx: &Ctx) -> Self {
        if ctx.out.is_json() {
            self
        } else {
            self.already_reported()
        }
    }
}
