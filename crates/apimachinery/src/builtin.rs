//! The built-in resource table: what kube-apiserver 1.37 serves for the
//! kinds rkube implements, with the same names, scope, verbs, short names,
//! categories and subresources (checked against kube-apiserver's
//! discovery output and its `pkg/registry/*/storage` packages).
//!
//! Beside them, `metrics.k8s.io/v1beta1` (`nodes` and `pods`, get and
//! list, as metrics-server registers them): the API server answers it
//! itself, so `kubectl top` works without installing metrics-server.
//!
//! The connect subresources (`pods/{log,exec,attach,portforward,proxy}`,
//! `services/proxy`, `nodes/proxy`) answer with the node's or the pod's
//! bytes, not a stored object; their kinds are the options kinds
//! kube-apiserver lists (`PodExecOptions`, ...).
//!
//! Left out on purpose, because rkube does not serve them (yet):
//! `serviceaccounts/token`, and the groups this table does not mention
//! (`docs/ARCHITECTURE.md` lists them with the issue covering each).

use crate::resource_info::{
    ResourceInfo, SubresourceInfo, VERBS_CONNECT, VERBS_CREATE, VERBS_GET_LIST,
    VERBS_GET_PATCH_UPDATE, VERBS_NAMESPACE, VERBS_PROXY, VERBS_UPDATE,
};

const CORE: &str = "";
const APIREGISTRATION: &str = "apiregistration.k8s.io";
const APPS: &str = "apps";
const AUTOSCALING: &str = "autoscaling";
const BATCH: &str = "batch";
const COORDINATION: &str = "coordination.k8s.io";
const DISCOVERY: &str = "discovery.k8s.io";
const EVENTS: &str = "events.k8s.io";
const METRICS: &str = "metrics.k8s.io";
const NETWORKING: &str = "networking.k8s.io";
const NODE: &str = "node.k8s.io";
const POLICY: &str = "policy";
const RBAC: &str = "rbac.authorization.k8s.io";
const SCHEDULING: &str = "scheduling.k8s.io";
const STORAGE: &str = "storage.k8s.io";

/// A `v1` resource with all eight verbs.
fn r(group: &str, kind: &str, plural: &str, singular: &str, namespaced: bool) -> ResourceInfo {
    ResourceInfo::new(group, "v1", kind, plural, singular, namespaced)
}

/// A namespaced `v1` resource with all eight verbs.
fn ns(group: &str, kind: &str, plural: &str, singular: &str) -> ResourceInfo {
    r(group, kind, plural, singular, true)
}

/// The HorizontalPodAutoscaler in `version`.
fn hpa(version: &str) -> ResourceInfo {
    ResourceInfo::new(
        AUTOSCALING,
        version,
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        "horizontalpodautoscaler",
        true,
    )
    .with_short_names(&["hpa"])
    .with_categories(&["all"])
    .with_subresource(SubresourceInfo::status("HorizontalPodAutoscaler"))
}

/// The table.
pub(crate) fn resources() -> Vec<ResourceInfo> {
    let status = SubresourceInfo::status;
    let scale = SubresourceInfo::scale;
    vec![
        // core/v1
        ns(CORE, "Binding", "bindings", "binding").with_verbs(VERBS_CREATE),
        r(
            CORE,
            "ComponentStatus",
            "componentstatuses",
            "componentstatus",
            false,
        )
        .with_short_names(&["cs"])
        .with_verbs(VERBS_GET_LIST)
        .with_deprecation("v1 ComponentStatus is deprecated in v1.19+"),
        ns(CORE, "ConfigMap", "configmaps", "configmap").with_short_names(&["cm"]),
        ns(CORE, "Endpoints", "endpoints", "endpoints").with_short_names(&["ep"]),
        ns(CORE, "Event", "events", "event").with_short_names(&["ev"]),
        ns(CORE, "LimitRange", "limitranges", "limitrange").with_short_names(&["limits"]),
        r(CORE, "Namespace", "namespaces", "namespace", false)
            .with_short_names(&["ns"])
            .with_verbs(VERBS_NAMESPACE)
            .with_subresource(SubresourceInfo::new("finalize", "Namespace", VERBS_UPDATE))
            .with_subresource(status("Namespace")),
        r(CORE, "Node", "nodes", "node", false)
            .with_short_names(&["no"])
            .with_subresource(SubresourceInfo::new(
                "proxy",
                "NodeProxyOptions",
                VERBS_PROXY,
            ))
            .with_subresource(status("Node")),
        ns(
            CORE,
            "PersistentVolumeClaim",
            "persistentvolumeclaims",
            "persistentvolumeclaim",
        )
        .with_short_names(&["pvc"])
        .with_subresource(status("PersistentVolumeClaim")),
        r(
            CORE,
            "PersistentVolume",
            "persistentvolumes",
            "persistentvolume",
            false,
        )
        .with_short_names(&["pv"])
        .with_subresource(status("PersistentVolume")),
        ns(CORE, "Pod", "pods", "pod")
            .with_short_names(&["po"])
            .with_categories(&["all"])
            .with_subresource(SubresourceInfo::new(
                "attach",
                "PodAttachOptions",
                VERBS_CONNECT,
            ))
            .with_subresource(SubresourceInfo::new("binding", "Binding", VERBS_CREATE))
            .with_subresource(SubresourceInfo::new(
                "ephemeralcontainers",
                "Pod",
                VERBS_GET_PATCH_UPDATE,
            ))
            .with_subresource(SubresourceInfo::foreign(
                "eviction",
                POLICY,
                "v1",
                "Eviction",
                VERBS_CREATE,
            ))
            .with_subresource(SubresourceInfo::new(
                "exec",
                "PodExecOptions",
                VERBS_CONNECT,
            ))
            .with_subresource(SubresourceInfo::new("log", "Pod", &["get"]))
            .with_subresource(SubresourceInfo::new(
                "portforward",
                "PodPortForwardOptions",
                VERBS_CONNECT,
            ))
            .with_subresource(SubresourceInfo::new(
                "proxy",
                "PodProxyOptions",
                VERBS_PROXY,
            ))
            .with_subresource(status("Pod")),
        ns(CORE, "PodTemplate", "podtemplates", "podtemplate"),
        ns(
            CORE,
            "ReplicationController",
            "replicationcontrollers",
            "replicationcontroller",
        )
        .with_short_names(&["rc"])
        .with_categories(&["all"])
        .with_subresource(scale())
        .with_subresource(status("ReplicationController")),
        ns(CORE, "ResourceQuota", "resourcequotas", "resourcequota")
            .with_short_names(&["quota"])
            .with_subresource(status("ResourceQuota")),
        ns(CORE, "Secret", "secrets", "secret"),
        ns(CORE, "ServiceAccount", "serviceaccounts", "serviceaccount").with_short_names(&["sa"]),
        ns(CORE, "Service", "services", "service")
            .with_short_names(&["svc"])
            .with_categories(&["all"])
            .with_subresource(SubresourceInfo::new(
                "proxy",
                "ServiceProxyOptions",
                VERBS_PROXY,
            ))
            .with_subresource(status("Service")),
        // apps/v1
        ns(
            APPS,
            "ControllerRevision",
            "controllerrevisions",
            "controllerrevision",
        ),
        ns(APPS, "DaemonSet", "daemonsets", "daemonset")
            .with_short_names(&["ds"])
            .with_categories(&["all"])
            .with_subresource(status("DaemonSet")),
        ns(APPS, "Deployment", "deployments", "deployment")
            .with_short_names(&["deploy"])
            .with_categories(&["all"])
            .with_subresource(scale())
            .with_subresource(status("Deployment")),
        ns(APPS, "ReplicaSet", "replicasets", "replicaset")
            .with_short_names(&["rs"])
            .with_categories(&["all"])
            .with_subresource(scale())
            .with_subresource(status("ReplicaSet")),
        ns(APPS, "StatefulSet", "statefulsets", "statefulset")
            .with_short_names(&["sts"])
            .with_categories(&["all"])
            .with_subresource(scale())
            .with_subresource(status("StatefulSet")),
        // autoscaling/v2 (stored) and autoscaling/v1 (converted,
        // `crate::conversion::hpa`)
        hpa("v2"),
        hpa("v1"),
        // batch/v1
        ns(BATCH, "CronJob", "cronjobs", "cronjob")
            .with_short_names(&["cj"])
            .with_categories(&["all"])
            .with_subresource(status("CronJob")),
        ns(BATCH, "Job", "jobs", "job")
            .with_categories(&["all"])
            .with_subresource(status("Job")),
        // coordination.k8s.io/v1
        ns(COORDINATION, "Lease", "leases", "lease"),
        // discovery.k8s.io/v1
        ns(
            DISCOVERY,
            "EndpointSlice",
            "endpointslices",
            "endpointslice",
        ),
        // events.k8s.io/v1 (same storage as core events upstream, same short name)
        ns(EVENTS, "Event", "events", "event").with_short_names(&["ev"]),
        // rbac.authorization.k8s.io/v1
        r(
            RBAC,
            "ClusterRoleBinding",
            "clusterrolebindings",
            "clusterrolebinding",
            false,
        ),
        r(RBAC, "ClusterRole", "clusterroles", "clusterrole", false),
        ns(RBAC, "RoleBinding", "rolebindings", "rolebinding"),
        ns(RBAC, "Role", "roles", "role"),
        // networking.k8s.io/v1
        r(
            NETWORKING,
            "IngressClass",
            "ingressclasses",
            "ingressclass",
            false,
        ),
        ns(NETWORKING, "Ingress", "ingresses", "ingress")
            .with_short_names(&["ing"])
            .with_subresource(status("Ingress")),
        ns(
            NETWORKING,
            "NetworkPolicy",
            "networkpolicies",
            "networkpolicy",
        )
        .with_short_names(&["netpol"]),
        // policy/v1
        ns(
            POLICY,
            "PodDisruptionBudget",
            "poddisruptionbudgets",
            "poddisruptionbudget",
        )
        .with_short_names(&["pdb"])
        .with_subresource(status("PodDisruptionBudget")),
        // apiextensions.k8s.io/v1
        r(
            "apiextensions.k8s.io",
            "CustomResourceDefinition",
            "customresourcedefinitions",
            "customresourcedefinition",
            false,
        )
        .with_short_names(&["crd", "crds"])
        .with_categories(&["api-extensions"])
        .with_subresource(status("CustomResourceDefinition")),
        // apiregistration.k8s.io/v1
        r(
            APIREGISTRATION,
            "APIService",
            "apiservices",
            "apiservice",
            false,
        )
        .with_categories(&["api-extensions"])
        .with_subresource(status("APIService")),
        // node.k8s.io/v1
        r(
            NODE,
            "RuntimeClass",
            "runtimeclasses",
            "runtimeclass",
            false,
        ),
        // scheduling.k8s.io/v1
        r(
            SCHEDULING,
            "PriorityClass",
            "priorityclasses",
            "priorityclass",
            false,
        )
        .with_short_names(&["pc"]),
        // storage.k8s.io/v1
        r(STORAGE, "CSIDriver", "csidrivers", "csidriver", false),
        r(STORAGE, "CSINode", "csinodes", "csinode", false),
        ns(
            STORAGE,
            "CSIStorageCapacity",
            "csistoragecapacities",
            "csistoragecapacity",
        ),
        r(
            STORAGE,
            "StorageClass",
            "storageclasses",
            "storageclass",
            false,
        )
        .with_short_names(&["sc"]),
        r(
            STORAGE,
            "VolumeAttachment",
            "volumeattachments",
            "volumeattachment",
            false,
        )
        .with_subresource(status("VolumeAttachment")),
        r(
            STORAGE,
            "VolumeAttributesClass",
            "volumeattributesclasses",
            "volumeattributesclass",
            false,
        )
        .with_short_names(&["vac"]),
        // metrics.k8s.io/v1beta1, as metrics-server registers it (no
        // singular names, so `node` and `pod` stay the core kinds').
        ResourceInfo::new(METRICS, "v1beta1", "NodeMetrics", "nodes", "", false)
            .with_verbs(VERBS_GET_LIST),
        ResourceInfo::new(METRICS, "v1beta1", "PodMetrics", "pods", "", true)
            .with_verbs(VERBS_GET_LIST),
    ]
}
