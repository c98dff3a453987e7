//! [`Snapshot`]: every name rkube answers under the cluster domain, built
//! from Services and EndpointSlices as CoreDNS's `kubernetes` plugin
//! derives them (`pods insecure`: pod names are read from the query, not
//! looked up). A pure function of its inputs; the watch (`watch.rs`)
//! rebuilds it on each change and the server swaps it in whole.
//!
//! Names are keys in lower case without the trailing dot. Every name
//! between a record's name and the zone exists too (an empty
//! non-terminal), so `svc.cluster.local` or `default.svc.cluster.local`
//! answer NODATA, and names below nothing answer NXDOMAIN.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hickory_proto::rr::Name;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;

/// The label that ties an EndpointSlice to its Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// An SRV record's port and target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Srv {
    pub port: u16,
    pub target: Name,
}

/// What one name holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Node {
    pub a: Vec<Ipv4Addr>,
    pub aaaa: Vec<Ipv6Addr>,
    pub cname: Option<Name>,
    pub srv: Vec<Srv>,
    pub txt: Option<String>,
}

impl Node {
    fn add_ip(&mut self, ip: IpAddr) {
        match ip {
            IpAddr::V4(v4) if !self.a.contains(&v4) => self.a.push(v4),
            IpAddr::V6(v6) if !self.aaaa.contains(&v6) => self.aaaa.push(v6),
            _ => {}
        }
    }
}

/// The records of one cluster domain.
#[derive(Clone, Debug)]
pub struct Snapshot {
    /// The zone, lower case, no trailing dot (`cluster.local`).
    pub zone: String,
    /// The zone as a fully qualified name.
    pub zone_name: Name,
    /// The SOA's primary server (`ns.dns.<zone>`).
    pub ns_name: Name,
    /// The SOA's mailbox (`hostmaster.<zone>`).
    pub hostmaster: Name,
    /// Names under the zone.
    pub names: HashMap<String, Node>,
    /// Reverse records: ClusterIPs and headless endpoints' addresses.
    pub ptr: HashMap<IpAddr, Name>,
    /// The SOA serial: when this snapshot was built (seconds).
    pub serial: u32,
    /// Whether the watch has listed Services and EndpointSlices once:
    /// until then names under the zone answer SERVFAIL, not NXDOMAIN.
    pub synced: bool,
}

/// The version of the DNS specification answered at `dns-version.<zone>`.
pub const SPEC_VERSION: &str = "1.1.0";

/// `name` (a DNS name in text) as a fully qualified [`Name`], if valid.
pub fn fqdn(name: &str) -> Option<Name> {
    let mut n = Name::from_ascii(name).ok()?;
    n.set_fqdn(true);
    Some(n)
}

/// The key of a name: lower case, labels joined by dots, no trailing dot.
pub fn key(name: &Name) -> String {
    let mut out = String::with_capacity(64);
    for (i, label) in name.iter().enumerate() {
        if i > 0 {
            out.push('.');
        }
        for &b in label {
            out.push(b.to_ascii_lowercase() as char);
        }
    }
    out
}

/// The IP written with dashes (`10-0-0-1`, `fd00--1`), as CoreDNS names
/// endpoints without a hostname and pods.
pub fn dashed(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string().replace('.', "-"),
        IpAddr::V6(v6) => v6.to_string().replace(':', "-"),
    }
}

/// A dashed IP back (`10-0-0-1` → 10.0.0.1), if it is one.
pub fn undashed(label: &str) -> Option<IpAddr> {
    if label.contains('.') || label.contains(':') {
        return None;
    }
    if let Ok(v4) = label.replace('-', ".").parse::<Ipv4Addr>() {
        return Some(IpAddr::V4(v4));
    }
    label
        .replace('-', ":")
        .parse::<Ipv6Addr>()
        .ok()
        .map(IpAddr::V6)
}

/// An endpoint of a headless Service, as DNS sees it.
struct Endpoint {
    hostname: String,
    ip: IpAddr,
}

impl Snapshot {
    /// A snapshot with nothing listed yet (`synced` false).
    pub fn empty(zone: &str) -> Snapshot {
        let zone = zone.trim_end_matches('.').to_ascii_lowercase();
        let zone_name = fqdn(&zone).unwrap_or_else(Name::root);
        let ns_name = fqdn(&format!("ns.dns.{zone}")).unwrap_or_else(|| zone_name.clone());
        let hostmaster = fqdn(&format!("hostmaster.{zone}")).unwrap_or_else(|| zone_name.clone());
        Snapshot {
            zone,
            zone_name,
            ns_name,
            hostmaster,
            names: HashMap::new(),
            ptr: HashMap::new(),
            serial: 0,
            synced: false,
        }
    }

    /// The snapshot of these Services and EndpointSlices.
    pub fn build<'a>(
        zone: &str,
        services: impl IntoIterator<Item = &'a Service>,
        slices: impl IntoIterator<Item = &'a EndpointSlice>,
        serial: u32,
    ) -> Snapshot {
        let mut snap = Snapshot::empty(zone);
        snap.serial = serial;
        snap.synced = true;
        let zone = snap.zone.clone();
        snap.node(&zone);
        snap.node(&format!("svc.{zone}"));
        snap.node(&format!("pod.{zone}"));
        snap.node(&format!("dns-version.{zone}")).txt = Some(SPEC_VERSION.to_string());

        // Slices by (namespace, service), in name order so answers are
        // stable.
        let mut by_service: HashMap<(String, String), Vec<&EndpointSlice>> = HashMap::new();
        for slice in slices {
            let ns = slice.metadata.namespace.clone().unwrap_or_default();
            let Some(svc) = slice
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(SERVICE_NAME_LABEL))
            else {
                continue;
            };
            by_service.entry((ns, svc.clone())).or_default().push(slice);
        }
        for list in by_service.values_mut() {
            list.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        }
        // Services in (namespace, name) order.
        let mut ordered: BTreeMap<(String, String), &Service> = BTreeMap::new();
        for svc in services {
            let ns = svc.metadata.namespace.clone().unwrap_or_default();
            let name = svc.metadata.name.clone().unwrap_or_default();
            if ns.is_empty() || name.is_empty() {
                continue;
            }
            ordered.insert((ns, name), svc);
        }
        for ((ns, name), svc) in &ordered {
            let slices = by_service
                .get(&(ns.clone(), name.clone()))
                .map(Vec::as_slice)
                .unwrap_or_default();
            snap.add_service(ns, name, svc, slices);
        }
        // The name server's name points at the kube-dns Service.
        let dns_key = format!("kube-dns.kube-system.svc.{zone}");
        if let Some(node) = snap.names.get(&dns_key).cloned() {
            let ns = snap.node(&format!("ns.dns.{zone}"));
            ns.a = node.a;
            ns.aaaa = node.aaaa;
        }
        snap
    }

    /// The node at `name` (a key), created with its empty ancestors up to
    /// the zone.
    fn node(&mut self, name: &str) -> &mut Node {
        let mut at = name;
        while at.len() > self.zone.len() {
            match at.split_once('.') {
                Some((_, parent)) => {
                    self.names.entry(parent.to_string()).or_default();
                    at = parent;
                }
                None => break,
            }
        }
        self.names.entry(name.to_string()).or_default()
    }

    fn add_service(&mut self, ns: &str, name: &str, svc: &Service, slices: &[&EndpointSlice]) {
        let Some(spec) = svc.spec.as_ref() else {
            return;
        };
        let base = format!("{name}.{ns}.svc.{}", self.zone).to_ascii_lowercase();
        let Some(base_name) = fqdn(&base) else {
            return;
        };
        if spec.type_.as_deref() == Some("ExternalName") {
            let target = spec
                .external_name
                .as_deref()
                .and_then(fqdn)
                .filter(|n| n.num_labels() > 0);
            self.node(&base).cname = target;
            return;
        }
        let mut ips: Vec<&str> = spec
            .cluster_ips
            .iter()
            .flatten()
            .map(String::as_str)
            .collect();
        if ips.is_empty() {
            ips.extend(spec.cluster_ip.as_deref());
        }
        let headless = ips.first().is_some_and(|ip| *ip == "None");
        if !headless {
            let parsed: Vec<IpAddr> = ips.iter().filter_map(|ip| ip.parse().ok()).collect();
            if parsed.is_empty() {
                // No address yet (or none at all): the name exists, empty.
                self.node(&base);
                return;
            }
            let node = self.node(&base);
            for ip in &parsed {
                node.add_ip(*ip);
            }
            for ip in parsed {
                self.ptr.entry(ip).or_insert_with(|| base_name.clone());
            }
            for port in spec.ports.iter().flatten() {
                let Some(port_name) = port.name.as_deref().filter(|n| !n.is_empty()) else {
                    continue;
                };
                let Ok(number) = u16::try_from(port.port) else {
                    continue;
                };
                let proto = port
                    .protocol
                    .as_deref()
                    .unwrap_or("TCP")
                    .to_ascii_lowercase();
                let srv = Srv {
                    port: number,
                    target: base_name.clone(),
                };
                self.node(&format!("_{port_name}._{proto}.{base}").to_ascii_lowercase())
                    .srv
                    .push(srv.clone());
                self.node(&base).srv.push(srv);
            }
            return;
        }
        // Headless: the endpoints, ready ones (or all when the Service
        // publishes not-ready addresses).
        let publish_all = spec.publish_not_ready_addresses.unwrap_or(false);
        let mut endpoints: Vec<Endpoint> = Vec::new();
        let mut ports: Vec<(String, String, u16)> = Vec::new();
        for slice in slices {
            for ep in slice.endpoints.iter().flatten() {
                let ready = ep.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true);
                if !ready && !publish_all {
                    continue;
                }
                for addr in &ep.addresses {
                    let Ok(ip) = addr.parse::<IpAddr>() else {
                        continue;
                    };
                    if endpoints.iter().any(|e| e.ip == ip) {
                        continue;
                    }
                    let hostname = ep
                        .hostname
                        .clone()
                        .filter(|h| !h.is_empty())
                        .unwrap_or_else(|| dashed(ip))
                        .to_ascii_lowercase();
                    endpoints.push(Endpoint { hostname, ip });
                }
            }
            for port in slice.ports.iter().flatten() {
                let Some(port_name) = port.name.as_deref().filter(|n| !n.is_empty()) else {
                    continue;
                };
                let Some(number) = port.port.and_then(|p| u16::try_from(p).ok()) else {
                    continue;
                };
                let proto = port
                    .protocol
                    .as_deref()
                    .unwrap_or("TCP")
                    .to_ascii_lowercase();
                let entry = (port_name.to_ascii_lowercase(), proto, number);
                if !ports.contains(&entry) {
                    ports.push(entry);
                }
            }
        }
        self.node(&base);
        for ep in &endpoints {
            let host = format!("{}.{base}", ep.hostname);
            let Some(host_name) = fqdn(&host) else {
                continue;
            };
            self.node(&base).add_ip(ep.ip);
            self.node(&host).add_ip(ep.ip);
            self.ptr.entry(ep.ip).or_insert_with(|| host_name.clone());
            for (port_name, proto, number) in &ports {
                let srv = Srv {
                    port: *number,
                    target: host_name.clone(),
                };
                self.node(&format!("_{port_name}._{proto}.{base}"))
                    .srv
                    .push(srv.clone());
                self.node(&base).srv.push(srv);
            }
        }
    }

    /// The records at `key`, if the name exists.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.names.get(key)
    }

    /// Whether `key` is the zone or under it.
    pub fn in_zone(&self, key: &str) -> bool {
        key == self.zone
            || (key.len() > self.zone.len()
                && key.ends_with(self.zone.as_str())
                && key.as_bytes()[key.len() - self.zone.len() - 1] == b'.')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(v: serde_json::Value) -> Service {
        serde_json::from_value(v).expect("service")
    }

    #[test]
    fn names_exist_up_to_the_zone_and_ips_dash() {
        let s = svc(serde_json::json!({
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"clusterIP": "10.96.0.20", "clusterIPs": ["10.96.0.20"],
                     "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}
        }));
        let snap = Snapshot::build("cluster.local.", [&s], [], 7);
        for k in [
            "cluster.local",
            "svc.cluster.local",
            "shop.svc.cluster.local",
            "web.shop.svc.cluster.local",
            "_tcp.web.shop.svc.cluster.local",
            "_http._tcp.web.shop.svc.cluster.local",
        ] {
            assert!(snap.get(k).is_some(), "{k} exists");
        }
        assert_eq!(
            snap.get("web.shop.svc.cluster.local").expect("web").a,
            vec![Ipv4Addr::new(10, 96, 0, 20)]
        );
        assert!(snap.in_zone("a.cluster.local") && !snap.in_zone("xcluster.local"));
        assert_eq!(dashed("10.1.2.3".parse().expect("ip")), "10-1-2-3");
        assert_eq!(undashed("10-1-2-3"), Some("10.1.2.3".parse().expect("ip")));
        assert_eq!(undashed("fd00--1"), Some("fd00::1".parse().expect("ip")));
        assert_eq!(undashed("web"), None);
    }
}
