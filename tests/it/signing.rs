//! Key derivation and BT-AUTH-V1 signing against vectors made by the Python reference
//! libraries (tests/data/signing-vectors.json, protocol.md §3.7).

use crate::verify::VerifyError;
use git_bitsota::test_support as auth;
use git_bitsota::test_support::{canonicalize_str, sha256_hex};
use serde_json::Value;

use crate::common::DATA;

const DEV_PHRASE: &str = "bottom drive obey lake curtain smoke basket hold race lonely fit walk";

fn vectors() -> Value {
    let text = std::fs::read_to_string(format!("{DATA}/signing-vectors.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn unhex(text: &str) -> Vec<u8> {
    hex::decode(text.trim_start_matches("0x")).unwrap()
}

fn sig64(text: &str) -> [u8; 64] {
    unhex(text).try_into().unwrap()
}

#[test]
fn addresses_and_public_keys_match_python() {
    let doc = vectors();
    let anchor = &doc["dev_phrase_anchor"];
    let key = crate::common::hotkey_from_phrase(anchor["mnemonic"].as_str().unwrap());
    assert_eq!(key.ss58(), anchor["ss58_address"].as_str().unwrap());
    assert_eq!(format!("0x{}", key.public_hex()), anchor["public_key"].as_str().unwrap());
    let vectors = doc["vectors"].as_array().unwrap();
    assert_eq!(vectors.len(), 3);
    for v in vectors {
        let key = crate::common::hotkey_from_phrase(v["mnemonic"].as_str().unwrap());
        assert_eq!(key.ss58(), v["ss58_address"].as_str().unwrap(), "{}", v["words"]);
        assert_eq!(format!("0x{}", key.public_hex()), v["public_key"].as_str().unwrap());
        assert_eq!(git_bitsota::test_support::ss58_to_public(key.ss58()), Some(*key.public()));
    }
}

#[test]
fn python_signatures_verify_with_sp_core() {
    for v in vectors()["vectors"].as_array().unwrap() {
        let public: [u8; 32] = unhex(v["public_key"].as_str().unwrap()).try_into().unwrap();
        let message = v["message_utf8"].as_str().unwrap().as_bytes();
        assert_eq!(message, &unhex(v["message_hex"].as_str().unwrap())[..]);
        for lib in ["signature_substrate_interface", "signature_bittensor_wallet"] {
            let sig = sig64(v[lib].as_str().unwrap());
            assert!(crate::verify::sr25519_verify(&public, message, &sig), "{lib} for {}", v["ss58_address"]);
            // A different message must not verify with the same signature.
            let mut other = message.to_vec();
            other.push(b'x');
            assert!(!crate::verify::sr25519_verify(&public, &other, &sig));
        }
    }
}

#[test]
fn our_signatures_verify_and_are_randomized() {
    for v in vectors()["vectors"].as_array().unwrap() {
        let key = crate::common::hotkey_from_phrase(v["mnemonic"].as_str().unwrap());
        let message = v["message_utf8"].as_str().unwrap().as_bytes();
        let a = key.sign(message);
        let b = key.sign(message);
        assert_ne!(a, b, "sr25519 signatures are randomized");
        assert!(crate::verify::sr25519_verify(key.public(), message, &a));
        assert!(crate::verify::sr25519_verify(key.public(), message, &b));
        // Signed raw, not <Bytes>-wrapped.
        let wrapped = [b"<Bytes>".as_slice(), message, b"</Bytes>"].concat();
        assert!(!crate::verify::sr25519_verify(key.public(), &wrapped, &a));
    }
}

#[test]
fn protocol_claim_vector() {
    let key = crate::common::hotkey_from_phrase(DEV_PHRASE);
    assert_eq!(key.ss58(), "5DfhGyQdFobKM8NsWvEeAKk5EQQgYe9AydgJ7rMB6E1EqRzV");
    assert_eq!(key.public_hex(), "46ebddef8cd9bb167dc30878d7113b7e168e6f0646beffd77d69d39bad76b47a");
    let body = canonicalize_str(r#"{"claim_description": "manual miner run"}"#).unwrap();
    assert_eq!(body, r#"{"claim_description":"manual miner run"}"#);
    let path = "/api/v1/tasks/c54218ce-9ffd-4389-b97d-2d952adb4a1a/claim";
    let signed = auth::sign_request(&key, "post", path, "", Some(body.as_bytes()), 1_750_000_000);
    let expected = "BT-AUTH-V1\nPOST\n/api/v1/tasks/c54218ce-9ffd-4389-b97d-2d952adb4a1a/claim\n\n1750000000\nc1be902f35c60f63f4624eeb84549ac540c54eec7a0fe818943f81145cec43ad";
    assert_eq!(signed.message, expected);
    assert_eq!(signed.headers.hotkey, key.ss58());
    assert_eq!(signed.headers.timestamp, "1750000000");
    assert_eq!(signed.headers.signature.len(), 128);
    assert!(signed.headers.signature.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
    assert!(crate::verify::sr25519_verify(
        key.public(),
        expected.as_bytes(),
        &sig64(&signed.headers.signature)
    ));
    // The signature the Python library made for this message (protocol.md §3.7).
    let python = sig64("d4db4c0291b297cabe353bea3a574c38abe168d962818b5d5bfba687e98c244b978da9c826a494fd85ed814fa4ac297ba6b1b4d7513e96877c336b289c97f089");
    assert!(crate::verify::sr25519_verify(key.public(), expected.as_bytes(), &python));
}

#[test]
fn protocol_other_vectors() {
    let key = crate::common::hotkey_from_phrase(DEV_PHRASE);
    assert_eq!(sha256_hex(b"{}"), "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
    let cancel = auth::sign_request(
        &key,
        "POST",
        "api/v1/claims/d0de5770-fa6c-42bf-87f9-3259d149aacc/cancel",
        "",
        None,
        1_750_000_000,
    );
    assert_eq!(
        cancel.message,
        "BT-AUTH-V1\nPOST\n/api/v1/claims/d0de5770-fa6c-42bf-87f9-3259d149aacc/cancel\n\n1750000000\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    let query = auth::encode_query(&[
        ("task_id".into(), "c54218ce-9ffd-4389-b97d-2d952adb4a1a".into()),
        ("status".into(), "active".into()),
    ]);
    let get = auth::sign_request(&key, "get", "/api/v1/claims", &query, None, 1_750_000_000);
    assert_eq!(
        get.message,
        "BT-AUTH-V1\nGET\n/api/v1/claims\ntask_id=c54218ce-9ffd-4389-b97d-2d952adb4a1a&status=active\n1750000000\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    // The submission body in the reference's insertion order and wire spacing.
    let wire = r#"{"claim_id": "d0de5770-fa6c-42bf-87f9-3259d149aacc", "base_ref": "0123456789abcdef0123456789abcdef01234567", "patch": "diff --git a/x b/x\n", "summary": "h\u00e9llo \u2713 \ud83d\ude00", "claimed_metrics": {"heldout_ppl": 264.0, "tiny": 1e-05, "big": 1e+16, "n": 3}, "artifact_uri": "https://huggingface.co/x/resolve/abc/a.zip", "artifact_sha256": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "artifact_size_bytes": 123}"#;
    let canonical = canonicalize_str(wire).unwrap();
    assert_eq!(
        sha256_hex(canonical.as_bytes()),
        "96dea5e76f0e8ca3e357c492a0181c0d2459d5aa5d6d3dc436de0c3ca4b15147"
    );
}

#[test]
fn server_side_verification() {
    let key = crate::common::hotkey_from_phrase(DEV_PHRASE);
    let body = br#"{"a":1.0,"b":"x"}"#;
    let signed = auth::sign_request(&key, "POST", "/api/v1/submissions", "", Some(body), 1_000_000);
    let headers = signed.headers.clone();
    let lookup = |h: &str| match h {
        auth::HEADER_HOTKEY => Some(headers.hotkey.clone()),
        auth::HEADER_TIMESTAMP => Some(headers.timestamp.clone()),
        auth::HEADER_SIGNATURE => Some(headers.signature.clone()),
        _ => None,
    };
    let ok = crate::verify::verify_request("POST", "/api/v1/submissions", "", body, lookup, 1_000_010, 300);
    assert_eq!(ok, Ok(*key.public()));
    // The same JSON with other spacing and key order still verifies (re-canonicalised).
    let wire = br#"{"b": "x", "a": 1.0}"#;
    assert!(crate::verify::verify_request("POST", "/api/v1/submissions", "", wire, lookup, 1_000_000, 300)
        .is_ok());
    // But 1.0 → 1 is another body.
    let changed = br#"{"a":1,"b":"x"}"#;
    assert_eq!(
        crate::verify::verify_request("POST", "/api/v1/submissions", "", changed, lookup, 1_000_000, 300),
        Err(VerifyError::BadSignature)
    );
    assert_eq!(
        crate::verify::verify_request("POST", "/api/v1/other", "", body, lookup, 1_000_000, 300),
        Err(VerifyError::BadSignature)
    );
    assert!(matches!(
        crate::verify::verify_request("POST", "/api/v1/submissions", "", body, lookup, 1_000_301, 300),
        Err(VerifyError::StaleTimestamp { skew: 301, .. })
    ));
    let upper = |h: &str| {
        if h == auth::HEADER_SIGNATURE {
            Some(headers.signature.to_uppercase())
        } else {
            lookup(h)
        }
    };
    assert_eq!(
        crate::verify::verify_request("POST", "/api/v1/submissions", "", body, upper, 1_000_000, 300),
        Err(VerifyError::BadSignatureEncoding)
    );
    let none = |_: &str| None;
    assert_eq!(
        crate::verify::verify_request("POST", "/api/v1/submissions", "", body, none, 1_000_000, 300),
        Err(VerifyError::MissingHeader(auth::HEADER_HOTKEY))
    );
}
