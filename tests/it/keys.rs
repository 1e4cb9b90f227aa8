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
    assert_eq!(run.error_code(), "insecure_keyfile");
}

#[test]
fn nacl_wallet_wrong_password_is_exit_4() {
    let (mut env, _) = wallet_env("nacl");
    env.set("BITSOTA_HOTKEY_PASSWORD", "wrong-password");
    let run = whoami(&env).expect(4);
    assert_eq!(run.error_code(), "wrong_password");
    assert!(run.stderr.contains("wrong password"), "{}", run.stderr);
    assert_no_secret(&run);
}

#[test]
fn nacl_wallet_without_password_is_exit_4() {
    let (env, _) = wallet_env("nacl");
    // stdin is not a terminal in tests, so there is nobody to ask.
    let run = whoami(&env).expect(4);
    assert_eq!(run.error_code(), "password_required");
    assert!(run.stderr.contains("BITSOTA_HOTKEY_PASSWORD"), "{}", run.stderr);
}

#[test]
fn group_readable_keyfile_is_refused_with_chmod_hint() {
    let (mut env, keyfile) = wallet_env("plain");
    fs::set_permissions(&keyfile, fs::Permissions::from_mode(0o640)).unwrap();
    let run = whoami(&env).expect(4);
    assert_eq!(run.error_code(), "insecure_keyfile");
    assert!(run.stderr.contains(&format!("chmod 600 {}", keyfile.display())), "{}", run.stderr);
    assert!(run.stderr.contains("0640"), "{}", run.stderr);
    assert_no_secret(&run);
    // World-readable too.
    fs::set_permissions(&keyfile, fs::Permissions::from_mode(0o604)).unwrap();
    assert_eq!(whoami(&env).expect(4).error_code(), "insecure_keyfile");
    // The explicit override.
    env.set("BITSOTA_ALLOW_INSECURE_KEYFILE", "1");
    assert_eq!(whoami(&env).expect(0).json()["ss58"], HK1_SS58);
}

#[test]
fn public_only_keyfile_is_refused() {
    let (mut env, _) = wallet_env("plain");
    env.set("BT_WALLET_HOTKEY", "hk1pub.txt");
    let run = whoami(&env).expect(4);
    assert_eq!(run.error_code(), "public_only_keyfile");
    assert!(run.stderr.contains("public-only"), "{}", run.stderr);
}

#[test]
fn mismatched_address_is_refused() {
    let (env, keyfile) = wallet_env("plain");
    let doc = json!({"secretPhrase": HK1_PHRASE, "ss58Address": OTHER_SS58});
    write_keyfile(&keyfile, doc.to_string().as_bytes(), 0o600);
    let run = whoami(&env).expect(4);
    assert_eq!(run.error_code(), "key_mismatch");
    assert!(run.stderr.contains(OTHER_SS58) && run.stderr.contains(HK1_SS58), "{}", run.stderr);
    assert_no_secret(&run);
    // A wrong publicKey as well.
    let doc = json!({"secretSeed": HK1_SEED, "publicKey": format!("0x{}", "00".repeat(32))});
    write_keyfile(&keyfile, doc.to_string().as_bytes(), 0o600);
    assert_eq!(whoami(&env).expect(4).error_code(), "key_mismatch");
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
        assert_eq!(run.error_code(), code, "{}", String::from_utf8_lossy(bytes));
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
    assert_eq!(run.error_code(), "bad_wallet_selector");
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
    assert_eq!(run.error_code(), "insecure_keyfile");
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
        assert_eq!(run.error_code(), "bad_mnemonic");
        let all = format!("{}{}", run.out(), run.stderr).to_lowercase();
        assert!(!all.contains("monitor"), "echoes the phrase: {all}");
    }
}

#[test]
fn library_loading_matches_the_binary() {
    use crate::common::NoUi;
    use git_bitsota::test_support::{load_hotkey, SecretSources, WalletSelector};
    let (_env, keyfile) = wallet_env("plain");
    let wallets = keyfile.parent().unwrap().parent().unwrap().parent().unwrap().to_path_buf();
    let selector = WalletSelector { path: wallets, name: "example".into(), hotkey: "hk1".into() };
    let key = load_hotkey(&SecretSources::from_lookup(|_| None), &selector, &NoUi).unwrap();
    assert_eq!(key.ss58(), HK1_SS58);
    assert_eq!(key.origin().label(), "wallet-file");
    assert_eq!(key.origin().path(), Some(keyfile.as_path()));
    // Debug output shows only the address.
    let debug = format!("{key:?}");
    assert!(debug.contains(HK1_SS58) && !debug.contains("quick"), "{debug}");
}

/// Run the tool with a deadline, so a hang fails the test instead of blocking the suite.
fn tool_within(env: &Env, args: &[&str], limit: std::time::Duration) -> Run {
    use std::process::Stdio;
    let mut cmd = env.command(crate::common::BIN, env.root());
    cmd.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            child.kill().unwrap();
            panic!("git-bitsota {args:?} still running after {limit:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo").arg("-m").arg("600").arg(path).status().unwrap();
    assert!(status.success());
}

#[test]
fn secret_variables_never_reach_child_processes() {
    let mut env = Env::new();
    env.set("BITSOTA_HOTKEY_MNEMONIC", HK1_PHRASE);
    env.set("BITSOTA_HOTKEY_PASSWORD", NACL_PASSWORD);
    env.set("BITSOTA_HOTKEY_MNEMONIC_FILE", "/nonexistent/not-secret");
    env.set("MY_MARKER", "inherited");
    let repo = env.repo_with("task", &[("bench.sh", b"env > env.txt\necho score=1\n")]);
    let mut record = crate::common::task_record(repo.to_str().unwrap(), "main", &["solution.txt"]);
    record["benchmark_command"] = json!("sh bench.sh");
    env.bind(&repo, &record);
    // --inherit-env passes the tool's own environment on, so this is the case that matters.
    let run = env.tool(&repo, &["bench", "--yes", "--inherit-env", "--json", "-v"]).expect(0);
    assert_no_secret(&run);
    let seen = fs::read_to_string(repo.join("env.txt")).unwrap();
    assert!(seen.contains("MY_MARKER=inherited"), "the environment was not inherited: {seen}");
    for leaked in ["BITSOTA_HOTKEY_MNEMONIC=", "BITSOTA_HOTKEY_PASSWORD=", HK1_PHRASE, NACL_PASSWORD] {
        assert!(!seen.contains(leaked), "a child saw {leaked:?}:\n{seen}");
    }

    // `bench` filters its children's environment itself; git gets the tool's environment as
    // is. A `git` shim first on PATH records what git is started with.
    let shims = env.path("shims");
    let dump = env.path("git-env.txt");
    // The first git on the PATH that common::Env gives.
    let real_git = ["/usr/local/bin/git", "/usr/bin/git", "/bin/git"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("git");
    fs::create_dir_all(&shims).unwrap();
    write_keyfile(
        &shims.join("git"),
        format!("#!/bin/sh\nenv >> '{}'\nexec {real_git} \"$@\"\n", dump.display()).as_bytes(),
        0o755,
    );
    let bin_dir = Path::new(crate::common::BIN).parent().unwrap();
    env.set("PATH", format!("{}:{}:/usr/local/bin:/usr/bin:/bin", shims.display(), bin_dir.display()));
    env.tool(&repo, &["check", "--json"]);
    let seen = fs::read_to_string(&dump).expect("the tool ran git");
    assert!(seen.contains("MY_MARKER=inherited"), "{seen}");
    // Paths to secret files are not secret and stay.
    assert!(seen.contains("BITSOTA_HOTKEY_MNEMONIC_FILE=/nonexistent/not-secret"), "{seen}");
    for leaked in ["BITSOTA_HOTKEY_MNEMONIC=", "BITSOTA_HOTKEY_PASSWORD=", HK1_PHRASE, NACL_PASSWORD] {
        assert!(!seen.contains(leaked), "git saw {leaked:?}:\n{seen}");
    }
}

#[test]
fn verbose_and_dry_run_never_show_the_key() {
    let mut env = Env::new();
    env.set("BITSOTA_HOTKEY_MNEMONIC", HK1_PHRASE);
    let run = env.tool(env.root(), &["whoami", "-v"]).expect(0);
    assert_no_secret(&run);
    for json in [false, true] {
        let mut args = vec!["request", "POST", "/api/v1/x", "--body-json", "{}", "--dry-run", "-v"];
        if json {
            args.push("--json");
        }
        let run = env.tool(env.root(), &args).expect(0);
        assert!(run.out().contains(HK1_SS58), "{}", run.out());
        assert_no_secret(&run);
    }
}

#[test]
fn keyfiles_that_are_not_json_never_echo_their_content() {
    let (env, keyfile) = wallet_env("plain");
    let truncated = format!(r#"{{"secretPhrase": "{HK1_PHRASE}", "secretSeed": "{HK1_SEED}""#);
    let cases: Vec<Vec<u8>> = vec![
        // A mnemonic pasted as the keyfile.
        HK1_PHRASE.as_bytes().to_vec(),
        format!("{HK1_PHRASE}\n").into_bytes(),
        // Cut off after the secrets (serde_json's errors could quote around the position).
        truncated.clone().into_bytes(),
        format!("{truncated} x}}").into_bytes(),
        // A secret that is not a valid phrase / not hex / not a string.
        format!(r#"{{"secretPhrase": "{HK1_PHRASE} pave"}}"#).into_bytes(),
        format!(r#"{{"secretSeed": "{}zz"}}"#, &HK1_SEED[..64]).into_bytes(),
        format!(r#"{{"privateKey": ["{}"]}}"#, &HK1_PRIVATE[2..]).into_bytes(),
        // Not UTF-8 inside the secret string.
        [&br#"{"secretPhrase": "quick monitor "#[..], b"\xff\xfe", br#""}"#].concat(),
    ];
    for bytes in cases {
        write_keyfile(&keyfile, &bytes, 0o600);
        for args in [&["whoami", "--json"][..], &["whoami", "-v"][..]] {
            let run = env.tool(env.root(), args);
            assert_eq!(run.code, 4, "{}: {}", String::from_utf8_lossy(&bytes), run.stderr);
            assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
            assert_no_secret(&run);
            let all = format!("{}{}", run.out(), run.stderr);
            assert!(!all.contains("wasp") && !all.contains(&HK1_SEED[10..30]), "{all}");
        }
    }
}

#[test]
fn special_files_are_refused_without_hanging() {
    let limit = std::time::Duration::from_secs(20);
    let (mut env, keyfile) = wallet_env("plain");
    // A FIFO as the wallet keyfile: opening it for reading used to block for ever.
    fs::remove_file(&keyfile).unwrap();
    mkfifo(&keyfile);
    let run = tool_within(&env, &["whoami", "--json"], limit).expect(4);
    assert_eq!(run.error_code(), "key_unreadable");
    assert!(run.stderr.contains("not a regular file"), "{}", run.stderr);
    // A device: "not a regular file", not a chmod hint for /dev/null.
    fs::remove_file(&keyfile).unwrap();
    std::os::unix::fs::symlink("/dev/null", &keyfile).unwrap();
    let run = tool_within(&env, &["whoami", "--json"], limit).expect(4);
    assert_eq!(run.error_code(), "key_unreadable");
    assert!(!run.stderr.contains("chmod"), "{}", run.stderr);
    // A directory.
    fs::remove_file(&keyfile).unwrap();
    fs::create_dir(&keyfile).unwrap();
    let run = tool_within(&env, &["whoami", "--json"], limit).expect(4);
    assert!(run.stderr.contains("is a directory"), "{}", run.stderr);

    // A mnemonic file may be a pipe (`<(…)`): the tool waits for the writer.
    let fifo = env.path("mnemonic.fifo");
    mkfifo(&fifo);
    env.set("BITSOTA_HOTKEY_MNEMONIC_FILE", fifo.to_str().unwrap());
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(300));
            fs::write(&fifo, format!("{HK1_PHRASE}\n")).unwrap();
        })
    };
    let run = tool_within(&env, &["whoami", "--json"], limit).expect(0);
    writer.join().unwrap();
    assert_eq!(run.json()["ss58"], HK1_SS58);
    assert_eq!(run.json()["source"], "mnemonic-file");
}

#[test]
fn writable_by_others_and_symlinks() {
    let (mut env, keyfile) = wallet_env("plain");
    // Group- or world-writable: others could swap the key, so refused like readable.
    for mode in [0o620, 0o602] {
        fs::set_permissions(&keyfile, fs::Permissions::from_mode(mode)).unwrap();
        let run = whoami(&env).expect(4);
        assert_eq!(run.error_code(), "insecure_keyfile", "{mode:o}");
        assert!(run.stderr.contains("chmod 600"), "{}", run.stderr);
    }
    fs::set_permissions(&keyfile, fs::Permissions::from_mode(0o600)).unwrap();
    // A symlinked hotkey is judged by its target: private target loads.
    let target = env.path("elsewhere-hk1");
    fs::rename(&keyfile, &target).unwrap();
    std::os::unix::fs::symlink(&target, &keyfile).unwrap();
    assert_eq!(whoami(&env).expect(0).json()["ss58"], HK1_SS58);
    // …and a readable target is refused, although the link itself is 0777.
    fs::set_permissions(&target, fs::Permissions::from_mode(0o644)).unwrap();
    assert_eq!(whoami(&env).expect(4).error_code(), "insecure_keyfile");
    env.set("BITSOTA_ALLOW_INSECURE_KEYFILE", "1");
    whoami(&env).expect(0);
}

/// vector 2 of signing-vectors.json: the fixture wallet's coldkey (coldkeypub.txt).
const COLD_PHRASE: &str = "one feed fun destroy practice vibrant office tube liar regret scout tired squirrel bamboo forum humor shoulder toward coast demand client beach feature coral";
const COLD_SS58: &str = "5GNhB7uiBxUhvcjbBsXJpLMU6iXU7BSqZ9kdxv8yBrUpheyP";

#[test]
fn the_coldkey_never_signs() {
    let (mut env, keyfile) = wallet_env("plain");
    let wallet = keyfile.parent().unwrap().parent().unwrap().to_path_buf();
    let coldkey = wallet.join("coldkey");
    write_keyfile(&coldkey, json!({"secretPhrase": COLD_PHRASE}).to_string().as_bytes(), 0o600);
    // hotkeys/hk1 as a symlink to the coldkey.
    fs::remove_file(&keyfile).unwrap();
    std::os::unix::fs::symlink("../coldkey", &keyfile).unwrap();
    let run = whoami(&env).expect(4);
    assert_eq!(run.error_code(), "coldkey_refused");
    assert!(!run.stderr.contains("one feed"), "{}", run.stderr);
    // A copy of the coldkey under hotkeys/: caught by coldkeypub.txt.
    fs::remove_file(&keyfile).unwrap();
    fs::copy(&coldkey, &keyfile).unwrap();
    let run = whoami(&env).expect(4);
    assert_eq!(run.error_code(), "coldkey_refused");
    assert!(run.stderr.contains(COLD_SS58), "{}", run.stderr);
    // The coldkey's mnemonic in the environment, with this wallet selected.
    env.set("BITSOTA_HOTKEY_MNEMONIC", COLD_PHRASE);
    assert_eq!(whoami(&env).expect(4).error_code(), "coldkey_refused");
    // A hotkey that happens to be named `coldkey` is just a hotkey.
    let mut env2 = env;
    env2.set("BITSOTA_HOTKEY_MNEMONIC", "");
    let named = wallet.join("hotkeys/coldkey");
    fs::copy(Path::new(DATA).join("wallets/plain/example/hotkeys/hk1"), &named).unwrap();
    fs::set_permissions(&named, fs::Permissions::from_mode(0o600)).unwrap();
    env2.set("BT_WALLET_HOTKEY", "coldkey");
    assert_eq!(whoami(&env2).expect(0).json()["ss58"], HK1_SS58);
}

#[test]
fn secrets_debug_shows_no_values() {
    use git_bitsota::test_support::SecretSources;
    use std::ffi::OsString;
    let secrets = SecretSources::from_lookup(|name| match name {
        "BITSOTA_HOTKEY_MNEMONIC" => Some(OsString::from(HK1_PHRASE)),
        "BITSOTA_HOTKEY_PASSWORD" => Some(OsString::from(NACL_PASSWORD)),
        _ => None,
    });
    let debug = format!("{secrets:?}");
    assert!(!debug.contains("quick") && !debug.contains(NACL_PASSWORD), "{debug}");
    assert!(debug.contains("<set>"), "{debug}");
}
