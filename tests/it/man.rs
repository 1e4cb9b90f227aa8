//! The committed man page matches the clap definition; `man`, `man --install` and
//! `completions` work.

use std::fs;
use std::path::Path;

use crate::common::Env;

const PAGE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/man/git-bitsota.1");

/// Fails when man/git-bitsota.1 is stale; `BITSOTA_BLESS=1 cargo test --test it man` rewrites it.
#[test]
fn committed_man_page_is_current() {
    let rendered = git_bitsota::test_support::render_man_page();
    let bless = std::env::var_os("BITSOTA_BLESS").is_some_and(|v| !v.is_empty() && v != "0");
    let committed = fs::read(PAGE).ok();
    if committed.as_deref() == Some(rendered.as_slice()) {
        return;
    }
    if bless {
        fs::create_dir_all(Path::new(PAGE).parent().unwrap()).unwrap();
        fs::write(PAGE, &rendered).unwrap();
        return;
    }
    panic!("{PAGE} is stale or missing; regenerate it with `BITSOTA_BLESS=1 cargo test --test it man`");
}

#[test]
fn page_documents_every_command_and_section() {
    let page = String::from_utf8(git_bitsota::test_support::render_man_page()).unwrap();
    for section in
        ["NAME", "SYNOPSIS", "OPTIONS", "COMMANDS", "FILES", "ENVIRONMENT", "EXIT STATUS", "SUBMISSION FILE"]
    {
        assert!(
            page.contains(&format!(".SH \"{section}\"")) || page.contains(&format!(".SH {section}\n")),
            "{section}"
        );
    }
    let cmd = git_bitsota::test_support::command();
    for sub in cmd.get_subcommands() {
        assert!(page.contains(&format!(".SS \"git bitsota {}\"", sub.get_name())), "{}", sub.get_name());
        for arg in sub.get_arguments().filter_map(|a| a.get_long()) {
            assert!(
                page.contains(&format!("\\-\\-{}", arg.replace('-', "\\-"))),
                "--{arg} of {}",
                sub.get_name()
            );
        }
    }
    for var in [
        "BITSOTA_COORDINATOR_URL",
        "NO_COLOR",
        "BT_WALLET_PATH",
        "BT_WALLET_NAME",
        "BT_WALLET_HOTKEY",
        "BITSOTA_HOTKEY_MNEMONIC_FILE",
        "BITSOTA_HOTKEY_PASSWORD_FILE",
        "BITSOTA_ALLOW_INSECURE_KEYFILE",
        "BITSOTA_SKIP_CHECK",
    ] {
        assert!(page.contains(var), "{var}");
    }
    assert!(page.contains("bitsota.toml") && page.contains("pre\\-push.bitsota\\-backup"));
}

#[test]
fn man_prints_roff() {
    let env = Env::new();
    let run = env.tool(env.root(), &["man"]).expect(0);
    assert!(run.out().starts_with(".ie"), "{}", run.out());
    assert!(run.out().contains("\n.TH GIT-BITSOTA 1 "), "{}", run.out());
    assert_eq!(run.stdout, git_bitsota::test_support::render_man_page());
}

#[test]
fn man_install_writes_under_prefix() {
    let env = Env::new();
    let prefix = env.path("prefix");
    let run = env.tool(env.root(), &["man", "--install", prefix.to_str().unwrap()]).expect(0);
    let page = prefix.join("share/man/man1/git-bitsota.1");
    assert_eq!(fs::read(&page).unwrap(), git_bitsota::test_support::render_man_page());
    assert!(run.out().contains(page.to_str().unwrap()), "{}", run.out());

    // man(1) can render it, when it is there to try.
    if std::process::Command::new("man").arg("--version").output().is_ok_and(|o| o.status.success()) {
        let mut cmd = env.command("man", env.root());
        cmd.args(["-l", page.to_str().unwrap()]).env("MANPAGER", "cat").env("PAGER", "cat");
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(String::from_utf8_lossy(&out.stdout).contains("EXIT STATUS"));
    }
}

/// `--install` alone means PREFIX ~/.local.
#[test]
fn man_install_defaults_to_home_local() {
    let env = Env::new();
    env.tool(env.root(), &["man", "--install"]).expect(0);
    assert!(env.home().join(".local/share/man/man1/git-bitsota.1").is_file());
}

#[test]
fn completions_print_scripts() {
    let env = Env::new();
    let bash = env.tool(env.root(), &["completions", "bash"]).expect(0);
    assert!(bash.out().contains("complete -F"), "{}", bash.out());
    assert!(bash.out().contains("git-bitsota"));
    let zsh = env.tool(env.root(), &["completions", "zsh"]).expect(0);
    assert!(zsh.out().starts_with("#compdef git-bitsota"), "{}", &zsh.out()[..80.min(zsh.out().len())]);
    env.tool(env.root(), &["completions", "tcsh"]).expect(2);
}

/// `--install` alone puts the page next to the binary's `bin` directory (as for
/// `cargo install`: ~/.cargo/bin → ~/.cargo/share/man), where man-db finds it from PATH.
#[test]
fn man_install_defaults_to_the_prefix_of_the_binary() {
    let env = Env::new();
    let bin_dir = env.path("prefix/bin");
    std::fs::create_dir_all(&bin_dir).unwrap();
    let copy = bin_dir.join("git-bitsota");
    // Copied by `cp`, not from this process: a write descriptor inherited by a child another
    // test forks at that moment would make the exec fail with "text file busy".
    let cp = env.command("cp", env.root()).arg(crate::common::BIN).arg(&copy).status().unwrap();
    assert!(cp.success());
    let out = env.command(&copy, env.root()).args(["man", "--install"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let page = env.path("prefix/share/man/man1/git-bitsota.1");
    assert_eq!(std::fs::read(&page).unwrap(), git_bitsota::test_support::render_man_page());
}

/// The bash script completes subcommand options, both for `git-bitsota …` and through the
/// `_git_bitsota` function git's own completion calls for `git bitsota …`.
#[test]
fn bash_completion_completes_subcommand_options() {
    let env = Env::new();
    let script = env.tool(env.root(), &["completions", "bash"]).expect(0).stdout;
    let path = env.path("completion.bash");
    std::fs::write(&path, script).unwrap();
    let probe = format!(
        r#"source '{}'
COMP_WORDS=(git-bitsota submit --d); COMP_CWORD=2; COMPREPLY=()
_gitbitsota git-bitsota --d submit; echo "dashed: ${{COMPREPLY[*]}}"
words=(git bitsota bench --bas); cword=3; COMPREPLY=()
_git_bitsota; echo "git: ${{COMPREPLY[*]}}"
complete -p git-bitsota"#,
        path.display()
    );
    let out = env.command("bash", env.root()).args(["--norc", "-c", &probe]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("dashed: --dry-run"), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("git: --baseline"), "{text}");
    assert!(text.contains("-F _gitbitsota git-bitsota"), "{text}");
}
