//! Times as the coordinator writes them (RFC 3339) and how long until one.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Now, as RFC 3339 UTC with seconds.
pub fn now_rfc3339() -> String {
    let now = OffsetDateTime::now_utc();
    let now = now.replace_nanosecond(0).unwrap_or(now);
    now.format(&Rfc3339).unwrap_or_else(|_| now.unix_timestamp().to_string())
}

/// Seconds from now until `when` (negative when past); `None` when it cannot be parsed.
pub fn seconds_left(when: &str) -> Option<i64> {
    let at = OffsetDateTime::parse(when.trim(), &Rfc3339).ok()?;
    Some((at - OffsetDateTime::now_utc()).whole_seconds())
}

/// "42m 10s left", "expired 3m ago", or "expiry unknown".
pub fn time_left_words(when: &str) -> String {
    match seconds_left(when) {
        None => "expiry unknown".to_string(),
        Some(s) if s > 0 => format!("{} left", duration_words(s)),
        Some(s) => format!("expired {} ago", duration_words(-s)),
    }
}

pub fn duration_words(seconds: i64) -> String {
    let (h, m, s) = (seconds / 3600, (seconds % 3600) / 60, seconds % 60);
    if h > 0 {
        format!("{h}h {m:02}m")
    } else if m > 0 {
        format!("{m}m {s:02}s")
    } else {
        format!("{s}s")
    }
}
