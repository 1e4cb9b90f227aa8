//! Hotkey loading: the fixture wallets written by bittensor-wallet 4.1.1 (plain and `$NACL`),
//! mnemonic sources, and every refusal (exit 4, never a secret in the output).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::common::{Env, Run, DATA};

const HK1_SS58: &str = "5H1cuWW6GMGRfsmrEuCspSt1aZg6TRD2wM1fuVoHLV3njATc";
const HK1_PUBLIC: &str = "dad2c3b1626a106708dc14527fef05cdd720cb3b298c6b7caee28efef38ca836";
const HK1_PHRASE: &str = "quick monitor wasp inflict margin route rule among beach cave uncover pave";
const HK1_SEED: &str = "0xfb92668ffd82817710f85a08ab5d4c8f2f711880e98f2e4e709b1819d5756c81";
const HK1_PRIVATE: &str = "0x4d8385f272aa4b8f41822fc09568580db7f83f6b41c31ec4be68528b7bfc750bca57e218a2484a4b0cae4c8dc99452f33ca07d51db74f14b835adc4cd457de40";
const OTHER_SS58: &str = "5CMfHUi3MnBgEuQWEAT1FDmPYrRbsBofBihym4g32jPWZ4Zz";
const NACL_PASSWORD: &str = "test-only-password-1";

/// Copy a fixture wallet (`plain` or `nacl`) into the Env as `<root>/wallets/example`, with
/// the modes bittensor-wallet writes (600 files), and select hotkey `hk1` through the env.
fn wallet_env(kind: &str) -> (Env, PathBuf) {
    let mut env = Env::new();
    let wallets = env.path("wallets");
    let src = Path::new(DATA).join("wallets").join(kind).join("example");
    let dst = wallets.join("example");
    fs::create_dir_all(dst.join("hotkeys")).unwrap();
    for rel in ["coldkeypub.txt", "hotkeys/hk1", "hotkeys/hk1pub.txt"] {
        fs::copy(src.join(rel), dst.join(rel)).unwrap();
        fs::set_permissions(dst.join(rel), fs::Permissions::from_mode(0o600)).unwrap();
    }
    env.set("BT_WALLET_PATH", wallets.to_str().unwrap());
    env.set("BT_WALLET_NAME", "example");
    env.set("BT_WALLET_HOTKEY", "hk1");
    let keyfile = dst.join("hotkeys/hk1");
    (env, keyfile)
}

/// Write a hand-made keyfile as the selected hotkey `hk1`.
fn write_keyfile(path: &Path, bytes: &[u8], mode: u32) {
    fs::write(path, bytes).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

fn whoami(env: &Env) -> Run {
    env.tool(env.root(), &["whoami", "--json"])
}

fn error_code(run: &Run) -> String {
    run.json()["error"]["code"].as_str().unwrap_or_default().to_string()
}

/// Nothing secret appears anywhere in what the tool printed.
fn assert_no_secret(run: &Run) {
    let all = format!("{}{}", run.out(), run.stderr);
    for secret in [
        HK1_PHRASE,
        "quick monitor",
        HK1_SEED,
        &HK1_SEED[2..],
        &HK1_PRIVATE[2..],
        NACL_PASSWORD,
        "wrong-password",
    ] {
        assert!(!all.contains(secret), "output leaks a secret ({secret}):\n{all}");
    }
}

#[test]
fn plain_wallet_loads() {
    let (env, keyfile) = wallet_env("plain");
    let run = whoami(&env).expect(0);
    let out = run.json();
    assert_eq!(out["version"], 1);
    assert_eq!(out["ss58"], HK1_SS58);
    assert_eq!(out["public_key"], HK1_PUBLIC);
    assert_eq!(out["source"], "wallet-file");
    assert_eq!(out["path"], keyfile.to_str().unwrap());
    assert_no_secret(&run);
    // Flags override the environment, with both spellings.
    let run =
        env.tool(env.root(), &["whoami", "--wallet.name", "example", "--wallet-hotkey", "hk1"]).expect(0);
    assert_eq!(run.out().trim(), HK1_SS58);
    assert!(run.stderr.contains("wallet-file"), "{}", run.stderr);
}

#[test]
fn nacl_wallet_with_right_password_loads() {
    let (mut env, _) = wallet_env("nacl");
    env.set("BITSOTA_HOTKEY_PASSWORD", NACL_PASSWORD);
    let run = whoami(&env).expect(0);
    assert_eq!(run.json()["ss58"], HK1_SS58);
    assert_no_secret(&run);
}

#[test]
fn nacl_wallet_password_file() {
    let (mut env, _) = wallet_env("nacl");
    let file = env.path("password.txt");
    // A trailing newline (as `echo` writes) is not part of the password.
    write_keyfile(&file, format!("{NACL_PASSWORD}\n").as_bytes(), 0o600);
    env.set("BITSOTA_HOTKEY_PASSWORD_FILE", file.to_str().unwrap());
    let run = whoami(&env).expect(0);
    assert_eq!(run.json()["ss58"], HK1_SS58);
    // The password file must be private too.
    fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
    let run = whoami(&env).expect(4);
    assert_eq!(error_code(&run), "insecure_keyfile");
}

#[test]
fn nacl_wallet_wrong_password_is_exit_4() {
    let (mut env, _) = wallet_env("nacl");
    env.set("BITSOTA_HOTKEY_PASSWORD", "wrong-password");
    let run = whoami(&env).expect(4);
    assert_eq!(error_code(&run), "wrong_password");
    assert!(run.stderr.contains("wrong password"), "{}", run.stderr);
    assert_no_secret(&run);
}

#[test]
fn nacl_wallet_without_password_is_exit_4() {
    let (env, _) = wallet_env("nacl");
    // stdin is not a terminal in tests, so there is nobody to ask.
    let run = whoami(&env).expect(4);
    assert_eq!(error_code(&run), "password_required");
    assert!(run.stderr.contains("BITSOTA_HOTKEY_PASSWORD"), "{}", run.stderr);
}

#[test]
fn group_readable_keyfile_is_refused_with_chmod_hint() {
    let (mut env, keyfile) = wallet_env("plain");
    fs::set_permissions(&keyfile, fs::Permissions::from_mode(0o640)).unwrap();
    let run = whoami(&env).expect(4);
    assert_eq!(error_code(&run), "insecure_keyfile");
    assert!(run.stderr.contains(&format!("chmod 600 {}", keyfile.display())), "{}", run.stderr);
    assert!(run.stderr.contains("0640"), "{}", run.stderr);
    assert_no_secret(&run);
    // World-readable too.
    fs::set_permissions(&keyfile, fs::Permissions::from_mode(0o604)).unwrap();
    assert_eq!(error_code(&whoami(&env).expect(4)), "insecure_keyfile");
    // The explicit override.
    env.set("BITSOTA_ALLOW_INSECURE_KEYFILE", "1");
    assert_eq!(whoami(&env).expect(0).json()["ss58"], HK1_SS58);
}

#[test]
fn public_only_keyfile_is_refused() {
    let (mut env, _) = wallet_env("plain");
    env.set("BT_WALLET_HOTKEY", "hk1pub.txt");
    let run = whoami(&env).expect(4);
    assert_eq!(error_code(&run), "public_only_keyfile");
    assert!(run.stderr.contains("public-only"), "{}", run.stderr);
}

#[test]
fn mismatched_address_is_refused() {
    let (env, keyfile) = wallet_env("plain");
    let doc = json!({"secretPhrase": HK1_PHRASE, "ss58Address": OTHER_SS58});
    write_keyfile(&keyfile, doc.to_string().as_bytes(), 0o600);
    let run = whoami(&env).expect(4);
    assert_eq!(error_code(&run), "key_mismatch");
    assert!(run.stderr.contains(OTHER_SS58) && run.stderr.contains(HK1_SS58), "{}", run.stderr);
    assert_no_secret(&run);
    // A wrong publicKey as well.
    let doc = json!({"secretSeed": HK1_SEED, "publicKey": format!("0x{}", "00".repeat(32))});
    write_keyfile(&keyfile, doc.to_string().as_bytes(), 0o600);
    assert_eq!(error_code(&whoami(&env).expect(4)), "key_mismatch");
}

#[test]
fn lenient_keyfile_json() {
    let (env, keyfile) = wallet_env("plain");
    // Seed only, BT7-style nulls and spacing, any order.
    let cases = [
        json!({"accountId": null, "publicKey": null, "secretPhrase": null, "secretSeed": HK1_SEED, "ss58Address": HK1_SS58}),
        json!({"privateKey": HK1_PRIVATE}),
        json!({"ss58Address": HK1_SS58, "secretPhrase": HK1_PHRASE, "cryptoType": 1}),
    ];
    for doc in cases {
        write_keyfile(&keyfile, serde_json::to_string_pretty(&doc).unwrap().as_bytes(), 0o600);
        let run = whoami(&env).expect(0);
        assert_eq!(run.json()["ss58"], HK1_SS58, "{doc}");
        assert_no_secret(&run);
    }
}

#[test]
fn unsupported_and_broken_keyfiles() {
    let (env, keyfile) = wallet_env("plain");
    let cases: [(&[u8], &str); 8] = [
        (b"$ANSIBLE_VAULT;1.1;AES256\n6162636465\n", "legacy_keyfile"),
        (b"gAAAAABkZXNvbWV0aGluZw==", "legacy_keyfile"),
        (b"this is not a keyfile", "bad_keyfile"),
        (b"", "bad_keyfile"),
        (b"[1, 2, 3]", "bad_keyfile"),
        (b"$NACLshort", "bad_keyfile"),
        (br#"{"cryptoType": 0, "secretSeed": "0xfb92668ffd82817710f85a08ab5d4c8f2f711880e98f2e4e709b1819d5756c81"}"#, "unsupported_key_type"),
        (br#"{"secretSeed": "0x1234"}"#, "bad_keyfile"),
    ];
    for (bytes, code) in cases {
        write_keyfile(&keyfile, bytes, 0o600);
        let run = whoami(&env);
        assert_eq!(run.code, 4, "{}: {}", String::from_utf8_lossy(bytes), run.stderr);
        assert_eq!(error_code(&run), code, "{}", String::from_utf8_lossy(bytes));
        assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
        assert_no_secret(&run);
    }
    // A bad secret never echoes its value.
    write_keyfile(&keyfile, br#"{"secretSeed": "0xZZsecretZZ"}"#, 0o600);
    let run = whoami(&env).expect(4);
    assert!(!run.stderr.contains("secretZZ"), "{}", run.stderr);
}

#[test]
fn missing_wallet_is_exit_4() {
    let env = Env::new();
    let run = whoami(&env).expect(4);
    assert!(run.stderr.contains("hotkeys/default"), "{}", run.stderr);
}

#[test]
fn wallet_names_cannot_escape_the_wallet() {
    let (mut env, _) = wallet_env("plain");
    env.set("BT_WALLET_HOTKEY", "../coldkeypub.txt");
    let run = whoami(&env).expect(2);
    assert_eq!(error_code(&run), "bad_wallet_selector");
}

#[test]
fn mnemonic_sources_take_precedence() {
    let (mut env, _) = wallet_env("plain");
    let other = "submit brain any offer garlic mix pet sweet rack layer rebel only spot duck someone";
    // Mnemonic file beats the wallet.
    let file = env.path("mnemonic.txt");
    write_keyfile(&file, format!("  {other}\n").as_bytes(), 0o600);
    env.set("BITSOTA_HOTKEY_MNEMONIC_FILE", file.to_str().unwrap());
    let out = whoami(&env).expect(0).json();
    assert_eq!(out["ss58"], OTHER_SS58);
    assert_eq!(out["source"], "mnemonic-file");
    assert_eq!(out["path"], file.to_str().unwrap());
    // The environment variable beats the file.
    env.set("BITSOTA_HOTKEY_MNEMONIC", HK1_PHRASE);
    let run = whoami(&env).expect(0);
    let out = run.json();
    assert_eq!(out["ss58"], HK1_SS58);
    assert_eq!(out["source"], "mnemonic-env");
    assert_eq!(out["path"], Value::Null);
    assert_no_secret(&run);
}

#[test]
fn insecure_mnemonic_file_is_refused() {
    let mut env = Env::new();
    let file = env.path("mnemonic.txt");
    write_keyfile(&file, HK1_PHRASE.as_bytes(), 0o644);
    env.set("BITSOTA_HOTKEY_MNEMONIC_FILE", file.to_str().unwrap());
    let run = whoami(&env).expect(4);
    assert_eq!(error_code(&run), "insecure_keyfile");
    assert!(run.stderr.contains("chmod 600"), "{}", run.stderr);
}

#[test]
fn bad_mnemonics_are_exit_4_without_echo() {
    let mut env = Env::new();
    for phrase in [
        "Quick Monitor Wasp Inflict Margin Route Rule Among Beach Cave Uncover Pave",
        "quick monitor wasp inflict margin route rule among beach cave uncover uncover",
        "quick monitor",
    ] {
        env.set("BITSOTA_HOTKEY_MNEMONIC", phrase);
        let run = whoami(&env).expect(4);
        assert_eq!(error_code(&run), "bad_mnemonic");
        let all = format!("{}{}", run.out(), run.stderr).to_lowercase();
        assert!(!all.contains("monitor"), "echoes the phrase: {all}");
    }
}

#[test]
fn library_loading_matches_the_binary() {
    use git_bitsota::keys::{load_hotkey, NoUi, Secrets, WalletSelector};
    let (_env, keyfile) = wallet_env("plain");
    let wallets = keyfile.parent().unwrap().parent().unwrap().parent().unwrap().to_path_buf();
    let selector = WalletSelector { path: wallets, name: "example".into(), hotkey: "hk1".into() };
    let key = load_hotkey(&Secrets::from_lookup(|_| None), &selector, &NoUi).unwrap();
    assert_eq!(key.ss58(), HK1_SS58);
    assert_eq!(key.origin().label(), "wallet-file");
    assert_eq!(key.origin().path(), Some(keyfile.as_path()));
    // Debug output shows only the address.
    let debug = format!("{key:?}");
    assert!(debug.contains(HK1_SS58) && !debug.contains("quick"), "{debug}");
}
