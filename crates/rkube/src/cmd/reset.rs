//! `rkube reset`: remove what a real node left on this host.

use std::path::PathBuf;

use clap::Args;

use crate::real_node::{self, RealNodeOptions};

/// Remove everything a real node on DATA_DIR left on this host: kill its
/// containers, delete their sandboxes and network namespaces, unmount
/// everything under DATA_DIR, and remove the pod network (bridge, service
/// interface, routes, nftables table, firewall exceptions). Images and the
/// cluster's data stay. Run it with the cluster stopped.
#[derive(Debug, Args)]
pub struct ResetArgs {
    /// The data directory of the cluster or node.
    #[arg(
        long,
        value_name = "DIR",
        env = "RKUBE_DATA_DIR",
        default_value = "./.rkube"
    )]
    pub data_dir: PathBuf,

    /// The pod bridge the node used (`--pod-bridge`).
    #[arg(long, value_name = "NAME", default_value = "rkube0")]
    pub pod_bridge: String,

    /// The cluster's pod range the node used (`--cluster-cidr`).
    #[arg(long, value_name = "CIDR", default_value = rkube_controllers::DEFAULT_CLUSTER_CIDR)]
    pub cluster_cidr: String,

    /// The service range the node used (`--service-cluster-ip-range`).
    #[arg(long, value_name = "CIDR", default_value = "10.96.0.0/12")]
    pub service_cluster_ip_range: String,
}

pub async fn run(args: ResetArgs) -> anyhow::Result<()> {
    real_node::reset(&RealNodeOptions {
        data_dir: args.data_dir,
        node_name: String::new(),
        node_ip: std::net::IpAddr::from([127, 0, 0, 1]),
        bridge: args.pod_bridge,
        cluster_cidr: args.cluster_cidr,
        service_range: args.service_cluster_ip_range,
        eviction_hard: Default::default(),
        node_api: Default::default(),
        dns_upstreams: Vec::new(),
    })
    .await?;
    println!("reset: containers, mounts and the pod network removed");
    Ok(())
}
