#!/usr/bin/env bash
# Benchmark: `git bitsota check` against `git status --porcelain` on a synthetic repository of
# 50,000 files in 2,500 directories with a few allowed files changed (issue #2).
#
#   bash benches/check.sh [RUNS]      (default 9 runs; prints medians and the ratio)
#
# Builds the release binary, creates the repo under target/bench (reused on later runs).
set -euo pipefail

runs=${1:-9}
source "$(dirname "$0")/common.sh"
repo="$work/synthetic-50k"

if [ ! -f "$repo/.git/bench-ready" ]; then
    rm -rf "$repo" && mkdir -p "$repo"
    git -C "$repo" init -q -b main
    write_50k_files "$repo"
    git -C "$repo" add -A
    git -C "$repo" commit -q -m base
    cat > "$work/task.json" <<'JSON'
{"id": "bench-task", "slug": "bench", "repository": "https://example.invalid/bench.git",
 "base_ref": "main", "metric_name": "score", "metric_direction": "maximize",
 "competition_mode": "standard", "allowed_patch_paths": ["pkg00/*"],
 "max_patch_bytes": 262144, "benchmark_command": "true", "time_budget_seconds": 60}
JSON
    (cd "$repo" && "$bin" init bench --task-file "$work/task.json" -q)
    touch "$repo/.git/bench-ready"
fi

# A few allowed changes: two edits and one new file.
echo "VALUE = -1" >> "$repo/pkg00/mod0000/file00.py"
echo "VALUE = -2" >> "$repo/pkg00/mod0001/file01.py"
echo "NEW = 1" > "$repo/pkg00/mod0002/new.py"
git -C "$repo" status --porcelain >/dev/null   # warm the caches and refresh the index once
# Time only a check that works: it must pass and see exactly the three changes.
(cd "$repo" && "$bin" check --json) | python3 -c '
import json, sys
r = json.load(sys.stdin)
files = [f["path"] for f in r["files"]]
assert r["ok"] and len(files) == 3, r
print("check ok:", r["ok"], "files:", files)'

time_runs() {
    for _ in $(seq "$runs"); do
        local start end
        start=$(date +%s%N)
        "$@" >/dev/null 2>&1
        end=$(date +%s%N)
        echo $(( (end - start) / 1000 ))
    done | median
}

status_us=$(cd "$repo" && time_runs git status --porcelain)
check_us=$(cd "$repo" && time_runs "$bin" check --json)
tracked=$(git -C "$repo" ls-files)
echo "files: $(wc -l <<<"$tracked") in $(sed 's|/[^/]*$||' <<<"$tracked" | sort -u | wc -l) directories; runs: $runs"
echo "git status --porcelain: median $((status_us / 1000)) ms"
echo "git bitsota check:      median $((check_us / 1000)) ms"
awk -v c="$check_us" -v s="$status_us" 'BEGIN { printf "ratio check/status: %.2f\n", c / s }'
if [ -x /usr/bin/time ]; then
    # Largest resident set of git-bitsota or any git it ran (getrusage of the children).
    rss=$(cd "$repo" && /usr/bin/time -f "%M" "$bin" check --json 2>&1 >/dev/null | tail -1)
    echo "peak RSS (largest process): $((rss / 1024)) MiB"
fi
git -C "$repo" checkout -q -- . && rm -f "$repo/pkg00/mod0002/new.py"
