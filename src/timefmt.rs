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

/// "42m10s left", "expired 3m ago", or "expiry unknown".
pub fn time_left_words(when: &str) -> String {
    match seconds_left(when) {
        None => "expiry unknown".to_string(),
        Some(s) if s > 0 => format!("{} left", duration(s as f64)),
        Some(s) => format!("expired {} ago", duration(-s as f64)),
    }
}

/// How long something took or has left, in the one style every command uses: a fraction only
/// under a minute ("4.2s", "42s"), then whole units with zero ones dropped at the end ("3m05s",
/// "30m", "1h30m", "1h02m03s", "6h").
pub fn duration(secs: f64) -> String {
    let secs = if secs.is_finite() { secs.max(0.0) } else { 0.0 };
    if secs < 60.0 {
        return if secs.fract() == 0.0 { format!("{}s", secs as u64) } else { format!("{secs:.1}s") };
    }
    let total = secs.round() as u64;
    match (total / 3600, total % 3600 / 60, total % 60) {
        (0, m, 0) => format!("{m}m"),
        (0, m, s) => format!("{m}m{s:02}s"),
        (h, 0, 0) => format!("{h}h"),
        (h, m, 0) => format!("{h}h{m:02}m"),
        (h, m, s) => format!("{h}h{m:02}m{s:02}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_duration_style() {
        for (secs, text) in [
            (21600.0, "6h"),
            (1800.0, "30m"),
            (5400.0, "1h30m"),
            (90.0, "1m30s"),
            (0.0, "0s"),
            (42.0, "42s"),
            (4.25, "4.2s"),
            (185.0, "3m05s"),
            (3723.0, "1h02m03s"),
            (59.96, "60.0s"),
            (-3.0, "0s"),
            (f64::NAN, "0s"),
        ] {
            assert_eq!(duration(secs), text, "{secs}");
        }
    }
}
