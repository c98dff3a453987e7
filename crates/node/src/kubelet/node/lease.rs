//! The node's Lease in `kube-node-lease`: created owned by the Node (so it
//! goes with it), renewed every `lease_renew` with a duration of four
//! times that, as the kubelet's.

use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::Client;
use serde_json::json;

use crate::kubelet::node::clock::now_micro;

pub const NAMESPACE: &str = "kube-node-lease";

/// Renew (or create) the Lease of node `name` (uid `node_uid`).
pub async fn renew(
    client: &Client,
    name: &str,
    node_uid: &str,
    duration_secs: u64,
) -> Result<(), kube::Error> {
    let leases: Api<Lease> = Api::namespaced(client.clone(), NAMESPACE);
    let renew_time = now_micro();
    let patch = json!({"spec": {"renewTime": renew_time, "holderIdentity": name,
                                "leaseDurationSeconds": duration_secs}});
    match leases
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => {
            let lease: Lease = serde_json::from_value(json!({
                "metadata": {"name": name, "namespace": NAMESPACE,
                    "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": name, "uid": node_uid}]},
                "spec": {"holderIdentity": name, "leaseDurationSeconds": duration_secs,
                         "renewTime": renew_time},
            }))
            .map_err(kube::Error::SerdeError)?;
            match leases.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(()),
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}
