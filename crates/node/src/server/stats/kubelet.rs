//! `/metrics`: a few of the kubelet's own metrics by their real names —
//! `kubelet_node_name`, `kubelet_running_pods`,
//! `kubelet_running_containers{container_state}` — from the runtime's
//! lists.

use rkube_cri::{ContainerState, CriError, RuntimeService, SandboxState};

use super::prom::{Family, Kind};

fn state_name(s: ContainerState) -> &'static str {
    match s {
        ContainerState::Created => "created",
        ContainerState::Running => "running",
        ContainerState::Exited => "exited",
        ContainerState::Unknown => "unknown",
    }
}

/// The families for the node `node_name`.
pub async fn families(
    node_name: &str,
    runtime: &dyn RuntimeService,
) -> Result<Vec<Family>, CriError> {
    let sandboxes = runtime.list_pod_sandboxes().await?;
    let containers = runtime.list_containers().await?;
    let mut node = Family::new(
        "kubelet_node_name",
        "[ALPHA] The node's name. The count is always 1.",
        Kind::Gauge,
    );
    node.push(vec![("node", node_name.to_string())], 1.0, None);
    let mut pods = Family::new(
        "kubelet_running_pods",
        "[ALPHA] Number of pods that have a running pod sandbox",
        Kind::Gauge,
    );
    let ready = sandboxes
        .iter()
        .filter(|s| s.state == SandboxState::Ready)
        .count();
    pods.push(vec![], ready as f64, None);
    let mut by_state = Family::new(
        "kubelet_running_containers",
        "[ALPHA] Number of containers currently running",
        Kind::Gauge,
    );
    for state in [
        ContainerState::Created,
        ContainerState::Exited,
        ContainerState::Running,
        ContainerState::Unknown,
    ] {
        let n = containers.iter().filter(|c| c.state == state).count();
        if n > 0 || state == ContainerState::Running {
            by_state.push(
                vec![("container_state", state_name(state).to_string())],
                n as f64,
                None,
            );
        }
    }
    Ok(vec![node, pods, by_state])
}
