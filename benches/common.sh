# Shared by the benchmarks: build the release binary and pin git to a hermetic setup.
# Sourced; sets root, bin and work.
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cargo build --release --quiet --manifest-path "$root/Cargo.toml"
bin="${CARGO_TARGET_DIR:-$root/target}/release/git-bitsota"
work="$root/target/bench"

export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_SYSTEM=/dev/null
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.invalid
export GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.invalid
export GIT_AUTHOR_DATE=2026-01-01T00:00:00Z GIT_COMMITTER_DATE=2026-01-01T00:00:00Z

# Medians of numbers on stdin, one a line.
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# The synthetic tree of the 50k benchmarks: 2,500 directories x 20 files under $1, written by
# one python process (fast, deterministic).
write_50k_files() {
    python3 - "$1" <<'PY'
import os, sys
root = sys.argv[1]
for d in range(2500):
    path = os.path.join(root, f"pkg{d // 50:02d}", f"mod{d:04d}")
    os.makedirs(path, exist_ok=True)
    for f in range(20):
        with open(os.path.join(path, f"file{f:02d}.py"), "w") as fh:
            fh.write(f"# module {d} file {f}\nVALUE = {d * 20 + f}\n")
PY
}
