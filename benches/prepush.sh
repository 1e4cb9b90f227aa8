#!/usr/bin/env bash
# Benchmark: the pre-push check (`git bitsota check --pre-push`) on a push of 50 commits in a
# synthetic repository of 50,000 files in 2,500 directories (issue #5; target < 100 ms).
#
#   bash benches/prepush.sh [RUNS]      (default 15 runs; prints the median and the spread)
#
# Builds the release binary and the repository under target/bench/prepush-50k (reused on later
# runs). Times the check exactly as git runs it from the hook: ref lines on stdin, cwd = work
# tree root. Also times a full `git push --dry-run` through the installed hook for context.
set -euo pipefail

runs=${1:-15}
source "$(dirname "$0")/common.sh"
repo="$work/prepush-50k"
remote="$work/prepush-50k-remote.git"
# The hook must find this build first.
export PATH="$(dirname "$bin"):$PATH"

if [ ! -f "$repo/.git/bench-ready" ]; then
    rm -rf "$repo" "$remote" && mkdir -p "$repo"
    git -C "$repo" init -q -b main
    # One fast-import stream: the base commit (2,500 dirs x 20 files) and 50 commits on top,
    # each editing or adding files under the allowed directory pkg00/.
    python3 - <<'PY' | git -C "$repo" fast-import --quiet
import sys
out = sys.stdout.buffer
def blob(text):
    data = text.encode()
    out.write(b"data %d\n" % len(data) + data + b"\n")
def commit(message, changes):
    out.write(b"commit refs/heads/main\n")
    out.write(b"committer bench <bench@example.invalid> 1767225600 +0000\n")
    blob(message)
    for path, text in changes:
        out.write(b"M 100644 inline " + path.encode() + b"\n")
        blob(text)
base = []
for d in range(2500):
    for f in range(20):
        base.append((f"pkg{d // 50:02d}/mod{d:04d}/file{f:02d}.py", f"# module {d} file {f}\nVALUE = {d * 20 + f}\n"))
commit("base", base)
for i in range(50):
    d, f = i % 50, i % 20
    changes = [(f"pkg00/mod{d:04d}/file{f:02d}.py", f"# edited in commit {i}\nVALUE = {-i}\n")]
    if i % 5 == 0:
        changes.append((f"pkg00/mod{d:04d}/new{i:02d}.py", f"NEW = {i}\n"))
    commit(f"change {i}", changes)
PY
    base=$(git -C "$repo" rev-parse 'main~50')
    git -C "$repo" reset -q --hard main
    # The task's base is the first commit; the remote already has it.
    git -C "$repo" tag bench-base "$base"
    cat > "$work/prepush-task.json" <<'JSON'
{"id": "bench-prepush", "slug": "bench-prepush", "repository": "https://example.invalid/bench.git",
 "base_ref": "bench-base", "metric_name": "score", "metric_direction": "maximize",
 "competition_mode": "standard", "allowed_patch_paths": ["pkg00/*"],
 "max_patch_bytes": 262144, "benchmark_command": "true", "time_budget_seconds": 60}
JSON
    (cd "$repo" && "$bin" init bench-prepush --task-file "$work/prepush-task.json" -q)
    git init -q --bare "$remote"
    git -C "$repo" remote add origin "$remote"
    git -C "$repo" push -q origin "bench-base:refs/heads/main"
    (cd "$repo" && "$bin" hook install -q)
    touch "$repo/.git/bench-ready"
fi

base=$(git -C "$repo" rev-parse bench-base)
head=$(git -C "$repo" rev-parse main)
files=$(git -C "$repo" ls-files | wc -l)
commits=$(git -C "$repo" rev-list --count "$base..$head")
changed=$(git -C "$repo" diff --name-only "$base" "$head" | wc -l)
line="refs/heads/main $head refs/heads/main $base"

# Prints the median and min/max of the given millisecond values.
stats() { python3 -c 'import sys, statistics as s; v=[float(x) for x in sys.argv[1:]]; print(f"median {s.median(v):.1f} ms (min {min(v):.1f}, max {max(v):.1f}, n={len(v)})")' "$@"; }
ms() { python3 -c 'import sys; print((int(sys.argv[2]) - int(sys.argv[1])) / 1e6)' "$1" "$2"; }

# Warm the page cache and check that the push would pass.
(cd "$repo" && printf '%s\n' "$line" | "$bin" check --pre-push origin "$remote")

check_times=()
for _ in $(seq "$runs"); do
    t0=$(date +%s%N)
    (cd "$repo" && printf '%s\n' "$line" | "$bin" check --pre-push origin "$remote" >/dev/null)
    t1=$(date +%s%N)
    check_times+=("$(ms "$t0" "$t1")")
done

push_times=()
nohook_times=()
for _ in $(seq "$runs"); do
    t0=$(date +%s%N)
    git -C "$repo" push -q --dry-run origin main
    t1=$(date +%s%N)
    git -C "$repo" push -q --dry-run --no-verify origin main
    t2=$(date +%s%N)
    push_times+=("$(ms "$t0" "$t1")")
    nohook_times+=("$(ms "$t1" "$t2")")
done

echo "repo: $files files, push of $commits commits changing $changed files (release build)"
echo "check --pre-push:             $(stats "${check_times[@]}")"
echo "git push --dry-run (hook):    $(stats "${push_times[@]}")"
echo "git push --dry-run --no-verify: $(stats "${nohook_times[@]}")"
