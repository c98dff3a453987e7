//! The daemon pods themselves: which nodes should run one (Kubernetes'
//! matching rules, `rkube_apimachinery::matching`), the tolerations the
//! controller adds, the node a pod is for, and a new pod for a node.

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Node, Pod, PodSpec, Toleration};
use kube::ResourceExt;
use rkube_apimachinery::matching::{node_fit, NodeFit};
use serde_json::{json, Value};

use crate::framework::history::REVISION_HASH_LABEL;
use crate::framework::owner::owner_ref;

pub(super) const TEMPLATE_GENERATION_LABEL: &str = "pod-template-generation";

/// The tolerations the DaemonSet controller adds to its pods
/// (`AddOrUpdateDaemonPodTolerations`).
pub(super) fn add_daemon_tolerations(spec: &mut PodSpec) {
    let mut wanted = vec![
        ("node.kubernetes.io/not-ready", "NoExecute"),
        ("node.kubernetes.io/unreachable", "NoExecute"),
        ("node.kubernetes.io/disk-pressure", "NoSchedule"),
        ("node.kubernetes.io/memory-pressure", "NoSchedule"),
        ("node.kubernetes.io/pid-pressure", "NoSchedule"),
        ("node.kubernetes.io/unschedulable", "NoSchedule"),
    ];
    if spec.host_network == Some(true) {
        wanted.push(("node.kubernetes.io/network-unavailable", "NoSchedule"));
    }
    let list = spec.tolerations.get_or_insert_with(Vec::new);
    for (key, effect) in wanted {
        list.retain(|t| !(t.key.as_deref() == Some(key) && t.effect.as_deref() == Some(effect)));
        list.push(Toleration {
            key: Some(key.to_string()),
            operator: Some("Exists".to_string()),
            effect: Some(effect.to_string()),
            ..Toleration::default()
        });
    }
}

/// (should run, should continue running), as `NodeShouldRunDaemonPod`:
/// an untolerated `NoSchedule` taint keeps a new pod off the node, an
/// untolerated `NoExecute` one removes a running pod too.
pub(super) fn node_should_run(spec: &PodSpec, node: &Node) -> (bool, bool) {
    match node_fit(Some(spec), node) {
        NodeFit::Fits => (true, true),
        NodeFit::NoSchedule(_) => (false, true),
        NodeFit::OtherNodeName | NodeFit::Affinity | NodeFit::NoExecute(_) => (false, false),
    }
}

/// The node a daemon pod is for: `spec.nodeName`, or the node its
/// `matchFields metadata.name` affinity names.
pub(super) fn target_node(pod: &Pod) -> Option<String> {
    let spec = pod.spec.as_ref()?;
    if let Some(n) = spec.node_name.as_ref().filter(|n| !n.is_empty()) {
        return Some(n.clone());
    }
    let terms = &spec
        .affinity
        .as_ref()?
        .node_affinity
        .as_ref()?
        .required_during_scheduling_ignored_during_execution
        .as_ref()?
        .node_selector_terms;
    terms.iter().find_map(|t| {
        t.match_fields.iter().flatten().find_map(|f| {
            let values = f.values.as_deref().unwrap_or(&[]);
            (f.key == "metadata.name" && f.operator == "In" && values.len() == 1)
                .then(|| values[0].clone())
        })
    })
}

/// A daemon pod for `node`.
pub(super) fn new_pod(
    ds: &DaemonSet,
    template_spec: &PodSpec,
    hash: &str,
    node: &str,
) -> Result<Pod, serde_json::Error> {
    let meta = ds.spec.template.metadata.clone().unwrap_or_default();
    let mut labels = meta.labels.unwrap_or_default();
    labels.insert(REVISION_HASH_LABEL.to_string(), hash.to_string());
    if let Some(g) = ds.metadata.generation {
        labels.insert(TEMPLATE_GENERATION_LABEL.to_string(), g.to_string());
    }
    let mut spec = serde_json::to_value(template_spec)?;
    // ReplaceDaemonSetPodNodeNameNodeAffinity: the required terms become
    // the one node, preferred terms stay.
    let term = json!({"nodeSelectorTerms": [{"matchFields": [
        {"key": "metadata.name", "operator": "In", "values": [node]}]}]});
    if let Value::Object(s) = &mut spec {
        let affinity = s.entry("affinity").or_insert_with(|| json!({}));
        if let Value::Object(a) = affinity {
            let na = a.entry("nodeAffinity").or_insert_with(|| json!({}));
            if let Value::Object(na) = na {
                na.insert(
                    "requiredDuringSchedulingIgnoredDuringExecution".to_string(),
                    term,
                );
            }
        }
    }
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "generateName": format!("{}-", ds.name_any()),
            "namespace": ds.namespace(),
            "labels": labels,
            "annotations": meta.annotations,
            "finalizers": meta.finalizers,
            "ownerReferences": [owner_ref(ds)],
        },
        "spec": spec,
    }))
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

    use super::super::plan::scaled;
    use super::*;

    #[test]
    fn eligibility_follows_selector_affinity_and_taints() {
        let n: Node = serde_json::from_value(json!({
            "metadata": {"name": "n1", "labels": {"disk": "ssd"}},
            "spec": {"taints": [{"key": "k", "value": "v", "effect": "NoSchedule"}]}
        }))
        .expect("node");
        let spec = |v: Value| -> PodSpec { serde_json::from_value(v).expect("spec") };
        let mut s = spec(json!({"containers": [], "nodeSelector": {"disk": "ssd"}}));
        assert_eq!(node_should_run(&s, &n), (false, true));
        s.tolerations = Some(vec![Toleration {
            operator: Some("Exists".into()),
            ..Toleration::default()
        }]);
        assert_eq!(node_should_run(&s, &n), (true, true));
        let s = spec(json!({"containers": [], "nodeSelector": {"disk": "hdd"}}));
        assert_eq!(node_should_run(&s, &n), (false, false));
        let mut s = spec(
            json!({"containers": [], "tolerations": [{"key": "k", "operator": "Exists"}],
            "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution":
              {"nodeSelectorTerms": [{"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}]}]}}}}),
        );
        assert_eq!(node_should_run(&s, &n), (true, true));
        add_daemon_tolerations(&mut s);
        assert_eq!(s.tolerations.as_ref().map(Vec::len), Some(7));
        let pod = Pod {
            spec: Some(
                new_pod(&DaemonSet::default(), &s, "h", "n9")
                    .expect("pod")
                    .spec
                    .unwrap_or_default(),
            ),
            ..Pod::default()
        };
        assert_eq!(target_node(&pod).as_deref(), Some("n9"));
        assert_eq!(scaled(Some(&IntOrString::String("25%".into())), 5, 1), 2);
    }
}
