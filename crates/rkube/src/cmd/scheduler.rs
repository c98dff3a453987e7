//! `rkube scheduler`: the scheduler against any API server.

use std::path::PathBuf;

use clap::Args;

use crate::agent::Agent;
use crate::components;
use crate::signals::ShutdownSignals;

/// Run the scheduler against an API server.
#[derive(Debug, Args)]
pub struct SchedulerArgs {
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

pub async fn run(args: SchedulerArgs) -> anyhow::Result<()> {
    let mut signals = ShutdownSignals::install()?;
    let client =
        components::client(&args.kubeconfig, args.server.as_deref(), Agent::Scheduler).await?;
    tokio::select! {
        _ = components::scheduler(client) => anyhow::bail!("the scheduler stopped"),
        signal = signals.recv() => {
            tracing::info!(signal, "stopping");
            Ok(())
        }
    }
}
