//! The HTTP endpoints served today: health checks and metrics.
//!
//! `/readyz`, `/livez` and `/healthz` answer `200 ok` once the store is
//! open, `503` before. `/metrics` serves every registered metric in the
//! OpenMetrics text format (which Prometheus scrapes). The API routes join
//! them with the API server.

use std::sync::{Arc, OnceLock};

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use prometheus_client::registry::Registry;

/// What the endpoints read: set once, when the server becomes ready.
#[derive(Default)]
pub struct HealthState {
    ready: OnceLock<Registry>,
}

impl HealthState {
    /// Mark the server ready, with the metrics `/metrics` serves from now on.
    pub fn set_ready(&self, registry: Registry) {
        if self.ready.set(registry).is_err() {
            tracing::warn!("the server was marked ready twice");
        }
    }

    fn is_ready(&self) -> bool {
        self.ready.get().is_some()
    }
}

/// The router for the health and metrics endpoints.
pub fn router(state: Arc<HealthState>) -> Router {
    Router::new()
        .route("/readyz", get(check))
        .route("/livez", get(check))
        .route("/healthz", get(check))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .with_state(state)
}

async fn check(State(state): State<Arc<HealthState>>) -> Response {
    if state.is_ready() {
        plain(StatusCode::OK, "ok")
    } else {
        plain(StatusCode::SERVICE_UNAVAILABLE, "store is not open yet")
    }
}

async fn metrics(State(state): State<Arc<HealthState>>) -> Response {
    let Some(registry) = state.ready.get() else {
        return plain(StatusCode::SERVICE_UNAVAILABLE, "store is not open yet");
    };
    let mut body = String::new();
    match prometheus_client::encoding::text::encode(&mut body, registry) {
        Ok(()) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            body,
        )
            .into_response(),
        Err(err) => {
            tracing::error!(error = %err, "encoding metrics failed");
            plain(StatusCode::INTERNAL_SERVER_ERROR, "encoding metrics failed")
        }
    }
}

async fn not_found() -> Response {
    plain(StatusCode::NOT_FOUND, "404 page not found")
}

fn plain(status: StatusCode, body: &'static str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}
