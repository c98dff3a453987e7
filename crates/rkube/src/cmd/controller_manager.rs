//! `rkube controller-manager`: the controllers against any API server,
//! leader-elected through the `kube-system/kube-controller-manager` Lease
//! (of several copies exactly one acts; another takes over within the
//! lease duration when it dies).

use std::path::PathBuf;

use clap::Args;

use crate::agent::Agent;
use crate::components;
use crate::signals::ShutdownSignals;

/// Run the controllers against an API server.
#[derive(Debug, Args)]
pub struct ControllerManagerArgs {
    /// Credentials and server (the admin kubeconfig `rkube up` writes).
    #[arg(
        long,
        value_name = "PATH",
        env = "KUBECONFIG",
        default_value = "./.rkube/kubeconfig"
    )]
    pub kubeconfig: PathBuf,

    /// API server URL, instead of the kubeconfig's.
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,

    /// How long a node may go without a heartbeat before it is marked
    /// Unknown and tainted.
    #[arg(long, value_name = "DURATION", default_value = "50s", value_parser = crate::bench::duration::parse_duration)]
    pub node_monitor_grace_period: std::time::Duration,

    /// How often the HorizontalPodAutoscaler controller syncs each HPA.
    #[arg(long, value_name = "DURATION", default_value = "15s", value_parser = crate::bench::duration::parse_duration)]
    pub horizontal_pod_autoscaler_sync_period: std::time::Duration,

    /// The range each node's pod range (`spec.podCIDR`, a /24) is
    /// allocated from; empty: nodes get none from the controllers.
    #[arg(long, value_name = "CIDR", default_value = rkube_controllers::DEFAULT_CLUSTER_CIDR)]
    pub cluster_cidr: String,
}

pub async fn run(args: ControllerManagerArgs) -> anyhow::Result<()> {
    let mut signals = ShutdownSignals::install()?;
    let client = components::client(
        &args.kubeconfig,
        args.server.as_deref(),
        Agent::ControllerManager,
    )
    .await?;
    tokio::select! {
        _ = components::controller_manager(client, rkube_controllers::Options {
            node_monitor_grace_period: args.node_monitor_grace_period,
                cluster_cidr: Some(args.cluster_cidr.clone()),
                hpa_sync_period: args.horizontal_pod_autoscaler_sync_period,
        }) => anyhow::bail!("the controllers stopped"),
        signal = signals.recv() => {
            tracing::info!(signal, "stopping");
            Ok(())
        }
    }
}
