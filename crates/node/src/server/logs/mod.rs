//! `GET /containerLogs/{namespace}/{pod}/{container}`: a container's log
//! as the kubelet serves it (`kubectl logs`, through the API server's
//! `pods/log`), streamed chunk by chunk.
//!
//! - `options.rs`: the query (`follow`, `previous`, `sinceSeconds`,
//!   `sinceTime`, `timestamps`, `tailLines`, `limitBytes`, `stream`);
//! - `files.rs`: the log's files, rotated ones first;
//! - `cri.rs`: entries of a CRI log file, read without holding a line;
//! - `reader.rs`: one request read through, following if asked.
//!
//! Unlike the kubelet, which reads only the live file, the rotated files
//! are read too, so a log is whole up to the runtime's 5 × 10 MiB.

pub mod cri;
pub mod files;
pub mod options;
pub mod reader;

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::SystemTime;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use futures::StreamExt;
use rkube_cri::{ContainerState, ContainerStatus, RuntimeService};

use self::options::LogOptions;
use self::reader::FollowTiming;
use super::error::NodeApiError;
use super::{lookup, ServerState};

/// This file's routes.
pub fn routes() -> Router<Arc<ServerState>> {
    Router::new().route(
        "/containerLogs/:namespace/:pod/:container",
        get(container_logs),
    )
}

async fn container_logs(
    State(state): State<Arc<ServerState>>,
    Path((namespace, pod, container)): Path<(String, String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, NodeApiError> {
    let options = LogOptions::parse(&query, SystemTime::now())?;
    let instance = log_instance(
        state.runtime.as_ref(),
        &namespace,
        &pod,
        &container,
        options.previous,
    )
    .await?;
    tracing::debug!(%namespace, %pod, %container, id = %instance.id, ?options, "container logs");
    let body = Body::from_stream(stream_log(
        state.runtime.clone(),
        instance,
        options,
        FollowTiming::default(),
    ));
    Ok(([(CONTENT_TYPE, "text/plain")], body).into_response())
}

/// The instance whose log is asked for: the newest, or with `previous`
/// the one before it; errors as the kubelet words them.
pub async fn log_instance(
    runtime: &dyn RuntimeService,
    namespace: &str,
    pod: &str,
    container: &str,
    previous: bool,
) -> Result<ContainerStatus, NodeApiError> {
    let mut instances = lookup::container_instances(runtime, namespace, pod, container).await?;
    if instances.is_empty() {
        return match lookup::sandbox(runtime, namespace, pod).await {
            Ok(_) => Err(NodeApiError::BadRequest(format!(
                "container {container:?} in pod {pod:?} is waiting to start: ContainerCreating"
            ))),
            Err(_) => Err(NodeApiError::NotFound(format!(
                "pod {pod:?} does not exist"
            ))),
        };
    }
    if previous {
        if instances.len() < 2 {
            return Err(NodeApiError::BadRequest(format!(
                "previous terminated container {container:?} in pod {pod:?} not found"
            )));
        }
        return Ok(instances.swap_remove(1));
    }
    Ok(instances.swap_remove(0))
}

/// The log of `instance` as a stream of chunks, read on a blocking
/// thread; the reading stops when the stream is dropped (the client went
/// away).
pub fn stream_log(
    runtime: Arc<dyn RuntimeService>,
    instance: ContainerStatus,
    options: LogOptions,
    timing: FollowTiming,
) -> impl futures::Stream<Item = Result<Bytes, Infallible>> + Send + 'static {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(8);
    let handle = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let watch = tx.clone();
        let id = instance.id.clone();
        let mut running = || {
            !watch.is_closed()
                && matches!(
                    handle.block_on(runtime.container_status(&id)),
                    Ok(s) if s.state == ContainerState::Running
                )
        };
        let mut send = |chunk: Bytes| tx.blocking_send(chunk).is_ok();
        reader::read_log(
            &instance.log_path,
            &options,
            &mut running,
            &mut send,
            timing,
        );
    });
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx)).map(Ok)
}
