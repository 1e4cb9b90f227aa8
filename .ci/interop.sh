#!/usr/bin/env bash
# End-to-end interop check: requests signed by git-bitsota must verify with the Python
# reference (substrate-interface 1.8.1, what the coordinator's stack uses), and their bodies
# must be Python's canonical JSON. Creates target/interop-venv; a failed install is a failure,
# never a skip.
set -euo pipefail

cd "$(dirname "$0")/.."
VENV=target/interop-venv
BIN=target/debug/git-bitsota
# TEST-ONLY mnemonic (tests/data/signing-vectors.json).
MNEMONIC="quick monitor wasp inflict margin route rule among beach cave uncover pave"

# Always (incremental): a stale binary must not be the one checked.
cargo build --quiet --locked

if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV" || { echo "interop: FAILED to create the venv $VENV" >&2; exit 1; }
fi
if ! "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check substrate-interface==1.8.1; then
    echo "interop: FAILED to install substrate-interface==1.8.1 (no skipping: fix the network or the index)" >&2
    exit 1
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# Run the tool with only the test key in its environment; --dry-run never connects.
sign() {
    local out=$1
    shift
    env -i PATH="$PATH" HOME="$WORK" BITSOTA_HOTKEY_MNEMONIC="$MNEMONIC" \
        "$BIN" --coordinator-url http://127.0.0.1:9 request "$@" --dry-run --json >"$out"
}

CLAIM_PATH=/api/v1/tasks/c54218ce-9ffd-4389-b97d-2d952adb4a1a/claim
CANCEL_PATH=/api/v1/claims/d0de5770-fa6c-42bf-87f9-3259d149aacc/cancel
CLAIM_BODY='{"claim_description": "manual miner run"}'
SUBMIT_BODY='{"claim_id": "d0de5770-fa6c-42bf-87f9-3259d149aacc", "base_ref": "0123456789abcdef0123456789abcdef01234567", "patch": "diff --git a/x b/x\n--- a/x\n+++ b/x\n", "summary": "h\u00e9llo \u2713 \ud83d\ude00 tab\there \"quoted\" \\ slash/ \u007f", "claimed_metrics": {"heldout_ppl": 264.0, "tiny": 1e-05, "small": 1.5e-07, "big": 1e+16, "max": 1e15, "third": 0.30000000000000004, "neg": -0.0, "n": 3, "huge": 123456789012345678901234567890}, "artifact_size_bytes": 0, "nested": [{"z": null, "a": [true, false]}]}'

sign "$WORK/claim.json" POST "$CLAIM_PATH" --body-json "$CLAIM_BODY"
sign "$WORK/submit.json" POST /api/v1/submissions --body-json "$SUBMIT_BODY"
sign "$WORK/cancel.json" POST "$CANCEL_PATH"
sign "$WORK/get.json" GET /api/v1/claims --query "task_id=c54218ce-9ffd-4389-b97d-2d952adb4a1a" --query "status=a b/ü&x"

MANIFEST="$WORK/manifest.json"
"$VENV/bin/python" - "$MANIFEST" "$WORK" "$MNEMONIC" "$CLAIM_PATH" "$CANCEL_PATH" "$CLAIM_BODY" "$SUBMIT_BODY" <<'PY'
import json, sys
manifest, work, mnemonic, claim_path, cancel_path, claim_body, submit_body = sys.argv[1:]
cases = [
    {"name": "claim POST", "file": f"{work}/claim.json", "method": "POST", "path": claim_path, "params": [], "body_input": claim_body},
    {"name": "submission POST (unicode, floats, big ints)", "file": f"{work}/submit.json", "method": "POST", "path": "/api/v1/submissions", "params": [], "body_input": submit_body},
    {"name": "cancel POST without body", "file": f"{work}/cancel.json", "method": "POST", "path": cancel_path, "params": [], "body_input": None},
    {"name": "signed GET with query", "file": f"{work}/get.json", "method": "GET", "path": "/api/v1/claims",
     "params": [["task_id", "c54218ce-9ffd-4389-b97d-2d952adb4a1a"], ["status", "a b/ü&x"]], "body_input": None},
]
with open(manifest, "w", encoding="utf-8") as f:
    json.dump({"mnemonic": mnemonic, "cases": cases}, f)
PY

"$VENV/bin/python" .ci/verify_signature.py "$MANIFEST"
echo "interop: OK (signatures verified by substrate-interface 1.8.1)"
