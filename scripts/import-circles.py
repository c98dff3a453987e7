#!/usr/bin/env python3
"""Find import circles between the files of a Rust crate.

    scripts/import-circles.py DIR...    e.g. crates/node/src crates/apimachinery/src

A circle: file X uses something from file Y and Y (directly or through other
files) uses something from X. Every `crate::`, `super::` and `self::` path in
a file counts (in `use` items and in code), resolved to the file that
defines the module it names. A parent's `mod` and `pub use` of its own
children (declaring and re-exporting) do not count as using them. Test
modules (`#[cfg(test)]` blocks and `*_test.rs` files) are left out.

Prints each circle and exits 1 if there is any; prints nothing and exits 0
otherwise.
"""

import re
import sys
from pathlib import Path

PATH = re.compile(r"\b(crate|super|self)((?:::\w+)+)")
USE = re.compile(r"\buse\s+([^;]+);", re.S)
CFG_TEST = re.compile(r"#\[cfg\(test\)\]\s*mod\s+\w+\s*\{")


def crate_root(d: Path) -> Path:
    for name in ("lib.rs", "main.rs"):
        if (d / name).is_file():
            return d / name
    sys.exit(f"{d}: no lib.rs or main.rs")


def module_of(src: Path, f: Path) -> tuple:
    """The module path of file `f` under `src` (lib.rs/main.rs is ())."""
    parts = list(f.relative_to(src).with_suffix("").parts)
    if parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1]
    return tuple(parts)


def strip(text: str) -> str:
    """The source without comments, string literals and test modules."""
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r'r#*"(?:.|\n)*?"#*', '""', text)
    # Character literals first: '"' would open a string.
    text = re.sub(r"'(?:\\(?:x[0-9a-fA-F]{2}|u\{[0-9a-fA-F]+\}|.)|[^'\\\n])'", "' '", text)
    text = re.sub(r'"(?:\\[\s\S]|[^"\\])*"', '""', text)
    out, i = [], 0
    for m in CFG_TEST.finditer(text):
        if m.start() < i:
            continue
        out.append(text[i : m.start()])
        depth, j = 1, m.end()
        while j < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        i = j
    out.append(text[i:])
    return "".join(out)


def expand(tree: str) -> list:
    """`a::{b, c::{d}}` -> ['a::b', 'a::c::d']."""
    tree = re.sub(r"\s+", "", tree)
    if "{" not in tree:
        return [tree]
    head, rest = tree.split("{", 1)
    body = rest[: rest.rindex("}")]
    parts, depth, cur = [], 0, ""
    for ch in body:
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        depth += {"{": 1, "}": -1}.get(ch, 0)
        cur += ch
    parts.append(cur)
    return [head + p for part in parts if part for p in expand(part)]


def main() -> int:
    found = 0
    for arg in sys.argv[1:]:
        src = Path(arg)
        root = crate_root(src)
        files = {}
        for f in sorted(src.rglob("*.rs")):
            if f.name.endswith("_test.rs"):
                continue
            files[module_of(src, f)] = f
        edges = {m: set() for m in files}
        for mod, f in files.items():
            text = strip(f.read_text())
            is_dir_mod = f.name in ("mod.rs", "lib.rs", "main.rs")
            # The module `self` and `super` refer to from this file.
            here = mod
            paths = []
            reexports = set()
            for u in USE.finditer(text):
                public = re.search(r"\bpub(\([^)]*\))?\s+use\s*$", text[max(0, u.start() - 20) : u.start() + 3])
                for p in expand(u.group(1)):
                    p = re.sub(r"\bas\b.*$", "", p)
                    paths.append(p)
                    if public:
                        reexports.add(p)
            for m in PATH.finditer(text):
                paths.append(m.group(1) + m.group(2))
            for p in paths:
                segs = [s for s in p.split("::") if s]
                if not segs:
                    continue
                if segs[0] == "crate":
                    base, segs = (), segs[1:]
                elif segs[0] == "super":
                    # `super` is the parent module, for `a/b.rs` as for
                    # `a/b/mod.rs`.
                    base, segs = here[:-1], segs[1:]
                    while segs and segs[0] == "super":
                        base, segs = base[:-1], segs[1:]
                elif segs[0] == "self":
                    base, segs = here, segs[1:]
                elif (here + (segs[0],)) in files and is_dir_mod:
                    # `use child::X` in a mod.rs/lib.rs.
                    base = here
                else:
                    continue
                target = base
                for s in segs:
                    if target + (s,) in files:
                        target = target + (s,)
                    else:
                        break
                if target == mod:
                    continue
                child_of_here = target[: len(mod)] == mod and is_dir_mod
                if child_of_here and p in reexports:
                    continue
                edges[mod].add(target)
        # Cycles: strongly connected components of more than one file.
        index, low, stack, on, comps = {}, {}, [], set(), []
        counter = [0]

        def visit(v):
            index[v] = low[v] = counter[0]
            counter[0] += 1
            stack.append(v)
            on.add(v)
            for w in edges.get(v, ()):
                if w not in files:
                    continue
                if w not in index:
                    visit(w)
                    low[v] = min(low[v], low[w])
                elif w in on:
                    low[v] = min(low[v], index[w])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    comps.append(comp)

        sys.setrecursionlimit(10000)
        for v in files:
            if v not in index:
                visit(v)
        for comp in comps:
            found += 1
            names = sorted(str(files[m].relative_to(src)) for m in comp)
            print(f"{src}: circle: {', '.join(names)}")
            for m in sorted(comp):
                uses = sorted(str(files[t].relative_to(src)) for t in edges[m] if t in comp)
                print(f"    {files[m].relative_to(src)} uses {', '.join(uses)}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
