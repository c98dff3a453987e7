//! Printers of the storage.k8s.io kinds (`printStorageClass`,
//! `printCSIDriver`, `printCSINode`, `printCSIStorageCapacity`,
//! `printVolumeAttachment`, `printVolumeAttributesClass` in kube-apiserver's
//! `pkg/printers/internalversion`). PersistentVolumes and claims are in
//! `core.rs`.

use serde_json::{json, Value};

use super::{age, arr, c, name, s, Column};

fn flag(o: &Value, ptr: &str, default: bool) -> Value {
    json!(o.pointer(ptr).and_then(Value::as_bool).unwrap_or(default))
}

fn or(v: &str, default: &str) -> Value {
    json!(if v.is_empty() { default } else { v })
}

pub const STORAGECLASS: &[Column] = &[
    c("Name", "string", 0),
    c("Provisioner", "string", 0),
    c("ReclaimPolicy", "string", 0),
    c("VolumeBindingMode", "string", 0),
    c("AllowVolumeExpansion", "string", 0),
    c("Age", "string", 0),
];

/// NAME gets ` (default)` when the class carries the default-class
/// annotation (either form) set to `true`.
pub fn storageclass(o: &Value, now: i64) -> Vec<Value> {
    let annotation = |key: &str| {
        o.pointer("/metadata/annotations")
            .and_then(|a| a.get(key))
            .and_then(Value::as_str)
            == Some("true")
    };
    let default = annotation(crate::storage::IS_DEFAULT_CLASS)
        || annotation(crate::storage::BETA_IS_DEFAULT_CLASS);
    let mut n = s(o, "/metadata/name").to_string();
    if default {
        n.push_str(" (default)");
    }
    vec![
        json!(n),
        json!(s(o, "/provisioner")),
        or(s(o, "/reclaimPolicy"), "Delete"),
        or(s(o, "/volumeBindingMode"), "Immediate"),
        flag(o, "/allowVolumeExpansion", false),
        age(o, now),
    ]
}

pub const CSIDRIVER: &[Column] = &[
    c("Name", "string", 0),
    c("AttachRequired", "boolean", 0),
    c("PodInfoOnMount", "boolean", 0),
    c("StorageCapacity", "boolean", 0),
    c("TokenRequests", "string", 0),
    c("RequiresRepublish", "boolean", 0),
    c("Modes", "string", 0),
    c("Age", "string", 0),
];

pub fn csidriver(o: &Value, now: i64) -> Vec<Value> {
    let tokens = match o.pointer("/spec/tokenRequests").and_then(Value::as_array) {
        None => "<unset>".to_string(),
        Some(list) => list
            .iter()
            .map(|t| s(t, "/audience"))
            .collect::<Vec<_>>()
            .join(","),
    };
    let modes: Vec<&str> = arr(o, "/spec/volumeLifecycleModes")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    vec![
        name(o),
        flag(o, "/spec/attachRequired", true),
        flag(o, "/spec/podInfoOnMount", false),
        flag(o, "/spec/storageCapacity", false),
        json!(tokens),
        flag(o, "/spec/requiresRepublish", false),
        or(&modes.join(","), "<none>"),
        age(o, now),
    ]
}

pub const CSINODE: &[Column] = &[
    c("Name", "string", 0),
    c("Drivers", "integer", 0),
    c("Age", "string", 0),
];

pub fn csinode(o: &Value, now: i64) -> Vec<Value> {
    vec![name(o), json!(arr(o, "/spec/drivers").len()), age(o, now)]
}

/// No AGE column: kube-apiserver prints none for capacities.
pub const CSISTORAGECAPACITY: &[Column] = &[
    c("Name", "string", 0),
    c("StorageClassName", "string", 0),
    c("Capacity", "string", 0),
];

pub fn csistoragecapacity(o: &Value, _now: i64) -> Vec<Value> {
    vec![
        name(o),
        json!(s(o, "/storageClassName")),
        or(s(o, "/capacity"), "<unset>"),
    ]
}

pub const VOLUMEATTACHMENT: &[Column] = &[
    c("Name", "string", 0),
    c("Attacher", "string", 0),
    c("PV", "string", 0),
    c("Node", "string", 0),
    c("Attached", "boolean", 0),
    c("Age", "string", 0),
];

pub fn volumeattachment(o: &Value, now: i64) -> Vec<Value> {
    vec![
        name(o),
        json!(s(o, "/spec/attacher")),
        json!(s(o, "/spec/source/persistentVolumeName")),
        json!(s(o, "/spec/nodeName")),
        flag(o, "/status/attached", false),
        age(o, now),
    ]
}

pub const VOLUMEATTRIBUTESCLASS: &[Column] = &[
    c("Name", "string", 0),
    c("DriverName", "string", 0),
    c("Age", "string", 0),
];

pub fn volumeattributesclass(o: &Value, now: i64) -> Vec<Value> {
    vec![name(o), json!(s(o, "/driverName")), age(o, now)]
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000; // 2023-11-14T22:13:20Z
    const CREATED: &str = "2023-11-14T22:08:20Z";

    #[test]
    fn the_default_class_is_marked() {
        let local = json!({"metadata": {"name": "local-path", "creationTimestamp": CREATED,
            "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
            "provisioner": "rkube.io/local-path", "reclaimPolicy": "Delete",
            "volumeBindingMode": "WaitForFirstConsumer", "allowVolumeExpansion": true});
        assert_eq!(
            storageclass(&local, NOW),
            [
                json!("local-path (default)"),
                json!("rkube.io/local-path"),
                json!("Delete"),
                json!("WaitForFirstConsumer"),
                json!(true),
                json!("5m"),
            ]
        );
        let plain = json!({"metadata": {"name": "fast", "annotations":
            {"storageclass.kubernetes.io/is-default-class": "false"}}, "provisioner": "x"});
        let cells = storageclass(&plain, NOW);
        assert_eq!(cells[0], "fast");
        assert_eq!(cells[2], "Delete");
        assert_eq!(cells[3], "Immediate");
        assert_eq!(cells[4], false);
    }

    #[test]
    fn csi_drivers_show_their_switches() {
        let d = json!({"metadata": {"name": "local-path.rkube.io", "creationTimestamp": CREATED},
            "spec": {"attachRequired": false, "storageCapacity": true,
                "volumeLifecycleModes": ["Persistent", "Ephemeral"]}});
        assert_eq!(
            csidriver(&d, NOW),
            [
                json!("local-path.rkube.io"),
                json!(false),
                json!(false),
                json!(true),
                json!("<unset>"),
                json!(false),
                json!("Persistent,Ephemeral"),
                json!("5m"),
            ]
        );
        let bare = csidriver(
            &json!({"spec": {"tokenRequests": [{"audience": "a"}, {"audience": "b"}]}}),
            NOW,
        );
        assert_eq!(bare[1], true);
        assert_eq!(bare[4], "a,b");
        assert_eq!(bare[6], "<none>");
    }

    #[test]
    fn nodes_capacities_attachments_and_attribute_classes() {
        let n = json!({"metadata": {"name": "n1", "creationTimestamp": CREATED},
            "spec": {"drivers": [{"name": "a"}, {"name": "b"}]}});
        assert_eq!(csinode(&n, NOW), [json!("n1"), json!(2), json!("5m")]);
        let cap = json!({"metadata": {"name": "c"}, "storageClassName": "local-path"});
        assert_eq!(
            csistoragecapacity(&cap, NOW),
            [json!("c"), json!("local-path"), json!("<unset>")]
        );
        let va = json!({"metadata": {"name": "va", "creationTimestamp": CREATED},
            "spec": {"attacher": "csi.example.com", "nodeName": "n1",
                "source": {"persistentVolumeName": "pv1"}}, "status": {"attached": true}});
        assert_eq!(
            volumeattachment(&va, NOW),
            [
                json!("va"),
                json!("csi.example.com"),
                json!("pv1"),
                json!("n1"),
                json!(true),
                json!("5m")
            ]
        );
        let vac = json!({"metadata": {"name": "gold", "creationTimestamp": CREATED},
            "driverName": "csi.example.com"});
        assert_eq!(
            volumeattributesclass(&vac, NOW),
            [json!("gold"), json!("csi.example.com"), json!("5m")]
        );
    }
}
