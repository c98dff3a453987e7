//! [`Agent`]: who a component says it is to the API server.

/// Who a component says it is: its User-Agent, whose product kube-apiserver
/// (and ours) takes as the default field manager, so managedFields name
/// `kube-controller-manager`, `kube-scheduler` and `kubelet` as on a real
/// cluster.
#[derive(Clone, Copy, Debug)]
pub enum Agent {
    ControllerManager,
    Scheduler,
    Kubelet,
}

impl Agent {
    pub fn user_agent(self) -> String {
        let name = match self {
            Agent::ControllerManager => "kube-controller-manager",
            Agent::Scheduler => "kube-scheduler",
            Agent::Kubelet => "kubelet",
        };
        format!(
            "{name}/v1.37.0 (linux/amd64) rkube/{}",
            env!("CARGO_PKG_VERSION")
        )
    }
}
