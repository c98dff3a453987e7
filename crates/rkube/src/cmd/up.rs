//! `rkube up`: a whole cluster in the foreground.
//!
//! Today that is the API-server part on the embedded store (health and
//! metrics endpoints); the API, controllers, scheduler, simulated nodes and
//! the kubeconfig join it in later issues.

use clap::Args;

use crate::backend::BackendConfig;
use crate::cmd::common::ServeArgs;
use crate::control_plane::{self, ControlPlaneOptions};

/// Run a whole cluster in the foreground on the embedded store.
///
/// `/readyz` answers `ok` once the store is open. Stop it with Ctrl-C
/// (SIGINT) or SIGTERM; the store is closed cleanly.
#[derive(Debug, Args)]
pub struct UpArgs {
    #[command(flatten)]
    pub serve: ServeArgs,

    /// Simulated nodes to run (accepted, but not used yet: nodes come later).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub sim_nodes: u32,
}

pub async fn run(args: UpArgs) -> anyhow::Result<()> {
    tracing::info!(
        data_dir = %args.serve.data_dir.display(),
        listen = %args.serve.listen,
        sim_nodes = args.sim_nodes,
        "starting rkube up"
    );
    if args.sim_nodes > 0 {
        tracing::warn!(
            sim_nodes = args.sim_nodes,
            "--sim-nodes is not used yet: the node agent is not built, so no nodes will run"
        );
    }
    control_plane::run(ControlPlaneOptions {
        listen: args.serve.listen,
        data_dir: args.serve.data_dir.clone(),
        watch_bookmark_interval: args.serve.watch_bookmark_interval,
        backend: BackendConfig::Embedded {
            dir: args.serve.store_dir(),
            compaction_interval: args.serve.compaction_interval,
        },
    })
    .await
}
