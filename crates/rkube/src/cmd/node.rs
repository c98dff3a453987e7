//! `rkube node`: the node agent against any API server: one real node
//! (containers through runc), or `--sim-nodes N` simulated ones.

use std::path::PathBuf;

use clap::Args;

use crate::agent::Agent;
use crate::cmd::real_node::RealNodeArgs;
use crate::cmd::sim::SimArgs;
use crate::components;
use crate::signals::ShutdownSignals;

/// Run a real node (or --sim-nodes N simulated ones) against an API server.
#[derive(Debug, Args)]
pub struct NodeArgs {
    #[command(flatten)]
    pub sim: SimArgs,

    #[command(flatten)]
    pub real: RealNodeArgs,

    /// Directory for the real node's data (images, containers, volumes,
    /// logs).
    #[arg(
        long,
        value_name = "DIR",
        env = "RKUBE_DATA_DIR",
        default_value = "./.rkube"
    )]
    pub data_dir: PathBuf,

    /// The cluster's pod range (as the controller manager's
    /// --cluster-cidr): traffic leaving it is masqueraded.
    #[arg(long, value_name = "CIDR", default_value = rkube_controllers::DEFAULT_CLUSTER_CIDR)]
    pub cluster_cidr: String,

    /// The cluster's service range (as the API server's
    /// --service-cluster-ip-range), routed to the node's own interface.
    #[arg(long, value_name = "CIDR", default_value = "10.96.0.0/12")]
    pub service_cluster_ip_range: String,

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
    let mut signals = ShutdownSignals::install()?;
    let client =
        components::client(&args.kubeconfig, args.server.as_deref(), Agent::Kubelet).await?;
    let real = args.real.options(
        args.sim.sim_nodes,
        &args.data_dir,
        std::net::IpAddr::from([127, 0, 0, 1]),
        &args.cluster_cidr,
        &args.service_cluster_ip_range,
    )?;
    anyhow::ensure!(
        args.sim.sim_nodes > 0 || real.is_some(),
        "nothing to run: this host cannot run a real node, and no --sim-nodes N was given"
    );
    let real = match real {
        Some(mut options) => {
            // Clients of the node's API (the API server) show
            // certificates of the cluster's CA, the kubeconfig's.
            options.node_api = crate::real_node::NodeApiTls::SelfSigned {
                client_cas: cluster_cas(&args.kubeconfig).await?,
            };
            Some(crate::real_node::RealNode::start(client.clone(), options))
        }
        None => None,
    };
    let sim = async {
        if args.sim.sim_nodes > 0 {
            components::sim_nodes(client.clone(), args.sim.config()).await;
            tracing::error!("the simulated nodes stopped");
        } else {
            std::future::pending::<()>().await;
        }
    };
    let signal = tokio::select! {
        _ = sim => None,
        signal = signals.recv() => Some(signal),
    };
    if let Some(real) = real {
        real.stop().await;
    }
    match signal {
        Some(signal) => {
            tracing::info!(signal, "stopping");
            Ok(())
        }
        None => anyhow::bail!("the simulated nodes stopped"),
    }
}

/// The CA certificates (DER) the kubeconfig trusts for the API server.
async fn cluster_cas(kubeconfig: &std::path::Path) -> anyhow::Result<Vec<Vec<u8>>> {
    use anyhow::Context;
    let kc = kube::config::Kubeconfig::read_from(kubeconfig)
        .with_context(|| format!("cannot read the kubeconfig {}", kubeconfig.display()))?;
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .context("cannot use the kubeconfig")?;
    let cas = config.root_cert.unwrap_or_default();
    if cas.is_empty() {
        tracing::warn!(
            kubeconfig = %kubeconfig.display(),
            "the kubeconfig names no certificate authority: the node's API will refuse every client"
        );
    }
    Ok(cas)
}
