//! The garbage collector (kube-controller-manager's
//! `garbage-collector-controller`), for every kind the API serves, custom
//! resources included.
//!
//! - discovery (again every 30 s, and soon after a CRD changes, so new
//!   custom resources are covered) finds every
//!   resource that can be listed, watched and deleted; each gets one
//!   metadata-only watch (`meta.rs`: `PartialObjectMetadata` without
//!   managedFields), which
//!   feeds the uid graph (`graph.rs`: objects, owners, dependents);
//! - the graph names the objects to look at again: dependents whose
//!   owner went (deleted in the background), owners deleting in the
//!   foreground (their blocking dependents are deleted, then they lose
//!   `foregroundDeletion`), owners deleting with `orphan` (their
//!   dependents lose the reference, then they lose `orphan`);
//! - nothing is re-listed on a timer: the work follows watch events, and
//!   an owner the graph does not know is asked for once (absent owners
//!   are remembered).

mod graph;
mod meta;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{
    Api, DeleteParams, DynamicObject, Patch, PatchParams, Preconditions, PropagationPolicy,
};
use kube::discovery::{verbs, Discovery, Scope};
use kube::runtime::watcher::{self, watcher, Event};
use kube::runtime::WatchStreamExt;
use serde_json::json;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use crate::framework::context::Context;
use crate::framework::queue::{Key, Queue};
use crate::framework::runner::{spawn_workers, Outcome};
use graph::{decide, Action, Graph, Node, OwnerState, Res, Work};
pub use graph::{FINALIZER_FOREGROUND, FINALIZER_ORPHAN};
use meta::Meta;

pub const NAME: &str = "garbage-collector-controller";
const DELETE_WORKERS: usize = 5;
const ORPHAN_WORKERS: usize = 2;
/// How often the served resources are discovered again.
const REDISCOVER: Duration = Duration::from_secs(30);
/// How long discovery waits after a CRD changed.
const CRD_SETTLE: Duration = Duration::from_millis(200);
/// Longest wait for the first list of every resource before working.
const SYNC_TIMEOUT: Duration = Duration::from_secs(30);
/// Resources Kubernetes' garbage collector ignores.
const IGNORED: [(&str, &str); 2] = [("", "events"), ("events.k8s.io", "events")];
/// Owner uids confirmed absent that are remembered (then forgotten at once).
const ABSENT_CACHE: usize = 10_000;

struct Gc {
    ctx: Arc<Context>,
    graph: Mutex<Graph>,
    /// (group, kind) → resource, from the last discovery.
    kinds: Mutex<HashMap<(String, String), Arc<Res>>>,
    /// Owner uids the API server said do not exist.
    absent: Mutex<HashSet<String>>,
    deletes: Queue,
    orphans: Queue,
    synced: watch::Sender<bool>,
    /// A CRD changed: discover again now rather than at the next period.
    rediscover: Notify,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn start(ctx: &Arc<Context>) -> Vec<JoinHandle<()>> {
    let gc = Arc::new(Gc {
        ctx: ctx.clone(),
        graph: Mutex::default(),
        kinds: Mutex::default(),
        absent: Mutex::default(),
        deletes: Queue::default(),
        orphans: Queue::default(),
        synced: watch::channel(false).0,
        rediscover: Notify::new(),
    });
    let mut tasks = vec![tokio::spawn(gc.clone().run())];
    let me = gc.clone();
    tasks.extend(spawn_workers(
        NAME,
        gc.deletes.clone(),
        DELETE_WORKERS,
        move |key| {
            let me = me.clone();
            async move {
                me.wait_synced().await;
                me.attempt_to_delete(&key.name).await
            }
        },
    ));
    let me = gc.clone();
    tasks.extend(spawn_workers(
        NAME,
        gc.orphans.clone(),
        ORPHAN_WORKERS,
        move |key| {
            let me = me.clone();
            async move {
                me.wait_synced().await;
                me.attempt_to_orphan(&key.name).await
            }
        },
    ));
    tasks
}

/// A task aborted when dropped (a resource's watch).
struct Watch(JoinHandle<()>);

impl Drop for Watch {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Gc {
    fn graph(&self) -> MutexGuard<'_, Graph> {
        lock(&self.graph)
    }

    async fn wait_synced(&self) {
        let mut rx = self.synced.subscribe();
        let _ = rx.wait_for(|s| *s).await;
    }

    fn enqueue(&self, work: Vec<Work>) {
        for w in work {
            match w {
                Work::Delete(uid) => self.deletes.add(Key::new("", uid)),
                Work::Orphan(uid) => self.orphans.add(Key::new("", uid)),
            }
        }
    }

    /// Discovers the served resources every `REDISCOVER` and keeps one
    /// watch per resource that can be listed, watched and deleted.
    async fn run(self: Arc<Self>) {
        let mut watches: HashMap<String, (Arc<Res>, Watch)> = HashMap::new();
        let started = tokio::time::Instant::now();
        let mut first = true;
        loop {
            match self.discover().await {
                Ok(found) => {
                    let watched: Vec<Arc<Res>> = found
                        .iter()
                        .filter(|(_, watchable)| *watchable)
                        .map(|(r, _)| r.clone())
                        .collect();
                    *lock(&self.kinds) = found
                        .into_iter()
                        .map(|(r, _)| ((r.ar.group.clone(), r.ar.kind.clone()), r))
                        .collect();
                    let ids: HashSet<String> = watched.iter().map(|r| r.id()).collect();
                    let gone: Vec<String> = watches
                        .keys()
                        .filter(|id| !ids.contains(*id))
                        .cloned()
                        .collect();
                    for id in gone {
                        if let Some((res, _watch)) = watches.remove(&id) {
                            info!(resource = %id, "no longer served; not watched");
                            let work = self.graph().retain_resource(&res, &HashSet::new());
                            self.enqueue(work);
                        }
                    }
                    let new: Vec<Arc<Res>> = watched
                        .into_iter()
                        .filter(|r| !watches.contains_key(&r.id()))
                        .collect();
                    let countdown = first.then(|| Arc::new(AtomicUsize::new(new.len())));
                    if new.is_empty() && first {
                        self.synced.send_replace(true);
                    }
                    for res in new {
                        debug!(resource = %res.id(), "watching");
                        let task = tokio::spawn(self.clone().watch(res.clone(), countdown.clone()));
                        watches.insert(res.id(), (res, Watch(task)));
                    }
                    first = false;
                }
                Err(error) => warn!(%error, "discovery failed; retrying"),
            }
            let wait = if first {
                Duration::from_secs(1)
            } else {
                REDISCOVER
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.rediscover.notified() => {
                    // Let a burst of CRD changes settle.
                    tokio::time::sleep(CRD_SETTLE).await;
                }
            }
            if !*self.synced.borrow() && started.elapsed() > SYNC_TIMEOUT {
                warn!("some resources were not listed in time; collecting anyway");
                self.synced.send_replace(true);
            }
        }
    }

    /// Every resource (with whether it can be watched and deleted).
    async fn discover(&self) -> Result<Vec<(Arc<Res>, bool)>, kube::Error> {
        let d = Discovery::new(self.ctx.client.clone()).run().await?;
        let mut out = Vec::new();
        for group in d.groups() {
            for (ar, caps) in group.recommended_resources() {
                if IGNORED.contains(&(ar.group.as_str(), ar.plural.as_str())) {
                    continue;
                }
                let watchable = [verbs::LIST, verbs::WATCH, verbs::DELETE]
                    .iter()
                    .all(|v| caps.supports_operation(v));
                let namespaced = matches!(caps.scope, Scope::Namespaced);
                out.push((Arc::new(Res { ar, namespaced }), watchable));
            }
        }
        Ok(out)
    }

    /// Feeds the graph from one resource's metadata watch.
    async fn watch(self: Arc<Self>, res: Arc<Res>, mut countdown: Option<Arc<AtomicUsize>>) {
        let api: Api<Meta> = Api::all_with(self.ctx.client.clone(), &res.ar);
        let mut events = watcher(api, watcher::Config::default())
            .default_backoff()
            .boxed();
        let mut listed: HashSet<String> = HashSet::new();
        while let Some(event) = events.next().await {
            match event {
                Err(error) => debug!(resource = %res.id(), %error, "watch failed; retrying"),
                Ok(Event::Init) => listed.clear(),
                Ok(Event::InitApply(o)) => {
                    if let Some(uid) = &o.metadata.uid {
                        listed.insert(uid.clone());
                    }
                    self.observe(&res, &o);
                }
                Ok(Event::InitDone) => {
                    let work = self.graph().retain_resource(&res, &listed);
                    listed = HashSet::new();
                    self.enqueue(work);
                    if let Some(c) = countdown.take() {
                        if c.fetch_sub(1, Ordering::SeqCst) == 1 {
                            info!("every resource listed; collecting");
                            self.synced.send_replace(true);
                        }
                    }
                }
                Ok(Event::Apply(o)) => self.observe(&res, &o),
                Ok(Event::Delete(o)) => {
                    if let Some(uid) = &o.metadata.uid {
                        let work = self.graph().remove(uid);
                        self.enqueue(work);
                    }
                }
            }
        }
    }

    fn observe(&self, res: &Arc<Res>, o: &Meta) {
        let Some(uid) = o.metadata.uid.clone() else {
            return;
        };
        let crds = ("apiextensions.k8s.io", "customresourcedefinitions");
        if (res.ar.group.as_str(), res.ar.plural.as_str()) == crds {
            self.rediscover.notify_one();
        }
        let finalizers = o.metadata.finalizers.as_deref().unwrap_or_default();
        let node = Node {
            res: res.clone(),
            namespace: o.metadata.namespace.clone(),
            name: o.metadata.name.clone().unwrap_or_default(),
            resource_version: o.metadata.resource_version.clone(),
            owners: o.metadata.owner_references.clone().unwrap_or_default(),
            deleting: o.metadata.deletion_timestamp.is_some(),
            orphan: finalizers.iter().any(|f| f == FINALIZER_ORPHAN),
            foreground: finalizers.iter().any(|f| f == FINALIZER_FOREGROUND),
        };
        let work = self.graph().upsert(uid, node);
        self.enqueue(work);
    }

    fn dynamic(&self, res: &Res, namespace: Option<&str>) -> Api<DynamicObject> {
        let client = self.ctx.client.clone();
        match namespace {
            Some(ns) if res.namespaced => Api::namespaced_with(client, ns, &res.ar),
            _ => Api::all_with(client, &res.ar),
        }
    }

    /// Kubernetes' `attemptToDeleteItem`.
    async fn attempt_to_delete(&self, uid: &str) -> Outcome {
        let Some(node) = self.graph().get(uid).cloned() else {
            return Ok(None);
        };
        if node.deleting {
            if node.deleting_dependents() {
                return self.process_deleting_dependents(uid, &node).await;
            }
            return Ok(None);
        }
        // Writes carry the resourceVersion the graph saw: if the object
        // changed since (say, its owners), the write fails with 409 and the
        // key is looked at again once the graph has caught up.
        let api = self.dynamic(&node.res, node.namespace.as_deref());
        match self.classify(uid, &node, &node.owners).await? {
            Action::Nothing => Ok(None),
            Action::Retry => Ok(Some(REDISCOVER)),
            Action::RemoveRefs(gone) => {
                let kept: Vec<&OwnerReference> = node
                    .owners
                    .iter()
                    .filter(|r| !gone.contains(&r.uid))
                    .collect();
                debug!(object = %describe(&node), owners = ?gone, "removing references to owners that are gone or deleting");
                let patch = json!({"metadata": {
                    "ownerReferences": kept,
                    "resourceVersion": node.resource_version,
                }});
                ignore_gone(
                    api.patch(&node.name, &PatchParams::default(), &Patch::Merge(&patch))
                        .await,
                )
            }
            Action::Delete(policy) => {
                debug!(object = %describe(&node), policy, "deleting: its owners are gone");
                let dp = DeleteParams {
                    propagation_policy: Some(match policy {
                        "Foreground" => PropagationPolicy::Foreground,
                        "Orphan" => PropagationPolicy::Orphan,
                        _ => PropagationPolicy::Background,
                    }),
                    preconditions: Some(Preconditions {
                        uid: Some(uid.to_string()),
                        resource_version: node.resource_version.clone(),
                    }),
                    ..DeleteParams::default()
                };
                ignore_gone(api.delete(&node.name, &dp).await)
            }
        }
    }

    async fn classify(
        &self,
        uid: &str,
        node: &Node,
        owners: &[OwnerReference],
    ) -> Result<Action, kube::Error> {
        let mut states = Vec::with_capacity(owners.len());
        for r in owners {
            states.push((r.uid.clone(), self.owner_state(node, r).await?));
        }
        let has_dependents = self.graph().has_dependents(uid);
        Ok(decide(node, &states, has_dependents))
    }

    /// Whether the owner `r` of `node` exists: the graph first, then the
    /// API server (an owner seen through no watch yet).
    async fn owner_state(
        &self,
        node: &Node,
        r: &OwnerReference,
    ) -> Result<OwnerState, kube::Error> {
        if let Some(o) = self.graph().get(&r.uid) {
            return Ok(if o.deleting_dependents() {
                OwnerState::Waiting
            } else {
                OwnerState::Solid
            });
        }
        if lock(&self.absent).contains(&r.uid) {
            return Ok(OwnerState::Absent);
        }
        let group = r.api_version.split_once('/').map_or("", |(g, _)| g);
        let res = lock(&self.kinds)
            .get(&(group.to_string(), r.kind.clone()))
            .cloned();
        let Some(res) = res else {
            debug!(object = %describe(node), kind = %r.kind, api_version = %r.api_version, "owner of a kind not served");
            return Ok(OwnerState::Unknown);
        };
        let client = self.ctx.client.clone();
        let api: Api<Meta> = match (&node.namespace, res.namespaced) {
            (Some(ns), true) => Api::namespaced_with(client, ns, &res.ar),
            // A cluster-scoped object cannot have a namespaced owner.
            (None, true) => return Ok(self.absent(&r.uid)),
            (_, false) => Api::all_with(client, &res.ar),
        };
        Ok(match api.get_opt(&r.name).await? {
            Some(o) if o.metadata.uid.as_deref() == Some(r.uid.as_str()) => {
                let foreground = o
                    .metadata
                    .finalizers
                    .as_deref()
                    .unwrap_or_default()
                    .iter()
                    .any(|f| f == FINALIZER_FOREGROUND);
                if o.metadata.deletion_timestamp.is_some() && foreground {
                    OwnerState::Waiting
                } else {
                    OwnerState::Solid
                }
            }
            _ => self.absent(&r.uid),
        })
    }

    fn absent(&self, uid: &str) -> OwnerState {
        let mut a = lock(&self.absent);
        if a.len() >= ABSENT_CACHE {
            a.clear();
        }
        a.insert(uid.to_string());
        OwnerState::Absent
    }

    /// An owner deleting in the foreground: its blocking dependents are
    /// deleted; once none is left it loses `foregroundDeletion`.
    async fn process_deleting_dependents(&self, uid: &str, node: &Node) -> Outcome {
        let blocking = self.graph().blocking_dependents(uid);
        if blocking.is_empty() {
            debug!(object = %describe(node), "no blocking dependents left");
            return self.remove_finalizer(uid, node, FINALIZER_FOREGROUND).await;
        }
        for (d, dn) in blocking {
            if !dn.deleting {
                self.deletes.add(Key::new("", d));
            }
        }
        Ok(None)
    }

    /// An owner deleting with `orphan`: its dependents lose their
    /// reference to it, then it loses the finalizer.
    async fn attempt_to_orphan(&self, uid: &str) -> Outcome {
        let Some(node) = self.graph().get(uid).cloned() else {
            return Ok(None);
        };
        if !node.orphaning() {
            return Ok(None);
        }
        let dependents = self.graph().dependents(uid);
        for (d, dn) in &dependents {
            let api = self.dynamic(&dn.res, dn.namespace.as_deref());
            let Some(live) = api.get_metadata_opt(&dn.name).await? else {
                continue;
            };
            if live.metadata.uid.as_deref() != Some(d.as_str()) {
                continue;
            }
            let owners = live.metadata.owner_references.unwrap_or_default();
            if !owners.iter().any(|r| r.uid == uid) {
                continue;
            }
            let kept: Vec<&OwnerReference> = owners.iter().filter(|r| r.uid != uid).collect();
            let patch = json!({"metadata": {
                "ownerReferences": if kept.is_empty() { serde_json::Value::Null } else { json!(kept) },
                "resourceVersion": live.metadata.resource_version,
            }});
            ignore_gone(
                api.patch(&dn.name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await,
            )?;
        }
        info!(object = %describe(&node), orphaned = dependents.len(), "dependents orphaned");
        self.remove_finalizer(uid, &node, FINALIZER_ORPHAN).await
    }

    async fn remove_finalizer(&self, uid: &str, node: &Node, finalizer: &str) -> Outcome {
        let api = self.dynamic(&node.res, node.namespace.as_deref());
        let Some(live) = api.get_metadata_opt(&node.name).await? else {
            return Ok(None);
        };
        if live.metadata.uid.as_deref() != Some(uid) {
            return Ok(None);
        }
        let finalizers = live.metadata.finalizers.unwrap_or_default();
        if !finalizers.iter().any(|f| f == finalizer) {
            return Ok(None);
        }
        let kept: Vec<&String> = finalizers.iter().filter(|f| *f != finalizer).collect();
        let patch = json!({"metadata": {
            "finalizers": kept,
            "resourceVersion": live.metadata.resource_version,
        }});
        debug!(object = %describe(node), finalizer, "removing finalizer");
        ignore_gone(
            api.patch(&node.name, &PatchParams::default(), &Patch::Merge(&patch))
                .await,
        )
    }
}

/// 404 (gone) is not a failure (409, a precondition that failed, is
/// retried once the graph has seen the change).
fn ignore_gone<T>(r: Result<T, kube::Error>) -> Outcome {
    match r {
        Ok(_) => Ok(None),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn describe(n: &Node) -> String {
    match &n.namespace {
        Some(ns) => format!("{} {ns}/{}", n.res.id(), n.name),
        None => format!("{} {}", n.res.id(), n.name),
    }
}
