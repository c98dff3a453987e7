//! Service cluster IPs and node ports, allocated in the same store
//! transaction that writes the Service, as kube-apiserver does: each
//! allocation is a key (`/registry/ranges/serviceips/<ip>`,
//! `/registry/ranges/servicenodeports/<port>`) that must not exist yet, so
//! two Services can never get the same one, and the keys go when the
//! Service goes.
//!
//! Ranges: kube-apiserver's defaults, `10.96.0.0/12` for cluster IPs
//! (`10.96.0.1` is kept for the `kubernetes` Service) and `30000-32767` for
//! node ports.

use std::net::Ipv4Addr;

use bytes::Bytes;
use rand::Rng;
use rkube_apimachinery::{ApiError, Cause};
use serde_json::Value;

const IP_BASE: u32 = u32::from_be_bytes([10, 96, 0, 0]);
const IP_PREFIX_LEN: u32 = 12;
const NODE_PORTS: std::ops::RangeInclusive<u16> = 30000..=32767;

/// One allocation: its key, and whether the client asked for exactly it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allocation {
    pub key: Bytes,
    pub requested: bool,
    /// Field and value for the error when a requested one is taken.
    pub field: String,
    pub value: Value,
    pub what: String,
}

fn ip_key(ip: Ipv4Addr) -> Bytes {
    Bytes::from(format!("/registry/ranges/serviceips/{ip}"))
}

fn port_key(port: u16) -> Bytes {
    Bytes::from(format!("/registry/ranges/servicenodeports/{port}"))
}

fn in_range(ip: Ipv4Addr) -> bool {
    let mask = u32::MAX << (32 - IP_PREFIX_LEN);
    u32::from(ip) & mask == IP_BASE
}

fn random_ip() -> Ipv4Addr {
    let size = 1u32 << (32 - IP_PREFIX_LEN);
    // Skip the network address, .1 (the kubernetes Service) and broadcast.
    let offset = rand::thread_rng().gen_range(2..size - 1);
    Ipv4Addr::from(IP_BASE + offset)
}

/// Fill in and collect the allocations a new Service needs; errors for
/// requested values outside the ranges.
pub fn for_new_service(obj: &mut Value) -> Result<Vec<Allocation>, Vec<Cause>> {
    let mut out = Vec::new();
    let mut causes = Vec::new();
    let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else {
        return Ok(out);
    };
    let svc_type = spec
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP")
        .to_string();
    if svc_type == "ExternalName" {
        return Ok(out);
    }
    let given = spec
        .get("clusterIP")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    match given.as_str() {
        "None" => {
            spec.insert("clusterIPs".into(), Value::from(vec!["None"]));
        }
        "" => {
            let ip = random_ip();
            spec.insert("clusterIP".into(), Value::from(ip.to_string()));
            spec.insert("clusterIPs".into(), Value::from(vec![ip.to_string()]));
            out.push(Allocation {
                key: ip_key(ip),
                requested: false,
                field: "spec.clusterIPs".into(),
                value: Value::from(vec![ip.to_string()]),
                what: format!("IP {ip}"),
            });
        }
        s => match s.parse::<Ipv4Addr>() {
            Ok(ip) if in_range(ip) => {
                spec.insert("clusterIPs".into(), Value::from(vec![ip.to_string()]));
                out.push(Allocation {
                    key: ip_key(ip),
                    requested: true,
                    field: "spec.clusterIPs".into(),
                    value: Value::from(vec![ip.to_string()]),
                    what: format!("IP {ip}"),
                });
            }
            Ok(ip) => causes.push(Cause::invalid(
                "spec.clusterIPs",
                Value::from(vec![ip.to_string()]),
                &format!("failed to allocate IP {ip}: the provided IP ({ip}) is not in the valid range. The range of valid IPs is 10.96.0.0/12"),
            )),
            Err(_) => causes.push(Cause::invalid(
                "spec.clusterIPs[0]",
                Value::from(s),
                "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
            )),
        },
    }
    if svc_type == "NodePort" || svc_type == "LoadBalancer" {
        let mut used = Vec::new();
        if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
            for (i, p) in ports.iter_mut().enumerate() {
                let Some(p) = p.as_object_mut() else { continue };
                let field = format!("spec.ports[{i}].nodePort");
                match p.get("nodePort").and_then(Value::as_i64) {
                    Some(n) if n != 0 => {
                        let Some(port) = u16::try_from(n).ok().filter(|n| NODE_PORTS.contains(n))
                        else {
                            causes.push(Cause::invalid(
                                &field,
                                Value::from(n),
                                "provided port is not in the valid range. The range of valid ports is 30000-32767",
                            ));
                            continue;
                        };
                        used.push(port);
                        out.push(Allocation {
                            key: port_key(port),
                            requested: true,
                            field,
                            value: Value::from(n),
                            what: format!("port {port}"),
                        });
                    }
                    _ => {
                        let port = loop {
                            let c = rand::thread_rng().gen_range(NODE_PORTS);
                            if !used.contains(&c) {
                                break c;
                            }
                        };
                        used.push(port);
                        p.insert("nodePort".into(), Value::from(port));
                        out.push(Allocation {
                            key: port_key(port),
                            requested: false,
                            field,
                            value: Value::from(port),
                            what: format!("port {port}"),
                        });
                    }
                }
            }
        }
    }
    if causes.is_empty() {
        Ok(out)
    } else {
        Err(causes)
    }
}

/// The allocation keys a stored Service holds (to release on delete).
pub fn held_by(obj: &Value) -> Vec<Bytes> {
    let mut keys = Vec::new();
    let spec = obj.get("spec");
    if let Some(ip) = spec
        .and_then(|s| s.get("clusterIP"))
        .and_then(Value::as_str)
        .and_then(|s| s.parse::<Ipv4Addr>().ok())
    {
        keys.push(ip_key(ip));
    }
    for p in spec
        .and_then(|s| s.get("ports"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(port) = p
            .get("nodePort")
            .and_then(Value::as_i64)
            .and_then(|n| u16::try_from(n).ok())
        {
            keys.push(port_key(port));
        }
    }
    keys
}

/// The error for a requested allocation that is taken.
pub fn taken(a: &Allocation, name: &str) -> ApiError {
    ApiError::invalid(
        "",
        "Service",
        name,
        vec![Cause::invalid(
            &a.field,
            a.value.clone(),
            &format!(
                "failed to allocate {}: provided {} is already allocated",
                a.what,
                if a.what.starts_with("IP") {
                    "IP"
                } else {
                    "port"
                }
            ),
        )],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_new_service_gets_an_ip_in_range_and_node_ports() {
        let mut svc = json!({"spec": {"type": "NodePort", "ports": [{"port": 80}, {"port": 443}]}});
        let allocs = for_new_service(&mut svc).expect("allocates");
        let ip: Ipv4Addr = svc["spec"]["clusterIP"]
            .as_str()
            .expect("ip")
            .parse()
            .expect("parses");
        assert!(in_range(ip) && ip != Ipv4Addr::new(10, 96, 0, 1));
        assert_eq!(svc["spec"]["clusterIPs"], json!([ip.to_string()]));
        assert_eq!(allocs.len(), 3);
        let p0 = svc["spec"]["ports"][0]["nodePort"].as_u64().expect("port");
        assert!((30000..=32767).contains(&p0));
        assert_ne!(
            svc["spec"]["ports"][0]["nodePort"],
            svc["spec"]["ports"][1]["nodePort"]
        );
        assert_eq!(held_by(&svc).len(), 3);
    }

    #[test]
    fn headless_and_external_name_allocate_nothing_and_bad_values_are_invalid() {
        let mut headless = json!({"spec": {"clusterIP": "None", "ports": [{"port": 80}]}});
        assert_eq!(for_new_service(&mut headless).expect("ok"), vec![]);
        let mut ext = json!({"spec": {"type": "ExternalName", "externalName": "x.example"}});
        assert_eq!(for_new_service(&mut ext).expect("ok"), vec![]);
        let mut out_of_range = json!({"spec": {"clusterIP": "192.168.1.1"}});
        let causes = for_new_service(&mut out_of_range).expect_err("out of range");
        assert_eq!(causes[0].field, "spec.clusterIPs");
        let mut bad_port =
            json!({"spec": {"type": "NodePort", "ports": [{"port": 80, "nodePort": 80}]}});
        assert_eq!(
            for_new_service(&mut bad_port).expect_err("bad port")[0].field,
            "spec.ports[0].nodePort"
        );
    }
}
