//! Conversion between the versions of a built-in kind served in more than
//! one version (kube-apiserver's scheme conversions, on the JSON object).
//!
//! A kind listed here is stored in one version ([`storage_version`]) and
//! served in the others by converting on the way out of the store (every
//! read, list and watch event) and on the way in (every write, after the
//! write pipeline ran in the version the client spoke). Custom resources
//! are not handled here: their versions differ only in `apiVersion`
//! (conversion strategy `None`).
//!
//! - `hpa.rs`: `autoscaling/v1` ⇄ `autoscaling/v2` HorizontalPodAutoscalers.

pub mod hpa;

use serde_json::Value;

/// The version a kind served in several versions is stored in; `None` for
/// a kind served in one version.
pub fn storage_version(group: &str, kind: &str) -> Option<&'static str> {
    match (group, kind) {
        ("autoscaling", "HorizontalPodAutoscaler") => Some("v2"),
        _ => None,
    }
}

/// Converts `obj` (of `group`/`kind`, in whatever version its `apiVersion`
/// names) to `version`; sets `apiVersion`. A kind or version not known
/// here only gets its `apiVersion` rewritten.
pub fn convert(group: &str, kind: &str, obj: &mut Value, version: &str) {
    let from = obj
        .get("apiVersion")
        .and_then(Value::as_str)
        .and_then(|v| v.rsplit('/').next())
        .unwrap_or("")
        .to_string();
    if from != version {
        if let ("autoscaling", "HorizontalPodAutoscaler") = (group, kind) {
            match (from.as_str(), version) {
                ("v2", "v1") => hpa::v2_to_v1(obj),
                ("v1", "v2") => hpa::v1_to_v2(obj),
                _ => {}
            }
        }
    }
    if let Some(map) = obj.as_object_mut() {
        let api_version = if group.is_empty() {
            version.to_string()
        } else {
            format!("{group}/{version}")
        };
        map.insert("apiVersion".into(), Value::String(api_version));
    }
}
