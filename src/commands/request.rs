//! `git bitsota request METHOD PATH`: any coordinator route, signed with BT-AUTH-V1 unless
//! `--unsigned` (parity with the reference `signed-request`). `--dry-run` shows the exact
//! signed message, headers and body bytes and sends nothing.

use std::io::Read;

use serde_json::{json, Map, Value};

use crate::auth;
use crate::canonical_json::canonicalize_str;
use crate::cli::RequestArgs;
use crate::client::{Coordinator, RequestSpec};
use crate::ctx::Ctx;
use crate::error::{Error, Kind, Result, ResultExt};

/// A request body larger than this is surely a mistake (the coordinator's own cap on patches
/// is far below it).
const MAX_BODY_BYTES: u64 = 16 * 1024 * 1024;

pub fn run(ctx: &Ctx, args: &RequestArgs) -> Result<()> {
    let query = parse_query(&args.query)?;
    let mut spec = RequestSpec::new(&args.method, &args.path, &query, None)?;
    spec.body = read_body(args)?.map(String::into_bytes);
    let coordinator = ctx.ambient_coordinator()?;
    let hotkey = if args.unsigned { None } else { Some(ctx.hotkey()?) };

    if args.dry_run {
        return dry_run(ctx, &coordinator, &spec, hotkey.as_ref());
    }
    let response = coordinator.send(&spec, hotkey.as_ref())?;
    let parsed = if response.body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        serde_json::from_slice::<Value>(&response.body).ok()
    };
    match parsed {
        Some(value) if ctx.out.is_json() => ctx.out.json(&value),
        Some(value) => {
            let pretty = serde_json::to_string_pretty(&value)
                .or_kind(Kind::Server, || "cannot print the coordinator's answer")?;
            ctx.out.line(pretty)
        }
        None if ctx.out.is_json() => ctx.out.json(&json!({"version": 1, "text": response.text()})),
        None => {
            let text = response.text();
            if !text.is_empty() {
                // Not JSON: shown with its control characters visible (an answer could
                // otherwise write to the clipboard or retitle the terminal).
                ctx.out
                    .line(crate::output::escape(text.trim_end_matches('\n'), crate::output::Shown::Text))?;
            }
            Ok(())
        }
    }
}

fn dry_run(
    ctx: &Ctx,
    coordinator: &Coordinator,
    spec: &RequestSpec,
    hotkey: Option<&crate::keys::Hotkey>,
) -> Result<()> {
    let url = coordinator.url_for(spec);
    let signed = hotkey.map(|h| spec.sign(h, auth::now_unix()));
    let mut headers = Map::new();
    if let Some(signed) = &signed {
        for (name, value) in signed.headers.pairs() {
            headers.insert(name.to_string(), Value::String(value.to_string()));
        }
    }
    if spec.body.is_some() {
        headers.insert("Content-Type".to_string(), Value::String("application/json".to_string()));
    }
    // Canonical JSON is ASCII, so the body bytes are also its text.
    let body_text = spec.body.as_ref().map(|b| String::from_utf8_lossy(b).into_owned());
    if ctx.out.is_json() {
        return ctx.out.json(&json!({
            "version": 1,
            "method": spec.method,
            "url": url,
            "message": signed.as_ref().map(|s| s.message.clone()),
            "headers": headers,
            "body": body_text,
        }));
    }
    ctx.out.line(format!("{} {url}", spec.method))?;
    for (name, value) in &headers {
        ctx.out.line(format!("{name}: {}", value.as_str().unwrap_or_default()))?;
    }
    match &signed {
        Some(signed) => ctx.out.line(format!("signed message: {:?}", signed.message))?,
        None => ctx.out.line("signed message: (none, --unsigned)")?,
    }
    match &body_text {
        Some(text) => {
            ctx.out.line(format!(
                "body ({} bytes, sha256 {}):",
                text.len(),
                auth::body_sha256(spec.body.as_deref())
            ))?;
            ctx.out.line(crate::output::escape(text, crate::output::Shown::Text))?;
        }
        None => ctx.out.line(format!("body: (none, sha256 {})", auth::EMPTY_BODY_SHA256))?,
    }
    ctx.out.info("dry run: nothing was sent");
    Ok(())
}

/// `K=V` pairs, in order; the value may contain `=`.
fn parse_query(items: &[String]) -> Result<Vec<(String, String)>> {
    items
        .iter()
        .map(|item| match item.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(Error::usage(format!("--query {item:?} is not K=V")).with_code("bad_query")),
        })
        .collect()
}

/// The body from `--body-json` or `--body-file`, canonicalised exactly as Python would
/// (ints and floats as written, keys sorted, ASCII escapes).
fn read_body(args: &RequestArgs) -> Result<Option<String>> {
    let (text, origin) = match (&args.body_json, &args.body_file) {
        (Some(text), _) => (text.clone(), "--body-json".to_string()),
        (None, Some(path)) => {
            let mut bytes = Vec::new();
            let shown = path.display().to_string();
            let read = if shown == "-" {
                std::io::stdin().take(MAX_BODY_BYTES + 1).read_to_end(&mut bytes)
            } else {
                std::fs::File::open(path).and_then(|f| f.take(MAX_BODY_BYTES + 1).read_to_end(&mut bytes))
            };
            read.map_err(|e| {
                Error::usage(format!("cannot read the body file {shown}"))
                    .with_code("bad_body")
                    .with_source(e)
            })?;
            if bytes.len() as u64 > MAX_BODY_BYTES {
                return Err(Error::usage(format!("the body file {shown} is larger than 16 MiB"))
                    .with_code("bad_body"));
            }
            let text = String::from_utf8(bytes).map_err(|_| {
                Error::usage(format!("the body file {shown} is not UTF-8")).with_code("bad_body")
            })?;
            (text, format!("the body file {shown}"))
        }
        (None, None) => return Ok(None),
    };
    // A UTF-8 BOM is what some editors put first; Python's json.loads refuses it too, but the
    // message would be obscure.
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    canonicalize_str(text)
        .map(Some)
        .map_err(|e| Error::usage(format!("{origin} is not valid JSON")).with_code("bad_body").with_source(e))
}
