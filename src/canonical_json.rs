//! Canonical JSON, byte-identical to the coordinator's Python:
//! `json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"), ensure_ascii=True)`.
//!
//! Requests are signed over the SHA-256 of this text and the server re-canonicalises what it
//! receives, so any byte of difference is a rejected signature.
//!
//! `canonicalize_str` uses its own small parser rather than `serde_json::from_str`, because
//! with `arbitrary_precision` serde_json reads an object whose only key is
//! `"$serde_json::private::Number"` as a number, and because its errors cannot tell a lone
//! surrogate from other bad escapes. The parser accepts what Python's `json.loads` accepts,
//! except for the few inputs refused on purpose (see [`CanonicalError`]).

use serde_json::{Map, Number, Value};
use sha2::{Digest, Sha256};

/// Python 3.11+ refuses to convert integers with more digits than this (`sys.int_info.default_max_str_digits`),
/// so the coordinator could neither load nor dump such a body.
const PYTHON_MAX_INT_DIGITS: usize = 4300;

/// Deeper nesting is refused. Python's own limit is its recursion limit (about 1000, less
/// whatever the stack already holds); staying well below it means we never sign a body the
/// server cannot parse, and keeps our recursion shallow.
const MAX_DEPTH: usize = 512;

#[derive(Debug, thiserror::Error)]
pub enum CanonicalError {
    /// Not JSON that Python's `json.loads` would accept.
    #[error("invalid JSON at byte {offset}: {message}")]
    InvalidJson { offset: usize, message: String },
    /// `\ud800` and friends: Python keeps them as lone surrogates, but a Rust `String` cannot
    /// hold one, so such a body cannot be reproduced here.
    #[error("lone UTF-16 surrogate escape \\u{code:04x} at byte {offset}: cannot be represented")]
    LoneSurrogate { offset: usize, code: u16 },
    /// `NaN`, `Infinity`, or a number like `1e400` that overflows: Python would write
    /// `Infinity`/`NaN`, which is not JSON and which the coordinator refuses.
    #[error("number {0} is not finite")]
    NonFiniteFloat(String),
    /// More digits than Python converts by default (it raises `ValueError`).
    #[error("integer with {0} digits exceeds Python's 4300-digit limit")]
    IntegerTooLong(usize),
    /// A `serde_json::Number` whose text is not a JSON number (only reachable through
    /// unusual construction of a `Value`).
    #[error("invalid number text {0:?}")]
    InvalidNumber(String),
}

/// Canonical text of an already-parsed value.
pub fn to_canonical_string(value: &Value) -> Result<String, CanonicalError> {
    let mut out = String::new();
    write_value(&mut out, value)?;
    Ok(out)
}

/// Parse JSON text the way Python's `json.loads` would accept it, then canonicalise.
pub fn canonicalize_str(json_text: &str) -> Result<String, CanonicalError> {
    to_canonical_string(&parse(json_text)?)
}

/// Python `repr()` of an `f64`: shortest round-trip digits, fixed notation iff the decimal
/// exponent is in [-4, 16) (always with a fractional digit), otherwise `d[.ddd]e±XX`.
/// Non-finite values give Python's `inf`, `-inf` and `nan`; canonical JSON never gets there
/// because [`to_canonical_string`] refuses them first.
pub fn python_float_repr(value: f64) -> String {
    if value.is_nan() {
        return "nan".to_string();
    }
    if value.is_infinite() {
        return if value > 0.0 { "inf" } else { "-inf" }.to_string();
    }
    // Rust's `{:e}` picks the shortest digits that round-trip, as Python's repr does
    // (e.g. "1.5e-7", "2.64e2", "0e0"); only the layout differs.
    let sci = format!("{:e}", value.abs());
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exponent.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let sign = if value.is_sign_negative() { "-" } else { "" };

    let body = if (-4..16).contains(&exp) {
        if exp >= 0 {
            let int_len = exp as usize + 1;
            if digits.len() <= int_len {
                format!("{digits}{}.0", "0".repeat(int_len - digits.len()))
            } else {
                format!("{}.{}", &digits[..int_len], &digits[int_len..])
            }
        } else {
            format!("0.{}{digits}", "0".repeat((-exp - 1) as usize))
        }
    } else {
        let (first, rest) = digits.split_at(1.min(digits.len()));
        let fraction = if rest.is_empty() { String::new() } else { format!(".{rest}") };
        let exp_sign = if exp < 0 { '-' } else { '+' };
        format!("{first}{fraction}e{exp_sign}{:02}", exp.unsigned_abs())
    };
    format!("{sign}{body}")
}

/// Lowercase hex SHA-256 of bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn write_value(out: &mut String, value: &Value) -> Result<(), CanonicalError> {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => out.push_str(&number_text(n)?),
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item)?;
            }
            out.push(']');
        }
        Value::Object(map) => {
            // Sort explicitly: `Map` is only sorted while no crate in the build enables
            // serde_json's `preserve_order`. Byte order of UTF-8 is code-point order, as in Python.
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(out, key);
                out.push(':');
                write_value(out, item)?;
            }
            out.push('}');
        }
    }
    Ok(())
}

/// Python decides int vs float by the text: a `.`, `e` or `E` makes a float.
/// `arbitrary_precision` keeps that text, so big integers stay exact.
fn number_text(n: &Number) -> Result<String, CanonicalError> {
    let text = n.as_str();
    if text.contains(['.', 'e', 'E']) {
        let f: f64 = text.parse().map_err(|_| CanonicalError::InvalidNumber(text.to_string()))?;
        if !f.is_finite() {
            return Err(CanonicalError::NonFiniteFloat(text.to_string()));
        }
        return Ok(python_float_repr(f));
    }
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let well_formed = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'));
    if !well_formed {
        return Err(CanonicalError::InvalidNumber(text.to_string()));
    }
    if digits.len() > PYTHON_MAX_INT_DIGITS {
        return Err(CanonicalError::IntegerTooLong(digits.len()));
    }
    // `-0` is the int 0 in Python.
    Ok(if negative && digits != "0" { text.to_string() } else { digits.to_string() })
}

/// `ensure_ascii=True`: printable ASCII as is (`/` too), short escapes where Python has them,
/// everything else as lowercase `\uXXXX` UTF-16 units.
fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    out.push('"');
}

/// Parse with Python's `json.loads` rules (its C scanner): whitespace is ` \t\n\r`, strings
/// may not hold raw control characters, `\u` takes exactly four hex digits, duplicate keys
/// keep the last value, `NaN`/`Infinity`/`-Infinity` are recognised (and refused).
fn parse(text: &str) -> Result<Value, CanonicalError> {
    let mut parser = Parser { text, pos: 0 };
    parser.skip_ws();
    let value = parser.value(0)?;
    parser.skip_ws();
    if parser.pos != text.len() {
        return Err(parser.error("extra data after the JSON value"));
    }
    Ok(value)
}

struct Parser<'a> {
    text: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn rest(&self) -> &str {
        self.text.get(self.pos..).unwrap_or("")
    }

    fn error(&self, message: &str) -> CanonicalError {
        CanonicalError::InvalidJson { offset: self.pos, message: message.to_string() }
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    /// Consume `word` if the input continues with it.
    fn eat(&mut self, word: &str) -> bool {
        let found = self.rest().starts_with(word);
        if found {
            self.pos += word.len();
        }
        found
    }

    fn value(&mut self, depth: usize) -> Result<Value, CanonicalError> {
        match self.peek() {
            Some(b'{' | b'[') if depth >= MAX_DEPTH => Err(self.error("nesting too deep")),
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => Ok(Value::String(self.string()?)),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ if self.eat("null") => Ok(Value::Null),
            _ if self.eat("true") => Ok(Value::Bool(true)),
            _ if self.eat("false") => Ok(Value::Bool(false)),
            _ => {
                for word in ["NaN", "Infinity"] {
                    if self.rest().starts_with(word) {
                        return Err(CanonicalError::NonFiniteFloat(word.to_string()));
                    }
                }
                Err(self.error("expected a value"))
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<Value, CanonicalError> {
        self.pos += 1; // '{'
        let mut map = Map::new();
        self.skip_ws();
        if self.eat("}") {
            return Ok(Value::Object(map));
        }
        loop {
            if self.peek() != Some(b'"') {
                return Err(self.error("expected a string key"));
            }
            let key = self.string()?;
            self.skip_ws();
            if !self.eat(":") {
                return Err(self.error("expected ':'"));
            }
            self.skip_ws();
            let item = self.value(depth + 1)?;
            map.insert(key, item); // a repeated key replaces the earlier value, as in Python
            self.skip_ws();
            if self.eat("}") {
                return Ok(Value::Object(map));
            }
            if !self.eat(",") {
                return Err(self.error("expected ',' or '}'"));
            }
            self.skip_ws();
        }
    }

    fn array(&mut self, depth: usize) -> Result<Value, CanonicalError> {
        self.pos += 1; // '['
        let mut items = Vec::new();
        self.skip_ws();
        if self.eat("]") {
            return Ok(Value::Array(items));
        }
        loop {
            items.push(self.value(depth + 1)?);
            self.skip_ws();
            if self.eat("]") {
                return Ok(Value::Array(items));
            }
            if !self.eat(",") {
                return Err(self.error("expected ',' or ']'"));
            }
            self.skip_ws();
        }
    }

    /// A string literal starting at the opening quote.
    fn string(&mut self) -> Result<String, CanonicalError> {
        self.pos += 1; // '"'
        let mut out = String::new();
        loop {
            // Copy the plain run up to the next quote, backslash or control byte. Those are
            // all ASCII, so the slice ends on a char boundary.
            let run = self.rest().find(|c: char| c == '"' || c == '\\' || c < ' ');
            let Some(len) = run else {
                self.pos = self.text.len();
                return Err(self.error("unterminated string"));
            };
            out.push_str(&self.rest()[..len]);
            self.pos += len;
            match self.peek() {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    self.escape(&mut out)?;
                }
                _ => return Err(self.error("raw control character in string")),
            }
        }
    }

    /// One escape, the backslash already consumed.
    fn escape(&mut self, out: &mut String) -> Result<(), CanonicalError> {
        let short = match self.peek() {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => {
                let start = self.pos - 1;
                self.pos += 1;
                let unit = self.hex4()?;
                let code = match unit {
                    0xD800..=0xDBFF if self.rest().starts_with("\\u") => {
                        self.pos += 2;
                        let low = self.hex4()?;
                        if !(0xDC00..=0xDFFF).contains(&low) {
                            return Err(CanonicalError::LoneSurrogate { offset: start, code: unit });
                        }
                        0x10000 + ((u32::from(unit) - 0xD800) << 10) + (u32::from(low) - 0xDC00)
                    }
                    0xD800..=0xDFFF => {
                        return Err(CanonicalError::LoneSurrogate { offset: start, code: unit });
                    }
                    _ => u32::from(unit),
                };
                let c = char::from_u32(code).ok_or_else(|| self.error("invalid \\u escape"))?;
                out.push(c);
                return Ok(());
            }
            _ => return Err(self.error("invalid escape")),
        };
        self.pos += 1;
        out.push(short);
        Ok(())
    }

    /// Exactly four ASCII hex digits (`u16::from_str_radix` alone would also take a `+`).
    fn hex4(&mut self) -> Result<u16, CanonicalError> {
        let digits = self.rest().get(..4).filter(|d| d.bytes().all(|b| b.is_ascii_hexdigit()));
        let unit = digits.and_then(|d| u16::from_str_radix(d, 16).ok());
        let unit = unit.ok_or_else(|| self.error("invalid \\uXXXX escape"))?;
        self.pos += 4;
        Ok(unit)
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?`, as Python's scanner matches it.
    fn number(&mut self) -> Result<Value, CanonicalError> {
        let start = self.pos;
        let digits = |p: &mut Self| {
            let from = p.pos;
            while matches!(p.peek(), Some(b'0'..=b'9')) {
                p.pos += 1;
            }
            p.pos - from
        };
        self.eat("-");
        if self.eat("Infinity") {
            return Err(CanonicalError::NonFiniteFloat("-Infinity".to_string()));
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                digits(self);
            }
            _ => return Err(self.error("expected a digit")),
        }
        if self.eat(".") && digits(self) == 0 {
            return Err(self.error("expected a digit after '.'"));
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if !self.eat("+") {
                self.eat("-");
            }
            if digits(self) == 0 {
                return Err(self.error("expected a digit in the exponent"));
            }
        }
        let text = self.text.get(start..self.pos).unwrap_or("");
        let number: Number = text.parse().map_err(|_| CanonicalError::InvalidNumber(text.to_string()))?;
        Ok(Value::Number(number))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_repr_matches_python() {
        let cases: &[(f64, &str)] = &[
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (264.0, "264.0"),
            (0.1, "0.1"),
            (0.1 + 0.2, "0.30000000000000004"),
            (0.0001, "0.0001"),
            (9.999e-05, "9.999e-05"),
            (1e-05, "1e-05"),
            (1.5e-07, "1.5e-07"),
            (1e15, "1000000000000000.0"),
            (9999999999999998.0, "9999999999999998.0"),
            (1e16, "1e+16"),
            (123456789012345678.0, "1.2345678901234568e+17"),
            (1e22, "1e+22"),
            (5e-324, "5e-324"),
            (2.2250738585072014e-308, "2.2250738585072014e-308"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (-1.7976931348623157e308, "-1.7976931348623157e+308"),
            (-5e-324, "-5e-324"),
            (-1.5, "-1.5"),
            (-0.0001, "-0.0001"),
            (-1e-05, "-1e-05"),
            (-1e16, "-1e+16"),
            (1e100, "1e+100"),
            (1.25e-100, "1.25e-100"),
            (123.456, "123.456"),
        ];
        for &(value, expected) in cases {
            assert_eq!(python_float_repr(value), expected, "repr of {value:e}");
        }
    }

    #[test]
    fn non_finite_repr_is_pythons() {
        assert_eq!(python_float_repr(f64::INFINITY), "inf");
        assert_eq!(python_float_repr(f64::NEG_INFINITY), "-inf");
        assert_eq!(python_float_repr(f64::NAN), "nan");
    }

    #[test]
    fn numbers_and_strings() {
        let ok = |text: &str| canonicalize_str(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(ok("-0"), "0");
        assert_eq!(ok("1E5"), "100000.0");
        assert_eq!(ok("[3, 3.0, 1.50]"), "[3,3.0,1.5]");
        assert_eq!(ok("-123456789012345678901234567890"), "-123456789012345678901234567890");
        assert_eq!(ok(r#""\/ 😀 é \u007f""#), r#""/ \ud83d\ude00 \u00e9 \u007f""#);
        assert_eq!(ok(r#"{"b":1,"a":{"d":1,"c":2},"b":2}"#), r#"{"a":{"c":2,"d":1},"b":2}"#);
        // serde_json would read this object as the number 5.
        assert_eq!(ok(r#"{"$serde_json::private::Number":"5"}"#), r#"{"$serde_json::private::Number":"5"}"#);
    }

    #[test]
    fn refusals() {
        assert!(matches!(canonicalize_str("1e400"), Err(CanonicalError::NonFiniteFloat(_))));
        assert!(matches!(canonicalize_str("[-Infinity]"), Err(CanonicalError::NonFiniteFloat(_))));
        assert!(matches!(canonicalize_str(r#""\ud800""#), Err(CanonicalError::LoneSurrogate { .. })));
        assert!(matches!(canonicalize_str(r#""\udc00x""#), Err(CanonicalError::LoneSurrogate { .. })));
        assert!(matches!(canonicalize_str(&"9".repeat(4301)), Err(CanonicalError::IntegerTooLong(4301))));
        assert!(canonicalize_str(&"9".repeat(4300)).is_ok());
        for bad in [
            "",
            " ",
            "[1,]",
            "{\"a\":1,}",
            "01",
            "1.",
            ".5",
            "+1",
            r#""\u+0e9""#,
            "\"\t\"",
            "[1] 2",
            "\u{feff}{}",
            "tru",
            "\"abc",
        ] {
            assert!(matches!(canonicalize_str(bad), Err(CanonicalError::InvalidJson { .. })), "{bad:?}");
        }
        assert!(
            canonicalize_str(&format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1))).is_err()
        );
        assert!(canonicalize_str(&format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH))).is_ok());
    }
}
