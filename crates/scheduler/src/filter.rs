//! Filter plugins: can this pod run on this node? Each refusal is the
//! reason kube-scheduler gives, so `FailedScheduling` events read the same.

use k8s_openapi::api::core::v1::{Node, Pod, Taint, Toleration};
use rkube_apimachinery::matching::{first_untolerated, node_affinity_matches, tolerates};

use crate::cache::{host_ports, NodeInfo};
use crate::resources::Amounts;

/// Why a node does not fit.
pub type Reason = String;

/// Runs every filter; the first refusal.
pub fn fits(pod: &Pod, requests: &Amounts, info: &NodeInfo) -> Result<(), Reason> {
    let node = info.node.as_ref();
    node_name(pod, node)?;
    unschedulable(pod, node)?;
    node_affinity(pod, node)?;
    taints(pod, node)?;
    node_ports(pod, info)?;
    resources(requests, info)
}

fn node_name(pod: &Pod, node: &Node) -> Result<(), Reason> {
    match pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) {
        Some(n) if !n.is_empty() && Some(n) != node.metadata.name.as_deref() => {
            Err("node(s) didn't match the requested node name".into())
        }
        _ => Ok(()),
    }
}

fn tolerations(pod: &Pod) -> &[Toleration] {
    pod.spec
        .as_ref()
        .and_then(|s| s.tolerations.as_deref())
        .unwrap_or(&[])
}

fn unschedulable(pod: &Pod, node: &Node) -> Result<(), Reason> {
    if !node
        .spec
        .as_ref()
        .and_then(|s| s.unschedulable)
        .unwrap_or(false)
    {
        return Ok(());
    }
    let taint = Taint {
        key: "node.kubernetes.io/unschedulable".into(),
        effect: "NoSchedule".into(),
        ..Taint::default()
    };
    if tolerations(pod).iter().any(|t| tolerates(t, &taint)) {
        Ok(())
    } else {
        Err("node(s) were unschedulable".into())
    }
}

fn taints(pod: &Pod, node: &Node) -> Result<(), Reason> {
    let Some(list) = node.spec.as_ref().and_then(|s| s.taints.as_deref()) else {
        return Ok(());
    };
    let hard = |e: &str| matches!(e, "NoSchedule" | "NoExecute");
    match first_untolerated(list, tolerations(pod), hard) {
        Some(taint) => Err(format!(
            "node(s) had untolerated taint {{{}: {}}}",
            taint.key,
            taint.value.as_deref().unwrap_or("")
        )),
        None => Ok(()),
    }
}

fn node_affinity(pod: &Pod, node: &Node) -> Result<(), Reason> {
    if node_affinity_matches(pod.spec.as_ref(), node) {
        Ok(())
    } else {
        Err("node(s) didn't match Pod's node affinity/selector".to_string())
    }
}

fn node_ports(pod: &Pod, info: &NodeInfo) -> Result<(), Reason> {
    for (proto, port, ip) in host_ports(pod) {
        let clash = info.ports.iter().any(|(p, n, i)| {
            *p == proto
                && *n == port
                && (i.is_empty() || ip.is_empty() || *i == ip || i == "0.0.0.0" || ip == "0.0.0.0")
        });
        if clash {
            return Err("node(s) didn't have free ports for the requested pod ports".into());
        }
    }
    Ok(())
}

fn resources(requests: &Amounts, info: &NodeInfo) -> Result<(), Reason> {
    let (a, r) = (&info.allocatable, &info.requested);
    if r.pods + requests.pods > a.pods {
        return Err("Too many pods".into());
    }
    if requests.cpu > 0 && r.cpu + requests.cpu > a.cpu {
        return Err("Insufficient cpu".into());
    }
    if requests.memory > 0 && r.memory + requests.memory > a.memory {
        return Err("Insufficient memory".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::resources::{allocatable, pod_requests};

    fn node(v: serde_json::Value) -> NodeInfo {
        let node: Node = serde_json::from_value(v).expect("node");
        NodeInfo {
            allocatable: allocatable(&node),
            node: Arc::new(node),
            requested: Amounts::default(),
            ports: Vec::new(),
            owners: Default::default(),
            pods: Default::default(),
        }
    }

    fn pod(spec: serde_json::Value) -> Pod {
        serde_json::from_value(json!({"metadata": {"name": "p"}, "spec": spec})).expect("pod")
    }

    fn check(p: &Pod, n: &NodeInfo) -> Result<(), Reason> {
        fits(p, &pod_requests(p), n)
    }

    fn small() -> NodeInfo {
        node(json!({
            "metadata": {"name": "n1", "labels": {"disk": "ssd", "gen": "5"}},
            "spec": {"taints": [{"key": "dedicated", "value": "db", "effect": "NoSchedule"},
                                 {"key": "soft", "effect": "PreferNoSchedule"}]},
            "status": {"allocatable": {"cpu": "2", "memory": "4Gi", "pods": "3"}}
        }))
    }

    #[test]
    fn taints_need_tolerations_and_resources_must_fit() {
        let n = small();
        let plain = pod(json!({"containers": [{"name": "c"}]}));
        assert_eq!(
            check(&plain, &n),
            Err("node(s) had untolerated taint {dedicated: db}".into())
        );
        let tolerant = pod(
            json!({"containers": [{"name": "c", "resources": {"requests": {"cpu": "3"}}}],
            "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "db"}]}),
        );
        assert_eq!(check(&tolerant, &n), Err("Insufficient cpu".into()));
        let fits_now = pod(
            json!({"containers": [{"name": "c", "resources": {"requests": {"cpu": "1500m"}}}],
            "tolerations": [{"operator": "Exists"}]}),
        );
        assert_eq!(check(&fits_now, &n), Ok(()));
    }

    #[test]
    fn selectors_and_required_affinity_match_labels_and_fields() {
        let n = small();
        let tol = json!([{"operator": "Exists"}]);
        let sel = |s: serde_json::Value| {
            pod(json!({"containers": [{"name": "c"}], "tolerations": tol, "nodeSelector": s}))
        };
        assert_eq!(check(&sel(json!({"disk": "ssd"})), &n), Ok(()));
        assert!(check(&sel(json!({"disk": "hdd"})), &n).is_err());
        let aff = |terms: serde_json::Value| {
            pod(json!({"containers": [{"name": "c"}], "tolerations": tol,
            "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}}}))
        };
        assert_eq!(
            check(
                &aff(
                    json!([{"matchExpressions": [{"key": "gen", "operator": "Gt", "values": ["4"]}]}])
                ),
                &n
            ),
            Ok(())
        );
        assert!(check(
            &aff(
                json!([{"matchExpressions": [{"key": "gen", "operator": "Lt", "values": ["4"]}]}])
            ),
            &n
        )
        .is_err());
        // Terms are ORed.
        assert_eq!(
            check(
                &aff(json!([
            {"matchExpressions": [{"key": "disk", "operator": "DoesNotExist"}]},
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}])),
                &n
            ),
            Ok(())
        );
        assert!(check(
            &aff(json!([{"matchExpressions": [{"key": "zone", "operator": "Exists"}]}])),
            &n
        )
        .is_err());
    }

    #[test]
    fn unschedulable_nodes_and_taken_host_ports_refuse() {
        let mut n = node(
            json!({"metadata": {"name": "n2"}, "spec": {"unschedulable": true},
            "status": {"allocatable": {"cpu": "2", "memory": "4Gi", "pods": "10"}}}),
        );
        let p = pod(
            json!({"containers": [{"name": "c", "ports": [{"containerPort": 80, "hostPort": 8080}]}]}),
        );
        assert_eq!(check(&p, &n), Err("node(s) were unschedulable".into()));
        let mut spec = n.node.as_ref().clone();
        spec.spec = None;
        n.node = Arc::new(spec);
        assert_eq!(check(&p, &n), Ok(()));
        n.ports.push(("TCP".into(), 8080, String::new()));
        assert_eq!(
            check(&p, &n),
            Err("node(s) didn't have free ports for the requested pod ports".into())
        );
    }
}
