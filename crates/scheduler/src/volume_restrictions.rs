//! kube-scheduler's VolumeRestrictions plugin, its ReadWriteOncePod part:
//! a claim with the `ReadWriteOncePod` access mode is used by one pod at a
//! time in the whole cluster. While another pod (bound or assumed, not
//! terminated) uses it, no node fits; preemption may resolve that by
//! deleting the other pod when its priority is lower (the node preempted
//! on is then the one the other pod runs on).
//!
//! The in-tree disk conflicts of the same plugin (GCE PD, AWS EBS, RBD,
//! iSCSI volumes inline in pods) are not checked: rkube has no such
//! volumes.

use std::sync::Arc;

use k8s_openapi::api::core::v1::PersistentVolumeClaim;

use crate::cache::Cache;
use crate::volume_cache::key;

/// The refusal, as kube-scheduler words it.
pub const RWOP_CONFLICT: &str =
    "node has pod using PersistentVolumeClaim with the same name and ReadWriteOncePod access mode";

fn read_write_once_pod(claim: &PersistentVolumeClaim) -> bool {
    claim
        .spec
        .as_ref()
        .and_then(|s| s.access_modes.as_ref())
        .is_some_and(|m| m.iter().any(|m| m == "ReadWriteOncePod"))
}

/// The pods other than `pod_uid` that hold one of `claims` with the
/// ReadWriteOncePod mode: the pod fits nowhere while they do.
pub fn conflicting_pods(
    pod_uid: &str,
    claims: &[Arc<PersistentVolumeClaim>],
    cache: &Cache,
) -> Vec<String> {
    let mut users: Vec<String> = claims
        .iter()
        .filter(|c| read_write_once_pod(c))
        .flat_map(|c| {
            cache.claim_users(&key(
                c.metadata.namespace.as_deref().unwrap_or(""),
                c.metadata.name.as_deref().unwrap_or(""),
            ))
        })
        .filter(|u| u.as_str() != pod_uid)
        .cloned()
        .collect();
    users.sort();
    users.dedup();
    users
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::Pod;
    use serde_json::json;

    use super::*;

    fn pod(name: &str, claim: &str) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "ns", "uid": name},
            "spec": {"containers": [], "volumes": [
                {"name": "v", "persistentVolumeClaim": {"claimName": claim}}]}
        }))
        .expect("pod")
    }

    fn claim(name: &str, mode: &str) -> Arc<PersistentVolumeClaim> {
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": name, "namespace": "ns"},
                "spec": {"accessModes": [mode]}
            }))
            .expect("claim"),
        )
    }

    #[test]
    fn a_read_write_once_pod_claim_has_one_user() {
        let mut c = Cache::default();
        c.set_node(serde_json::from_value(json!({"metadata": {"name": "n"}})).expect("node"));
        c.place("a", "n", &pod("a", "solo"));
        c.place("b", "n", &pod("b", "shared"));
        let solo = [claim("solo", "ReadWriteOncePod")];
        assert_eq!(conflicting_pods("x", &solo, &c), vec!["a".to_string()]);
        // The pod itself is no conflict (it is being rescheduled).
        assert!(conflicting_pods("a", &solo, &c).is_empty());
        // ReadWriteOnce claims may be shared by pods.
        let shared = [claim("shared", "ReadWriteOnce")];
        assert!(conflicting_pods("x", &shared, &c).is_empty());
        // Once the user is gone (deleted or terminated), the claim is free.
        c.remove_pod("a");
        assert!(conflicting_pods("x", &solo, &c).is_empty());
    }
}
