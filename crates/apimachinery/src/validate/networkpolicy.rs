//! NetworkPolicies (`ValidateNetworkPolicy` in
//! `pkg/apis/networking/validation`): rules' ports (protocol, number or
//! name, `endPort` only after a numeric `port` and not below it), peers
//! (at least one selector or an ipBlock, an ipBlock alone), ipBlocks
//! (`cidr` a CIDR, each `except` a CIDR strictly inside it) and
//! `policyTypes` (`Ingress`, `Egress`, at most two).

use serde_json::Value;

use super::{is_cidr, CIDR_HINT};
use crate::cause::Cause;

const PROTOCOLS: &[&str] = &["TCP", "UDP", "SCTP"];
const POLICY_TYPES: &[&str] = &["Ingress", "Egress"];

pub fn network_policy(obj: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let Some(spec) = obj.get("spec") else {
        return causes;
    };
    for (dir, peers) in [("ingress", "from"), ("egress", "to")] {
        let rules = spec.get(dir).and_then(Value::as_array);
        for (i, rule) in rules.into_iter().flatten().enumerate() {
            let at = format!("spec.{dir}[{i}]");
            let ports = rule.get("ports").and_then(Value::as_array);
            for (j, p) in ports.into_iter().flatten().enumerate() {
                causes.extend(port(p, &format!("{at}.ports[{j}]")));
            }
            let list = rule.get(peers).and_then(Value::as_array);
            for (j, p) in list.into_iter().flatten().enumerate() {
                causes.extend(peer(p, &format!("{at}.{peers}[{j}]")));
            }
        }
    }
    let types = spec
        .get("policyTypes")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    if types.len() > POLICY_TYPES.len() {
        causes.push(Cause::invalid(
            "spec.policyTypes",
            Value::Array(types.to_vec()),
            "may not specify more than two policyTypes",
        ));
        return causes;
    }
    for (i, t) in types.iter().enumerate() {
        let text = t.as_str().unwrap_or("");
        if !POLICY_TYPES.contains(&text) {
            causes.push(Cause::not_supported(
                format!("spec.policyTypes[{i}]"),
                text,
                POLICY_TYPES,
            ));
        }
    }
    causes
}

/// `ValidateNetworkPolicyPort`.
fn port(p: &Value, at: &str) -> Vec<Cause> {
    let mut causes = Vec::new();
    if let Some(proto) = p.get("protocol").and_then(Value::as_str) {
        if !PROTOCOLS.contains(&proto) {
            causes.push(Cause::not_supported(
                format!("{at}.protocol"),
                proto,
                PROTOCOLS,
            ));
        }
    }
    let end = p.get("endPort").and_then(Value::as_i64);
    match p.get("port").filter(|v| !v.is_null()) {
        Some(Value::Number(n)) => {
            let n = n.as_i64().unwrap_or(0);
            if !(1..=65535).contains(&n) {
                causes.push(Cause::invalid(
                    format!("{at}.port"),
                    n,
                    "must be between 1 and 65535, inclusive",
                ));
            }
            if let Some(e) = end {
                // kube-apiserver shows `port`'s value here.
                if e < n {
                    causes.push(Cause::invalid(
                        format!("{at}.endPort"),
                        n,
                        "must be greater than or equal to `port`",
                    ));
                }
                if !(1..=65535).contains(&e) {
                    causes.push(Cause::invalid(
                        format!("{at}.endPort"),
                        e,
                        "must be between 1 and 65535, inclusive",
                    ));
                }
            }
        }
        Some(v) => {
            let name = v.as_str().unwrap_or("");
            if let Some(e) = end {
                causes.push(Cause::invalid(
                    format!("{at}.endPort"),
                    e,
                    "may not be specified when `port` is non-numeric",
                ));
            }
            for msg in port_name(name) {
                causes.push(Cause::invalid(format!("{at}.port"), name, msg));
            }
        }
        None => {
            if let Some(e) = end {
                causes.push(Cause::invalid(
                    format!("{at}.endPort"),
                    e,
                    "may not be specified when `port` is not specified",
                ));
            }
        }
    }
    causes
}

/// `IsValidPortName`'s messages.
fn port_name(name: &str) -> Vec<&'static str> {
    let mut errs = Vec::new();
    if name.is_empty() || name.len() > 15 {
        errs.push("must be no more than 15 characters");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        errs.push("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)");
    }
    if !name.bytes().any(|b| b.is_ascii_lowercase()) {
        errs.push("must contain at least one letter (a-z)");
    }
    if name.contains("--") {
        errs.push("must not contain consecutive hyphens");
    }
    if name.starts_with('-') || name.ends_with('-') {
        errs.push("must not begin or end with a hyphen");
    }
    errs
}

/// `ValidateNetworkPolicyPeer`.
fn peer(p: &Value, at: &str) -> Vec<Cause> {
    let mut causes = Vec::new();
    let has = |k: &str| p.get(k).is_some_and(|v| !v.is_null());
    let count = ["podSelector", "namespaceSelector", "ipBlock"]
        .iter()
        .filter(|k| has(k))
        .count();
    if count == 0 {
        causes.push(Cause::required(at, "must specify a peer"));
    } else if count > 1 && has("ipBlock") {
        causes.push(Cause::forbidden(
            at,
            "may not specify both ipBlock and another peer",
        ));
    }
    if let Some(b) = p.get("ipBlock").filter(|v| !v.is_null()) {
        causes.extend(ip_block(b, &format!("{at}.ipBlock")));
    }
    causes
}

/// `ValidateIPBlock`.
fn ip_block(b: &Value, at: &str) -> Vec<Cause> {
    let mut causes = Vec::new();
    let cidr = b.get("cidr").and_then(Value::as_str).unwrap_or("");
    if cidr.is_empty() {
        causes.push(Cause::required(format!("{at}.cidr"), ""));
        return causes;
    }
    let Some(outer) = parse(cidr) else {
        causes.push(Cause::invalid(format!("{at}.cidr"), cidr, CIDR_HINT));
        return causes;
    };
    let excepts = b.get("except").and_then(Value::as_array);
    for (i, e) in excepts.into_iter().flatten().enumerate() {
        let field = format!("{at}.except[{i}]");
        let text = e.as_str().unwrap_or("");
        let Some(inner) = parse(text) else {
            causes.push(Cause::invalid(field, text, CIDR_HINT));
            continue;
        };
        if !outer.strictly_contains(&inner) {
            causes.push(Cause::invalid(
                field,
                text,
                "must be a strict subset of `cidr`",
            ));
        }
    }
    causes
}

/// A parsed CIDR: the network's bits (IPv4 mapped into 128), its length
/// in that space, and its family.
struct Net {
    bits: u128,
    len: u32,
    v4: bool,
}

impl Net {
    fn mask(len: u32) -> u128 {
        if len == 0 {
            0
        } else {
            u128::MAX << (128 - len)
        }
    }

    /// As Go: `cidr.Contains(except.IP) && cidrLen < exceptLen`.
    fn strictly_contains(&self, other: &Net) -> bool {
        self.v4 == other.v4
            && self.len < other.len
            && other.bits & Net::mask(self.len) == self.bits & Net::mask(self.len)
    }
}

fn parse(s: &str) -> Option<Net> {
    if !is_cidr(s) {
        return None;
    }
    let (ip, bits) = s.split_once('/')?;
    let len: u32 = bits.parse().ok()?;
    match ip.parse::<std::net::IpAddr>().ok()? {
        std::net::IpAddr::V4(v4) => Some(Net {
            bits: u128::from(u32::from(v4)) << 96,
            len,
            v4: true,
        }),
        std::net::IpAddr::V6(v6) => Some(Net {
            bits: u128::from(v6),
            len,
            v4: false,
        }),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn messages(spec: Value) -> Vec<String> {
        network_policy(&json!({ "spec": spec }))
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn ip_blocks_as_kube_apiserver() {
        let m = messages(json!({"podSelector": {}, "ingress": [{"from": [
            {"ipBlock": {"cidr": "10.0.0.0/33"}},
            {"ipBlock": {"cidr": "10.0.0.0/16", "except": ["10.1.0.0/24", "10.0.0.0/16", "bad", "10.0.5.0/24"]}},
            {"ipBlock": {"cidr": "10.0.0.0/8"}, "podSelector": {}},
            {}
        ]}]}));
        assert_eq!(
            m,
            [
                "spec.ingress[0].from[0].ipBlock.cidr: Invalid value: \"10.0.0.0/33\": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
                "spec.ingress[0].from[1].ipBlock.except[0]: Invalid value: \"10.1.0.0/24\": must be a strict subset of `cidr`",
                "spec.ingress[0].from[1].ipBlock.except[1]: Invalid value: \"10.0.0.0/16\": must be a strict subset of `cidr`",
                "spec.ingress[0].from[1].ipBlock.except[2]: Invalid value: \"bad\": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
                "spec.ingress[0].from[2]: Forbidden: may not specify both ipBlock and another peer",
                "spec.ingress[0].from[3]: Required value: must specify a peer",
            ]
        );
    }

    #[test]
    fn ports_and_policy_types_as_kube_apiserver() {
        let m = messages(json!({"podSelector": {}, "egress": [{"ports": [
            {"protocol": "ICMP", "port": 80},
            {"port": 90, "endPort": 80},
            {"port": "http", "endPort": 90},
            {"endPort": 90},
            {"port": 0},
            {"port": "Not_A_Name"},
            {"port": 1000, "endPort": 2000}
        ]}], "policyTypes": ["Ingress", "Sideways"]}));
        assert_eq!(
            m,
            [
                "spec.egress[0].ports[0].protocol: Unsupported value: \"ICMP\": supported values: \"TCP\", \"UDP\", \"SCTP\"",
                "spec.egress[0].ports[1].endPort: Invalid value: 90: must be greater than or equal to `port`",
                "spec.egress[0].ports[2].endPort: Invalid value: 90: may not be specified when `port` is non-numeric",
                "spec.egress[0].ports[3].endPort: Invalid value: 90: may not be specified when `port` is not specified",
                "spec.egress[0].ports[4].port: Invalid value: 0: must be between 1 and 65535, inclusive",
                "spec.egress[0].ports[5].port: Invalid value: \"Not_A_Name\": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)",
                "spec.policyTypes[1]: Unsupported value: \"Sideways\": supported values: \"Ingress\", \"Egress\"",
            ]
        );
        let ok = messages(json!({"podSelector": {}, "ingress": [{"from": [
            {"ipBlock": {"cidr": "192.168.0.0/16", "except": ["192.168.1.0/24"]}},
            {"podSelector": {}, "namespaceSelector": {}}
        ], "ports": [{"port": "http"}, {"protocol": "UDP", "port": 53, "endPort": 54}]}],
        "policyTypes": ["Ingress", "Egress"]}));
        assert!(ok.is_empty(), "{ok:?}");
    }
}
