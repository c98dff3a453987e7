//! Service cluster IPs and node ports, allocated in the same store
//! transaction that writes the Service, as kube-apiserver does: each
//! allocation is a key (`/registry/ranges/serviceips/<ip>`,
//! `/registry/ranges/servicenodeports/<port>`) that must not exist yet, so
//! two Services can never get the same one, and the keys go when the
//! Service goes.
//!
//! Ranges: cluster IPs from the service range (kube-apiserver's
//! `--service-cluster-ip-range`, default `10.96.0.0/12`; its first address
//! is kept for the `kubernetes` Service), set once per process with
//! [`set_service_ip_range`] before serving; node ports `30000-32767`.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;
use std::sync::OnceLock;

use bytes::Bytes;
use rand::Rng;
use rkube_apimachinery::{ApiError, Cause};
use serde_json::Value;

/// An IPv4 service range (`10.96.0.0/12`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceIpRange {
    base: u32,
    prefix_len: u32,
}

impl ServiceIpRange {
    /// kube-apiserver's default, `10.96.0.0/12`.
    pub const DEFAULT: ServiceIpRange = ServiceIpRange {
        base: u32::from_be_bytes([10, 96, 0, 0]),
        prefix_len: 12,
    };

    fn mask(&self) -> u32 {
        u32::MAX.checked_shl(32 - self.prefix_len).unwrap_or(0)
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == self.base
    }

    /// The first address: the `kubernetes` Service's.
    pub fn first(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.base + 1)
    }

    /// The tenth address: where kubeadm puts cluster DNS.
    pub fn tenth(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.base + 10)
    }

    fn random(&self) -> Ipv4Addr {
        let size = 1u64 << (32 - self.prefix_len);
        // Skip the network address, the first (the kubernetes Service),
        // the tenth (kube-dns, made by the server at start; a Service
        // created before it must not take it) and the broadcast address.
        loop {
            let offset = rand::thread_rng().gen_range(2..size - 1) as u32;
            if offset != 10 {
                return Ipv4Addr::from(self.base + offset);
            }
        }
    }
}

impl fmt::Display for ServiceIpRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.base), self.prefix_len)
    }
}

impl FromStr for ServiceIpRange {
    type Err = String;

    /// `a.b.c.d/n` with 8 <= n <= 28 (room for the kubernetes Service and
    /// some more), the address being the network's.
    fn from_str(s: &str) -> Result<Self, String> {
        let (ip, len) = s
            .split_once('/')
            .ok_or_else(|| format!("{s:?} is not a CIDR (a.b.c.d/n)"))?;
        let ip: Ipv4Addr = ip.parse().map_err(|_| {
            format!("{ip:?} is not an IPv4 address (IPv6 service ranges are not supported yet)")
        })?;
        let prefix_len: u32 = len
            .parse()
            .ok()
            .filter(|n| (8..=28).contains(n))
            .ok_or_else(|| format!("the prefix length of {s:?} must be between 8 and 28"))?;
        let range = ServiceIpRange {
            base: u32::from(ip),
            prefix_len,
        };
        if u32::from(ip) & range.mask() != u32::from(ip) {
            return Err(format!(
                "{s:?} is not a network address (did you mean {}/{prefix_len}?)",
                Ipv4Addr::from(u32::from(ip) & range.mask())
            ));
        }
        Ok(range)
    }
}

static SERVICE_IP_RANGE: OnceLock<ServiceIpRange> = OnceLock::new();

/// Set this process's service range, once, before serving. Returns false
/// (and changes nothing) if it was already set to another range.
pub fn set_service_ip_range(range: ServiceIpRange) -> bool {
    *SERVICE_IP_RANGE.get_or_init(|| range) == range
}

/// This process's service range.
pub fn service_ip_range() -> ServiceIpRange {
    SERVICE_IP_RANGE
        .get()
        .copied()
        .unwrap_or(ServiceIpRange::DEFAULT)
}

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
    service_ip_range().contains(ip)
}

fn random_ip() -> Ipv4Addr {
    service_ip_range().random()
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
                &format!("failed to allocate IP {ip}: the provided IP ({ip}) is not in the valid range. The range of valid IPs is {}", service_ip_range()),
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
    fn service_ranges_parse_as_cidrs() {
        let r: ServiceIpRange = "10.201.3.0/24".parse().expect("parses");
        assert_eq!(r.to_string(), "10.201.3.0/24");
        assert_eq!(r.first(), Ipv4Addr::new(10, 201, 3, 1));
        assert_eq!(r.tenth(), Ipv4Addr::new(10, 201, 3, 10));
        assert!(r.contains(Ipv4Addr::new(10, 201, 3, 254)));
        assert!(!r.contains(Ipv4Addr::new(10, 201, 4, 1)));
        for _ in 0..100 {
            let ip = r.random();
            assert!(
                r.contains(ip) && ip != r.first() && ip.octets()[3] != 255 && ip.octets()[3] != 0
            );
        }
        assert_eq!(ServiceIpRange::DEFAULT.to_string(), "10.96.0.0/12");
        for bad in [
            "10.96.0.1/12",
            "10.96.0.0",
            "10.96.0.0/30",
            "fd00::/108",
            "x/12",
        ] {
            assert!(bad.parse::<ServiceIpRange>().is_err(), "{bad}");
        }
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
