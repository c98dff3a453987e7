//! Stale UDP conntrack entries (kube-proxy's rules): UDP has no
//! connection to end, so an entry DNATed to an endpoint that went would
//! keep sending a client's datagrams into the void. After a sync the proxy
//! deletes, with `conntrack -D`:
//! - entries to a Service port's addresses (ClusterIP, external and load
//!   balancer IPs) and NodePort that were DNATed to an endpoint no longer
//!   used;
//! - entries to a Service port that had no endpoints and now has some
//!   (they were made while its traffic was rejected or dropped);
//! - entries to a Service port that went.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use crate::model::Protocol;
use crate::rules::{PortSummary, ServiceRules};

/// One `conntrack -D -p udp …`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Flush {
    /// Entries to `ip:port`, or only those DNATed to `endpoint`.
    ServiceIp {
        ip: Ipv4Addr,
        port: u16,
        endpoint: Option<Ipv4Addr>,
    },
    /// Entries to a NodePort, or only those DNATed to `endpoint`.
    NodePort {
        port: u16,
        endpoint: Option<Ipv4Addr>,
    },
}

impl Flush {
    /// `conntrack`'s arguments.
    pub fn args(&self) -> Vec<String> {
        let mut a: Vec<String> = ["-D", "-p", "udp"].map(String::from).to_vec();
        let endpoint = match self {
            Flush::ServiceIp { ip, port, endpoint } => {
                a.extend(["--orig-dst".into(), ip.to_string()]);
                a.extend(["--dport".into(), port.to_string()]);
                endpoint
            }
            Flush::NodePort { port, endpoint } => {
                a.extend(["--dport".into(), port.to_string()]);
                endpoint
            }
        };
        if let Some(ep) = endpoint {
            a.extend(["--dst-nat".into(), ep.to_string()]);
        }
        a
    }
}

/// What to delete after one Service's rules went from `old` to `new`.
pub fn stale_flows(old: Option<&ServiceRules>, new: Option<&ServiceRules>) -> BTreeSet<Flush> {
    let mut out = BTreeSet::new();
    let udp = |r: Option<&ServiceRules>| -> Vec<PortSummary> {
        r.map(|r| {
            r.ports
                .iter()
                .filter(|p| p.name.protocol == Protocol::Udp)
                .cloned()
                .collect()
        })
        .unwrap_or_default()
    };
    let old_ports = udp(old);
    let new_ports = udp(new);
    for op in &old_ports {
        let np = new_ports.iter().find(|p| p.name == op.name);
        let gone: Vec<Ipv4Addr> = match np {
            None => {
                for ip in &op.ips {
                    out.insert(Flush::ServiceIp {
                        ip: *ip,
                        port: op.port,
                        endpoint: None,
                    });
                }
                if op.node_port != 0 {
                    out.insert(Flush::NodePort {
                        port: op.node_port,
                        endpoint: None,
                    });
                }
                continue;
            }
            Some(np) => op
                .endpoints
                .iter()
                .filter(|e| !np.endpoints.contains(e))
                .copied()
                .collect(),
        };
        for ep in gone {
            for ip in &op.ips {
                out.insert(Flush::ServiceIp {
                    ip: *ip,
                    port: op.port,
                    endpoint: Some(ep),
                });
            }
            if op.node_port != 0 {
                out.insert(Flush::NodePort {
                    port: op.node_port,
                    endpoint: Some(ep),
                });
            }
        }
    }
    for np in &new_ports {
        let had = old_ports
            .iter()
            .find(|p| p.name == np.name)
            .is_some_and(|p| !p.endpoints.is_empty());
        if !had && !np.endpoints.is_empty() {
            for ip in &np.ips {
                out.insert(Flush::ServiceIp {
                    ip: *ip,
                    port: np.port,
                    endpoint: None,
                });
            }
            if np.node_port != 0 {
                out.insert(Flush::NodePort {
                    port: np.node_port,
                    endpoint: None,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ServiceName, ServicePortName};

    fn rules(eps: &[u8], proto: Protocol) -> ServiceRules {
        ServiceRules {
            ports: vec![PortSummary {
                name: ServicePortName {
                    service: ServiceName::new("a", "dns"),
                    port: "dns".into(),
                    protocol: proto,
                },
                ips: vec![Ipv4Addr::new(10, 96, 0, 10)],
                port: 53,
                node_port: 30053,
                endpoints: eps.iter().map(|l| Ipv4Addr::new(10, 244, 0, *l)).collect(),
            }],
            ..ServiceRules::default()
        }
    }

    #[test]
    fn a_gone_udp_endpoint_loses_its_flows() {
        let f = stale_flows(
            Some(&rules(&[2, 3], Protocol::Udp)),
            Some(&rules(&[3], Protocol::Udp)),
        );
        let args: Vec<String> = f.iter().map(|f| f.args().join(" ")).collect();
        assert_eq!(
            args,
            [
                "-D -p udp --orig-dst 10.96.0.10 --dport 53 --dst-nat 10.244.0.2",
                "-D -p udp --dport 30053 --dst-nat 10.244.0.2",
            ]
        );
    }

    #[test]
    fn first_endpoints_and_removal_flush_the_service() {
        let f = stale_flows(
            Some(&rules(&[], Protocol::Udp)),
            Some(&rules(&[4], Protocol::Udp)),
        );
        assert!(f.contains(&Flush::ServiceIp {
            ip: Ipv4Addr::new(10, 96, 0, 10),
            port: 53,
            endpoint: None
        }));
        assert!(f.contains(&Flush::NodePort {
            port: 30053,
            endpoint: None
        }));
        let f = stale_flows(Some(&rules(&[4], Protocol::Udp)), None);
        assert_eq!(f.len(), 2);
        assert!(stale_flows(Some(&rules(&[2], Protocol::Tcp)), None).is_empty());
        assert!(stale_flows(
            Some(&rules(&[2], Protocol::Udp)),
            Some(&rules(&[2], Protocol::Udp))
        )
        .is_empty());
    }
}
