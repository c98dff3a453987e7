//! The connect subresources: requests answered with a node's or a pod's
//! bytes rather than a stored object — `pods/log`, `pods/exec`,
//! `pods/attach`, `pods/portforward` and the `proxy` of pods, services
//! and nodes. Their bodies are never buffered: the request goes on to
//! the node (`crate::node_access`) as it arrives, upgrades included.
//!
//! - `query.rs`: the raw query (repeated keys) and the node's query;
//! - `pod_target.rs`: the pod, its container, its node;
//! - `log.rs`, `streams.rs` (exec, attach, port-forward), `proxy.rs`.

mod log;
mod pod_target;
mod proxy;
mod query;
mod streams;

use axum::extract::Request;
use axum::response::Response;
use rkube_apimachinery::ApiError;

use super::dispatch::Verb;
use super::path::ResourcePath;
use super::state::ApiState;
use query::Query;
use streams::StreamKind;

/// Whether `subresource` is served here.
pub fn is_connect(subresource: Option<&str>) -> bool {
    matches!(
        subresource,
        Some("log" | "exec" | "attach" | "portforward" | "proxy")
    )
}

/// Serves one connect request: `verb` as authorization computed it
/// (`None` for a method without one), `method` for a 405.
pub async fn serve(
    state: &ApiState,
    path: &ResourcePath,
    verb: Option<Verb>,
    method: &str,
    request: Request,
) -> Result<Response, ApiError> {
    let info = &path.info;
    let sub = path.subresource.as_deref().unwrap_or("");
    let resource = format!("{}/{sub}", info.plural);
    let allowed = verb.is_some_and(|v| {
        info.subresource(sub)
            .is_some_and(|s| s.has_verb(v.as_str()))
    });
    let (Some(name), true) = (path.name.as_deref(), allowed) else {
        return Err(ApiError::method_not_allowed(&info.group, &resource, method));
    };
    if info.namespaced && path.namespace.is_none() {
        return Err(ApiError::method_not_allowed(&info.group, &resource, method));
    }
    let ns = path.namespace.as_deref().unwrap_or("");
    let raw_query = request.uri().query().map(str::to_string);
    let query = Query::parse(raw_query.as_deref());
    match (info.group.as_str(), info.plural.as_str(), sub) {
        ("", "pods", "log") => log::serve(state, ns, name, &query, request).await,
        ("", "pods", "exec") => {
            streams::serve(state, StreamKind::Exec, ns, name, &query, request).await
        }
        ("", "pods", "attach") => {
            streams::serve(state, StreamKind::Attach, ns, name, &query, request).await
        }
        ("", "pods", "portforward") => {
            streams::serve(state, StreamKind::PortForward, ns, name, &query, request).await
        }
        ("", plural, "proxy") => {
            let target = proxy::tail(request.uri().path(), info.namespaced, raw_query.as_deref());
            match plural {
                "pods" => proxy::pod(state, ns, name, &target, request).await,
                "services" => proxy::service(state, ns, name, &target, request).await,
                "nodes" => proxy::node(state, name, &target, request).await,
                _ => Err(ApiError::method_not_allowed(&info.group, &resource, method)),
            }
        }
        _ => Err(ApiError::method_not_allowed(&info.group, &resource, method)),
    }
}
