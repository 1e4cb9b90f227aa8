//! Which coordinator (and artifact) URLs are acceptable: `https://`, or `http://` on a
//! loopback host only.

use std::net::{Ipv4Addr, Ipv6Addr};

use ureq::http::Uri;

use crate::error::{Error, Result};

/// `https://host[:port][/prefix]`, or `http://` for a loopback host. Returns it without a
/// trailing `/`.
pub fn check_base_url(url: &str) -> Result<String> {
    let trimmed = url.trim().trim_end_matches('/');
    let bad = |why: &str| {
        Error::usage(format!("invalid coordinator URL {url:?}: {why}"))
            .with_code("bad_coordinator_url")
            .with_hint("use --coordinator-url https://HOST (http:// only for 127.0.0.1, localhost or [::1])")
    };
    if trimmed.contains(['?', '#']) {
        return Err(bad("it must not have a query or fragment"));
    }
    let uri: Uri = trimmed.parse().map_err(|_| bad("it is not a URL"))?;
    let scheme = uri.scheme_str().map(str::to_ascii_lowercase);
    let Some(host) = uri.host().filter(|h| !h.is_empty()) else {
        return Err(bad("it has no host"));
    };
    if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
        return Err(bad("credentials in the URL are not supported"));
    }
    // `http::Uri` accepts any digits after the `:` (and then has no port), so `:99999` would
    // only fail later, as a puzzling request error.
    if let Some(authority) = uri.authority().map(|a| a.as_str()) {
        let host_end = match authority.strip_prefix('[') {
            Some(rest) => rest.find(']').map_or(authority.len(), |i| i + 2),
            None => authority.find(':').unwrap_or(authority.len()),
        };
        if let Some(port) = authority[host_end..].strip_prefix(':') {
            if !port.parse::<u16>().is_ok_and(|p| p != 0) {
                return Err(bad("the port must be a number from 1 to 65535"));
            }
        }
    }
    match scheme.as_deref() {
        Some("https") => Ok(trimmed.to_string()),
        Some("http") if is_loopback(host) => Ok(trimmed.to_string()),
        Some("http") => Err(bad("plain http:// is only allowed for loopback hosts; use https://")),
        _ => Err(bad("the scheme must be https://")),
    }
}

pub fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
        || host.parse::<Ipv6Addr>().is_ok_and(|ip| ip.is_loopback())
}
