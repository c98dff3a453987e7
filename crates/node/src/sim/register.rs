//! The Node objects of the simulated nodes: created if missing, their
//! status (capacity, conditions, addresses, node info) written through
//! `nodes/status` as a kubelet does at start.

use std::collections::BTreeMap;

use futures::{stream, StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::Client;
use serde_json::{json, Value};

use crate::sim::addresses::{node_ip, pod_cidr_base};
use crate::sim::clock::now;
use crate::sim::config::SimConfig;
use crate::sim::error::{api_error, SimError};

/// Node writes in flight at once while registering.
const CONCURRENCY: usize = 32;

/// The kubelet version simulated nodes report.
pub(crate) const KUBELET_VERSION: &str = "v1.37.0-rkube-sim";

fn node_object(config: &SimConfig, i: u32) -> Value {
    let name = config.node_name(i);
    let mut labels: BTreeMap<String, String> = BTreeMap::from([
        ("kubernetes.io/hostname".to_string(), name.clone()),
        ("kubernetes.io/os".to_string(), "linux".to_string()),
        ("kubernetes.io/arch".to_string(), "amd64".to_string()),
        ("beta.kubernetes.io/os".to_string(), "linux".to_string()),
        ("beta.kubernetes.io/arch".to_string(), "amd64".to_string()),
        ("type".to_string(), "sim".to_string()),
    ]);
    labels.extend(config.labels.clone());
    let (a, b) = pod_cidr_base(i);
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": labels,
            "annotations": {"node.alpha.kubernetes.io/ttl": "0", "rkube.io/sim": "true"},
        },
        "spec": {"podCIDR": format!("10.{a}.{b}.0/24"), "podCIDRs": [format!("10.{a}.{b}.0/24")]},
    })
}

fn node_status(config: &SimConfig, i: u32, now: &str) -> Value {
    let resources = json!({
        "cpu": config.cpu,
        "memory": config.memory,
        "pods": config.pods.to_string(),
        "ephemeral-storage": "100Gi",
    });
    let condition = |t: &str, status: &str, reason: &str, message: &str| {
        json!({"type": t, "status": status, "reason": reason, "message": message,
               "lastHeartbeatTime": now, "lastTransitionTime": now})
    };
    json!({"status": {
        "capacity": resources,
        "allocatable": resources,
        "phase": "Running",
        "conditions": [
            condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
            condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
            condition("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
        ],
        "addresses": [
            {"type": "InternalIP", "address": node_ip(i)},
            {"type": "Hostname", "address": config.node_name(i)},
        ],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
        "nodeInfo": {
            "machineID": format!("sim-{i}"),
            "systemUUID": format!("sim-{i}"),
            "bootID": format!("sim-{i}"),
            "kernelVersion": "rkube-sim",
            "osImage": "rkube simulated node",
            "containerRuntimeVersion": "sim://0.1.0",
            "kubeletVersion": KUBELET_VERSION,
            "kubeProxyVersion": "",
            "operatingSystem": "linux",
            "architecture": "amd64",
        },
    }})
}

/// Creates every node that does not exist yet and writes every node's
/// status (a restarted agent reports Ready again).
pub(crate) async fn register_all(client: &Client, config: &SimConfig) -> Result<(), SimError> {
    let nodes: Api<Node> = Api::all(client.clone());
    let now = now();
    stream::iter(0..config.nodes)
        .map(|i| {
            let nodes = nodes.clone();
            let now = now.clone();
            async move {
                let name = config.node_name(i);
                let body: Node = serde_json::from_value(node_object(config, i))
                    .map_err(kube::Error::SerdeError)
                    .map_err(api_error(format!("cannot build node {name}")))?;
                match nodes.create(&PostParams::default(), &body).await {
                    Ok(_) => {}
                    Err(kube::Error::Api(s)) if s.code == 409 => {}
                    Err(e) => return Err(api_error(format!("cannot create node {name}"))(e)),
                }
                nodes
                    .patch_status(
                        &name,
                        &PatchParams::default(),
                        &Patch::Merge(node_status(config, i, &now)),
                    )
                    .await
                    .map_err(api_error(format!("cannot write the status of node {name}")))?;
                Ok::<(), SimError>(())
            }
        })
        .buffer_unordered(CONCURRENCY)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(())
}

/// Writes the status again of every node of this agent whose Ready
/// condition is not True (the node lifecycle controller marked it Unknown
/// while the agent was away).
pub(crate) async fn repair(client: &Client, config: &SimConfig) -> Result<(), kube::Error> {
    let nodes: Api<Node> = Api::all(client.clone());
    let listed = nodes
        .list(&kube::api::ListParams::default().labels("type=sim"))
        .await?;
    let now = now();
    for node in listed.items {
        let Some(name) = node.metadata.name.as_deref() else {
            continue;
        };
        let Some(i) = name
            .strip_prefix(config.prefix.as_str())
            .and_then(|n| n.parse::<u32>().ok())
            .filter(|i| *i < config.nodes)
        else {
            continue;
        };
        let ready = node
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
        if !ready {
            nodes
                .patch_status(
                    name,
                    &PatchParams::default(),
                    &Patch::Merge(node_status(config, i, &now)),
                )
                .await?;
        }
    }
    Ok(())
}
