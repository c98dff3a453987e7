//! A pod's sandbox and containers on this node, found through the labels
//! the kubelet puts on them (`io.kubernetes.pod.namespace`, `.name`,
//! `io.kubernetes.container.name`), as the kubelet's server asks its
//! runtime.

use rkube_cri::{ContainerState, ContainerStatus, RuntimeService, SandboxInfo, SandboxState};

use super::error::NodeApiError;
use crate::kubelet::container::sandbox::{
    LABEL_CONTAINER_NAME, LABEL_POD_NAME, LABEL_POD_NAMESPACE,
};

/// The pod's ready sandbox (the newest if several).
pub async fn sandbox(
    runtime: &dyn RuntimeService,
    namespace: &str,
    pod: &str,
) -> Result<SandboxInfo, NodeApiError> {
    let mut sandboxes: Vec<SandboxInfo> = runtime
        .list_pod_sandboxes()
        .await?
        .into_iter()
        .filter(|s| s.pod_namespace == namespace && s.pod_name == pod)
        .collect();
    sandboxes.sort_by_key(|s| (s.state == SandboxState::Ready, s.attempt, s.created_at));
    sandboxes
        .pop()
        .filter(|s| s.state == SandboxState::Ready)
        .ok_or_else(|| {
            NodeApiError::NotFound(format!("pod {namespace}/{pod} is not running on this node"))
        })
}

/// Every instance of the pod's container `container`, newest first.
pub async fn container_instances(
    runtime: &dyn RuntimeService,
    namespace: &str,
    pod: &str,
    container: &str,
) -> Result<Vec<ContainerStatus>, NodeApiError> {
    let mut found: Vec<ContainerStatus> = runtime
        .list_containers()
        .await?
        .into_iter()
        .filter(|c| {
            let label = |k: &str| c.labels.get(k).map(String::as_str);
            label(LABEL_POD_NAMESPACE) == Some(namespace)
                && label(LABEL_POD_NAME) == Some(pod)
                && label(LABEL_CONTAINER_NAME).unwrap_or(&c.name) == container
        })
        .collect();
    found.sort_by_key(|c| std::cmp::Reverse((c.attempt, c.created_at)));
    Ok(found)
}

/// The container's current instance, which must be running (exec,
/// attach).
pub async fn running_container(
    runtime: &dyn RuntimeService,
    namespace: &str,
    pod: &str,
    container: &str,
) -> Result<ContainerStatus, NodeApiError> {
    let newest = container_instances(runtime, namespace, pod, container)
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| {
            NodeApiError::NotFound(format!(
                "container {container} not found in pod {namespace}/{pod}"
            ))
        })?;
    if newest.state != ContainerState::Running {
        return Err(NodeApiError::Conflict(format!(
            "container {container} is not running in pod {namespace}/{pod}"
        )));
    }
    Ok(newest)
}
