//! PersistentVolumes of simulated nodes: they have no directories, so a
//! volume with node affinity to one of them that carries the local-path
//! cleanup finalizer (it should not: the provisioner puts it only on
//! volumes of real nodes) has it removed once the volume is being
//! deleted, from the one watch of all volumes the agent shares.

use std::collections::HashMap;

use k8s_openapi::api::core::v1::PersistentVolume;
use rkube_apimachinery::storage::LOCAL_PATH_CLEANUP_FINALIZER;

/// The nodes a volume's required node affinity names by hostname.
fn affinity_hosts(pv: &PersistentVolume) -> impl Iterator<Item = &str> {
    pv.spec
        .as_ref()
        .and_then(|s| s.node_affinity.as_ref())
        .and_then(|a| a.required.as_ref())
        .into_iter()
        .flat_map(|r| r.node_selector_terms.iter())
        .flat_map(|t| t.match_expressions.iter().flatten())
        .filter(|e| e.key == "kubernetes.io/hostname" && e.operator == "In")
        .flat_map(|e| e.values.iter().flatten())
        .map(String::as_str)
}

/// Being deleted, with the cleanup finalizer, on a simulated node.
pub fn needs_release(pv: &PersistentVolume, nodes: &HashMap<String, u32>) -> bool {
    pv.metadata.deletion_timestamp.is_some()
        && pv
            .metadata
            .finalizers
            .iter()
            .flatten()
            .any(|f| f == LOCAL_PATH_CLEANUP_FINALIZER)
        && affinity_hosts(pv).any(|h| nodes.contains_key(h))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_deleted_volumes_of_simulated_nodes() {
        let nodes = HashMap::from([("sim-0".to_string(), 0)]);
        let pv = |node: &str, deleting: bool| -> PersistentVolume {
            let mut v = json!({
                "metadata": {"name": "pv", "finalizers": [LOCAL_PATH_CLEANUP_FINALIZER]},
                "spec": {"nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                    {"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}]}]}}},
            });
            if deleting {
                v["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
            }
            serde_json::from_value(v).expect("test input")
        };
        assert!(needs_release(&pv("sim-0", true), &nodes));
        assert!(!needs_release(&pv("sim-0", false), &nodes));
        assert!(!needs_release(&pv("real", true), &nodes));
    }
}
