//! The node's usage figures, as the kubelet serves them:
//! `/stats/summary` (the Summary API), `/metrics/resource`,
//! `/metrics/cadvisor`, `/metrics/probes` and `/metrics`.
//!
//! - `collect.rs`: one reading of the runtime's stats and the host's,
//!   with CPU rates from the previous reading;
//! - `host.rs`: the node's own figures from `/proc`;
//! - `summary.rs`, `resource.rs`, `cadvisor.rs`, `probes.rs`,
//!   `kubelet.rs`: one endpoint each;
//! - `prom.rs`: the Prometheus text format.

pub mod cadvisor;
pub mod collect;
pub mod host;
pub mod kubelet;
pub mod probes;
pub mod prom;
pub mod resource;
pub mod summary;

use std::sync::Arc;

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use self::collect::CpuRates;
use super::error::NodeApiError;
use super::ServerState;

/// This file's routes; the CPU readings they keep are this router's.
pub fn routes() -> Router<Arc<ServerState>> {
    let rates = Arc::new(CpuRates::default());
    let (r1, r2, r3) = (rates.clone(), rates.clone(), rates);
    Router::new()
        .route(
            "/stats/summary",
            get(move |State(s): State<Arc<ServerState>>| async move {
                let snapshot =
                    collect::collect(s.runtime.as_ref(), &r1, &s.config.root_dir).await?;
                Ok::<_, NodeApiError>(json(summary::summary(&s.config.node_name, &snapshot)))
            }),
        )
        .route(
            "/metrics/resource",
            get(move |State(s): State<Arc<ServerState>>| async move {
                let snapshot = collect::collect(s.runtime.as_ref(), &r2, &s.config.root_dir).await;
                if let Err(e) = &snapshot {
                    tracing::warn!(error = %e, "cannot read the resource metrics");
                }
                text(resource::families(snapshot.as_ref().ok()))
            }),
        )
        .route(
            "/metrics/cadvisor",
            get(move |State(s): State<Arc<ServerState>>| async move {
                let snapshot =
                    collect::collect(s.runtime.as_ref(), &r3, &s.config.root_dir).await?;
                Ok::<_, NodeApiError>(text(cadvisor::families(&snapshot)))
            }),
        )
        .route(
            "/metrics/probes",
            get(|| async { text(probes::families()) }),
        )
        .route(
            "/metrics",
            get(|State(s): State<Arc<ServerState>>| async move {
                let families = kubelet::families(&s.config.node_name, s.runtime.as_ref()).await?;
                Ok::<_, NodeApiError>(text(families))
            }),
        )
}

fn text(families: Vec<prom::Family>) -> Response {
    ([(CONTENT_TYPE, prom::CONTENT_TYPE)], prom::render(families)).into_response()
}

fn json(value: serde_json::Value) -> Response {
    ([(CONTENT_TYPE, "application/json")], value.to_string()).into_response()
}
