//! Tests of the resource registry and the built-in table.
use super::*;

/// (group, plural, kind, singular, namespaced, short names)
type NameCase = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    bool,
    &'static [&'static str],
);

#[test]
fn builtin_names_scope_and_short_names() {
    let r = Registry::builtin();
    let cases: &[NameCase] = &[
        ("", "namespaces", "Namespace", "namespace", false, &["ns"]),
        ("", "pods", "Pod", "pod", true, &["po"]),
        ("", "services", "Service", "service", true, &["svc"]),
        ("", "endpoints", "Endpoints", "endpoints", true, &["ep"]),
        ("", "configmaps", "ConfigMap", "configmap", true, &["cm"]),
        ("", "secrets", "Secret", "secret", true, &[]),
        (
            "",
            "serviceaccounts",
            "ServiceAccount",
            "serviceaccount",
            true,
            &["sa"],
        ),
        ("", "nodes", "Node", "node", false, &["no"]),
        ("", "events", "Event", "event", true, &["ev"]),
        (
            "",
            "limitranges",
            "LimitRange",
            "limitrange",
            true,
            &["limits"],
        ),
        (
            "",
            "resourcequotas",
            "ResourceQuota",
            "resourcequota",
            true,
            &["quota"],
        ),
        (
            "",
            "persistentvolumes",
            "PersistentVolume",
            "persistentvolume",
            false,
            &["pv"],
        ),
        (
            "",
            "persistentvolumeclaims",
            "PersistentVolumeClaim",
            "persistentvolumeclaim",
            true,
            &["pvc"],
        ),
        (
            "apps",
            "deployments",
            "Deployment",
            "deployment",
            true,
            &["deploy"],
        ),
        (
            "apps",
            "replicasets",
            "ReplicaSet",
            "replicaset",
            true,
            &["rs"],
        ),
        (
            "apps",
            "statefulsets",
            "StatefulSet",
            "statefulset",
            true,
            &["sts"],
        ),
        (
            "apps",
            "daemonsets",
            "DaemonSet",
            "daemonset",
            true,
            &["ds"],
        ),
        (
            "apps",
            "controllerrevisions",
            "ControllerRevision",
            "controllerrevision",
            true,
            &[],
        ),
        ("batch", "jobs", "Job", "job", true, &[]),
        ("batch", "cronjobs", "CronJob", "cronjob", true, &["cj"]),
        ("coordination.k8s.io", "leases", "Lease", "lease", true, &[]),
        (
            "discovery.k8s.io",
            "endpointslices",
            "EndpointSlice",
            "endpointslice",
            true,
            &[],
        ),
        ("events.k8s.io", "events", "Event", "event", true, &["ev"]),
        (
            "rbac.authorization.k8s.io",
            "clusterroles",
            "ClusterRole",
            "clusterrole",
            false,
            &[],
        ),
        (
            "rbac.authorization.k8s.io",
            "rolebindings",
            "RoleBinding",
            "rolebinding",
            true,
            &[],
        ),
        (
            "networking.k8s.io",
            "networkpolicies",
            "NetworkPolicy",
            "networkpolicy",
            true,
            &["netpol"],
        ),
        (
            "networking.k8s.io",
            "ingresses",
            "Ingress",
            "ingress",
            true,
            &["ing"],
        ),
        (
            "networking.k8s.io",
            "ingressclasses",
            "IngressClass",
            "ingressclass",
            false,
            &[],
        ),
        (
            "policy",
            "poddisruptionbudgets",
            "PodDisruptionBudget",
            "poddisruptionbudget",
            true,
            &["pdb"],
        ),
        (
            "scheduling.k8s.io",
            "priorityclasses",
            "PriorityClass",
            "priorityclass",
            false,
            &["pc"],
        ),
        (
            "storage.k8s.io",
            "storageclasses",
            "StorageClass",
            "storageclass",
            false,
            &["sc"],
        ),
        (
            "storage.k8s.io",
            "csistoragecapacities",
            "CSIStorageCapacity",
            "csistoragecapacity",
            true,
            &[],
        ),
        (
            "storage.k8s.io",
            "volumeattributesclasses",
            "VolumeAttributesClass",
            "volumeattributesclass",
            false,
            &["vac"],
        ),
    ];
    for (group, plural, kind, singular, namespaced, short) in cases {
        let info = r
            .get(group, "v1", plural)
            .unwrap_or_else(|| panic!("missing {group}/{plural}"));
        assert_eq!(&info.kind, kind);
        assert_eq!(info.list_kind, format!("{kind}List"));
        assert_eq!(&info.singular, singular);
        assert_eq!(info.namespaced, *namespaced, "{plural}");
        assert_eq!(
            info.short_names,
            short.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            "{plural}"
        );
    }
}

#[test]
fn verbs_and_subresources() {
    let r = Registry::builtin();
    let ns = r.get("", "v1", "namespaces").expect("namespaces");
    assert!(!ns.has_verb("deletecollection"));
    assert_eq!(
        ns.verbs,
        ["create", "delete", "get", "list", "patch", "update", "watch"]
    );
    let ev = r.get("", "v1", "events").expect("events");
    assert_eq!(ev.verbs.len(), 8);
    assert_eq!(
        r.get("", "v1", "bindings").expect("bindings").verbs,
        ["create"]
    );

    let deploy = r.get("apps", "v1", "deployments").expect("deployments");
    let scale = deploy.subresource("scale").expect("scale");
    assert_eq!(
        deploy.subresource_gvk(scale),
        ("autoscaling".into(), "v1".into(), "Scale".into())
    );
    let status = deploy.subresource("status").expect("status");
    assert_eq!(
        deploy.subresource_gvk(status),
        ("apps".into(), "v1".into(), "Deployment".into())
    );
    assert!(r
        .get("apps", "v1", "daemonsets")
        .expect("ds")
        .subresource("scale")
        .is_none());

    let pods = r.get("", "v1", "pods").expect("pods");
    let names: Vec<&str> = pods.subresources.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "attach",
            "binding",
            "ephemeralcontainers",
            "eviction",
            "exec",
            "log",
            "portforward",
            "proxy",
            "status"
        ]
    );
    // As kube-apiserver lists them.
    let verbs = |sub: &str| pods.subresource(sub).expect(sub).verbs.clone();
    assert_eq!(verbs("exec"), ["create", "get"]);
    assert_eq!(verbs("log"), ["get"]);
    assert_eq!(verbs("ephemeralcontainers"), ["get", "patch", "update"]);
    assert_eq!(
        verbs("proxy"),
        ["create", "delete", "get", "patch", "update"]
    );
    for plural in ["services", "nodes"] {
        let info = r.get("", "v1", plural).expect(plural);
        assert!(info.subresource("proxy").is_some(), "{plural}/proxy");
    }
    let ev = pods.subresource("eviction").expect("eviction");
    assert_eq!(
        pods.subresource_gvk(ev),
        ("policy".into(), "v1".into(), "Eviction".into())
    );
    assert_eq!(ev.verbs, ["create"]);
}

#[test]
fn categories_all_in_discovery_order() {
    let r = Registry::builtin();
    let all: Vec<String> = r.category("all").iter().map(|i| i.plural.clone()).collect();
    assert_eq!(
        all,
        [
            "pods",
            "replicationcontrollers",
            "services",
            "daemonsets",
            "deployments",
            "replicasets",
            "statefulsets",
            "horizontalpodautoscalers",
            "cronjobs",
            "jobs"
        ]
    );
}

#[test]
fn resolve_like_kubectl() {
    let r = Registry::builtin();
    let cases = [
        ("po", "", "pods"),
        ("pod", "", "pods"),
        ("pods", "", "pods"),
        ("Pod", "", "pods"),
        ("ev", "", "events"),
        ("events", "", "events"),
        ("events.events.k8s.io", "events.k8s.io", "events"),
        ("events.v1.events.k8s.io", "events.k8s.io", "events"),
        ("deploy", "apps", "deployments"),
        ("deployments.apps", "apps", "deployments"),
        ("deployment.v1.apps", "apps", "deployments"),
        ("netpol", "networking.k8s.io", "networkpolicies"),
        ("pc", "scheduling.k8s.io", "priorityclasses"),
        ("rc", "", "replicationcontrollers"),
        ("cs", "", "componentstatuses"),
        ("apiservice", "apiregistration.k8s.io", "apiservices"),
        ("runtimeclasses", "node.k8s.io", "runtimeclasses"),
        ("CLUSTERROLE", "rbac.authorization.k8s.io", "clusterroles"),
    ];
    for (arg, group, plural) in cases {
        let got = r.resolve(arg).unwrap_or_else(|| panic!("{arg} unresolved"));
        assert_eq!(
            (got.group.as_str(), got.plural.as_str()),
            (group, plural),
            "{arg}"
        );
    }
    assert!(r.resolve("nosuchthing").is_none());
    assert!(r.resolve("pods.nosuchgroup").is_none());
    assert!(r.resolve("").is_none());
}

#[test]
fn hpas_are_served_in_v2_and_v1_preferring_v2() {
    let r = Registry::builtin();
    let g = r
        .groups()
        .into_iter()
        .find(|g| g.name == "autoscaling")
        .expect("autoscaling");
    assert_eq!(g.versions, ["v2", "v1"]);
    let hpa = r.resolve("hpa").expect("hpa");
    assert_eq!(
        (hpa.version.as_str(), hpa.kind.as_str()),
        ("v2", "HorizontalPodAutoscaler")
    );
    let v1 = r.resolve("hpa.v1.autoscaling").expect("hpa.v1.autoscaling");
    assert_eq!(v1.version, "v1");
    assert!(v1.namespaced && v1.subresource("status").is_some());
    assert_eq!(v1.storage_prefix(), hpa.storage_prefix());
}

#[test]
fn group_and_version_order() {
    let r = Registry::builtin();
    let names: Vec<String> = r.groups().into_iter().map(|g| g.name).collect();
    assert_eq!(
        names,
        [
            "",
            "apiregistration.k8s.io",
            "apps",
            "events.k8s.io",
            "autoscaling",
            "batch",
            "networking.k8s.io",
            "policy",
            "rbac.authorization.k8s.io",
            "storage.k8s.io",
            "apiextensions.k8s.io",
            "scheduling.k8s.io",
            "coordination.k8s.io",
            "node.k8s.io",
            "discovery.k8s.io",
            "metrics.k8s.io"
        ]
    );
    // The metrics group's `nodes` and `pods` never shadow the core kinds.
    for arg in ["pods", "pod", "po", "nodes", "node", "no"] {
        assert_eq!(r.resolve(arg).map(|i| i.group.as_str()), Some(""), "{arg}");
    }
    assert_eq!(
        r.resolve("pods.metrics.k8s.io").map(|i| i.kind.as_str()),
        Some("PodMetrics")
    );
    let mut v = vec![
        "v1alpha1", "v1", "v2beta1", "v1beta2", "foo", "v2", "v1beta1", "v10",
    ];
    v.sort_by(|a, b| compare_versions(a, b));
    assert_eq!(
        v,
        ["v10", "v2", "v1", "v2beta1", "v1beta2", "v1beta1", "v1alpha1", "foo"]
    );
    assert_eq!(
        compare_groups("zz.example.com", "aa.example.com"),
        Ordering::Greater
    );
    assert_eq!(compare_groups("apps", "zz.example.com"), Ordering::Less);
}

#[test]
fn insert_replaces_and_crd_versions() {
    let mut r = Registry::builtin();
    let before = r.len();
    let crd = |v: &str| ResourceInfo::new("example.com", v, "Widget", "widgets", "widget", true);
    assert!(r.insert(crd("v1beta1")).is_none());
    assert!(r.insert(crd("v1")).is_none());
    assert!(r.insert(crd("v1").with_short_names(&["wd"])).is_some());
    assert_eq!(r.len(), before + 2);
    assert_eq!(
        r.get_by_kind("example.com", "Widget")
            .map(|i| i.version.as_str()),
        Some("v1")
    );
    assert_eq!(r.resolve("wd").map(|i| i.version.as_str()), Some("v1"));
    // CRD groups (priority 1000) come before metrics.k8s.io (100).
    let groups = r.groups();
    let crd_group = &groups[groups.len() - 2];
    assert_eq!(crd_group.name, "example.com");
    assert_eq!(crd_group.versions, ["v1", "v1beta1"]);
    assert_eq!(groups[groups.len() - 1].name, "metrics.k8s.io");
    assert!(r.remove("example.com", "v1beta1", "widgets").is_some());
    assert_eq!(
        r.get_by_gvk("apps", "v1", "Deployment")
            .map(|i| i.plural.as_str()),
        Some("deployments")
    );
    assert_eq!(
        r.get("apps", "v1", "deployments")
            .map(|i| i.storage_prefix()),
        Some("/registry/apps/deployments".into())
    );
    assert_eq!(
        r.get("", "v1", "pods").map(|i| i.storage_prefix()),
        Some("/registry/pods".into())
    );
}
