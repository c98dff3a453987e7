//! The node lifecycle controller (kube-controller-manager's node lifecycle
//! and taint-eviction controllers, for what a cluster of agents needs):
//!
//! - a node whose heartbeat — its Lease in `kube-node-lease`, or its Ready
//!   condition's lastHeartbeatTime — is older than the grace period
//!   (`--node-monitor-grace-period`, 50 s by default) gets its conditions
//!   set to `Unknown` ("Kubelet stopped posting node status.");
//! - nodes carry the taints their Ready condition and `spec.unschedulable`
//!   call for: `node.kubernetes.io/unreachable` (Unknown) or
//!   `node.kubernetes.io/not-ready` (False), NoSchedule and NoExecute, and
//!   `node.kubernetes.io/unschedulable:NoSchedule`;
//! - pods on a node with a NoExecute taint they do not tolerate are
//!   deleted at once, those that tolerate it for `tolerationSeconds` once
//!   that long has passed since the taint was added (event
//!   `TaintManagerEviction`).

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod, Taint, Toleration};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, Patch, PatchParams, Preconditions};
use kube::runtime::reflector::ObjectRef;
use kube::ResourceExt;
use rkube_apimachinery::matching::tolerates;
use rkube_events::Recorder;
use serde_json::json;
use tokio::task::JoinHandle;
use tracing::info;

use crate::framework::context::Context;
use crate::framework::informer::Change;
use crate::framework::queue::{Key, Queue};
use crate::framework::runner::{spawn_workers, Outcome};

pub const NAME: &str = "node-lifecycle-controller";

pub const UNREACHABLE: &str = "node.kubernetes.io/unreachable";
pub const NOT_READY: &str = "node.kubernetes.io/not-ready";
pub const UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";

/// How often a node is looked at while healthy, at the latest.
const MONITOR_PERIOD: Duration = Duration::from_secs(5);

struct Controller {
    ctx: Arc<Context>,
    queue: Queue,
    recorder: Recorder,
}

pub fn start(ctx: &Arc<Context>) -> Vec<JoinHandle<()>> {
    let c = Arc::new(Controller {
        ctx: ctx.clone(),
        queue: Queue::default(),
        recorder: ctx.recorder(NAME),
    });
    let q = c.queue.clone();
    ctx.informers.nodes.on_change(move |change| match change {
        Change::Applied { new, .. } => q.add(Key::new("", new.name_any())),
        Change::Deleted(_) => {}
    });
    let q = c.queue.clone();
    ctx.informers.leases.on_change(move |change| {
        if let Change::Applied { new, .. } = change {
            q.add(Key::new("", new.name_any()));
        }
    });
    // A pod bound to a tainted node may need evicting.
    let q = c.queue.clone();
    ctx.informers.pods.on_change(move |change| {
        if let Change::Applied { old, new } = change {
            let node = new.spec.as_ref().and_then(|s| s.node_name.clone());
            let was = old
                .as_ref()
                .and_then(|o| o.spec.as_ref())
                .and_then(|s| s.node_name.clone());
            if let Some(n) = node.filter(|n| Some(n) != was.as_ref()) {
                q.add(Key::new("", n));
            }
        }
    });
    let me = c.clone();
    spawn_workers(NAME, c.queue.clone(), 2, move |key| {
        let me = me.clone();
        async move { me.reconcile(key).await }
    })
}

fn ready_condition(node: &Node) -> Option<&k8s_openapi::api::core::v1::NodeCondition> {
    node.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready")
}

/// The taints this controller manages, as the node's state calls for.
fn wanted_taints(node: &Node, now: &Time) -> Vec<Taint> {
    let taint = |key: &str, effect: &str| Taint {
        key: key.to_string(),
        effect: effect.to_string(),
        time_added: (effect == "NoExecute").then(|| now.clone()),
        value: None,
    };
    let mut out = Vec::new();
    match ready_condition(node).map(|c| c.status.as_str()) {
        Some("Unknown") => {
            out.push(taint(UNREACHABLE, "NoSchedule"));
            out.push(taint(UNREACHABLE, "NoExecute"));
        }
        Some("False") | None => {
            out.push(taint(NOT_READY, "NoSchedule"));
            out.push(taint(NOT_READY, "NoExecute"));
        }
        _ => {}
    }
    if node
        .spec
        .as_ref()
        .and_then(|s| s.unschedulable)
        .unwrap_or(false)
    {
        out.push(taint(UNSCHEDULABLE, "NoSchedule"));
    }
    out
}

fn managed(key: &str) -> bool {
    matches!(key, UNREACHABLE | NOT_READY | UNSCHEDULABLE)
}

/// When `pod` must go from a node with `taints`: `Some(0)` now, `Some(s)`
/// in `s` seconds, `None` never.
fn eviction_in(pod: &Pod, taints: &[Taint], now: i64) -> Option<i64> {
    let tolerations = pod
        .spec
        .as_ref()
        .and_then(|s| s.tolerations.as_deref())
        .unwrap_or(&[]);
    let mut soonest: Option<i64> = None;
    for taint in taints.iter().filter(|t| t.effect == "NoExecute") {
        let matching: Vec<&Toleration> =
            tolerations.iter().filter(|t| tolerates(t, taint)).collect();
        let wait = if matching.is_empty() {
            0
        } else if let Some(secs) = matching
            .iter()
            .filter_map(|t| t.toleration_seconds)
            .min()
            .filter(|_| matching.iter().all(|t| t.toleration_seconds.is_some()))
        {
            let added = taint
                .time_added
                .as_ref()
                .map(|t| t.0.as_second())
                .unwrap_or(now);
            (added + secs.max(0) - now).max(0)
        } else {
            continue;
        };
        soonest = Some(soonest.map_or(wait, |s| s.min(wait)));
    }
    soonest
}

impl Controller {
    async fn reconcile(&self, key: Key) -> Outcome {
        let Some(node) = self
            .ctx
            .informers
            .nodes
            .store()
            .get(&ObjectRef::new(&key.name))
        else {
            return Ok(None);
        };
        let grace = self.ctx.options.node_monitor_grace_period;
        let now = Timestamp::now();
        let lease = self
            .ctx
            .informers
            .leases
            .store()
            .get(&ObjectRef::new(&key.name).within("kube-node-lease"));
        let lease_time = lease
            .as_ref()
            .and_then(|l| l.spec.as_ref())
            .and_then(|s| s.renew_time.as_ref())
            .map(|t| t.0);
        let ready = ready_condition(&node);
        let heartbeat = ready
            .and_then(|c| c.last_heartbeat_time.as_ref())
            .map(|t| t.0);
        let created = node.metadata.creation_timestamp.as_ref().map(|t| t.0);
        let last = [lease_time, heartbeat, created]
            .into_iter()
            .flatten()
            .max()
            .unwrap_or(now);
        let silent = now.as_second() - last.as_second();
        let nodes: Api<Node> = Api::all(self.ctx.client.clone());
        if silent > grace.as_secs() as i64 && ready.is_some_and(|c| c.status != "Unknown") {
            info!(node = %key.name, silent_s = silent, "node stopped posting status; marking it Unknown");
            let at = Time(now);
            let conditions: Vec<_> = node
                .status
                .as_ref()
                .and_then(|s| s.conditions.clone())
                .unwrap_or_default()
                .into_iter()
                .map(|c| {
                    json!({"type": c.type_, "status": "Unknown", "reason": "NodeStatusUnknown",
                        "message": "Kubelet stopped posting node status.",
                        "lastHeartbeatTime": c.last_heartbeat_time, "lastTransitionTime": at})
                })
                .collect();
            nodes
                .patch_status(
                    &key.name,
                    &PatchParams::default(),
                    &Patch::Merge(json!({"status": {"conditions": conditions}})),
                )
                .await?;
            // The informer brings the new conditions back; taints then.
            return Ok(None);
        }
        let now_time = Time(now);
        let current: Vec<Taint> = node
            .spec
            .as_ref()
            .and_then(|s| s.taints.clone())
            .unwrap_or_default();
        let wanted = wanted_taints(&node, &now_time);
        let same = |a: &Taint, b: &Taint| a.key == b.key && a.effect == b.effect;
        let mut next: Vec<Taint> = current
            .iter()
            .filter(|t| !managed(&t.key) || wanted.iter().any(|w| same(w, t)))
            .cloned()
            .collect();
        for w in &wanted {
            if !next.iter().any(|t| same(t, w)) {
                next.push(w.clone());
            }
        }
        if next != current {
            nodes
                .patch(
                    &key.name,
                    &PatchParams::default(),
                    &Patch::Merge(json!({
                        "metadata": {"resourceVersion": node.resource_version()},
                        "spec": {"taints": next},
                    })),
                )
                .await?;
            return Ok(None);
        }
        let again = self.evict(&key.name, &current, now.as_second()).await?;
        // Look again when the heartbeat would be too old, or an eviction is due.
        let stale_in = (grace.as_secs() as i64 - silent).max(0) as u64 + 1;
        let next_look = Duration::from_secs(stale_in).max(MONITOR_PERIOD.min(grace));
        Ok(Some(match again {
            Some(secs) => next_look.min(Duration::from_secs(secs.max(1) as u64)),
            None => next_look,
        }))
    }

    /// Deletes the pods on `node` whose time is up; seconds to the next.
    async fn evict(
        &self,
        node: &str,
        taints: &[Taint],
        now: i64,
    ) -> Result<Option<i64>, crate::ControllerError> {
        if !taints.iter().any(|t| t.effect == "NoExecute") {
            return Ok(None);
        }
        let mut next: Option<i64> = None;
        for pod in self.ctx.informers.pods.store().state() {
            if pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) != Some(node)
                || pod.metadata.deletion_timestamp.is_some()
            {
                continue;
            }
            match eviction_in(&pod, taints, now) {
                Some(0) => {
                    let ns = pod.namespace().unwrap_or_default();
                    let name = pod.name_any();
                    self.recorder.normal(
                        pod.as_ref(),
                        "TaintManagerEviction",
                        &format!("Marking for deletion Pod {ns}/{name}"),
                    );
                    let api: Api<Pod> = Api::namespaced(self.ctx.client.clone(), &ns);
                    let dp = DeleteParams {
                        preconditions: Some(Preconditions {
                            uid: pod.uid(),
                            resource_version: None,
                        }),
                        ..DeleteParams::default()
                    };
                    match api.delete(&name, &dp).await {
                        Ok(_) => {
                            info!(pod = %name, namespace = %ns, %node, "evicted from a tainted node")
                        }
                        Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => {}
                        Err(e) => return Err(e.into()),
                    }
                }
                Some(s) => next = Some(next.map_or(s, |n| n.min(s))),
                None => {}
            }
        }
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pods_go_at_once_or_after_their_toleration_seconds() {
        let taints: Vec<Taint> = serde_json::from_value(json!([
            {"key": UNREACHABLE, "effect": "NoExecute", "timeAdded": "2026-01-01T00:00:00Z"},
            {"key": UNREACHABLE, "effect": "NoSchedule"}
        ]))
        .expect("taints");
        let added = taints[0]
            .time_added
            .as_ref()
            .map(|t| t.0.as_second())
            .unwrap_or(0);
        let pod = |tol: serde_json::Value| -> Pod {
            serde_json::from_value(
                json!({"metadata": {"name": "p"}, "spec": {"containers": [], "tolerations": tol}}),
            )
            .expect("pod")
        };
        assert_eq!(eviction_in(&pod(json!([])), &taints, added + 10), Some(0));
        let timed = pod(
            json!([{"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}]),
        );
        assert_eq!(eviction_in(&timed, &taints, added + 100), Some(200));
        assert_eq!(eviction_in(&timed, &taints, added + 400), Some(0));
        let forever = pod(json!([{"operator": "Exists"}]));
        assert_eq!(eviction_in(&forever, &taints, added + 400), None);
    }
}
