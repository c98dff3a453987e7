//! [`Ipv4Cidr`]: an IPv4 range as `a.b.c.d/n`, with the few operations the
//! pod network needs (its gateway, its host addresses, containment).

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use crate::error::NetError;

/// An IPv4 network: the address with its host bits cleared, and the prefix
/// length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ipv4Cidr {
    network: Ipv4Addr,
    prefix_len: u8,
}

impl Ipv4Cidr {
    /// The network `addr/prefix_len`; host bits of `addr` are cleared.
    pub fn new(addr: Ipv4Addr, prefix_len: u8) -> Result<Self, NetError> {
        if prefix_len > 32 {
            return Err(NetError::Config(format!(
                "prefix length {prefix_len} is longer than 32"
            )));
        }
        Ok(Ipv4Cidr {
            network: Ipv4Addr::from(u32::from(addr) & mask(prefix_len)),
            prefix_len,
        })
    }

    pub fn network(&self) -> Ipv4Addr {
        self.network
    }

    pub fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    /// The last address of the range.
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) | !mask(self.prefix_len))
    }

    /// Whether `ip` is inside the range.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & mask(self.prefix_len) == u32::from(self.network)
    }

    /// Whether `other` lies wholly inside this range.
    pub fn covers(&self, other: &Ipv4Cidr) -> bool {
        other.prefix_len >= self.prefix_len && self.contains(other.network)
    }

    /// Whether the two ranges share an address.
    pub fn overlaps(&self, other: &Ipv4Cidr) -> bool {
        self.covers(other) || other.covers(self)
    }

    /// The gateway: the first address after the network's (`.1`).
    pub fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network).wrapping_add(1))
    }

    /// The addresses pods may get: from the second after the network's
    /// (`.2`) to the one before the broadcast (`.254`), as CNI host-local.
    /// Empty for ranges smaller than a /30.
    pub fn pod_addresses(&self) -> impl Iterator<Item = Ipv4Addr> {
        let first = u32::from(self.network).saturating_add(2);
        let last = u32::from(self.broadcast()).saturating_sub(1);
        // A /31 or /32 has no room for a gateway and pods.
        let (first, last) = if self.prefix_len > 30 {
            (1, 0)
        } else {
            (first, last)
        };
        (first..=last).map(Ipv4Addr::from)
    }

    /// Whether `ip` is one of [`Ipv4Cidr::pod_addresses`].
    pub fn is_pod_address(&self, ip: Ipv4Addr) -> bool {
        self.prefix_len <= 30
            && self.contains(ip)
            && ip != self.network
            && ip != self.gateway()
            && ip != self.broadcast()
    }
}

fn mask(prefix_len: u8) -> u32 {
    if prefix_len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix_len))
    }
}

impl FromStr for Ipv4Cidr {
    type Err = NetError;

    fn from_str(s: &str) -> Result<Self, NetError> {
        let bad = || NetError::Config(format!("{s:?} is not an IPv4 CIDR (a.b.c.d/n)"));
        let (addr, len) = s.trim().split_once('/').ok_or_else(bad)?;
        let addr: Ipv4Addr = addr.parse().map_err(|_| bad())?;
        let len: u8 = len.parse().map_err(|_| bad())?;
        Ipv4Cidr::new(addr, len)
    }
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix_len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Ipv4Cidr {
        s.parse().expect("test")
    }

    #[test]
    fn parses_and_clears_host_bits() {
        assert_eq!(c("10.244.3.7/24").to_string(), "10.244.3.0/24");
        assert_eq!(c("0.0.0.0/0").to_string(), "0.0.0.0/0");
        assert!("10.0.0.0".parse::<Ipv4Cidr>().is_err());
        assert!("10.0.0.0/33".parse::<Ipv4Cidr>().is_err());
        assert!("x/8".parse::<Ipv4Cidr>().is_err());
    }

    #[test]
    fn gateway_and_pod_addresses_as_host_local() {
        let r = c("10.244.1.0/24");
        assert_eq!(r.gateway(), Ipv4Addr::new(10, 244, 1, 1));
        let all: Vec<_> = r.pod_addresses().collect();
        assert_eq!(all.len(), 253);
        assert_eq!(all[0], Ipv4Addr::new(10, 244, 1, 2));
        assert_eq!(all[252], Ipv4Addr::new(10, 244, 1, 254));
        assert_eq!(c("10.0.0.0/31").pod_addresses().count(), 0);
    }

    #[test]
    fn containment() {
        let cluster = c("10.244.0.0/16");
        assert!(cluster.covers(&c("10.244.9.0/24")));
        assert!(!c("10.244.9.0/24").covers(&cluster));
        assert!(cluster.overlaps(&c("10.244.9.0/24")));
        assert!(!cluster.overlaps(&c("10.96.0.0/12")));
        assert!(cluster.contains(Ipv4Addr::new(10, 244, 200, 1)));
        assert!(!cluster.contains(Ipv4Addr::new(10, 245, 0, 1)));
    }
}
