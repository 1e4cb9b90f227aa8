#!/usr/bin/env bash
# Benchmark: the replay engine's own cost (`git bitsota bench --replay`, whose benchmark command
# is a shell builtin) against the validator's way (`git clone` of the repository + `git
# checkout` of the base commit + `git apply -` of the patch), on a synthetic repository of
# 50,000 files in 2,500 directories (as benches/check.sh), interleaved runs, medians (issue 15).
#
#   bash benches/replay.sh [RUNS]      (default 7 runs; prints medians and the ratio)
#   SPACING=320 bash benches/replay.sh 2
#
# On ext4, creating files right after deleting many (the previous run's worktree or clone) is
# much slower: the allocator skips inodes freed in the last minutes (`recently_deleted`). Back
# to back, every run but the first pays that; SPACING waits that many seconds before each timed
# run, so both ways are measured on a file system at rest.
#
# The replay's time includes everything it does: building the patch from the work tree, the
# pre-replay rules, `git worktree add --detach`, `git apply -`, the (trivial) benchmark and
# removing and pruning the worktree. The validator's clone goes through git's pack transport
# (`--no-local`: no hard links, as a clone over the network) and is deleted after each run,
# outside the timing. Every replay is checked: status ok, the patched value seen, no worktree
# left behind.
set -euo pipefail

runs=${1:-7}
spacing=${SPACING:-0}
source "$(dirname "$0")/common.sh"
repo="$work/replay-50k"

if [ ! -f "$repo/.git/bench-ready" ]; then
    rm -rf "$repo" && mkdir -p "$repo"
    git -C "$repo" init -q -b main
    write_50k_files "$repo"
    echo 1 > "$repo/score.txt"
    git -C "$repo" add -A
    git -C "$repo" commit -q -m base
    cat > "$work/replay-task.json" <<JSON
{"id": "bench-replay", "slug": "bench-replay", "repository": "$repo",
 "base_ref": "main", "metric_name": "score", "metric_direction": "maximize",
 "competition_mode": "standard", "allowed_patch_paths": ["pkg00/*", "score.txt"],
 "max_patch_bytes": 262144, "benchmark_command": "read s < score.txt; echo score=\$s",
 "time_budget_seconds": 600}
JSON
    (cd "$repo" && "$bin" init bench-replay --task-file "$work/replay-task.json" -q)
    (cd "$repo" && "$bin" bench --yes -q >/dev/null)   # consent, once
    touch "$repo/.git/bench-ready"
fi

# The submission: two allowed edits.
echo "VALUE = -1" >> "$repo/pkg00/mod0000/file00.py"
echo 7 > "$repo/score.txt"
base=$(git -C "$repo" rev-parse HEAD)
patch="$work/replay.patch"
(cd "$repo" && "$bin" diff > "$patch")
git -C "$repo" status --porcelain >/dev/null   # warm the caches once

check_replay() {
    (cd "$repo" && "$bin" bench --replay --yes --json -q) | python3 -c '
import json, sys
r = json.load(sys.stdin)
assert r["replay"] and r["status"] == "ok" and r["value"] == 7, r
print("replay ok: score", r["value"])'
    [ "$(git -C "$repo" worktree list | wc -l)" = 1 ] || { echo "worktree left behind" >&2; exit 1; }
}
check_replay

validator_way() {
    local dir="$work/validator-clone"
    rm -rf "$dir"
    local start end
    start=$(date +%s%N)
    git clone --quiet --no-local "$repo" "$dir"
    git -C "$dir" -c advice.detachedHead=false checkout --quiet "$base"
    git -C "$dir" apply - < "$patch"
    end=$(date +%s%N)
    grep -qx 7 "$dir/score.txt"
    rm -rf "$dir"
    echo $(( (end - start) / 1000 ))
}
replay_once() {
    local start end
    start=$(date +%s%N)
    (cd "$repo" && "$bin" bench --replay --yes --json -q >/dev/null)
    end=$(date +%s%N)
    echo $(( (end - start) / 1000 ))
}

ours=() theirs=()
for _ in $(seq "$runs"); do
    sleep "$spacing"
    ours+=("$(replay_once)")
    sleep "$spacing"
    theirs+=("$(validator_way)")
done
ours_us=$(printf '%s\n' "${ours[@]}" | median)
theirs_us=$(printf '%s\n' "${theirs[@]}" | median)
check_replay
echo "files: $(git -C "$repo" ls-files | wc -l); runs: $runs (interleaved, ${spacing} s apart); load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "replay runs (ms):    $(printf '%s ' "${ours[@]}" | awk '{for (i=1;i<=NF;i++) printf "%d ", $i/1000}')"
echo "validator runs (ms): $(printf '%s ' "${theirs[@]}" | awk '{for (i=1;i<=NF;i++) printf "%d ", $i/1000}')"
echo "git bitsota bench --replay:        median $((ours_us / 1000)) ms"
echo "git clone + checkout + git apply:  median $((theirs_us / 1000)) ms"
awk -v o="$ours_us" -v t="$theirs_us" 'BEGIN { printf "ratio replay/validator: %.2f\n", o / t }'
git -C "$repo" checkout -q -- .
