//! kube-scheduler's VolumeBinding plugin: a pod's claims decide where it
//! may run, and for claims of a WaitForFirstConsumer class the scheduler's
//! choice of node decides which volume they get.
//!
//! - PreFilter ([`pre_filter`]): every claim must exist and not be being
//!   deleted; a claim of an Immediate class must already be bound (the PV
//!   controller binds those).
//! - Filter ([`filter`], per node): a bound claim's volume must allow the
//!   node (its node affinity); an unbound WaitForFirstConsumer claim needs
//!   an Available volume that fits on the node
//!   (`rkube_apimachinery::matching::find_matching_volume`, the PV
//!   controller's own matcher) or else a class that can provision there
//!   (a provisioner, allowed topologies, and CSIStorageCapacity when the
//!   class publishes any).
//! - Reserve ([`assume`]): the chosen volumes get their `claimRef`, the
//!   claims to provision the `volume.kubernetes.io/selected-node`
//!   annotation, in the assume cache first (so the next pod does not get
//!   them) and then through the API (the scheduler's binding task).
//! - PreBind ([`check_bindings`]): the pod is bound to its node only once
//!   its claims are: the scheduler waits (asynchronously) for the PV
//!   controller and the provisioner.
//!
//! Pods without claims never come here.

use std::sync::Arc;

use k8s_openapi::api::core::v1::{
    Node, ObjectReference, PersistentVolume, PersistentVolumeClaim, Pod,
};
use k8s_openapi::api::storage::v1::StorageClass;
use rkube_apimachinery::matching::{
    find_matching_volume, label_selector_matches, volume_bound_to_claim,
    volume_node_affinity_matches,
};
use rkube_apimachinery::quantity::parse_milli;
use rkube_apimachinery::storage::{
    claim_class, storage_bytes, volume_class, waits_for_first_consumer, BIND_COMPLETED,
    BOUND_BY_CONTROLLER, SELECTED_NODE,
};

use crate::filter::Reason;
use crate::volume_cache::{key, pod_claims, VolumeCache};

/// Filter reasons, as kube-scheduler words them.
pub const NODE_CONFLICT: &str = "node(s) had volume node affinity conflict";
pub const BIND_CONFLICT: &str = "node(s) didn't find available persistent volumes to bind";
pub const NOT_ENOUGH_SPACE: &str = "node(s) did not have enough free storage";
pub const PV_NOT_EXIST: &str =
    "node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)";
/// PreFilter: an unbound claim of an Immediate class.
pub const UNBOUND_IMMEDIATE: &str = "pod has unbound immediate PersistentVolumeClaims";

/// The provisioner Kubernetes uses for classes that cannot provision.
const NO_PROVISIONER: &str = "kubernetes.io/no-provisioner";

/// A pod's claims, sorted out by PreFilter.
#[derive(Debug, Default)]
pub struct Claims {
    /// Every claim of the pod (VolumeRestrictions reads their modes).
    pub all: Vec<Arc<PersistentVolumeClaim>>,
    /// Bound claims: their volumes must allow the node.
    pub bound: Vec<Arc<PersistentVolumeClaim>>,
    /// Unbound claims of WaitForFirstConsumer classes, smallest request
    /// first (kube-scheduler matches them in that order).
    pub delayed: Vec<Arc<PersistentVolumeClaim>>,
    /// The volumes a delayed claim could bind to (pre-bound to one of them,
    /// or free and of its class): looked up once per pod, not per node.
    candidates: Vec<Arc<PersistentVolume>>,
}

/// What the chosen node needs done for the pod's unbound claims.
#[derive(Debug, Default)]
pub struct Decisions {
    /// A claim and the existing volume it gets.
    pub static_bindings: Vec<(Arc<PersistentVolumeClaim>, Arc<PersistentVolume>)>,
    /// Claims the provisioner makes a volume for on the node.
    pub provisions: Vec<Arc<PersistentVolumeClaim>>,
}

impl Decisions {
    fn is_empty(&self) -> bool {
        self.static_bindings.is_empty() && self.provisions.is_empty()
    }
}

/// A claim "fully bound": `spec.volumeName` set and the PV controller done
/// with it (its `bind-completed` annotation, or phase Bound).
pub fn is_fully_bound(claim: &PersistentVolumeClaim) -> bool {
    let named = claim
        .spec
        .as_ref()
        .and_then(|s| s.volume_name.as_deref())
        .is_some_and(|v| !v.is_empty());
    let completed = claim
        .metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(BIND_COMPLETED))
        || claim.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Bound");
    named && completed
}

fn requested(claim: &PersistentVolumeClaim) -> i128 {
    storage_bytes(
        claim
            .spec
            .as_ref()
            .and_then(|s| s.resources.as_ref())
            .and_then(|r| r.requests.as_ref()),
    )
    .unwrap_or(0)
}

fn name_of(claim: &PersistentVolumeClaim) -> &str {
    claim.metadata.name.as_deref().unwrap_or("")
}

/// Whether binding `claim` waits for a pod: its class is
/// WaitForFirstConsumer. A class named but missing is an error.
fn delay_binding(claim: &PersistentVolumeClaim, cache: &VolumeCache) -> Result<bool, Reason> {
    let class = claim_class(claim).unwrap_or("");
    if class.is_empty() {
        return Ok(false);
    }
    match cache.class(class) {
        Some(c) => Ok(waits_for_first_consumer(c)),
        None => Err(format!("storageclass.storage.k8s.io \"{class}\" not found")),
    }
}

/// PreFilter: `Ok(None)` for a pod without claims; the refusal for every
/// node when a claim is missing, being deleted or an unbound Immediate one.
pub fn pre_filter(pod: &Pod, cache: &VolumeCache) -> Result<Option<Claims>, Reason> {
    let names = pod_claims(pod);
    if names.is_empty() {
        return Ok(None);
    }
    let ns = pod.metadata.namespace.as_deref().unwrap_or("");
    let pod_uid = pod.metadata.uid.as_deref().unwrap_or("");
    let mut claims = Claims::default();
    let mut unbound_immediate = false;
    for c in names {
        let Some(claim) = cache.claim(&key(ns, &c.name)) else {
            return Err(if c.ephemeral {
                format!(
                    "waiting for ephemeral volume controller to create the persistentvolumeclaim \"{}\"",
                    c.name
                )
            } else {
                format!("persistentvolumeclaim \"{}\" not found", c.name)
            });
        };
        if claim.metadata.deletion_timestamp.is_some() {
            return Err(format!(
                "persistentvolumeclaim \"{}\" is being deleted",
                c.name
            ));
        }
        if c.ephemeral {
            let owned = claim
                .metadata
                .owner_references
                .iter()
                .flatten()
                .any(|o| o.controller == Some(true) && o.kind == "Pod" && o.uid == pod_uid);
            if !owned {
                return Err(format!(
                    "PVC {ns}/{} was not created for pod {ns}/{} (pod is not owner)",
                    c.name,
                    pod.metadata.name.as_deref().unwrap_or("")
                ));
            }
        }
        claims.all.push(claim.clone());
        if is_fully_bound(claim) {
            claims.bound.push(claim.clone());
        } else if delay_binding(claim, cache)? {
            claims.delayed.push(claim.clone());
        } else {
            unbound_immediate = true;
        }
    }
    if unbound_immediate {
        return Err(UNBOUND_IMMEDIATE.into());
    }
    claims.delayed.sort_by_key(|c| requested(c));
    if !claims.delayed.is_empty() {
        claims.candidates = cache
            .volumes()
            .filter(|v| {
                claims.delayed.iter().any(|c| {
                    volume_bound_to_claim(v, c)
                        || (v.spec.as_ref().and_then(|s| s.claim_ref.as_ref()).is_none()
                            && volume_class(v) == claim_class(c).unwrap_or(""))
                })
            })
            .cloned()
            .collect();
    }
    Ok(Some(claims))
}

/// Filter: whether the pod's claims allow `node`, and if so what binding
/// them there takes.
pub fn filter(claims: &Claims, node: &Node, cache: &VolumeCache) -> Result<Decisions, Reason> {
    for claim in &claims.bound {
        let volume = claim
            .spec
            .as_ref()
            .and_then(|s| s.volume_name.as_deref())
            .unwrap_or("");
        match cache.volume(volume) {
            None => return Err(PV_NOT_EXIST.into()),
            Some(v) if !volume_node_affinity_matches(v, node) => return Err(NODE_CONFLICT.into()),
            Some(_) => {}
        }
    }
    let mut decisions = Decisions::default();
    for claim in &claims.delayed {
        let free: Vec<&PersistentVolume> = claims
            .candidates
            .iter()
            .filter(|v| {
                !decisions
                    .static_bindings
                    .iter()
                    .any(|(_, chosen)| chosen.metadata.name == v.metadata.name)
            })
            .map(Arc::as_ref)
            .collect();
        if let Some(v) = find_matching_volume(claim, &free, Some(node), true) {
            let chosen = claims
                .candidates
                .iter()
                .find(|c| c.metadata.name == v.metadata.name)
                .cloned();
            if let Some(chosen) = chosen {
                decisions.static_bindings.push((claim.clone(), chosen));
                continue;
            }
        }
        let class = claim_class(claim).and_then(|c| cache.class(c));
        let Some(class) = class else {
            return Err(BIND_CONFLICT.into());
        };
        if !can_provision(class, node) {
            return Err(BIND_CONFLICT.into());
        }
        if !has_capacity(claim, class, node, cache) {
            return Err(NOT_ENOUGH_SPACE.into());
        }
        decisions.provisions.push(claim.clone());
    }
    Ok(decisions)
}

/// The class has a provisioner and its allowed topologies include `node`.
fn can_provision(class: &StorageClass, node: &Node) -> bool {
    if class.provisioner.is_empty() || class.provisioner == NO_PROVISIONER {
        return false;
    }
    let Some(terms) = class.allowed_topologies.as_ref().filter(|t| !t.is_empty()) else {
        return true;
    };
    let labels = node.metadata.labels.as_ref();
    terms.iter().any(|term| {
        term.match_label_expressions.iter().flatten().all(|e| {
            labels
                .and_then(|l| l.get(&e.key))
                .is_some_and(|v| e.values.contains(v))
        })
    })
}

/// When the class publishes CSIStorageCapacity objects, one whose topology
/// selects `node` has room for the claim (its `maximumVolumeSize`, else
/// its `capacity`). A class that publishes none is not tracked.
fn has_capacity(
    claim: &PersistentVolumeClaim,
    class: &StorageClass,
    node: &Node,
    cache: &VolumeCache,
) -> bool {
    let class_name = class.metadata.name.as_deref().unwrap_or("");
    let mut tracked = false;
    let want = requested(claim);
    for c in cache.capacities_of(class_name) {
        tracked = true;
        if !label_selector_matches(c.node_topology.as_ref(), node.metadata.labels.as_ref()) {
            continue;
        }
        let limit = c.maximum_volume_size.as_ref().or(c.capacity.as_ref());
        let bytes = limit.and_then(|q| parse_milli(&q.0)).map(|m| m / 1000);
        if bytes.is_some_and(|b| b >= want) {
            return true;
        }
    }
    !tracked
}

/// What the binding task writes and then waits for.
#[derive(Debug)]
pub struct Reserved {
    pub node: String,
    /// The node itself (its labels, for the volumes' node affinity).
    pub node_object: Arc<Node>,
    /// Volumes with their new `claimRef`: written with `replace` (the
    /// resourceVersion they were read with guards against a race).
    pub volumes: Vec<PersistentVolume>,
    /// Claims with the `selected-node` annotation.
    pub claims: Vec<PersistentVolumeClaim>,
    /// Keys of the claims bound statically, with their volume's name.
    pub static_claims: Vec<(String, String)>,
    /// Keys of the claims to provision.
    pub provision_claims: Vec<String>,
}

/// Reserve: assumes the decisions for `node` in the cache and returns
/// what the API must be told; `None` when every claim was bound already.
pub fn assume(decisions: Decisions, node: &Arc<Node>, cache: &mut VolumeCache) -> Option<Reserved> {
    if decisions.is_empty() {
        return None;
    }
    let name = node.metadata.name.clone().unwrap_or_default();
    let mut r = Reserved {
        node: name.clone(),
        node_object: node.clone(),
        volumes: Vec::new(),
        claims: Vec::new(),
        static_claims: Vec::new(),
        provision_claims: Vec::new(),
    };
    for (claim, volume) in decisions.static_bindings {
        let ns = claim.metadata.namespace.clone().unwrap_or_default();
        let mut v = volume.as_ref().clone();
        if !volume_bound_to_claim(&v, &claim)
            || v.spec
                .as_ref()
                .and_then(|s| s.claim_ref.as_ref())
                .is_some_and(|r| r.uid.is_none())
        {
            let spec = v.spec.get_or_insert_with(Default::default);
            spec.claim_ref = Some(ObjectReference {
                api_version: Some("v1".into()),
                kind: Some("PersistentVolumeClaim".into()),
                name: claim.metadata.name.clone(),
                namespace: Some(ns.clone()),
                uid: claim.metadata.uid.clone(),
                resource_version: claim.metadata.resource_version.clone(),
                ..ObjectReference::default()
            });
            v.metadata
                .annotations
                .get_or_insert_with(Default::default)
                .insert(BOUND_BY_CONTROLLER.into(), "yes".into());
            cache.assume_volume(v.clone());
            r.volumes.push(v);
        }
        r.static_claims.push((
            key(&ns, name_of(&claim)),
            volume.metadata.name.clone().unwrap_or_default(),
        ));
    }
    for claim in decisions.provisions {
        let ns = claim.metadata.namespace.clone().unwrap_or_default();
        let mut c = claim.as_ref().clone();
        c.metadata
            .annotations
            .get_or_insert_with(Default::default)
            .insert(SELECTED_NODE.into(), name.clone());
        cache.assume_claim(c.clone());
        r.claims.push(c);
        r.provision_claims.push(key(&ns, name_of(&claim)));
    }
    Some(r)
}

/// Unreserve: the cache forgets what [`assume`] assumed.
pub fn unreserve(reserved: &Reserved, cache: &mut VolumeCache) {
    for v in &reserved.volumes {
        cache.restore_volume(v.metadata.name.as_deref().unwrap_or(""));
    }
    for c in &reserved.claims {
        cache.restore_claim(&key(
            c.metadata.namespace.as_deref().unwrap_or(""),
            name_of(c),
        ));
    }
}

/// PreBind's wait: `Ok(true)` once every reserved claim is bound to a
/// volume that allows the node, `Ok(false)` while they are not yet, and
/// the error when binding them there can no longer succeed (the pod is
/// then scheduled again).
pub fn check_bindings(reserved: &Reserved, cache: &VolumeCache) -> Result<bool, String> {
    let mut done = true;
    for (claim_key, volume) in &reserved.static_claims {
        let Some(claim) = cache.claim(claim_key) else {
            return Err(format!("persistentvolumeclaim {claim_key:?} not found"));
        };
        let Some(v) = cache.volume(volume) else {
            return Err(format!("persistentvolume {volume:?} not found"));
        };
        if !volume_bound_to_claim(v, claim) {
            return Err(format!("pv {volume:?} was unbound"));
        }
        done &= claim_done(claim, &reserved.node_object, cache)?;
    }
    for claim_key in &reserved.provision_claims {
        let Some(claim) = cache.claim(claim_key) else {
            return Err(format!("persistentvolumeclaim {claim_key:?} not found"));
        };
        let selected = claim
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(SELECTED_NODE));
        if !is_fully_bound(claim) && selected.map(String::as_str) != Some(&reserved.node) {
            return Err(format!(
                "selectedNode annotation reset for PVC {:?}",
                name_of(claim)
            ));
        }
        done &= claim_done(claim, &reserved.node_object, cache)?;
    }
    Ok(done)
}

fn claim_done(
    claim: &PersistentVolumeClaim,
    node: &Node,
    cache: &VolumeCache,
) -> Result<bool, String> {
    if !is_fully_bound(claim) {
        return Ok(false);
    }
    let volume = claim
        .spec
        .as_ref()
        .and_then(|s| s.volume_name.as_deref())
        .unwrap_or("");
    let Some(v) = cache.volume(volume) else {
        return Ok(false);
    };
    if !volume_node_affinity_matches(v, node) {
        return Err(format!(
            "pv {volume:?} node affinity doesn't match node {:?}",
            node.metadata.name.as_deref().unwrap_or("")
        ));
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;

    fn node(name: &str, zone: &str) -> Arc<Node> {
        Arc::new(
            serde_json::from_value(json!({"metadata": {"name": name,
                "labels": {"kubernetes.io/hostname": name, "zone": zone}}}))
            .expect("node"),
        )
    }

    fn pod(claims: &[&str]) -> Pod {
        let volumes: Vec<Value> = claims
            .iter()
            .map(|c| json!({"name": c, "persistentVolumeClaim": {"claimName": c}}))
            .collect();
        serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "ns", "uid": "pod-uid"},
            "spec": {"containers": [{"name": "c"}], "volumes": volumes}
        }))
        .expect("pod")
    }

    fn claim(name: &str, class: &str, extra: Value) -> PersistentVolumeClaim {
        let mut v = json!({
            "metadata": {"name": name, "namespace": "ns", "uid": format!("uid-{name}"), "resourceVersion": "1"},
            "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": class,
                     "resources": {"requests": {"storage": "1Gi"}}}
        });
        merge(&mut v, extra);
        serde_json::from_value(v).expect("claim")
    }

    fn bound(name: &str, volume: &str) -> PersistentVolumeClaim {
        claim(
            name,
            "",
            json!({"metadata": {"annotations": {BIND_COMPLETED: "yes"}},
                   "spec": {"volumeName": volume}, "status": {"phase": "Bound"}}),
        )
    }

    fn pv(name: &str, class: &str, on: Option<&str>, extra: Value) -> PersistentVolume {
        let mut v = json!({
            "metadata": {"name": name, "resourceVersion": "1"},
            "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                     "storageClassName": class, "hostPath": {"path": "/x"}},
            "status": {"phase": "Available"}
        });
        if let Some(n) = on {
            merge(
                &mut v,
                json!({"spec": {"nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                    {"key": "kubernetes.io/hostname", "operator": "In", "values": [n]}]}]}}}}),
            );
        }
        merge(&mut v, extra);
        serde_json::from_value(v).expect("pv")
    }

    fn class(name: &str, provisioner: &str, mode: &str) -> StorageClass {
        serde_json::from_value(
            json!({"metadata": {"name": name}, "provisioner": provisioner,
            "volumeBindingMode": mode}),
        )
        .expect("class")
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

    fn cache() -> VolumeCache {
        let mut c = VolumeCache::default();
        c.set_class(class("wait", "rkube.io/local-path", "WaitForFirstConsumer"));
        c.set_class(class("now", "rkube.io/local-path", "Immediate"));
        c.set_class(class("manual", NO_PROVISIONER, "WaitForFirstConsumer"));
        c
    }

    fn refusal(p: &Pod, c: &VolumeCache) -> String {
        match pre_filter(p, c) {
            Err(r) => r,
            Ok(_) => panic!("pre_filter accepted the pod"),
        }
    }

    fn on(claims: &Claims, n: &Arc<Node>, c: &VolumeCache) -> Result<Decisions, Reason> {
        filter(claims, n, c)
    }

    fn claims_of(p: &Pod, c: &VolumeCache) -> Claims {
        pre_filter(p, c).expect("pre_filter").expect("claims")
    }

    #[test]
    fn pods_without_claims_pass_untouched() {
        let p: Pod = serde_json::from_value(json!({"metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c"}]}}))
        .expect("pod");
        assert!(matches!(pre_filter(&p, &cache()), Ok(None)));
    }

    #[test]
    fn pre_filter_refuses_missing_deleted_and_unbound_immediate_claims() {
        let mut c = cache();
        assert_eq!(
            refusal(&pod(&["data"]), &c),
            "persistentvolumeclaim \"data\" not found"
        );
        c.set_claim(claim(
            "data",
            "wait",
            json!({"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"}}),
        ));
        assert_eq!(
            refusal(&pod(&["data"]), &c),
            "persistentvolumeclaim \"data\" is being deleted"
        );
        c.set_claim(claim("data", "now", json!({})));
        assert_eq!(refusal(&pod(&["data"]), &c), UNBOUND_IMMEDIATE);
        // No class at all: Immediate too.
        c.set_claim(claim("data", "", json!({})));
        assert_eq!(refusal(&pod(&["data"]), &c), UNBOUND_IMMEDIATE);
        c.set_claim(claim("data", "nosuch", json!({})));
        assert_eq!(
            refusal(&pod(&["data"]), &c),
            "storageclass.storage.k8s.io \"nosuch\" not found"
        );
        c.set_claim(claim("data", "wait", json!({})));
        let claims = claims_of(&pod(&["data"]), &c);
        assert_eq!((claims.delayed.len(), claims.bound.len()), (1, 0));
    }

    #[test]
    fn a_bound_claims_volume_must_allow_the_node() {
        let mut c = cache();
        c.set_claim(bound("data", "v1"));
        let claims = claims_of(&pod(&["data"]), &c);
        let (n1, n2) = (node("n1", "a"), node("n2", "b"));
        assert_eq!(on(&claims, &n1, &c).err().as_deref(), Some(PV_NOT_EXIST));
        c.set_volume(pv(
            "v1",
            "",
            Some("n1"),
            json!({"status": {"phase": "Bound"}}),
        ));
        assert!(on(&claims, &n1, &c).is_ok_and(|d| d.is_empty()));
        assert_eq!(on(&claims, &n2, &c).err().as_deref(), Some(NODE_CONFLICT));
    }

    #[test]
    fn a_waiting_claim_takes_a_static_volume_on_its_node_or_is_provisioned() {
        let mut c = cache();
        c.set_claim(claim("data", "manual", json!({})));
        let (n1, n2) = (node("n1", "a"), node("n2", "b"));
        // No volume, no provisioner.
        let claims = claims_of(&pod(&["data"]), &c);
        assert_eq!(on(&claims, &n1, &c).err().as_deref(), Some(BIND_CONFLICT));
        // A static volume on n1 only.
        c.set_volume(pv("local-n1", "manual", Some("n1"), json!({})));
        let claims = claims_of(&pod(&["data"]), &c);
        let d = on(&claims, &n1, &c).expect("n1 fits");
        assert_eq!(d.static_bindings.len(), 1);
        assert_eq!(
            d.static_bindings[0].1.metadata.name.as_deref(),
            Some("local-n1")
        );
        assert_eq!(on(&claims, &n2, &c).err().as_deref(), Some(BIND_CONFLICT));
        // A provisioning class fits everywhere.
        c.set_claim(claim("data", "wait", json!({})));
        let claims = claims_of(&pod(&["data"]), &c);
        let d = on(&claims, &n2, &c).expect("n2 fits");
        assert_eq!((d.static_bindings.len(), d.provisions.len()), (0, 1));
    }

    #[test]
    fn two_claims_of_a_pod_never_share_a_volume() {
        let mut c = cache();
        c.set_claim(claim("a", "manual", json!({})));
        c.set_claim(claim("b", "manual", json!({})));
        c.set_volume(pv("only", "manual", Some("n1"), json!({})));
        let claims = claims_of(&pod(&["a", "b"]), &c);
        assert_eq!(
            on(&claims, &node("n1", "a"), &c).err().as_deref(),
            Some(BIND_CONFLICT)
        );
        c.set_volume(pv("second", "manual", Some("n1"), json!({})));
        let claims = claims_of(&pod(&["a", "b"]), &c);
        let d = on(&claims, &node("n1", "a"), &c).expect("fits");
        assert_eq!(d.static_bindings.len(), 2);
    }

    #[test]
    fn published_capacity_must_cover_the_request_on_the_node() {
        let mut c = cache();
        c.set_claim(claim(
            "data",
            "wait",
            json!({"spec": {"resources": {"requests": {"storage": "5Gi"}}}}),
        ));
        let (n1, n2) = (node("n1", "a"), node("n2", "b"));
        let capacity = |name: &str,
                        zone: &str,
                        size: &str|
         -> k8s_openapi::api::storage::v1::CSIStorageCapacity {
            serde_json::from_value(
                json!({"metadata": {"name": name, "namespace": "kube-system"},
                "storageClassName": "wait", "capacity": size,
                "nodeTopology": {"matchLabels": {"zone": zone}}}),
            )
            .expect("capacity")
        };
        c.set_capacity(capacity("a", "a", "1Gi"));
        let claims = claims_of(&pod(&["data"]), &c);
        assert_eq!(
            on(&claims, &n1, &c).err().as_deref(),
            Some(NOT_ENOUGH_SPACE)
        );
        // Tracked, and nothing published for zone b.
        assert_eq!(
            on(&claims, &n2, &c).err().as_deref(),
            Some(NOT_ENOUGH_SPACE)
        );
        c.set_capacity(capacity("b", "b", "10Gi"));
        assert!(on(&claims, &n2, &c).is_ok());
        assert!(on(&claims, &n1, &c).is_err());
    }

    #[test]
    fn allowed_topologies_limit_provisioning() {
        let mut c = cache();
        c.set_class(
            serde_json::from_value(json!({"metadata": {"name": "zonal"}, "provisioner": "p",
                "volumeBindingMode": "WaitForFirstConsumer",
                "allowedTopologies": [{"matchLabelExpressions": [{"key": "zone", "values": ["a"]}]}]}))
            .expect("class"),
        );
        c.set_claim(claim("data", "zonal", json!({})));
        let claims = claims_of(&pod(&["data"]), &c);
        assert!(on(&claims, &node("n1", "a"), &c).is_ok());
        assert_eq!(
            on(&claims, &node("n2", "b"), &c).err().as_deref(),
            Some(BIND_CONFLICT)
        );
    }

    #[test]
    fn a_volume_assumed_for_one_pod_is_not_offered_to_the_next() {
        let mut c = cache();
        c.set_claim(claim("a", "manual", json!({})));
        c.set_claim(claim("b", "manual", json!({})));
        c.set_volume(pv("only", "manual", Some("n1"), json!({})));
        let n1 = node("n1", "a");
        let first = claims_of(&pod(&["a"]), &c);
        let d = on(&first, &n1, &c).expect("fits");
        let r = assume(d, &n1, &mut c).expect("something to bind");
        // The volume as the API will be told: claimRef and the annotation.
        let written = &r.volumes[0];
        let cref = written
            .spec
            .as_ref()
            .and_then(|s| s.claim_ref.as_ref())
            .expect("claimRef");
        assert_eq!(
            (
                cref.name.as_deref(),
                cref.namespace.as_deref(),
                cref.uid.as_deref()
            ),
            (Some("a"), Some("ns"), Some("uid-a"))
        );
        assert_eq!(
            written
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(BOUND_BY_CONTROLLER))
                .map(String::as_str),
            Some("yes")
        );
        assert!(r.claims.is_empty());
        // The next pod's claim finds nothing.
        let second = claims_of(&pod(&["b"]), &c);
        assert_eq!(on(&second, &n1, &c).err().as_deref(), Some(BIND_CONFLICT));
        // Unreserved, the volume is free again.
        unreserve(&r, &mut c);
        let second = claims_of(&pod(&["b"]), &c);
        assert!(on(&second, &n1, &c).is_ok());
    }

    #[test]
    fn provisioning_selects_the_node_and_waits_for_the_binding() {
        let mut c = cache();
        c.set_claim(claim("data", "wait", json!({})));
        let n1 = node("n1", "a");
        let claims = claims_of(&pod(&["data"]), &c);
        let r = assume(on(&claims, &n1, &c).expect("fits"), &n1, &mut c).expect("to bind");
        let selected = |c: &PersistentVolumeClaim| {
            c.metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(SELECTED_NODE))
                .cloned()
        };
        assert_eq!(selected(&r.claims[0]).as_deref(), Some("n1"));
        assert_eq!(
            c.claim("ns/data").and_then(|c| selected(c)).as_deref(),
            Some("n1")
        );
        // Written, not bound yet: wait.
        let mut written = r.claims[0].clone();
        written.metadata.resource_version = Some("2".into());
        c.set_claim(written.clone());
        assert_eq!(check_bindings(&r, &c), Ok(false));
        // Bound by the PV controller, the volume not yet seen: wait.
        merge_claim(
            &mut written,
            json!({"metadata": {"annotations": {BIND_COMPLETED: "yes"}, "resourceVersion": "3"},
                   "spec": {"volumeName": "pvc-1"}, "status": {"phase": "Bound"}}),
        );
        c.set_claim(written.clone());
        assert_eq!(check_bindings(&r, &c), Ok(false));
        // The volume allows the node: done.
        c.set_volume(pv(
            "pvc-1",
            "wait",
            Some("n1"),
            json!({"status": {"phase": "Bound"}}),
        ));
        assert_eq!(check_bindings(&r, &c), Ok(true));
        // A volume on another node: the pod cannot go there.
        c.set_volume(pv(
            "pvc-1",
            "wait",
            Some("n2"),
            json!({"metadata": {"resourceVersion": "2"}}),
        ));
        assert!(check_bindings(&r, &c).is_err());
    }

    #[test]
    fn a_provisioner_resetting_the_selected_node_sends_the_pod_back() {
        let mut c = cache();
        c.set_claim(claim("data", "wait", json!({})));
        let n1 = node("n1", "a");
        let claims = claims_of(&pod(&["data"]), &c);
        let r = assume(on(&claims, &n1, &c).expect("fits"), &n1, &mut c).expect("to bind");
        // The provisioner gave up: the annotation is gone (a newer version).
        c.set_claim(claim(
            "data",
            "wait",
            json!({"metadata": {"resourceVersion": "5"}}),
        ));
        assert_eq!(
            check_bindings(&r, &c),
            Err("selectedNode annotation reset for PVC \"data\"".to_string())
        );
    }

    #[test]
    fn a_static_volume_taken_by_another_claim_sends_the_pod_back() {
        let mut c = cache();
        c.set_claim(claim("a", "manual", json!({})));
        c.set_volume(pv("only", "manual", Some("n1"), json!({})));
        let n1 = node("n1", "a");
        let claims = claims_of(&pod(&["a"]), &c);
        let r = assume(on(&claims, &n1, &c).expect("fits"), &n1, &mut c).expect("to bind");
        assert_eq!(check_bindings(&r, &c), Ok(false));
        c.set_volume(pv(
            "only",
            "manual",
            Some("n1"),
            json!({"metadata": {"resourceVersion": "9"},
                   "spec": {"claimRef": {"name": "other", "namespace": "ns"}}}),
        ));
        assert_eq!(
            check_bindings(&r, &c),
            Err("pv \"only\" was unbound".to_string())
        );
    }

    fn merge_claim(c: &mut PersistentVolumeClaim, extra: Value) {
        let mut v = serde_json::to_value(&*c).expect("claim");
        merge(&mut v, extra);
        *c = serde_json::from_value(v).expect("claim");
    }
}
