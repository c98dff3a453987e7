#!/usr/bin/env python3
"""Writes crates/apimachinery/src/protobuf/schema.txt: for every protobuf
message of the Kubernetes API, its fields (tag, JSON name, label, type).

Sources, both crates from crates.io in Cargo's registry:
  - k8s-pb (prost-generated Rust for Kubernetes' .proto files): tags, types;
  - k8s-openapi (the types rkube serves): each field's exact JSON name.
Run it after changing either version:
    python3 scripts/gen-protobuf-schema.py
The file format is described in crates/apimachinery/src/protobuf/schema.rs.
"""
import glob
import os
import re
import sys

PB_VERSION = "0.9.0"
OPENAPI_VERSION = "0.29.0"
K8S = "v1_37"

home = os.environ.get("CARGO_HOME", os.path.expanduser("~/.cargo"))


def crate_dir(name, version):
    hits = glob.glob(os.path.join(home, "registry", "src", "*", f"{name}-{version}"))
    if not hits:
        sys.exit(f"{name} {version} not found under {home}/registry/src (run cargo fetch)")
    return hits[0]


pb = os.path.join(crate_dir("k8s-pb", PB_VERSION), "src")
oa = os.path.join(crate_dir("k8s-openapi", OPENAPI_VERSION), "src", K8S)

def norm(snake):
    """A field's snake-case name without the case splits the two crates
    disagree on (k8s-pb `non_resource_ur_ls`, k8s-openapi `non_resource_urls`)."""
    return snake.lstrip("r#").replace("_", "").lower()


# JSON names from k8s-openapi: (module, Struct) -> {normalized snake: json}
json_names = {}
module_names = {}
for path in glob.glob(os.path.join(oa, "**", "*.rs"), recursive=True):
    module = os.path.relpath(os.path.dirname(path), oa).replace(os.sep, ".")
    text = open(path, encoding="utf-8").read()
    m = re.search(r"pub struct (\w+) \{", text)
    if not m:
        continue
    pairs = dict((norm(s), j) for j, s in re.findall(r'"([^"]+)" => Field::Key_(\w+),', text))
    json_names[(module, m.group(1).lower())] = pairs
    # For messages k8s-openapi has no struct of its own for (VolumeSource is
    # flattened into Volume, PodLogOptions is query parameters): the name
    # the same field has elsewhere in the module.
    for key, j in pairs.items():
        module_names.setdefault(module, {}).setdefault(key, j)

FIELD_DECL = re.compile(r"pub (?:r#)?(?P<name>\w+): (?P<ty>.+),$")


def resolve(module, rust_type):
    """The message a Rust type path names, as module.Name."""
    t = rust_type.replace(" ", "").replace(",>", ">")
    for wrapper in ("::core::option::Option<", "::prost::alloc::vec::Vec<", "::prost::alloc::boxed::Box<"):
        if t.startswith(wrapper):
            t = t[len(wrapper):-1]
    parts = t.split("::")
    mod = module.split(".")
    while parts and parts[0] == "super":
        mod = mod[:-1]
        parts = parts[1:]
    return ".".join(mod + parts)


def camel(snake):
    head, *rest = snake.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


out = []
for path in sorted(glob.glob(os.path.join(pb, "**", "mod.rs"), recursive=True)):
    module = os.path.relpath(os.path.dirname(path), pb).replace(os.sep, ".")
    if module == ".":
        continue
    lines = open(path, encoding="utf-8").read().splitlines()
    i = 0
    current = None
    while i < len(lines):
        line = lines[i].strip()
        m = re.match(r"pub struct (\w+) \{", line)
        if m:
            current = m.group(1)
            out.append(f"M {module}.{current}")
        elif line == "}":
            current = None
        elif current and line.startswith("#[prost("):
            attrs = dict((k, v) for k, v in re.findall(r'(\w+)(?: = "([^"]*)")?', line[len("#[prost("):]))
            if "tag" not in attrs:
                sys.exit(f"{path}:{i+1}: unexpected attribute {line}")
            j = i + 1
            while not lines[j].strip().startswith("pub "):
                j += 1
            decl = lines[j].strip()
            while not decl.endswith(",") or decl.count("<") != decl.count(">"):
                j += 1
                decl += " " + lines[j].strip()
            d = FIELD_DECL.match(decl)
            if not d:
                sys.exit(f"{path}:{j+1}: unexpected field {lines[j]}")
            name, ty = d.group("name"), d.group("ty")
            known = json_names.get((module, current.lower()))
            json = (
                (known or {}).get(norm(name))
                or module_names.get(module, {}).get(norm(name))
                or camel(name)
            )
            # A Go struct embedded with `json:",inline"` (Probe's handler,
            # Volume's source, …): a message field the JSON type lacks.
            inline = known is not None and norm(name) not in known and "message" in attrs
            tag = attrs["tag"]
            if "btree_map" in attrs or "map" in attrs:
                key, value = [s.strip() for s in (attrs.get("btree_map") or attrs["map"]).split(",")]
                if value in ("message", "enumeration"):
                    inner = ty.replace(" ", "").replace(",>", ">")
                    inner = inner[inner.index(",") + 1:inner.rindex(">")]
                    value = "." + resolve(module, inner)
                out.append(f"F {tag} {json} map {key} {value}")
            else:
                kind = next(k for k in attrs if k not in ("optional", "repeated", "required", "boxed", "packed", "tag"))
                label = "repeated" if "repeated" in attrs else "single"
                if inline and label == "single":
                    label = "inline"
                if kind == "message":
                    kind = "." + resolve(module, ty)
                out.append(f"F {tag} {json} {label} {kind}")
            i = j
        i += 1

dest = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "crates", "apimachinery", "src", "protobuf", "schema.txt")
header = [
    f"# Generated by scripts/gen-protobuf-schema.py from k8s-pb {PB_VERSION} and k8s-openapi {OPENAPI_VERSION} ({K8S}); do not edit.",
]
text = "\n".join(header + out) + "\n"
if "--check" in sys.argv:
    sys.exit(0 if open(dest, encoding="utf-8").read() == text else "schema.txt is out of date")
open(dest, "w", encoding="utf-8").write(text)
print(f"wrote {dest}: {sum(1 for l in out if l.startswith('M '))} messages, {sum(1 for l in out if l.startswith('F '))} fields")
