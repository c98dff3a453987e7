//! `rkube node`: the node agent against any API server. Today it runs
//! simulated nodes (`--sim-nodes N`); real containers come with the `oci`
//! runtime.

use std::path::PathBuf;

use clap::Args;

use crate::agent::Agent;
use crate::cmd::sim::SimArgs;
use crate::components;
use crate::signals::ShutdownSignals;

/// Run simulated nodes against an API server.
#[derive(Debug, Args)]
pub struct NodeArgs {
    #[command(flatten)]
    pub sim: SimArgs,

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
}

pub async fn run(args: NodeArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.sim.sim_nodes > 0,
        "only simulated nodes are supported today: give --sim-nodes N (N > 0)"
    );
    let mut signals = ShutdownSignals::install()?;
    let client =
        components::client(&args.kubeconfig, args.server.as_deref(), Agent::Kubelet).await?;
    tokio::select! {
        _ = components::sim_nodes(client, args.sim.config()) => anyhow::bail!("the simulated nodes stopped"),
        signal = signals.recv() => {
            tracing::info!(signal, "stopping");
            Ok(())
        }
    }
}
