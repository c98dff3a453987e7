//! `pods/proxy`, `services/proxy` and `nodes/proxy` (every method, with a
//! `/{path}` tail; the name may be `name:port` or `scheme:name:port`), as
//! kube-apiserver's proxy REST: a pod's IP and port, a ready endpoint of
//! the service (from its EndpointSlices), or the node's kubelet port
//! (with the API server's client certificate) or another port of the
//! node.
//!
//! Never connects to a pod of a simulated node or to a simulated node:
//! those get a 400 saying so.

use axum::extract::Request;
use axum::response::Response;
use rand::seq::SliceRandom;
use rkube_apimachinery::ApiError;
use serde_json::Value;

use super::super::get::list;
use super::super::options::ListOptions;
use super::super::state::ApiState;
use super::pod_target::{node_of, read_core};
use crate::node_access::{node_name, simulated, target_of, NodeTarget};

/// `[scheme:]name[:port]`, as kube's `SplitSchemeNamePort`.
#[derive(Debug, PartialEq, Eq)]
pub struct SchemeNamePort<'a> {
    pub https: bool,
    pub name: &'a str,
    pub port: &'a str,
}

pub fn split_scheme_name_port(id: &str) -> Result<SchemeNamePort<'_>, ApiError> {
    let parts: Vec<&str> = id.split(':').collect();
    let (scheme, name, port) = match parts.as_slice() {
        [name] => ("", *name, ""),
        [name, port] => ("", *name, *port),
        [scheme, name, port] => (*scheme, *name, *port),
        _ => ("", "", ""),
    };
    if name.is_empty() || !matches!(scheme, "" | "http" | "https") {
        return Err(ApiError::bad_request(format!(
            "invalid request {id:?}: expected [scheme:]name[:port]"
        )));
    }
    Ok(SchemeNamePort {
        https: scheme == "https",
        name,
        port,
    })
}

/// The path after `.../{name}/proxy` in the raw request path of a core
/// resource (`/` when there is none), with the raw query.
pub fn tail(raw_path: &str, namespaced: bool, raw_query: Option<&str>) -> String {
    // "", "api", "v1", ["namespaces", ns,] plural, name, "proxy", tail...
    let at = if namespaced { 7 } else { 5 };
    let segments: Vec<&str> = raw_path.split('/').collect();
    let mut path = segments.get(at + 1..).unwrap_or_default().join("/");
    path.insert(0, '/');
    match raw_query.filter(|q| !q.is_empty()) {
        Some(q) => format!("{path}?{q}"),
        None => path,
    }
}

/// A port named or numbered `port` among the pod's container ports.
fn pod_port(pod: &Value, port: &str) -> Option<u16> {
    if let Ok(n) = port.parse::<u16>() {
        return Some(n);
    }
    pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|c| c["ports"].as_array().into_iter().flatten())
        .find(|p| p["name"] == port)
        .and_then(|p| p["containerPort"].as_u64())
        .and_then(|p| u16::try_from(p).ok())
}

/// The pod's IP, unless it runs on a simulated node (or its node is not
/// known): then the refusal.
async fn reachable_ip(state: &ApiState, pod: &Value) -> Result<String, ApiError> {
    let ns = pod["metadata"]["namespace"].as_str().unwrap_or_default();
    let name = pod["metadata"]["name"].as_str().unwrap_or_default();
    let node = node_of(state, pod).await?.ok_or_else(|| {
        ApiError::service_unavailable(format!("pod {name} does not have a host assigned"))
    })?;
    if target_of(&node)? == NodeTarget::Simulated {
        return Err(simulated::refuse(
            "proxy",
            node_name(&node),
            Some((ns, name)),
        ));
    }
    pod["status"]["podIP"]
        .as_str()
        .filter(|ip| !ip.is_empty())
        .map(str::to_string)
        .ok_or_else(|| ApiError::service_unavailable(format!("pod {name} has no IP address yet")))
}

/// `pods/{name}/proxy/...`.
pub async fn pod(
    state: &ApiState,
    ns: &str,
    id: &str,
    path_and_query: &str,
    request: Request,
) -> Result<Response, ApiError> {
    let target = split_scheme_name_port(id)?;
    let pod = read_core(state, "pods", Some(ns), target.name).await?;
    // No port: the first declared one, or 80.
    let port = match target.port {
        "" => pod["spec"]["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .find_map(|c| c["ports"][0]["containerPort"].as_u64())
            .and_then(|p| u16::try_from(p).ok())
            .unwrap_or(if target.https { 443 } else { 80 }),
        p => pod_port(&pod, p).ok_or_else(|| {
            ApiError::bad_request(format!("pod {} has no port {p:?}", target.name))
        })?,
    };
    let ip = reachable_ip(state, &pod).await?;
    state
        .nodes
        .forward_to_pod(&ip, port, target.https, path_and_query, request)
        .await
}

/// The service port `port` names (by name or number; empty: the only
/// one): its name, which EndpointSlice ports carry.
fn service_port<'a>(svc: &'a Value, port: &str) -> Option<&'a str> {
    let ports = svc["spec"]["ports"].as_array()?;
    let found = match port {
        "" if ports.len() == 1 => ports.first(),
        "" => ports
            .iter()
            .find(|p| p["name"].as_str().unwrap_or("").is_empty()),
        p => ports
            .iter()
            .find(|sp| sp["name"] == p || p.parse::<u64>().ok() == sp["port"].as_u64()),
    }?;
    Some(found["name"].as_str().unwrap_or(""))
}

/// `services/{name}/proxy/...`.
pub async fn service(
    state: &ApiState,
    ns: &str,
    id: &str,
    path_and_query: &str,
    request: Request,
) -> Result<Response, ApiError> {
    let target = split_scheme_name_port(id)?;
    let svc = read_core(state, "services", Some(ns), target.name).await?;
    if svc["spec"]["type"] == "ExternalName" {
        return Err(ApiError::bad_request(format!(
            "service {} is of type ExternalName and cannot be proxied",
            target.name
        )));
    }
    let port_name = service_port(&svc, target.port).ok_or_else(|| {
        ApiError::service_unavailable(format!(
            "no service port {:?} found for service {:?}",
            target.port, target.name
        ))
    })?;
    let registry = state.registry();
    let slices_info = registry
        .get("discovery.k8s.io", "v1", "endpointslices")
        .ok_or_else(|| ApiError::internal("endpointslices are not registered"))?;
    let opts = ListOptions {
        label_selector: rkube_apimachinery::LabelSelector::parse(&format!(
            "kubernetes.io/service-name={}",
            target.name
        ))?,
        ..ListOptions::default()
    };
    let slices = list(state.store.as_ref(), slices_info, Some(ns), &opts).await?;
    let mut candidates: Vec<(String, u16, Option<String>, Option<String>)> = Vec::new();
    for slice in slices["items"].as_array().into_iter().flatten() {
        let Some(port) = slice["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["name"].as_str().unwrap_or("") == port_name)
            .and_then(|p| p["port"].as_u64())
            .and_then(|p| u16::try_from(p).ok())
        else {
            continue;
        };
        for ep in slice["endpoints"].as_array().into_iter().flatten() {
            if ep["conditions"]["ready"] == false {
                continue;
            }
            let node = ep["nodeName"].as_str().map(str::to_string);
            let pod = (ep["targetRef"]["kind"] == "Pod")
                .then(|| ep["targetRef"]["name"].as_str().map(str::to_string))
                .flatten();
            if let Some(ip) = ep["addresses"][0].as_str() {
                candidates.push((ip.to_string(), port, node, pod));
            }
        }
    }
    candidates.shuffle(&mut rand::thread_rng());
    let mut refused = None;
    for (ip, port, node, pod) in candidates {
        // An endpoint on a simulated node is never connected to.
        let node = match (node, pod) {
            (Some(n), _) => Some(read_core(state, "nodes", None, &n).await),
            (None, Some(p)) => match read_core(state, "pods", Some(ns), &p).await {
                Ok(pod) => node_of(state, &pod).await.transpose(),
                Err(e) => Some(Err(e)),
            },
            (None, None) => None,
        };
        match node {
            Some(Ok(n)) if target_of(&n)? == NodeTarget::Simulated => {
                refused = Some(simulated::refuse("proxy", node_name(&n), None));
                continue;
            }
            Some(Err(_)) => continue,
            _ => {}
        }
        return state
            .nodes
            .forward_to_pod(&ip, port, target.https, path_and_query, request)
            .await;
    }
    Err(refused.unwrap_or_else(|| {
        ApiError::service_unavailable(format!(
            "no endpoints available for service {:?}",
            target.name
        ))
    }))
}

/// `nodes/{name}/proxy/...`: the kubelet's port (with the API server's
/// identity) unless another port is named.
pub async fn node(
    state: &ApiState,
    id: &str,
    path_and_query: &str,
    request: Request,
) -> Result<Response, ApiError> {
    let target = split_scheme_name_port(id)?;
    let node = read_core(state, "nodes", None, target.name).await?;
    let NodeTarget::Real { address, port } = target_of(&node)? else {
        return Err(simulated::refuse("proxy", target.name, None));
    };
    let wanted = match target.port {
        "" => port,
        p => p.parse::<u16>().map_err(|_| {
            ApiError::bad_request(format!("invalid port {p:?} for node {}", target.name))
        })?,
    };
    if wanted == port {
        return state
            .nodes
            .forward(&node, path_and_query, request, "proxy")
            .await;
    }
    state
        .nodes
        .forward_to_pod(&address, wanted, target.https, path_and_query, request)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_ports_and_tails() {
        let t = split_scheme_name_port("https:web:8443").expect("full");
        assert_eq!((t.https, t.name, t.port), (true, "web", "8443"));
        let t = split_scheme_name_port("web:http").expect("named");
        assert_eq!((t.https, t.name, t.port), (false, "web", "http"));
        assert!(split_scheme_name_port("ftp:web:21").is_err());
        assert!(split_scheme_name_port(":80").is_err());
        assert_eq!(
            tail(
                "/api/v1/namespaces/ns/pods/p:80/proxy/a/b/",
                true,
                Some("x=1")
            ),
            "/a/b/?x=1"
        );
        assert_eq!(
            tail("/api/v1/namespaces/proxy/pods/proxy/proxy", true, None),
            "/"
        );
        assert_eq!(
            tail("/api/v1/nodes/n/proxy/metrics", false, None),
            "/metrics"
        );
        assert_eq!(tail("/api/v1/nodes/n/proxy", false, None), "/");
        let svc = json!({"spec": {"ports": [{"name": "http", "port": 80}, {"name": "tls", "port": 443}]}});
        assert_eq!(service_port(&svc, "443"), Some("tls"));
        assert_eq!(service_port(&svc, "http"), Some("http"));
        assert_eq!(service_port(&svc, "8080"), None);
    }
}
