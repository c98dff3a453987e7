//! The pod lifecycle of simulated nodes, driven by one watch of the pods
//! bound to any node (`spec.nodeName!=`):
//!
//! - a bound pod becomes Running and Ready `start_delay` after the agent
//!   sees it (conditions, IPs, startTime, container statuses), written
//!   through `pods/status`;
//! - a pod that does not restart (`restartPolicy` Never or OnFailure)
//!   finishes after `sim.rkube.io/run-for` (default 1s) with exit code
//!   `sim.rkube.io/exit-code` (default 0): Succeeded, or Failed;
//! - a pod being deleted (deletionTimestamp set) has its containers stop —
//!   at once, as well-behaved programs do on SIGTERM, or after
//!   `sim.rkube.io/stop-delay`, but never later than its deletion grace
//!   period — and is then removed with grace period 0 and a uid
//!   precondition, as kubelet removes it;
//! - a pod with claims starts only once they are Bound (one watch of all
//!   claims, `claims.rs`), and deleted volumes of simulated nodes lose the
//!   local-path cleanup finalizer (one watch of all volumes, `volumes.rs`).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim, Pod};
use kube::api::{Api, DeleteParams, Patch, PatchParams, Preconditions};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Client, ResourceExt};
use serde_json::{json, Value};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tracing::{debug, warn};

use crate::sim::addresses::{node_ip, pod_cidr_base};
use crate::sim::claims::Claims;
use crate::sim::clock::now;
use crate::sim::config::SimConfig;
use crate::sim::error::SimError;
use crate::sim::volumes::needs_release;

/// How long a pod that does not restart runs (annotation on the pod, as a
/// duration: `500ms`, `2s`, `1m`).
pub const RUN_FOR_ANNOTATION: &str = "sim.rkube.io/run-for";
/// The exit code of such a pod's containers.
pub const EXIT_CODE_ANNOTATION: &str = "sim.rkube.io/exit-code";
/// How long a pod's containers take to exit after SIGTERM (default: at
/// once); never longer than the pod's deletion grace period.
pub const STOP_DELAY_ANNOTATION: &str = "sim.rkube.io/stop-delay";
const DEFAULT_RUN_FOR: Duration = Duration::from_secs(1);

/// API writes in flight at once.
const CONCURRENCY: usize = 64;

/// What the agent has set in motion for a pod (by uid).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Stage {
    Starting,
    Stopping,
}

struct Agent {
    pods: Api<Pod>,
    config: Arc<SimConfig>,
    nodes: HashMap<String, u32>,
    /// Pod IPs handed out per node.
    next_ip: HashMap<u32, u32>,
    stages: HashMap<String, Stage>,
    claims: Claims,
    /// Volumes whose finalizer is being released: the version it was
    /// asked for, by name (a newer version asks again).
    releasing: HashMap<String, String>,
    writes: Arc<Semaphore>,
    /// Starts and stops in progress; dropped (aborted) with the agent, so
    /// none outlives it.
    in_flight: JoinSet<()>,
}

/// What the agent's three watches tell (boxed: the events are large).
enum Seen {
    Pod(Box<Result<watcher::Event<Pod>, watcher::Error>>),
    Claim(Box<Result<watcher::Event<PersistentVolumeClaim>, watcher::Error>>),
    Volume(Box<Result<watcher::Event<PersistentVolume>, watcher::Error>>),
}

pub(crate) async fn run(client: Client, config: Arc<SimConfig>) -> Result<(), SimError> {
    let pods: Api<Pod> = Api::all(client.clone());
    let claims: Api<PersistentVolumeClaim> = Api::all(client.clone());
    let volumes: Api<PersistentVolume> = Api::all(client);
    let nodes = (0..config.nodes)
        .map(|i| (config.node_name(i), i))
        .collect();
    let mut agent = Agent {
        pods: pods.clone(),
        config,
        nodes,
        next_ip: HashMap::new(),
        stages: HashMap::new(),
        claims: Claims::default(),
        releasing: HashMap::new(),
        writes: Arc::new(Semaphore::new(CONCURRENCY)),
        in_flight: JoinSet::new(),
    };
    let pod_events = watcher(pods, watcher::Config::default().fields("spec.nodeName!="))
        .default_backoff()
        .map(|e| Seen::Pod(Box::new(e)));
    let claim_events = watcher(claims, watcher::Config::default())
        .default_backoff()
        .map(|e| Seen::Claim(Box::new(e)));
    let volume_events = watcher(volumes.clone(), watcher::Config::default())
        .default_backoff()
        .map(|e| Seen::Volume(Box::new(e)));
    let mut events = futures::stream::select(
        pod_events,
        futures::stream::select(claim_events, volume_events),
    )
    .boxed();
    let mut seen_in_init: HashSet<String> = HashSet::new();
    while let Some(seen) = events.next().await {
        let event = match seen {
            Seen::Pod(event) => *event,
            Seen::Claim(event) => {
                agent.on_claim(*event);
                continue;
            }
            Seen::Volume(event) => {
                agent.on_volume(&volumes, *event);
                continue;
            }
        };
        match event {
            Ok(watcher::Event::Apply(pod)) => agent.observe(&pod),
            Ok(watcher::Event::InitApply(pod)) => {
                seen_in_init.insert(pod.uid().unwrap_or_default());
                agent.observe(&pod);
            }
            Ok(watcher::Event::Init) => seen_in_init.clear(),
            Ok(watcher::Event::InitDone) => {
                // Forget pods that went while the watch was down.
                agent.stages.retain(|uid, _| seen_in_init.contains(uid));
                agent.claims.retain_pods(&seen_in_init);
                seen_in_init.clear();
            }
            Ok(watcher::Event::Delete(pod)) => {
                let uid = pod.uid().unwrap_or_default();
                agent.claims.forget(&uid);
                agent.stages.remove(&uid);
            }
            Err(error) => warn!(%error, "pod watch failed; retrying"),
        }
    }
    Ok(())
}

fn phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("Pending")
}

fn restarts(pod: &Pod) -> bool {
    pod.spec
        .as_ref()
        .and_then(|s| s.restart_policy.as_deref())
        .is_none_or(|p| p == "Always")
}

fn annotation<'a>(pod: &'a Pod, key: &str) -> Option<&'a str> {
    pod.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(key))
        .map(String::as_str)
}

/// `500ms`, `2s`, `1m`, `1h`.
fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit() && c != '.')?);
    let n: f64 = num.parse().ok()?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return None,
    };
    Duration::try_from_secs_f64(secs).ok()
}

impl Agent {
    fn observe(&mut self, pod: &Pod) {
        let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) else {
            return;
        };
        let Some(&index) = self.nodes.get(node) else {
            return;
        };
        let Some(uid) = pod.uid() else {
            return;
        };
        let stage = self.stages.get(&uid).copied();
        if pod.metadata.deletion_timestamp.is_some() {
            self.claims.forget(&uid);
            if stage != Some(Stage::Stopping) {
                self.stages.insert(uid.clone(), Stage::Stopping);
                self.spawn_stop(pod, uid);
            }
            return;
        }
        if stage.is_some() || matches!(phase(pod), "Succeeded" | "Failed") {
            return;
        }
        let already_running =
            phase(pod) == "Running" && pod.status.as_ref().is_some_and(|s| s.pod_ip.is_some());
        // As the kubelet: not started until its claims are Bound.
        if !already_running && !self.claims.ready_or_wait(pod) {
            return;
        }
        self.stages.insert(uid.clone(), Stage::Starting);
        if already_running && restarts(pod) {
            // Started by an earlier run of the agent: nothing to do.
            return;
        }
        let host = node_ip(index);
        let ip = if pod
            .spec
            .as_ref()
            .and_then(|s| s.host_network)
            .unwrap_or(false)
        {
            host.clone()
        } else {
            let n = self.next_ip.entry(index).or_insert(0);
            *n += 1;
            let (a, b) = pod_cidr_base(index);
            format!("10.{a}.{b}.{}", (*n - 1) % 253 + 2)
        };
        self.spawn_start(pod, uid, host, ip, already_running);
    }

    /// A claim event: pods waiting for a claim that became Bound start.
    fn on_claim(&mut self, event: Result<watcher::Event<PersistentVolumeClaim>, watcher::Error>) {
        match event {
            Ok(watcher::Event::Apply(c) | watcher::Event::InitApply(c)) => {
                for pod in self.claims.claim_seen(&c) {
                    self.observe(&pod);
                }
            }
            Ok(watcher::Event::Delete(c)) => self.claims.claim_gone(&c),
            Ok(watcher::Event::Init) => self.claims.relist_started(),
            Ok(watcher::Event::InitDone) => self.claims.relist_done(),
            Err(error) => warn!(%error, "claim watch failed; retrying"),
        }
    }

    /// A volume event: simulated nodes' deleted volumes are released.
    fn on_volume(
        &mut self,
        api: &Api<PersistentVolume>,
        event: Result<watcher::Event<PersistentVolume>, watcher::Error>,
    ) {
        match event {
            Ok(watcher::Event::Apply(pv) | watcher::Event::InitApply(pv)) => self.release(api, &pv),
            Ok(watcher::Event::Delete(pv)) => {
                self.releasing.remove(&pv.name_any());
            }
            Ok(_) => {}
            Err(error) => warn!(%error, "volume watch failed; retrying"),
        }
    }

    /// Release the cleanup finalizer of a deleted volume of a simulated
    /// node (once per volume while the write is in flight).
    fn release(&mut self, api: &Api<PersistentVolume>, pv: &PersistentVolume) {
        let rv = pv.resource_version().unwrap_or_default();
        if !needs_release(pv, &self.nodes) || self.releasing.get(&pv.name_any()) == Some(&rv) {
            return;
        }
        self.releasing.insert(pv.name_any(), rv);
        let api = api.clone();
        let pv = pv.clone();
        let writes = self.writes.clone();
        self.spawn(async move {
            let Ok(_permit) = writes.acquire().await else {
                return;
            };
            crate::kubelet::volumes::local_path_sync::remove_finalizer(&api, &pv).await;
        });
    }

    /// Runs `work` until it ends or the agent stops.
    fn spawn(&mut self, work: impl std::future::Future<Output = ()> + Send + 'static) {
        while self.in_flight.try_join_next().is_some() {}
        self.in_flight.spawn(work);
    }

    fn spawn_start(&mut self, pod: &Pod, uid: String, host: String, ip: String, running: bool) {
        let pods = self.pods.clone();
        let writes = self.writes.clone();
        let delay = self.config.start_delay;
        let ns = pod.namespace().unwrap_or_default();
        let name = pod.name_any();
        let finish = (!restarts(pod)).then(|| {
            let run_for = annotation(pod, RUN_FOR_ANNOTATION)
                .and_then(parse_duration)
                .unwrap_or(DEFAULT_RUN_FOR);
            let code = annotation(pod, EXIT_CODE_ANNOTATION)
                .and_then(|c| c.trim().parse::<i32>().ok())
                .unwrap_or(0);
            (run_for, code)
        });
        let containers = containers(pod);
        let init_containers = init_containers(pod);
        self.spawn(async move {
            let started = now();
            if !running {
                tokio::time::sleep(delay).await;
                let status =
                    running_status(&host, &ip, &started, &containers, &init_containers, &uid);
                if !write_status(&pods, &writes, &ns, &name, &uid, status).await {
                    return;
                }
            }
            if let Some((run_for, code)) = finish {
                tokio::time::sleep(run_for).await;
                let status = finished_status(&started, &containers, code, &uid);
                write_status(&pods, &writes, &ns, &name, &uid, status).await;
            }
        });
    }

    fn spawn_stop(&mut self, pod: &Pod, uid: String) {
        let pods = self.pods.clone();
        let writes = self.writes.clone();
        let ns = pod.namespace().unwrap_or_default();
        let name = pod.name_any();
        // The containers take `stop-delay` to exit after SIGTERM, and are
        // killed when the grace period ends if that is sooner.
        let grace = pod
            .metadata
            .deletion_grace_period_seconds
            .map(|g| Duration::from_secs(g.max(0) as u64))
            .unwrap_or(Duration::ZERO);
        let stop = annotation(pod, STOP_DELAY_ANNOTATION)
            .and_then(parse_duration)
            .unwrap_or(Duration::ZERO)
            .min(grace);
        self.spawn(async move {
            tokio::time::sleep(stop).await;
            let Ok(_permit) = writes.acquire().await else {
                return;
            };
            let dp = DeleteParams {
                grace_period_seconds: Some(0),
                preconditions: Some(Preconditions {
                    uid: Some(uid),
                    resource_version: None,
                }),
                ..DeleteParams::default()
            };
            match Api::<Pod>::namespaced(pods.into_client(), &ns)
                .delete(&name, &dp)
                .await
            {
                Ok(_) => debug!(pod = %name, namespace = %ns, "pod stopped and removed"),
                Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => {}
                Err(error) => warn!(pod = %name, namespace = %ns, %error, "cannot remove the pod"),
            }
        });
    }
}

/// Writes a pod's status (a merge patch of `pods/status` guarded by its
/// uid); false if the pod is gone or replaced.
async fn write_status(
    pods: &Api<Pod>,
    writes: &Semaphore,
    ns: &str,
    name: &str,
    uid: &str,
    mut status: Value,
) -> bool {
    let Ok(_permit) = writes.acquire().await else {
        return false;
    };
    status["metadata"] = json!({"uid": uid});
    let api: Api<Pod> = Api::namespaced(pods.clone().into_client(), ns);
    match api
        .patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
        .await
    {
        Ok(_) => true,
        Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => false,
        Err(error) => {
            warn!(pod = %name, namespace = %ns, %error, "cannot write the pod's status");
            false
        }
    }
}

fn containers(pod: &Pod) -> Vec<(String, String)> {
    pod.spec
        .as_ref()
        .map(|s| {
            s.containers
                .iter()
                .map(|c| (c.name.clone(), c.image.clone().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default()
}

fn init_containers(pod: &Pod) -> Vec<(String, String)> {
    pod.spec
        .as_ref()
        .and_then(|s| s.init_containers.as_ref())
        .map(|cs| {
            cs.iter()
                .map(|c| (c.name.clone(), c.image.clone().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default()
}

fn condition(t: &str, status: &str, at: &str, reason: Option<&str>) -> Value {
    let mut c =
        json!({"type": t, "status": status, "lastProbeTime": null, "lastTransitionTime": at});
    if let Some(r) = reason {
        c["reason"] = json!(r);
    }
    c
}

fn container_status(name: &str, image: &str, uid: &str, ready: bool, state: Value) -> Value {
    json!({
        "name": name,
        "image": image,
        "imageID": format!("sim://{image}"),
        "containerID": format!("sim://{uid}/{name}"),
        "ready": ready,
        "started": ready,
        "restartCount": 0,
        "state": state,
    })
}

fn running_status(
    host: &str,
    ip: &str,
    at: &str,
    containers: &[(String, String)],
    init_containers: &[(String, String)],
    uid: &str,
) -> Value {
    let mut status = json!({
        "phase": "Running",
        "conditions": [
            condition("PodReadyToStartContainers", "True", at, None),
            condition("Initialized", "True", at, None),
            condition("Ready", "True", at, None),
            condition("ContainersReady", "True", at, None),
            condition("PodScheduled", "True", at, None),
        ],
        "hostIP": host,
        "hostIPs": [{"ip": host}],
        "podIP": ip,
        "podIPs": [{"ip": ip}],
        "startTime": at,
        "containerStatuses": containers.iter().map(|(n, i)| container_status(
            n, i, uid, true, json!({"running": {"startedAt": at}}))).collect::<Vec<_>>(),
    });
    if !init_containers.is_empty() {
        status["initContainerStatuses"] = init_containers
            .iter()
            .map(|(n, i)| {
                container_status(
                    n,
                    i,
                    uid,
                    false,
                    json!({"terminated": {"exitCode": 0, "reason": "Completed",
                        "startedAt": at, "finishedAt": at}}),
                )
            })
            .collect();
    }
    json!({ "status": status })
}

fn finished_status(started: &str, containers: &[(String, String)], code: i32, uid: &str) -> Value {
    let at = now();
    let (phase, reason) = if code == 0 {
        ("Succeeded", "Completed")
    } else {
        ("Failed", "Error")
    };
    json!({"status": {
        "phase": phase,
        "conditions": [
            condition("PodReadyToStartContainers", "False", &at, None),
            condition("Initialized", "True", started, Some("PodCompleted")),
            condition("Ready", "False", &at, Some("PodCompleted")),
            condition("ContainersReady", "False", &at, Some("PodCompleted")),
            condition("PodScheduled", "True", started, None),
        ],
        "containerStatuses": containers.iter().map(|(n, i)| container_status(
            n, i, uid, false,
            json!({"terminated": {"exitCode": code, "reason": reason,
                "startedAt": started, "finishedAt": at}}))).collect::<Vec<_>>(),
    }})
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn run_for_durations() {
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("2s"), Some(Duration::from_secs(2)));
        assert_eq!(parse_duration("1.5m"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("2"), None);
        assert_eq!(parse_duration("xs"), None);
    }
}
