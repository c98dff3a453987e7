//! `rkube up`: a whole cluster in the foreground.
//!
//! The API server on the embedded store, and beside it, as API clients in
//! the same process, the scheduler, the controllers and (with
//! `--sim-nodes N`) simulated nodes.

use clap::Args;

use crate::backend::BackendConfig;
use crate::cmd::common::ServeArgs;
use crate::cmd::sim::SimArgs;
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
}

pub async fn run(args: UpArgs) -> anyhow::Result<()> {
    tracing::info!(
        data_dir = %args.serve.data_dir.display(),
        listen = %args.serve.listen,
        sim_nodes = args.sim.sim_nodes,
        "starting rkube up"
    );
    let sim = (args.sim.sim_nodes > 0).then(|| args.sim.config());
    control_plane::run(ControlPlaneOptions {
        listen: args.serve.listen,
        data_dir: args.serve.data_dir.clone(),
        watch_bookmark_interval: args.serve.watch_bookmark_interval,
        backend: BackendConfig::Embedded {
            dir: args.serve.store_dir(),
            compaction_interval: args.serve.compaction_interval,
        },
        components: Some(sim),
    })
    .await
}
