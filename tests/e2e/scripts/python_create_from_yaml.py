"""The Python client's `utils.create_from_yaml` of one file holding a
ReplicationController, a Service and a Deployment; then the objects are
read back (a Service's status is truthy, as kube-apiserver returns it).
Prints `ok` on success. Argument: the kubeconfig path."""

import sys
import tempfile

from kubernetes import client, config, utils

MANIFEST = """
apiVersion: v1
kind: ReplicationController
metadata:
  name: rc-web
spec:
  replicas: 1
  template:
    metadata:
      labels:
        app: rc-web
    spec:
      containers:
      - name: c
        image: nginx:1.27
---
apiVersion: v1
kind: Service
metadata:
  name: rc-web
spec:
  selector:
    app: rc-web
  ports:
  - port: 80
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: deploy-web
spec:
  replicas: 1
  selector:
    matchLabels:
      app: deploy-web
  template:
    metadata:
      labels:
        app: deploy-web
    spec:
      containers:
      - name: c
        image: nginx:1.27
"""


def main():
    config.load_kube_config(sys.argv[1])
    api = client.ApiClient()
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
        f.write(MANIFEST)
        f.flush()
        created = utils.create_from_yaml(api, f.name, namespace="default")
    kinds = sorted(type(o).__name__ for group in created for o in group)
    assert kinds == ["V1Deployment", "V1ReplicationController", "V1Service"], kinds
    core = client.CoreV1Api(api)
    rc = core.read_namespaced_replication_controller("rc-web", "default")
    assert rc.spec.selector == {"app": "rc-web"}, rc.spec.selector
    assert rc.spec.replicas == 1
    svc = core.read_namespaced_service("rc-web", "default")
    assert svc.spec.cluster_ip, svc.spec
    dep = client.AppsV1Api(api).read_namespaced_deployment("deploy-web", "default")
    assert dep.spec.replicas == 1
    print("ok")


if __name__ == "__main__":
    main()
