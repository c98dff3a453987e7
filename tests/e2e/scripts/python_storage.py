"""The official Python client and rkube's storage API: the classes list
holds `local-path`, marked default, with its provisioner and binding mode;
the CSIDriver of its provisioner reads back; a claim created without a
class gets `local-path` and the pvc-protection finalizer.
Exits non-zero (with a message) on the first thing that differs."""
import sys

from kubernetes import client, config

config.load_kube_config(config_file=sys.argv[1])
storage = client.StorageV1Api()
v1 = client.CoreV1Api()


def check(cond, what):
    if not cond:
        print("FAILED:", what, file=sys.stderr)
        sys.exit(1)


classes = {c.metadata.name: c for c in storage.list_storage_class().items}
check("local-path" in classes, f"classes: {sorted(classes)}")
local = classes["local-path"]
check(local.provisioner == "rkube.io/local-path", f"provisioner: {local.provisioner!r}")
check(local.volume_binding_mode == "WaitForFirstConsumer", f"binding: {local.volume_binding_mode!r}")
check(local.reclaim_policy == "Delete", f"reclaim: {local.reclaim_policy!r}")
check(local.allow_volume_expansion is True, f"expansion: {local.allow_volume_expansion!r}")
annotations = local.metadata.annotations or {}
check(annotations.get("storageclass.kubernetes.io/is-default-class") == "true", f"annotations: {annotations!r}")

driver = storage.read_csi_driver("local-path.rkube.io")
check(driver.spec.attach_required is False, f"attachRequired: {driver.spec.attach_required!r}")
check(driver.spec.storage_capacity is True, f"storageCapacity: {driver.spec.storage_capacity!r}")
check(sorted(driver.spec.volume_lifecycle_modes) == ["Ephemeral", "Persistent"],
      f"modes: {driver.spec.volume_lifecycle_modes!r}")

claim = client.V1PersistentVolumeClaim(
    metadata=client.V1ObjectMeta(name="py-data"),
    spec=client.V1PersistentVolumeClaimSpec(
        access_modes=["ReadWriteOnce"],
        resources=client.V1VolumeResourceRequirements(requests={"storage": "1Gi"}),
    ),
)
created = v1.create_namespaced_persistent_volume_claim("default", claim)
check(created.spec.storage_class_name == "local-path", f"class: {created.spec.storage_class_name!r}")
check("kubernetes.io/pvc-protection" in (created.metadata.finalizers or []),
      f"finalizers: {created.metadata.finalizers!r}")
print("ok")
