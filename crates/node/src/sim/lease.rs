//! Node heartbeats: one `coordination.k8s.io/v1` Lease per node in
//! `kube-node-lease`, renewed every `lease_renew`, as kubelet does. The
//! node lifecycle controller reads them to tell live nodes from dead ones;
//! a node it marked Unknown (the agent was away) is reported Ready again at
//! the next renewal, as kubelet's status update would.

use std::sync::Arc;

use futures::{stream, StreamExt};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::Client;
use serde_json::{json, Value};
use tracing::warn;

use crate::sim::config::SimConfig;
use crate::sim::register;

/// The namespace of node Leases.
pub(crate) const NAMESPACE: &str = "kube-node-lease";

/// Lease writes in flight at once.
const CONCURRENCY: usize = 16;

fn now_micro() -> Value {
    serde_json::to_value(MicroTime(Timestamp::now())).unwrap_or(Value::Null)
}

/// Renews every node's Lease each interval, forever. A failed renewal is
/// logged and retried at the next interval (kubelet does the same; the
/// node goes NotReady only if renewals keep failing).
pub(crate) async fn renew_forever(client: Client, config: Arc<SimConfig>) {
    let leases: Api<Lease> = Api::namespaced(client.clone(), NAMESPACE);
    let duration = (config.lease_renew.as_secs() * 4).max(1);
    let mut tick = tokio::time::interval(config.lease_renew);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let renew_time = now_micro();
        stream::iter(0..config.nodes)
            .for_each_concurrent(CONCURRENCY, |i| {
                let leases = leases.clone();
                let renew_time = renew_time.clone();
                let name = config.node_name(i);
                async move {
                    if let Err(error) = renew(&leases, &name, duration, renew_time).await {
                        warn!(node = %name, %error, "cannot renew the node's lease");
                    }
                }
            })
            .await;
        if let Err(error) = register::repair(&client, &config).await {
            warn!(%error, "cannot check the nodes' Ready condition");
        }
    }
}

async fn renew(
    leases: &Api<Lease>,
    name: &str,
    duration: u64,
    renew_time: Value,
) -> Result<(), kube::Error> {
    let patch = json!({"spec": {"renewTime": renew_time}});
    match leases
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => {
            let lease: Lease = serde_json::from_value(json!({
                "metadata": {"name": name, "namespace": NAMESPACE},
                "spec": {"holderIdentity": name, "leaseDurationSeconds": duration,
                    "renewTime": renew_time},
            }))
            .map_err(kube::Error::SerdeError)?;
            leases
                .create(&PostParams::default(), &lease)
                .await
                .map(|_| ())
        }
        Err(e) => Err(e),
    }
}
