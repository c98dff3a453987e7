//! A stateful pod and its claims: the pod at an ordinal with its identity
//! (name, hostname, subdomain, labels) and volumes, the
//! PersistentVolumeClaims from the volumeClaimTemplates, and what `plan`
//! sees of a pod.

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use serde_json::json;

use super::plan::PodView;
use crate::framework::history::REVISION_HASH_LABEL;
use crate::framework::owner::owner_ref;
use crate::pods::{is_available, is_ready, is_terminal};

pub const POD_NAME_LABEL: &str = "statefulset.kubernetes.io/pod-name";
pub const POD_INDEX_LABEL: &str = "apps.kubernetes.io/pod-index";

pub(super) fn pod_view(pod: &Pod, min_ready: i32, now: Timestamp) -> PodView {
    let running = pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running");
    let running_ready = running && is_ready(pod);
    PodView {
        revision: pod
            .labels()
            .get(REVISION_HASH_LABEL)
            .cloned()
            .unwrap_or_default(),
        terminating: pod.metadata.deletion_timestamp.is_some(),
        finished: is_terminal(pod),
        running_ready,
        available: running_ready && is_available(pod, min_ready, now),
    }
}

/// The claims of the pod at `ord`, from the volumeClaimTemplates.
pub(super) fn claims(set: &StatefulSet, ord: i32) -> Vec<PersistentVolumeClaim> {
    let spec = &set.spec;
    let when_deleted = spec
        .persistent_volume_claim_retention_policy
        .as_ref()
        .and_then(|p| p.when_deleted.as_deref());
    let selector_labels = spec.selector.match_labels.clone().unwrap_or_default();
    spec.volume_claim_templates
        .iter()
        .flatten()
        .map(|t| {
            let mut c = t.clone();
            let tname = t.name_any();
            c.metadata = Default::default();
            c.metadata.name = Some(format!("{tname}-{}-{ord}", set.name_any()));
            c.metadata.namespace = set.namespace();
            let mut labels = t.metadata.labels.clone().unwrap_or_default();
            labels.extend(selector_labels.clone());
            c.metadata.labels = Some(labels);
            c.metadata.annotations = t.metadata.annotations.clone();
            // The pod does not exist yet: only the set's reference
            // (`claim_owner_refs` keeps them right afterwards).
            if when_deleted == Some("Delete") {
                c.metadata.owner_references = Some(vec![owner_ref(set)]);
            }
            c.status = None;
            c
        })
        .collect()
}

/// The owner references `claim` (of the pod `pod`) should have under the
/// set's `persistentVolumeClaimRetentionPolicy`, as Kubernetes'
/// `updateClaimOwnerRefForSetAndPod` leaves them: `whenScaled: Delete` and
/// the pod condemned (scaled down): the pod controls the claim (the
/// garbage collector deletes it with the pod); else `whenDeleted: Delete`:
/// the set does; else neither. Other owners stay; a claim another
/// controller controls gets no new controller; a claim referring to an
/// older set or pod of the same name is not touched. `None`: nothing to
/// change.
pub(super) fn claim_owner_refs(
    set: &StatefulSet,
    claim: &PersistentVolumeClaim,
    pod: &Pod,
    condemned: bool,
) -> Option<Vec<OwnerReference>> {
    let policy = set.spec.persistent_volume_claim_retention_policy.as_ref();
    let when_deleted = policy.and_then(|p| p.when_deleted.as_deref());
    let when_scaled = policy.and_then(|p| p.when_scaled.as_deref());
    let set_uid = set.uid().unwrap_or_default();
    let pod_uid = pod.uid().unwrap_or_default();
    let refs = claim.owner_references().to_vec();
    // The uid a reference to the set or the pod (by kind and name)
    // should have; `None` for other owners.
    let ours = |r: &OwnerReference| -> Option<String> {
        if r.kind == "StatefulSet" && r.name == set.name_any() {
            Some(set_uid.clone())
        } else if r.kind == "Pod" && r.name == pod.name_any() {
            Some(pod_uid.clone())
        } else {
            None
        }
    };
    if refs.iter().any(|r| ours(r).is_some_and(|uid| uid != r.uid)) {
        return None;
    }
    let unexpected = refs
        .iter()
        .any(|r| r.controller == Some(true) && r.uid != set_uid && r.uid != pod_uid);
    let mut want: Vec<OwnerReference> =
        refs.iter().filter(|r| ours(r).is_none()).cloned().collect();
    if !unexpected {
        if when_scaled == Some("Delete") && condemned {
            want.push(owner_ref(pod));
        } else if when_deleted == Some("Delete") {
            want.push(owner_ref(set));
        }
    }
    (want != refs).then_some(want)
}

/// The pod at `ord`, from `template` at revision `revision`.
pub(super) fn new_pod(
    set: &StatefulSet,
    template: &PodTemplateSpec,
    ord: i32,
    revision: &str,
) -> Result<Pod, serde_json::Error> {
    let name = format!("{}-{ord}", set.name_any());
    let meta = template.metadata.clone().unwrap_or_default();
    let mut labels = meta.labels.unwrap_or_default();
    labels.insert(POD_NAME_LABEL.to_string(), name.clone());
    labels.insert(POD_INDEX_LABEL.to_string(), ord.to_string());
    labels.insert(REVISION_HASH_LABEL.to_string(), revision.to_string());
    let mut spec = template.spec.clone().unwrap_or_default();
    spec.hostname = Some(name.clone());
    if let Some(svc) = set.spec.service_name.clone().filter(|s| !s.is_empty()) {
        spec.subdomain = Some(svc);
    }
    let claim_volumes: Vec<(String, String)> = claims(set, ord)
        .into_iter()
        .zip(set.spec.volume_claim_templates.iter().flatten())
        .map(|(c, t)| (t.name_any(), c.name_any()))
        .collect();
    if !claim_volumes.is_empty() {
        let mut volumes = spec.volumes.take().unwrap_or_default();
        volumes.retain(|v| !claim_volumes.iter().any(|(n, _)| *n == v.name));
        for (vol, claim) in claim_volumes {
            volumes.push(serde_json::from_value(json!({
                "name": vol,
                "persistentVolumeClaim": {"claimName": claim},
            }))?);
        }
        spec.volumes = Some(volumes);
    }
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": set.namespace(),
            "labels": labels,
            "annotations": meta.annotations,
            "finalizers": meta.finalizers,
            "ownerReferences": [owner_ref(set)],
        },
        "spec": spec,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pods_get_identity_labels_and_claims() {
        let set: StatefulSet = serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "ns", "uid": "u1"},
            "spec": {
                "serviceName": "web",
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                             "spec": {"containers": [{"name": "c", "image": "i"}],
                                      "volumes": [{"name": "data", "emptyDir": {}}]}},
                "volumeClaimTemplates": [{"metadata": {"name": "data"},
                    "spec": {"accessModes": ["ReadWriteOnce"]}}],
                "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Delete"}
            }
        }))
        .expect("set");
        let pod = new_pod(&set, &set.spec.template, 2, "web-abc").expect("pod");
        let labels = pod.labels();
        assert_eq!(
            labels.get(POD_NAME_LABEL).map(String::as_str),
            Some("web-2")
        );
        assert_eq!(labels.get(POD_INDEX_LABEL).map(String::as_str), Some("2"));
        assert_eq!(
            labels.get(REVISION_HASH_LABEL).map(String::as_str),
            Some("web-abc")
        );
        let spec = pod.spec.clone().unwrap_or_default();
        assert_eq!(spec.hostname.as_deref(), Some("web-2"));
        assert_eq!(spec.subdomain.as_deref(), Some("web"));
        let vols = spec.volumes.unwrap_or_default();
        assert_eq!(vols.len(), 1);
        assert_eq!(
            vols[0]
                .persistent_volume_claim
                .as_ref()
                .map(|c| c.claim_name.as_str()),
            Some("data-web-2")
        );
        let claim = &claims(&set, 2)[0];
        assert_eq!(claim.name_any(), "data-web-2");
        assert_eq!(claim.labels().get("app").map(String::as_str), Some("web"));
        assert_eq!(claim.owner_references()[0].uid, "u1");
    }

    fn set_with(when_deleted: &str, when_scaled: &str) -> StatefulSet {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "ns", "uid": "set-uid"},
            "spec": {
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                             "spec": {"containers": [{"name": "c", "image": "i"}]}},
                "volumeClaimTemplates": [{"metadata": {"name": "data"},
                    "spec": {"accessModes": ["ReadWriteOnce"]}}],
                "persistentVolumeClaimRetentionPolicy":
                    {"whenDeleted": when_deleted, "whenScaled": when_scaled}
            }
        }))
        .expect("set")
    }

    fn stateful_pod(uid: &str) -> Pod {
        serde_json::from_value(
            json!({"metadata": {"name": "web-1", "namespace": "ns", "uid": uid}}),
        )
        .expect("pod")
    }

    fn owners(refs: &[OwnerReference]) -> Vec<(String, String, Option<bool>)> {
        refs.iter()
            .map(|r| (r.kind.clone(), r.uid.clone(), r.controller))
            .collect()
    }

    #[test]
    fn claim_owners_follow_the_retention_policy_as_kubernetes_sets_them() {
        let pod = stateful_pod("pod-uid");
        // whenDeleted: Delete — the set controls the claim it creates.
        let set = set_with("Delete", "Retain");
        let claim = claims(&set, 1).remove(0);
        assert_eq!(
            owners(claim.owner_references()),
            vec![("StatefulSet".to_string(), "set-uid".to_string(), Some(true))]
        );
        assert_eq!(claim_owner_refs(&set, &claim, &pod, false), None);
        assert_eq!(claim_owner_refs(&set, &claim, &pod, true), None);
        // whenScaled: Delete — a condemned pod takes over, the set lets go.
        let both = set_with("Delete", "Delete");
        let refs = claim_owner_refs(&both, &claim, &pod, true).expect("changed");
        assert_eq!(
            owners(&refs),
            vec![("Pod".to_string(), "pod-uid".to_string(), Some(true))]
        );
        assert_eq!(claim_owner_refs(&both, &claim, &pod, false), None);
        // Retain both: our references go, others stay.
        let retain = set_with("Retain", "Retain");
        let mut kept = claim.clone();
        kept.metadata.owner_references = Some(vec![
            owner_ref(&set),
            OwnerReference {
                api_version: "v1".into(),
                kind: "ConfigMap".into(),
                name: "x".into(),
                uid: "cm".into(),
                ..OwnerReference::default()
            },
        ]);
        let refs = claim_owner_refs(&retain, &kept, &pod, false).expect("changed");
        assert_eq!(
            owners(&refs),
            vec![("ConfigMap".to_string(), "cm".to_string(), None)]
        );
        // whenScaled: Delete only: nothing until the pod is condemned.
        let scaled = set_with("Retain", "Delete");
        let bare = claims(&scaled, 1).remove(0);
        assert_eq!(claim_owner_refs(&scaled, &bare, &pod, false), None);
        assert!(claim_owner_refs(&scaled, &bare, &pod, true).is_some());
        // A reference to an older pod of that name: left alone.
        let mut stale = bare.clone();
        stale.metadata.owner_references = Some(vec![owner_ref(&stateful_pod("old-uid"))]);
        assert_eq!(claim_owner_refs(&scaled, &stale, &pod, true), None);
    }
}
