//! [`NetConfig`]: the node's pod network — its names, its ranges and where
//! it keeps its records.

use std::path::{Path, PathBuf};

use crate::cidr::Ipv4Cidr;
use crate::error::NetError;

/// The pod network of one node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetConfig {
    /// The bridge the pods' veths join (`rkube0`; CNI's `cni0`).
    pub bridge: String,
    /// The node's `spec.podCIDR` (its `/24`): pod addresses `.2`…`.254`,
    /// the bridge's address `.1`.
    pub pod_cidr: Ipv4Cidr,
    /// The whole cluster's pod range (`10.244.0.0/16`): the rest of it is
    /// routed to [`NetConfig::dummy`], and traffic to it is not masqueraded.
    pub cluster_cidr: Ipv4Cidr,
    /// The Services' range (`10.96.0.0/12`), routed to
    /// [`NetConfig::dummy`].
    pub service_cidr: Ipv4Cidr,
    /// Where the address records live (`DATA_DIR/net`).
    pub state_dir: PathBuf,
    /// rkube's own nftables table (`rkube-podnet`, family `ip`).
    pub nft_table: String,
    /// The interface that the cluster and service ranges are routed to
    /// (`rkube-svc0`, as kube-proxy's `kube-ipvs0`): a dummy, so what is
    /// sent there and not rewritten on the way is dropped, never sent on.
    pub dummy: String,
}

/// rkube's default cluster range (kind's).
pub const DEFAULT_CLUSTER_CIDR: &str = "10.244.0.0/16";
/// Kubernetes' default Service range.
pub const DEFAULT_SERVICE_CIDR: &str = "10.96.0.0/12";

impl NetConfig {
    /// The defaults for a node whose `spec.podCIDR` is `pod_cidr`, keeping
    /// its records under `data_dir/net`.
    pub fn new(pod_cidr: &str, data_dir: &Path) -> Result<NetConfig, NetError> {
        Ok(NetConfig {
            bridge: "rkube0".to_string(),
            pod_cidr: pod_cidr.parse()?,
            cluster_cidr: DEFAULT_CLUSTER_CIDR.parse()?,
            service_cidr: DEFAULT_SERVICE_CIDR.parse()?,
            state_dir: data_dir.join("net"),
            nft_table: "rkube-podnet".to_string(),
            dummy: "rkube-svc0".to_string(),
        })
    }

    /// Checks the names fit an interface and the ranges fit together.
    pub fn validate(&self) -> Result<(), NetError> {
        for name in [&self.bridge, &self.dummy] {
            let ok = !name.is_empty()
                && name.len() <= 15
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
            if !ok {
                return Err(NetError::Config(format!(
                    "{name:?} is not a usable interface name (1-15 letters, digits, '-', '_', '.')"
                )));
            }
        }
        let table_ok = !self.nft_table.is_empty()
            && self
                .nft_table
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !table_ok {
            return Err(NetError::Config(format!(
                "{:?} is not a usable nftables table name",
                self.nft_table
            )));
        }
        if self.pod_cidr.prefix_len() > 30 {
            return Err(NetError::Config(format!(
                "the pod range {} has no room for pods",
                self.pod_cidr
            )));
        }
        if !self.cluster_cidr.covers(&self.pod_cidr) {
            return Err(NetError::Config(format!(
                "the pod range {} is not inside the cluster range {}",
                self.pod_cidr, self.cluster_cidr
            )));
        }
        if self.cluster_cidr.overlaps(&self.service_cidr) {
            return Err(NetError::Config(format!(
                "the cluster range {} overlaps the service range {}",
                self.cluster_cidr, self.service_cidr
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        let c = NetConfig::new("10.244.0.0/24", Path::new("/d")).expect("test");
        c.validate().expect("test");
        assert_eq!(c.state_dir, Path::new("/d/net"));
        assert_eq!(c.bridge, "rkube0");
    }

    #[test]
    fn refuses_ranges_that_do_not_fit() {
        let mut c = NetConfig::new("10.245.0.0/24", Path::new("/d")).expect("test");
        assert!(c.validate().is_err());
        c.pod_cidr = "10.244.1.0/24".parse().expect("test");
        c.service_cidr = "10.244.0.0/12".parse().expect("test");
        assert!(c.validate().is_err());
        c.service_cidr = DEFAULT_SERVICE_CIDR.parse().expect("test");
        c.bridge = "a-name-much-too-long".to_string();
        assert!(c.validate().is_err());
    }
}
