//! `rkube up`: a whole cluster in the foreground.
//!
//! The API server on the embedded store, and beside it, as API clients in
//! the same process, the scheduler, the controllers and (with
//! `--sim-nodes N`) simulated nodes.

use clap::Args;

use crate::backend::BackendConfig;
use crate::cmd::common::ServeArgs;
use crate::cmd::real_node::RealNodeArgs;
use crate::cmd::sim::SimArgs;
use crate::components::ComponentOptions;
use crate::control_plane::{self, ControlPlaneOptions};

/// Run a whole cluster in the foreground on the embedded store.
///
/// `/readyz` answers `ok` once the store is open. Stop it with Ctrl-C
/// (SIGINT) or SIGTERM; the store is closed cleanly.
#[derive(Debug, Args)]
pub struct UpArgs {
    #[command(flatten)]
    pub serve: ServeArgs,

    #[command(flatten)]
    pub sim: SimArgs,

    #[command(flatten)]
    pub real: RealNodeArgs,

    /// How long a node may go without a heartbeat before the node
    /// lifecycle controller marks it Unknown and taints it.
    #[arg(long, value_name = "DURATION", default_value = "50s", value_parser = crate::bench::duration::parse_duration)]
    pub node_monitor_grace_period: std::time::Duration,

    /// How often the HorizontalPodAutoscaler controller syncs each HPA.
    #[arg(long, value_name = "DURATION", default_value = "15s", value_parser = crate::bench::duration::parse_duration)]
    pub horizontal_pod_autoscaler_sync_period: std::time::Duration,

    /// The range each node's pod range (`spec.podCIDR`, a /24) is
    /// allocated from; empty: nodes get none from the controllers.
    #[arg(long, value_name = "CIDR", default_value = rkube_controllers::DEFAULT_CLUSTER_CIDR)]
    pub cluster_cidr: String,

    /// Do not run the controllers in this process (run `rkube
    /// controller-manager` elsewhere, as many copies as you like).
    #[arg(long)]
    pub disable_controller_manager: bool,

    /// Do not run the scheduler in this process.
    #[arg(long)]
    pub disable_scheduler: bool,
}

pub async fn run(args: UpArgs) -> anyhow::Result<()> {
    tracing::info!(
        data_dir = %args.serve.data_dir.display(),
        listen = %args.serve.listen,
        sim_nodes = args.sim.sim_nodes,
        "starting rkube up"
    );
    let sim = (args.sim.sim_nodes > 0).then(|| args.sim.config());
    let real_node = args.real.options(
        args.sim.sim_nodes,
        &args.serve.data_dir,
        args.serve.advertise_ip(),
        &args.cluster_cidr,
        &args.serve.service_cluster_ip_range.to_string(),
    )?;
    control_plane::run(ControlPlaneOptions {
        listen: args.serve.listen,
        advertise_address: args.serve.advertise_ip(),
        service_ip_range: args.serve.service_cluster_ip_range,
        data_dir: args.serve.data_dir.clone(),
        watch_bookmark_interval: args.serve.watch_bookmark_interval,
        backend: BackendConfig::Embedded {
            dir: args.serve.store_dir(),
            compaction_interval: args.serve.compaction_interval,
        },
        components: Some(ComponentOptions {
            run_controllers: !args.disable_controller_manager,
            run_scheduler: !args.disable_scheduler,
            controllers: rkube_controllers::Options {
                node_monitor_grace_period: args.node_monitor_grace_period,
                cluster_cidr: Some(args.cluster_cidr.clone()),
                hpa_sync_period: args.horizontal_pod_autoscaler_sync_period,
            },
            sim,
            real_node,
        }),
    })
    .await
}
