//! PersistentVolumes and PersistentVolumeClaims (`ValidatePersistentVolume`,
//! `ValidatePersistentVolumeClaim` and their updates in
//! `pkg/apis/core/validation`): exactly one volume source, capacity,
//! access modes, reclaim policy, node affinity; a claim's access modes,
//! storage request, selector and data source; what may change later.
//!
//! One rule is rkube's own: a `hostPath` or `local` path must be absolute
//! (kube-apiserver leaves a relative one to fail on the node; rkube's node
//! would resolve it against its working directory).

use serde_json::{Map, Value};

use super::selectors;
use crate::cause::Cause;
use crate::quantity::parse_milli;
use crate::validation::is_dns1123_subdomain;

/// The PersistentVolume sources, in the order kube-apiserver checks them
/// (`cephfs` is reported as `cephFS` when it is one too many).
const SOURCES: &[(&str, &str)] = &[
    ("hostPath", "hostPath"),
    ("gcePersistentDisk", "gcePersistentDisk"),
    ("awsElasticBlockStore", "awsElasticBlockStore"),
    ("glusterfs", "glusterfs"),
    ("flocker", "flocker"),
    ("nfs", "nfs"),
    ("rbd", "rbd"),
    ("quobyte", "quobyte"),
    ("cephfs", "cephFS"),
    ("iscsi", "iscsi"),
    ("cinder", "cinder"),
    ("fc", "fc"),
    ("flexVolume", "flexVolume"),
    ("azureFile", "azureFile"),
    ("vsphereVolume", "vsphereVolume"),
    ("photonPersistentDisk", "photonPersistentDisk"),
    ("portworxVolume", "portworxVolume"),
    ("azureDisk", "azureDisk"),
    ("scaleIO", "scaleIO"),
    ("local", "local"),
    ("storageos", "storageos"),
    ("csi", "csi"),
];

/// Spec fields of a PersistentVolume that are not its source.
const NOT_SOURCE: &[&str] = &[
    "accessModes",
    "capacity",
    "claimRef",
    "mountOptions",
    "nodeAffinity",
    "persistentVolumeReclaimPolicy",
    "storageClassName",
    "volumeMode",
    "volumeAttributesClassName",
];

const ACCESS_MODES: &[&str] = &[
    "ReadOnlyMany",
    "ReadWriteMany",
    "ReadWriteOnce",
    "ReadWriteOncePod",
];
const VOLUME_MODES: &[&str] = &["Block", "Filesystem"];
const HOST_PATH_TYPES: &[&str] = &[
    "",
    "BlockDevice",
    "CharDevice",
    "Directory",
    "DirectoryOrCreate",
    "File",
    "FileOrCreate",
    "Socket",
];

fn s<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn present(v: &Value, key: &str) -> Option<Value> {
    v.get(key).filter(|x| !x.is_null()).cloned()
}

/// Supported access modes, and ReadWriteOncePod alone.
fn access_modes(spec: &Value, field: &str, required: &str, causes: &mut Vec<Cause>) {
    let modes = spec
        .get("accessModes")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    if modes.is_empty() {
        causes.push(Cause::required(format!("{field}.accessModes"), required));
    }
    let (mut once_pod, mut other) = (false, false);
    for m in modes {
        let m = m.as_str().unwrap_or("");
        if !ACCESS_MODES.contains(&m) {
            causes.push(Cause::not_supported(
                format!("{field}.accessModes"),
                m,
                ACCESS_MODES,
            ));
        } else if m == "ReadWriteOncePod" {
            once_pod = true;
        } else {
            other = true;
        }
    }
    if once_pod && other {
        causes.push(Cause::forbidden(
            format!("{field}.accessModes"),
            "may not use ReadWriteOncePod with other access modes",
        ));
    }
}

/// A quantity that must be above zero (`ValidatePositiveQuantityValue`).
fn positive(q: &Value, field: &str, causes: &mut Vec<Cause>) {
    let text = q.as_str().unwrap_or("");
    if parse_milli(text).is_some_and(|m| m <= 0) {
        causes.push(Cause::invalid(field, text, "must be greater than zero"));
    }
}

/// `validatePathNoBacksteps`, and rkube's absolute-path rule.
fn host_path(path: &str, field: &str, causes: &mut Vec<Cause>) {
    if !path.starts_with('/') {
        causes.push(Cause::invalid(field, path, "must be an absolute path"));
    }
    if path.split('/').any(|p| p == "..") {
        causes.push(Cause::invalid(field, path, "must not contain '..'"));
    }
}

/// The one source's own checks (the sources rkube's nodes can use, and
/// the required fields of `nfs` and `csi`).
fn source(key: &str, src: &Value, field: &str, causes: &mut Vec<Cause>) {
    match key {
        "hostPath" | "local" => match s(src, "path").unwrap_or("") {
            "" => causes.push(Cause::required(format!("{field}.path"), "")),
            p => {
                host_path(p, &format!("{field}.path"), causes);
                if key == "hostPath" {
                    let t = s(src, "type").unwrap_or("");
                    if !HOST_PATH_TYPES.contains(&t) {
                        causes.push(Cause::not_supported(
                            format!("{field}.type"),
                            t,
                            HOST_PATH_TYPES,
                        ));
                    }
                }
            }
        },
        "nfs" => {
            if s(src, "server").unwrap_or("").is_empty() {
                causes.push(Cause::required(format!("{field}.server"), ""));
            }
            let p = s(src, "path").unwrap_or("");
            if p.is_empty() {
                causes.push(Cause::required(format!("{field}.path"), ""));
            }
            if !p.starts_with('/') {
                causes.push(Cause::invalid(
                    format!("{field}.path"),
                    p,
                    "must be an absolute path",
                ));
            }
        }
        "csi" => {
            csi_driver_name(
                s(src, "driver").unwrap_or(""),
                &format!("{field}.driver"),
                causes,
            );
            if s(src, "volumeHandle").unwrap_or("").is_empty() {
                causes.push(Cause::required(format!("{field}.volumeHandle"), ""));
            }
        }
        _ => {}
    }
}

/// `ValidatePersistentVolumeSpec` of `spec` at `field`; `inline` for a
/// VolumeAttachment's inline spec (no capacity, claim or class; CSI only).
pub fn pv_spec(spec: &Value, field: &str, inline: bool) -> Vec<Cause> {
    let mut causes = Vec::new();
    if inline {
        for key in ["claimRef", "capacity"] {
            if present(spec, key).is_some() {
                causes.push(Cause::forbidden(
                    format!("{field}.{key}"),
                    "may not be specified in the context of inline volumes",
                ));
            }
        }
        if present(spec, "csi").is_none() {
            causes.push(Cause::required(
                format!("{field}.csi"),
                "has to be specified in the context of inline volumes",
            ));
        }
    }
    access_modes(spec, field, "", &mut causes);
    if !inline {
        let capacity = spec.get("capacity").and_then(Value::as_object);
        let cap_field = format!("{field}.capacity");
        if capacity.is_none_or(Map::is_empty) {
            causes.push(Cause::required(cap_field.as_str(), ""));
        }
        if capacity.is_none_or(|c| !c.contains_key("storage") || c.len() > 1) {
            causes.push(Cause::not_supported(
                cap_field.as_str(),
                Value::Object(capacity.cloned().unwrap_or_default()),
                &["storage"],
            ));
        }
        for (r, q) in capacity.into_iter().flatten() {
            positive(q, &format!("{cap_field}[{r}]"), &mut causes);
        }
    }
    let reclaim = s(spec, "persistentVolumeReclaimPolicy").unwrap_or("");
    if !reclaim.is_empty() {
        if inline && reclaim != "Retain" {
            causes.push(Cause::forbidden(
                format!("{field}.persistentVolumeReclaimPolicy"),
                "may only be Retain in the context of inline volumes",
            ));
        } else if !["Delete", "Recycle", "Retain"].contains(&reclaim) {
            causes.push(Cause::not_supported(
                format!("{field}.persistentVolumeReclaimPolicy"),
                reclaim,
                &["Delete", "Recycle", "Retain"],
            ));
        }
    }
    let mut has_affinity = false;
    if let Some(affinity) = present(spec, "nodeAffinity") {
        let at = format!("{field}.nodeAffinity");
        if inline {
            causes.push(Cause::forbidden(
                at,
                "may not be specified in the context of inline volumes",
            ));
        } else {
            has_affinity = true;
            match present(&affinity, "required") {
                Some(req) => {
                    causes.extend(selectors::node_selector(&req, &format!("{at}.required")))
                }
                None => causes.push(Cause::required(
                    format!("{at}.required"),
                    "must specify required node constraints",
                )),
            }
        }
    }
    let mut count = 0;
    for (key, name) in SOURCES {
        let Some(src) = present(spec, key) else {
            continue;
        };
        if count > 0 && *key != "flexVolume" {
            causes.push(Cause::forbidden(
                format!("{field}.{name}"),
                "may not specify more than 1 volume type",
            ));
            continue;
        }
        count += 1;
        source(key, &src, &format!("{field}.{key}"), &mut causes);
        if *key == "local" && !has_affinity {
            causes.push(Cause::required(
                format!("{field}.nodeAffinity"),
                "Local volume requires node affinity",
            ));
        }
    }
    if count == 0 {
        causes.push(Cause::required(field, "must specify a volume type"));
    }
    let root = spec
        .pointer("/hostPath/path")
        .and_then(Value::as_str)
        .is_some_and(|p| !p.is_empty() && p.trim_end_matches('/').is_empty());
    if root && reclaim == "Recycle" {
        causes.push(Cause::forbidden(
            format!("{field}.persistentVolumeReclaimPolicy"),
            "may not be 'recycle' for a hostPath mount of '/'",
        ));
    }
    if let Some(class) = s(spec, "storageClassName").filter(|c| !c.is_empty()) {
        if inline {
            causes.push(Cause::forbidden(
                format!("{field}.storageClassName"),
                "may not be specified in the context of inline volumes",
            ));
        } else {
            for msg in is_dns1123_subdomain(class) {
                causes.push(Cause::invalid(
                    format!("{field}.storageClassName"),
                    class,
                    &msg,
                ));
            }
        }
    }
    if let Some(mode) = s(spec, "volumeMode") {
        if inline && mode != "Filesystem" {
            causes.push(Cause::forbidden(
                format!("{field}.volumeMode"),
                "may not specify volumeMode other than Filesystem in the context of inline volumes",
            ));
        } else if !VOLUME_MODES.contains(&mode) {
            causes.push(Cause::not_supported(
                format!("{field}.volumeMode"),
                mode,
                VOLUME_MODES,
            ));
        }
    }
    if let Some(vac) = s(spec, "volumeAttributesClassName") {
        let at = format!("{field}.volumeAttributesClassName");
        if vac.is_empty() {
            causes.push(Cause::required(at, "an empty string is disallowed"));
        } else {
            for msg in is_dns1123_subdomain(vac) {
                causes.push(Cause::invalid(at.as_str(), vac, &msg));
            }
        }
        if present(spec, "csi").is_none() {
            causes.push(Cause::required(
                format!("{field}.csi"),
                "has to be specified when using volumeAttributesClassName",
            ));
        }
    }
    causes
}

/// A PersistentVolume.
pub fn persistent_volume(obj: &Value) -> Vec<Cause> {
    pv_spec(obj.get("spec").unwrap_or(&Value::Null), "spec", false)
}

/// What changed between two objects, field by field, in the shape of the
/// diff kube-apiserver appends to its "immutable" messages.
fn diff(type_name: &str, old: &Value, new: &Value) -> String {
    let empty = Map::new();
    let (o, n) = (
        old.as_object().unwrap_or(&empty),
        new.as_object().unwrap_or(&empty),
    );
    let mut keys: Vec<&String> = o.keys().chain(n.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut out = format!("  {type_name}{{\n");
    for k in keys {
        let (a, b) = (o.get(k), n.get(k));
        if a != b {
            if let Some(a) = a {
                out.push_str(&format!("- \t{k}: {a},\n"));
            }
            if let Some(b) = b {
                out.push_str(&format!("+ \t{k}: {b},\n"));
            }
        }
    }
    out.push_str("  }\n");
    out
}

/// The source part of a PersistentVolume spec.
fn pv_source(spec: Option<&Value>) -> Value {
    let mut m = spec.and_then(Value::as_object).cloned().unwrap_or_default();
    m.retain(|k, v| !NOT_SOURCE.contains(&k.as_str()) && !v.is_null());
    Value::Object(m)
}

/// A PersistentVolume update: the source is immutable (a CSI volume may
/// gain a `controllerExpandSecretRef`), so are the volume mode and a node
/// affinity once set; a volume attributes class may not be unset.
pub fn persistent_volume_update(old: &Value, new: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let old_src = pv_source(old.get("spec"));
    let mut new_src = pv_source(new.get("spec"));
    let gained_secret = old_src.pointer("/csi").is_some()
        && old_src.pointer("/csi/controllerExpandSecretRef").is_none()
        && new_src.pointer("/csi/controllerExpandSecretRef").is_some();
    if gained_secret {
        if let Some(csi) = new_src.get_mut("csi").and_then(Value::as_object_mut) {
            csi.remove("controllerExpandSecretRef");
        }
    }
    if old_src != new_src {
        causes.push(Cause::forbidden(
            "spec.persistentvolumesource",
            &format!(
                "spec.persistentvolumesource is immutable after creation\n{}",
                diff("core.PersistentVolumeSource", &old_src, &new_src)
            ),
        ));
    }
    causes.extend(super::immutable(old, new, "/spec/volumeMode", "volumeMode"));
    if old
        .pointer("/spec/nodeAffinity")
        .is_some_and(|a| !a.is_null())
    {
        causes.extend(super::immutable(
            old,
            new,
            "/spec/nodeAffinity",
            "nodeAffinity",
        ));
    }
    let vac = |v: &Value| {
        v.pointer("/spec/volumeAttributesClassName")
            .filter(|c| !c.is_null())
            .cloned()
    };
    if vac(old).is_some() && vac(new).is_none() {
        causes.push(Cause::forbidden(
            "spec.volumeAttributesClassName",
            "update from non-nil value to nil is forbidden",
        ));
    }
    causes
}

/// A `dataSource` or `dataSourceRef`: name and kind, a PVC when no API
/// group is named, the group a DNS subdomain.
fn data_source(src: &Value, field: &str, causes: &mut Vec<Cause>) {
    if s(src, "name").unwrap_or("").is_empty() {
        causes.push(Cause::required(format!("{field}.name"), ""));
    }
    let kind = s(src, "kind").unwrap_or("");
    if kind.is_empty() {
        causes.push(Cause::required(format!("{field}.kind"), ""));
    }
    let group = s(src, "apiGroup").unwrap_or("");
    if group.is_empty() && kind != "PersistentVolumeClaim" {
        causes.push(Cause::invalid(
            field,
            kind,
            "must be 'PersistentVolumeClaim' when referencing the default apiGroup",
        ));
    }
    if !group.is_empty() {
        for msg in is_dns1123_subdomain(group) {
            causes.push(Cause::invalid(format!("{field}.apiGroup"), group, &msg));
        }
    }
}

/// `ValidatePersistentVolumeClaimSpec` of `spec` at `field` (claims, and
/// the claim templates of stateful sets and ephemeral volumes).
pub fn pvc_spec(spec: &Value, field: &str) -> Vec<Cause> {
    let mut causes = Vec::new();
    access_modes(
        spec,
        field,
        "at least 1 access mode is required",
        &mut causes,
    );
    // kube-apiserver reports the selector right after the access modes'
    // Required and before their NotSupported; the order rarely shows.
    causes.extend(selectors::label_selector(
        spec.get("selector"),
        &format!("{field}.selector"),
    ));
    let storage_field = format!("{field}.resources[storage]");
    match spec.pointer("/resources/requests/storage") {
        None => causes.push(Cause::required(storage_field, "")),
        Some(q) => positive(q, &storage_field, &mut causes),
    }
    if let Some(class) = s(spec, "storageClassName").filter(|c| !c.is_empty()) {
        for msg in is_dns1123_subdomain(class) {
            causes.push(Cause::invalid(
                format!("{field}.storageClassName"),
                class,
                &msg,
            ));
        }
    }
    if let Some(mode) = s(spec, "volumeMode") {
        if !VOLUME_MODES.contains(&mode) {
            causes.push(Cause::not_supported(
                format!("{field}.volumeMode"),
                mode,
                VOLUME_MODES,
            ));
        }
    }
    let ds = present(spec, "dataSource");
    let dsr = present(spec, "dataSourceRef");
    if let Some(d) = &ds {
        data_source(d, &format!("{field}.dataSource"), &mut causes);
    }
    if let Some(d) = &dsr {
        let at = format!("{field}.dataSourceRef");
        data_source(d, &at, &mut causes);
        if let Some(ns) = s(d, "namespace").filter(|n| !n.is_empty()) {
            for msg in crate::validation::is_dns1123_label(ns) {
                causes.push(Cause::invalid(format!("{at}.namespace"), ns, &msg));
            }
        }
    }
    if let (Some(d), Some(r)) = (&ds, &dsr) {
        let cross_ns = s(r, "namespace").is_some_and(|n| !n.is_empty());
        let same = ["apiGroup", "kind", "name"]
            .iter()
            .all(|k| present(d, k) == present(r, k));
        let ds_field = format!("{field}.dataSource");
        if cross_ns {
            causes.push(Cause::invalid(
                field,
                ds_field.as_str(),
                "may not be specified when dataSourceRef.namespace is specified",
            ));
        } else if !same {
            causes.push(Cause::invalid(
                field,
                ds_field.as_str(),
                "must match dataSourceRef",
            ));
        }
    }
    if let Some(vac) = s(spec, "volumeAttributesClassName").filter(|c| !c.is_empty()) {
        for msg in is_dns1123_subdomain(vac) {
            causes.push(Cause::invalid(
                format!("{field}.volumeAttributesClassName"),
                vac,
                &msg,
            ));
        }
    }
    causes
}

/// A PersistentVolumeClaim.
pub fn persistent_volume_claim(obj: &Value) -> Vec<Cause> {
    pvc_spec(obj.get("spec").unwrap_or(&Value::Null), "spec")
}

/// The bytes of `storage` in a resource list at `ptr` (0 when absent).
fn storage_at(v: &Value, ptr: &str) -> i128 {
    v.pointer(ptr)
        .and_then(Value::as_str)
        .and_then(parse_milli)
        .unwrap_or(0)
}

/// A PersistentVolumeClaim update: the spec is immutable but for
/// `volumeName` (set once), a class set where none was, the storage
/// request of a bound claim (never at or below `status.capacity`) and the
/// volume attributes class; the volume mode and the beta class annotation
/// never change.
pub fn persistent_volume_claim_update(old: &Value, new: &Value) -> Vec<Cause> {
    const BETA: &str = crate::storage::BETA_STORAGE_CLASS;
    let mut causes = Vec::new();
    let spec = |v: &Value| {
        v.get("spec")
            .cloned()
            .unwrap_or_else(|| Value::Object(Map::new()))
    };
    let (mut old_spec, mut new_spec) = (spec(old), spec(new));
    let annotation = |v: &Value| {
        v.pointer("/metadata/annotations")
            .and_then(|a| a.get(BETA))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let (old_ann, new_ann) = (annotation(old), annotation(new));
    let old_class = present(&old_spec, "storageClassName");
    let new_class = present(&new_spec, "storageClassName");
    if old_spec
        .get("volumeName")
        .and_then(Value::as_str)
        .unwrap_or("")
        .is_empty()
    {
        set(
            &mut old_spec,
            "volumeName",
            present(&new_spec, "volumeName"),
        );
    }
    let from_annotation = old_ann.is_some()
        && old_class.is_none()
        && new_class.as_ref().and_then(Value::as_str) == old_ann.as_deref()
        && (new_ann.is_none() || new_ann == old_ann);
    if from_annotation {
        set(&mut new_spec, "storageClassName", None);
    } else {
        if old_ann != new_ann {
            causes.push(Cause::invalid(
                format!("metadata.annotations.{BETA}"),
                new_ann.unwrap_or_default(),
                "field is immutable",
            ));
        }
        let from_nil = new_class.is_some()
            && old_class.is_none()
            && (old_ann.is_none()
                || new_class.as_ref().and_then(Value::as_str) == old_ann.as_deref());
        if from_nil {
            set(&mut new_spec, "storageClassName", old_class.clone());
        }
    }
    let bound = new.pointer("/status/phase").and_then(Value::as_str) == Some("Bound");
    if bound {
        if let Some(requests) = new_spec
            .pointer_mut("/resources/requests")
            .and_then(Value::as_object_mut)
        {
            match old_spec.pointer("/resources/requests/storage") {
                Some(q) => requests.insert("storage".into(), q.clone()),
                None => requests.remove("storage"),
            };
        }
    }
    set(
        &mut new_spec,
        "volumeAttributesClassName",
        present(&old_spec, "volumeAttributesClassName"),
    );
    if old_spec != new_spec {
        causes.push(Cause::forbidden(
            "spec",
            &format!(
                "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims\n{}",
                diff("core.PersistentVolumeClaimSpec", &old_spec, &new_spec)
            ),
        ));
    }
    let old_size = storage_at(old, "/spec/resources/requests/storage");
    let new_size = storage_at(new, "/spec/resources/requests/storage");
    let status_size = storage_at(old, "/status/capacity/storage");
    // RecoverVolumeExpansionFailure (GA): a request may go back down to
    // just above what the volume has.
    if new_size < old_size && new_size <= status_size {
        causes.push(Cause::forbidden(
            "spec.resources.requests.storage",
            "field can not be less than status.capacity",
        ));
    }
    causes.extend(super::immutable(old, new, "/spec/volumeMode", "volumeMode"));
    let vac = |v: &Value| {
        v.pointer("/spec/volumeAttributesClassName")
            .filter(|c| !c.is_null())
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    if vac(old).is_some() {
        match vac(new) {
            None => causes.push(Cause::forbidden(
                "spec.volumeAttributesClassName",
                "update from non-nil value to nil is forbidden",
            )),
            Some(c) if c.is_empty() => causes.push(Cause::forbidden(
                "spec.volumeAttributesClassName",
                "update from non-nil value to an empty string is forbidden",
            )),
            Some(_) => {}
        }
    }
    causes
}

/// Sets (or with `None` removes) `key` of an object value.
fn set(v: &mut Value, key: &str, value: Option<Value>) {
    if let Some(m) = v.as_object_mut() {
        match value {
            Some(x) => {
                m.insert(key.to_string(), x);
            }
            None => {
                m.remove(key);
            }
        }
    }
}

/// Core's `ValidateCSIDriverName`: required, at most 63 bytes, a DNS
/// subdomain once lower-cased.
pub(crate) fn csi_driver_name(name: &str, field: &str, causes: &mut Vec<Cause>) {
    if name.is_empty() {
        causes.push(Cause::required(field, ""));
    }
    if name.len() > 63 {
        causes.push(Cause::too_long(field, 63));
    }
    for msg in is_dns1123_subdomain(&name.to_ascii_lowercase()) {
        causes.push(Cause::invalid(field, name, &msg));
    }
}

#[cfg(test)]
#[path = "volume_test.rs"]
mod tests;
