"""The official Python client against rkube: how bodies are decoded
(fieldValidation Strict/Warn/Ignore, wrong types, YAML), ListOptions
validation, a too-new resourceVersion, and periodic watch bookmarks (the
server runs with --watch-bookmark-interval 1s). Exits non-zero with a
message on the first thing that differs; prints "ok" at the end."""
import json
import sys
import time

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

config.load_kube_config(config_file=sys.argv[1])
api = client.ApiClient()
v1 = client.CoreV1Api(api)
ns = "default"


def check(cond, what):
    if not cond:
        print("FAILED:", what, file=sys.stderr)
        sys.exit(1)


def fails(call, status):
    try:
        call()
    except ApiException as e:
        check(e.status == status, f"expected {status}, got {e.status}: {e.body}")
        return json.loads(e.body)
    check(False, f"expected {status}, the call succeeded")


def raw(method, path, body, query=(), content_type="application/json"):
    """A request as the client would send it, without its model checks
    (client 37 refuses unknown fields before sending)."""
    m, url, headers, b, _ = api.param_serialize(
        method=method, resource_path=path, query_params=list(query),
        header_params={"Content-Type": content_type, "Accept": "application/json"},
        body=body, auth_settings=["BearerToken"])
    r = api.call_api(m, url, header_params=headers, body=b)
    r.read()
    return r.status, r.headers, json.loads(r.data or b"null")


def cm(name, **extra):
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"a": "b"}}
    body.update(extra)
    return body


path = f"/api/v1/namespaces/{ns}/configmaps"

# fieldValidation=Strict: an unknown field is a 400 naming it; nothing is stored.
code, _, status = raw("POST", path, cm("strict", colour="red"), [("fieldValidation", "Strict")])
check(code == 400 and status["reason"] == "BadRequest", f"strict: {code} {status}")
check('strict decoding error: unknown field "colour"' in status["message"], f"message {status['message']}")
fails(lambda: v1.read_namespaced_config_map("strict", ns), 404)

# The default (Warn): stored without the field, one Warning header.
code, headers, _ = raw("POST", path, cm("warned", colour="red"))
check(code == 201, f"create code {code}")
warning = headers.get("Warning", "")
check(warning == '299 - "unknown field \\"colour\\""', f"Warning header {warning!r}")
_, _, stored = raw("GET", f"{path}/warned", None)
check("colour" not in stored and stored["data"] == {"a": "b"}, f"stored {stored}")

# Ignore: stored without the field, no warning.
code, headers, _ = raw("POST", path, cm("ignored", colour="red"), [("fieldValidation", "Ignore")])
check(code == 201 and "Warning" not in headers, f"Ignore: {code}, warning {headers.get('Warning')}")

# A value of the wrong type is a 400 saying what could not be decoded.
code, _, status = raw("POST", path, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "typed"}, "data": {"a": 1}})
check(code == 400 and status["message"].startswith('ConfigMap in version "v1" cannot be handled as a ConfigMap: '), f"{code} {status}")

# A YAML body.
yaml_body = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-yaml\ndata:\n  greeting: hello\n"
code, _, created = raw("POST", path, yaml_body, content_type="application/yaml")
check(code == 201 and created["data"] == {"greeting": "hello"}, f"YAML create: {code} {created}")
check(v1.read_namespaced_config_map("from-yaml", ns).data == {"greeting": "hello"}, "YAML body stored")
# Malformed YAML: 400 saying where.
code, _, status = raw("POST", path, "metadata: [unclosed\n", content_type="application/yaml")
check(code == 400 and "could not be decoded as YAML" in status["message"] and "line" in status["message"], f"bad YAML: {code} {status}")

# ListOptions validation: 422 on ListOptions.meta.k8s.io.
status = fails(lambda: v1.list_namespaced_config_map(ns, resource_version_match="Exact"), 422)
check(status["reason"] == "Invalid" and status["details"]["kind"] == "ListOptions", f"ListOptions status {status}")
check(status["details"]["causes"][0]["field"] == "resourceVersionMatch", f"cause {status['details']}")
status = fails(lambda: v1.list_namespaced_config_map(ns, resource_version="5", resource_version_match="Newest"), 422)
check('Unsupported value: "Newest"' in status["message"], status["message"])

# A resourceVersion the server has not reached: 504 Timeout after a short wait.
current = int(v1.list_namespaced_config_map(ns).metadata.resource_version)
status = fails(lambda: v1.list_namespaced_config_map(ns, resource_version=str(current + 1000), resource_version_match="NotOlderThan"), 504)
check(status["reason"] == "Timeout" and "Too large resource version" in status["message"], f"too large: {status}")

# Periodic bookmarks: an idle watch with bookmarks allowed gets them, at a
# resourceVersion not newer than what it has seen.
rv = v1.list_namespaced_config_map(ns).metadata.resource_version
bookmarks = []
started = time.time()
for ev in watch.Watch().stream(v1.list_namespaced_config_map, ns, resource_version=rv,
                               allow_watch_bookmarks=True, timeout_seconds=4):
    if ev["type"] == "BOOKMARK":
        obj = ev["object"]
        meta = obj["metadata"] if isinstance(obj, dict) else obj.metadata.to_dict()
        bookmarks.append(meta.get("resourceVersion") or meta.get("resource_version"))
check(len(bookmarks) >= 2, f"bookmarks in 4 s with a 1 s interval: {bookmarks}")
check(all(int(b) <= int(rv) for b in bookmarks), f"bookmark RVs {bookmarks} vs {rv}")

print("ok")
