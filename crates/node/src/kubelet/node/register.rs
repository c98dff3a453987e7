//! Registration of the real node: the Node created (or the one an earlier
//! run left updated, never duplicated) with its labels, then its status
//! written; and waiting for the node-IPAM controller's `spec.podCIDR`.

use std::time::Instant;

use futures::TryStreamExt;
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::Client;
use serde_json::json;

use crate::kubelet::config::KubeletConfig;
use crate::kubelet::error::KubeletError;
use crate::kubelet::node::clock::now;
use crate::kubelet::node::conditions::PressureState;
use crate::kubelet::node::host::{go_arch, Capacity, HostInfo};
use crate::kubelet::node::object;
use crate::kubelet::volumes::local_path;
use rkube_apimachinery::storage::LOCAL_PATH_ROOT;

fn api_error(what: String) -> impl FnOnce(kube::Error) -> KubeletError {
    move |source| KubeletError::Api { what, source }
}

/// Create or update the Node and write its whole status.
pub async fn register(
    client: &Client,
    config: &KubeletConfig,
    runtime_version: &str,
) -> Result<(), KubeletError> {
    let nodes: Api<Node> = Api::all(client.clone());
    let name = config.node_name.clone();
    let labels = object::labels(&name, go_arch());
    let mut annotations = serde_json::Map::new();
    annotations.insert("node.alpha.kubernetes.io/ttl".into(), json!("0"));
    // Where this node's local-path volumes live, for the provisioner.
    if let Some(root) = &config.local_path_root {
        let root = local_path::ensure_root(root).map_err(|e| KubeletError::Io {
            what: "cannot make the local-path root".to_string(),
            source: std::io::Error::other(e.to_string()),
        })?;
        annotations.insert(LOCAL_PATH_ROOT.into(), json!(root.display().to_string()));
    }
    let body = json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels, "annotations": annotations},
    });
    let node: Node = serde_json::from_value(body.clone())
        .map_err(kube::Error::SerdeError)
        .map_err(api_error(format!("cannot build node {name}")))?;
    let previous = match nodes.create(&PostParams::default(), &node).await {
        Ok(n) => n,
        Err(kube::Error::Api(s)) if s.code == 409 => {
            // A Node from an earlier run: its labels brought up to date.
            nodes
                .patch(
                    &name,
                    &PatchParams::default(),
                    &Patch::Merge(
                        json!({"metadata": {"labels": labels, "annotations": annotations}}),
                    ),
                )
                .await
                .map_err(api_error(format!("cannot update node {name}")))?
        }
        Err(e) => return Err(api_error(format!("cannot create node {name}"))(e)),
    };
    let cap = Capacity::measure(&config.root_dir);
    let info = HostInfo::read();
    let now = now();
    let conds = PressureState::default().observe(&[], Instant::now());
    let status = object::status(
        config,
        &cap,
        &info,
        runtime_version,
        object::conditions(&conds, Some(&previous), &now),
        json!([]),
    );
    nodes
        .patch_status(&name, &PatchParams::default(), &Patch::Merge(status))
        .await
        .map_err(api_error(format!("cannot write the status of node {name}")))?;
    tracing::info!(node = %name, cpu_milli = cap.cpu_milli as i64, memory = cap.memory as i64, "node registered");
    Ok(())
}

fn pod_cidr(node: &Node) -> Option<String> {
    node.spec
        .as_ref()
        .and_then(|s| s.pod_cidr.clone())
        .filter(|c| !c.is_empty())
}

/// Watch the Node until `spec.podCIDR` is set, and return it.
pub async fn wait_for_pod_cidr(client: &Client, node_name: &str) -> Result<String, KubeletError> {
    let nodes: Api<Node> = Api::all(client.clone());
    loop {
        let node = nodes
            .get(node_name)
            .await
            .map_err(api_error(format!("cannot read node {node_name}")))?;
        if let Some(cidr) = pod_cidr(&node) {
            return Ok(cidr);
        }
        let rv = node.metadata.resource_version.clone().unwrap_or_default();
        let wp = WatchParams::default()
            .fields(&format!("metadata.name={node_name}"))
            .timeout(60);
        let stream = nodes
            .watch(&wp, &rv)
            .await
            .map_err(api_error(format!("cannot watch node {node_name}")))?;
        futures::pin_mut!(stream);
        tracing::info!(
            node = node_name,
            "waiting for the node's pod range (spec.podCIDR)"
        );
        while let Some(ev) = stream
            .try_next()
            .await
            .map_err(api_error(format!("cannot watch node {node_name}")))?
        {
            match ev {
                WatchEvent::Added(n) | WatchEvent::Modified(n) => {
                    if let Some(cidr) = pod_cidr(&n) {
                        return Ok(cidr);
                    }
                }
                WatchEvent::Error(e) => {
                    tracing::debug!(error = %e.message, "node watch ended");
                    break;
                }
                _ => {}
            }
        }
    }
}
