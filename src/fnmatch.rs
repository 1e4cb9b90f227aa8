//! Python `fnmatch.fnmatch` semantics (CPython 3.11 on POSIX) for `allowed_patch_paths`.
//!
//! The coordinator's validators decide which changed paths are allowed with
//! `fnmatch.fnmatch(path, pattern)`, so this client must agree with it bit for
//! bit, quirks included. CPython translates the pattern into a regex; we port
//! that translation (including how `re` then reads each `[...]` set) but run a
//! direct matcher instead of a regex engine, so no input can fail to compile
//! or hit an engine size limit.
//!
//! Semantics: `*` matches any run of characters including `/` and newlines,
//! `?` any one character, `[seq]`/`[!seq]` a character set. There is no escape
//! character (a backslash is literal), no brace expansion, no special `**`,
//! matching is anchored and case-sensitive (`os.path.normcase` is the identity
//! on POSIX).

/// One element of a translated pattern. Everything except `Star` consumes
/// exactly one character, which is what makes the simple matcher below exact.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// A run of `*`: any string, including `/` and newlines.
    Star,
    /// `?`, or a negated set emptied by range removal (`[!z-a]`): any character.
    Any,
    Lit(char),
    /// `[...]`: inclusive code-point ranges (a single character is `(c, c)`).
    Set {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
    /// A set emptied by range removal (`[z-a]`): CPython emits `(?!)`.
    Never,
}

/// A compiled allowed_patch_paths pattern with Python fnmatch semantics.
#[derive(Debug, Clone)]
pub struct Pattern {
    text: String,
    tokens: Vec<Token>,
}

impl Pattern {
    /// Compiles `pattern`; never fails, as every string is a valid fnmatch pattern.
    pub fn new(pattern: &str) -> Pattern {
        Pattern { text: pattern.to_owned(), tokens: translate(pattern) }
    }

    /// The original pattern text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether `path` matches the whole pattern, as `fnmatch.fnmatch(path, pattern)`.
    pub fn matches(&self, path: &str) -> bool {
        let path: Vec<char> = path.chars().collect();
        self.matches_chars(&path)
    }

    /// [`Pattern::matches`] on a path already decoded into characters, so a path checked
    /// against many patterns is decoded once.
    pub fn matches_chars(&self, path: &[char]) -> bool {
        match_tokens(&self.tokens, path)
    }
}

/// `fnmatch.fnmatch(path, pattern)` (the unit tests' oracle comparisons call it this way).
#[cfg(test)]
pub fn fnmatch(path: &str, pattern: &str) -> bool {
    Pattern::new(pattern).matches(path)
}

/// Port of the first loop of CPython 3.11 `fnmatch.translate`.
fn translate(pattern: &str) -> Vec<Token> {
    let pat: Vec<char> = pattern.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < pat.len() {
        let c = pat[i];
        i += 1;
        match c {
            // Consecutive stars are compressed into one.
            '*' if out.last() != Some(&Token::Star) => out.push(Token::Star),
            '*' => {}
            '?' => out.push(Token::Any),
            '[' => match translate_set(&pat, i) {
                Some((token, next)) => {
                    out.push(token);
                    i = next;
                }
                // No closing `]`: the `[` is a literal.
                None => out.push(Token::Lit('[')),
            },
            c => out.push(Token::Lit(c)),
        }
    }
    out
}

/// Translates the set whose body starts at `pat[start]` (just after `[`).
/// Returns the token and the index after the closing `]`, or None if unclosed.
fn translate_set(pat: &[char], start: usize) -> Option<(Token, usize)> {
    // Find the closing `]`; a `]` right after `[` or `[!` is a member.
    let mut j = start;
    if pat.get(j) == Some(&'!') {
        j += 1;
    }
    if pat.get(j) == Some(&']') {
        j += 1;
    }
    while j < pat.len() && pat[j] != ']' {
        j += 1;
    }
    if j >= pat.len() {
        return None;
    }
    let stuff = set_stuff(&pat[start..j]);
    let token = if stuff.is_empty() {
        Token::Never
    } else if stuff == ['!'] {
        Token::Any
    } else {
        // CPython turns a leading `!` into `^` and escapes a leading `^` or
        // `[`; either way the set is then read by `re`, which we emulate.
        let negated = stuff[0] == '!';
        let body = if negated { &stuff[1..] } else { &stuff[..] };
        Token::Set { negated, ranges: parse_re_set(body) }
    };
    Some((token, j + 1))
}

/// CPython's rewriting of a set body into `re` syntax (before the `!`/`^`
/// handling): hyphens that form ranges stay bare, reversed ranges are removed,
/// and `\`, literal `-`, `&`, `~`, `|` get a backslash.
fn set_stuff(body: &[char]) -> Vec<char> {
    let escape = |chunk: &[char], escape_hyphen: bool| -> Vec<char> {
        let mut out = Vec::with_capacity(chunk.len());
        for &c in chunk {
            if c == '\\' || (escape_hyphen && c == '-') || matches!(c, '&' | '~' | '|') {
                out.push('\\');
            }
            out.push(c);
        }
        out
    };
    if !body.contains(&'-') {
        return escape(body, false);
    }
    // Split at range hyphens. The search starts past a leading `!` and the
    // first member, and resumes two past each hyphen so `a-b-c` is `a-b`,`-c`.
    let mut chunks: Vec<Vec<char>> = Vec::new();
    let mut lo = 0;
    let mut k = if body[0] == '!' { 2 } else { 1 };
    while let Some(found) = body.get(k..).and_then(|rest| rest.iter().position(|&c| c == '-')) {
        let hyphen = k + found;
        chunks.push(body[lo..hyphen].to_vec());
        lo = hyphen + 1;
        k = hyphen + 3;
    }
    let tail = &body[lo..];
    if !tail.is_empty() {
        chunks.push(tail.to_vec());
    } else if let Some(last) = chunks.last_mut() {
        // A trailing hyphen is literal. (`chunks` is never empty here: an
        // empty tail means at least one hyphen was split off.)
        last.push('-');
    }
    // Remove empty (reversed) ranges, which are invalid in `re`: drop the
    // range's two endpoints and join the chunks. Chunk 0 may become empty, so
    // whatever follows can end up leading the set (e.g. `[z-a!]` == `[!]`).
    for k in (1..chunks.len()).rev() {
        if let (Some(&a), Some(&b)) = (chunks[k - 1].last(), chunks[k].first()) {
            if a > b {
                let next = chunks.remove(k);
                chunks[k - 1].pop();
                chunks[k - 1].extend_from_slice(&next[1..]);
            }
        }
    }
    let mut stuff = Vec::new();
    for (n, chunk) in chunks.iter().enumerate() {
        if n > 0 {
            stuff.push('-');
        }
        stuff.extend(escape(chunk, true));
    }
    stuff
}

/// Reads a set body (after any negation) the way Python's `re` parser does:
/// a `]` first is a member, `\x` is the literal `x`, `x-y` is a range and a
/// hyphen before the end is literal. The body never contains a closing `]`.
fn parse_re_set(body: &[char]) -> Vec<(char, char)> {
    // One member: an escaped or bare character.
    fn member(body: &[char], i: &mut usize) -> Option<char> {
        let c = *body.get(*i)?;
        *i += 1;
        if c == '\\' {
            // CPython only ever escapes punctuation here, which `re` reads literally.
            let e = *body.get(*i)?;
            *i += 1;
            return Some(e);
        }
        Some(c)
    }
    let mut ranges = Vec::new();
    let mut i = 0;
    while let Some(lo) = member(body, &mut i) {
        if body.get(i) == Some(&'-') {
            i += 1;
            match member(body, &mut i) {
                // `re` would reject a reversed range; CPython never emits one,
                // and treating it as empty keeps us total.
                Some(hi) => {
                    if lo <= hi {
                        ranges.push((lo, hi));
                    }
                }
                // `x-]`: the hyphen is literal.
                None => {
                    ranges.push((lo, lo));
                    ranges.push(('-', '-'));
                }
            }
        } else {
            ranges.push((lo, lo));
        }
    }
    ranges
}

impl Token {
    /// Whether this single-character token accepts `c` (`Star` is handled by the matcher).
    fn accepts(&self, c: char) -> bool {
        match self {
            Token::Star | Token::Any => true,
            Token::Lit(l) => *l == c,
            Token::Set { negated, ranges } => ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated,
            Token::Never => false,
        }
    }
}

/// Anchored glob match. Every non-star token consumes exactly one character,
/// so matching each star-separated segment at its leftmost position is exact;
/// this is what CPython's `(?>.*?fixed)` atomic groups do too. On a mismatch we
/// retry from the last star one character further on: O(len(pattern) * len(path)).
fn match_tokens(tokens: &[Token], path: &[char]) -> bool {
    let (mut t, mut p) = (0, 0);
    // (token index after the last star, path index that star is resumed from)
    let mut resume: Option<(usize, usize)> = None;
    while p < path.len() {
        match tokens.get(t) {
            Some(Token::Star) => {
                t += 1;
                resume = Some((t, p));
            }
            Some(tok) if tok.accepts(path[p]) => {
                t += 1;
                p += 1;
            }
            _ => match resume {
                Some((st, sp)) => {
                    // Let the star swallow one more character.
                    resume = Some((st, sp + 1));
                    t = st;
                    p = sp + 1;
                }
                None => return false,
            },
        }
    }
    // The path is used up: only stars may remain.
    tokens[t.min(tokens.len())..].iter().all(|tok| *tok == Token::Star)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(path: &str, pat: &str) -> bool {
        fnmatch(path, pat)
    }

    #[test]
    fn stars_and_questions_cross_slashes() {
        assert!(m("submission/a/b.py", "submission/*"));
        assert!(m("submission/a/b.py", "submission/**"));
        assert!(m("a/b", "a?b"));
        assert!(m("x\ny", "x*y"));
        assert!(m("x\ny", "x?y"));
        assert!(!m("submission", "submission/*"));
        assert!(m("", ""));
        assert!(m("", "*"));
        assert!(!m("a", ""));
        assert!(m("aaab", "*a*ab"));
        assert!(!m("aaa", "*a*ab"));
    }

    #[test]
    fn literals_are_literal() {
        assert!(m("a\\b", "a\\b"));
        assert!(!m("a*b", "a\\*b") && m("a\\xb", "a\\*b"));
        assert!(m("{a,b}", "{a,b}") && !m("a", "{a,b}"));
        assert!(m("a.b+(c)|^$", "a.b+(c)|^$") && !m("axb", "a.b"));
        assert!(!m("README.md", "readme.md"));
        assert!(m("[a", "[a") && m("a[", "a[") && m("[!", "[!") && m("[]", "[]"));
    }

    #[test]
    fn sets() {
        assert!(m("b", "[a-c]") && !m("d", "[a-c]"));
        assert!(m("d", "[!a-c]") && !m("b", "[!a-c]"));
        assert!(m("/", "[!a]") && m("\n", "[!a]"));
        assert!(m("]", "[]]") && m("x", "[!]]") && !m("]", "[!]]"));
        assert!(m("-", "[]-]") && m("]", "[]-]") && !m("a", "[]-]"));
        assert!(m("x", "[!-]") && !m("-", "[!-]"));
        assert!(m("-", "[a-]") && m("a", "[a-]"));
        assert!(m("\\", "[\\]") && m("\\", "[\\-a]") && m("_", "[\\-a]"));
        assert!(m("[", "[[]") && m("&", "[&&]") && m("~", "[~~]") && m("|", "[||]"));
        assert!(m("-", "[--]") && !m("a", "[--]"));
    }

    #[test]
    fn reversed_ranges_are_removed() {
        for c in ["a", "z", "-", "!"] {
            assert!(!m(c, "[z-a]"), "{c}");
            assert!(m(c, "[!z-a]"), "{c}");
        }
        assert!(!m("", "[!z-a]") && !m("ab", "[!z-a]"));
        assert!(m("x", "[z-ax]") && !m("z", "[z-ax]"));
        // `[a--]`: the only range is reversed, leaving an empty set.
        assert!(!m("-", "[a--]") && !m("a", "[a--]"));
        // Removal can bring a `!` to the front, which then negates.
        assert!(m("q", "[z-a!]") && m("!", "[z-a!]"));
        assert!(m("q", "[z-a!b]") && !m("b", "[z-a!b]"));
        // ... and the hyphen after it is then read as a literal by `re`.
        assert!(!m("-", "[z-a!-b]") && !m("b", "[z-a!-b]") && m("a", "[z-a!-b]"));
    }

    #[test]
    fn pattern_keeps_its_text() {
        let p = Pattern::new("kernels/*.cu");
        assert_eq!(p.as_str(), "kernels/*.cu");
        assert!(p.matches("kernels/attn.cu") && !p.matches("kernels/attn.cuh"));
    }
}
