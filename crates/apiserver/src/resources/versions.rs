//! One stored object, several served versions: a custom resource is
//! stored in its CRD's storage version and served in every version with
//! only `apiVersion` rewritten (conversion `None`); a built-in kind served
//! in several versions (the HorizontalPodAutoscaler, stored as
//! `autoscaling/v2`, served as `v1` too) is converted
//! (`rkube_apimachinery::conversion`).
//!
//! The write pipeline runs in the version the client spoke (its defaults,
//! validation and response); [`stored`] is what goes into the store;
//! [`served`] and [`served_bytes`] are what every read, list and watch
//! event shows.

use std::borrow::Cow;

use rkube_apimachinery::{conversion, defaults, ResourceInfo};
use serde_json::Value;

use super::raw;

/// The version `info`'s objects are stored in, when it differs from the
/// version `info` serves (a built-in kind served in several versions).
fn converted_from(info: &ResourceInfo) -> Option<&'static str> {
    if info.custom.is_some() {
        return None;
    }
    conversion::storage_version(&info.group, &info.kind).filter(|v| *v != info.version)
}

/// `obj`, read from the store, as `info`'s version shows it.
pub fn served(info: &ResourceInfo, obj: &mut Value) {
    if info.custom.is_some() {
        if let Some(m) = obj.as_object_mut() {
            m.insert("apiVersion".into(), Value::String(info.api_version()));
        }
    } else if converted_from(info).is_some() {
        conversion::convert(&info.group, &info.kind, obj, &info.version);
    }
}

/// Stored bytes as `info`'s version shows them; `None` when they are
/// shown as stored (the common case: nothing parsed).
pub fn served_bytes(info: &ResourceInfo, item: &[u8]) -> Option<Vec<u8>> {
    if info.custom.is_some() {
        return raw::with_api_version(item, &info.api_version());
    }
    converted_from(info)?;
    let mut obj: Value = serde_json::from_slice(item).ok()?;
    conversion::convert(&info.group, &info.kind, &mut obj, &info.version);
    serde_json::to_vec(&obj).ok()
}

/// What the store keeps of `obj`, written through `info`'s version: the
/// storage version (with that version's defaults) when they differ.
pub fn stored<'a>(info: &ResourceInfo, obj: &'a Value) -> Cow<'a, Value> {
    match converted_from(info) {
        None => Cow::Borrowed(obj),
        Some(version) => {
            let mut out = obj.clone();
            conversion::convert(&info.group, &info.kind, &mut out, version);
            defaults::apply(&info.group, &info.kind, &mut out);
            Cow::Owned(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rkube_apimachinery::Registry;
    use serde_json::json;

    #[test]
    fn a_v1_hpa_is_stored_as_v2_and_read_back_as_v1() {
        let r = Registry::builtin();
        let v1 = r
            .get("autoscaling", "v1", "horizontalpodautoscalers")
            .expect("v1");
        let v2 = r
            .get("autoscaling", "v2", "horizontalpodautoscalers")
            .expect("v2");
        let o = json!({"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web"},
            "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"},
                "minReplicas": 1, "maxReplicas": 4, "targetCPUUtilizationPercentage": 60}});
        let s = stored(v1, &o).into_owned();
        assert_eq!(s["apiVersion"], "autoscaling/v2");
        assert_eq!(
            s["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"],
            60
        );
        assert!(matches!(stored(v2, &s), Cow::Borrowed(_)));
        assert!(served_bytes(v2, &serde_json::to_vec(&s).expect("json")).is_none());
        let back: Value = serde_json::from_slice(
            &served_bytes(v1, &serde_json::to_vec(&s).expect("json")).expect("v1"),
        )
        .expect("json");
        assert_eq!(back["apiVersion"], o["apiVersion"]);
        assert_eq!(back["spec"], o["spec"]);
        assert!(back["metadata"].get("annotations").is_none());
    }
}
