//! The scheduling loop. Two watches (nodes, pods) keep the cache and the
//! queue; one task takes pods off the queue, filters and scores the nodes
//! and binds the pod to the best one through `pods/binding`.
//!
//! - A pod counts on its node from the moment it is picked (assumed); a
//!   binding that fails takes it back off and retries it after a backoff.
//! - A pod no node fits is "unschedulable": it gets a `PodScheduled=False`
//!   condition and a `FailedScheduling` event naming why each node
//!   refused, and is tried again when a node is added or changes, when a
//!   pod goes away, and every few seconds.
//! - As kube-scheduler on large clusters, it stops looking once it has
//!   found enough feasible nodes (`feasible_to_find`), starting each search
//!   where the last one stopped.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Client, ResourceExt};
use serde_json::json;
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

use rkube_events::Recorder;

use crate::affinity;
use crate::cache::{owner_of, Cache};
use crate::filter::fits;
use crate::preemption;
use crate::resources::pod_requests;
use crate::score::score;

/// The `spec.schedulerName` this scheduler serves.
pub const SCHEDULER_NAME: &str = "default-scheduler";

/// How often unschedulable pods are tried again without a cluster change.
const RETRY_UNSCHEDULABLE: Duration = Duration::from_secs(5);
/// Wait before retrying a pod whose binding failed.
const BIND_BACKOFF: Duration = Duration::from_secs(1);
/// Bindings in flight at once.
const CONCURRENCY: usize = 64;
/// How long the scheduling loop runs before it lets other tasks (its
/// watches, its bindings, the rest of the process) have the thread. One pod
/// per turn would give it one turn in however many tasks are runnable: a
/// controller creating pods in batches of hundreds would starve it.
const SLICE: Duration = Duration::from_millis(2);

/// What stops the scheduler.
#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    /// A watch ended (the client was dropped).
    #[error("the {0} watch ended")]
    WatchEnded(&'static str),
}

#[derive(Default)]
struct State {
    cache: Cache,
    /// Pending pods by uid, their latest version.
    pending: HashMap<String, Arc<Pod>>,
    active: VecDeque<String>,
    queued: HashSet<String>,
    unschedulable: HashSet<String>,
    /// Picked, binding in flight.
    binding: HashSet<String>,
    /// Where the next search starts.
    next_start: usize,
}

impl State {
    fn enqueue(&mut self, uid: &str) {
        if self.pending.contains_key(uid) && self.queued.insert(uid.to_string()) {
            self.active.push_back(uid.to_string());
        }
    }

    /// Something changed that may let unschedulable pods fit.
    fn retry_unschedulable(&mut self) {
        for uid in std::mem::take(&mut self.unschedulable) {
            self.enqueue(&uid);
        }
    }
}

struct Shared {
    state: Mutex<State>,
    wake: Notify,
    client: Client,
    writes: Semaphore,
    recorder: Recorder,
    /// Bindings, status writes and preemptions in flight: they end with
    /// the scheduler (see [`Writes`]).
    in_flight: Mutex<JoinSet<()>>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `work` beside the scheduling loop, until it ends or the
    /// scheduler stops.
    fn spawn(&self, work: impl std::future::Future<Output = ()> + Send + 'static) {
        let mut set = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        while set.try_join_next().is_some() {}
        set.spawn(work);
    }
}

/// Aborts the writes in flight when the scheduler stops, so that none of
/// them outlives it (they hold the scheduler's state, which holds them).
struct Writes(Arc<Shared>);

impl Drop for Writes {
    fn drop(&mut self) {
        self.0
            .in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .abort_all();
    }
}

/// Schedule pods until the task is dropped.
pub async fn run(client: Client) -> Result<(), SchedulerError> {
    let shared = Arc::new(Shared {
        state: Mutex::new(State::default()),
        wake: Notify::new(),
        recorder: Recorder::new(client.clone(), SCHEDULER_NAME),
        client,
        writes: Semaphore::new(CONCURRENCY),
        in_flight: Mutex::new(JoinSet::new()),
    });
    let _writes = Writes(shared.clone());
    let nodes = AbortOnDrop(tokio::spawn(watch_nodes(shared.clone())));
    let pods = AbortOnDrop(tokio::spawn(watch_pods(shared.clone())));
    info!(scheduler = SCHEDULER_NAME, "scheduler started");
    loop {
        tokio::select! {
            _ = shared.wake.notified() => {}
            _ = tokio::time::sleep(RETRY_UNSCHEDULABLE) => shared.lock().retry_unschedulable(),
        }
        if nodes.0.is_finished() {
            return Err(SchedulerError::WatchEnded("node"));
        }
        if pods.0.is_finished() {
            return Err(SchedulerError::WatchEnded("pod"));
        }
        let mut slice = Instant::now();
        loop {
            let next = {
                let mut st = shared.lock();
                let mut next = None;
                while let Some(uid) = st.active.pop_front() {
                    st.queued.remove(&uid);
                    if let Some(pod) = st.pending.get(&uid) {
                        next = Some((uid, pod.clone()));
                        break;
                    }
                }
                next
            };
            let Some((uid, pod)) = next else {
                break;
            };
            schedule_one(&shared, uid, pod);
            if slice.elapsed() >= SLICE {
                tokio::task::yield_now().await;
                slice = Instant::now();
            }
        }
    }
}

/// A task that ends with the scheduler (its watches hold connections).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn watch_nodes(shared: Arc<Shared>) {
    let api: Api<Node> = Api::all(shared.client.clone());
    let mut events = watcher(api, watcher::Config::default())
        .default_backoff()
        .boxed();
    while let Some(event) = events.next().await {
        let mut st = shared.lock();
        match event {
            Ok(watcher::Event::Apply(n) | watcher::Event::InitApply(n)) => {
                st.cache.set_node(n);
                st.retry_unschedulable();
            }
            Ok(watcher::Event::Delete(n)) => st.cache.remove_node(&n.name_any()),
            Ok(_) => {}
            Err(error) => warn!(%error, "node watch failed; retrying"),
        }
        drop(st);
        shared.wake.notify_one();
    }
}

fn is_terminal(pod: &Pod) -> bool {
    matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    )
}

fn ours(pod: &Pod) -> bool {
    pod.spec
        .as_ref()
        .and_then(|s| s.scheduler_name.as_deref())
        .is_none_or(|n| n == SCHEDULER_NAME)
}

async fn watch_pods(shared: Arc<Shared>) {
    let api: Api<Pod> = Api::all(shared.client.clone());
    let mut events = watcher(api, watcher::Config::default())
        .default_backoff()
        .boxed();
    while let Some(event) = events.next().await {
        let mut st = shared.lock();
        match event {
            Ok(watcher::Event::Apply(p) | watcher::Event::InitApply(p)) => observe(&mut st, p),
            Ok(watcher::Event::Delete(p)) => {
                let uid = p.uid().unwrap_or_default();
                forget(&mut st, &uid);
                st.retry_unschedulable();
            }
            Ok(_) => {}
            Err(error) => warn!(%error, "pod watch failed; retrying"),
        }
        drop(st);
        shared.wake.notify_one();
    }
}

fn forget(st: &mut State, uid: &str) {
    st.cache.remove_pod(uid);
    st.pending.remove(uid);
    st.unschedulable.remove(uid);
    st.binding.remove(uid);
}

fn observe(st: &mut State, mut pod: Pod) {
    // Never read here, and much of a pod's metadata: not kept in the cache
    // (kube-scheduler's informers trim them too).
    pod.metadata.managed_fields = None;
    let uid = pod.uid().unwrap_or_default();
    let node = pod
        .spec
        .as_ref()
        .and_then(|s| s.node_name.clone())
        .filter(|n| !n.is_empty());
    if is_terminal(&pod) {
        if st.cache.is_placed(&uid) {
            forget(st, &uid);
            st.retry_unschedulable();
        }
        return;
    }
    match node {
        Some(node) => {
            st.pending.remove(&uid);
            st.unschedulable.remove(&uid);
            st.binding.remove(&uid);
            st.cache.place(&uid, &node, &pod);
        }
        None if pod.metadata.deletion_timestamp.is_none() && ours(&pod) => {
            let known = st.pending.contains_key(&uid);
            st.pending.insert(uid.clone(), Arc::new(pod));
            if !known && !st.binding.contains(&uid) {
                st.enqueue(&uid);
            }
        }
        None => forget(st, &uid),
    }
}

/// How many feasible nodes to find before choosing, as kube-scheduler's
/// adaptive `percentageOfNodesToScore`.
fn feasible_to_find(nodes: usize) -> usize {
    if nodes < 100 {
        return nodes;
    }
    let percent = (50 - nodes as i64 / 125).max(5) as usize;
    (nodes * percent / 100).max(100)
}

fn schedule_one(shared: &Arc<Shared>, uid: String, pod: Arc<Pod>) {
    let requests = pod_requests(&pod);
    let owner = owner_of(&pod);
    let mut st = shared.lock();
    if st.binding.contains(&uid) || st.cache.is_placed(&uid) {
        return;
    }
    let total = st.cache.nodes.len();
    let want = feasible_to_find(total);
    let start = if total == 0 { 0 } else { st.next_start % total };
    let mut best: Option<(i64, String)> = None;
    let mut found = 0;
    let mut looked = 0;
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    let prepared = affinity::prepare(&pod, &st.cache);
    let wide = (!prepared.is_empty()).then_some(&prepared);
    let nodes = st
        .cache
        .nodes
        .iter()
        .skip(start)
        .chain(st.cache.nodes.iter().take(start));
    for (name, info) in nodes {
        looked += 1;
        let verdict = fits(&pod, &requests, info).and_then(|()| match wide {
            Some(p) => affinity::filter(p, info),
            None => Ok(()),
        });
        match verdict {
            Ok(()) => {
                let s = score(&pod, &requests, owner.as_deref(), info)
                    + wide.map_or(0, |p| affinity::score(p, info));
                if best.as_ref().is_none_or(|(b, _)| s > *b) {
                    best = Some((s, name.clone()));
                }
                found += 1;
                if found >= want {
                    break;
                }
            }
            Err(reason) => *reasons.entry(reason).or_insert(0) += 1,
        }
    }
    st.next_start = start + looked;
    let Some((_, node)) = best else {
        st.unschedulable.insert(uid.clone());
        let plan = preemption::find(&pod, &requests, &st.cache);
        drop(st);
        let message = failure_message(total, &reasons, plan.as_ref().map(|p| p.victims.len()));
        debug!(pod = %pod.name_any(), %message, "unschedulable");
        if let Some(plan) = plan {
            spawn_preempt(shared.clone(), pod.clone(), plan);
        }
        spawn_unschedulable(shared.clone(), pod, message);
        return;
    };
    st.cache.place(&uid, &node, &pod);
    st.binding.insert(uid.clone());
    drop(st);
    spawn_bind(shared.clone(), uid, pod, node);
}

/// `0/3 nodes are available: 1 Insufficient cpu, 2 node(s) were
/// unschedulable. preemption: …`, as kube-scheduler words it.
fn failure_message(
    total: usize,
    reasons: &BTreeMap<String, usize>,
    preempting: Option<usize>,
) -> String {
    let mut parts: Vec<String> = reasons.iter().map(|(r, n)| format!("{n} {r}")).collect();
    parts.sort();
    let mut message = format!("0/{total} nodes are available");
    if !parts.is_empty() {
        message.push_str(": ");
        message.push_str(&parts.join(", "));
    }
    match preempting {
        Some(_) => message.push('.'),
        None => message.push_str(&format!(
            ". preemption: 0/{total} nodes are available: {total} Preemption is not helpful for scheduling."
        )),
    }
    message
}

/// Deletes the victims of a preemption (event `Preempted` on each) and
/// nominates the node for the preemptor; it is scheduled when they are gone.
fn spawn_preempt(shared: Arc<Shared>, pod: Arc<Pod>, plan: preemption::Plan) {
    shared.clone().spawn(async move {
        let ns = pod.namespace().unwrap_or_default();
        let name = pod.name_any();
        let pods: Api<Pod> = Api::namespaced(shared.client.clone(), &ns);
        let patch = json!({"status": {"nominatedNodeName": plan.node}});
        if let Err(error) = pods
            .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            debug!(pod = %name, %error, "cannot nominate a node");
        }
        for (uid, victim) in &plan.victims {
            let api: Api<Pod> = Api::namespaced(shared.client.clone(), &victim.namespace);
            if let Ok(Some(v)) = api.get_opt(&victim.name).await {
                shared.recorder.normal(
                    &v,
                    "Preempted",
                    &format!(
                        "Preempted by pod {} on node {}",
                        pod.uid().unwrap_or_default(),
                        plan.node
                    ),
                );
            }
            let dp = kube::api::DeleteParams {
                preconditions: Some(kube::api::Preconditions {
                    uid: Some(uid.clone()),
                    resource_version: None,
                }),
                ..Default::default()
            };
            match api.delete(&victim.name, &dp).await {
                Ok(_) => {
                    info!(victim = %victim.name, namespace = %victim.namespace, preemptor = %name, node = %plan.node, "preempted")
                }
                Err(error) => debug!(victim = %victim.name, %error, "cannot preempt"),
            }
        }
    });
}

fn spawn_bind(shared: Arc<Shared>, uid: String, pod: Arc<Pod>, node: String) {
    shared.clone().spawn(async move {
        let ns = pod.namespace().unwrap_or_default();
        let name = pod.name_any();
        let binding = json!({
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": name, "namespace": ns, "uid": uid},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node},
        });
        let api: Api<Pod> = Api::namespaced(shared.client.clone(), &ns);
        let result = match shared.writes.acquire().await {
            Ok(_permit) => api
                .create_subresource::<_, serde_json::Value>(
                    "binding",
                    &name,
                    &PostParams::default(),
                    &binding,
                )
                .await
                .map(|_| ()),
            Err(_) => return,
        };
        match result {
            Ok(()) => {
                debug!(pod = %name, namespace = %ns, %node, "bound");
                shared.recorder.normal(
                    pod.as_ref(),
                    "Scheduled",
                    &format!("Successfully assigned {ns}/{name} to {node}"),
                );
            }
            Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => {
                // Gone, or bound by someone else: the watch tells the rest.
                shared.lock().binding.remove(&uid);
            }
            Err(error) => {
                warn!(pod = %name, namespace = %ns, %node, %error, "binding failed; retrying");
                {
                    let mut st = shared.lock();
                    st.cache.remove_pod(&uid);
                    st.binding.remove(&uid);
                }
                tokio::time::sleep(BIND_BACKOFF).await;
                shared.lock().enqueue(&uid);
                shared.wake.notify_one();
            }
        }
    });
}

fn spawn_unschedulable(shared: Arc<Shared>, pod: Arc<Pod>, message: String) {
    shared.clone().spawn(async move {
        let ns = pod.namespace().unwrap_or_default();
        let name = pod.name_any();
        let already = pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .into_iter()
            .flatten()
            .any(|c| {
                c.type_ == "PodScheduled"
                    && c.status == "False"
                    && c.message.as_deref() == Some(&message)
            });
        if already {
            return;
        }
        shared
            .recorder
            .warning(pod.as_ref(), "FailedScheduling", &message);
        let patch = json!({"status": {"conditions": [{
            "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
            "message": message, "lastProbeTime": null,
            "lastTransitionTime": rkube_events::now(),
        }]}});
        let api: Api<Pod> = Api::namespaced(shared.client.clone(), &ns);
        let Ok(_permit) = shared.writes.acquire().await else {
            return;
        };
        if let Err(error) = api
            .patch_status(&name, &PatchParams::default(), &Patch::Strategic(&patch))
            .await
        {
            debug!(pod = %name, namespace = %ns, %error, "cannot write PodScheduled=False");
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_clusters_look_at_a_share_of_nodes() {
        assert_eq!(feasible_to_find(5), 5);
        assert_eq!(feasible_to_find(100), 100);
        assert_eq!(feasible_to_find(1_000), 420);
        assert_eq!(feasible_to_find(5_000), 500);
    }

    #[test]
    fn failure_messages_count_reasons() {
        let reasons = BTreeMap::from([
            ("node(s) were unschedulable".to_string(), 2),
            ("Insufficient cpu".to_string(), 1),
        ]);
        assert_eq!(
            failure_message(3, &reasons, None),
            "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) were unschedulable. \
             preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
        );
    }
}
