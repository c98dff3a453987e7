//! Services (`ValidateService`, `ValidateServiceUpdate`).

use std::collections::HashSet;

use serde_json::Value;

use super::{immutable, port};
use crate::cause::Cause;

const TYPES: &[&str] = &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"];
const PROTOCOLS: &[&str] = &["SCTP", "TCP", "UDP"];
const AFFINITIES: &[&str] = &["ClientIP", "None"];

pub fn spec(svc: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let Some(spec) = svc.get("spec") else {
        return causes;
    };
    let ty = spec
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP");
    if !TYPES.contains(&ty) {
        causes.push(Cause::not_supported("spec.type", ty, TYPES));
    }
    if let Some(a) = spec.get("sessionAffinity").and_then(Value::as_str) {
        if !AFFINITIES.contains(&a) {
            causes.push(Cause::not_supported("spec.sessionAffinity", a, AFFINITIES));
        }
    }
    let headless = spec.get("clusterIP").and_then(Value::as_str) == Some("None");
    let ports = spec
        .get("ports")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    if ports.is_empty() && ty != "ExternalName" && !headless {
        causes.push(Cause::required("spec.ports", ""));
    }
    let mut names = HashSet::new();
    for (i, p) in ports.iter().enumerate() {
        let at = format!("spec.ports[{i}]");
        let name = p.get("name").and_then(Value::as_str).unwrap_or("");
        if ports.len() > 1 && name.is_empty() {
            causes.push(Cause::required(format!("{at}.name"), ""));
        } else if !name.is_empty() && !names.insert(name.to_string()) {
            causes.push(Cause::duplicate(format!("{at}.name"), name));
        }
        causes.extend(port(p.get("port"), &format!("{at}.port"), true));
        if let Some(proto) = p.get("protocol").and_then(Value::as_str) {
            if !PROTOCOLS.contains(&proto) {
                causes.push(Cause::not_supported(
                    format!("{at}.protocol"),
                    proto,
                    PROTOCOLS,
                ));
            }
        }
    }
    if ty == "ExternalName"
        && spec
            .get("externalName")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
    {
        causes.push(Cause::required("spec.externalName", ""));
    }
    causes
}

pub fn update(old: &Value, new: &Value) -> Vec<Cause> {
    // An update that leaves clusterIP out keeps the old one (see storage);
    // changing it is refused.
    let given = new
        .pointer("/spec/clusterIP")
        .and_then(Value::as_str)
        .unwrap_or("");
    if given.is_empty() {
        return Vec::new();
    }
    immutable(old, new, "/spec/clusterIP", "spec.clusterIP")
        .into_iter()
        .collect()
}
