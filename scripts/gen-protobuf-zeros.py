#!/usr/bin/env python3
"""Writes crates/apimachinery/src/protobuf/zeros.txt: the scalar fields of the
Kubernetes protobuf messages whose zero value ("", 0, false) Go's JSON
encoding keeps, so the protobuf decoder keeps it too.

Why: gogo-protobuf writes a non-pointer Go field even when it is zero, and a
pointer field whenever it is set; the wire cannot tell them apart. JSON
(what kube-apiserver stores and serves) drops a zero non-pointer field
tagged `omitempty`, but keeps a set pointer (`replicas: 0`,
`runAsUser: 0`, `storageClassName: ""`, `allowPrivilegeEscalation: false`)
and a field without `omitempty`. Only the Go structs say which is which.

Sources: the Go API types, in checkouts of
  - kubernetes/api           (every `<group>/<version>/generated.proto` + `*.go`)
  - kubernetes/apimachinery  (`pkg/apis/meta/v1`, `pkg/runtime`, ...)
It also prints every field of schema.txt whose JSON name or inlining
disagrees with the Go struct tags (the special messages Unknown,
IntOrString, Duration, FieldsV1, RawExtension are decoded by hand and show
up there by design; so do kinds k8s-openapi lacks, e.g. PodLogOptions).
Run it after moving them (record the commits below):
    python3 scripts/gen-protobuf-zeros.py KUBE_API_DIR KUBE_APIMACHINERY_DIR [--check]
Messages are named as in schema.txt (the proto package without `k8s.io.`).
"""
import glob
import os
import re
import sys

SOURCES = (
    "kubernetes/api 10b39a39bcee995dfe7cd5e8e7b922be5e46f1e2 (master after kubernetes-1.36.3, 2026-07-24), "
    "kubernetes/apimachinery eed236ceee2c19c2753a3d93ac0631dc20750454 (2026-07-23)"
)
SCALARS = {"string", "bytes", "int32", "int64", "uint32", "uint64", "bool", "double", "float"}

PROTO_FIELD = re.compile(r"^\s*(optional|repeated|required)\s+(\S+)\s+(\w+)\s*=\s*(\d+)\s*;")
GO_STRUCT = re.compile(r"^type (\w+) struct \{")
GO_FIELD = re.compile(r"^\t(?:(\w+)\s+)?(\S+)\s+`([^`]*)`")


def proto_fields(path):
    """{(message, tag): (label, type)} and the package of one generated.proto."""
    package, message, out = None, None, {}
    for line in open(path, encoding="utf-8"):
        m = re.match(r"^package ([\w.]+);", line)
        if m:
            package = m.group(1)
        m = re.match(r"^message (\w+) \{", line)
        if m:
            message = m.group(1)
        elif line.startswith("}"):
            message = None
        m = PROTO_FIELD.match(line)
        if m and message:
            out[(message, int(m.group(4)))] = (m.group(1), m.group(2))
    return package, out


def go_fields(directory):
    """{(struct, tag): (go_type, json_tag)} from the package's Go files."""
    out = {}
    for path in sorted(glob.glob(os.path.join(directory, "*.go"))):
        if path.endswith("_test.go"):
            continue
        struct = None
        for line in open(path, encoding="utf-8"):
            m = GO_STRUCT.match(line)
            if m:
                struct = m.group(1)
                continue
            if line.startswith("}"):
                struct = None
                continue
            m = GO_FIELD.match(line)
            if not (struct and m):
                continue
            tags = dict(re.findall(r'(\w+):"([^"]*)"', m.group(3)))
            parts = tags.get("protobuf", "").split(",")
            if len(parts) < 2 or not parts[1].isdigit():
                continue  # not in the protobuf message (`protobuf:"-"`)
            tag = int(parts[1])
            out[(struct, tag)] = (m.group(2), tags.get("json", ""))
    return out


def keeps_zero(go_type, json_tag):
    """Whether encoding/json writes this field when it holds its zero value."""
    opts = json_tag.split(",")[1:]
    if go_type.startswith("*"):
        return True  # a set pointer is written, whatever it points to
    if go_type.startswith("[]") or go_type.startswith("map["):
        return False  # nil: omitted or null, the same to every reader
    return "omitempty" not in opts and "omitzero" not in opts


def schema_mismatches(dest_dir, facts):
    """Fields of schema.txt (k8s-pb + k8s-openapi) whose JSON name or
    inlining disagrees with the Go struct tags: printed, for a human."""
    schema, current = {}, None
    for line in open(os.path.join(dest_dir, "schema.txt"), encoding="utf-8"):
        parts = line.split()
        if parts[:1] == ["M"]:
            current = schema.setdefault(parts[1], {})
        elif parts[:1] == ["F"] and current is not None:
            current[int(parts[1])] = (parts[2], parts[3])
    out = []
    for (message, tag), (go_type, json_tag) in sorted(facts.items()):
        have = schema.get(message, {}).get(tag)
        json = json_tag.split(",")[0]
        if not have or json == "-":
            continue
        if json == "" and have[1] != "inline" and "." not in go_type and not go_type.startswith("*"):
            out.append(f"{message} {tag}: {have[0]} should be inline")
        elif json and (have[0] != json or have[1] == "inline"):
            out.append(f"{message} {tag}: {have[0]} should be {json}")
    return out


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if len(args) != 2:
        sys.exit(__doc__)
    api, machinery = args
    protos = sorted(glob.glob(os.path.join(api, "**", "generated.proto"), recursive=True))
    protos += sorted(glob.glob(os.path.join(machinery, "pkg", "**", "generated.proto"), recursive=True))
    lines, facts = [], {}
    for proto in protos:
        package, fields = proto_fields(proto)
        if not package or not package.startswith("k8s.io."):
            continue
        go = go_fields(os.path.dirname(proto))
        module = package[len("k8s.io."):]
        facts.update(((f"{module}.{m}", t), v) for (m, t), v in go.items() if (m, t) in fields)
        for (message, tag), (label, ptype) in sorted(fields.items()):
            if label != "optional" or ptype not in SCALARS:
                continue
            found = go.get((message, tag))
            json = found[1].split(",")[0] if found else ""
            if json in ("", "-"):
                continue  # not a JSON field of its own (IntOrString, Unknown: decoded specially)
            if keeps_zero(*found):
                lines.append(f"{module}.{message} {tag} {json}")
    header = [
        "# Generated by scripts/gen-protobuf-zeros.py; do not edit.",
        f"# From {SOURCES}.",
        "# <message> <tag> <jsonName>: a scalar field whose zero value JSON keeps (a Go pointer, or no omitempty).",
    ]
    text = "\n".join(header + lines) + "\n"
    dest = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "crates", "apimachinery", "src", "protobuf", "zeros.txt")
    for problem in schema_mismatches(os.path.dirname(dest), facts):
        print(f"schema.txt disagrees with the Go types: {problem}")
    if "--check" in sys.argv:
        sys.exit(0 if open(dest, encoding="utf-8").read() == text else "zeros.txt is out of date")
    open(dest, "w", encoding="utf-8").write(text)
    print(f"wrote {dest}: {len(lines)} fields")


if __name__ == "__main__":
    main()
