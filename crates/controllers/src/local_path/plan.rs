//! What the local-path provisioner does with one claim, without I/O: the
//! PersistentVolume to create on the selected node, or why it refuses
//! (k3s's local-path-provisioner, with external-provisioner's events).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Node, PersistentVolume, PersistentVolumeClaim};
use k8s_openapi::api::storage::v1::{CSIStorageCapacity, StorageClass};
use rkube_apimachinery::matching::label_selector_matches;
use rkube_apimachinery::storage::{
    storage_bytes, waits_for_first_consumer, LOCAL_PATH_CLEANUP_FINALIZER, LOCAL_PATH_PROVISIONER,
    LOCAL_PATH_ROOT, PROVISIONED_BY, SELECTED_NODE,
};
use serde_json::json;

/// Where the volumes of simulated nodes (which publish no root) claim to
/// live; no directory is made for them anywhere.
pub(super) const SIM_ROOT: &str = "/var/lib/rkube/sim-local-path";
/// The access modes a directory on one node can offer.
const OFFERED: [&str; 2] = ["ReadWriteOnce", "ReadWriteOncePod"];
const HOSTNAME_LABEL: &str = "kubernetes.io/hostname";

#[derive(Debug)]
pub(super) enum Plan {
    /// Create this volume.
    Create(Box<PersistentVolume>),
    /// Refuse, with the reason (the event's message adds the class).
    Refuse(String),
    /// Not ours or not yet (no node selected).
    Wait,
}

/// The name of the volume provisioned for `claim`.
pub(super) fn volume_name(claim: &PersistentVolumeClaim) -> String {
    format!("pvc-{}", claim.metadata.uid.as_deref().unwrap_or_default())
}

fn selected_node(claim: &PersistentVolumeClaim) -> Option<&str> {
    claim
        .metadata
        .annotations
        .as_ref()?
        .get(SELECTED_NODE)
        .map(String::as_str)
}

/// The free space published for `class` on `node` (the largest of the
/// CSIStorageCapacity objects whose topology selects the node), as bytes
/// and as written.
fn free_space(
    class: &str,
    node: &Node,
    capacities: &[&CSIStorageCapacity],
) -> Option<(i128, String)> {
    capacities
        .iter()
        .filter(|c| c.storage_class_name == class)
        .filter(|c| {
            c.node_topology
                .as_ref()
                .is_some_and(|t| label_selector_matches(Some(t), node.metadata.labels.as_ref()))
        })
        .filter_map(|c| {
            let q = c.capacity.as_ref()?;
            let mut m = BTreeMap::new();
            m.insert("storage".to_string(), q.clone());
            Some((storage_bytes(Some(&m))?, q.0.clone()))
        })
        .max_by_key(|(b, _)| *b)
}

/// The plan for `claim` of `class` (a local-path class); `node` is the
/// selected node if it exists.
pub(super) fn plan(
    claim: &PersistentVolumeClaim,
    class: &StorageClass,
    node: Option<&Node>,
    capacities: &[&CSIStorageCapacity],
) -> Plan {
    if !waits_for_first_consumer(class) {
        return Plan::Refuse(
            "configuration error, no node was specified: the local-path provisioner needs a \
             StorageClass with volumeBindingMode WaitForFirstConsumer"
                .into(),
        );
    }
    let Some(node_name) = selected_node(claim) else {
        return Plan::Wait;
    };
    let Some(node) = node else {
        return Plan::Refuse(format!("node \"{node_name}\" not found"));
    };
    let spec = claim.spec.clone().unwrap_or_default();
    let modes = spec.access_modes.clone().unwrap_or_default();
    let refused: Vec<&str> = modes
        .iter()
        .map(String::as_str)
        .filter(|m| !OFFERED.contains(m))
        .collect();
    if !refused.is_empty() {
        return Plan::Refuse(format!(
            "access modes [{}] are not offered: the local-path provisioner offers only \
             ReadWriteOnce and ReadWriteOncePod (a directory on one node)",
            refused.join(", ")
        ));
    }
    let requests = spec.resources.as_ref().and_then(|r| r.requests.as_ref());
    let Some(request) = requests.and_then(|r| r.get("storage")).cloned() else {
        return Plan::Refuse("the claim requests no storage".into());
    };
    let wanted = storage_bytes(requests).unwrap_or(0);
    let class_name = class.metadata.name.as_deref().unwrap_or_default();
    if let Some((free, free_q)) = free_space(class_name, node, capacities) {
        if wanted > free {
            return Plan::Refuse(format!(
                "requested {} but node \"{node_name}\" has only {free_q} free",
                request.0
            ));
        }
    }
    let name = volume_name(claim);
    let root = node
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(LOCAL_PATH_ROOT))
        .filter(|r| !r.is_empty());
    let (path, finalizers) = match root {
        Some(r) => (
            format!("{}/{name}", r.trim_end_matches('/')),
            json!([LOCAL_PATH_CLEANUP_FINALIZER]),
        ),
        None => (format!("{SIM_ROOT}/{name}"), json!(null)),
    };
    let hostname = node
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(HOSTNAME_LABEL))
        .map(String::as_str)
        .unwrap_or(node_name);
    let v = json!({
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {
            "name": name,
            "annotations": {PROVISIONED_BY: LOCAL_PATH_PROVISIONER},
            "finalizers": finalizers,
        },
        "spec": {
            "capacity": {"storage": request},
            "accessModes": modes,
            "persistentVolumeReclaimPolicy": class.reclaim_policy.as_deref().unwrap_or("Delete"),
            "storageClassName": class_name,
            "mountOptions": class.mount_options,
            "volumeMode": spec.volume_mode.as_deref().unwrap_or("Filesystem"),
            "claimRef": {
                "apiVersion": "v1", "kind": "PersistentVolumeClaim",
                "namespace": claim.metadata.namespace, "name": claim.metadata.name,
                "uid": claim.metadata.uid, "resourceVersion": claim.metadata.resource_version,
            },
            "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                {"key": HOSTNAME_LABEL, "operator": "In", "values": [hostname]}]}]}},
            "hostPath": {"path": path, "type": "DirectoryOrCreate"},
        },
    });
    match serde_json::from_value(v) {
        Ok(pv) => Plan::Create(Box::new(pv)),
        Err(e) => Plan::Refuse(format!("cannot build the volume: {e}")),
    }
}
