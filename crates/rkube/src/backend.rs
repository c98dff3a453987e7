//! Choosing and opening a store backend: the embedded log (default) or etcd.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use rkube_store::embedded::{CompactionPolicy, EmbeddedOptions, EmbeddedStore};
use rkube_store::etcd::EtcdStore;
use rkube_store::{Store, StoreMetrics};

/// Which store to open, and where.
#[derive(Clone, Debug)]
pub enum BackendConfig {
    /// The embedded store in this directory (`DATA_DIR/store`).
    Embedded {
        dir: PathBuf,
        /// Every interval, history older than one interval is compacted
        /// (kube-apiserver's `--etcd-compaction-interval`).
        compaction_interval: std::time::Duration,
    },
    /// An etcd v3 cluster, with every key under `prefix`.
    Etcd {
        endpoints: Vec<String>,
        prefix: String,
    },
}

impl BackendConfig {
    /// A short name for logs: `embedded` or `etcd`.
    pub fn name(&self) -> &'static str {
        match self {
            BackendConfig::Embedded { .. } => "embedded",
            BackendConfig::Etcd { .. } => "etcd",
        }
    }
}

/// An open store, with its metrics and what it takes to close it.
pub struct OpenedStore {
    pub store: Arc<dyn Store>,
    pub metrics: Arc<StoreMetrics>,
    closer: Closer,
}

enum Closer {
    Embedded(EmbeddedStore),
    Etcd,
}

impl OpenedStore {
    /// Open the configured backend. The embedded store recovers its data
    /// directory on a blocking thread.
    pub async fn open(config: &BackendConfig) -> anyhow::Result<Self> {
        match config {
            BackendConfig::Embedded {
                dir,
                compaction_interval,
            } => {
                let (dir, interval) = (dir.clone(), *compaction_interval);
                let store = tokio::task::spawn_blocking(move || open_embedded(dir, interval))
                    .await
                    .context("the task opening the embedded store failed")??;
                Ok(OpenedStore {
                    store: Arc::new(store.clone()),
                    metrics: store.metrics(),
                    closer: Closer::Embedded(store),
                })
            }
            BackendConfig::Etcd { endpoints, prefix } => {
                let (store, metrics) = connect_etcd(endpoints, prefix).await?;
                Ok(OpenedStore {
                    store,
                    metrics,
                    closer: Closer::Etcd,
                })
            }
        }
    }

    /// Close the store: the embedded store finishes pending writes and stops
    /// its threads; the etcd client is dropped.
    pub async fn close(self) {
        let OpenedStore { store, closer, .. } = self;
        drop(store);
        match closer {
            Closer::Embedded(store) => {
                if let Err(err) = tokio::task::spawn_blocking(move || store.close()).await {
                    tracing::warn!(error = %err, "closing the embedded store failed");
                }
            }
            Closer::Etcd => {}
        }
    }
}

fn open_embedded(
    dir: PathBuf,
    compaction_interval: std::time::Duration,
) -> anyhow::Result<EmbeddedStore> {
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create the data directory {}", parent.display()))?;
    }
    let mut opts = EmbeddedOptions::new(&dir);
    opts.compaction = if compaction_interval.is_zero() {
        CompactionPolicy::Manual
    } else {
        CompactionPolicy::KeepDuration {
            keep: compaction_interval,
            interval: compaction_interval,
        }
    };
    EmbeddedStore::open(opts)
        .with_context(|| format!("cannot open the embedded store in {}", dir.display()))
}

async fn connect_etcd(
    endpoints: &[String],
    prefix: &str,
) -> anyhow::Result<(Arc<dyn Store>, Arc<StoreMetrics>)> {
    let store = EtcdStore::connect(endpoints, prefix.to_string())
        .await
        .with_context(|| {
            format!(
                "cannot use etcd at {} (prefix {prefix})",
                endpoints.join(",")
            )
        })?;
    let metrics = store.metrics();
    Ok((Arc::new(store), metrics))
}
