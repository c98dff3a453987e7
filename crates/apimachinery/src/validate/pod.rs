//! Pod specs and pod updates (`ValidatePodSpec`, `ValidatePodUpdate`).

use std::collections::HashSet;

use serde_json::Value;

use super::port;
use crate::cause::Cause;
use crate::validation::is_dns1123_label;

/// The restart policies a spec may have.
pub const RESTART_ANY: &[&str] = &["Always", "OnFailure", "Never"];

const PROTOCOLS: &[&str] = &["SCTP", "TCP", "UDP"];
const DNS_POLICIES: &[&str] = &["ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"];
const PULL_POLICIES: &[&str] = &["Always", "IfNotPresent", "Never"];

fn containers(list: &[Value], field: &str, names: &mut HashSet<String>, causes: &mut Vec<Cause>) {
    for (i, c) in list.iter().enumerate() {
        let at = format!("{field}[{i}]");
        match c
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
        {
            None => causes.push(Cause::required(format!("{at}.name"), "")),
            Some(name) => {
                for msg in is_dns1123_label(name) {
                    causes.push(Cause::invalid(format!("{at}.name"), name, &msg));
                }
                if !names.insert(name.to_string()) {
                    causes.push(Cause::duplicate(format!("{at}.name"), name));
                }
            }
        }
        if c.get("image")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            causes.push(Cause::required(format!("{at}.image"), ""));
        }
        if let Some(p) = c.get("imagePullPolicy").and_then(Value::as_str) {
            if !PULL_POLICIES.contains(&p) {
                causes.push(Cause::not_supported(
                    format!("{at}.imagePullPolicy"),
                    p,
                    PULL_POLICIES,
                ));
            }
        }
        let ports = c
            .get("ports")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        for (j, p) in ports.iter().enumerate() {
            let pf = format!("{at}.ports[{j}]");
            causes.extend(port(
                p.get("containerPort"),
                &format!("{pf}.containerPort"),
                true,
            ));
            if let Some(proto) = p.get("protocol").and_then(Value::as_str) {
                if !PROTOCOLS.contains(&proto) {
                    causes.push(Cause::not_supported(
                        format!("{pf}.protocol"),
                        proto,
                        PROTOCOLS,
                    ));
                }
            }
        }
    }
}

/// Causes for a pod spec at `field`; `restart` lists the restart policies
/// allowed (workload templates allow fewer).
pub fn spec(spec: Option<&Value>, field: &str, restart: &[&str]) -> Vec<Cause> {
    let mut causes = Vec::new();
    let Some(spec) = spec else {
        causes.push(Cause::required(field, ""));
        return causes;
    };
    let mut names = HashSet::new();
    match spec.get("containers").and_then(Value::as_array) {
        Some(cs) if !cs.is_empty() => {
            containers(cs, &format!("{field}.containers"), &mut names, &mut causes)
        }
        _ => causes.push(Cause::required(format!("{field}.containers"), "")),
    }
    if let Some(cs) = spec.get("initContainers").and_then(Value::as_array) {
        containers(
            cs,
            &format!("{field}.initContainers"),
            &mut names,
            &mut causes,
        );
    }
    if let Some(r) = spec.get("restartPolicy").and_then(Value::as_str) {
        if !restart.contains(&r) {
            causes.push(Cause::not_supported(
                format!("{field}.restartPolicy"),
                r,
                restart,
            ));
        }
    }
    if let Some(d) = spec.get("dnsPolicy").and_then(Value::as_str) {
        if !DNS_POLICIES.contains(&d) {
            causes.push(Cause::not_supported(
                format!("{field}.dnsPolicy"),
                d,
                DNS_POLICIES,
            ));
        }
    }
    if let Some(t) = spec
        .get("terminationGracePeriodSeconds")
        .and_then(Value::as_i64)
    {
        if t < 0 {
            causes.push(Cause::invalid(
                format!("{field}.terminationGracePeriodSeconds"),
                t,
                "must be greater than or equal to 0",
            ));
        }
    }
    causes
}

/// What a pod update may change: container images, activeDeadlineSeconds,
/// added tolerations (and scheduling gates' removal), and ephemeral
/// containers (the `ephemeralcontainers` subresource's rules apply);
/// everything else in the spec is fixed once created.
pub fn update(old: &Value, new: &Value) -> Vec<Cause> {
    let (Some(o), Some(n)) = (old.get("spec"), new.get("spec")) else {
        return Vec::new();
    };
    let mut o = o.clone();
    let mut n = n.clone();
    for spec in [&mut o, &mut n] {
        if let Some(m) = spec.as_object_mut() {
            m.remove("activeDeadlineSeconds");
            m.remove("tolerations");
            m.remove("schedulingGates");
            // Changed through `pods/ephemeralcontainers`, which checks
            // its own rules.
            m.remove("ephemeralContainers");
            for list in ["containers", "initContainers"] {
                if let Some(cs) = m.get_mut(list).and_then(Value::as_array_mut) {
                    for c in cs.iter_mut().filter_map(Value::as_object_mut) {
                        c.remove("image");
                    }
                }
            }
        }
    }
    // nodeName may be set once, by a binding.
    if old.pointer("/spec/nodeName").is_none() {
        if let Some(m) = n.as_object_mut() {
            m.remove("nodeName");
        }
    }
    if o == n {
        return Vec::new();
    }
    vec![Cause::forbidden(
        "spec",
        "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
    )]
}
