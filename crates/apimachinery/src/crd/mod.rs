//! CustomResourceDefinitions (`apiextensions.k8s.io/v1`): what a CRD
//! declares, turned into the [`ResourceInfo`]s the API serves, plus the
//! rules a CRD itself must follow and the conditions its status carries.
//!
//! - `schema.rs`: structural schemas — validation, pruning, defaulting of
//!   custom resources;
//! - `rule.rs`: one `x-kubernetes-validations` entry, compiled with the
//!   schema; `rules.rs`: those CEL rules evaluated against an object;
//! - `custom_resource.rs`: [`CustomResource`], what a CRD's served version
//!   adds to its [`ResourceInfo`];
//! - `columns.rs`: `additionalPrinterColumns` (the JSONPath subset they use)
//!   and the Table they make.
//!
//! Pure: no I/O. The API server watches CRDs and swaps its registry
//! (`crates/apiserver/src/resources/crds.rs`).

pub mod columns;
pub mod custom_resource;
mod rule;
pub mod rules;
pub mod schema;

pub use custom_resource::{CustomResource, ScalePaths};

use std::sync::Arc;

use serde_json::{json, Value};

use crate::cause::Cause;
use crate::resource_info::{ResourceInfo, SubresourceInfo};
use crate::validation;

/// The finalizer kube-apiserver puts on every CRD: its objects are deleted
/// before the CRD goes.
pub const CLEANUP_FINALIZER: &str = "customresourcecleanup.apiextensions.k8s.io";

fn s<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

fn strs(v: &Value, ptr: &str) -> Vec<String> {
    v.pointer(ptr)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

/// The names a CRD asks for (`spec.names`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    pub plural: String,
    pub singular: String,
    pub kind: String,
    pub list_kind: String,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
}

impl Names {
    pub fn of(crd: &Value) -> Names {
        let kind = s(crd, "/spec/names/kind").to_string();
        let singular = match s(crd, "/spec/names/singular") {
            "" => kind.to_lowercase(),
            x => x.to_string(),
        };
        let list_kind = match s(crd, "/spec/names/listKind") {
            "" => format!("{kind}List"),
            x => x.to_string(),
        };
        Names {
            plural: s(crd, "/spec/names/plural").to_string(),
            singular,
            kind,
            list_kind,
            short_names: strs(crd, "/spec/names/shortNames"),
            categories: strs(crd, "/spec/names/categories"),
        }
    }

    /// `status.acceptedNames`.
    pub fn to_value(&self) -> Value {
        let mut v = json!({
            "plural": self.plural, "singular": self.singular,
            "kind": self.kind, "listKind": self.list_kind,
        });
        if !self.short_names.is_empty() {
            v["shortNames"] = json!(self.short_names);
        }
        if !self.categories.is_empty() {
            v["categories"] = json!(self.categories);
        }
        v
    }
}

/// Defaults kube-apiserver applies to a CRD on write.
pub fn default_crd(crd: &mut Value) {
    if let Some(names) = crd
        .pointer_mut("/spec/names")
        .and_then(Value::as_object_mut)
    {
        let kind = names
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if !names.contains_key("singular") && !kind.is_empty() {
            names.insert("singular".into(), Value::String(kind.to_lowercase()));
        }
        if !names.contains_key("listKind") && !kind.is_empty() {
            names.insert("listKind".into(), Value::String(format!("{kind}List")));
        }
    }
    if let Some(spec) = crd.get_mut("spec").and_then(Value::as_object_mut) {
        spec.entry("conversion")
            .or_insert_with(|| json!({"strategy": "None"}));
    }
    for v in crd
        .pointer_mut("/spec/versions")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        for c in v
            .get_mut("additionalPrinterColumns")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            if let Some(c) = c.as_object_mut() {
                c.entry("priority").or_insert(json!(0));
            }
        }
    }
}

/// Validation of a CRD's spec (kube-apiserver's `ValidateCustomResourceDefinition`,
/// the parts that matter to serving it).
pub fn validate_crd(crd: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let names = Names::of(crd);
    let group = s(crd, "/spec/group");
    let name = s(crd, "/metadata/name");
    if group.is_empty() {
        causes.push(Cause::required("spec.group", ""));
    } else if !group.contains('.') {
        causes.push(Cause::invalid(
            "spec.group",
            group,
            "should be a domain with at least one dot",
        ));
    }
    if names.plural.is_empty() {
        causes.push(Cause::required("spec.names.plural", ""));
    } else if !validation::is_dns1035_label(&names.plural).is_empty() {
        causes.push(Cause::invalid(
            "spec.names.plural",
            names.plural.as_str(),
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character",
        ));
    }
    if names.kind.is_empty() {
        causes.push(Cause::required("spec.names.kind", ""));
    }
    let expected = format!("{}.{}", names.plural, group);
    if !names.plural.is_empty() && !group.is_empty() && name != expected {
        causes.push(Cause::invalid(
            "metadata.name",
            name,
            "must be spec.names.plural+\".\"+spec.group",
        ));
    }
    match s(crd, "/spec/scope") {
        "Namespaced" | "Cluster" => {}
        "" => causes.push(Cause::required("spec.scope", "")),
        other => causes.push(Cause::not_supported(
            "spec.scope",
            other,
            &["Cluster", "Namespaced"],
        )),
    }
    let versions = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if versions.is_empty() {
        causes.push(Cause::invalid(
            "spec.versions",
            Value::Null,
            "must have exactly one version marked as storage version",
        ));
    }
    let storage = versions
        .iter()
        .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
        .count();
    if !versions.is_empty() && storage != 1 {
        causes.push(Cause::invalid(
            "spec.versions",
            Value::Array(versions.clone()),
            "must have exactly one version marked as storage version",
        ));
    }
    if !versions.is_empty()
        && !versions
            .iter()
            .any(|v| v.get("served").and_then(Value::as_bool) == Some(true))
    {
        causes.push(Cause::invalid(
            "spec.versions",
            Value::Array(versions.clone()),
            "must have at least one version marked as served",
        ));
    }
    for (i, v) in versions.iter().enumerate() {
        let vname = s(v, "/name");
        if !validation::is_dns1035_label(vname).is_empty() {
            causes.push(Cause::invalid(
                format!("spec.versions[{i}].name"),
                vname,
                "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character",
            ));
        }
        let path = format!("spec.versions[{i}].schema.openAPIV3Schema");
        match v.pointer("/schema/openAPIV3Schema") {
            None => causes.push(Cause::required(path, "schemas are required")),
            Some(sch) => {
                if let Err(mut c) = schema::parse(sch, &path) {
                    causes.append(&mut c);
                }
                if sch.get("type").and_then(Value::as_str) != Some("object") {
                    causes.push(Cause::invalid(
                        format!("{path}.type"),
                        sch.get("type")
                            .cloned()
                            .unwrap_or(Value::String(String::new())),
                        "must be object at the root",
                    ));
                }
            }
        }
        for (j, c) in v
            .get("additionalPrinterColumns")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            if let Err(e) = columns::Column::parse(c) {
                causes.push(Cause::invalid(
                    format!("spec.versions[{i}].additionalPrinterColumns[{j}].jsonPath"),
                    c.get("jsonPath").cloned().unwrap_or(Value::Null),
                    &e,
                ));
            }
        }
    }
    causes
}

/// The resources a CRD serves, one per served version (with `names` as
/// accepted). Only for CRDs that passed [`validate_crd`].
pub fn resources(crd: &Value, names: &Names) -> Vec<ResourceInfo> {
    let group = s(crd, "/spec/group");
    let namespaced = s(crd, "/spec/scope") != "Cluster";
    let crd_name = s(crd, "/metadata/name").to_string();
    let source = format!(
        "{}/{}",
        s(crd, "/metadata/uid"),
        s(crd, "/metadata/resourceVersion")
    );
    let versions = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let storage_version = versions
        .iter()
        .find(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
        .map(|v| s(v, "/name").to_string())
        .unwrap_or_default();
    let mut out = Vec::new();
    for v in versions
        .iter()
        .filter(|v| v.get("served").and_then(Value::as_bool) == Some(true))
    {
        let version = s(v, "/name");
        let schema = v
            .pointer("/schema/openAPIV3Schema")
            .and_then(|sch| schema::parse(sch, "").ok());
        let columns = v
            .get("additionalPrinterColumns")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|c| columns::Column::parse(c).ok())
            .collect();
        let has_status = v.pointer("/subresources/status").is_some();
        let scale = v.pointer("/subresources/scale").map(|sc| ScalePaths {
            spec_replicas: s(sc, "/specReplicasPath").to_string(),
            status_replicas: s(sc, "/statusReplicasPath").to_string(),
            label_selector: sc
                .get("labelSelectorPath")
                .and_then(Value::as_str)
                .map(str::to_string),
        });
        let mut info = ResourceInfo::new(
            group,
            version,
            &names.kind,
            &names.plural,
            &names.singular,
            namespaced,
        );
        info.list_kind = names.list_kind.clone();
        info.short_names = names.short_names.clone();
        info.categories = names.categories.clone();
        if has_status {
            info = info.with_subresource(SubresourceInfo::status(&names.kind));
        }
        if scale.is_some() {
            info = info.with_subresource(SubresourceInfo::scale());
        }
        info.custom = Some(Arc::new(CustomResource {
            crd: crd_name.clone(),
            source: source.clone(),
            schema,
            raw_schema: v.pointer("/schema/openAPIV3Schema").cloned(),
            columns,
            storage_version: storage_version.clone(),
            scale,
            has_status,
            terminating: false,
        }));
        out.push(info);
    }
    out
}

/// A CRD condition as kube-apiserver writes it.
pub fn condition(type_: &str, status: bool, reason: &str, message: &str, now: &str) -> Value {
    json!({
        "type": type_,
        "status": if status { "True" } else { "False" },
        "lastTransitionTime": now,
        "reason": reason,
        "message": message,
    })
}

/// Sets `cond` in `conditions`, keeping `lastTransitionTime` when the
/// status did not change. Returns whether anything changed.
pub fn set_condition(conditions: &mut Vec<Value>, cond: Value) -> bool {
    let t = cond.get("type").cloned();
    match conditions.iter_mut().find(|c| c.get("type") == t.as_ref()) {
        Some(old) => {
            let same = |k: &str| old.get(k) == cond.get(k);
            let same_status = same("status");
            if same_status && same("reason") && same("message") {
                return false;
            }
            let mut cond = cond;
            if same_status {
                cond["lastTransitionTime"] = old["lastTransitionTime"].clone();
            }
            *old = cond;
            true
        }
        None => {
            conditions.push(cond);
            true
        }
    }
}

#[cfg(test)]
mod tests;
