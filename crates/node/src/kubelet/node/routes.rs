//! Routes to the other real nodes' pod ranges, kept current from a watch
//! of the Nodes: after every change (gathered for 200 ms) and every minute,
//! the routes [`rkube_net::node_routes::desired`] names for the Nodes now
//! known are applied ([`rkube_net::node_routes::apply`]: only rkube's own
//! routes, `proto 77`, are added, changed or removed). Simulated Nodes and
//! Nodes on one of this host's own addresses get none (see that module).
//! The routes stay when the node stops (like its tables); `rkube reset`
//! removes them.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Node;
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Client, ResourceExt};
use rkube_net::node_routes::{self, LocalNode, PeerNode};
use rkube_net::Ipv4Cidr;
use tracing::{debug, info, warn};

/// The annotation of simulated Nodes.
const SIMULATED: &str = "rkube.io/sim";
const SETTLE: Duration = Duration::from_millis(200);
const RESYNC: Duration = Duration::from_secs(60);

/// This node as the routes need it.
#[derive(Clone, Debug)]
pub struct RoutesConfig {
    pub node_name: String,
    /// The node's own pod range (on its bridge).
    pub pod_cidr: Ipv4Cidr,
    /// The cluster's pod range: only ranges inside it are routed.
    pub cluster_cidr: Ipv4Cidr,
}

/// What the routes need of a Node.
pub fn peer(node: &Node) -> PeerNode {
    let internal_ip = node
        .status
        .as_ref()
        .and_then(|s| s.addresses.as_ref())
        .and_then(|a| a.iter().find(|a| a.type_ == "InternalIP"))
        .map(|a| a.address.clone());
    PeerNode {
        name: node.name_any(),
        pod_cidr: node.spec.as_ref().and_then(|s| s.pod_cidr.clone()),
        internal_ip,
        simulated: node.annotations().get(SIMULATED).map(String::as_str) == Some("true"),
    }
}

/// Watches the Nodes and keeps the routes current until dropped; returns
/// only if the watch ends.
pub async fn run(client: Client, config: RoutesConfig) -> Result<(), rkube_net::NetError> {
    let api: Api<Node> = Api::all(client);
    let mut events = watcher(api, watcher::Config::default())
        .default_backoff()
        .boxed();
    let mut nodes: BTreeMap<String, PeerNode> = BTreeMap::new();
    let mut init: BTreeMap<String, PeerNode> = BTreeMap::new();
    let mut synced = false;
    let mut dirty = false;
    let mut resync = tokio::time::interval(RESYNC);
    info!(node = %config.node_name, "routes to other nodes' pod ranges: watching Nodes");
    loop {
        tokio::select! {
            event = events.next() => {
                let Some(event) = event else { return Ok(()) };
                match event {
                    Ok(watcher::Event::Apply(n)) => {
                        let p = peer(&n);
                        if nodes.get(&p.name) != Some(&p) {
                            nodes.insert(p.name.clone(), p);
                            dirty = true;
                        }
                    }
                    Ok(watcher::Event::Delete(n)) => {
                        dirty |= nodes.remove(&n.name_any()).is_some();
                    }
                    Ok(watcher::Event::Init) => init.clear(),
                    Ok(watcher::Event::InitApply(n)) => {
                        let p = peer(&n);
                        init.insert(p.name.clone(), p);
                    }
                    Ok(watcher::Event::InitDone) => {
                        nodes = std::mem::take(&mut init);
                        synced = true;
                        dirty = true;
                    }
                    Err(error) => warn!(%error, "Node watch failed; retrying"),
                }
            }
            _ = tokio::time::sleep(SETTLE), if dirty && synced => {
                dirty = false;
                sync(&config, &nodes).await;
            }
            _ = resync.tick(), if synced => sync(&config, &nodes).await,
        }
    }
}

async fn sync(config: &RoutesConfig, nodes: &BTreeMap<String, PeerNode>) {
    let addresses = match node_routes::local_addresses(None).await {
        Ok(a) => a,
        Err(error) => {
            warn!(%error, "cannot read the host's addresses; routes left as they are");
            return;
        }
    };
    let local = LocalNode {
        name: config.node_name.clone(),
        pod_cidr: config.pod_cidr,
        cluster_cidr: config.cluster_cidr,
        addresses,
    };
    let peers: Vec<PeerNode> = nodes.values().cloned().collect();
    let (want, skipped) = node_routes::desired(&local, &peers);
    for (name, why) in &skipped {
        debug!(node = %name, reason = ?why, "no route to the node's pod range");
    }
    if let Err(error) = node_routes::apply(None, config.cluster_cidr, &want).await {
        warn!(%error, "cannot update the routes to other nodes' pod ranges");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_range_the_address_and_the_sim_annotation() {
        let node: Node = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "n1", "annotations": {"rkube.io/sim": "true"}},
            "spec": {"podCIDR": "10.244.3.0/24"},
            "status": {"addresses": [
                {"type": "Hostname", "address": "n1"},
                {"type": "InternalIP", "address": "10.0.0.3"}
            ]}
        }))
        .expect("test");
        let p = peer(&node);
        assert_eq!(p.name, "n1");
        assert_eq!(p.pod_cidr.as_deref(), Some("10.244.3.0/24"));
        assert_eq!(p.internal_ip.as_deref(), Some("10.0.0.3"));
        assert!(p.simulated);
        let bare: Node =
            serde_json::from_value(serde_json::json!({"metadata": {"name": "n2"}})).expect("test");
        let p = peer(&bare);
        assert!(!p.simulated && p.pod_cidr.is_none() && p.internal_ip.is_none());
    }
}
