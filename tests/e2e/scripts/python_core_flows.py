"""The official Python client against rkube: create, get, list with paging,
replace with a stale resourceVersion, watch from a resourceVersion, delete.
Exits non-zero (with a message) on the first thing that differs."""
import sys
import threading

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

config.load_kube_config(config_file=sys.argv[1])
v1 = client.CoreV1Api()
ns = "default"


def check(cond, what):
    if not cond:
        print("FAILED:", what, file=sys.stderr)
        sys.exit(1)


# Versions and discovery.
code = client.VersionApi().get_code()
check(code.git_version.startswith("v1.37."), f"gitVersion {code.git_version}")

# Create five config maps.
for i in range(5):
    body = client.V1ConfigMap(metadata=client.V1ObjectMeta(name=f"py-{i}", labels={"from": "python"}), data={"i": str(i)})
    created = v1.create_namespaced_config_map(ns, body)
    check(created.metadata.uid and created.metadata.resource_version, "uid and resourceVersion set")

try:
    v1.create_namespaced_config_map(ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="py-0")))
    check(False, "second create must fail")
except ApiException as e:
    check(e.status == 409 and "already exists" in e.body, f"AlreadyExists, got {e.status} {e.body}")

# Paging by two gives all five, in order.
names, cont = [], None
while True:
    page = v1.list_namespaced_config_map(ns, label_selector="from=python", limit=2, _continue=cont)
    names += [i.metadata.name for i in page.items]
    cont = page.metadata._continue
    if not cont:
        break
check(names == [f"py-{i}" for i in range(5)], f"paged names {names}")

# Replace with a stale resourceVersion: 409 Conflict.
cm = v1.read_namespaced_config_map("py-1", ns)
cm.data = {"i": "changed"}
v1.replace_namespaced_config_map("py-1", ns, cm)
try:
    v1.replace_namespaced_config_map("py-1", ns, cm)
    check(False, "stale replace must fail")
except ApiException as e:
    check(e.status == 409, f"Conflict, got {e.status}")

# Watch from the current resourceVersion sees a new object and its deletion.
rv = v1.list_namespaced_config_map(ns).metadata.resource_version
seen = []


def watcher():
    w = watch.Watch()
    for ev in w.stream(v1.list_namespaced_config_map, ns, resource_version=rv, timeout_seconds=5):
        seen.append((ev["type"], ev["object"].metadata.name))
        if ev["type"] == "DELETED":
            w.stop()


t = threading.Thread(target=watcher)
t.start()
v1.create_namespaced_config_map(ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="py-watched")))
v1.delete_namespaced_config_map("py-watched", ns)
t.join(10)
check(("ADDED", "py-watched") in seen and ("DELETED", "py-watched") in seen, f"watch saw {seen}")

v1.delete_namespaced_config_map("py-0", ns)
try:
    v1.read_namespaced_config_map("py-0", ns)
    check(False, "deleted object must be gone")
except ApiException as e:
    check(e.status == 404, f"NotFound, got {e.status}")
print("ok")
