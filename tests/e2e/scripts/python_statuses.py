"""The official Python client reads the statuses kube-apiserver always
returns: a created (and read) Service's status carries loadBalancer, a
namespace is Active, a claim Pending, a Deployment has a status.
Exits non-zero (with a message) on the first thing that differs."""
import sys

from kubernetes import client, config

config.load_kube_config(config_file=sys.argv[1])
v1 = client.CoreV1Api()
apps = client.AppsV1Api()
ns = "default"


def check(cond, what):
    if not cond:
        print("FAILED:", what, file=sys.stderr)
        sys.exit(1)


svc = client.V1Service(
    metadata=client.V1ObjectMeta(name="py-svc"),
    spec=client.V1ServiceSpec(selector={"app": "py"}, ports=[client.V1ServicePort(port=80)]),
)
created = v1.create_namespaced_service(ns, svc)
check(created.status, f"created Service's status is truthy: {created.status!r}")
check(created.status.load_balancer is not None, f"created Service's status.load_balancer: {created.status!r}")
read = v1.read_namespaced_service("py-svc", ns)
check(read.status and read.status.load_balancer is not None, f"read Service's status: {read.status!r}")
raw = v1.read_namespaced_service("py-svc", ns, _preload_content=False).json()
check(raw.get("status") == {"loadBalancer": {}}, f"the wire status: {raw.get('status')!r}")

created = v1.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="py-ns")))
check(created.status and created.status.phase == "Active", f"namespace status: {created.status!r}")

claim = client.V1PersistentVolumeClaim(
    metadata=client.V1ObjectMeta(name="py-claim"),
    spec=client.V1PersistentVolumeClaimSpec(
        access_modes=["ReadWriteOnce"],
        resources=client.V1VolumeResourceRequirements(requests={"storage": "1Gi"}),
    ),
)
created = v1.create_namespaced_persistent_volume_claim(ns, claim)
check(created.status and created.status.phase == "Pending", f"claim status: {created.status!r}")

dep = client.V1Deployment(
    metadata=client.V1ObjectMeta(name="py-dep"),
    spec=client.V1DeploymentSpec(
        selector=client.V1LabelSelector(match_labels={"app": "py"}),
        template=client.V1PodTemplateSpec(
            metadata=client.V1ObjectMeta(labels={"app": "py"}),
            spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="nginx")]),
        ),
    ),
)
created = apps.create_namespaced_deployment(ns, dep)
check(created.status is not None, "a created Deployment has a status")

print("ok")
