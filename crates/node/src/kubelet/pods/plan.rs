//! What to do next for one pod, as the kubelet's `computePodActions`: from
//! the pod spec, what the runtime has for the pod, the probe results and
//! the back-off state, the actions for this round (pure; the worker does
//! them in order and plans again at the next relist or pod change).
//!
//! - A pod being deleted, shown Failed/Succeeded by the API (evicted), or
//!   past its `activeDeadlineSeconds` is killed; a deleted one whose
//!   containers are gone is finalized.
//! - A pod whose containers are all done (`OnFailure`: exit 0; `Never`:
//!   any exit; or a failed init container with `Never`) has its sidecars
//!   and sandbox stopped, and nothing started again.
//! - No Ready sandbox: a new one (the next attempt), after killing what
//!   still runs; with `Never` and containers already run, none.
//! - Init containers one at a time in order; a sidecar (`restartPolicy:
//!   Always`) is started and must be running and started (its startup
//!   probe passed) before the next one; a failed init container restarts
//!   (unless `Never`). Then every main container; exited ones restart as
//!   `restartPolicy` says, sidecars always.
//! - A running container that failed its liveness or startup probe is
//!   killed (and restarted by a later round).
//! - A restart waits out the container's back-off (CrashLoopBackOff).
//! - Ephemeral containers (`kubectl debug`) start once in a ready sandbox
//!   and are never restarted; one with `targetContainerName` waits until
//!   that container runs, and joins its process namespace.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use k8s_openapi::api::core::v1::{Container, Pod};
use rkube_cri::{ContainerState, ContainerStatus};

use crate::kubelet::pods::backoff::Backoff;
use crate::kubelet::pods::spec::{self, RestartPolicy};
use crate::kubelet::pods::view::{is_running, PodRuntime, ProbeResults};

/// Why the whole pod is stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KillReason {
    /// `deletionTimestamp` is set.
    Deleted,
    /// The API shows the pod Failed or Succeeded (evicted).
    Terminal,
    /// `activeDeadlineSeconds` passed.
    DeadlineExceeded,
    /// Every container is done and none restarts.
    Completed,
    /// An init container failed and the pod does not restart.
    InitFailed,
    /// The sandbox is gone or NotReady: a new one follows.
    SandboxChanged,
}

/// Why one container is killed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContainerKill {
    LivenessFailed,
    StartupFailed,
}

/// One step for the worker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Stop every container (preStop, then SIGTERM with the grace period)
    /// and the sandbox.
    KillPod { reason: KillReason },
    /// Remove the sandboxes, tear the volumes down and delete the pod.
    Finalize,
    /// Make a new sandbox (attempt `attempt`); later actions use it.
    CreateSandbox { attempt: u32 },
    /// Pull, create and start container `name` (run `attempt`). `restart`:
    /// when its previous run in this sandbox exited (for the back-off).
    StartContainer {
        name: String,
        attempt: u32,
        restart: Option<SystemTime>,
    },
    /// Create and start ephemeral container `name` once; `target`: the id
    /// of the running container whose process namespace it joins.
    StartEphemeral {
        name: String,
        target: Option<String>,
    },
    /// Stop one running container.
    KillContainer {
        id: String,
        name: String,
        reason: ContainerKill,
    },
}

/// The actions of one round, and the containers held back by their
/// back-off (name → the delay they wait, for CrashLoopBackOff).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub actions: Vec<Action>,
    pub backing_off: BTreeMap<String, Duration>,
}

/// What the plan is made from.
pub struct PlanInput<'a> {
    pub pod: &'a Pod,
    pub runtime: &'a PodRuntime,
    pub probes: &'a ProbeResults,
    pub backoff: &'a Backoff,
    pub now: SystemTime,
}

/// Whether a run that exited with `code` is started again under `policy`.
fn restarts(policy: RestartPolicy, code: i32) -> bool {
    match policy {
        RestartPolicy::Always => true,
        RestartPolicy::OnFailure => code != 0,
        RestartPolicy::Never => false,
    }
}

fn exited(c: &ContainerStatus) -> bool {
    matches!(c.state, ContainerState::Exited | ContainerState::Unknown)
}

/// Whether the pod has finished: every main container exited and none is
/// restarted, or a failed init container with `Never`.
pub fn is_done(pod: &Pod, rt: &PodRuntime) -> bool {
    let policy = spec::restart_policy(pod);
    if policy == RestartPolicy::Always {
        return false;
    }
    let init_failed = policy == RestartPolicy::Never
        && spec::init_containers(pod)
            .iter()
            .filter(|c| !spec::is_sidecar(c))
            .any(|c| {
                rt.latest(&c.name)
                    .is_some_and(|r| exited(r) && r.exit_code != 0)
            });
    if init_failed {
        return true;
    }
    let main = spec::containers(pod);
    !main.is_empty()
        && main.iter().all(|c| {
            rt.latest(&c.name)
                .is_some_and(|r| exited(r) && !restarts(policy, r.exit_code))
        })
}

/// Whether the container's startup probe has passed (or it has none).
fn started(c: &Container, run: &ContainerStatus, probes: &ProbeResults) -> bool {
    run.state == ContainerState::Running
        && probes
            .get(&run.id)
            .map(|p| p.started)
            .unwrap_or(c.startup_probe.is_none())
}

struct Planner<'a> {
    input: &'a PlanInput<'a>,
    /// The sandbox containers run in; None for the one being created.
    sandbox: Option<String>,
    plan: Plan,
}

impl Planner<'_> {
    fn current(&self, name: &str) -> Option<&ContainerStatus> {
        let id = self.sandbox.as_deref()?;
        self.input.runtime.latest_in(name, id)
    }

    fn next_attempt(&self, name: &str) -> u32 {
        self.input
            .runtime
            .latest(name)
            .map(|r| r.attempt + 1)
            .unwrap_or(0)
    }

    /// Start `name` unless its back-off runs; `previous` is its last run in
    /// this sandbox, if it exited.
    fn start(&mut self, name: &str, previous: Option<&ContainerStatus>) {
        let restart = previous.map(|p| p.finished_at.unwrap_or(p.created_at));
        if let Some(at) = restart {
            if let Some(delay) = self.input.backoff.waiting(name, at, self.input.now) {
                self.plan.backing_off.insert(name.to_string(), delay);
                return;
            }
        }
        let attempt = self.next_attempt(name);
        self.plan.actions.push(Action::StartContainer {
            name: name.to_string(),
            attempt,
            restart,
        });
    }

    /// Kill a running container that failed its liveness or startup probe.
    fn check_probes(&mut self, run: &ContainerStatus) {
        let Some(p) = self.input.probes.get(&run.id) else {
            return;
        };
        let reason = if p.startup_failed {
            ContainerKill::StartupFailed
        } else if p.liveness_failed {
            ContainerKill::LivenessFailed
        } else {
            return;
        };
        self.plan.actions.push(Action::KillContainer {
            id: run.id.clone(),
            name: run.name.clone(),
            reason,
        });
    }

    /// Init containers and sidecars; false while the main containers must
    /// still wait.
    fn init(&mut self) -> bool {
        let pod = self.input.pod;
        let policy = spec::restart_policy(pod);
        // Once a main container ran in this sandbox, the pod is initialized
        // and only its sidecars are kept running.
        let initialized = spec::containers(pod)
            .iter()
            .any(|c| self.current(&c.name).is_some());
        for c in spec::init_containers(pod) {
            let sidecar = spec::is_sidecar(c);
            if initialized && !sidecar {
                continue;
            }
            let run = self.current(&c.name).cloned();
            match run {
                None => {
                    self.start(&c.name, None);
                    if !initialized {
                        return false;
                    }
                }
                Some(r) if is_running(&r) => {
                    self.check_probes(&r);
                    if (!sidecar || !started(c, &r, self.input.probes)) && !initialized {
                        return false;
                    }
                }
                Some(r) => {
                    if sidecar {
                        self.start(&c.name, Some(&r));
                        if !initialized {
                            return false;
                        }
                    } else if r.exit_code != 0 {
                        if policy == RestartPolicy::Never {
                            self.plan.actions.push(Action::KillPod {
                                reason: KillReason::InitFailed,
                            });
                        } else {
                            self.start(&c.name, Some(&r));
                        }
                        return false;
                    }
                }
            }
        }
        true
    }

    fn main(&mut self) {
        let pod = self.input.pod;
        let policy = spec::restart_policy(pod);
        for c in spec::containers(pod) {
            let run = self.current(&c.name).cloned();
            match run {
                None => self.start(&c.name, None),
                Some(r) if is_running(&r) => self.check_probes(&r),
                Some(r) => {
                    if restarts(policy, r.exit_code) {
                        self.start(&c.name, Some(&r));
                    }
                }
            }
        }
    }
}

impl Planner<'_> {
    /// Ephemeral containers never run yet, in the ready sandbox.
    fn ephemeral(&mut self) {
        let Some(sandbox) = self.sandbox.clone() else {
            return;
        };
        let rt = self.input.runtime;
        for e in spec::ephemeral_containers(self.input.pod) {
            if rt.latest(&e.name).is_some() {
                continue;
            }
            let target = match e.target_container_name.as_deref().filter(|t| !t.is_empty()) {
                None => None,
                Some(t) => match rt.latest_in(t, &sandbox).filter(|r| is_running(r)) {
                    Some(run) => Some(run.id.clone()),
                    // Its target does not run (yet): wait.
                    None => continue,
                },
            };
            self.plan.actions.push(Action::StartEphemeral {
                name: e.name.clone(),
                target,
            });
        }
    }
}

/// The actions for this round.
pub fn plan(input: &PlanInput<'_>) -> Plan {
    let pod = input.pod;
    let rt = input.runtime;
    let mut plan = Plan::default();
    let anything_up = rt.running().next().is_some() || rt.ready_sandbox().is_some();

    let kill = if spec::is_deleting(pod) {
        Some(KillReason::Deleted)
    } else if spec::is_api_terminal(pod) {
        Some(KillReason::Terminal)
    } else if spec::deadline_exceeded(pod, input.now) {
        Some(KillReason::DeadlineExceeded)
    } else if is_done(pod, rt) {
        Some(KillReason::Completed)
    } else {
        None
    };
    if let Some(reason) = kill {
        if anything_up {
            plan.actions.push(Action::KillPod { reason });
        } else if reason == KillReason::Deleted {
            plan.actions.push(Action::Finalize);
        }
        return plan;
    }

    let sandbox = match rt.ready_sandbox() {
        Some(s) => Some(s.id.clone()),
        None => {
            let last = rt.latest_sandbox();
            if spec::restart_policy(pod) == RestartPolicy::Never
                && last.is_some()
                && !rt.containers.is_empty()
            {
                // A pod that never restarts does not get a second sandbox.
                if anything_up {
                    plan.actions.push(Action::KillPod {
                        reason: KillReason::SandboxChanged,
                    });
                }
                return plan;
            }
            if rt.running().next().is_some() {
                plan.actions.push(Action::KillPod {
                    reason: KillReason::SandboxChanged,
                });
            }
            let attempt = last.map(|s| s.attempt + 1).unwrap_or(0);
            plan.actions.push(Action::CreateSandbox { attempt });
            None
        }
    };
    let mut planner = Planner {
        input,
        sandbox,
        plan,
    };
    if planner.init() {
        planner.main();
        planner.ephemeral();
    }
    planner.plan
}

#[cfg(test)]
#[path = "plan_test.rs"]
mod tests;
