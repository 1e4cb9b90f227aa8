//! The validator's metric rules (protocol.md §6.3, §10.3): where a benchmark's metric is
//! read from (the result JSON at `result_path`, else the last `<metric> [:=] <number>` in the
//! combined output), how Python's `json.loads` and `float()` read it, and the benchmark's own
//! `validator_rejection=` marker. Shared by `bench`, replays and agent gates.

use std::io::ErrorKind;
use std::path::Path;

use regex::Regex;
use serde_json::{Number, Value};

use crate::task::TaskSnapshot;

/// The marker a task benchmark prints when its own gates refuse a candidate.
pub(crate) const REJECTION_MARKER: &str = "validator_rejection=";

/// The metric as found, with the JSON number to claim (kept as written when possible).
#[derive(Debug, Clone)]
pub(crate) struct MetricReading {
    pub(crate) value: f64,
    pub(crate) number: Option<Number>,
}

/// stdout stripped, a newline, stderr stripped, empty parts dropped.
pub(crate) fn combined_output(stdout: &[u8], stderr: &[u8]) -> String {
    let parts: Vec<String> = [stdout, stderr]
        .iter()
        .map(|b| String::from_utf8_lossy(b).trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    parts.join("\n")
}

pub(crate) fn secondary_metric(task: &TaskSnapshot) -> Option<String> {
    match task.extra.get("secondary_metric_name") {
        Some(toml::Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
        _ => None,
    }
}

/// The last `<metric> [:=] <number>` in the output, case-insensitive, as validators search it.
pub(crate) fn metric_from_output(combined: &str, metric: &str) -> std::result::Result<MetricReading, String> {
    let pattern =
        format!(r"(?im)\b{}\b\s*[:=]\s*([-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)", regex::escape(metric));
    let re = Regex::new(&pattern).map_err(|e| format!("cannot search for metric '{metric}': {e}"))?;
    let Some(text) = re.captures_iter(combined).last().and_then(|c| c.get(1)).map(|m| m.as_str()) else {
        return Err(format!("metric '{metric}' not found in the benchmark output"));
    };
    let value =
        python_float_str(text).ok_or_else(|| format!("metric '{metric}' value {text:?} is not a number"))?;
    let number = serde_json::from_str::<Number>(text).ok().or_else(|| Number::from_f64(value));
    Ok(MetricReading { value, number })
}

/// A result file is a few metrics; one bigger than this is not read (nor held in memory).
const MAX_RESULT_BYTES: u64 = 16 << 20;

pub(crate) fn read_result_json(path: &Path, shown: &str) -> std::result::Result<Value, String> {
    let bytes = match read_regular_file(path, MAX_RESULT_BYTES) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == ErrorKind::NotFound => return Err(format!("result file not found: {shown}")),
        Err(e) => return Err(format!("result file cannot be read: {shown} ({e})")),
    };
    let text = String::from_utf8(bytes)
        .map_err(|_| format!("result file is not valid JSON: {shown} (not UTF-8)"))?;
    parse_python_json(&text).map_err(|e| format!("result file is not valid JSON: {shown} ({e})"))
}

/// Read a file the task's code wrote: opened without blocking (a FIFO there would otherwise
/// hang the run past its budget, a device never end), refused unless it is a regular file,
/// and read up to `limit` bytes (a larger one is an error, never read whole).
fn read_regular_file(path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let file = crate::fsutil::open_regular_file(path)?;
    if file.metadata()?.len() > limit {
        return Err(std::io::Error::new(ErrorKind::InvalidData, format!("larger than {} MiB", limit >> 20)));
    }
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(std::io::Error::new(ErrorKind::InvalidData, format!("larger than {} MiB", limit >> 20)));
    }
    Ok(bytes)
}

/// JSON as Python's `json.loads` reads it: also bare `NaN`, `Infinity` and `-Infinity`,
/// which `json.dumps` writes for non-finite floats. They become strings that
/// [`python_float`] turns back into the same float.
fn parse_python_json(text: &str) -> std::result::Result<Value, serde_json::Error> {
    let strict = serde_json::from_str(text);
    if strict.is_ok() || !(text.contains("NaN") || text.contains("Infinity")) {
        return strict;
    }
    let mut fixed = String::with_capacity(text.len() + 16);
    let mut in_string = false;
    let mut escaped = false;
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
        } else if let Some(token) = ["-Infinity", "Infinity", "NaN"].into_iter().find(|t| rest.starts_with(t))
        {
            fixed.push('"');
            fixed.push_str(token);
            fixed.push('"');
            rest = &rest[token.len()..];
            continue;
        }
        fixed.push(c);
        rest = &rest[c.len_utf8()..];
    }
    serde_json::from_str(&fixed).or(strict)
}

/// Top-level `metric_name`==metric with `metric_value`; else `metrics.<metric>`; else a
/// top-level key named like the metric.
pub(crate) fn metric_from_result(
    root: &Value,
    metric: &str,
    shown: &str,
) -> std::result::Result<MetricReading, String> {
    let missing = || format!("result file missing metric '{metric}': {shown}");
    let Some(map) = root.as_object() else {
        return Err(missing());
    };
    let value = if map.get("metric_name").and_then(Value::as_str) == Some(metric)
        && map.contains_key("metric_value")
    {
        &map["metric_value"]
    } else if let Some(v) = map.get("metrics").and_then(Value::as_object).and_then(|m| m.get(metric)) {
        v
    } else if let Some(v) = map.get(metric) {
        v
    } else {
        return Err(missing());
    };
    let number =
        python_float(value).ok_or_else(|| format!("result metric '{metric}' is not a number: {value}"))?;
    let json_number = match value {
        Value::Number(n) => Some(n.clone()),
        _ => Number::from_f64(number),
    };
    Ok(MetricReading { value: number, number: json_number })
}

/// Python's `float(value)` for a JSON value.
pub(crate) fn python_float(value: &Value) -> Option<f64> {
    match value {
        Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        Value::Number(n) => {
            let text = n.to_string();
            let f = text.parse::<f64>().ok()?;
            // float() of a huge Python int overflows instead of becoming infinity.
            if f.is_infinite() && !text.contains(['.', 'e', 'E']) {
                return None;
            }
            Some(f)
        }
        Value::String(s) => python_float_str(s),
        _ => None,
    }
}

/// Python's `float(str)`: surrounding whitespace, `_` between digits, inf/nan spellings, and
/// any Unicode decimal digit (validators' `\d` matches `٣`, and `float("٣")` is 3.0).
fn python_float_str(text: &str) -> Option<f64> {
    // As CPython does first: Unicode whitespace becomes ' ', decimal digits become ASCII.
    let ascii: String = text
        .chars()
        .map(|c| {
            if c.is_ascii() {
                c
            } else if c.is_whitespace() {
                ' '
            } else {
                unicode_decimal(c).map_or('?', |d| char::from(b'0' + d))
            }
        })
        .collect();
    let t = ascii.trim_matches(|c: char| matches!(c, ' ' | '\t'..='\r'));
    let cleaned: String = if t.contains('_') {
        let chars: Vec<char> = t.chars().collect();
        for (i, c) in chars.iter().enumerate() {
            if *c == '_' {
                let before = i.checked_sub(1).and_then(|j| chars.get(j)).is_some_and(char::is_ascii_digit);
                let after = chars.get(i + 1).is_some_and(char::is_ascii_digit);
                if !before || !after {
                    return None;
                }
            }
        }
        t.replace('_', "")
    } else {
        t.to_string()
    };
    cleaned.parse::<f64>().ok()
}

/// The value of a Unicode decimal digit (general category Nd). Unicode assigns them only in
/// runs of ten, 0 to 9 in order, so the value is the count of Nd code points before it, mod 10.
fn unicode_decimal(c: char) -> Option<u8> {
    static ND: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    let nd = ND.get_or_init(|| Regex::new(r"^\p{Nd}$").expect("valid regex"));
    let is_nd = |c: char| nd.is_match(c.encode_utf8(&mut [0u8; 4]));
    if !is_nd(c) {
        return None;
    }
    let mut before = 0u32;
    let mut code = u32::from(c);
    while let Some(prev) = code.checked_sub(1).and_then(char::from_u32) {
        if !is_nd(prev) {
            break;
        }
        before += 1;
        code -= 1;
    }
    Some((before % 10) as u8)
}

/// `validator_rejection=<reason>` as printed last.
pub(crate) fn rejection_reason(combined: &str) -> Option<String> {
    let at = combined.rfind(REJECTION_MARKER)?;
    let rest = &combined[at + REJECTION_MARKER.len()..];
    let reason: String = rest.chars().take_while(|c| !c.is_whitespace()).take(200).collect();
    Some(reason)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn python_float_strings() {
        assert_eq!(python_float_str(" 1_000.5 "), Some(1000.5));
        assert_eq!(python_float_str("1__0"), None);
        assert_eq!(python_float_str("_1"), None);
        assert_eq!(python_float_str("-Infinity"), Some(f64::NEG_INFINITY));
        assert!(python_float_str("nan").is_some_and(f64::is_nan));
        assert_eq!(python_float_str(".5"), Some(0.5));
        assert_eq!(python_float_str("abc"), None);
        assert_eq!(python_float(&json!(true)), Some(1.0));
        assert_eq!(python_float(&Value::Null), None);
        // Cases checked against CPython 3's float().
        for (text, want) in [
            ("٣", 3.0),
            ("١٢.٥", 12.5),
            ("١_٢", 12.0),
            ("\u{1D7D1}", 3.0),
            ("\u{1D7D8}", 0.0),
            ("\u{1D7E1}", 9.0),
            ("\u{a0}3.5\u{2003}", 3.5),
            ("\x0b4\x0c", 4.0),
            ("\u{85}5\u{85}", 5.0),
            ("1e5", 1e5),
            ("1.e5", 1e5),
            ("-iNF", f64::NEG_INFINITY),
        ] {
            assert_eq!(python_float_str(text), Some(want), "{text:?}");
        }
        for text in ["²", "1_", "1e5_", "in_f", "\x1f2", "\x005", "infinity_", "", " "] {
            assert_eq!(python_float_str(text), None, "{text:?}");
        }
    }

    #[test]
    fn output_search_reads_unicode_digits_as_validators_do() {
        // Python's `\d` matches any Nd digit and float() reads it.
        assert_eq!(metric_from_output("score: ١٢.٥", "score").unwrap().value, 12.5);
        let found = metric_from_output("score=٣", "score").unwrap();
        assert_eq!(found.number.map(|n| n.to_string()), Some("3.0".to_string()));
    }

    #[test]
    fn output_search_takes_last_match() {
        let text = combined_output(b"score: 1\nSCORE = 2.5e1\n", b"  best_score: 9\nscore:x\n");
        let found = metric_from_output(&text, "score").unwrap();
        assert_eq!(found.value, 25.0);
        assert!(metric_from_output("scores: 3", "score").is_err());
        assert_eq!(metric_from_output("a.b=4", "a.b").unwrap().value, 4.0);
        // Metacharacters are literal, and `\b` keeps Python's meaning (checked against `re`).
        assert!(metric_from_output("axb=4", "a.b").is_err());
        assert_eq!(metric_from_output("a+b: 3", "a+b").unwrap().value, 3.0);
        assert!(metric_from_output("loss(val)=2", "loss(val)").is_err());
        assert!(metric_from_output("y[x]=1", "[x]").is_err());
        assert_eq!(metric_from_output("score=\n5", "score").unwrap().value, 5.0);
        assert_eq!(metric_from_output("score =  -1.5e-3x", "score").unwrap().value, -1.5e-3);
    }

    #[test]
    fn python_json_non_finite() {
        let v = parse_python_json(r#"{"m": NaN, "s": "NaN in text", "i": -Infinity}"#).unwrap();
        assert!(python_float(&v["m"]).is_some_and(f64::is_nan));
        assert_eq!(v["s"], json!("NaN in text"));
        assert_eq!(python_float(&v["i"]), Some(f64::NEG_INFINITY));
    }
}
