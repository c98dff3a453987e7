//! How the API server reaches a node's own API (the kubelet's port, from
//! the Node's `InternalIP` and `daemonEndpoints.kubeletEndpoint.Port`):
//! for `pods/log`, `pods/exec`, `pods/attach`, `pods/portforward`,
//! `nodes/proxy` and the resource metrics of `metrics.k8s.io`.
//!
//! A simulated node (annotation `rkube.io/sim: "true"`) has a made-up
//! address: nothing here ever opens a connection to it; its answers come
//! from `simulated.rs`.

use axum::body::Bytes;
use axum::http::StatusCode;
use rkube_apimachinery::ApiError;
use serde_json::Value;

use crate::pki::CertKeyPem;

/// The annotation that marks a simulated node.
pub const SIMULATED_ANNOTATION: &str = "rkube.io/sim";

/// Where a node's API is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeTarget {
    /// A simulated node: answered in-process, never connected to.
    Simulated,
    /// A real node's API at `https://address:port`.
    Real { address: String, port: u16 },
}

/// The node's target, from its object.
pub fn target_of(node: &Value) -> Result<NodeTarget, ApiError> {
    let name = node["metadata"]["name"].as_str().unwrap_or_default();
    if node["metadata"]["annotations"][SIMULATED_ANNOTATION].as_str() == Some("true") {
        return Ok(NodeTarget::Simulated);
    }
    let addresses = node["status"]["addresses"].as_array();
    let address = addresses
        .into_iter()
        .flatten()
        .find(|a| a["type"] == "InternalIP")
        .or_else(|| addresses.into_iter().flatten().next())
        .and_then(|a| a["address"].as_str())
        .ok_or_else(|| ApiError::bad_request(format!("node {name} has no address")))?;
    let port = node["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"]
        .as_u64()
        .and_then(|p| u16::try_from(p).ok())
        .filter(|p| *p != 0)
        .ok_or_else(|| ApiError::bad_request(format!("node {name} has no kubelet port")))?;
    Ok(NodeTarget::Real {
        address: address.to_string(),
        port,
    })
}

/// The API server's way to the nodes: the client identity it shows them.
#[derive(Default)]
pub struct NodeAccess {
    identity: parking_lot::RwLock<Option<CertKeyPem>>,
}

impl NodeAccess {
    /// Show `identity` (a client certificate of the cluster CA) to nodes
    /// from now on.
    pub fn set_client_identity(&self, identity: CertKeyPem) {
        *self.identity.write() = Some(identity);
    }

    /// GET `path_and_query` of a real node's API (`/stats/summary`) and
    /// its answer.
    pub async fn get(
        &self,
        node: &Value,
        path_and_query: &str,
    ) -> Result<(StatusCode, Bytes), ApiError> {
        let _ = (target_of(node)?, path_and_query, &self.identity);
        Err(ApiError::service_unavailable(
            "the API server cannot reach nodes yet",
        ))
    }
}
