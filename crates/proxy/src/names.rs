//! The names of the per-Service objects in the table, after kube-proxy's:
//! `<kind>-<HASH>-<namespace>/<service>/<protocol>/<port>` for a Service
//! port's chains and `…__<ip>/<port>` for an endpoint's affinity set, where HASH is the
//! first 8 base32 characters of the SHA-256 of the rest (so names that
//! differ in a digit look different, and a truncated name stays unique).
//! Every such name holds a `/`, which no fixed object's name does: that
//! tells them apart when the table is read back.

use sha2::{Digest, Sha256};

use crate::model::{Endpoint, ServicePortName};

/// nftables' longest object name.
const NAME_MAX: usize = 256;

/// `<prefix><HASH>-<base>`, cut to fit.
fn hashed(prefix: &str, base: &str) -> String {
    hashed_over(prefix, base, base)
}

/// `<prefix><HASH of hash_input>-<base>`, cut to fit.
fn hashed_over(prefix: &str, hash_input: &str, base: &str) -> String {
    let digest = Sha256::digest(hash_input.as_bytes());
    let mut name = String::with_capacity(prefix.len() + 9 + base.len());
    name.push_str(prefix);
    name.push_str(&base32_8(&digest[..5]));
    name.push('-');
    name.push_str(base);
    if name.len() > NAME_MAX - 1 {
        name.truncate(NAME_MAX - 4);
        name.push_str("...");
    }
    name
}

/// 40 bits as 8 characters of RFC 4648 base32.
fn base32_8(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut v: u64 = 0;
    for b in bytes.iter().take(5) {
        v = (v << 8) | u64::from(*b);
    }
    (0..8)
        .rev()
        .map(|i| char::from(ALPHABET[((v >> (i * 5)) & 31) as usize]))
        .collect()
}

fn port_base(p: &ServicePortName) -> String {
    format!(
        "{}/{}/{}/{}",
        p.service.namespace,
        p.service.name,
        p.protocol.nft(),
        p.port
    )
}

fn endpoint_base(p: &ServicePortName, e: &Endpoint) -> String {
    format!("{}__{}/{}", port_base(p), e.ip, e.port)
}

/// The chain of a port's `Cluster` endpoints.
pub fn service_chain(p: &ServicePortName) -> String {
    hashed("service-", &port_base(p))
}

/// The chain of a port's endpoints on this node (`Local` policies).
pub fn local_chain(p: &ServicePortName) -> String {
    hashed("local-", &port_base(p))
}

/// The chain external traffic (NodePort, external and load balancer IPs)
/// goes through first.
pub fn external_chain(p: &ServicePortName) -> String {
    hashed("external-", &port_base(p))
}

/// The chain enforcing `loadBalancerSourceRanges`.
pub fn firewall_chain(p: &ServicePortName) -> String {
    hashed("firewall-", &port_base(p))
}

/// The set of clients stuck to one endpoint (`sessionAffinity: ClientIP`).
/// Its timeout is part of the hash, so a changed timeout makes a new set
/// rather than a clash with the old one's definition.
pub fn affinity_set(p: &ServicePortName, e: &Endpoint, timeout: u32) -> String {
    let base = endpoint_base(p, e);
    hashed_over("affinity-", &format!("{base} {timeout}"), &base)
}

/// Whether `name` is one of the per-Service objects.
pub fn is_service_object(name: &str) -> bool {
    name.contains('/')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Protocol, ServiceName};
    use std::net::Ipv4Addr;

    #[test]
    fn names_follow_kube_proxy() {
        let p = ServicePortName {
            service: ServiceName::new("ns1", "svc1"),
            port: "p80".to_string(),
            protocol: Protocol::Tcp,
        };
        let c = service_chain(&p);
        assert!(c.starts_with("service-"), "{c}");
        assert!(c.ends_with("-ns1/svc1/tcp/p80"), "{c}");
        assert_eq!(c.len(), "service-".len() + 8 + "-ns1/svc1/tcp/p80".len());
        let e = Endpoint {
            ip: Ipv4Addr::new(10, 180, 0, 1),
            port: 80,
            ready: true,
            serving: true,
            terminating: false,
            local: false,
        };
        assert!(affinity_set(&p, &e, 10).ends_with("-ns1/svc1/tcp/p80__10.180.0.1/80"));
        assert_ne!(affinity_set(&p, &e, 10), affinity_set(&p, &e, 20));
        assert!(is_service_object(&c) && !is_service_object("services"));
        assert_eq!(base32_8(&[0, 0, 0, 0, 0]), "AAAAAAAA");
        assert_eq!(base32_8(&[0xff; 5]), "77777777");
    }
}
