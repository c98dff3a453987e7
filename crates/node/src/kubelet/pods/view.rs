//! What the runtime has for one pod (its sandboxes and their containers, as
//! of the last relist) and what the probers found: the facts both the plan
//! and the status are computed from.

use std::collections::HashMap;

use rkube_cri::{ContainerState, ContainerStatus, SandboxInfo, SandboxState};

/// One pod's part of a relist.
#[derive(Clone, Debug, Default)]
pub struct PodRuntime {
    pub sandboxes: Vec<SandboxInfo>,
    pub containers: Vec<ContainerStatus>,
}

impl PodRuntime {
    /// The newest sandbox (highest attempt, then newest).
    pub fn latest_sandbox(&self) -> Option<&SandboxInfo> {
        self.sandboxes
            .iter()
            .max_by_key(|s| (s.attempt, s.created_at))
    }

    /// The newest sandbox if it is Ready: where containers run.
    pub fn ready_sandbox(&self) -> Option<&SandboxInfo> {
        self.latest_sandbox()
            .filter(|s| s.state == SandboxState::Ready)
    }

    /// Every run of the container `name`, newest first.
    pub fn runs(&self, name: &str) -> Vec<&ContainerStatus> {
        let mut runs: Vec<&ContainerStatus> =
            self.containers.iter().filter(|c| c.name == name).collect();
        runs.sort_by_key(|c| std::cmp::Reverse((c.attempt, c.created_at)));
        runs
    }

    /// The newest run of `name` (in any sandbox).
    pub fn latest(&self, name: &str) -> Option<&ContainerStatus> {
        self.runs(name).into_iter().next()
    }

    /// The newest run of `name` in the sandbox `sandbox_id`.
    pub fn latest_in(&self, name: &str, sandbox_id: &str) -> Option<&ContainerStatus> {
        self.runs(name)
            .into_iter()
            .find(|c| c.sandbox_id == sandbox_id)
    }

    /// Containers that are running (or created, not yet exited).
    pub fn running(&self) -> impl Iterator<Item = &ContainerStatus> {
        self.containers.iter().filter(|c| is_running(c))
    }
}

/// Running, or created and not yet started (it still has to be stopped).
pub fn is_running(c: &ContainerStatus) -> bool {
    matches!(c.state, ContainerState::Running | ContainerState::Created)
}

/// What the probers last found for one running container.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProbeState {
    /// The startup probe succeeded (or there is none).
    pub started: bool,
    /// The readiness probe's last result (true without a probe once started).
    pub ready: bool,
    /// The liveness probe failed `failureThreshold` times: kill and restart.
    pub liveness_failed: bool,
    /// The startup probe failed `failureThreshold` times: kill and restart.
    pub startup_failed: bool,
}

/// Probe results by container id.
pub type ProbeResults = HashMap<String, ProbeState>;
