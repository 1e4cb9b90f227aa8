#!/usr/bin/env python3
"""Write tests/data/canonical_vectors.json: canonical-JSON test vectors made by Python itself.

The BitSota coordinator verifies signatures over
    json.dumps(json.loads(body), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
so this script records, for each JSON *text*, exactly what Python produces and its SHA-256.
The Rust test (tests/it/canonical.rs) parses the very same texts and must agree byte for byte.

Usage: python3 gen_canonical_vectors.py [OUTPUT]   (default: canonical_vectors.json next to this file)
Standard library only; the output is deterministic for a given Python version.
"""

import hashlib
import json
import os
import platform
import sys


def canonical(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


# (name, JSON text). Raw strings: backslash escapes reach json.loads (and Rust) untouched.
VECTORS = [
    # --- structure ---------------------------------------------------------------------
    ("empty object", r'{}'),
    ("empty array", r'[]'),
    ("empty object with whitespace", r'{ }'),
    ("empty string", r'""'),
    ("nested unsorted keys", r'{"z":{"y":{"b":1,"a":2},"x":[{"d":0,"c":0}]},"a":{"c":1,"b":{"z":0,"a":0}}}'),
    ("keys uppercase before lowercase", r'{"a":1,"B":2,"b":3,"A":4,"_":5,"0":6}'),
    ("keys by code point not locale", r'{"z":1,"é":2,"e":3,"É":4,"\u00e8":5}'),
    ("emoji keys", r'{"😀":1,"\ud83d\ude01":2,"\uffff":3,"a":4,"中":5}'),
    ("keys prefix order", r'{"ab":1,"a":2,"abc":3,"a\u0000":4,"":5}'),
    ("duplicate keys last wins", r'{"a":1,"b":2,"a":3}'),
    ("duplicate keys nested", r'{"x":{"k":"first"},"x":{"k":"second","j":[1]}}'),
    ("arrays keep order", r'[3,1,2,"b","a",null,true,false]'),
    ("array of objects", r'[{"b":1,"a":2},{"d":[],"c":{}}]'),
    ("deeply nested arrays", "[" * 60 + "0" + "]" * 60),
    ("deeply nested objects", '{"k":' * 40 + "null" + "}" * 40),
    ("whitespace heavy", ' \n\t\r{ \n "b" \t:\r [ 1 ,\n2 , { "d" : true , "c" : null } ] ,\n\n "a"  :  "x"  }\r\n '),
    ("literals", r'{"t":true,"f":false,"n":null}'),
    ("top-level true", r'true'),
    ("top-level null", r' null '),
    ("top-level string", r'"just a string"'),
    ("serde_json number token as a key", r'{"$serde_json::private::Number":"5"}'),
    # --- strings -----------------------------------------------------------------------
    ("unicode raw", r'["é","✓","中文","😀"]'),
    ("unicode escaped upper and lower hex", r'["\u00E9","\u2713","\u4e2d\u6587","\uD83D\uDE00"]'),
    ("line and paragraph separators", '"a\u2028b\u2029c"'),
    ("bom inside string", '"\ufeffx\\ufeff"'),
    ("control chars", r'"\u0000\u0001\u001f\u007f\u0080\u009f"'),
    ("raw del and c1", '"\x7f\u0085"'),
    ("all short escapes", r'"\"\\\/\b\f\n\r\t"'),
    ("short escapes via u", r'"\u0022\u005c\u002f\u0008\u000c\u000a\u000d\u0009"'),
    ("slash raw and escaped", r'{"url":"https://a/b","esc":"https:\/\/a\/b"}'),
    ("quotes and backslashes", r'"say \"hi\" to C:\\path\\file and \\\" mix"'),
    ("astral plane", r'"\ud800\udc00 \udbff\udfff 𝄞"'),
    ("nonchars and private use", r'"\ufffe\uffff\ue000"'),
    ("printable ascii", '" !#$%&\'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[]^_`abcdefghijklmnopqrstuvwxyz{|}~"'),
    # --- integers ----------------------------------------------------------------------
    ("small ints", r'[0,1,-1,42,-42]'),
    ("minus zero int", r'-0'),
    ("minus zero int in array", r'[-0,0]'),
    ("u64 max and beyond", r'[18446744073709551615,18446744073709551616]'),
    ("i64 min and beyond", r'[-9223372036854775808,-9223372036854775809]'),
    ("big int", r'123456789012345678901234567890'),
    ("big negative int", r'-123456789012345678901234567890123456789'),
    ("int at python digit limit", "9" * 4300),
    ("int exact above 2^53", r'9007199254740993'),
    ("int vs float", r'{"int":3,"float":3.0,"neg_int":-3,"neg_float":-3.0}'),
    # --- floats ------------------------------------------------------------------------
    ("float 264.0", r'264.0'),
    ("float 0.0001", r'0.0001'),
    ("float 1e-4", r'1e-4'),
    ("float 9.999e-05", r'9.999e-05'),
    ("float 0.00009999", r'0.00009999'),
    ("float 1e-05", r'1e-05'),
    ("float 0.00001", r'0.00001'),
    ("float 1.5e-07", r'1.5e-07'),
    ("float 2.5e-3", r'2.5e-3'),
    ("float 1e15", r'1e15'),
    ("float 9999999999999998.0", r'9999999999999998.0'),
    ("float 1e16", r'1e16'),
    ("float 1e+16", r'1e+16'),
    ("float 123456789012345678.0", r'123456789012345678.0'),
    ("float 1e22", r'1e22'),
    ("float 0.1", r'0.1'),
    ("float 0.30000000000000004", r'0.30000000000000004'),
    ("float -0.0", r'-0.0'),
    ("float 0.0 and -0.0", r'[0.0,-0.0,0e0,-0E-0]'),
    ("float 1E5", r'1E5'),
    ("float 1.50", r'1.50'),
    ("float 5e-324 subnormal", r'5e-324'),
    ("float smallest normal", r'2.2250738585072014e-308'),
    ("float max", r'1.7976931348623157e308'),
    ("float negative max", r'-1.7976931348623157E+308'),
    ("float underflow to zero", r'[1e-400,-1e-400]'),
    ("float huge exponent zero", r'0e999999999999999999'),
    ("float long mantissa", r'3.14159265358979323846264338327950288419716939937510'),
    ("float tie rounds to even", r'9007199254740993.0'),
    ("float exact one via exponent", r'0.000000000000000000000000000001e30'),
    ("floats negative mix", r'[-1.5,-0.0001,-1e-05,-1e16,-123.456]'),
    ("float 1e100", r'1e100'),
    # --- realistic bodies --------------------------------------------------------------
    ("claim body", r'{"claim_description":"manual miner run"}'),
    (
        "known submission vector",
        r'{"summary":"h\u00e9llo \u2713 \ud83d\ude00","claim_id":"d0de5770-fa6c-42bf-87f9-3259d149aacc",'
        r'"base_ref":"0123456789abcdef0123456789abcdef01234567","patch":"diff --git a/x b/x\n",'
        r'"claimed_metrics":{"heldout_ppl":264.0,"tiny":1e-05,"big":1e+16,"n":3},'
        r'"artifact_uri":"https://huggingface.co/x/resolve/abc/a.zip",'
        r'"artifact_sha256":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","artifact_size_bytes":123}',
    ),
    (
        "realistic submission body",
        r'''{
  "claim_id": "7f3c2a10-5b9e-4c1d-9a8f-0e6d4b2c1a99",
  "base_ref": "89abcdef0123456789abcdef0123456789abcdef",
  "patch": "diff --git a/train.py b/train.py\nindex 1111111..2222222 100644\n--- a/train.py\n+++ b/train.py\n@@ -1,3 +1,3 @@\n-lr = 3e-4\n+lr = 2.5e-4\r\n \tbatch = 64\r\n def main():\n\treturn \"ok\"\n",
  "summary": "Lower LR → better held-out ppl (−1.2%) — tested on 中文 & emoji 🚀",
  "claimed_metrics": {"heldout_ppl": 263.75, "train_loss": 2.0e0, "tokens": 1000000000, "lr": 0.00025, "eps": 1e-08, "steps": 12000},
  "artifact_uri": "https://huggingface.co/someone/model/resolve/0123abc/artifact.zip",
  "artifact_sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
  "artifact_size_bytes": 52428800
}''',
    ),
]

# Texts the client must refuse: Python either rejects them too, or would accept them but
# produce something the coordinator cannot use (Infinity/NaN) or a Rust string cannot hold.
REFUSED = [
    ("overflow to infinity", r'1e400'),
    ("overflow to negative infinity", r'-1e400'),
    ("overflow nested", r'{"a":[1,2,1e999]}'),
    ("huge exponent", r'1e999999999999999999'),
    ("NaN literal", r'NaN'),
    ("Infinity literal", r'[Infinity]'),
    ("minus Infinity literal", r'{"x":-Infinity}'),
    ("lone high surrogate", r'"\ud800"'),
    ("lone low surrogate", r'"\udc00"'),
    ("high surrogate then non-low", r'"\ud83d\u0041"'),
    ("int above python digit limit", "9" * 4301),
    ("trailing comma array", r'[1,]'),
    ("trailing comma object", r'{"a":1,}'),
    ("single quotes", r"{'a':1}"),
    ("leading zero", r'01'),
    ("bare dot", r'1.'),
    ("leading dot", r'.5'),
    ("plus sign", r'+1'),
    ("bad unicode escape", r'"\u+0e9"'),
    ("unknown escape", r'"\x41"'),
    ("raw tab in string", '"a\tb"'),
    ("raw newline in string", '"a\nb"'),
    ("extra data", r'[1] [2]'),
    ("byte order mark", '\ufeff{}'),
    ("empty text", ''),
    ("only whitespace", ' \n '),
    ("unterminated string", r'"abc'),
    ("non-string key", r'{1:2}'),
]

KNOWN = {
    "claim body": "c1be902f35c60f63f4624eeb84549ac540c54eec7a0fe818943f81145cec43ad",
    "known submission vector": "96dea5e76f0e8ca3e357c492a0181c0d2459d5aa5d6d3dc436de0c3ca4b15147",
}


def python_outcome(text):
    try:
        return "ok: " + canonical(json.loads(text))
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        return "error: %s: %s" % (type(exc).__name__, exc)


def main():
    out_path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "canonical_vectors.json")

    names = [name for name, _ in VECTORS + REFUSED]
    assert len(names) == len(set(names)), "vector names must be unique"

    vectors = []
    for name, text in VECTORS:
        canon = canonical(json.loads(text))
        digest = hashlib.sha256(canon.encode("utf-8")).hexdigest()
        if name in KNOWN:
            assert digest == KNOWN[name], (name, canon, digest)
        vectors.append({"name": name, "input": text, "canonical": canon, "sha256": digest})

    refused = [{"name": name, "input": text, "python": python_outcome(text)} for name, text in REFUSED]

    doc = {
        "about": "Generated by gen_canonical_vectors.py; do not edit. canonical = json.dumps(json.loads(input), "
                 "sort_keys=True, separators=(',', ':'), ensure_ascii=True); refused = inputs the client must reject.",
        "python_version": platform.python_version(),
        "vectors": vectors,
        "refused": refused,
    }
    with open(out_path, "w", encoding="ascii", newline="\n") as f:
        json.dump(doc, f, indent=1, ensure_ascii=True)
        f.write("\n")
    print("wrote %d vectors and %d refused inputs to %s" % (len(vectors), len(refused), out_path))


if __name__ == "__main__":
    main()
