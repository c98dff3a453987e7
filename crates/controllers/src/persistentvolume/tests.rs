//! The PV controller's decisions, one test per rule.

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use k8s_openapi::api::storage::v1::StorageClass;
use serde_json::{json, Value};

use super::decide_claim::{decide, ClaimStep};
use super::decide_expand::{decide as expand_step, ExpandStep};
use super::decide_volume::{decide as volume_step, VolumeStep};

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

fn pv(name: &str, size: &str, extra: Value) -> PersistentVolume {
    let mut v = json!({
        "metadata": {"name": name},
        "spec": {"capacity": {"storage": size}, "accessModes": ["ReadWriteOnce"],
                 "storageClassName": "manual", "hostPath": {"path": "/x"},
                 "persistentVolumeReclaimPolicy": "Retain"},
        "status": {"phase": "Available"}
    });
    merge(&mut v, extra);
    serde_json::from_value(v).expect("pv")
}

fn pvc(extra: Value) -> PersistentVolumeClaim {
    let mut v = json!({
        "metadata": {"name": "data", "namespace": "default", "uid": "c1"},
        "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "manual",
                 "resources": {"requests": {"storage": "1Gi"}}},
        "status": {"phase": "Pending"}
    });
    merge(&mut v, extra);
    serde_json::from_value(v).expect("pvc")
}

fn class(name: &str, provisioner: &str, extra: Value) -> StorageClass {
    let mut v = json!({"metadata": {"name": name}, "provisioner": provisioner});
    merge(&mut v, extra);
    serde_json::from_value(v).expect("class")
}

fn claim_step_(
    c: &PersistentVolumeClaim,
    v: &[&PersistentVolume],
    k: &[&StorageClass],
) -> ClaimStep {
    decide(c, v, k, &[])
}

fn wffc() -> Value {
    json!({"volumeBindingMode": "WaitForFirstConsumer"})
}

fn bound_ref() -> Value {
    json!({"spec": {"claimRef": {"namespace": "default", "name": "data", "uid": "c1"}}})
}

fn reason(step: &ClaimStep) -> Option<(&'static str, String)> {
    match step {
        ClaimStep::Pending { event: Some(e), .. } | ClaimStep::Lost(e) => {
            Some((e.reason, e.message.clone()))
        }
        _ => None,
    }
}

#[test]
fn an_immediate_claim_binds_the_smallest_fitting_volume() {
    let big = pv("big", "10Gi", json!({}));
    let small = pv("small", "2Gi", json!({}));
    let tiny = pv("tiny", "500Mi", json!({}));
    let manual = class("manual", "kubernetes.io/no-provisioner", json!({}));
    let step = claim_step_(&pvc(json!({})), &[&big, &small, &tiny], &[&manual]);
    assert_eq!(step, ClaimStep::Bind("small".into()));
}

#[test]
fn a_claim_naming_a_volume_binds_it_or_says_why_not() {
    let v = pv("mine", "5Gi", json!({}));
    let other = pv("other", "1Gi", json!({}));
    let c = pvc(json!({"spec": {"volumeName": "mine"}}));
    assert_eq!(
        claim_step_(&c, &[&other, &v], &[]),
        ClaimStep::Bind("mine".into())
    );
    // Too small: Pending with VolumeMismatch.
    let small = pv("mine", "500Mi", json!({}));
    let step = claim_step_(&c, &[&small], &[]);
    let (r, m) = reason(&step).expect("event");
    assert_eq!(r, "VolumeMismatch");
    assert!(m.contains("requested PV is too small"), "{m}");
    // Bound to another claim.
    let taken = pv(
        "mine",
        "5Gi",
        json!({"spec": {"claimRef": {"namespace": "default", "name": "x", "uid": "u9"}}}),
    );
    let (r, _) = reason(&claim_step_(&c, &[&taken], &[])).expect("event");
    assert_eq!(r, "FailedBinding");
    // Named volume missing: Pending without an event.
    assert_eq!(
        claim_step_(&c, &[], &[]),
        ClaimStep::Pending {
            event: None,
            provisioner: None
        }
    );
}

#[test]
fn a_volume_pre_bound_to_the_claim_wins_even_for_wait_for_first_consumer() {
    // claimRef set by the user (no uid) or a provisioner/scheduler (uid).
    let lp = class("local-path", "rkube.io/local-path", wffc());
    let c = pvc(json!({"spec": {"storageClassName": "local-path"}}));
    let by_user = pv(
        "reserved",
        "1Gi",
        json!({"spec": {"storageClassName": "local-path",
            "claimRef": {"namespace": "default", "name": "data"}}}),
    );
    let free = pv(
        "free",
        "1Gi",
        json!({"spec": {"storageClassName": "local-path"}}),
    );
    assert_eq!(
        claim_step_(&c, &[&free, &by_user], &[&lp]),
        ClaimStep::Bind("reserved".into())
    );
    let provisioned = pv(
        "pvc-c1",
        "1Gi",
        json!({"spec": {"storageClassName": "local-path"}, "status": {"phase": "Pending"}}),
    );
    let mut p = provisioned.clone();
    merge_pv(&mut p, bound_ref());
    assert_eq!(
        claim_step_(&c, &[&free, &p], &[&lp]),
        ClaimStep::Bind("pvc-c1".into())
    );
}

fn merge_pv(v: &mut PersistentVolume, extra: Value) {
    let mut j = serde_json::to_value(&*v).expect("json");
    merge(&mut j, extra);
    *v = serde_json::from_value(j).expect("pv");
}

#[test]
fn wait_for_first_consumer_waits_then_asks_the_provisioner() {
    let lp = class("local-path", "rkube.io/local-path", wffc());
    let free = pv(
        "free",
        "1Gi",
        json!({"spec": {"storageClassName": "local-path"}}),
    );
    let c = pvc(json!({"spec": {"storageClassName": "local-path"}}));
    let (r, m) = reason(&claim_step_(&c, &[&free], &[&lp])).expect("event");
    assert_eq!(r, "WaitForFirstConsumer");
    assert_eq!(m, "waiting for first consumer to be created before binding");
    let chosen = pvc(json!({"metadata": {"annotations": {
        "volume.kubernetes.io/selected-node": "n1"}},
        "spec": {"storageClassName": "local-path", "resources": {"requests": {"storage": "5Gi"}}}}));
    match claim_step_(&chosen, &[&free], &[&lp]) {
        ClaimStep::Pending {
            event: Some(e),
            provisioner: Some(p),
        } => {
            assert_eq!(p, "rkube.io/local-path");
            assert_eq!(e.reason, "ExternalProvisioning");
            assert!(e.message.contains("'rkube.io/local-path'"), "{}", e.message);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_missing_class_leaves_the_claim_pending_with_an_event() {
    let c = pvc(json!({"spec": {"storageClassName": "x"}}));
    let (r, m) = reason(&claim_step_(&c, &[], &[])).expect("event");
    assert_eq!(r, "ProvisioningFailed");
    assert_eq!(m, "storageclass.storage.k8s.io \"x\" not found");
}

#[test]
fn the_default_class_is_assigned_later_to_claims_without_one() {
    let c = pvc(json!({"spec": {"storageClassName": null}}));
    let d = class(
        "local-path",
        "rkube.io/local-path",
        json!({"metadata": {"annotations": {"storageclass.kubernetes.io/is-default-class": "true"}}}),
    );
    let other = class("slow", "x", json!({}));
    assert_eq!(
        claim_step_(&c, &[], &[&other, &d]),
        ClaimStep::AssignDefaultClass("local-path".into())
    );
    // No default: stays without a class (binds class-less volumes only).
    let (r, _) = reason(&claim_step_(&c, &[], &[&other])).expect("event");
    assert_eq!(r, "FailedBinding");
    // A class-less volume that fits is taken before the default is set.
    let classless = pv("plain", "1Gi", json!({"spec": {"storageClassName": null}}));
    assert_eq!(
        claim_step_(&c, &[&classless], &[&d]),
        ClaimStep::Bind("plain".into())
    );
    // An empty class is a choice, not unset.
    let empty = pvc(json!({"spec": {"storageClassName": ""}}));
    assert!(!matches!(
        claim_step_(&empty, &[], &[&d]),
        ClaimStep::AssignDefaultClass(_)
    ));
}

#[test]
fn a_bound_claim_whose_volume_is_gone_or_taken_is_lost() {
    let c = pvc(
        json!({"metadata": {"annotations": {"pv.kubernetes.io/bind-completed": "yes"}},
        "spec": {"volumeName": "v"}, "status": {"phase": "Bound"}}),
    );
    let (r, _) = reason(&claim_step_(&c, &[], &[])).expect("event");
    assert_eq!(r, "ClaimLost");
    let taken = pv(
        "v",
        "1Gi",
        json!({"spec": {"claimRef": {"namespace": "default", "name": "data", "uid": "old"}}}),
    );
    let (r, _) = reason(&claim_step_(&c, &[&taken], &[])).expect("event");
    assert_eq!(r, "ClaimMisbound");
    let mut mine = pv("v", "1Gi", json!({"status": {"phase": "Bound"}}));
    merge_pv(&mut mine, bound_ref());
    assert_eq!(claim_step_(&c, &[&mine], &[]), ClaimStep::Bind("v".into()));
}

#[test]
fn volume_phases_follow_their_claim() {
    let pending = pv("v", "1Gi", json!({"status": {"phase": "Pending"}}));
    assert_eq!(volume_step(&pending, None), VolumeStep::Phase("Available"));
    let mut v = pv("v", "1Gi", json!({}));
    merge_pv(&mut v, bound_ref());
    let bound_claim = pvc(json!({"spec": {"volumeName": "v"}}));
    assert_eq!(
        volume_step(&v, Some(&bound_claim)),
        VolumeStep::Phase("Bound")
    );
    let binding = pvc(json!({}));
    assert_eq!(volume_step(&v, Some(&binding)), VolumeStep::QueueClaim);
    let elsewhere = pvc(json!({"spec": {"volumeName": "w"}}));
    assert_eq!(volume_step(&v, Some(&elsewhere)), VolumeStep::Unbind);
    // Claim gone (or a new claim of the same name): Released.
    merge_pv(&mut v, json!({"status": {"phase": "Bound"}}));
    assert_eq!(volume_step(&v, None), VolumeStep::Release);
    let newer = pvc(json!({"metadata": {"uid": "c2"}, "spec": {"volumeName": "v"}}));
    assert_eq!(volume_step(&v, Some(&newer)), VolumeStep::Release);
}

#[test]
fn released_volumes_are_kept_under_retain_and_deleted_when_ours() {
    let mut retained = pv("v", "1Gi", json!({"status": {"phase": "Released"}}));
    merge_pv(&mut retained, bound_ref());
    assert_eq!(volume_step(&retained, None), VolumeStep::Nothing);
    let mut ours = retained.clone();
    merge_pv(
        &mut ours,
        json!({"metadata": {"annotations": {"pv.kubernetes.io/provisioned-by": "rkube.io/local-path"}},
               "spec": {"persistentVolumeReclaimPolicy": "Delete"}}),
    );
    assert_eq!(volume_step(&ours, None), VolumeStep::Delete);
    let mut theirs = ours.clone();
    merge_pv(
        &mut theirs,
        json!({"metadata": {"annotations": {"pv.kubernetes.io/provisioned-by": "ebs.csi.aws.com"}}}),
    );
    assert_eq!(volume_step(&theirs, None), VolumeStep::Nothing);
    // A static volume under Delete: nothing can delete it, Failed.
    let mut stat = retained.clone();
    merge_pv(
        &mut stat,
        json!({"spec": {"persistentVolumeReclaimPolicy": "Delete"}}),
    );
    match volume_step(&stat, None) {
        VolumeStep::Fail(e) => assert_eq!(e.reason, "VolumeFailedDelete"),
        other => panic!("{other:?}"),
    }
    let mut failed = stat.clone();
    merge_pv(&mut failed, json!({"status": {"phase": "Failed"}}));
    assert_eq!(volume_step(&failed, None), VolumeStep::Nothing);
}

#[test]
fn read_write_once_pod_claims_bind_only_volumes_offering_it() {
    let rwo = pv("rwo", "1Gi", json!({}));
    let rwop = pv(
        "rwop",
        "5Gi",
        json!({"spec": {"accessModes": ["ReadWriteOncePod"]}}),
    );
    let c = pvc(json!({"spec": {"accessModes": ["ReadWriteOncePod"]}}));
    assert_eq!(
        claim_step_(&c, &[&rwo, &rwop], &[]),
        ClaimStep::Bind("rwop".into())
    );
}

#[test]
fn expansion_grows_local_path_volumes_where_the_class_allows_it() {
    let lp = class(
        "local-path",
        "rkube.io/local-path",
        json!({"allowVolumeExpansion": true}),
    );
    let fixed = class("local-path", "rkube.io/local-path", json!({}));
    let mut v = pv(
        "pvc-c1",
        "1Gi",
        json!({"metadata": {"annotations": {"pv.kubernetes.io/provisioned-by": "rkube.io/local-path"}}}),
    );
    merge_pv(&mut v, bound_ref());
    let grown = pvc(
        json!({"spec": {"resources": {"requests": {"storage": "2Gi"}}},
        "status": {"phase": "Bound", "capacity": {"storage": "1Gi"}}}),
    );
    assert_eq!(
        expand_step(&grown, &v, Some(&lp)),
        ExpandStep::Expand("2Gi".into())
    );
    assert_eq!(expand_step(&grown, &v, Some(&fixed)), ExpandStep::Nothing);
    // The volume grew, the claim's status did not yet: finish.
    let mut big = v.clone();
    merge_pv(&mut big, json!({"spec": {"capacity": {"storage": "2Gi"}}}));
    assert_eq!(
        expand_step(&grown, &big, Some(&lp)),
        ExpandStep::Finish("2Gi".into())
    );
    let done = pvc(
        json!({"spec": {"resources": {"requests": {"storage": "2Gi"}}},
        "status": {"phase": "Bound", "capacity": {"storage": "2Gi"}}}),
    );
    assert_eq!(expand_step(&done, &big, Some(&lp)), ExpandStep::Nothing);
    // Another provisioner's volume waits for its resizer.
    let mut theirs = v.clone();
    merge_pv(
        &mut theirs,
        json!({"metadata": {"annotations": {"pv.kubernetes.io/provisioned-by": "ebs.csi.aws.com"}}}),
    );
    assert_eq!(
        expand_step(&grown, &theirs, Some(&lp)),
        ExpandStep::External
    );
}

#[test]
fn a_volume_deleted_while_bound_is_released_when_its_claim_goes() {
    let mut v = pv(
        "v",
        "1Gi",
        json!({"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z",
            "annotations": {"pv.kubernetes.io/provisioned-by": "rkube.io/local-path"}},
            "spec": {"persistentVolumeReclaimPolicy": "Delete"}, "status": {"phase": "Bound"}}),
    );
    merge_pv(&mut v, bound_ref());
    assert_eq!(volume_step(&v, None), VolumeStep::Release);
    merge_pv(&mut v, json!({"status": {"phase": "Released"}}));
    assert_eq!(
        volume_step(&v, None),
        VolumeStep::Nothing,
        "not deleted twice"
    );
}

#[test]
fn a_delayed_claim_names_the_pods_waiting_for_the_scheduler() {
    let lp = class("local-path", "rkube.io/local-path", wffc());
    let c = pvc(json!({"spec": {"storageClassName": "local-path"}}));
    let waiting = ["default/web-0".to_string()];
    let (r, m) = reason(&decide(&c, &[], &[&lp], &waiting)).expect("event");
    assert_eq!(r, "WaitForPodScheduled");
    assert_eq!(m, "waiting for pod default/web-0 to be scheduled");
}
