"""A small kopf operator for the e2e test `kopf_operator.rs`.

It manages CronTabs (stable.example.com/v1): on create it records the phase
and the handler's result in the status (through the status subresource) and posts an event, on
update it records the new image, and on delete (kopf holds the object with
its finalizer until then) it leaves a ConfigMap `deleted-<name>` behind as
proof that the deletion handler ran.
"""

import kopf
import kubernetes


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_):
    settings.persistence.finalizer = "rkube.test/kopf-finalizer"
    settings.watching.server_timeout = 60
    kubernetes.config.load_kube_config()


@kopf.on.create("stable.example.com", "v1", "crontabs")
def created(body, spec, patch, **_):
    kopf.info(body, reason="Scheduled", message=f"runs at {spec.get('cronSpec')}")
    patch.status["phase"] = "Created"
    patch.status["observedImage"] = spec.get("image")
    return {"replicas": spec.get("replicas")}


@kopf.on.update("stable.example.com", "v1", "crontabs", field="spec.image")
def image_changed(old, new, patch, **_):
    patch.status["phase"] = "Updated"
    patch.status["observedImage"] = new
    patch.status["previousImage"] = old


@kopf.on.delete("stable.example.com", "v1", "crontabs")
def deleted(name, namespace, **_):
    kubernetes.client.CoreV1Api().create_namespaced_config_map(
        namespace, {"metadata": {"name": f"deleted-{name}"}, "data": {"by": "kopf"}}
    )
