//! The node's own API, as the kubelet's server on port 10250: container
//! logs, exec, attach, port-forward, stats and metrics of the pods this
//! node runs. The API server proxies `pods/log`, `pods/exec`,
//! `pods/attach`, `pods/portforward` and `nodes/proxy` here.
//!
//! - `mod.rs`: [`ServerState`] and [`router`] (the paths, as the
//!   kubelet's);
//! - `lookup.rs`: a pod's sandbox and containers, found through the
//!   runtime's labels (the server keeps no pod state of its own);
//! - `error.rs`: [`NodeApiError`] and its `Status` answer;
//! - `logs/`: `/containerLogs/...`; `node_logs.rs`: `/logs/` (the
//!   node's own log files);
//! - `streaming.rs`: `/exec/...`, `/attach/...`, `/portForward/...`,
//!   `/run/...` (framing by `rkube-stream`);
//! - `stats/`: `/stats/summary`, `/metrics/resource`,
//!   `/metrics/cadvisor`, `/metrics/probes`, `/metrics`;
//! - `listen/`: HTTPS on the node's port with its serving certificate,
//!   client certificates checked against the cluster CA (401 otherwise).
//!
//! What it must not do: change pods or containers other than running
//! what a client asked for in them (exec, attach, port-forward).

pub mod error;
pub mod listen;
pub mod logs;
pub mod lookup;
pub mod node_logs;
pub mod stats;
pub mod streaming;

use std::sync::Arc;

use axum::routing::get;
use axum::Router;
use rkube_cri::RuntimeService;

pub use error::NodeApiError;

use crate::kubelet::KubeletConfig;

/// What every handler of the node's API reads.
pub struct ServerState {
    pub config: Arc<KubeletConfig>,
    pub runtime: Arc<dyn RuntimeService>,
}

/// The node's API: every path the kubelet serves that rkube implements.
pub fn router(state: Arc<ServerState>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .merge(logs::routes())
        .merge(node_logs::routes())
        .merge(streaming::routes())
        .merge(stats::routes())
        .with_state(state)
}
