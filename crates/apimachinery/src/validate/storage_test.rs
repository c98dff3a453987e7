//! storage.k8s.io validation as kubectl users read it.

use serde_json::{json, Value};

use crate::defaults;
use crate::validate::{create, update};

const G: &str = "storage.k8s.io";

fn created(kind: &str, mut obj: Value) -> Vec<String> {
    defaults::apply(G, kind, &mut obj);
    create(G, kind, &obj)
        .iter()
        .map(ToString::to_string)
        .collect()
}

fn updated(kind: &str, mut old: Value, mut new: Value) -> Vec<String> {
    defaults::apply(G, kind, &mut old);
    defaults::apply(G, kind, &mut new);
    update(G, kind, &old, &new, false)
        .iter()
        .map(ToString::to_string)
        .collect()
}

fn class(extra: Value) -> Value {
    let mut c = json!({"metadata": {"name": "fast"}, "provisioner": "example.com/fast"});
    if let (Some(m), Some(e)) = (c.as_object_mut(), extra.as_object()) {
        m.extend(e.clone());
    }
    c
}

#[test]
fn a_storage_class_needs_a_qualified_provisioner_and_known_policies() {
    assert!(created("StorageClass", class(json!({}))).is_empty());
    assert_eq!(
        created("StorageClass", json!({"metadata": {"name": "x"}})),
        ["provisioner: Required value"]
    );
    let bad = created(
        "StorageClass",
        class(
            json!({"provisioner": "bad/prov/name", "reclaimPolicy": "Recycle",
            "volumeBindingMode": "Later"}),
        ),
    );
    assert!(bad[0].starts_with("provisioner: Invalid value: \"bad/prov/name\": a valid label key"));
    assert_eq!(
        bad[1],
        "reclaimPolicy: Unsupported value: \"Recycle\": supported values: \"Delete\", \"Retain\""
    );
    assert_eq!(
        bad[2],
        "volumeBindingMode: Unsupported value: \"Later\": supported values: \"Immediate\", \"WaitForFirstConsumer\""
    );
    // Upper case is lowered before the check, as kube-apiserver does.
    assert!(created(
        "StorageClass",
        class(json!({"provisioner": "Example.COM/Fast"}))
    )
    .is_empty());
}

#[test]
fn storage_class_parameters_are_bounded() {
    let many: serde_json::Map<String, Value> =
        (0..513).map(|i| (format!("k{i}"), json!("v"))).collect();
    assert_eq!(
        created("StorageClass", class(json!({"parameters": many}))),
        ["parameters: Too long: may not be more than 512 bytes"]
    );
    let big = "x".repeat(300 * 1024);
    assert_eq!(
        created("StorageClass", class(json!({"parameters": {"k": big}}))),
        ["parameters: Too long: may not be more than 262144 bytes"]
    );
    assert_eq!(
        created("StorageClass", class(json!({"parameters": {"": "v"}}))),
        ["parameters: Invalid value: \"\": field can not be empty."]
    );
}

#[test]
fn storage_class_topologies_are_checked() {
    let term = json!({"matchLabelExpressions": [{"key": "zone", "values": ["a"]}]});
    assert_eq!(
        created(
            "StorageClass",
            class(json!({"allowedTopologies": [term.clone(), term]}))
        ),
        ["allowedTopologies[1].matchLabelExpressions: Duplicate value: \"\""]
    );
}

#[test]
fn a_storage_class_keeps_its_provisioner_parameters_and_policies() {
    let old = class(json!({"parameters": {"a": "1"}}));
    assert!(updated("StorageClass", old.clone(), old.clone()).is_empty());
    // allowVolumeExpansion and labels may change.
    assert!(updated(
        "StorageClass",
        old.clone(),
        class(json!({"parameters": {"a": "1"}, "allowVolumeExpansion": true}))
    )
    .is_empty());
    assert_eq!(
        updated(
            "StorageClass",
            old,
            class(
                json!({"provisioner": "example.com/other", "parameters": {"a": "2"},
                "reclaimPolicy": "Retain", "volumeBindingMode": "WaitForFirstConsumer"})
            )
        ),
        [
            "parameters: Forbidden: updates to parameters are forbidden.",
            "provisioner: Forbidden: updates to provisioner are forbidden.",
            "reclaimPolicy: Forbidden: updates to reclaimPolicy are forbidden.",
            "volumeBindingMode: Invalid value: \"WaitForFirstConsumer\": field is immutable",
        ]
    );
}

#[test]
fn csi_drivers_validate_modes_and_keep_attach_required() {
    let d = |spec: Value| json!({"metadata": {"name": "csi.example.com"}, "spec": spec});
    assert!(created("CSIDriver", d(json!({}))).is_empty());
    assert_eq!(
        created(
            "CSIDriver",
            d(json!({"volumeLifecycleModes": ["Forever"], "fsGroupPolicy": "Sometimes",
                "tokenRequests": [{"audience": "a", "expirationSeconds": 60}, {"audience": "a"}]}))
        ),
        [
            "spec.fsGroupPolicy: Unsupported value: \"Sometimes\": supported values: \"File\", \"None\", \"ReadWriteOnceWithFSType\"",
            "spec.tokenRequests[0].expirationSeconds: Invalid value: 60: may not specify a duration less than 10 minutes",
            "spec.tokenRequests[1].audience: Duplicate value: \"a\"",
            "spec.volumeLifecycleModes: Unsupported value: \"Forever\": supported values: \"Persistent\", \"Ephemeral\"",
        ]
    );
    assert_eq!(
        updated(
            "CSIDriver",
            d(json!({})),
            d(json!({"attachRequired": false, "podInfoOnMount": true,
                "volumeLifecycleModes": ["Ephemeral"]}))
        ),
        [
            "spec.attachedRequired: Invalid value: false: field is immutable",
            "spec.volumeLifecycleModes: Invalid value: []string{\"Ephemeral\"}: field is immutable",
        ]
    );
}

#[test]
fn csi_nodes_name_each_driver_once() {
    let n = |drivers: Value| json!({"metadata": {"name": "n1"}, "spec": {"drivers": drivers}});
    assert!(created(
        "CSINode",
        n(json!([{"name": "d.example.com", "nodeID": "n1",
        "topologyKeys": ["topology.kubernetes.io/zone"]}]))
    )
    .is_empty());
    assert_eq!(
        created(
            "CSINode",
            n(json!([{"name": "d", "nodeID": ""}, {"name": "d", "nodeID": "x",
                "allocatable": {"count": -1}}]))
        ),
        [
            "spec.drivers[0].nodeID: Required value",
            "spec.drivers[1].allocatable.count: Invalid value: -1: must be greater than or equal to 0",
            "spec.drivers[1].name: Duplicate value: \"d\"",
        ]
    );
    let old = n(json!([{"name": "d", "nodeID": "x", "allocatable": {"count": 1}}]));
    let count = n(json!([{"name": "d", "nodeID": "x", "allocatable": {"count": 2}}]));
    assert!(updated("CSINode", old.clone(), count).is_empty());
    let moved = n(json!([{"name": "d", "nodeID": "y"}]));
    let got = updated("CSINode", old, moved);
    assert_eq!(got.len(), 1);
    assert!(
        got[0].starts_with("spec.drivers: Invalid value: "),
        "{got:?}"
    );
    assert!(got[0].ends_with("field is immutable"), "{got:?}");
}

#[test]
fn capacities_name_a_class_and_keep_it() {
    let c = |class: &str| {
        json!({"metadata": {"name": "c", "namespace": "default"}, "storageClassName": class,
            "capacity": "10Gi"})
    };
    assert!(created("CSIStorageCapacity", c("local-path")).is_empty());
    let missing = created("CSIStorageCapacity", c(""));
    assert_eq!(missing.len(), 1);
    assert!(missing[0]
        .starts_with("storageClassName: Invalid value: \"\": a lowercase RFC 1123 subdomain"));
    let mut negative = c("a");
    negative["capacity"] = json!("-1Gi");
    assert_eq!(
        created("CSIStorageCapacity", negative),
        ["capacity: Invalid value: \"-1Gi\": must be greater than or equal to 0"]
    );
    assert_eq!(
        updated("CSIStorageCapacity", c("a"), c("b")),
        ["storageClassName: Invalid value: \"b\": field is immutable"]
    );
}

#[test]
fn attachments_have_one_source_and_a_fixed_spec() {
    let a = |source: Value| {
        json!({"metadata": {"name": "a"}, "spec": {"attacher": "csi.example.com",
            "nodeName": "n1", "source": source}})
    };
    assert!(created(
        "VolumeAttachment",
        a(json!({"persistentVolumeName": "pv1"}))
    )
    .is_empty());
    assert_eq!(
        created("VolumeAttachment", a(json!({}))),
        ["spec.source: Required value: must specify exactly one of inlineVolumeSpec and persistentVolumeName"]
    );
    assert_eq!(
        created(
            "VolumeAttachment",
            a(json!({"persistentVolumeName": "pv1", "inlineVolumeSpec": {}}))
        ),
        ["spec.source: Forbidden: must specify exactly one of inlineVolumeSpec and persistentVolumeName"]
    );
    let no_attacher = json!({"metadata": {"name": "a"}, "spec": {"nodeName": "n1",
        "source": {"persistentVolumeName": "pv1"}}});
    assert_eq!(
        created("VolumeAttachment", no_attacher),
        ["spec.attacher: Required value"]
    );
    let got = updated(
        "VolumeAttachment",
        a(json!({"persistentVolumeName": "pv1"})),
        a(json!({"persistentVolumeName": "pv2"})),
    );
    assert_eq!(got.len(), 1);
    assert!(got[0].starts_with("spec: Invalid value: "));
    assert!(got[0].ends_with(": field is immutable"));
}

#[test]
fn attributes_classes_need_a_driver_and_keep_their_parameters() {
    let v = |driver: &str, params: Value| json!({"metadata": {"name": "gold"}, "driverName": driver, "parameters": params});
    assert!(created(
        "VolumeAttributesClass",
        v("csi.example.com", json!({"iops": "5"}))
    )
    .is_empty());
    assert_eq!(
        created("VolumeAttributesClass", v("", json!({}))),
        [
            "driverName: Required value",
            "parameters: Required value: must contain at least one key/value pair",
        ]
    );
    assert_eq!(
        updated(
            "VolumeAttributesClass",
            v("a.example.com", json!({"iops": "5"})),
            v("b.example.com", json!({"iops": "6"}))
        ),
        [
            "driverName: Forbidden: updates to driverName are forbidden.",
            "parameters: Forbidden: updates to parameters are forbidden.",
        ]
    );
}
