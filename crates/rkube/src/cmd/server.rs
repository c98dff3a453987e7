//! `rkube server`: only the API-server part, on either store backend.

use clap::{Args, ValueEnum};

use crate::backend::BackendConfig;
use crate::cmd::common::ServeArgs;
use crate::control_plane::{self, ControlPlaneOptions};

/// Run only the API-server part, on the embedded store or on an etcd cluster.
#[derive(Debug, Args)]
pub struct ServerArgs {
    #[command(flatten)]
    pub serve: ServeArgs,

    /// Which store to use.
    #[arg(long, value_enum, default_value_t = StoreKind::Embedded)]
    pub store: StoreKind,

    /// etcd client URLs, comma-separated (with --store etcd).
    #[arg(
        long,
        value_name = "URL,...",
        value_delimiter = ',',
        default_value = "http://127.0.0.1:2379"
    )]
    pub etcd_endpoints: Vec<String>,

    /// Extra prefix before every key in etcd (with --store etcd). rkube's
    /// keys already begin with `/registry/`, as kube-apiserver's do; set this
    /// to share one etcd between clusters (e.g. `/cluster-a`).
    #[arg(long, value_name = "PREFIX", default_value = "")]
    pub etcd_prefix: String,
}

/// The store backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StoreKind {
    /// rkube's own log in DATA_DIR/store (no external process).
    Embedded,
    /// An etcd v3 cluster at --etcd-endpoints.
    Etcd,
}

pub async fn run(args: ServerArgs) -> anyhow::Result<()> {
    let backend = match args.store {
        StoreKind::Embedded => BackendConfig::Embedded {
            dir: args.serve.store_dir(),
            compaction_interval: args.serve.compaction_interval,
        },
        StoreKind::Etcd => {
            let endpoints: Vec<String> = args
                .etcd_endpoints
                .iter()
                .map(|e| e.trim().to_string())
                .filter(|e| !e.is_empty())
                .collect();
            if endpoints.is_empty() {
                anyhow::bail!("--store etcd needs at least one URL in --etcd-endpoints");
            }
            BackendConfig::Etcd {
                endpoints,
                prefix: args.etcd_prefix.clone(),
            }
        }
    };
    tracing::info!(
        data_dir = %args.serve.data_dir.display(),
        listen = %args.serve.listen,
        store = backend.name(),
        "starting rkube server"
    );
    control_plane::run(ControlPlaneOptions {
        listen: args.serve.listen,
        advertise_address: args.serve.advertise_ip(),
        service_ip_range: args.serve.service_cluster_ip_range,
        data_dir: args.serve.data_dir.clone(),
        backend,
        watch_bookmark_interval: args.serve.watch_bookmark_interval,
        components: None,
    })
    .await
}
