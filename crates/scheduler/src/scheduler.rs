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
//! - Four more watches (claims, volumes, storage classes, CSI storage
//!   capacities) feed the volume plugins. A pod with claims is bound only
//!   once they are (`volume_binding.rs`): its binding task writes the
//!   volume decisions and waits for the claims, beside the scheduling loop,
//!   bounded by [`Options::bind_timeout`]; on failure the pod is taken
//!   back off its node and tried again after a backoff. Pods without
//!   claims skip all of it.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, PersistentVolume, PersistentVolumeClaim, Pod};
use k8s_openapi::api::storage::v1::{CSIStorageCapacity, StorageClass};
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
use crate::volume_binding::{self, Reserved};
use crate::volume_cache::VolumeCache;
use crate::volume_restrictions::{self, RWOP_CONFLICT};

/// The `spec.schedulerName` this scheduler serves.
pub const SCHEDULER_NAME: &str = "default-scheduler";

/// How often unschedulable pods are tried again without a cluster change.
const RETRY_UNSCHEDULABLE: Duration = Duration::from_secs(5);
/// Wait before retrying a pod whose binding failed; it doubles with each
/// failure of the same pod, up to [`MAX_BACKOFF`] (kube-scheduler's 1 s
/// and 10 s).
const BIND_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// How often a pod waiting for its claims looks again without news.
const VOLUME_POLL: Duration = Duration::from_secs(1);

/// What can be tuned of the scheduler.
#[derive(Clone, Debug)]
pub struct Options {
    /// How long a pod's binding waits for its claims to be bound (the
    /// VolumeBinding plugin's `bindTimeoutSeconds`, 600 s by default).
    pub bind_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            bind_timeout: Duration::from_secs(600),
        }
    }
}
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
    /// Claims, volumes, classes, capacities (and what is assumed of them).
    volumes: VolumeCache,
    /// Failed bindings per pod, for the backoff.
    failures: HashMap<String, u32>,
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
    options: Options,
    /// Told on every change of a claim or volume (pods waiting for theirs
    /// look again).
    volumes_changed: Notify,
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
    run_with(client, Options::default()).await
}

/// [`run`] with `options`.
pub async fn run_with(client: Client, options: Options) -> Result<(), SchedulerError> {
    let shared = Arc::new(Shared {
        options,
        volumes_changed: Notify::new(),
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
    let storage = [
        AbortOnDrop(tokio::spawn(watch_storage::<PersistentVolumeClaim>(
            shared.clone(),
            |v, c| v.set_claim(c),
            |v, c| v.remove_claim(&c),
        ))),
        AbortOnDrop(tokio::spawn(watch_storage::<PersistentVolume>(
            shared.clone(),
            |v, pv| v.set_volume(pv),
            |v, pv| v.remove_volume(&pv.name_any()),
        ))),
        AbortOnDrop(tokio::spawn(watch_storage::<StorageClass>(
            shared.clone(),
            |v, c| v.set_class(c),
            |v, c| v.remove_class(&c.name_any()),
        ))),
        AbortOnDrop(tokio::spawn(watch_storage::<CSIStorageCapacity>(
            shared.clone(),
            |v, c| v.set_capacity(c),
            |v, c| v.remove_capacity(&c),
        ))),
    ];
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
        if storage.iter().any(|w| w.0.is_finished()) {
            return Err(SchedulerError::WatchEnded("storage"));
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

/// Keeps one storage kind in the volume cache. Any change may let a
/// pod waiting for its volumes fit, or finish its binding.
async fn watch_storage<K>(
    shared: Arc<Shared>,
    apply: fn(&mut VolumeCache, K),
    delete: fn(&mut VolumeCache, K),
) where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + k8s_openapi::serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + 'static,
{
    let api: Api<K> = Api::all(shared.client.clone());
    let mut events = watcher(api, watcher::Config::default())
        .default_backoff()
        .boxed();
    while let Some(event) = events.next().await {
        let mut st = shared.lock();
        match event {
            Ok(watcher::Event::Apply(o) | watcher::Event::InitApply(o)) => {
                apply(&mut st.volumes, o)
            }
            Ok(watcher::Event::Delete(o)) => delete(&mut st.volumes, o),
            Ok(_) => continue,
            Err(error) => {
                warn!(%error, kind = %K::kind(&()), "storage watch failed; retrying");
                continue;
            }
        }
        st.retry_unschedulable();
        drop(st);
        shared.volumes_changed.notify_waiters();
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
    st.failures.remove(uid);
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
            st.failures.remove(&uid);
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
    // VolumeBinding's PreFilter (nothing for pods without claims).
    let claims = match volume_binding::pre_filter(&pod, &st.volumes) {
        Ok(c) => c,
        Err(reason) => {
            st.unschedulable.insert(uid.clone());
            drop(st);
            let message = pre_filter_message(total, &reason);
            debug!(pod = %pod.name_any(), %message, "unschedulable");
            spawn_unschedulable(shared.clone(), pod, message, "Unschedulable");
            return;
        }
    };
    // VolumeRestrictions: the pods holding its ReadWriteOncePod claims.
    let holders = match &claims {
        Some(c) => volume_restrictions::conflicting_pods(&uid, &c.all, &st.cache),
        None => Vec::new(),
    };
    let mut decisions: HashMap<String, volume_binding::Decisions> = HashMap::new();
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
        let verdict = fits(&pod, &requests, info)
            .and_then(|()| match holders.is_empty() {
                true => Ok(()),
                false => Err(RWOP_CONFLICT.to_string()),
            })
            .and_then(|()| match &claims {
                Some(c) => volume_binding::filter(c, &info.node, &st.volumes)
                    .map(|d| drop(decisions.insert(name.clone(), d))),
                None => Ok(()),
            })
            .and_then(|()| match wide {
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
        let volumes_fit = |info: &crate::cache::NodeInfo| {
            claims
                .as_ref()
                .is_none_or(|c| volume_binding::filter(c, &info.node, &st.volumes).is_ok())
        };
        let plan = preemption::find(&pod, &requests, &st.cache, &holders, &volumes_fit);
        drop(st);
        let message = failure_message(total, &reasons, plan.as_ref().map(|p| p.victims.len()));
        debug!(pod = %pod.name_any(), %message, "unschedulable");
        if let Some(plan) = plan {
            spawn_preempt(shared.clone(), pod.clone(), plan);
        }
        spawn_unschedulable(shared.clone(), pod, message, "Unschedulable");
        return;
    };
    // VolumeBinding's Reserve: what the node needs for the claims, assumed.
    let reserved = match (decisions.remove(&node), st.cache.nodes.get(&node)) {
        (Some(d), Some(info)) => {
            let n = info.node.clone();
            volume_binding::assume(d, &n, &mut st.volumes)
        }
        _ => None,
    };
    st.cache.place(&uid, &node, &pod);
    st.binding.insert(uid.clone());
    drop(st);
    spawn_bind(shared.clone(), uid, pod, node, reserved);
}

/// A PreFilter refusal (the same for every node): `0/3 nodes are
/// available: persistentvolumeclaim "data" not found. preemption: …`.
fn pre_filter_message(total: usize, reason: &str) -> String {
    format!(
        "0/{total} nodes are available: {reason}. preemption: 0/{total} nodes are available: \
         {total} Preemption is not helpful for scheduling."
    )
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

/// The binding cycle, beside the scheduling loop: the pod's volumes first
/// (VolumeBinding's PreBind, when it has claims to bind), then the pod.
fn spawn_bind(
    shared: Arc<Shared>,
    uid: String,
    pod: Arc<Pod>,
    node: String,
    volumes: Option<Reserved>,
) {
    shared.clone().spawn(async move {
        let ns = pod.namespace().unwrap_or_default();
        let name = pod.name_any();
        if let Some(reserved) = volumes {
            match bind_volumes(&shared, &uid, &reserved).await {
                Ok(()) => {}
                Err(PreBindError::Gone) => {
                    volume_binding::unreserve(&reserved, &mut shared.lock().volumes);
                    return;
                }
                Err(PreBindError::Failed(reason)) => {
                    warn!(pod = %name, namespace = %ns, %node, %reason, "binding volumes failed; retrying");
                    let message =
                        format!("running PreBind plugin \"VolumeBinding\": binding volumes: {reason}");
                    spawn_unschedulable(shared.clone(), pod, message, "SchedulerError");
                    retry_later(&shared, &uid, Some(&reserved)).await;
                    return;
                }
            }
        }
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
                retry_later(&shared, &uid, None).await;
            }
        }
    });
}

/// Takes a pod whose binding failed back off its node (and forgets the
/// volumes assumed for it), waits its backoff and queues it again.
async fn retry_later(shared: &Arc<Shared>, uid: &str, volumes: Option<&Reserved>) {
    let backoff = {
        let mut st = shared.lock();
        if let Some(r) = volumes {
            volume_binding::unreserve(r, &mut st.volumes);
        }
        st.cache.remove_pod(uid);
        st.binding.remove(uid);
        let failures = st.failures.entry(uid.to_string()).or_insert(0);
        *failures += 1;
        backoff_after(*failures)
    };
    tokio::time::sleep(backoff).await;
    shared.lock().enqueue(uid);
    shared.wake.notify_one();
}

/// 1 s after the first failure, doubling, at most 10 s.
fn backoff_after(failures: u32) -> Duration {
    BIND_BACKOFF
        .saturating_mul(1 << failures.saturating_sub(1).min(8))
        .min(MAX_BACKOFF)
}

/// Why a pod's volumes could not be bound.
enum PreBindError {
    /// The pod was deleted or bound meanwhile: nothing to retry.
    Gone,
    /// The pod is scheduled again, with this reason.
    Failed(String),
}

/// VolumeBinding's PreBind: writes the volumes' `claimRef` and the claims'
/// `selected-node` annotation, then waits until every claim is bound (the
/// PV controller and the provisioner do that), at most
/// [`Options::bind_timeout`]. Only this pod's binding waits.
async fn bind_volumes(shared: &Arc<Shared>, uid: &str, r: &Reserved) -> Result<(), PreBindError> {
    let failed = |e: kube::Error| PreBindError::Failed(e.to_string());
    for v in &r.volumes {
        let api: Api<PersistentVolume> = Api::all(shared.client.clone());
        let Ok(_permit) = shared.writes.acquire().await else {
            return Err(PreBindError::Gone);
        };
        api.replace(&v.name_any(), &PostParams::default(), v)
            .await
            .map_err(failed)?;
    }
    for c in &r.claims {
        let api: Api<PersistentVolumeClaim> =
            Api::namespaced(shared.client.clone(), &c.namespace().unwrap_or_default());
        let Ok(_permit) = shared.writes.acquire().await else {
            return Err(PreBindError::Gone);
        };
        api.replace(&c.name_any(), &PostParams::default(), c)
            .await
            .map_err(failed)?;
    }
    let deadline = tokio::time::Instant::now() + shared.options.bind_timeout;
    loop {
        let changed = shared.volumes_changed.notified();
        {
            let st = shared.lock();
            if !st.binding.contains(uid) {
                return Err(PreBindError::Gone);
            }
            match volume_binding::check_bindings(r, &st.volumes) {
                Ok(true) => return Ok(()),
                Ok(false) => {}
                Err(reason) => return Err(PreBindError::Failed(reason)),
            }
        }
        tokio::select! {
            _ = changed => {}
            _ = tokio::time::sleep(VOLUME_POLL) => {}
            _ = tokio::time::sleep_until(deadline) => {
                return Err(PreBindError::Failed(
                    "timed out waiting for the condition".into(),
                ));
            }
        }
    }
}

/// `FailedScheduling` and `PodScheduled=False` with `reason`
/// (`Unschedulable`, or `SchedulerError` when binding failed).
fn spawn_unschedulable(shared: Arc<Shared>, pod: Arc<Pod>, message: String, reason: &'static str) {
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
            "type": "PodScheduled", "status": "False", "reason": reason,
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
