#!/usr/bin/env python3
"""Check `git bitsota request --dry-run --json` output with the Python reference libraries.

Usage: verify_signature.py MANIFEST.json

MANIFEST is {"mnemonic": "...", "cases": [{"name", "file", "method", "path", "params":
[[k, v], ...], "body_input": "<JSON text given to --body-json>" | null}, ...]}; each "file"
holds the tool's dry-run JSON for that case.

For every case this checks, with substrate-interface (the library the coordinator's Python
stack uses):
  * X-Hotkey is the ss58 address substrate-interface derives from the mnemonic;
  * the body is byte-for-byte Python's canonical JSON of the input
    (json.dumps(json.loads(input), sort_keys=True, separators=(",", ":"), ensure_ascii=True));
  * the signed message is the six BT-AUTH-V1 lines rebuilt here from the method, the path,
    urllib's urlencode of the params, X-Timestamp and sha256 of the body (of b"" without one);
  * Keypair.verify accepts X-Signature over the message, and so does the raw sr25519 check
    (no <Bytes> wrapping), while a changed message is rejected.
Exit 0 iff every case passes.
"""
import hashlib
import json
import sys
import urllib.parse

import sr25519
from substrateinterface import Keypair


def canonical(text):
    return json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def check_case(case, expected_ss58):
    with open(case["file"], "r", encoding="utf-8") as f:
        out = json.load(f)
    problems = []

    def expect(cond, what):
        if not cond:
            problems.append(what)

    headers = out["headers"]
    expect(out.get("version") == 1, "version is not 1")
    expect(out["method"] == case["method"], f"method {out['method']!r}")
    expect(headers["X-Hotkey"] == expected_ss58, f"X-Hotkey {headers['X-Hotkey']} != {expected_ss58}")

    if case["body_input"] is None:
        expect(out["body"] is None, "unexpected body")
        body_bytes = b""
    else:
        want = canonical(case["body_input"])
        expect(out["body"] == want, f"body {out['body']!r} != Python canonical {want!r}")
        expect(headers.get("Content-Type") == "application/json", "no Content-Type")
        body_bytes = out["body"].encode("utf-8")

    query = urllib.parse.urlencode([tuple(p) for p in case["params"]], doseq=True)
    url = urllib.parse.urlsplit(out["url"])
    expect(url.path == case["path"], f"URL path {url.path!r}")
    expect(url.query == query, f"URL query {url.query!r} != {query!r}")

    message = "\n".join([
        "BT-AUTH-V1",
        case["method"].upper(),
        case["path"],
        query,
        headers["X-Timestamp"],
        hashlib.sha256(body_bytes).hexdigest(),
    ])
    expect(out["message"] == message, f"message {out['message']!r} != {message!r}")

    signature_hex = headers["X-Signature"]
    expect(len(signature_hex) == 128 and signature_hex == signature_hex.lower()
           and not signature_hex.startswith("0x"), "X-Signature is not bare lowercase hex")
    signature = bytes.fromhex(signature_hex)
    keypair = Keypair(ss58_address=headers["X-Hotkey"], ss58_format=42)
    msg = message.encode("utf-8")
    try:
        expect(keypair.verify(msg, signature) is True, "Keypair.verify rejected the signature")
        expect(sr25519.verify(signature, msg, keypair.public_key) is True,
               "raw sr25519.verify rejected the signature")
        expect(keypair.verify(msg + b"x", signature) is False, "a changed message verified")
    except (ValueError, TypeError) as e:
        problems.append(f"verification raised {e!r}")
    return problems


def main(argv):
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1], "r", encoding="utf-8") as f:
        manifest = json.load(f)
    expected = Keypair.create_from_mnemonic(manifest["mnemonic"], ss58_format=42).ss58_address
    failed = 0
    for case in manifest["cases"]:
        problems = check_case(case, expected)
        if problems:
            failed += 1
            print(f"FAIL {case['name']}")
            for p in problems:
                print(f"  - {p}")
        else:
            print(f"ok   {case['name']}")
    print(f"{len(manifest['cases']) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
