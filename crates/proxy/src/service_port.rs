//! A Service as the proxy sees it: its ports ([`ServicePort`]) or nothing
//! when it gets no rules — headless (`clusterIP: None`), `ExternalName`,
//! handled by another proxy (label `service.kubernetes.io/service-proxy-name`,
//! as kube-proxy skips them) or without an IPv4 cluster IP (the table is
//! IPv4 only).

use std::net::Ipv4Addr;

use k8s_openapi::api::core::v1::Service;

use crate::model::{Protocol, ServiceName, ServicePort, ServicePortName, TrafficPolicy};

/// Services with this label belong to another proxy.
pub const LABEL_SERVICE_PROXY_NAME: &str = "service.kubernetes.io/service-proxy-name";

/// `sessionAffinityConfig.clientIP.timeoutSeconds`' default (3 hours).
pub const DEFAULT_AFFINITY_TIMEOUT: u32 = 10_800;

/// The ports of `svc` that get rules (empty for a Service that gets none).
pub fn service_ports(svc: &Service) -> Vec<ServicePort> {
    let (Some(namespace), Some(name)) = (&svc.metadata.namespace, &svc.metadata.name) else {
        return Vec::new();
    };
    if svc
        .metadata
        .labels
        .as_ref()
        .is_some_and(|l| l.contains_key(LABEL_SERVICE_PROXY_NAME))
    {
        return Vec::new();
    }
    let Some(spec) = &svc.spec else {
        return Vec::new();
    };
    let kind = spec.type_.as_deref().unwrap_or("ClusterIP");
    if kind == "ExternalName" {
        return Vec::new();
    }
    let Some(cluster_ip) = ipv4_cluster_ip(
        spec.cluster_ip.as_deref(),
        spec.cluster_ips.as_deref().unwrap_or(&[]),
    ) else {
        return Vec::new();
    };
    let external_ips: Vec<Ipv4Addr> = parse_ips(spec.external_ips.as_deref().unwrap_or(&[]));
    let load_balancer_ips: Vec<Ipv4Addr> = if kind == "LoadBalancer" {
        svc.status
            .as_ref()
            .and_then(|s| s.load_balancer.as_ref())
            .and_then(|lb| lb.ingress.as_ref())
            .map(|ingress| {
                ingress
                    .iter()
                    // ipMode Proxy: the load balancer proxies, the node
                    // must not capture its address.
                    .filter(|i| i.ip_mode.as_deref() != Some("Proxy"))
                    .filter_map(|i| i.ip.as_deref()?.parse().ok())
                    .collect()
            })
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    let source_ranges = spec
        .load_balancer_source_ranges
        .as_deref()
        .unwrap_or(&[])
        .iter()
        .filter_map(|r| parse_cidr(r))
        .collect::<Vec<_>>();
    let affinity_timeout = (spec.session_affinity.as_deref() == Some("ClientIP")).then(|| {
        spec.session_affinity_config
            .as_ref()
            .and_then(|c| c.client_ip.as_ref())
            .and_then(|c| c.timeout_seconds)
            .and_then(|t| u32::try_from(t).ok())
            .filter(|t| *t > 0)
            .unwrap_or(DEFAULT_AFFINITY_TIMEOUT)
    });
    let internal_policy = policy(spec.internal_traffic_policy.as_deref());
    let externally_accessible =
        kind == "NodePort" || kind == "LoadBalancer" || !external_ips.is_empty();
    let external_policy = if externally_accessible {
        policy(spec.external_traffic_policy.as_deref())
    } else {
        TrafficPolicy::Cluster
    };
    let health_check_node_port = if external_policy == TrafficPolicy::Local {
        spec.health_check_node_port
            .and_then(|p| u16::try_from(p).ok())
            .unwrap_or(0)
    } else {
        0
    };
    let service = ServiceName::new(namespace, name);
    let mut out = Vec::new();
    for p in spec.ports.as_deref().unwrap_or(&[]) {
        let Some(protocol) = Protocol::parse(p.protocol.as_deref()) else {
            continue;
        };
        let Ok(port) = u16::try_from(p.port) else {
            continue;
        };
        let node_port = if kind == "NodePort" || kind == "LoadBalancer" {
            p.node_port.and_then(|n| u16::try_from(n).ok()).unwrap_or(0)
        } else {
            0
        };
        out.push(ServicePort {
            name: ServicePortName {
                service: service.clone(),
                port: p.name.clone().unwrap_or_default(),
                protocol,
            },
            cluster_ip,
            port,
            node_port,
            external_ips: external_ips.clone(),
            load_balancer_ips: load_balancer_ips.clone(),
            source_ranges: source_ranges.clone(),
            affinity_timeout,
            internal_policy,
            external_policy,
            health_check_node_port,
        });
    }
    out
}

fn policy(p: Option<&str>) -> TrafficPolicy {
    match p {
        Some("Local") => TrafficPolicy::Local,
        _ => TrafficPolicy::Cluster,
    }
}

/// The IPv4 cluster IP: `clusterIP` if it is one, else the first IPv4 of
/// `clusterIPs`; `None` for headless Services.
fn ipv4_cluster_ip(primary: Option<&str>, all: &[String]) -> Option<Ipv4Addr> {
    std::iter::once(primary?)
        .chain(all.iter().map(String::as_str))
        .find_map(|s| s.parse::<Ipv4Addr>().ok())
}

fn parse_ips(ips: &[String]) -> Vec<Ipv4Addr> {
    ips.iter().filter_map(|s| s.parse().ok()).collect()
}

fn parse_cidr(s: &str) -> Option<(Ipv4Addr, u8)> {
    let s = s.trim();
    match s.split_once('/') {
        Some((ip, len)) => {
            let len: u8 = len.parse().ok().filter(|l| *l <= 32)?;
            let ip: Ipv4Addr = ip.parse().ok()?;
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            Some((Ipv4Addr::from(u32::from(ip) & mask), len))
        }
        None => Some((s.parse().ok()?, 32)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(json: serde_json::Value) -> Service {
        serde_json::from_value(json).expect("test service")
    }

    #[test]
    fn cluster_ip_ports_with_defaults() {
        let s = svc(serde_json::json!({
            "metadata": {"namespace": "default", "name": "web"},
            "spec": {"clusterIP": "10.96.0.20", "ports": [
                {"name": "http", "port": 80},
                {"name": "dns", "port": 53, "protocol": "UDP"}
            ]}
        }));
        let ports = service_ports(&s);
        assert_eq!(ports.len(), 2);
        assert_eq!(ports[0].name.protocol, Protocol::Tcp);
        assert_eq!(ports[1].name.protocol, Protocol::Udp);
        assert_eq!(ports[0].node_port, 0);
        assert!(!ports[0].externally_accessible());
        assert_eq!(ports[0].affinity_timeout, None);
    }

    #[test]
    fn headless_external_name_and_foreign_proxies_get_nothing() {
        for spec in [
            serde_json::json!({"clusterIP": "None", "ports": [{"port": 80}]}),
            serde_json::json!({"type": "ExternalName", "externalName": "x.example", "ports": [{"port": 80}]}),
        ] {
            let s =
                svc(serde_json::json!({"metadata": {"namespace": "a", "name": "b"}, "spec": spec}));
            assert!(service_ports(&s).is_empty());
        }
        let s = svc(serde_json::json!({
            "metadata": {"namespace": "a", "name": "b", "labels": {LABEL_SERVICE_PROXY_NAME: "other"}},
            "spec": {"clusterIP": "10.96.0.3", "ports": [{"port": 80}]}
        }));
        assert!(service_ports(&s).is_empty());
    }

    #[test]
    fn load_balancer_local_with_affinity() {
        let s = svc(serde_json::json!({
            "metadata": {"namespace": "a", "name": "lb"},
            "spec": {"type": "LoadBalancer", "clusterIP": "10.96.0.4",
                "externalTrafficPolicy": "Local", "healthCheckNodePort": 31000,
                "sessionAffinity": "ClientIP", "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 60}},
                "loadBalancerSourceRanges": ["192.168.1.7/16"],
                "ports": [{"port": 80, "nodePort": 30080}]},
            "status": {"loadBalancer": {"ingress": [{"ip": "172.16.0.9"}, {"ip": "172.16.0.10", "ipMode": "Proxy"}]}}
        }));
        let p = &service_ports(&s)[0];
        assert_eq!(p.node_port, 30080);
        assert_eq!(p.load_balancer_ips, vec![Ipv4Addr::new(172, 16, 0, 9)]);
        assert_eq!(p.source_ranges, vec![(Ipv4Addr::new(192, 168, 0, 0), 16)]);
        assert_eq!(p.external_policy, TrafficPolicy::Local);
        assert_eq!(p.health_check_node_port, 31000);
        assert_eq!(p.affinity_timeout, Some(60));
        assert!(p.uses_cluster_endpoints() && p.uses_local_endpoints());
    }

    #[test]
    fn external_policy_needs_external_access() {
        let s = svc(serde_json::json!({
            "metadata": {"namespace": "a", "name": "c"},
            "spec": {"clusterIP": "10.96.0.5", "externalTrafficPolicy": "Local",
                "sessionAffinity": "ClientIP", "ports": [{"port": 80}]}
        }));
        let p = &service_ports(&s)[0];
        assert_eq!(p.external_policy, TrafficPolicy::Cluster);
        assert_eq!(p.affinity_timeout, Some(DEFAULT_AFFINITY_TIMEOUT));
    }
}
