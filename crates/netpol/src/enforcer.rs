//! The enforcer's loop: three reflectors (NetworkPolicies, Pods,
//! Namespaces — all namespaces) feed one sync task; every change wakes it,
//! it waits [`COALESCE`] for more, compiles the whole [`Ruleset`] from the
//! stores and writes what differs from the last one applied as one
//! `nft -f -` transaction. The first sync of a run (and the one after a
//! failed write) replaces the table whole, so whatever a previous run left
//! is gone; connections survive it (conntrack is untouched and the
//! `established` rule is in the same transaction).

use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Resource};
use serde::de::DeserializeOwned;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

use crate::compile::compile;
use crate::config::PolicyConfig;
use crate::error::PolicyError;
use crate::objects::Objects;
use crate::ruleset::Ruleset;
use crate::script;

/// How long a sync waits after a change for more changes to join it.
pub const COALESCE: Duration = Duration::from_millis(20);
/// Pause before retrying a failed write.
pub const RETRY: Duration = Duration::from_secs(1);

/// A reflector of one kind over all namespaces; each change wakes `wake`.
fn reflect<K>(api: Api<K>, wake: Arc<Notify>, tasks: &mut JoinSet<()>) -> Store<K>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    let (store, writer) = reflector::store();
    tasks.spawn(async move {
        let mut events = watcher(api, watcher::Config::default())
            .default_backoff()
            .reflect(writer)
            .boxed();
        while let Some(event) = events.next().await {
            match event {
                Ok(_) => wake.notify_one(),
                Err(error) => warn!(kind = K::kind(&()).as_ref(), %error, "watch failed; retrying"),
            }
        }
    });
    store
}

/// Runs until dropped (or a store can never be read).
pub async fn run(client: kube::Client, config: PolicyConfig) -> Result<(), PolicyError> {
    let wake = Arc::new(Notify::new());
    let mut tasks = JoinSet::new();
    let policies = reflect::<NetworkPolicy>(Api::all(client.clone()), wake.clone(), &mut tasks);
    let pods = reflect::<Pod>(Api::all(client.clone()), wake.clone(), &mut tasks);
    let namespaces = reflect::<Namespace>(Api::all(client), wake.clone(), &mut tasks);
    for ready in [
        policies.wait_until_ready().await,
        pods.wait_until_ready().await,
        namespaces.wait_until_ready().await,
    ] {
        ready.map_err(|_| PolicyError::Stopped)?;
    }
    info!(table = %config.table, node = %config.node_name, "enforcing NetworkPolicies");
    let mut applied: Option<Ruleset> = None;
    loop {
        let objects = Objects {
            policies: policies.state(),
            pods: pods.state(),
            namespaces: namespaces.state(),
        };
        let desired = compile(&objects, &config);
        let text = match &applied {
            Some(old) => script::diff(&config.table, old, &desired),
            None => script::full(&config.table, &desired),
        };
        if text.is_empty() {
            applied = Some(desired);
        } else {
            let started = std::time::Instant::now();
            match rkube_net::cmd::nft(&text).await {
                Ok(()) => {
                    debug!(
                        table = %config.table,
                        full = applied.is_none(),
                        lines = text.lines().count(),
                        elapsed_ms = started.elapsed().as_millis() as u64,
                        "policy rules written"
                    );
                    applied = Some(desired);
                }
                Err(error) => {
                    warn!(table = %config.table, %error, "writing policy rules failed; rewriting the table");
                    applied = None;
                    tokio::time::sleep(RETRY).await;
                    continue;
                }
            }
        }
        wake.notified().await;
        tokio::time::sleep(COALESCE).await;
    }
}
