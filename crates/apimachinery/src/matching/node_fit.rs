//! Whether a pod fits a node by name, node selector, required node
//! affinity and taints (kube-scheduler's NodeName, NodeAffinity and
//! TaintToleration filters; the DaemonSet controller's
//! `NodeShouldRunDaemonPod`). Resources and ports are the scheduler's.

use k8s_openapi::api::core::v1::{Node, PodSpec, Taint};

use super::node_selector::node_affinity_matches;
use super::taints::first_untolerated;

/// Why a pod does not fit a node, or that it does.
#[derive(Clone, Debug, PartialEq)]
pub enum NodeFit {
    Fits,
    /// `spec.nodeName` names another node.
    OtherNodeName,
    /// The node selector or required node affinity does not hold.
    Affinity,
    /// A `NoSchedule` taint not tolerated (a running pod may stay).
    NoSchedule(Taint),
    /// A `NoExecute` taint not tolerated (a running pod is evicted).
    NoExecute(Taint),
}

/// The first reason `spec` does not fit `node`, in the scheduler's order
/// (name, affinity, taints; among taints, the first untolerated
/// `NoSchedule` or `NoExecute` one, `NoExecute` first when both are).
pub fn node_fit(spec: Option<&PodSpec>, node: &Node) -> NodeFit {
    let name = node.metadata.name.as_deref().unwrap_or_default();
    if spec
        .and_then(|s| s.node_name.as_deref())
        .is_some_and(|n| !n.is_empty() && n != name)
    {
        return NodeFit::OtherNodeName;
    }
    if !node_affinity_matches(spec, node) {
        return NodeFit::Affinity;
    }
    let tolerations = spec.and_then(|s| s.tolerations.as_deref()).unwrap_or(&[]);
    let taints = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.as_deref())
        .unwrap_or(&[]);
    if let Some(t) = first_untolerated(taints, tolerations, |e| e == "NoExecute") {
        return NodeFit::NoExecute(t.clone());
    }
    if let Some(t) = first_untolerated(taints, tolerations, |e| e == "NoSchedule") {
        return NodeFit::NoSchedule(t.clone());
    }
    NodeFit::Fits
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(taints: serde_json::Value) -> Node {
        serde_json::from_value(json!({
            "metadata": {"name": "n1", "labels": {"disk": "ssd"}},
            "spec": {"taints": taints}
        }))
        .expect("node")
    }

    fn spec(v: serde_json::Value) -> PodSpec {
        serde_json::from_value(v).expect("pod spec")
    }

    #[test]
    fn name_then_affinity_then_taints() {
        let n = node(json!([{"key": "a", "effect": "NoSchedule"},
                            {"key": "b", "effect": "NoExecute"},
                            {"key": "c", "effect": "PreferNoSchedule"}]));
        let other = spec(json!({"containers": [], "nodeName": "n2"}));
        assert_eq!(node_fit(Some(&other), &n), NodeFit::OtherNodeName);
        let hdd = spec(json!({"containers": [], "nodeSelector": {"disk": "hdd"}}));
        assert_eq!(node_fit(Some(&hdd), &n), NodeFit::Affinity);
        let plain = spec(json!({"containers": [], "nodeName": "n1"}));
        assert!(matches!(node_fit(Some(&plain), &n), NodeFit::NoExecute(t) if t.key == "b"));
        let tol_b =
            spec(json!({"containers": [], "tolerations": [{"key": "b", "operator": "Exists"}]}));
        assert!(matches!(node_fit(Some(&tol_b), &n), NodeFit::NoSchedule(t) if t.key == "a"));
        let all = spec(json!({"containers": [], "tolerations": [{"operator": "Exists"}]}));
        assert_eq!(node_fit(Some(&all), &n), NodeFit::Fits);
    }
}
