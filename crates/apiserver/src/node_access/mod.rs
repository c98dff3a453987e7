//! How the API server reaches a node's own API (the kubelet's port, from
//! the Node's `InternalIP` and `daemonEndpoints.kubeletEndpoint.Port`):
//! for `pods/log`, `pods/exec`, `pods/attach`, `pods/portforward`,
//! `nodes/proxy` and the resource metrics of `metrics.k8s.io`; and a
//! pod's own ports for `pods/proxy` and `services/proxy`.
//!
//! - `mod.rs`: [`NodeTarget`] (where a node's API is) and [`NodeAccess`]
//!   (the client identity shown to nodes, and the calls);
//! - `tls.rs`: the rustls client configurations (the serving certificate
//!   is not verified, as kube-apiserver without
//!   `--kubelet-certificate-authority`);
//! - `forward.rs`: one request forwarded, streamed both ways, upgrades
//!   (exec, attach, port-forward) spliced;
//! - `simulated.rs`: what a simulated node answers instead.
//!
//! A simulated node (annotation `rkube.io/sim: "true"`) has a made-up
//! address: nothing here ever opens a connection to it; its answers come
//! from `simulated.rs`.

pub mod forward;
pub mod simulated;
pub mod tls;

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::Response;
use rkube_apimachinery::ApiError;
use rustls::ClientConfig;
use serde_json::Value;
use tracing::warn;

use crate::pki::CertKeyPem;
use forward::{ForwardError, Upstream};

/// The largest answer [`NodeAccess::get`] reads (64 MiB).
pub const MAX_GET_BODY: usize = 64 * 1024 * 1024;

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

/// The node's name, from its object.
pub fn node_name(node: &Value) -> &str {
    node["metadata"]["name"].as_str().unwrap_or_default()
}

/// kube-apiserver's answer when a backend cannot be reached: a 500
/// naming the dial error.
fn unreachable(e: ForwardError) -> ApiError {
    ApiError::internal(format!("error dialing backend: {e}"))
}

/// The API server's way to the nodes: the client identity it shows them.
#[derive(Default)]
pub struct NodeAccess {
    /// The TLS configuration with the client identity, once set.
    identity: parking_lot::RwLock<Option<Arc<ClientConfig>>>,
}

impl NodeAccess {
    /// Show `identity` (a client certificate of the cluster CA) to nodes
    /// from now on. An identity rustls refuses is logged and not used.
    pub fn set_client_identity(&self, identity: CertKeyPem) {
        match tls::with_identity(&identity) {
            Ok(config) => *self.identity.write() = Some(config),
            Err(e) => warn!(error = %e, "the client identity for nodes is not usable"),
        }
    }

    fn node_tls(&self) -> Result<Arc<ClientConfig>, ApiError> {
        if let Some(c) = self.identity.read().clone() {
            return Ok(c);
        }
        tls::anonymous().map_err(|e| ApiError::internal(e.to_string()))
    }

    /// The address and port of a real node; a simulated node is refused
    /// with the simulated answer for `what`.
    fn real(node: &Value, what: &str) -> Result<(String, u16), ApiError> {
        match target_of(node)? {
            NodeTarget::Simulated => Err(simulated::refuse(what, node_name(node), None)),
            NodeTarget::Real { address, port } => Ok((address, port)),
        }
    }

    /// Forward `request` to `path_and_query` of a real node's API and
    /// give back the node's answer, streamed (upgrades spliced; see
    /// `forward.rs`). A simulated node is never connected to: 400.
    pub async fn forward(
        &self,
        node: &Value,
        path_and_query: &str,
        request: Request,
        what: &str,
    ) -> Result<Response, ApiError> {
        let (address, port) = Self::real(node, what)?;
        let upstream = Upstream {
            host: &address,
            port,
            tls: Some(self.node_tls()?),
            path_and_query,
        };
        forward::forward(upstream, request)
            .await
            .map_err(unreachable)
    }

    /// Forward `request` to a pod's port (`pods/proxy`,
    /// `services/proxy`): plain HTTP, or HTTPS without a client
    /// certificate when `https`.
    pub async fn forward_to_pod(
        &self,
        ip: &str,
        port: u16,
        https: bool,
        path_and_query: &str,
        request: Request,
    ) -> Result<Response, ApiError> {
        let tls = if https {
            Some(tls::anonymous().map_err(|e| ApiError::internal(e.to_string()))?)
        } else {
            None
        };
        let upstream = Upstream {
            host: ip,
            port,
            tls,
            path_and_query,
        };
        forward::forward(upstream, request)
            .await
            .map_err(unreachable)
    }

    /// GET `path_and_query` of a real node's API (`/stats/summary`) and
    /// its answer (at most [`MAX_GET_BODY`] bytes).
    pub async fn get(
        &self,
        node: &Value,
        path_and_query: &str,
    ) -> Result<(StatusCode, Bytes), ApiError> {
        let request = Request::new(Body::empty());
        let answer = self.forward(node, path_and_query, request, "GET").await?;
        let status = answer.status();
        let body = axum::body::to_bytes(answer.into_body(), MAX_GET_BODY)
            .await
            .map_err(|e| {
                ApiError::internal(format!(
                    "reading {path_and_query} from node {}: {e}",
                    node_name(node)
                ))
            })?;
        Ok((status, body))
    }
}
