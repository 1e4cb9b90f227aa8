#!/usr/bin/env python3
"""Generate tests/data/fnmatch_cases.json: the expected answers of Python's
fnmatch.fnmatch(path, pattern), which BitSota validators use to decide whether
a changed path is allowed. The Rust port in src/fnmatch.rs must agree with
every case (tests/it/fnmatch.rs checks it).

Usage: python3 gen_fnmatch_cases.py [OUTPUT]   (default: fnmatch_cases.json beside this script)

Run it with CPython 3.11 on a POSIX host, as the validators are: there
os.path.normcase is the identity, so fnmatch.fnmatch == fnmatch.fnmatchcase.
The output is deterministic (same bytes on every run with the same Python).
"""
import fnmatch
import json
import os
import platform
import sys
import warnings

# Each group is (pattern, [paths...]); every pair becomes one case.
GROUPS = [
    # --- plain literals, case, regex metacharacters --------------------------
    ("train.py", ["train.py", "Train.py", "train.pyc", "xtrain.py", "train_py", "", "./train.py"]),
    ("README.md", ["README.md", "readme.md", "README.MD", "README.md/"]),
    ("a.b", ["a.b", "axb", "a..b", "ab"]),
    ("a+b", ["a+b", "aab", "ab"]),
    ("(a)", ["(a)", "a"]),
    ("a|b", ["a|b", "a", "b"]),
    ("^a$", ["^a$", "a"]),
    ("a{2}", ["a{2}", "aa"]),
    ("x{y", ["x{y"]),
    ("x}y", ["x}y"]),
    ("$HOME/.bashrc", ["$HOME/.bashrc", "/root/.bashrc"]),
    ("a.b+(c)|^$", ["a.b+(c)|^$", "a.b+(c)|^"]),
    ("%s#@=,;:'\"`", ["%s#@=,;:'\"`", "%s#@=,;:'\""]),
    # --- braces are literal (no brace expansion) -----------------------------
    ("{a,b}", ["{a,b}", "a", "b", "{a}"]),
    ("src/{lib,main}.rs", ["src/{lib,main}.rs", "src/lib.rs", "src/main.rs"]),
    ("*.{py,cu}", ["kernel.{py,cu}", "kernel.py", "kernel.cu"]),
    ("{}", ["{}", ""]),
    # --- * crosses '/', anchored at both ends --------------------------------
    ("*", ["", "a", "a/b", "/", "a/b/c.py", ".hidden", "x\ny", "\n"]),
    ("*.py", ["train.py", "a/b/train.py", ".py", "train.pyc", "train.py/x", "train.PY"]),
    ("src/*", ["src/", "src/a", "src/a/b/c", "src", "xsrc/a", "lib/src/a"]),
    ("*/train.py", ["a/train.py", "/train.py", "a/b/train.py", "train.py"]),
    ("a*b", ["ab", "axb", "a/b", "a/x/b", "ba", "abx"]),
    ("a*b*c", ["abc", "a/b/c", "abbbc", "acb", "ab/c/d"]),
    ("*a*ab", ["aaab", "aab", "aaa", "ab", "xaxab"]),
    ("***", ["", "abc", "a/b"]),
    ("a***b", ["ab", "a/b", "a"]),
    ("*x", ["x", "xx", "xxy", "y/x", ""]),
    ("x*", ["x", "x/", "yx"]),
    ("*/", ["a/", "/", "a", "a/b/"]),
    ("", ["", "a", "/", " "]),
    # --- ** is just two stars ------------------------------------------------
    ("**", ["", "a", "a/b/c"]),
    ("submission/**", ["submission/", "submission/a.py", "submission/a/b/c.py", "submission", "other/submission/a"]),
    ("**/x", ["a/x", "a/b/x", "/x", "x", "ax"]),
    ("a/**/b", ["a/x/b", "a/x/y/b", "a//b", "a/b", "a/xb"]),
    ("a**b", ["ab", "axb", "a/b"]),
    ("x/**y", ["x/y", "x/zy", "x/z/y", "xy"]),
    ("**/*.py", ["a/b.py", "b.py", "/b.py", "a/b.pyc"]),
    # --- ? matches any one character, including '/' and newline --------------
    ("?", ["a", "/", ".", "\n", "", "ab", "é", "中", "😀", " "]),
    ("a?b", ["a/b", "axb", "ab", "a\nb", "a\tb", "axxb"]),
    ("??", ["ab", "a", "abc", "éé"]),
    ("file?.txt", ["file1.txt", "file.txt", "file12.txt", "file/.txt"]),
    ("?*", ["", "a", "ab"]),
    ("*?", ["", "a"]),
    # --- character sets ------------------------------------------------------
    ("[abc]", ["a", "b", "c", "d", "", "ab", "A"]),
    ("[a-c]", ["a", "b", "c", "d", "-", "B"]),
    ("[!a-c]", ["a", "d", "/", "-", "\n", "", "dd"]),
    ("[0-9][0-9]", ["42", "4a", "4", "423"]),
    ("[a-cx-z]", ["b", "y", "m"]),
    ("[a-c-e]", ["a", "c", "d", "-", "e"]),
    ("[!/]*", ["a/b", "/a", "", "x"]),
    ("[/]", ["/", "a"]),
    ("[?]", ["?", "a"]),
    ("[*]", ["*", "a", ""]),
    ("[.]py", [".py", "xpy"]),
    ("log[0-9].txt", ["log5.txt", "logx.txt", "log.txt"]),
    ("[é]", ["é", "e"]),
    ("[a-é]", ["b", "é", "ê", "z", "A"]),
    ("[中文]", ["中", "文", "a"]),
    ("[!中]", ["文", "中", "a"]),
    ("[😀-😂]", ["😁", "😃", "a"]),
    ("[ \t]", [" ", "\t", "x"]),
    ("[\n]", ["\n", "n"]),
    ("[[:alpha:]]", ["a", "[", ":", "a]", "[]", ":]"]),
    # --- ']' right after '[' or '[!' is a member ------------------------------
    ("[]]", ["]", "", "[]]", "a"]),
    ("[!]]", ["]", "a", "!", ""]),
    ("[]a]", ["]", "a", "b"]),
    ("[]-]", ["]", "-", "a", "[]-]"]),
    ("[]-a]", ["]", "^", "_", "a", "b"]),
    ("[!]-a]", ["]", "_", "b", "-"]),
    ("[]", ["[]", "", "]"]),
    ("[!]", ["[!]", "!", "a"]),
    ("[][]", ["[", "]", "x"]),
    # --- '-' at the edges of a set -------------------------------------------
    ("[-]", ["-", "a"]),
    ("[!-]", ["-", "a", "!"]),
    ("[a-]", ["a", "-", "b"]),
    ("[-a]", ["-", "a", "b"]),
    ("[!-a]", ["-", "a", "b"]),
    ("[--0]", ["-", ".", "/", "0", "1"]),
    ("[--]", ["-", "a"]),
    ("[---]", ["-", "a"]),
    ("[a--]", ["a", "-", "b"]),
    # --- reversed / empty ranges (removed by CPython) -------------------------
    ("[z-a]", ["a", "m", "z", "-", ""]),
    ("[!z-a]", ["a", "m", "/", "\n", "", "ab"]),
    ("[z-ax]", ["x", "z", "a"]),
    ("[z-a!]", ["q", "!", "", "qq"]),
    ("[z-a!b]", ["b", "q", "!"]),
    ("[z-a!-b]", ["a", "b", "-", "!"]),
    ("[a-cz-a]", ["b", "z", "a"]),
    ("[b-a-c]", ["b", "a", "-", "c"]),
    ("x[z-a]y", ["xy", "xay", "x-y"]),
    ("[9-0]*", ["5abc", "", "abc"]),
    # --- unclosed '[' is a literal ------------------------------------------
    ("[", ["[", "", "a"]),
    ("[a", ["[a", "a"]),
    ("a[", ["a[", "a"]),
    ("[!", ["[!", "!"]),
    ("[!a", ["[!a", "b"]),
    ("*[", ["x[", "x"]),
    ("[*", ["[abc", "[", "abc"]),
    ("[a-", ["[a-", "a"]),
    ("[[", ["[[", "["]),
    ("[a]b[", ["ab[", "ab"]),
    # --- '[' inside a set is a member -----------------------------------------
    ("[[]", ["[", "]", "[]"]),
    ("[[a]", ["[", "a", "b"]),
    ("[a[]", ["[", "a"]),
    ("[!x[]", ["[", "x", "y"]),
    ("[^a]", ["^", "a", "b"]),
    ("[!^]", ["^", "a"]),
    ("[[-a]", ["[", "\\", "a", "b"]),
    # --- backslash is literal everywhere, also inside sets ---------------------
    ("a\\b", ["a\\b", "ab", "a/b"]),
    ("a\\*", ["a\\", "a\\xyz", "a*", "ax"]),
    ("\\*", ["*", "\\*", "\\abc"]),
    ("\\?", ["?", "\\?", "\\x"]),
    ("\\[a]", ["\\a", "[a]", "\\[a]"]),
    ("[\\]", ["\\", "]", "[\\]"]),
    ("[\\]]", ["\\]", "]"]),
    ("[!\\]", ["\\", "a"]),
    ("[\\-a]", ["\\", "_", "a", "-"]),
    ("[a\\-z]", ["a", "\\", "z", "m"]),
    ("[\\d]", ["\\", "d", "5"]),
    ("[\\w]", ["w", "a"]),
    ("\\", ["\\", ""]),
    ("dir\\*.py", ["dir\\x.py", "dir/x.py"]),
    ("C:\\Users\\*", ["C:\\Users\\me", "C:/Users/me"]),
    # --- set operators that re (and the regex crate) could misread -------------
    ("[&&]", ["&", "a"]),
    ("[a&&b]", ["a", "&", "b", "c"]),
    ("[!&&]", ["&", "a"]),
    ("[~~]", ["~", "a"]),
    ("[a~~b]", ["~", "a", "c"]),
    ("[||]", ["|", "a"]),
    ("[a||b]", ["|", "b", "c"]),
    ("[--a]", ["-", "a", "."]),
    ("[a--b]", ["a", "-", "b"]),
    ("[&-~]", ["&", "a", "~", "%"]),
    ("[|-~]", ["|", "}", "~", "a"]),
    ("[a&]", ["&", "a"]),
    ("[a-z&&[^aeiou]]", ["b]", "a]", "&]", "b"]),
    ("[\\w--\\d]", ["\\", "w", "-", "d"]),
    # --- paths: leading ./ and /, .., trailing /, dotfiles, spaces -------------
    ("./train.py", ["./train.py", "train.py"]),
    ("/train.py", ["/train.py", "train.py"]),
    ("../*", ["../x", "x", "../"]),
    ("a/../b", ["a/../b", "b"]),
    ("*..*", ["a..b", "a.b", "../x"]),
    ("dir/", ["dir/", "dir"]),
    ("dir/*/", ["dir/a/", "dir/a"]),
    ("a//b", ["a//b", "a/b"]),
    (".*", [".git", ".gitignore", "a/.git", "x.y", "."]),
    ("*/.*", ["a/.env", "a/b", "a/b/.c"]),
    (".env", [".env", "env"]),
    ("*.pyc", ["a.pyc", "__pycache__/x.cpython-311.pyc", "a.pyo", "a.py"]),
    ("*.py[co]", ["a.pyc", "a.pyo", "a.py", "a.pyd"]),
    ("__pycache__/*.pyc", ["__pycache__/m.cpython-311.pyc", "src/__pycache__/m.pyc", "__pycache__/m.py"]),
    ("*/__pycache__/*", ["a/__pycache__/x.pyc", "__pycache__/x.pyc"]),
    ("my file.txt", ["my file.txt", "my_file.txt", "myfile.txt"]),
    ("* *", ["a b", "ab", " ", "a/b c/d"]),
    ("a\tb", ["a\tb", "a b"]),
    ("*\n", ["x\n", "x"]),
    ("a*", ["a\n", "a\nb", "b\na"]),
    ("x", ["x\n", "\nx"]),
    # --- unicode -------------------------------------------------------------
    ("café.txt", ["café.txt", "cafe.txt", "CAFÉ.txt"]),
    ("caf?.txt", ["café.txt", "cafe.txt"]),
    ("数据/*.csv", ["数据/训练.csv", "数据/a/b.csv", "数据.csv"]),
    ("中文", ["中文", "中", "中文文"]),
    ("😀*", ["😀", "😀/x", "x😀"]),
    ("?😀", ["a😀", "😀😀", "😀"]),
    ("*é", ["é", "e\u0301"]),
    ("Straße", ["Straße", "STRASSE", "strasse"]),
    # --- realistic task patterns ---------------------------------------------
    ("competition_packs/qwen3_27b_binary_frontier/train.py", [
        "competition_packs/qwen3_27b_binary_frontier/train.py",
        "competition_packs/qwen3_27b_binary_frontier/train.pyc",
        "competition_packs/qwen3_27b_binary_frontier/eval.py",
        "./competition_packs/qwen3_27b_binary_frontier/train.py",
        "competition_packs/qwen3_27b_binary_frontier/sub/train.py",
    ]),
    ("competition_packs/*/train.py", [
        "competition_packs/qwen3_27b_binary_frontier/train.py",
        "competition_packs/a/b/train.py",
        "competition_packs/train.py",
    ]),
    ("submission/*", ["submission/model.py", "submission/nested/dir/file.bin", "submission/", "submission", "submissions/x"]),
    ("kernels/*.cu", ["kernels/attn.cu", "kernels/sub/attn.cu", "kernels/attn.cuh", "kernels/.cu", "kernels/attn.cu.bak", "Kernels/attn.cu"]),
    ("kernels/*.[ch]", ["kernels/a.c", "kernels/a.h", "kernels/a.cu"]),
    ("configs/[!_]*.yaml", ["configs/base.yaml", "configs/_private.yaml", "configs/sub/x.yaml"]),
    ("src/model_v[0-9].py", ["src/model_v2.py", "src/model_v10.py", "src/model_vx.py"]),
    ("*.md", ["docs/README.md", "README.md", "README.mdx"]),
    ("tests/test_*.py", ["tests/test_model.py", "tests/unit/test_model.py", "tests/model_test.py"]),
]


def main():
    if os.name != "posix":
        sys.exit("run this on a POSIX host: os.path.normcase must be the identity")
    out_path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "fnmatch_cases.json")
    # CPython 3.11 warns (FutureWarning) about sets like [&&]; the answers stand.
    warnings.simplefilter("ignore", FutureWarning)
    seen = set()
    cases = []
    for pattern, paths in GROUPS:
        for path in paths:
            if (pattern, path) in seen:
                continue
            seen.add((pattern, path))
            cases.append({"pattern": pattern, "path": path,
                          "expected": fnmatch.fnmatch(path, pattern)})
    # One case per line so diffs stay readable; key order is fixed.
    header = {
        "generator": "tests/data/gen_fnmatch_cases.py",
        "python": platform.python_implementation() + " " + platform.python_version(),
        "function": "fnmatch.fnmatch(path, pattern) on POSIX",
    }
    lines = ["{"]
    for key, value in header.items():
        lines.append("  %s: %s," % (json.dumps(key), json.dumps(value)))
    lines.append('  "cases": [')
    lines.append(",\n".join("    " + json.dumps(c, ensure_ascii=False) for c in cases))
    lines.append("  ]")
    lines.append("}")
    with open(out_path, "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(lines) + "\n")
    n_true = sum(c["expected"] for c in cases)
    print("%s: %d cases (%d true, %d false) with %s" % (
        out_path, len(cases), n_true, len(cases) - n_true, header["python"]))


if __name__ == "__main__":
    main()
