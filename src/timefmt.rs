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

/// A run's length: "4.2s" under a minute, else "3m05s" or "1h02m03s".
pub fn fmt_secs(secs: f64) -> String {
    if secs < 60.0 {
        return format!("{secs:.1}s");
    }
    let total = secs.round() as u64;
    let (h, m, s) = (total / 3600, (total % 3600) / 60, total % 60);
    if h > 0 {
        format!("{h}h{m:02}m{s:02}s")
    } else {
        format!("{m}m{s:02}s")
    }
}

/// Whole seconds, for an elapsed-time line.
pub fn fmt_clock(secs: u64) -> String {
    if secs < 60 {
        format!("{secs}s")
    } else {
        fmt_secs(secs as f64)
    }
}

/// 21600 → `6h`, 1800 → `30m`, 5400 → `1h30m`, 90 → `1m30s`.
pub fn human_duration(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 || out.is_empty() {
        out.push_str(&format!("{s}s"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(human_duration(21600), "6h");
        assert_eq!(human_duration(1800), "30m");
        assert_eq!(human_duration(5400), "1h30m");
        assert_eq!(human_duration(90), "1m30s");
        assert_eq!(human_duration(0), "0s");
    }
}
