//! The addresses of one `rkube bench net` run: a bridge name, a cluster
//! pod range and a service range no route of this host mentions, and the
//! made-up endpoint addresses — inside the cluster range, off the node's
//! own /24, so they are routed to rkube's dummy interface and nothing sent
//! to them could leave the machine.

use std::net::Ipv4Addr;

use anyhow::Context;
use rand::Rng;
use rkube_net::Ipv4Cidr;

/// Names and ranges of one run, unique to it.
#[derive(Clone, Debug)]
pub(super) struct Net {
    pub bridge: String,
    /// A /16: the node gets its first /24, the rest holds made-up
    /// endpoints.
    pub cluster_cidr: Ipv4Cidr,
    /// A /16 (room for many Services).
    pub service_range: Ipv4Cidr,
}

impl Net {
    /// A free pair of /16s among 10.210.0.0 – 10.251.0.0 (the pod range at
    /// an even second octet, the services at the next), and a bridge name.
    pub fn pick() -> anyhow::Result<Net> {
        let out = std::process::Command::new("ip")
            .args(["-4", "route", "show", "table", "all"])
            .output()
            .context("cannot run ip (install the Debian package iproute2)")?;
        anyhow::ensure!(out.status.success(), "ip route show failed");
        let routes = String::from_utf8_lossy(&out.stdout).to_string();
        let mut rng = rand::thread_rng();
        let mut candidates: Vec<u8> = (210..=250).step_by(2).collect();
        for i in (1..candidates.len()).rev() {
            candidates.swap(i, rng.gen_range(0..=i));
        }
        for x in candidates {
            let free = |o: u8| !routes.contains(&format!("10.{o}."));
            if free(x) && free(x + 1) {
                return Ok(Net {
                    bridge: format!("rkbt{:06x}", rng.gen::<u32>() & 0xff_ffff),
                    cluster_cidr: Ipv4Cidr::new(Ipv4Addr::new(10, x, 0, 0), 16)?,
                    service_range: Ipv4Cidr::new(Ipv4Addr::new(10, x + 1, 0, 0), 16)?,
                });
            }
        }
        anyhow::bail!("no free pair of /16s in 10.210.0.0 – 10.251.255.255 (every one is routed)")
    }
}

/// Made-up endpoint addresses: the cluster range in order, without the
/// node's pod range and without each /24's .0 and .255.
pub(super) struct EndpointAddrs {
    cluster: Ipv4Cidr,
    node: Ipv4Cidr,
    next: u32,
}

impl EndpointAddrs {
    pub fn new(cluster: Ipv4Cidr, node: Ipv4Cidr) -> EndpointAddrs {
        EndpointAddrs {
            cluster,
            node,
            next: u32::from(cluster.network()),
        }
    }

    /// How many there are in all.
    pub fn capacity(cluster: Ipv4Cidr, node: Ipv4Cidr) -> usize {
        EndpointAddrs::new(cluster, node).count()
    }
}

impl Iterator for EndpointAddrs {
    type Item = Ipv4Addr;

    fn next(&mut self) -> Option<Ipv4Addr> {
        let last = u32::from(self.cluster.broadcast());
        while self.next <= last {
            let ip = Ipv4Addr::from(self.next);
            self.next += 1;
            let host = ip.octets()[3];
            if host != 0 && host != 255 && !self.node.contains(ip) && self.cluster.contains(ip) {
                return Some(ip);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_stay_off_the_node() {
        let cluster: Ipv4Cidr = "10.212.0.0/16".parse().expect("cidr");
        let node: Ipv4Cidr = "10.212.0.0/24".parse().expect("cidr");
        let mut it = EndpointAddrs::new(cluster, node);
        assert_eq!(it.next(), Some(Ipv4Addr::new(10, 212, 1, 1)));
        let all: Vec<Ipv4Addr> = EndpointAddrs::new(cluster, node).collect();
        assert_eq!(all.len(), 255 * 254);
        assert_eq!(EndpointAddrs::capacity(cluster, node), all.len());
        assert!(all
            .iter()
            .all(|ip| cluster.contains(*ip) && !node.contains(*ip)));
        assert_eq!(all.last(), Some(&Ipv4Addr::new(10, 212, 255, 254)));
    }

    #[test]
    fn picked_ranges_are_free_and_apart() {
        let net = Net::pick().expect("ip route works");
        assert!(!net.cluster_cidr.overlaps(&net.service_range));
        assert_eq!(net.cluster_cidr.prefix_len(), 16);
        assert!(net.bridge.len() <= 11);
    }
}
