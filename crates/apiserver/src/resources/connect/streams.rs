//! `pods/exec`, `pods/attach` and `pods/portforward` (GET or POST, an
//! upgraded connection): the options read as kube-apiserver reads
//! `PodExecOptions`, `PodAttachOptions` and `PodPortForwardOptions`, the
//! container chosen, and the request forwarded to the node's `/exec`,
//! `/attach` or `/portForward` with the client's headers. A simulated
//! node refuses with a 400 saying so; nothing connects to it.

use axum::extract::Request;
use axum::response::Response;
use rkube_apimachinery::ApiError;

use super::super::state::ApiState;
use super::pod_target::{assigned_node, choose_container, read_core};
use super::query::{segment, Encoder, Query};
use crate::node_access::{node_name, simulated, target_of, NodeTarget};

/// Which stream a request opens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamKind {
    Exec,
    Attach,
    PortForward,
}

impl StreamKind {
    /// What the simulated node's refusal calls it.
    fn what(self) -> &'static str {
        match self {
            StreamKind::Exec => "exec",
            StreamKind::Attach => "attach",
            StreamKind::PortForward => "port-forward",
        }
    }
}

/// The node's path and query for a stream into container `container`
/// (unused for port-forward) of pod `ns/pod`, as kube-apiserver's
/// `streamParams` writes it.
pub fn node_path(
    kind: StreamKind,
    q: &Query,
    ns: &str,
    pod: &str,
    container: &str,
) -> Result<String, ApiError> {
    let mut e = Encoder::default();
    if kind == StreamKind::PortForward {
        let ports = q.all("ports");
        let mut numbers = Vec::new();
        for p in ports.iter().flat_map(|p| p.split(',')) {
            match p.trim().parse::<u16>() {
                Ok(n) if n > 0 => numbers.push(n.to_string()),
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "invalid port {p:?}: a port must be a number from 1 to 65535"
                    )))
                }
            }
        }
        if !numbers.is_empty() {
            e.add("port", &numbers.join(","));
        }
        return Ok(e.finish(&format!("/portForward/{}/{}", segment(ns), segment(pod))));
    }
    for key in ["stdin", "stdout", "stderr", "tty"] {
        if q.bool(key)? {
            e.add(key, "1");
        }
    }
    if kind == StreamKind::Exec {
        for c in q.all("command") {
            e.add("command", c);
        }
    }
    let base = match kind {
        StreamKind::Exec => "exec",
        _ => "attach",
    };
    Ok(e.finish(&format!(
        "/{base}/{}/{}/{}",
        segment(ns),
        segment(pod),
        segment(container)
    )))
}

/// Serves `pods/{name}/{exec,attach,portforward}`.
pub async fn serve(
    state: &ApiState,
    kind: StreamKind,
    ns: &str,
    name: &str,
    query: &Query,
    request: Request,
) -> Result<Response, ApiError> {
    let pod = read_core(state, "pods", Some(ns), name).await?;
    let container = match kind {
        StreamKind::PortForward => String::new(),
        _ => choose_container(&pod, query.get("container"))?,
    };
    let path = node_path(kind, query, ns, name, &container)?;
    let node = assigned_node(state, &pod).await?;
    if target_of(&node)? == NodeTarget::Simulated {
        return Err(simulated::refuse(
            kind.what(),
            node_name(&node),
            Some((ns, name)),
        ));
    }
    state
        .nodes
        .forward(&node, &path, request, kind.what())
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_paths_as_kube_apiserver_writes_them() {
        let q = Query::parse(Some(
            "command=sh&command=-c&command=echo+hi&container=c&stdin=true&stdout=true&tty=true",
        ));
        assert_eq!(
            node_path(StreamKind::Exec, &q, "ns", "p", "c").expect("exec"),
            "/exec/ns/p/c?stdin=1&stdout=1&tty=1&command=sh&command=-c&command=echo%20hi"
        );
        assert_eq!(
            node_path(StreamKind::Attach, &q, "ns", "p", "c").expect("attach"),
            "/attach/ns/p/c?stdin=1&stdout=1&tty=1"
        );
        let q = Query::parse(Some("ports=8080&ports=9090"));
        assert_eq!(
            node_path(StreamKind::PortForward, &q, "ns", "p", "").expect("pf"),
            "/portForward/ns/p?port=8080%2C9090"
        );
        let q = Query::parse(Some("ports=http"));
        let e = node_path(StreamKind::PortForward, &q, "ns", "p", "").expect_err("bad");
        assert_eq!(e.code(), 400);
    }
}
