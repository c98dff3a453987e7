//! Which PersistentVolume a claim binds to: Kubernetes' `FindMatchingVolume`
//! and the PV controller's access-mode index, for both callers — the PV
//! controller (no node: claims of Immediate classes) and the scheduler's
//! volume binding (a node: WaitForFirstConsumer claims, and the node
//! affinity of volumes already bound).

use k8s_openapi::api::core::v1::{Node, PersistentVolume, PersistentVolumeClaim};

use crate::matching::{label_selector_matches, term_matches};
use crate::storage::{claim_class, storage_bytes, volume_class};

/// `volume.spec.claimRef` names `claim` (and, when the reference has a
/// UID, the same UID).
pub fn volume_bound_to_claim(volume: &PersistentVolume, claim: &PersistentVolumeClaim) -> bool {
    let Some(r) = volume.spec.as_ref().and_then(|s| s.claim_ref.as_ref()) else {
        return false;
    };
    if r.name != claim.metadata.name || r.namespace != claim.metadata.namespace {
        return false;
    }
    match (&r.uid, &claim.metadata.uid) {
        (Some(a), Some(b)) if !a.is_empty() => a == b,
        _ => true,
    }
}

/// The volume's required node affinity holds on `node` (a volume without
/// one fits every node).
pub fn volume_node_affinity_matches(volume: &PersistentVolume, node: &Node) -> bool {
    let Some(required) = volume
        .spec
        .as_ref()
        .and_then(|s| s.node_affinity.as_ref())
        .and_then(|a| a.required.as_ref())
    else {
        return true;
    };
    required
        .node_selector_terms
        .iter()
        .any(|t| term_matches(t, node))
}

fn volume_modes(volume: &PersistentVolume) -> &[String] {
    volume
        .spec
        .as_ref()
        .and_then(|s| s.access_modes.as_deref())
        .unwrap_or(&[])
}

fn claim_modes(claim: &PersistentVolumeClaim) -> &[String] {
    claim
        .spec
        .as_ref()
        .and_then(|s| s.access_modes.as_deref())
        .unwrap_or(&[])
}

/// Every access mode the claim asks for is one the volume offers.
pub fn access_modes_contain(volume: &PersistentVolume, claim: &PersistentVolumeClaim) -> bool {
    let offered = volume_modes(volume);
    claim_modes(claim).iter().all(|m| offered.contains(m))
}

fn volume_mode_of(mode: Option<&String>) -> &str {
    mode.map(String::as_str).unwrap_or("Filesystem")
}

/// Finds the volume for `claim` among `volumes`, as Kubernetes does:
///
/// - a volume pre-bound to the claim (`claimRef`) wins, unless its node
///   affinity rules out `node` (then nothing matches);
/// - otherwise the smallest Available volume of the claim's class whose
///   capacity, volume mode, labels (the claim's selector) and node affinity
///   fit, among the volumes with the fewest access modes that still
///   include all the claim's (the PV controller's index order);
/// - with `delay_binding` (a WaitForFirstConsumer class) and no `node`,
///   only a pre-bound volume matches: the scheduler binds the others once
///   it has chosen a node.
///
/// `node` is the scheduler's candidate, `None` for the PV controller.
pub fn find_matching_volume<'a>(
    claim: &PersistentVolumeClaim,
    volumes: &[&'a PersistentVolume],
    node: Option<&Node>,
    delay_binding: bool,
) -> Option<&'a PersistentVolume> {
    let spec = claim.spec.as_ref();
    let requested = storage_bytes(
        spec.and_then(|s| s.resources.as_ref())
            .and_then(|r| r.requests.as_ref()),
    )
    .unwrap_or(0);
    let class = claim_class(claim).unwrap_or("");
    let claim_mode = volume_mode_of(spec.and_then(|s| s.volume_mode.as_ref()));

    // The access-mode index: candidate volumes grouped by their set of
    // modes, the smallest sets (that still contain the claim's) first.
    let mut candidates: Vec<(usize, &'a PersistentVolume)> = volumes
        .iter()
        .filter(|v| access_modes_contain(v, claim))
        .map(|v| (volume_modes(v).len(), *v))
        .collect();
    // Pre-bound volumes are found whatever their modes (Kubernetes checks
    // them in every index bucket).
    let prebound = volumes.iter().find(|v| volume_bound_to_claim(v, claim));
    if let Some(v) = prebound {
        let capacity =
            storage_bytes(v.spec.as_ref().and_then(|s| s.capacity.as_ref())).unwrap_or(0);
        let mode = volume_mode_of(v.spec.as_ref().and_then(|s| s.volume_mode.as_ref()));
        if capacity >= requested && mode == claim_mode {
            if node.is_some_and(|n| !volume_node_affinity_matches(v, n)) {
                return None;
            }
            return Some(v);
        }
    }
    candidates.sort_by_key(|(n, _)| *n);
    let mut buckets: Vec<usize> = candidates.iter().map(|(n, _)| *n).collect();
    buckets.dedup();
    for bucket in buckets {
        let mut smallest: Option<(i128, &'a PersistentVolume)> = None;
        for (_, v) in candidates.iter().filter(|(n, _)| *n == bucket) {
            let vs = v.spec.as_ref();
            if vs.and_then(|s| s.claim_ref.as_ref()).is_some() {
                continue;
            }
            let capacity = storage_bytes(vs.and_then(|s| s.capacity.as_ref())).unwrap_or(0);
            if capacity < requested {
                continue;
            }
            if volume_mode_of(vs.and_then(|s| s.volume_mode.as_ref())) != claim_mode {
                continue;
            }
            if node.is_none() && delay_binding {
                continue;
            }
            let available = v.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Available");
            if !available {
                continue;
            }
            if let Some(selector) = spec.and_then(|s| s.selector.as_ref()) {
                if !label_selector_matches(Some(selector), v.metadata.labels.as_ref()) {
                    continue;
                }
            }
            if volume_class(v) != class {
                continue;
            }
            if node.is_some_and(|n| !volume_node_affinity_matches(v, n)) {
                continue;
            }
            if smallest.is_none_or(|(c, _)| capacity < c) {
                smallest = Some((capacity, v));
            }
        }
        if let Some((_, v)) = smallest {
            return Some(v);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn pv(name: &str, size: &str, modes: &[&str], extra: Value) -> PersistentVolume {
        let mut v = json!({
            "metadata": {"name": name},
            "spec": {"capacity": {"storage": size}, "accessModes": modes, "hostPath": {"path": "/x"}},
            "status": {"phase": "Available"}
        });
        merge(&mut v, extra);
        serde_json::from_value(v).expect("test pv")
    }

    fn pvc(size: &str, modes: &[&str], extra: Value) -> PersistentVolumeClaim {
        let mut v = json!({
            "metadata": {"name": "data", "namespace": "default", "uid": "u1"},
            "spec": {"accessModes": modes, "resources": {"requests": {"storage": size}}}
        });
        merge(&mut v, extra);
        serde_json::from_value(v).expect("test pvc")
    }

    fn merge(a: &mut Value, b: Value) {
        match (a, b) {
            (Value::Object(a), Value::Object(b)) => {
                for (k, v) in b {
                    merge(a.entry(k).or_insert(Value::Null), v);
                }
            }
            (a, b) => *a = b,
        }
    }

    fn node(name: &str, zone: &str) -> Node {
        serde_json::from_value(json!({"metadata": {"name": name, "labels": {"zone": zone}}}))
            .expect("test node")
    }

    fn name(v: Option<&PersistentVolume>) -> Option<&str> {
        v.and_then(|v| v.metadata.name.as_deref())
    }

    #[test]
    fn the_smallest_fitting_volume_of_the_class_is_chosen() {
        let big = pv("big", "10Gi", &["ReadWriteOnce"], json!({}));
        let small = pv("small", "2Gi", &["ReadWriteOnce"], json!({}));
        let tiny = pv("tiny", "500Mi", &["ReadWriteOnce"], json!({}));
        let other = pv(
            "other",
            "2Gi",
            &["ReadWriteOnce"],
            json!({"spec": {"storageClassName": "fast"}}),
        );
        let vols = [&big, &small, &tiny, &other];
        let claim = pvc(
            "1Gi",
            &["ReadWriteOnce"],
            json!({"spec": {"storageClassName": ""}}),
        );
        assert_eq!(
            name(find_matching_volume(&claim, &vols, None, false)),
            Some("small")
        );
        let fast = pvc(
            "1Gi",
            &["ReadWriteOnce"],
            json!({"spec": {"storageClassName": "fast"}}),
        );
        assert_eq!(
            name(find_matching_volume(&fast, &vols, None, false)),
            Some("other")
        );
    }

    #[test]
    fn volumes_with_fewer_access_modes_come_first() {
        let many = pv("many", "1Gi", &["ReadWriteOnce", "ReadOnlyMany"], json!({}));
        let one = pv("one", "5Gi", &["ReadWriteOnce"], json!({}));
        let claim = pvc("1Gi", &["ReadWriteOnce"], json!({}));
        assert_eq!(
            name(find_matching_volume(&claim, &[&many, &one], None, false)),
            Some("one")
        );
        let rox = pvc("1Gi", &["ReadOnlyMany"], json!({}));
        assert_eq!(
            name(find_matching_volume(&rox, &[&many, &one], None, false)),
            Some("many")
        );
    }

    #[test]
    fn a_prebound_volume_wins_unless_its_node_affinity_rules_the_node_out() {
        let affinity = json!({"spec": {
            "claimRef": {"name": "data", "namespace": "default"},
            "nodeAffinity": {"required": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}]}}
        }, "status": {"phase": "Bound"}});
        let mine = pv("mine", "1Gi", &["ReadWriteOnce"], affinity);
        let free = pv("free", "1Gi", &["ReadWriteOnce"], json!({}));
        let claim = pvc("1Gi", &["ReadWriteOnce"], json!({}));
        let vols = [&free, &mine];
        assert_eq!(
            name(find_matching_volume(&claim, &vols, None, false)),
            Some("mine")
        );
        assert_eq!(
            name(find_matching_volume(
                &claim,
                &vols,
                Some(&node("n1", "a")),
                true
            )),
            Some("mine")
        );
        assert_eq!(
            find_matching_volume(&claim, &vols, Some(&node("n2", "b")), true),
            None
        );
    }

    #[test]
    fn a_reference_to_another_claim_or_uid_is_not_a_match() {
        let theirs = pv(
            "theirs",
            "1Gi",
            &["ReadWriteOnce"],
            json!({"spec": {"claimRef": {"name": "other", "namespace": "default"}}}),
        );
        let stale = pv(
            "stale",
            "1Gi",
            &["ReadWriteOnce"],
            json!({"spec": {"claimRef": {"name": "data", "namespace": "default", "uid": "old"}}}),
        );
        let claim = pvc("1Gi", &["ReadWriteOnce"], json!({}));
        assert_eq!(
            find_matching_volume(&claim, &[&theirs, &stale], None, false),
            None
        );
    }

    #[test]
    fn delayed_binding_leaves_free_volumes_to_the_scheduler() {
        let free = pv(
            "free",
            "1Gi",
            &["ReadWriteOnce"],
            json!({"spec": {"nodeAffinity": {"required": {
            "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}]}}}}),
        );
        let claim = pvc("1Gi", &["ReadWriteOnce"], json!({}));
        assert_eq!(find_matching_volume(&claim, &[&free], None, true), None);
        assert_eq!(
            name(find_matching_volume(
                &claim,
                &[&free],
                Some(&node("n1", "a")),
                true
            )),
            Some("free")
        );
        assert_eq!(
            find_matching_volume(&claim, &[&free], Some(&node("n2", "a")), true),
            None
        );
    }

    #[test]
    fn selector_volume_mode_capacity_and_phase_filter() {
        let labelled = pv(
            "labelled",
            "1Gi",
            &["ReadWriteOnce"],
            json!({"metadata": {"labels": {"tier": "db"}}}),
        );
        let block = pv(
            "block",
            "1Gi",
            &["ReadWriteOnce"],
            json!({"spec": {"volumeMode": "Block"}}),
        );
        let released = pv(
            "released",
            "1Gi",
            &["ReadWriteOnce"],
            json!({"status": {"phase": "Released"}}),
        );
        let small = pv("small", "100Mi", &["ReadWriteOnce"], json!({}));
        let vols = [&labelled, &block, &released, &small];
        let claim = pvc(
            "1Gi",
            &["ReadWriteOnce"],
            json!({"spec": {"selector": {"matchLabels": {"tier": "db"}}}}),
        );
        assert_eq!(
            name(find_matching_volume(&claim, &vols, None, false)),
            Some("labelled")
        );
        let blockc = pvc(
            "1Gi",
            &["ReadWriteOnce"],
            json!({"spec": {"volumeMode": "Block"}}),
        );
        assert_eq!(
            name(find_matching_volume(&blockc, &vols, None, false)),
            Some("block")
        );
        let web = pvc(
            "1Gi",
            &["ReadWriteOnce"],
            json!({"spec": {"selector": {"matchLabels": {"tier": "web"}}}}),
        );
        assert_eq!(find_matching_volume(&web, &vols, None, false), None);
    }
}
