//! Canonical JSON against vectors that Python itself produced
//! (tests/data/gen_canonical_vectors.py writes tests/data/canonical_vectors.json).

use git_bitsota::test_support::{canonicalize_str, sha256_hex};
use serde_json::Value;

const VECTORS_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/canonical_vectors.json");

/// The claim body and the submission body whose hashes the coordinator side confirmed.
const KNOWN_HASHES: [&str; 2] = [
    "c1be902f35c60f63f4624eeb84549ac540c54eec7a0fe818943f81145cec43ad",
    "96dea5e76f0e8ca3e357c492a0181c0d2459d5aa5d6d3dc436de0c3ca4b15147",
];

fn load() -> Value {
    let text = std::fs::read_to_string(VECTORS_PATH)
        .unwrap_or_else(|e| panic!("reading {VECTORS_PATH}: {e} (run tests/data/gen_canonical_vectors.py)"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {VECTORS_PATH}: {e}"))
}

fn field<'a>(record: &'a Value, key: &str) -> &'a str {
    record[key].as_str().unwrap_or_else(|| panic!("vector record without string {key:?}: {record}"))
}

fn list<'a>(doc: &'a Value, key: &str) -> &'a [Value] {
    doc[key].as_array().map(Vec::as_slice).unwrap_or_else(|| panic!("{VECTORS_PATH} has no {key:?} list"))
}

#[test]
fn canonical_json_matches_python_vectors() {
    let doc = load();
    let vectors = list(&doc, "vectors");
    assert!(vectors.len() >= 40, "only {} vectors in {VECTORS_PATH}", vectors.len());

    let mut failures = Vec::new();
    for record in vectors {
        let (name, input) = (field(record, "name"), field(record, "input"));
        let (canonical, sha256) = (field(record, "canonical"), field(record, "sha256"));
        match canonicalize_str(input) {
            Err(e) => failures.push(format!("{name}: refused: {e}")),
            Ok(got) if got != canonical => failures
                .push(format!("{name}:\n    input    {input}\n    python   {canonical}\n    rust     {got}")),
            Ok(got) if sha256_hex(got.as_bytes()) != sha256 => {
                failures.push(format!("{name}: sha256 {} != {sha256}", sha256_hex(got.as_bytes())))
            }
            Ok(_) => {}
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} vectors differ from Python:\n{}",
        failures.len(),
        vectors.len(),
        failures.join("\n")
    );
}

#[test]
fn refused_inputs_are_refused() {
    let doc = load();
    let refused = list(&doc, "refused");
    assert!(!refused.is_empty(), "no refused inputs in {VECTORS_PATH}");
    let accepted: Vec<String> = refused
        .iter()
        .filter_map(|record| {
            let input = field(record, "input");
            canonicalize_str(input).ok().map(|got| format!("{}: {input:?} gave {got}", field(record, "name")))
        })
        .collect();
    assert!(accepted.is_empty(), "inputs that must be refused were accepted:\n{}", accepted.join("\n"));
}

#[test]
fn known_hashes_are_among_the_vectors() {
    let doc = load();
    let hashes: Vec<&str> = list(&doc, "vectors").iter().map(|record| field(record, "sha256")).collect();
    for known in KNOWN_HASHES {
        assert!(hashes.contains(&known), "known hash {known} missing from {VECTORS_PATH}");
    }
}
