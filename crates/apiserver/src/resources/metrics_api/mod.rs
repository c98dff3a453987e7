//! `metrics.k8s.io/v1beta1` served by the API server itself, as
//! metrics-server answers it, so `kubectl top` and autoscalers work
//! without installing metrics-server: `NodeMetrics` (`nodes`) and
//! `PodMetrics` (`pods`, per namespace or across them), get and list,
//! with `labelSelector` and `fieldSelector` (`metadata.name`,
//! `metadata.namespace`) applied to the nodes and pods measured.
//!
//! The registry lists the group like any other (so discovery, the `Local`
//! APIService `v1beta1.metrics.k8s.io` and authorization need nothing
//! special); `dispatch.rs` hands its get and list here instead of to the
//! store. The figures come from:
//! - a real node's Summary API (`summary.rs`), reached through
//!   `ApiState::nodes` and kept a few seconds (`cache.rs`);
//! - for a simulated node, synthetic usage computed from its pods
//!   (`simulated.rs`): nothing ever connects to it.
//!
//! As metrics-server: a pod or node that has no figures (not running, its
//! node unreachable) is left out of lists, and a get of it is
//! `404 NotFound` (`podmetrics.metrics.k8s.io "<ns>/<name>" not found`);
//! a get of a pod or node that does not exist is the core `404`
//! (`pods "<name>" not found`).

pub(crate) mod cache;
mod simulated;
mod summary;
mod usage;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use rkube_apimachinery::{ApiError, FieldSelector, ResourceInfo};
use serde_json::{json, Value};

pub use cache::SummaryCache;

use super::get::{get, list};
use super::negotiate;
use super::object::{meta_str, now_rfc3339};
use super::options::ListOptions;
use super::path::ResourcePath;
use super::request::{list_options, render};
use super::state::ApiState;
use crate::node_access::{target_of, NodeTarget};
use summary::NodeReport;
use usage::Usage;

/// The group served here.
pub const GROUP: &str = "metrics.k8s.io";
const API_VERSION: &str = "metrics.k8s.io/v1beta1";
/// The window of simulated figures (metrics-server's default resolution).
const SIMULATED_WINDOW: &str = "15s";
/// The window of a real node's figures (the kubelet's rate interval).
const REAL_WINDOW: &str = "10s";
/// The kubelet Summary API.
const SUMMARY_PATH: &str = "/stats/summary";

/// Whether requests for `info` are answered here rather than from the store.
pub fn serves(info: &ResourceInfo) -> bool {
    info.group == GROUP
}

/// Answers a get (`p` names an object) or a list.
pub async fn serve(
    state: &ApiState,
    p: &ResourcePath,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
) -> Result<Response, ApiError> {
    let shape = render(headers, query, false)?;
    let info = &p.info;
    let pods = info.namespaced;
    let body = match (&p.name, pods) {
        (Some(name), false) => one_node(state, name).await?,
        (Some(name), true) => one_pod(state, p.namespace.as_deref().unwrap_or(""), name).await?,
        (None, _) => {
            let parsed = list_options(p, query, false)?;
            // Selectors only: metrics-server neither pages nor reads at a
            // resourceVersion.
            let opts = ListOptions {
                label_selector: parsed.label_selector,
                field_selector: parsed.field_selector,
                ..ListOptions::default()
            };
            let items = if pods {
                pod_items(state, p.namespace.as_deref(), &opts).await?
            } else {
                node_items(state, &opts).await?
            };
            json!({"kind": info.list_kind, "apiVersion": API_VERSION, "metadata": {}, "items": items})
        }
    };
    let answer = negotiate::answer(info, body, &shape)?;
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, answer.content_type)],
        answer.bytes,
    )
        .into_response())
}

fn core(state: &ApiState, plural: &str) -> Result<ResourceInfo, ApiError> {
    state
        .registry()
        .get("", "v1", plural)
        .cloned()
        .ok_or_else(|| ApiError::internal(format!("{plural} are not registered")))
}

/// `metadata` of a metrics object: the measured object's name, namespace
/// and labels, created now (as metrics-server writes it).
fn metadata(obj: &Value) -> Value {
    let mut m = json!({"name": meta_str(obj, "name"), "creationTimestamp": now_rfc3339()});
    let ns = meta_str(obj, "namespace");
    if !ns.is_empty() {
        m["namespace"] = json!(ns);
    }
    if let Some(labels) = obj
        .pointer("/metadata/labels")
        .filter(|l| l.as_object().is_some_and(|o| !o.is_empty()))
    {
        m["labels"] = labels.clone();
    }
    m
}

fn node_metrics(node: &Value, usage: Usage, timestamp: &str, window: &str) -> Value {
    json!({
        "kind": "NodeMetrics", "apiVersion": API_VERSION, "metadata": metadata(node),
        "timestamp": timestamp, "window": window, "usage": usage.to_json(),
    })
}

fn pod_metrics(
    pod: &Value,
    containers: &[(String, Usage)],
    timestamp: &str,
    window: &str,
) -> Value {
    let containers: Vec<Value> = containers
        .iter()
        .map(|(name, u)| json!({"name": name, "usage": u.to_json()}))
        .collect();
    json!({
        "kind": "PodMetrics", "apiVersion": API_VERSION, "metadata": metadata(pod),
        "timestamp": timestamp, "window": window, "containers": containers,
    })
}

/// A real node's report (cached): `None` when it did not answer.
async fn real_report(state: &ApiState, node: &Value) -> Option<Arc<NodeReport>> {
    let name = meta_str(node, "name");
    state
        .resource_metrics
        .report(name, || async {
            match state.nodes.get(node, SUMMARY_PATH).await {
                Ok((status, body)) if status.is_success() => match summary::parse(&body) {
                    Ok(report) => Some(report),
                    Err(error) => {
                        tracing::warn!(node = name, %error, "the node's summary does not parse");
                        None
                    }
                },
                Ok((status, _)) => {
                    tracing::warn!(node = name, %status, "the node refused its summary");
                    None
                }
                Err(error) => {
                    tracing::warn!(node = name, %error, "cannot read the node's summary");
                    None
                }
            }
        })
        .await
}

/// The NodeMetrics of `node`, if it has figures; `pods`: the pods bound
/// to it (read only for a simulated node).
async fn measure_node(state: &ApiState, node: &Value, pods: &[&Value]) -> Option<Value> {
    match target_of(node) {
        Ok(NodeTarget::Simulated) => {
            let usage = simulated::node_usage(node, pods.iter().copied());
            Some(node_metrics(node, usage, &now_rfc3339(), SIMULATED_WINDOW))
        }
        Ok(NodeTarget::Real { .. }) => {
            let report = real_report(state, node).await?;
            let (usage, time) = report.node.as_ref()?;
            Some(node_metrics(node, *usage, time, REAL_WINDOW))
        }
        Err(error) => {
            tracing::debug!(node = meta_str(node, "name"), %error, "node not measurable");
            None
        }
    }
}

/// The PodMetrics of `pod` on `node`, if it has figures.
async fn measure_pod(state: &ApiState, pod: &Value, node: &Value) -> Option<Value> {
    if !simulated::is_running(pod) {
        return None;
    }
    match target_of(node).ok()? {
        NodeTarget::Simulated => {
            let containers = simulated::pod_usage(pod);
            Some(pod_metrics(
                pod,
                &containers,
                &now_rfc3339(),
                SIMULATED_WINDOW,
            ))
        }
        NodeTarget::Real { .. } => {
            let report = real_report(state, node).await?;
            let key = (
                meta_str(pod, "namespace").to_string(),
                meta_str(pod, "name").to_string(),
            );
            let r = report.pods.get(&key)?;
            Some(pod_metrics(pod, &r.containers, &r.timestamp, REAL_WINDOW))
        }
    }
}

fn items(listed: Value) -> Vec<Value> {
    match listed.get("items") {
        Some(Value::Array(items)) => items.clone(),
        _ => Vec::new(),
    }
}

/// Pods bound to `node` (all namespaces).
async fn pods_on(state: &ApiState, node: &str) -> Result<Vec<Value>, ApiError> {
    let opts = ListOptions {
        field_selector: FieldSelector::equals("spec.nodeName", node),
        ..ListOptions::default()
    };
    let info = core(state, "pods")?;
    Ok(items(list(state.store.as_ref(), &info, None, &opts).await?))
}

async fn one_node(state: &ApiState, name: &str) -> Result<Value, ApiError> {
    let (node, _) = get(state.store.as_ref(), &core(state, "nodes")?, None, name).await?;
    let pods = match target_of(&node) {
        Ok(NodeTarget::Simulated) => pods_on(state, name).await?,
        _ => Vec::new(),
    };
    let pods: Vec<&Value> = pods.iter().collect();
    measure_node(state, &node, &pods)
        .await
        .ok_or_else(|| ApiError::not_found(GROUP, "nodemetrics", name))
}

async fn node_items(state: &ApiState, opts: &ListOptions) -> Result<Vec<Value>, ApiError> {
    let store = state.store.as_ref();
    let nodes = items(list(store, &core(state, "nodes")?, None, opts).await?);
    let any_simulated = nodes
        .iter()
        .any(|n| target_of(n) == Ok(NodeTarget::Simulated));
    let all_pods = if any_simulated {
        items(list(store, &core(state, "pods")?, None, &ListOptions::default()).await?)
    } else {
        Vec::new()
    };
    let mut by_node: HashMap<&str, Vec<&Value>> = HashMap::new();
    for pod in &all_pods {
        if let Some(n) = pod.pointer("/spec/nodeName").and_then(Value::as_str) {
            by_node.entry(n).or_default().push(pod);
        }
    }
    let measured = futures::future::join_all(nodes.iter().map(|node| {
        let pods = by_node
            .get(meta_str(node, "name"))
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        measure_node(state, node, pods)
    }))
    .await;
    Ok(measured.into_iter().flatten().collect())
}

async fn one_pod(state: &ApiState, ns: &str, name: &str) -> Result<Value, ApiError> {
    let store = state.store.as_ref();
    let (pod, _) = get(store, &core(state, "pods")?, Some(ns), name).await?;
    let not_found = || ApiError::not_found(GROUP, "podmetrics", &format!("{ns}/{name}"));
    let Some(node_name) = pod.pointer("/spec/nodeName").and_then(Value::as_str) else {
        return Err(not_found());
    };
    let node = match get(store, &core(state, "nodes")?, None, node_name).await {
        Ok((node, _)) => node,
        Err(ApiError::NotFound { .. }) => return Err(not_found()),
        Err(e) => return Err(e),
    };
    measure_pod(state, &pod, &node).await.ok_or_else(not_found)
}

async fn pod_items(
    state: &ApiState,
    ns: Option<&str>,
    opts: &ListOptions,
) -> Result<Vec<Value>, ApiError> {
    let store = state.store.as_ref();
    let pods = items(list(store, &core(state, "pods")?, ns, opts).await?);
    let wanted: BTreeSet<&str> = pods
        .iter()
        .filter(|p| simulated::is_running(p))
        .filter_map(|p| p.pointer("/spec/nodeName").and_then(Value::as_str))
        .collect();
    let node_info = core(state, "nodes")?;
    let mut nodes: HashMap<&str, Value> = HashMap::new();
    for name in wanted {
        match get(store, &node_info, None, name).await {
            Ok((node, _)) => {
                nodes.insert(name, node);
            }
            Err(ApiError::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    let measured = futures::future::join_all(pods.iter().filter_map(|pod| {
        let node = nodes.get(pod.pointer("/spec/nodeName")?.as_str()?)?;
        Some(measure_pod(state, pod, node))
    }))
    .await;
    Ok(measured.into_iter().flatten().collect())
}
