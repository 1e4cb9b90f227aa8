//! `git_bitsota::fnmatch` must agree with CPython's `fnmatch.fnmatch` on every
//! case recorded by `tests/data/gen_fnmatch_cases.py`.

use git_bitsota::test_support::Pattern;
use serde_json::Value;

const CASES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/fnmatch_cases.json");

/// (pattern, path, expected) triples from the recorded table.
fn load_cases() -> Vec<(String, String, bool)> {
    let text = std::fs::read_to_string(CASES).unwrap_or_else(|e| panic!("reading {CASES}: {e}"));
    let doc: Value = serde_json::from_str(&text).expect("fnmatch_cases.json is not valid JSON");
    let cases = doc["cases"].as_array().expect("fnmatch_cases.json has no \"cases\" array");
    cases
        .iter()
        .enumerate()
        .map(|(i, case)| {
            let field = |key: &str| case[key].as_str().map(str::to_owned);
            match (field("pattern"), field("path"), case["expected"].as_bool()) {
                (Some(pattern), Some(path), Some(expected)) => (pattern, path, expected),
                _ => panic!("case {i} is malformed: {case}"),
            }
        })
        .collect()
}

#[test]
fn agrees_with_python_fnmatch() {
    let cases = load_cases();
    let n_true = cases.iter().filter(|c| c.2).count();
    assert!(cases.len() >= 200, "only {} cases: the table was truncated", cases.len());
    assert!(
        n_true > 0 && n_true < cases.len(),
        "the table must hold both outcomes ({n_true} of {} true)",
        cases.len()
    );

    let mismatches: Vec<String> = cases
        .iter()
        .filter(|(pattern, path, expected)| Pattern::new(pattern).matches(path) != *expected)
        .map(|(pattern, path, expected)| {
            format!("  fnmatch({path:?}, {pattern:?}): python={expected}, rust={}", !expected)
        })
        .collect();
    assert!(
        mismatches.is_empty(),
        "{} of {} cases disagree with Python:\n{}",
        mismatches.len(),
        cases.len(),
        mismatches.join("\n")
    );
}

#[test]
fn pattern_keeps_its_text() {
    for text in ["submission/**", "[!]]", "a\\b", ""] {
        assert_eq!(Pattern::new(text).as_str(), text);
    }
}
