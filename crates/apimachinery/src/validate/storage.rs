//! storage.k8s.io/v1 kinds (`pkg/apis/storage/validation`): StorageClass,
//! CSIDriver, CSINode, CSIStorageCapacity, VolumeAttachment and
//! VolumeAttributesClass, on create and on update (the fields kube-apiserver
//! keeps immutable). Messages and field paths are kube-apiserver's,
//! including its spellings (`spec.attachedRequired`).

use serde_json::Value;

use super::{immutable, selectors, volume};
use crate::cause::Cause;
use crate::quantity::parse_milli;
use crate::validation::{is_dns1123_subdomain, is_qualified_name};

/// At most this many parameters on a StorageClass or VolumeAttributesClass.
const MAX_PARAMETERS: usize = 512;
/// Keys plus values of the parameters, in bytes.
const MAX_PARAMETERS_SIZE: usize = 256 * 1024;
/// A CSINode driver's `nodeID`, in bytes (kube-apiserver allows the longer
/// limit for every new object).
const MAX_NODE_ID: usize = 256;

fn str_at<'a>(v: &'a Value, ptr: &str) -> Option<&'a str> {
    v.pointer(ptr).and_then(Value::as_str)
}

/// `validateProvisioner`: required, a qualified name (lower-cased first).
fn provisioner(value: Option<&str>, field: &str, causes: &mut Vec<Cause>) {
    match value.unwrap_or("") {
        "" => causes.push(Cause::required(field, "")),
        p => {
            for msg in is_qualified_name(&p.to_ascii_lowercase()) {
                causes.push(Cause::invalid(field, p, &msg));
            }
        }
    }
}

/// `validateParameters`: at most 512 entries and 256 KiB, no empty key,
/// at least one entry unless `allow_empty`.
fn parameters(params: Option<&Value>, allow_empty: bool, causes: &mut Vec<Cause>) {
    let map = params.and_then(Value::as_object);
    let len = map.map_or(0, |m| m.len());
    if len > MAX_PARAMETERS {
        causes.push(Cause::too_long("parameters", MAX_PARAMETERS));
        return;
    }
    let mut size = 0usize;
    for (k, v) in map.into_iter().flatten() {
        if k.is_empty() {
            causes.push(Cause::invalid(
                "parameters",
                k.as_str(),
                "field can not be empty.",
            ));
        }
        size += k.len() + v.as_str().map_or(0, str::len);
    }
    if size > MAX_PARAMETERS_SIZE {
        causes.push(Cause::too_long("parameters", MAX_PARAMETERS_SIZE));
    }
    if !allow_empty && len == 0 {
        causes.push(Cause::required(
            "parameters",
            "must contain at least one key/value pair",
        ));
    }
}

/// `ValidateClassName` (a DNS subdomain) for a non-empty or required name.
fn class_name(name: &str, field: &str, causes: &mut Vec<Cause>) {
    for msg in is_dns1123_subdomain(name) {
        causes.push(Cause::invalid(field, name, &msg));
    }
}

/// A StorageClass: provisioner, parameters, reclaim policy, binding mode
/// and allowed topologies.
pub fn storage_class(obj: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    provisioner(str_at(obj, "/provisioner"), "provisioner", &mut causes);
    parameters(obj.get("parameters"), true, &mut causes);
    match str_at(obj, "/reclaimPolicy").unwrap_or("") {
        "" | "Delete" | "Retain" => {}
        other => causes.push(Cause::not_supported(
            "reclaimPolicy",
            other,
            &["Delete", "Retain"],
        )),
    }
    match str_at(obj, "/volumeBindingMode") {
        None => causes.push(Cause::required("volumeBindingMode", "")),
        Some("Immediate" | "WaitForFirstConsumer") => {}
        Some(other) => causes.push(Cause::not_supported(
            "volumeBindingMode",
            other,
            &["Immediate", "WaitForFirstConsumer"],
        )),
    }
    let terms = obj
        .get("allowedTopologies")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut seen = Vec::new();
    for (i, term) in terms.iter().enumerate() {
        let field = format!("allowedTopologies[{i}]");
        let (keys, term_causes) = selectors::topology_term(term, &field);
        causes.extend(term_causes);
        if seen.contains(&keys) {
            causes.push(Cause::duplicate(
                format!("{field}.matchLabelExpressions"),
                "",
            ));
        }
        seen.push(keys);
    }
    causes
}

/// A StorageClass update: parameters, provisioner and reclaim policy are
/// forbidden to change, the binding mode is immutable.
pub fn storage_class_update(old: &Value, new: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let params = |v: &Value| v.get("parameters").filter(|p| !p.is_null()).cloned();
    let empty = |p: &Option<Value>| {
        p.as_ref()
            .and_then(Value::as_object)
            .is_none_or(|m| m.is_empty())
    };
    let (op, np) = (params(old), params(new));
    if op != np && !(empty(&op) && empty(&np)) {
        causes.push(Cause::forbidden(
            "parameters",
            "updates to parameters are forbidden.",
        ));
    }
    if str_at(old, "/provisioner") != str_at(new, "/provisioner") {
        causes.push(Cause::forbidden(
            "provisioner",
            "updates to provisioner are forbidden.",
        ));
    }
    if str_at(old, "/reclaimPolicy") != str_at(new, "/reclaimPolicy") {
        causes.push(Cause::forbidden(
            "reclaimPolicy",
            "updates to reclaimPolicy are forbidden.",
        ));
    }
    causes.extend(immutable(
        old,
        new,
        "/volumeBindingMode",
        "volumeBindingMode",
    ));
    causes
}

/// A CSIDriver: the booleans defaulting sets are present, supported
/// fsGroupPolicy and lifecycle modes, token requests with distinct
/// audiences and sane durations.
pub fn csi_driver(obj: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let spec = obj.get("spec").cloned().unwrap_or(Value::Null);
    for (key, field) in [
        ("attachRequired", "spec.attachedRequired"),
        ("podInfoOnMount", "spec.podInfoOnMount"),
        ("storageCapacity", "spec.storageCapacity"),
    ] {
        if spec.get(key).is_none_or(Value::is_null) {
            causes.push(Cause::required(field, ""));
        }
    }
    if let Some(p) = str_at(&spec, "/fsGroupPolicy") {
        if !["File", "None", "ReadWriteOnceWithFSType"].contains(&p) {
            causes.push(Cause::not_supported(
                "spec.fsGroupPolicy",
                p,
                &["File", "None", "ReadWriteOnceWithFSType"],
            ));
        }
    }
    let mut audiences: Vec<&str> = Vec::new();
    for (i, t) in spec
        .get("tokenRequests")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let at = format!("spec.tokenRequests[{i}]");
        let audience = t.get("audience").and_then(Value::as_str).unwrap_or("");
        if audiences.contains(&audience) {
            causes.push(Cause::duplicate(format!("{at}.audience"), audience));
            continue;
        }
        audiences.push(audience);
        if let Some(secs) = t.get("expirationSeconds").and_then(Value::as_i64) {
            if secs < 600 {
                causes.push(Cause::invalid(
                    format!("{at}.expirationSeconds"),
                    secs,
                    "may not specify a duration less than 10 minutes",
                ));
            }
            if secs > 1 << 32 {
                causes.push(Cause::invalid(
                    format!("{at}.expirationSeconds"),
                    secs,
                    "may not specify a duration larger than 2^32 seconds",
                ));
            }
        }
    }
    for mode in spec
        .get("volumeLifecycleModes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let m = mode.as_str().unwrap_or("");
        if !["Persistent", "Ephemeral"].contains(&m) {
            causes.push(Cause::not_supported(
                "spec.volumeLifecycleModes",
                m,
                &["Persistent", "Ephemeral"],
            ));
        }
    }
    if spec.get("seLinuxMount").is_none_or(Value::is_null) {
        causes.push(Cause::required("spec.seLinuxMount", ""));
    }
    if let Some(p) = spec
        .get("nodeAllocatableUpdatePeriodSeconds")
        .and_then(Value::as_i64)
        .filter(|p| *p < 10)
    {
        causes.push(Cause::invalid(
            "spec.nodeAllocatableUpdatePeriodSeconds",
            p,
            "must be greater than or equal to 10 seconds",
        ));
    }
    causes
}

/// A CSIDriver update: `attachRequired` and `volumeLifecycleModes` are
/// immutable (the others became mutable in Kubernetes 1.29).
pub fn csi_driver_update(old: &Value, new: &Value) -> Vec<Cause> {
    [
        immutable(old, new, "/spec/attachRequired", "spec.attachedRequired"),
        immutable(
            old,
            new,
            "/spec/volumeLifecycleModes",
            "spec.volumeLifecycleModes",
        ),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// A CSINode: each driver named like a CSI driver (once), with a node ID,
/// a non-negative allocatable count and qualified topology keys.
pub fn csi_node(obj: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let mut names: Vec<&str> = Vec::new();
    for (i, d) in obj
        .pointer("/spec/drivers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let at = format!("spec.drivers[{i}]");
        let name = d.get("name").and_then(Value::as_str).unwrap_or("");
        volume::csi_driver_name(name, &format!("{at}.name"), &mut causes);
        let node_id = d.get("nodeID").and_then(Value::as_str).unwrap_or("");
        if node_id.is_empty() {
            causes.push(Cause::required(format!("{at}.nodeID"), ""));
        }
        if node_id.len() > MAX_NODE_ID {
            causes.push(Cause::invalid(
                format!("{at}.nodeID"),
                node_id,
                &format!("must be {MAX_NODE_ID} characters or less"),
            ));
        }
        if let Some(n) = d
            .pointer("/allocatable/count")
            .and_then(Value::as_i64)
            .filter(|n| *n < 0)
        {
            causes.push(Cause::invalid(
                format!("{at}.allocatable.count"),
                n,
                "must be greater than or equal to 0",
            ));
        }
        if names.contains(&name) {
            causes.push(Cause::duplicate(format!("{at}.name"), name));
        }
        names.push(name);
        let mut keys: Vec<&str> = Vec::new();
        for k in d
            .get("topologyKeys")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let key = k.as_str().unwrap_or("");
            if key.is_empty() {
                causes.push(Cause::required(at.as_str(), ""));
            }
            if keys.contains(&key) {
                causes.push(Cause::duplicate(at.as_str(), key));
            }
            keys.push(key);
            for msg in is_qualified_name(key) {
                causes.push(Cause::invalid(at.as_str(), key, &msg));
            }
        }
    }
    causes
}

/// A CSINode update: a driver that stays may not change (but for its
/// allocatable count).
pub fn csi_node_update(old: &Value, new: &Value) -> Vec<Cause> {
    let drivers = |v: &Value| -> Vec<Value> {
        v.pointer("/spec/drivers")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let without_allocatable = |d: &Value| {
        let mut d = d.clone();
        if let Some(m) = d.as_object_mut() {
            m.remove("allocatable");
        }
        d
    };
    let mut causes = Vec::new();
    for o in drivers(old) {
        for n in drivers(new) {
            if o.get("name") == n.get("name") && without_allocatable(&o) != without_allocatable(&n)
            {
                causes.push(Cause::invalid(
                    "spec.drivers",
                    n.clone(),
                    "field is immutable",
                ));
            }
        }
    }
    causes
}

/// A CSIStorageCapacity: a valid node topology selector, a storage class
/// name, a non-negative capacity.
pub fn csi_storage_capacity(obj: &Value) -> Vec<Cause> {
    let mut causes = selectors::label_selector(obj.get("nodeTopology"), "nodeTopology");
    class_name(
        str_at(obj, "/storageClassName").unwrap_or(""),
        "storageClassName",
        &mut causes,
    );
    if let Some(q) = str_at(obj, "/capacity") {
        if parse_milli(q).is_some_and(|m| m < 0) {
            causes.push(Cause::invalid(
                "capacity",
                q,
                "must be greater than or equal to 0",
            ));
        }
    }
    causes
}

/// A CSIStorageCapacity update: the node topology and the class are the
/// input of the driver's GetCapacity and never change.
pub fn csi_storage_capacity_update(old: &Value, new: &Value) -> Vec<Cause> {
    [
        immutable(old, new, "/nodeTopology", "nodeTopology"),
        immutable(old, new, "/storageClassName", "storageClassName"),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// A VolumeAttachment: an attacher (a CSI driver name), exactly one
/// source, a node name.
pub fn volume_attachment(obj: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let attacher = str_at(obj, "/spec/attacher").unwrap_or("");
    if attacher.is_empty() {
        causes.push(Cause::required("spec.attacher", ""));
    }
    let source = obj.pointer("/spec/source").cloned().unwrap_or(Value::Null);
    let pv = source.get("persistentVolumeName").filter(|v| !v.is_null());
    let inline = source.get("inlineVolumeSpec").filter(|v| !v.is_null());
    const ONE: &str = "must specify exactly one of inlineVolumeSpec and persistentVolumeName";
    match (pv, inline) {
        (None, None) => causes.push(Cause::required("spec.source", ONE)),
        (Some(_), Some(_)) => causes.push(Cause::forbidden("spec.source", ONE)),
        (Some(name), None) => {
            if name.as_str().unwrap_or("").is_empty() {
                causes.push(Cause::required(
                    "spec.source.persistentVolumeName",
                    "must specify non empty persistentVolumeName",
                ));
            }
        }
        (None, Some(spec)) => {
            causes.extend(volume::pv_spec(spec, "spec.source.inlineVolumeSpec", true))
        }
    }
    let node = str_at(obj, "/spec/nodeName").unwrap_or("");
    for msg in is_dns1123_subdomain(node) {
        causes.push(Cause::invalid("spec.nodeName", node, &msg));
    }
    // v1's extra checks: the attacher as a CSI driver name, the volume's name.
    if !attacher.is_empty() {
        volume::csi_driver_name(attacher, "spec.attacher", &mut causes);
    }
    if let Some(name) = pv.and_then(Value::as_str).filter(|n| !n.is_empty()) {
        class_name(name, "spec.source.persistentVolumeName", &mut causes);
    }
    causes
}

/// A VolumeAttachment update: the spec is read-only.
pub fn volume_attachment_update(old: &Value, new: &Value) -> Vec<Cause> {
    immutable(old, new, "/spec", "spec").into_iter().collect()
}

/// A VolumeAttributesClass: a driver name (like a provisioner) and at
/// least one parameter.
pub fn volume_attributes_class(obj: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    provisioner(str_at(obj, "/driverName"), "driverName", &mut causes);
    parameters(obj.get("parameters"), false, &mut causes);
    causes
}

/// A VolumeAttributesClass update: neither the driver nor the parameters
/// change.
pub fn volume_attributes_class_update(old: &Value, new: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    if str_at(old, "/driverName") != str_at(new, "/driverName") {
        causes.push(Cause::forbidden(
            "driverName",
            "updates to driverName are forbidden.",
        ));
    }
    if old.get("parameters") != new.get("parameters") {
        causes.push(Cause::forbidden(
            "parameters",
            "updates to parameters are forbidden.",
        ));
    }
    causes
}

#[cfg(test)]
#[path = "storage_test.rs"]
mod tests;
