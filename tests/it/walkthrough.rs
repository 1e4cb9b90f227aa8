//! The README walkthrough as a test: the whole manual mining flow against the fake coordinator,
//! every step asserted. With `BITSOTA_WALKTHROUGH=<file>` it also writes each command and its
//! output (stdout, then stderr) to that file as markdown, which is where the README's
//! walkthrough comes from.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use serde_json::{json, Value};

use crate::common::{write, Env, Run, PHRASE};
use crate::fake_coordinator::Fake;

const BENCH_PY: &str = r#"import re
src = open("train.py").read()
lr = float(re.search(r"LR = ([0-9.]+)", src).group(1))
print("training with lr", lr)
print("score:", round(1.0 - abs(lr - 0.3), 4))
"#;

struct Transcript {
    text: String,
    root: String,
}

impl Transcript {
    fn step(&mut self, cwd_label: &str, args: &[&str], run: &Run) {
        let mut out = run.out();
        if !run.stderr.is_empty() {
            out.push_str(&run.stderr);
        }
        let out = out.replace(&format!("{}/miner", self.root), "~").replace(&self.root, "/srv");
        let shown: Vec<String> =
            args.iter().map(|a| if a.contains(' ') { format!("'{a}'") } else { a.to_string() }).collect();
        let _ = write!(self.text, "```console\n{cwd_label}$ git bitsota {}\n{out}", shown.join(" "));
        if !out.ends_with('\n') {
            self.text.push('\n');
        }
        self.text.push_str("```\n\n");
    }
    fn note(&mut self, text: &str) {
        let _ = write!(self.text, "{text}\n\n");
    }
}

#[test]
fn the_whole_flow_from_clone_to_status() {
    let fake = Fake::start();
    let mut env = Env::new();
    env.set("BITSOTA_COORDINATOR_URL", fake.url());
    env.set("BITSOTA_HOTKEY_MNEMONIC", PHRASE);
    let mut t = Transcript { text: String::new(), root: env.root().display().to_string() };

    // The task repository, as a task poster publishes it.
    let origin = env.repo_with(
        "poster/autoresearch-task-demo",
        &[("train.py", b"LR = 0.1\n"), ("bench.py", BENCH_PY.as_bytes()), ("README.md", b"# demo task\n")],
    );
    env.git(&origin, &["branch", "production"]);
    let task_id = "7d0c3a52-5f7e-4c1e-9a51-2b9f3c0d6e11";
    fake.add_task(json!({
        "id": task_id,
        "slug": "demo-lr-search",
        "title": "Find the best learning rate",
        "repository": origin.display().to_string(),
        "base_ref": "production",
        "metric_name": "score",
        "metric_direction": "maximize",
        "competition_mode": "standard",
        "allowed_patch_paths": ["train.py"],
        "max_patch_bytes": 262144,
        "benchmark_command": "python3 bench.py",
        "time_budget_seconds": 600,
        "task_state": "live",
        "is_active": true
    }));

    let home = env.root().join("miner");
    fs::create_dir_all(&home).unwrap();
    let run = |t: &mut Transcript, cwd: &Path, label: &str, args: &[&str]| -> Run {
        let run = env.tool(cwd, args).expect(0);
        t.step(label, args, &run);
        run
    };

    t.note("List the live tasks and look at one:");
    let tasks = run(&mut t, &home, "~", &["tasks"]);
    assert!(tasks.out().contains("demo-lr-search"));
    run(&mut t, &home, "~", &["show", "demo-lr-search"]);

    t.note("Clone it: the clone is on branch `bitsota/<slug>` at the base commit, bound to the task.");
    run(&mut t, &home, "~", &["clone", "demo-lr-search"]);
    let repo = home.join("autoresearch-task-demo");
    assert!(repo.join(".git/bitsota.toml").is_file());
    let label = "~/autoresearch-task-demo";

    t.note("Measure the baseline the way validators will. The first run of a task's commands asks before running them; `--yes` answers for scripts:");
    let bench = run(&mut t, &repo, label, &["bench", "--yes"]);
    assert!(bench.out().contains("0.8"), "{}", bench.out());

    t.note("Work with ordinary git: commit, keep editing. Out-of-scope changes are named, not dropped:");
    write(&repo.join("train.py"), b"LR = 0.25\n");
    env.git(&repo, &["commit", "-q", "-am", "try a larger learning rate"]);
    write(&repo.join("train.py"), b"LR = 0.3\n");
    write(&repo.join("notes.txt"), b"scratch notes\n");
    let check = env.tool(&repo, &["check"]).expect(1);
    t.step(label, &["check"], &check);
    assert!(check.out().contains("notes.txt"));
    fs::remove_file(repo.join("notes.txt")).unwrap();
    run(&mut t, &repo, label, &["check"]);

    t.note("Measure the candidate and record it in `submission.json`, then write the summary:");
    run(&mut t, &repo, label, &["bench", "--record"]);
    let sidecar_path = repo.join("submission.json");
    let mut sidecar: Value = serde_json::from_slice(&fs::read(&sidecar_path).unwrap()).unwrap();
    sidecar["summary"] = json!("Learning rate 0.3 instead of 0.1.");
    fs::write(&sidecar_path, serde_json::to_vec_pretty(&sidecar).unwrap()).unwrap();

    // What --record wrote, with the summary edited, is a body `submit` accepts.
    let dry = env.tool(&repo, &["submit", "--dry-run", "--json"]).expect(0);
    assert_eq!(dry.json()["body"]["claimed_metrics"]["score"].as_f64(), Some(1.0), "{}", dry.out());

    t.note("Claim, submit, follow:");
    run(&mut t, &repo, label, &["whoami"]);
    run(&mut t, &repo, label, &["claim", "-m", "learning-rate sweep"]);
    run(&mut t, &repo, label, &["submit"]);
    let submission = fake.submissions().pop().expect("one submission");
    assert_eq!(submission["base_ref"], env.git(&origin, &["rev-parse", "production"]).trim());
    fake.set_verdict(submission["id"].as_str().unwrap(), "accepted", json!({"score": 1.0}));
    let status = run(&mut t, &repo, label, &["status"]);
    assert!(status.out().contains("accepted"), "{}", status.out());
    run(&mut t, &repo, label, &["submissions"]);

    if let Ok(path) = std::env::var("BITSOTA_WALKTHROUGH") {
        fs::write(path, &t.text).unwrap();
    }
    readme_walkthrough_is_current(&t.text);
}

const README: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");

/// The README's walkthrough blocks are this run's output, up to what changes from run to run
/// (times, durations, log file stamps). `BITSOTA_BLESS=1` writes this run's blocks into the
/// README in place, keeping the prose around them.
fn readme_walkthrough_is_current(transcript: &str) {
    let readme = fs::read_to_string(README).unwrap();
    let start = readme.find("\n## Walkthrough\n").expect("README has a Walkthrough section");
    let end = readme[start + 1..].find("\n## ").map_or(readme.len(), |i| start + 1 + i);
    let section = &readme[start..end];
    let block = regex::Regex::new(r"(?s)```console\n.*?```\n").unwrap();
    let committed: Vec<&str> = block.find_iter(section).map(|m| m.as_str()).collect();
    let fresh: Vec<&str> = block.find_iter(transcript).map(|m| m.as_str()).collect();
    let same = committed.len() == fresh.len()
        && committed.iter().zip(&fresh).all(|(a, b)| volatile_blanked(a) == volatile_blanked(b));
    if same {
        return;
    }
    let bless = std::env::var_os("BITSOTA_BLESS").is_some_and(|v| !v.is_empty() && v != "0");
    if bless && committed.len() == fresh.len() {
        let mut fresh = fresh.into_iter();
        let rewritten = block.replace_all(section, |_: &regex::Captures| fresh.next().unwrap().to_string());
        fs::write(README, format!("{}{rewritten}{}", &readme[..start], &readme[end..])).unwrap();
        return;
    }
    let first = committed.iter().zip(&fresh).position(|(a, b)| volatile_blanked(a) != volatile_blanked(b));
    panic!(
        "the README walkthrough is stale ({} blocks committed, {} now; first difference in block {:?}):\n{}\n\
         rewrite it with `BITSOTA_BLESS=1 cargo test --test it walkthrough` (a changed number of \
         blocks needs the prose edited by hand)",
        committed.len(),
        fresh.len(),
        first,
        first.map(|i| fresh[i]).unwrap_or_default()
    );
}

/// A block with what differs between runs replaced by placeholders.
fn volatile_blanked(block: &str) -> String {
    let rules = [
        (r"\d{8}T\d{6}Z-\d+", "<stamp>"),
        (r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)?", "<time>"),
        (r"\b\d+h \d+m\b|\b\d+m \d+s\b|\b\d+m\d+s\b|\b\d+(\.\d+)?s\b", "<duration>"),
    ];
    let mut text = block.to_string();
    for (pattern, placeholder) in rules {
        text = regex::Regex::new(pattern).unwrap().replace_all(&text, placeholder).into_owned();
    }
    text
}
