//! Services (`ValidateService`, `ValidateServiceUpdate`): types, ports
//! (names, numbers, protocols, duplicates of port+protocol and of
//! nodePort+protocol, nodePorts only where a Service has them),
//! externalIPs, session affinity's timeout, the traffic policies,
//! healthCheckNodePort, loadBalancerSourceRanges and ExternalName. The
//! nodePort range (30000-32767) is the allocator's
//! (`rkube_apiserver::resources::allocator`), which words it as
//! kube-apiserver does.

use std::collections::HashSet;
use std::net::IpAddr;

use serde_json::Value;

use super::{immutable, port};
use crate::cause::{Cause, CauseType};

const TYPES: &[&str] = &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"];
const PROTOCOLS: &[&str] = &["SCTP", "TCP", "UDP"];
const AFFINITIES: &[&str] = &["ClientIP", "None"];
const TRAFFIC_POLICIES: &[&str] = &["Cluster", "Local"];
/// `core.MaxClientIPServiceAffinitySeconds`.
const MAX_AFFINITY_SECONDS: i64 = 86400;

pub fn spec(svc: &Value) -> Vec<Cause> {
    spec_given(svc, None)
}

/// An update's spec: as [`spec`], except that type-dependent fields
/// (`externalTrafficPolicy`, `healthCheckNodePort`) kept unchanged from
/// `old` are not held against a new `type` — kube-apiserver drops them
/// when the type changes (`dropTypeDependentFields`).
pub fn spec_update(old: &Value, new: &Value) -> Vec<Cause> {
    spec_given(new, Some(old))
}

fn spec_given(svc: &Value, old: Option<&Value>) -> Vec<Cause> {
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
    causes.extend(duplicate_ports(ports));
    causes.extend(external_ips(spec));
    causes.extend(affinity(spec));
    let kept = |field: &str| {
        old.and_then(|o| o.pointer(&format!("/spec/{field}")))
            .is_some_and(|o| Some(o) == spec.get(field))
    };
    causes.extend(
        traffic_policies(spec, ty).into_iter().filter(|c| {
            !(c.kind == CauseType::Invalid && kept(c.field.trim_start_matches("spec.")))
        }),
    );
    causes.extend(source_ranges(spec, ty));
    if ty == "ExternalName" {
        // A trailing dot marks the name fully qualified.
        let name = spec
            .get("externalName")
            .and_then(Value::as_str)
            .unwrap_or("")
            .trim_end_matches('.');
        if name.is_empty() {
            causes.push(Cause::required("spec.externalName", ""));
        } else {
            for msg in crate::validation::is_dns1123_subdomain(name) {
                causes.push(Cause::invalid("spec.externalName", name, &msg));
            }
        }
    }
    causes
}

/// Go's `%#v` of the `core.ServicePort{Protocol, Port}` key kube-apiserver
/// reports a duplicate port with.
fn port_key_repr(protocol: &str, port: i64) -> String {
    format!(
        "core.ServicePort{{Name:\"\", Protocol:\"{protocol}\", AppProtocol:(*string)(nil), Port:{port}, \
         TargetPort:intstr.IntOrString{{Type:0, IntVal:0, StrVal:\"\"}}, NodePort:0}}"
    )
}

/// The same port+protocol twice (`spec.ports[i]: Duplicate value`), the
/// same nodePort+protocol twice (`spec.ports[i].nodePort: Duplicate
/// value`).
fn duplicate_ports(ports: &[Value]) -> Vec<Cause> {
    let mut causes = Vec::new();
    let mut seen = HashSet::new();
    let mut node_ports = HashSet::new();
    for (i, p) in ports.iter().enumerate() {
        let proto = p.get("protocol").and_then(Value::as_str).unwrap_or("TCP");
        if let Some(port) = p.get("port").and_then(Value::as_i64) {
            if !seen.insert((proto.to_string(), port)) {
                causes.push(Cause {
                    kind: CauseType::Duplicate,
                    field: format!("spec.ports[{i}]"),
                    message: format!("Duplicate value: {}", port_key_repr(proto, port)),
                });
            }
        }
        let node_port = p.get("nodePort").and_then(Value::as_i64).unwrap_or(0);
        if node_port == 0 {
            continue;
        }
        if !node_ports.insert((proto.to_string(), node_port)) {
            causes.push(Cause::duplicate(
                format!("spec.ports[{i}].nodePort"),
                node_port,
            ));
        }
    }
    causes
}

/// Each of `spec.externalIPs` an IP address that is not unspecified,
/// loopback, link-local or link-local multicast (`ValidateNonSpecialIP`).
fn external_ips(spec: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let ips = spec.get("externalIPs").and_then(Value::as_array);
    for (i, v) in ips.into_iter().flatten().enumerate() {
        let field = format!("spec.externalIPs[{i}]");
        let text = v.as_str().unwrap_or("");
        let Ok(ip) = text.parse::<IpAddr>() else {
            causes.push(Cause::invalid(
                field,
                text,
                "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
            ));
            continue;
        };
        if let Some(why) = special_ip(ip) {
            causes.push(Cause::invalid(field, text, why));
        }
    }
    causes
}

fn special_ip(ip: IpAddr) -> Option<&'static str> {
    if ip.is_unspecified() {
        return Some("may not be unspecified (0.0.0.0)");
    }
    if ip.is_loopback() {
        return Some("may not be in the loopback range (127.0.0.0/8, ::1/128)");
    }
    let (link_local, ll_multicast) = match ip {
        IpAddr::V4(v4) => (v4.is_link_local(), v4.octets()[..3] == [224, 0, 0]),
        IpAddr::V6(v6) => (
            v6.segments()[0] & 0xffc0 == 0xfe80,
            v6.segments()[0] & 0xff0f == 0xff02,
        ),
    };
    if link_local {
        return Some("may not be in the link-local range (169.254.0.0/16, fe80::/10)");
    }
    if ll_multicast {
        return Some("may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)");
    }
    None
}

/// `sessionAffinityConfig.clientIP.timeoutSeconds` in 1..=86400.
fn affinity(spec: &Value) -> Vec<Cause> {
    let field = "spec.sessionAffinityConfig.clientIP.timeoutSeconds";
    match spec
        .pointer("/sessionAffinityConfig/clientIP/timeoutSeconds")
        .and_then(Value::as_i64)
    {
        Some(t) if t <= 0 || t > MAX_AFFINITY_SECONDS => vec![Cause::invalid(
            field,
            t,
            &format!("must be greater than 0 and less than {MAX_AFFINITY_SECONDS}"),
        )],
        _ => Vec::new(),
    }
}

/// `externalTrafficPolicy` only for externally reachable Services (node
/// ports, load balancers, external IPs), `Cluster` or `Local`;
/// `internalTrafficPolicy` `Cluster` or `Local`; `healthCheckNodePort`
/// only for a LoadBalancer with `externalTrafficPolicy: Local`.
fn traffic_policies(spec: &Value, ty: &str) -> Vec<Cause> {
    let mut causes = Vec::new();
    let external_ips = spec
        .get("externalIPs")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty());
    let reachable = ty == "NodePort" || ty == "LoadBalancer" || (ty == "ClusterIP" && external_ips);
    let etp = spec
        .get("externalTrafficPolicy")
        .and_then(Value::as_str)
        .unwrap_or("");
    if !etp.is_empty() {
        if !reachable {
            causes.push(Cause::invalid(
                "spec.externalTrafficPolicy",
                etp,
                "may only be set for externally-accessible services",
            ));
        } else if !TRAFFIC_POLICIES.contains(&etp) {
            causes.push(Cause::not_supported(
                "spec.externalTrafficPolicy",
                etp,
                TRAFFIC_POLICIES,
            ));
        }
    }
    if let Some(itp) = spec.get("internalTrafficPolicy").and_then(Value::as_str) {
        if !TRAFFIC_POLICIES.contains(&itp) {
            causes.push(Cause::not_supported(
                "spec.internalTrafficPolicy",
                itp,
                TRAFFIC_POLICIES,
            ));
        }
    }
    let hc = spec
        .get("healthCheckNodePort")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let needs_health_check = ty == "LoadBalancer" && etp == "Local";
    if hc != 0 {
        if !needs_health_check {
            causes.push(Cause::invalid(
                "spec.healthCheckNodePort",
                hc,
                "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'",
            ));
        } else if !(1..=65535).contains(&hc) {
            causes.push(Cause::invalid(
                "spec.healthCheckNodePort",
                hc,
                "must be between 1 and 65535, inclusive",
            ));
        }
    }
    causes
}

/// `loadBalancerSourceRanges` only for LoadBalancers, each a CIDR (the
/// path keeps kube-apiserver's historical capital L).
fn source_ranges(spec: &Value, ty: &str) -> Vec<Cause> {
    let mut causes = Vec::new();
    let ranges = spec
        .get("loadBalancerSourceRanges")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    if ranges.is_empty() {
        return causes;
    }
    if ty != "LoadBalancer" {
        causes.push(Cause::forbidden(
            "spec.LoadBalancerSourceRanges",
            "may only be used when `type` is 'LoadBalancer'",
        ));
    }
    for (i, r) in ranges.iter().enumerate() {
        let text = r.as_str().unwrap_or("").trim();
        if !super::is_cidr(text) {
            causes.push(Cause::invalid(
                format!("spec.LoadBalancerSourceRanges[{i}]"),
                text,
                super::CIDR_HINT,
            ));
        }
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
