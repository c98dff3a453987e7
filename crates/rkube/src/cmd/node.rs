//! `rkube node`: the node agent. Not built yet; this subcommand exists so
//! the CLI shape is fixed and says so clearly.

use clap::Args;

/// Run a node agent that registers a Node and runs its pods (not built yet).
#[derive(Debug, Args)]
pub struct NodeArgs {}

pub async fn run(_args: NodeArgs) -> anyhow::Result<()> {
    anyhow::bail!(
        "the node agent is not built yet; `rkube up` runs the control plane, \
         and nodes (simulated and real) arrive in a later release"
    )
}
