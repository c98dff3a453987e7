//! [`KubeletConfig`]: where the node keeps its files and how it behaves.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::kubelet::node::thresholds::EvictionThresholds;

/// The kubelet's default port (`KubeletConfig::port` is the one used).
pub const KUBELET_PORT: u16 = 10250;

/// How the real node is set up.
#[derive(Clone, Debug)]
pub struct KubeletConfig {
    /// The Node's name (the host name, lower-cased to a valid name).
    pub node_name: String,
    /// The node's `InternalIP`: where probes and the API server reach it.
    pub node_ip: IpAddr,
    /// The kubelet's own directory (`DATA_DIR/kubelet`): `pods/<uid>/` with
    /// volumes, `etc-hosts` and termination-message files.
    pub root_dir: PathBuf,
    /// Container logs (`DATA_DIR/kubelet/pod-logs`, the kubelet's
    /// `/var/log/pods`): `<namespace>_<name>_<uid>/<container>/<n>.log`.
    pub log_dir: PathBuf,
    /// The cluster DNS servers for `ClusterFirst` pods; empty until cluster
    /// DNS exists (pods then get `resolv_conf` and a `MissingClusterDNS`
    /// event).
    pub cluster_dns: Vec<IpAddr>,
    pub cluster_domain: String,
    /// The host's resolv.conf (`Default` pods, and `ClusterFirst` without
    /// cluster DNS).
    pub resolv_conf: PathBuf,
    /// How often the runtime's containers are listed (the PLEG relist).
    pub relist_period: Duration,
    /// Lease renewal (its duration is four times this).
    pub lease_renew: Duration,
    /// How often the Node's status is written when nothing changed.
    pub node_status_report: Duration,
    /// Files dropped here are imported as images (`DATA_DIR/images/import`).
    pub image_import_dir: Option<PathBuf>,
    /// The hard eviction thresholds (`--eviction-hard`).
    pub eviction_hard: EvictionThresholds,
    /// The port the node's API serves on (10250 unless it was taken), as
    /// the Node's `daemonEndpoints.kubeletEndpoint.Port` tells it.
    pub port: u16,
    /// The node's own log files, served at `/logs/` (`/var/log`).
    pub node_log_dir: PathBuf,
    /// Where local-path volumes live (`DATA_DIR/storage/local-path`,
    /// published as the Node annotation `storage.rkube.io/local-path-root`);
    /// None: the node holds no local-path volumes.
    pub local_path_root: Option<PathBuf>,
}

impl KubeletConfig {
    /// Defaults for a node named `node_name` at `node_ip` under `data_dir`.
    pub fn new(node_name: String, node_ip: IpAddr, data_dir: &std::path::Path) -> Self {
        let root_dir = data_dir.join("kubelet");
        KubeletConfig {
            node_name,
            node_ip,
            log_dir: root_dir.join("pod-logs"),
            root_dir,
            cluster_dns: Vec::new(),
            cluster_domain: "cluster.local".to_string(),
            resolv_conf: PathBuf::from("/etc/resolv.conf"),
            relist_period: Duration::from_secs(1),
            lease_renew: Duration::from_secs(10),
            node_status_report: Duration::from_secs(60),
            image_import_dir: Some(data_dir.join("images").join("import")),
            eviction_hard: EvictionThresholds::default(),
            port: KUBELET_PORT,
            node_log_dir: PathBuf::from("/var/log"),
            local_path_root: Some(
                std::path::absolute(data_dir)
                    .unwrap_or_else(|_| data_dir.to_path_buf())
                    .join("storage")
                    .join("local-path"),
            ),
        }
    }
}
