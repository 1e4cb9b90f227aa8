#!/usr/bin/env bash
# Benchmark: `git bitsota artifact hash` on a 1 GiB file against `openssl dgst -sha256` (which
# uses the CPU's SHA extensions) and, for reference, coreutils `sha256sum` (issue 12).
#
#   bash benches/artifact.sh [RUNS]      (default 7 runs; prints medians, ratios, peak memory)
#
# The file is made once under target/bench and read from the page cache (one warm-up run of
# each tool first), so the numbers compare hashing, not the disk. Runs are interleaved
# (ours, openssl, sha256sum, ours, …) so a change in machine load hits all three alike.
set -euo pipefail

runs=${1:-7}
source "$(dirname "$0")/common.sh"
file="$work/artifact-1GiB.bin"
mkdir -p "$work"
if [ ! -f "$file" ] || [ "$(stat -c %s "$file")" != 1073741824 ]; then
    head -c 1073741824 /dev/urandom > "$file"
fi

sha_ni=no
grep -qw sha_ni /proc/cpuinfo && sha_ni=yes
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'); sha_ni flag: $sha_ni; cores: $(nproc)"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

# Only a hash that is right is timed.
ours=$("$bin" artifact hash --json "$file" | python3 -c 'import json,sys; print(json.load(sys.stdin)["sha256"])')
theirs=$(openssl dgst -sha256 -r "$file" | cut -d' ' -f1)
[ "$ours" = "$theirs" ] || { echo "MISMATCH: ours $ours, openssl $theirs" >&2; exit 1; }
echo "sha256 agrees with openssl: $ours"

now_us() { echo $(( $(date +%s%N) / 1000 )); }
time_one() {
    local start end
    start=$(now_us)
    "$@" >/dev/null 2>&1
    end=$(now_us)
    echo $(( end - start ))
}

# Warm-up: page cache, CPU frequency, binaries.
time_one "$bin" artifact hash "$file" >/dev/null
time_one openssl dgst -sha256 "$file" >/dev/null
time_one sha256sum "$file" >/dev/null

: > "$work/ours.us"; : > "$work/openssl.us"; : > "$work/sha256sum.us"
for _ in $(seq "$runs"); do
    time_one "$bin" artifact hash "$file" >> "$work/ours.us"
    time_one openssl dgst -sha256 "$file" >> "$work/openssl.us"
    time_one sha256sum "$file" >> "$work/sha256sum.us"
done
ours_us=$(median < "$work/ours.us")
openssl_us=$(median < "$work/openssl.us")
sha256sum_us=$(median < "$work/sha256sum.us")

echo "runs: $runs (interleaved, after one warm-up each)"
awk -v t="$ours_us" 'BEGIN { printf "git bitsota artifact hash: median %.3f s (%.0f MiB/s)\n", t/1e6, 1024/(t/1e6) }'
awk -v t="$openssl_us" 'BEGIN { printf "openssl dgst -sha256:      median %.3f s (%.0f MiB/s)\n", t/1e6, 1024/(t/1e6) }'
awk -v t="$sha256sum_us" 'BEGIN { printf "sha256sum:                 median %.3f s (%.0f MiB/s)\n", t/1e6, 1024/(t/1e6) }'
awk -v a="$ours_us" -v b="$openssl_us" 'BEGIN { printf "ratio ours/openssl: %.2f (target <= 1.10)\n", a/b }'
awk -v a="$ours_us" -v b="$sha256sum_us" 'BEGIN { printf "ratio ours/sha256sum: %.2f\n", a/b }'
if [ -x /usr/bin/time ]; then
    rss=$(/usr/bin/time -f "%M" "$bin" artifact hash "$file" 2>&1 >/dev/null | tail -1)
    echo "peak RSS: $((rss / 1024)) MiB (target <= 32 MiB)"
fi
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
