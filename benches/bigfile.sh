#!/usr/bin/env bash
# Benchmark: what is not submitted must cost nothing (issue #9). A repository with a tracked
# 256 MiB `weights.bin` outside the allowed paths (`src/*`):
#   1. weights.bin rewritten in the work tree (plus one allowed edit): `check`;
#   2. the same, committed: `check` and `check --pre-push`;
#   3. `git reset --hard` just rewrote the tree (weights.bin racily clean): the first check,
#      then later ones;
# each against `git status --porcelain` on the same state, with the peak RSS (largest of
# git-bitsota and the gits it runs) and the bytes the check added to `.git/objects`.
# Targets: ≤ 1.5× `git status`, peak RSS ≤ 64 MiB, 0 bytes added.
#
#   bash benches/bigfile.sh [RUNS] [MIB]      (default 5 runs, 256 MiB; prints medians)
#
# Builds the release binary; the repository lives under target/bench/bigfile (rebuilt each time).
set -euo pipefail

runs=${1:-5}
mib=${2:-256}
source "$(dirname "$0")/common.sh"
repo="$work/bigfile"

rm -rf "$repo" && mkdir -p "$repo/src"
git -C "$repo" init -q -b main
echo "lr = 1" > "$repo/src/train.py"
head -c "$((mib << 20))" /dev/urandom > "$repo/weights.bin"
git -C "$repo" add -A
git -C "$repo" commit -q -m base
cat > "$work/bigfile-task.json" <<'JSON'
{"id": "bench-bigfile", "slug": "bench-bigfile", "repository": "https://example.invalid/bench.git",
 "base_ref": "main", "metric_name": "score", "metric_direction": "maximize",
 "competition_mode": "standard", "allowed_patch_paths": ["src/*"],
 "max_patch_bytes": 262144, "benchmark_command": "true", "time_budget_seconds": 60}
JSON
(cd "$repo" && "$bin" init bench-bigfile --task-file "$work/bigfile-task.json" -q)
base=$(git -C "$repo" rev-parse HEAD)

# Median wall time in µs of a command; its stdin is $stdin (default /dev/null), so no shell
# wrapper is timed with it.
stdin=/dev/null
time_runs() {
    for _ in $(seq "$runs"); do
        local start end
        start=$(date +%s%N)
        "$@" <"$stdin" >/dev/null 2>&1 || true
        end=$(date +%s%N)
        echo $(( (end - start) / 1000 ))
    done | median
}
objects_bytes() { du -sb "$repo/.git/objects" | cut -f1; }
rss_mib() { { /usr/bin/time -f "%M" "$@" <"$stdin" 2>&1 >/dev/null || true; } | tail -1 | awk '{printf "%d", $1 / 1024}'; }

# Prints one result line: label, git status median, command median, ratio, RSS, bytes added.
measure() {
    local label=$1; shift
    local before after status_us cmd_us rss
    git -C "$repo" status --porcelain >/dev/null   # what a user's status would already have done
    status_us=$(cd "$repo" && time_runs git status --porcelain)
    before=$(objects_bytes)
    cmd_us=$(cd "$repo" && time_runs "$@")
    rss=$(cd "$repo" && rss_mib "$@")
    after=$(objects_bytes)
    printf '%-44s status %6d ms  check %6d ms  ratio %5.2f  peak RSS %4d MiB  objects +%d bytes\n' \
        "$label" $((status_us / 1000)) $((cmd_us / 1000)) "$(awk -v c="$cmd_us" -v s="$status_us" 'BEGIN{print c/s}')" \
        "$rss" $((after - before))
}

echo "weights.bin: $mib MiB, tracked, outside allowed_patch_paths; runs: $runs (release build); load: $(cut -d' ' -f1-3 /proc/loadavg)"

# 1. Modified in the work tree.
head -c "$((mib << 20))" /dev/urandom > "$repo/weights.bin"
echo "lr = 2" > "$repo/src/train.py"
(cd "$repo" && "$bin" check --json || true) | python3 -c '
import json, sys
r = json.load(sys.stdin)
files = {f["path"]: f["allowed"] for f in r["files"]}
assert files == {"src/train.py": True, "weights.bin": False}, r
assert [p["code"] for p in r["problems"]] == ["outside_allowed_paths"], r'
measure "modified in the work tree: check" "$bin" check --json

# 2. Committed.
git -C "$repo" commit -q -am "retrained"
head=$(git -C "$repo" rev-parse HEAD)
printf 'refs/heads/main %s refs/heads/main %s\n' "$head" "$base" > "$work/bigfile-prepush"
measure "committed: check" "$bin" check --json
stdin="$work/bigfile-prepush" measure "committed: check --pre-push" "$bin" check --pre-push origin /dev/null

# The same committed state with a 1 KiB weights.bin: what the 256 MiB file itself costs.
tiny="$work/bigfile-tiny"
rm -rf "$tiny" && mkdir -p "$tiny/src"
git -C "$tiny" init -q -b main
echo "lr = 1" > "$tiny/src/train.py"
head -c 1024 /dev/urandom > "$tiny/weights.bin"
git -C "$tiny" add -A && git -C "$tiny" commit -q -m base
tiny_base=$(git -C "$tiny" rev-parse HEAD)
(cd "$tiny" && "$bin" init bench-bigfile --task-file "$work/bigfile-task.json" -q >/dev/null)
head -c 1024 /dev/urandom > "$tiny/weights.bin"
echo "lr = 2" > "$tiny/src/train.py"
git -C "$tiny" commit -q -am "retrained"
printf 'refs/heads/main %s refs/heads/main %s\n' "$(git -C "$tiny" rev-parse HEAD)" "$tiny_base" > "$work/bigfile-tiny-prepush"
for _ in 1 2 3; do
    big_us=$(cd "$repo" && time_runs "$bin" check --json)
    tiny_us=$(cd "$tiny" && time_runs "$bin" check --json)
    big_pp=$(cd "$repo" && stdin="$work/bigfile-prepush" time_runs "$bin" check --pre-push origin /dev/null)
    tiny_pp=$(cd "$tiny" && stdin="$work/bigfile-tiny-prepush" time_runs "$bin" check --pre-push origin /dev/null)
    printf '%-44s check %5.1f ms vs %5.1f ms   --pre-push %5.1f ms vs %5.1f ms\n' \
        "committed, ${mib} MiB vs 1 KiB weights.bin:" "$(awk -v u="$big_us" 'BEGIN{print u/1000}')" \
        "$(awk -v u="$tiny_us" 'BEGIN{print u/1000}')" "$(awk -v u="$big_pp" 'BEGIN{print u/1000}')" \
        "$(awk -v u="$tiny_pp" 'BEGIN{print u/1000}')"
done

# 3. Racily clean after `git reset --hard` (the index is not refreshed by a status first):
# the first check hashes weights.bin once (git status would too), later ones trust the proof
# (src/patch/racy.rs) once the file is 2 s old; no git status in between.
git -C "$repo" reset -q --hard "$base"
before=$(objects_bytes)
start=$(date +%s%N)
(cd "$repo" && "$bin" check --json >/dev/null 2>&1) || true
end=$(date +%s%N)
rss=$(cd "$repo" && rss_mib "$bin" check --json)
printf '%-44s check %6d ms  peak RSS %4d MiB  objects +%d bytes (first run, before any git status)\n' \
    "reset --hard, racily clean: check" $(( (end - start) / 1000000 )) "$rss" $(( $(objects_bytes) - before ))
sleep 2.5
(cd "$repo" && "$bin" check --json >/dev/null 2>&1) || true   # writes the proof
before=$(objects_bytes)
racy_us=$(cd "$repo" && time_runs "$bin" check --json)
rss=$(cd "$repo" && rss_mib "$bin" check --json)
git_us=$(cd "$repo" && GIT_OPTIONAL_LOCKS=0 time_runs git status --porcelain)
printf '%-44s check %6d ms  peak RSS %4d MiB  objects +%d bytes; git status without refreshing the index %d ms\n' \
    "reset --hard, racily clean: later checks" $((racy_us / 1000)) "$rss" $(( $(objects_bytes) - before )) $((git_us / 1000))
measure "reset --hard, after one git status: check" "$bin" check --json
