//! The DaemonSet controller, as kube-controller-manager's
//! (`pkg/controller/daemon`): one pod per eligible node.
//!
//! - a node is eligible when the template's nodeSelector and required
//!   node affinity match it and its NoSchedule/NoExecute taints are
//!   tolerated; the template gets the DaemonSet controller's automatic
//!   tolerations (not-ready and unreachable NoExecute; disk-, memory-,
//!   pid-pressure and unschedulable NoSchedule; network-unavailable for
//!   hostNetwork pods). A node with an untolerated NoSchedule taint keeps
//!   the pod it has; an untolerated NoExecute taint, or a selector or
//!   affinity that no longer matches, has it deleted;
//! - pods are bound to their node through required node affinity
//!   `matchFields metadata.name In [node]` (the scheduler binds them), and
//!   labelled `controller-revision-hash` and `pod-template-generation`;
//! - updates through ControllerRevisions (`history.rs`): `RollingUpdate`
//!   with `maxUnavailable` (delete old pods, at most that many nodes
//!   without an available pod) or `maxSurge` (a new pod next to the old
//!   one, the old deleted once the new is available); `OnDelete`;
//! - status: desiredNumberScheduled, currentNumberScheduled, numberReady,
//!   numberAvailable, numberUnavailable, updatedNumberScheduled,
//!   numberMisscheduled, observedGeneration, collisionCount.
//!
//! Pods bound to a node that no longer exists are deleted (Kubernetes
//! leaves them to the pod garbage collector, which rkube does not have).
//!
//! The decisions are `plan` (pure); `reconcile` does the I/O.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet};
use k8s_openapi::api::core::v1::{
    Node, NodeSelectorRequirement, NodeSelectorTerm, Pod, PodSpec, Toleration,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::runtime::reflector::ObjectRef;
use kube::ResourceExt;
use rkube_events::Recorder;
use serde_json::{json, Value};
use tokio::task::JoinHandle;
use tracing::debug;

use crate::framework::context::Context;
use crate::framework::error::ControllerError;
use crate::framework::expectations::Expectations;
use crate::framework::history::{self, REVISION_HASH_LABEL};
use crate::framework::informer::Change;
use crate::framework::owner::{adopt, owner_ref, release};
use crate::framework::queue::{Key, Queue};
use crate::framework::runner::{spawn_workers, Outcome};
use crate::pods::tolerates;
use crate::pods::{controller_of, is_available, is_failed, is_ready};
use crate::selector::matches;

pub const NAME: &str = "daemonset-controller";
const WORKERS: usize = 2;
const TEMPLATE_GENERATION_LABEL: &str = "pod-template-generation";

/// What `plan` sees of a daemon pod.
#[derive(Clone, Debug, Default, PartialEq)]
struct PodView {
    name: String,
    /// Carries the current revision's hash.
    updated: bool,
    failed: bool,
    available: bool,
}

/// What `plan` sees of a node.
#[derive(Clone, Debug, Default, PartialEq)]
struct NodeView {
    name: String,
    /// A new pod may go there.
    should_run: bool,
    /// A pod there may stay.
    should_continue: bool,
    /// The node's non-terminating daemon pods, oldest first.
    pods: Vec<PodView>,
}

#[derive(Clone, Copy, Debug)]
enum Strategy {
    OnDelete,
    Rolling {
        max_surge: i32,
        max_unavailable: i32,
    },
}

#[derive(Debug, Default, PartialEq)]
struct Plan {
    /// Nodes to put a new pod on.
    create: Vec<String>,
    /// Pods to delete.
    delete: Vec<String>,
}

/// What to do next, as `manage` and `rollingUpdate` decide it.
fn plan(nodes: &[NodeView], strategy: Strategy) -> Plan {
    let mut p = Plan::default();
    let surge = matches!(strategy, Strategy::Rolling { max_surge, .. } if max_surge > 0);
    for n in nodes {
        if n.should_run || n.should_continue {
            if !n.should_continue {
                p.delete.extend(n.pods.iter().map(|x| x.name.clone()));
                continue;
            }
            let (failed, running): (Vec<&PodView>, Vec<&PodView>) =
                n.pods.iter().partition(|x| x.failed);
            p.delete.extend(failed.iter().map(|x| x.name.clone()));
            if running.is_empty() {
                if n.should_run {
                    p.create.push(n.name.clone());
                }
                continue;
            }
            // More than one: keep the oldest (the oldest new and the
            // oldest old one while surging).
            let mut kept_new = false;
            let mut kept_old = false;
            for (i, x) in running.iter().enumerate() {
                let keep = if surge {
                    let slot = if x.updated {
                        &mut kept_new
                    } else {
                        &mut kept_old
                    };
                    !std::mem::replace(slot, true)
                } else {
                    i == 0
                };
                if !keep {
                    p.delete.push(x.name.clone());
                }
            }
        } else {
            p.delete.extend(n.pods.iter().map(|x| x.name.clone()));
        }
    }
    let Strategy::Rolling {
        max_surge,
        max_unavailable,
    } = strategy
    else {
        return p;
    };
    let eligible = nodes.iter().filter(|n| n.should_run && n.should_continue);
    if surge {
        let mut surging = 0;
        let mut candidates = Vec::new();
        for n in eligible.clone() {
            let new = n.pods.iter().find(|x| x.updated && !x.failed);
            let old = n.pods.iter().find(|x| !x.updated && !x.failed);
            match (new, old) {
                (_, None) => {}
                (None, Some(o)) if !o.available => p.create.push(n.name.clone()),
                (None, Some(_)) => candidates.push(n.name.clone()),
                (Some(nw), Some(o)) => {
                    if nw.available {
                        p.delete.push(o.name.clone());
                    }
                    surging += 1;
                }
            }
        }
        let room = usize::try_from(max_surge - surging).unwrap_or(0);
        p.create.extend(candidates.into_iter().take(room));
    } else {
        let mut unavailable = 0;
        let mut free = Vec::new();
        let mut candidates = Vec::new();
        for n in eligible {
            let new = n.pods.iter().find(|x| x.updated && !x.failed);
            let old = n.pods.iter().find(|x| !x.updated && !x.failed);
            match (new, old) {
                (None, None) => unavailable += 1,
                (Some(nw), None) => {
                    if !nw.available {
                        unavailable += 1;
                    }
                }
                (Some(_), Some(o)) => {
                    // Left over from a surge: the old one goes.
                    free.push(o.name.clone());
                }
                (None, Some(o)) => {
                    if o.available {
                        candidates.push(o.name.clone());
                    } else {
                        free.push(o.name.clone());
                        unavailable += 1;
                    }
                }
            }
        }
        let room = usize::try_from(max_unavailable.max(0) - unavailable).unwrap_or(0);
        p.delete.extend(free);
        p.delete.extend(candidates.into_iter().take(room));
    }
    p.delete.sort();
    p.delete.dedup();
    p
}

/// An int or a percentage of `total`, rounded up.
fn scaled(v: Option<&IntOrString>, total: i32, default: i32) -> i32 {
    match v {
        None => default,
        Some(IntOrString::Int(i)) => *i,
        Some(IntOrString::String(s)) => s
            .strip_suffix('%')
            .and_then(|p| p.parse::<i64>().ok())
            .map(|p| ((p * i64::from(total) + 99) / 100) as i32)
            .unwrap_or(default),
    }
}

/// The tolerations the DaemonSet controller adds to its pods
/// (`AddOrUpdateDaemonPodTolerations`).
fn add_daemon_tolerations(spec: &mut PodSpec) {
    let mut wanted = vec![
        ("node.kubernetes.io/not-ready", "NoExecute"),
        ("node.kubernetes.io/unreachable", "NoExecute"),
        ("node.kubernetes.io/disk-pressure", "NoSchedule"),
        ("node.kubernetes.io/memory-pressure", "NoSchedule"),
        ("node.kubernetes.io/pid-pressure", "NoSchedule"),
        ("node.kubernetes.io/unschedulable", "NoSchedule"),
    ];
    if spec.host_network == Some(true) {
        wanted.push(("node.kubernetes.io/network-unavailable", "NoSchedule"));
    }
    let list = spec.tolerations.get_or_insert_with(Vec::new);
    for (key, effect) in wanted {
        list.retain(|t| !(t.key.as_deref() == Some(key) && t.effect.as_deref() == Some(effect)));
        list.push(Toleration {
            key: Some(key.to_string()),
            operator: Some("Exists".to_string()),
            effect: Some(effect.to_string()),
            ..Toleration::default()
        });
    }
}

fn requirement_matches(r: &NodeSelectorRequirement, value: Option<&str>) -> bool {
    let values = r.values.as_deref().unwrap_or(&[]);
    let number = |s: &str| s.parse::<i64>().ok();
    match r.operator.as_str() {
        "In" => value.is_some_and(|v| values.iter().any(|x| x == v)),
        "NotIn" => value.is_none_or(|v| !values.iter().any(|x| x == v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" | "Lt" => match (
            value.and_then(number),
            values.first().and_then(|b| number(b)),
        ) {
            (Some(v), Some(b)) if r.operator == "Gt" => v > b,
            (Some(v), Some(b)) => v < b,
            _ => false,
        },
        _ => false,
    }
}

fn term_matches(term: &NodeSelectorTerm, node: &Node) -> bool {
    let exprs = term.match_expressions.as_deref().unwrap_or(&[]);
    let fields = term.match_fields.as_deref().unwrap_or(&[]);
    if exprs.is_empty() && fields.is_empty() {
        return false;
    }
    let labels = node.metadata.labels.clone().unwrap_or_default();
    exprs
        .iter()
        .all(|r| requirement_matches(r, labels.get(&r.key).map(String::as_str)))
        && fields.iter().all(|r| {
            let v = (r.key == "metadata.name")
                .then_some(node.metadata.name.as_deref())
                .flatten();
            requirement_matches(r, v)
        })
}

/// (should run, should continue running), as `NodeShouldRunDaemonPod`.
fn node_should_run(spec: &PodSpec, node: &Node) -> (bool, bool) {
    let name = node.metadata.name.as_deref().unwrap_or_default();
    if spec
        .node_name
        .as_deref()
        .is_some_and(|n| !n.is_empty() && n != name)
    {
        return (false, false);
    }
    let labels = node.metadata.labels.clone().unwrap_or_default();
    if let Some(sel) = &spec.node_selector {
        if !sel.iter().all(|(k, v)| labels.get(k) == Some(v)) {
            return (false, false);
        }
    }
    let required = spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|n| {
            n.required_during_scheduling_ignored_during_execution
                .as_ref()
        });
    if let Some(r) = required {
        if !r.node_selector_terms.iter().any(|t| term_matches(t, node)) {
            return (false, false);
        }
    }
    let tolerations = spec.tolerations.as_deref().unwrap_or(&[]);
    let mut run = true;
    for taint in node
        .spec
        .as_ref()
        .and_then(|s| s.taints.as_deref())
        .unwrap_or(&[])
    {
        if !matches!(taint.effect.as_str(), "NoSchedule" | "NoExecute") {
            continue;
        }
        if tolerations.iter().any(|t| tolerates(t, taint)) {
            continue;
        }
        if taint.effect == "NoExecute" {
            return (false, false);
        }
        run = false;
    }
    (run, true)
}

/// The node a daemon pod is for: `spec.nodeName`, or the node its
/// `matchFields metadata.name` affinity names.
fn target_node(pod: &Pod) -> Option<String> {
    let spec = pod.spec.as_ref()?;
    if let Some(n) = spec.node_name.as_ref().filter(|n| !n.is_empty()) {
        return Some(n.clone());
    }
    let terms = &spec
        .affinity
        .as_ref()?
        .node_affinity
        .as_ref()?
        .required_during_scheduling_ignored_during_execution
        .as_ref()?
        .node_selector_terms;
    terms.iter().find_map(|t| {
        t.match_fields.iter().flatten().find_map(|f| {
            let values = f.values.as_deref().unwrap_or(&[]);
            (f.key == "metadata.name" && f.operator == "In" && values.len() == 1)
                .then(|| values[0].clone())
        })
    })
}

struct Controller {
    ctx: Arc<Context>,
    queue: Queue,
    expectations: Expectations,
    recorder: Recorder,
}

fn ds_owner(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> Option<Key> {
    let o = controller_of(meta)?;
    (o.kind == "DaemonSet")
        .then(|| Key::new(meta.namespace.clone().unwrap_or_default(), o.name.clone()))
}

/// Node changes that can change where daemons run.
fn node_moved(old: Option<&Node>, new: &Node) -> bool {
    let Some(old) = old else { return true };
    let taints = |n: &Node| n.spec.as_ref().and_then(|s| s.taints.clone());
    let unsched = |n: &Node| n.spec.as_ref().and_then(|s| s.unschedulable);
    old.metadata.labels != new.metadata.labels
        || taints(old) != taints(new)
        || unsched(old) != unsched(new)
}

pub fn start(ctx: &Arc<Context>) -> Vec<JoinHandle<()>> {
    let c = Arc::new(Controller {
        ctx: ctx.clone(),
        queue: Queue::default(),
        expectations: Expectations::default(),
        recorder: ctx.recorder(NAME),
    });
    let queue = c.queue.clone();
    ctx.informers
        .daemonsets
        .on_change(move |change| match change {
            Change::Applied { new, .. } => queue.add(Key::of(*new)),
            Change::Deleted(d) => queue.add(Key::of(*d)),
        });
    let me = c.clone();
    ctx.informers
        .pods
        .on_change(move |change| me.pod_changed(change));
    let me = c.clone();
    ctx.informers.nodes.on_change(move |change| {
        let moved = match change {
            Change::Applied { old, new } => node_moved(old.as_deref(), new),
            Change::Deleted(_) => true,
        };
        if moved {
            for d in me.ctx.informers.daemonsets.store().state() {
                me.queue.add(Key::of(d.as_ref()));
            }
        }
    });
    let queue = c.queue.clone();
    ctx.informers.controllerrevisions.on_change(move |change| {
        let meta = match change {
            Change::Applied { new, .. } => &new.metadata,
            Change::Deleted(r) => &r.metadata,
        };
        if let Some(k) = ds_owner(meta) {
            queue.add(k);
        }
    });
    let me = c.clone();
    spawn_workers(NAME, c.queue.clone(), WORKERS, move |key| {
        let me = me.clone();
        async move { me.reconcile(key).await }
    })
}

impl Controller {
    fn pod_changed(&self, change: &Change<'_, Pod>) {
        match change {
            Change::Applied { old, new } => {
                let owner = ds_owner(&new.metadata);
                if let Some(o) = &owner {
                    if old.is_none() {
                        self.expectations.creation_observed(o);
                    }
                    if new.metadata.deletion_timestamp.is_some() {
                        self.expectations
                            .deletion_observed(o, &new.uid().unwrap_or_default());
                    }
                    self.queue.add(o.clone());
                } else {
                    let ns = new.namespace().unwrap_or_default();
                    for d in self.ctx.informers.daemonsets.store().state() {
                        if d.namespace().as_deref() == Some(ns.as_str())
                            && matches(Some(&d.spec.selector), new.metadata.labels.as_ref())
                        {
                            self.queue.add(Key::of(d.as_ref()));
                        }
                    }
                }
                if let Some(o) = old.as_deref().and_then(|p| ds_owner(&p.metadata)) {
                    if Some(&o) != owner.as_ref() {
                        self.queue.add(o);
                    }
                }
            }
            Change::Deleted(pod) => {
                if let Some(o) = ds_owner(&pod.metadata) {
                    self.expectations
                        .deletion_observed(&o, &pod.uid().unwrap_or_default());
                    self.queue.add(o);
                }
            }
        }
    }

    async fn reconcile(&self, key: Key) -> Outcome {
        // Decide only on full caches (a pod not listed yet is not missing).
        self.ctx.informers.pods.synced().await;
        self.ctx.informers.controllerrevisions.synced().await;
        self.ctx.informers.nodes.synced().await;
        let Some(ds) = self
            .ctx
            .informers
            .daemonsets
            .store()
            .get(&ObjectRef::new(&key.name).within(&key.namespace))
        else {
            self.expectations.forget(&key);
            return Ok(None);
        };
        if ds.metadata.deletion_timestamp.is_some() {
            return Ok(None);
        }
        // Before reading the pods: a creation seen after this point is in
        // the cache we read (checked later, a pod seen between the read
        // and the check would be created twice).
        let needs_sync = self.expectations.satisfied(&key);
        let uid = ds.uid().unwrap_or_default();
        let spec = ds.spec.clone();
        let pods_api: Api<Pod> = Api::namespaced(self.ctx.client.clone(), &key.namespace);
        let revs_api: Api<ControllerRevision> =
            Api::namespaced(self.ctx.client.clone(), &key.namespace);

        // Revisions: the current one (created, or found and renumbered).
        let revs = history::owned(&self.ctx, &key.namespace, &uid);
        let status = ds.status.clone().unwrap_or_default();
        let mut collision_count = status.collision_count.unwrap_or(0);
        let current = history::current_for(
            &revs_api,
            ds.as_ref(),
            &spec.template,
            &revs,
            &mut collision_count,
        )
        .await;
        let current = match current {
            Ok(r) => r,
            Err(e) => {
                if collision_count != status.collision_count.unwrap_or(0) {
                    self.patch_status(&key, json!({"collisionCount": collision_count}))
                        .await?;
                }
                return Err(e);
            }
        };
        let hash = history::hash_of(&current);

        // Pods: owned, plus adopted orphans that match.
        let mut owned: Vec<Arc<Pod>> = Vec::new();
        for pod in self.ctx.informers.pods.store().state() {
            if pod.metadata.namespace.as_deref() != Some(key.namespace.as_str()) {
                continue;
            }
            let labels_match = matches(Some(&spec.selector), pod.metadata.labels.as_ref());
            match controller_of(&pod.metadata) {
                Some(o) if o.uid == uid => {
                    if labels_match {
                        owned.push(pod);
                    } else {
                        release(&pods_api, &pod, &uid).await?;
                    }
                }
                None if labels_match
                    && pod.metadata.deletion_timestamp.is_none()
                    && adopt(&pods_api, &pod, owner_ref(ds.as_ref()))
                        .await?
                        .is_some() =>
                {
                    owned.push(pod);
                }
                _ => {}
            }
        }
        owned.sort_by_key(|p| {
            (
                p.metadata.creation_timestamp.clone().map(|t| t.0),
                p.name_any(),
            )
        });

        let mut template_spec = spec.template.spec.clone().unwrap_or_default();
        add_daemon_tolerations(&mut template_spec);
        let min_ready = spec.min_ready_seconds.unwrap_or(0);
        let now = Timestamp::now();
        let node_objs = self.ctx.informers.nodes.store().state();
        let known: HashSet<String> = node_objs.iter().map(|n| n.name_any()).collect();
        let mut by_node: BTreeMap<String, Vec<Arc<Pod>>> = BTreeMap::new();
        let mut orphaned: Vec<Arc<Pod>> = Vec::new();
        for p in &owned {
            if p.metadata.deletion_timestamp.is_some() {
                continue;
            }
            match target_node(p) {
                Some(n) if known.contains(&n) => by_node.entry(n).or_default().push(p.clone()),
                Some(_) if p.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_some() => {
                    orphaned.push(p.clone())
                }
                _ => {}
            }
        }
        let mut nodes: Vec<NodeView> = node_objs
            .iter()
            .map(|n| {
                let (should_run, should_continue) = node_should_run(&template_spec, n);
                let name = n.name_any();
                let pods = by_node
                    .get(&name)
                    .into_iter()
                    .flatten()
                    .map(|p| PodView {
                        name: p.name_any(),
                        updated: p.labels().get(REVISION_HASH_LABEL) == Some(&hash),
                        failed: is_failed(p),
                        available: is_ready(p) && is_available(p, min_ready, now),
                    })
                    .collect();
                NodeView {
                    name,
                    should_run,
                    should_continue,
                    pods,
                }
            })
            .collect();
        nodes.sort_by(|a, b| a.name.cmp(&b.name));

        let waiting = self
            .write_status(&ds, &key, &nodes, &by_node, collision_count)
            .await?;

        if needs_sync {
            let strategy = spec.update_strategy.clone().unwrap_or_default();
            let strategy = if strategy.type_.as_deref() == Some("OnDelete") {
                Strategy::OnDelete
            } else {
                let ru = strategy.rolling_update.unwrap_or_default();
                let desired = nodes.iter().filter(|n| n.should_run).count() as i32;
                let max_surge = scaled(ru.max_surge.as_ref(), desired, 0);
                let mut max_unavailable = scaled(ru.max_unavailable.as_ref(), desired, 1);
                if max_surge == 0 && max_unavailable == 0 {
                    max_unavailable = 1;
                }
                Strategy::Rolling {
                    max_surge,
                    max_unavailable,
                }
            };
            let mut todo = plan(&nodes, strategy);
            let by_name: BTreeMap<String, &Arc<Pod>> =
                owned.iter().map(|p| (p.name_any(), p)).collect();
            let mut victims: Vec<&Arc<Pod>> = todo
                .delete
                .iter()
                .filter_map(|n| by_name.get(n).copied())
                .collect();
            victims.extend(orphaned.iter());
            todo.create.sort();
            todo.create.dedup();
            self.sync(
                &ds,
                &key,
                &pods_api,
                &template_spec,
                &hash,
                &todo.create,
                &victims,
            )
            .await?;
        }

        let mut live: HashSet<String> = owned
            .iter()
            .filter_map(|p| p.labels().get(REVISION_HASH_LABEL).cloned())
            .map(|h| history::revision_name(&key.name, &h))
            .collect();
        live.insert(current.name_any());
        history::truncate(
            &revs_api,
            &revs,
            &live,
            spec.revision_history_limit.unwrap_or(10),
        )
        .await?;
        Ok(waiting.then(|| Duration::from_secs(min_ready.max(1) as u64)))
    }

    #[allow(clippy::too_many_arguments)]
    async fn sync(
        &self,
        ds: &DaemonSet,
        key: &Key,
        api: &Api<Pod>,
        template_spec: &PodSpec,
        hash: &str,
        create: &[String],
        delete: &[&Arc<Pod>],
    ) -> Result<(), ControllerError> {
        if create.is_empty() && delete.is_empty() {
            return Ok(());
        }
        self.expectations.expect(
            key,
            create.len() as i64,
            delete.iter().map(|p| p.uid().unwrap_or_default()),
        );
        let pp = PostParams::default();
        let mut first_error = None;
        let pods: Vec<Pod> = create
            .iter()
            .map(|n| new_pod(ds, template_spec, hash, n))
            .collect::<Result<_, _>>()?;
        let created = join_all(pods.iter().map(|p| api.create(&pp, p))).await;
        for r in created {
            match r {
                Ok(p) => self.recorder.normal(
                    ds,
                    "SuccessfulCreate",
                    &format!("Created pod: {}", p.name_any()),
                ),
                Err(e) => {
                    self.expectations.creation_observed(key);
                    self.recorder
                        .warning(ds, "FailedCreate", &format!("Error creating: {e}"));
                    first_error.get_or_insert(e);
                }
            }
        }
        let deleted = join_all(delete.iter().map(|p| {
            let dp = DeleteParams {
                preconditions: Some(Preconditions {
                    uid: p.uid(),
                    resource_version: None,
                }),
                ..DeleteParams::default()
            };
            let name = p.name_any();
            async move { (name.clone(), api.delete(&name, &dp).await) }
        }))
        .await;
        for ((name, r), p) in deleted.into_iter().zip(delete) {
            match r {
                Ok(_) => {
                    self.recorder
                        .normal(ds, "SuccessfulDelete", &format!("Deleted pod: {name}"))
                }
                Err(e) => {
                    self.expectations
                        .deletion_observed(key, &p.uid().unwrap_or_default());
                    match e {
                        kube::Error::Api(s) if s.code == 404 || s.code == 409 => {}
                        e => {
                            self.recorder.warning(
                                ds,
                                "FailedDelete",
                                &format!("Error deleting: {e}"),
                            );
                            first_error.get_or_insert(e);
                        }
                    }
                }
            }
        }
        debug!(daemonset = %key, created = create.len(), deleted = delete.len(), "synced nodes");
        match first_error {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    }

    async fn patch_status(&self, key: &Key, status: Value) -> Result<(), ControllerError> {
        let api: Api<DaemonSet> = Api::namespaced(self.ctx.client.clone(), &key.namespace);
        api.patch_status(
            &key.name,
            &PatchParams::default(),
            &Patch::Merge(json!({ "status": status })),
        )
        .await?;
        Ok(())
    }

    /// Writes status if it changed; true if a pod is ready but not yet
    /// available.
    async fn write_status(
        &self,
        ds: &DaemonSet,
        key: &Key,
        nodes: &[NodeView],
        by_node: &BTreeMap<String, Vec<Arc<Pod>>>,
        collision_count: i32,
    ) -> Result<bool, ControllerError> {
        let (mut desired, mut current, mut ready, mut available, mut updated, mut mis) =
            (0, 0, 0, 0, 0, 0);
        for n in nodes {
            let scheduled = by_node.get(&n.name).is_some_and(|p| !p.is_empty());
            if n.should_run {
                desired += 1;
                if !scheduled {
                    continue;
                }
                current += 1;
                // The oldest pod counts.
                let Some(p) = n.pods.first() else { continue };
                if by_node
                    .get(&n.name)
                    .and_then(|ps| ps.first())
                    .is_some_and(|p| is_ready(p))
                {
                    ready += 1;
                    if p.available {
                        available += 1;
                    }
                }
                if n.pods.iter().any(|p| p.updated) {
                    updated += 1;
                }
            } else if scheduled {
                mis += 1;
            }
        }
        let want = json!({
            "desiredNumberScheduled": desired,
            "currentNumberScheduled": current,
            "numberReady": ready,
            "numberAvailable": available,
            "numberUnavailable": desired - available,
            "updatedNumberScheduled": updated,
            "numberMisscheduled": mis,
            "observedGeneration": ds.metadata.generation,
            "collisionCount": collision_count,
        });
        let cur = serde_json::to_value(ds.status.clone().unwrap_or_default())?;
        let differs = want.as_object().into_iter().flatten().any(|(k, v)| {
            let have = cur.get(k).unwrap_or(&Value::Null);
            have != v && !(v == &json!(0) && have.is_null())
        });
        if differs {
            self.patch_status(key, want).await?;
        }
        Ok(ready > available)
    }
}

/// A daemon pod for `node`.
fn new_pod(
    ds: &DaemonSet,
    template_spec: &PodSpec,
    hash: &str,
    node: &str,
) -> Result<Pod, serde_json::Error> {
    let meta = ds.spec.template.metadata.clone().unwrap_or_default();
    let mut labels = meta.labels.unwrap_or_default();
    labels.insert(REVISION_HASH_LABEL.to_string(), hash.to_string());
    if let Some(g) = ds.metadata.generation {
        labels.insert(TEMPLATE_GENERATION_LABEL.to_string(), g.to_string());
    }
    let mut spec = serde_json::to_value(template_spec)?;
    // ReplaceDaemonSetPodNodeNameNodeAffinity: the required terms become
    // the one node, preferred terms stay.
    let term = json!({"nodeSelectorTerms": [{"matchFields": [
        {"key": "metadata.name", "operator": "In", "values": [node]}]}]});
    if let Value::Object(s) = &mut spec {
        let affinity = s.entry("affinity").or_insert_with(|| json!({}));
        if let Value::Object(a) = affinity {
            let na = a.entry("nodeAffinity").or_insert_with(|| json!({}));
            if let Value::Object(na) = na {
                na.insert(
                    "requiredDuringSchedulingIgnoredDuringExecution".to_string(),
                    term,
                );
            }
        }
    }
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "generateName": format!("{}-", ds.name_any()),
            "namespace": ds.namespace(),
            "labels": labels,
            "annotations": meta.annotations,
            "finalizers": meta.finalizers,
            "ownerReferences": [owner_ref(ds)],
        },
        "spec": spec,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, pods: &[(&str, bool, bool)]) -> NodeView {
        NodeView {
            name: name.into(),
            should_run: true,
            should_continue: true,
            pods: pods
                .iter()
                .map(|(n, updated, available)| PodView {
                    name: (*n).into(),
                    updated: *updated,
                    failed: false,
                    available: *available,
                })
                .collect(),
        }
    }

    const ROLL1: Strategy = Strategy::Rolling {
        max_surge: 0,
        max_unavailable: 1,
    };

    #[test]
    fn one_pod_per_eligible_node() {
        let mut tainted = node("n3", &[]);
        tainted.should_run = false;
        let mut gone = node("n4", &[("d", true, true)]);
        gone.should_run = false;
        gone.should_continue = false;
        let nodes = [
            node("n1", &[]),
            node("n2", &[("a", true, true), ("b", true, true)]),
            tainted,
            gone,
        ];
        let p = plan(&nodes, ROLL1);
        assert_eq!(p.create, ["n1"]);
        assert_eq!(p.delete, ["b", "d"]);
    }

    #[test]
    fn max_unavailable_replaces_one_old_pod_at_a_time() {
        let nodes = [
            node("n1", &[("a", false, true)]),
            node("n2", &[("b", false, true)]),
        ];
        assert_eq!(plan(&nodes, ROLL1).delete, ["a"]);
        let nodes = [node("n1", &[]), node("n2", &[("b", false, true)])];
        let p = plan(&nodes, ROLL1);
        assert_eq!(
            (p.create.as_slice(), p.delete.len()),
            (["n1".to_string()].as_slice(), 0)
        );
        let nodes = [
            node("n1", &[("a2", true, true)]),
            node("n2", &[("b", false, true)]),
        ];
        assert_eq!(plan(&nodes, ROLL1).delete, ["b"]);
        assert_eq!(plan(&nodes, Strategy::OnDelete), Plan::default());
    }

    #[test]
    fn max_surge_starts_new_pods_before_deleting_old_ones() {
        let surge = Strategy::Rolling {
            max_surge: 1,
            max_unavailable: 0,
        };
        let nodes = [
            node("n1", &[("a", false, true)]),
            node("n2", &[("b", false, true)]),
        ];
        assert_eq!(plan(&nodes, surge).create, ["n1"]);
        let nodes = [
            node("n1", &[("a", false, true), ("a2", true, false)]),
            node("n2", &[("b", false, true)]),
        ];
        assert_eq!(plan(&nodes, surge), Plan::default());
        let nodes = [
            node("n1", &[("a", false, true), ("a2", true, true)]),
            node("n2", &[("b", false, true)]),
        ];
        let p = plan(&nodes, surge);
        assert_eq!(p.delete, ["a"]);
        assert!(p.create.is_empty());
    }

    #[test]
    fn eligibility_follows_selector_affinity_and_taints() {
        let n: Node = serde_json::from_value(json!({
            "metadata": {"name": "n1", "labels": {"disk": "ssd"}},
            "spec": {"taints": [{"key": "k", "value": "v", "effect": "NoSchedule"}]}
        }))
        .expect("node");
        let spec = |v: Value| -> PodSpec { serde_json::from_value(v).expect("spec") };
        let mut s = spec(json!({"containers": [], "nodeSelector": {"disk": "ssd"}}));
        assert_eq!(node_should_run(&s, &n), (false, true));
        s.tolerations = Some(vec![Toleration {
            operator: Some("Exists".into()),
            ..Toleration::default()
        }]);
        assert_eq!(node_should_run(&s, &n), (true, true));
        let s = spec(json!({"containers": [], "nodeSelector": {"disk": "hdd"}}));
        assert_eq!(node_should_run(&s, &n), (false, false));
        let mut s = spec(
            json!({"containers": [], "tolerations": [{"key": "k", "operator": "Exists"}],
            "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution":
              {"nodeSelectorTerms": [{"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}]}]}}}}),
        );
        assert_eq!(node_should_run(&s, &n), (true, true));
        add_daemon_tolerations(&mut s);
        assert_eq!(s.tolerations.as_ref().map(Vec::len), Some(7));
        let pod = Pod {
            spec: Some(
                new_pod(&DaemonSet::default(), &s, "h", "n9")
                    .expect("pod")
                    .spec
                    .unwrap_or_default(),
            ),
            ..Pod::default()
        };
        assert_eq!(target_node(&pod).as_deref(), Some("n9"));
        assert_eq!(scaled(Some(&IntOrString::String("25%".into())), 5, 1), 2);
    }
}
