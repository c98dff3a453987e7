//! The disruption controller: PodDisruptionBudget `status`.
//!
//! - `expectedPods` and `desiredHealthy` from the spec: `minAvailable` as
//!   a number counts the matching pods; a percentage, or `maxUnavailable`,
//!   is taken of the pods' controllers' scale (`spec.replicas` of each
//!   ReplicaSet — or of the Deployment controlling it —, StatefulSet or
//!   ReplicationController), rounded up;
//! - `currentHealthy`: matching pods that are Ready and not being deleted
//!   nor recently evicted (`disruptedPods`, forgotten once the pod is gone
//!   or after two minutes);
//! - `disruptionsAllowed = currentHealthy - desiredHealthy` (0 while no
//!   pod is expected), `observedGeneration`, and the `DisruptionAllowed`
//!   condition (`SufficientPods` / `InsufficientPods`; `SyncFailed` with
//!   no disruption allowed when the scale cannot be found).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Pod, ReplicationController};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, PostParams};
use kube::runtime::reflector::ObjectRef;
use kube::ResourceExt;
use rkube_apimachinery::matching::label_selector_matches;
use tokio::task::JoinHandle;
use tracing::debug;

use crate::framework::context::Context;
use crate::framework::informer::Change;
use crate::framework::queue::{Key, Queue};
use crate::framework::runner::{spawn_workers, Outcome};
use crate::pods::{controller_of, is_ready};

pub const NAME: &str = "disruption-controller";
const WORKERS: usize = 2;
const CONDITION: &str = "DisruptionAllowed";
/// How long an evicted pod may take to go before it counts again.
const DELETION_TIMEOUT: SignedDuration = SignedDuration::from_secs(120);

struct Controller {
    ctx: Arc<Context>,
    queue: Queue,
}

pub fn start(ctx: &Arc<Context>) -> Vec<JoinHandle<()>> {
    let c = Arc::new(Controller {
        ctx: ctx.clone(),
        queue: Queue::default(),
    });
    let queue = c.queue.clone();
    ctx.informers
        .poddisruptionbudgets
        .on_change(move |change| match change {
            Change::Applied { new, .. } => queue.add(Key::of(*new)),
            Change::Deleted(p) => queue.add(Key::of(*p)),
        });
    let me = c.clone();
    ctx.informers.pods.on_change(move |change| {
        let (old, new): (Option<&Pod>, &Pod) = match change {
            Change::Applied { old, new } => (old.as_deref(), new),
            Change::Deleted(p) => (None, p),
        };
        for pdb in me.ctx.informers.poddisruptionbudgets.store().state() {
            if pdb.metadata.namespace != new.metadata.namespace {
                continue;
            }
            let sel = pdb.spec.as_ref().and_then(|s| s.selector.as_ref());
            if label_selector_matches(sel, new.metadata.labels.as_ref())
                || old.is_some_and(|o| label_selector_matches(sel, o.metadata.labels.as_ref()))
            {
                me.queue.add(Key::of(pdb.as_ref()));
            }
        }
    });
    // A controller's scale feeds percentages and maxUnavailable.
    let me = c.clone();
    ctx.informers
        .replicasets
        .on_change(move |ch| me.scale_changed(ch_namespace(ch)));
    let me = c.clone();
    ctx.informers
        .deployments
        .on_change(move |ch| me.scale_changed(ch_namespace(ch)));
    let me = c.clone();
    ctx.informers
        .statefulsets
        .on_change(move |ch| me.scale_changed(ch_namespace(ch)));
    let me = c.clone();
    spawn_workers(NAME, c.queue.clone(), WORKERS, move |key| {
        let me = me.clone();
        async move { me.reconcile(key).await }
    })
}

fn ch_namespace<K: kube::Resource>(change: &Change<'_, K>) -> Option<String> {
    match change {
        Change::Applied { new, .. } => new.meta().namespace.clone(),
        Change::Deleted(o) => o.meta().namespace.clone(),
    }
}

impl Controller {
    /// Queues the budgets of `ns` that scale with their pods' controllers.
    fn scale_changed(&self, ns: Option<String>) {
        for pdb in self.ctx.informers.poddisruptionbudgets.store().state() {
            let spec = pdb.spec.clone().unwrap_or_default();
            let scaled = spec.max_unavailable.is_some()
                || matches!(spec.min_available, Some(IntOrString::String(_)));
            if scaled && pdb.metadata.namespace == ns {
                self.queue.add(Key::of(pdb.as_ref()));
            }
        }
    }

    async fn reconcile(&self, key: Key) -> Outcome {
        let Some(pdb) = self
            .ctx
            .informers
            .poddisruptionbudgets
            .store()
            .get(&ObjectRef::new(&key.name).within(&key.namespace))
        else {
            return Ok(None);
        };
        let sel = pdb.spec.as_ref().and_then(|s| s.selector.as_ref());
        let pods: Vec<Arc<Pod>> = self
            .ctx
            .informers
            .pods
            .store()
            .state()
            .into_iter()
            .filter(|p| {
                p.metadata.namespace.as_deref() == Some(key.namespace.as_str())
                    && label_selector_matches(sel, p.metadata.labels.as_ref())
            })
            .collect();
        if pods.is_empty() {
            self.ctx
                .recorder(NAME)
                .normal(pdb.as_ref(), "NoPods", "No matching pods found");
        }
        let now = Timestamp::now();
        let (status, recheck) = match self.expected(&pdb, &pods).await {
            Ok((expected, desired)) => {
                let cur = pdb.status.clone().unwrap_or_default();
                let (disrupted, recheck, overdue) =
                    live_disruptions(cur.disrupted_pods.as_ref(), &pods, now);
                for name in overdue {
                    self.ctx.recorder(NAME).warning(
                        pdb.as_ref(),
                        "NotDeleted",
                        &format!(
                            "Pod {}/{name} was expected to be deleted but it wasn't, updating pdb",
                            key.namespace
                        ),
                    );
                }
                let healthy = count_healthy(&pods, &disrupted);
                (
                    budget_status(&pdb, expected, desired, healthy, disrupted, now),
                    recheck,
                )
            }
            Err((reason, message)) => {
                self.ctx
                    .recorder(NAME)
                    .warning(pdb.as_ref(), reason, &message);
                (fail_safe(&pdb, &message, now), None)
            }
        };
        if pdb.status.as_ref() != Some(&status) {
            let mut new = (*pdb).clone();
            new.status = Some(status);
            let api: Api<PodDisruptionBudget> =
                Api::namespaced(self.ctx.client.clone(), &key.namespace);
            api.replace_status(&key.name, &PostParams::default(), &new)
                .await?;
            debug!(pdb = %key, "status written");
        }
        Ok(recheck.map(|t| {
            let secs = (t.as_second() - now.as_second()).max(0) as u64;
            Duration::from_secs(secs + 1)
        }))
    }

    /// `(expectedPods, desiredHealthy)`, or the event reason and message
    /// of why the scale could not be found.
    async fn expected(
        &self,
        pdb: &PodDisruptionBudget,
        pods: &[Arc<Pod>],
    ) -> Result<(i32, i32), (&'static str, String)> {
        let spec = pdb.spec.clone().unwrap_or_default();
        if let Some(max) = &spec.max_unavailable {
            let expected = self.expected_scale(pods).await?;
            let max = scaled(max, expected).map_err(|e| ("CalculateExpectedPodCountFailed", e))?;
            return Ok((expected, (expected - max).max(0)));
        }
        match &spec.min_available {
            Some(IntOrString::Int(n)) => Ok((pods.len() as i32, *n)),
            Some(min) => {
                let expected = self.expected_scale(pods).await?;
                let min =
                    scaled(min, expected).map_err(|e| ("CalculateExpectedPodCountFailed", e))?;
                Ok((expected, min))
            }
            None => Ok((0, 0)),
        }
    }

    /// The sum of the scales of the pods' controllers.
    async fn expected_scale(&self, pods: &[Arc<Pod>]) -> Result<i32, (&'static str, String)> {
        let mut scales: HashMap<String, i32> = HashMap::new();
        for pod in pods {
            let Some(c) = controller_of(&pod.metadata) else {
                return Err((
                    "NoControllerRef",
                    format!("found no controller ref for pod {:?}", pod.name_any()),
                ));
            };
            if scales.contains_key(&c.uid) {
                continue;
            }
            let ns = pod.namespace().unwrap_or_default();
            match self.scale_of(&c.kind, &c.name, &c.uid, &ns).await {
                Some((uid, n)) => {
                    scales.insert(uid, n);
                }
                None => {
                    return Err((
                        "NoControllers",
                        format!("found no controllers for pod {:?}", pod.name_any()),
                    ))
                }
            }
        }
        Ok(scales.values().sum())
    }

    /// `(uid, replicas)` of the controller that scales a pod's owner.
    async fn scale_of(&self, kind: &str, name: &str, uid: &str, ns: &str) -> Option<(String, i32)> {
        let inf = &self.ctx.informers;
        match kind {
            "ReplicaSet" => {
                let rs = inf
                    .replicasets
                    .store()
                    .get(&ObjectRef::new(name).within(ns))
                    .filter(|rs| rs.uid().as_deref() == Some(uid))?;
                if let Some(d) = controller_of(&rs.metadata).filter(|o| o.kind == "Deployment") {
                    let dep = inf
                        .deployments
                        .store()
                        .get(&ObjectRef::new(&d.name).within(ns))
                        .filter(|x| x.uid().as_deref() == Some(d.uid.as_str()))?;
                    let n = dep.spec.replicas.unwrap_or(1);
                    return Some((d.uid.clone(), n));
                }
                let n = rs.spec.replicas.unwrap_or(1);
                Some((uid.to_string(), n))
            }
            "StatefulSet" => {
                let ss = inf
                    .statefulsets
                    .store()
                    .get(&ObjectRef::new(name).within(ns))
                    .filter(|s| s.uid().as_deref() == Some(uid))?;
                let n = ss.spec.replicas.unwrap_or(1);
                Some((uid.to_string(), n))
            }
            "ReplicationController" => {
                let api: Api<ReplicationController> = Api::namespaced(self.ctx.client.clone(), ns);
                let rc = api.get_opt(name).await.ok().flatten()?;
                (rc.uid().as_deref() == Some(uid)).then_some(())?;
                let n = rc.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
                Some((uid.to_string(), n))
            }
            _ => None,
        }
    }
}

/// An int, or a percentage of `total` rounded up (Kubernetes'
/// `GetScaledValueFromIntOrPercent` with roundUp).
pub fn scaled(v: &IntOrString, total: i32) -> Result<i32, String> {
    match v {
        IntOrString::Int(n) => Ok(*n),
        IntOrString::String(s) => {
            let pct: i64 = s
                .strip_suffix('%')
                .and_then(|p| p.parse().ok())
                .ok_or_else(|| format!("invalid value for IntOrString: invalid value {s:?}"))?;
            let n = (pct * i64::from(total) + 99).div_euclid(100);
            Ok(n as i32)
        }
    }
}

/// The recorded evictions still pending (pod there, not yet deleting,
/// within the timeout), the earliest time one of them times out, and the
/// names of those that timed out now.
pub fn live_disruptions(
    recorded: Option<&BTreeMap<String, Time>>,
    pods: &[Arc<Pod>],
    now: Timestamp,
) -> (BTreeMap<String, Time>, Option<Timestamp>, Vec<String>) {
    let mut live = BTreeMap::new();
    let mut recheck: Option<Timestamp> = None;
    let mut overdue = Vec::new();
    for (name, at) in recorded.into_iter().flatten() {
        let pod = pods
            .iter()
            .find(|p| p.metadata.name.as_deref() == Some(name));
        if pod.is_none_or(|p| p.metadata.deletion_timestamp.is_some()) {
            continue;
        }
        let Ok(deadline) = at.0.checked_add(DELETION_TIMEOUT) else {
            continue;
        };
        if deadline < now {
            overdue.push(name.clone());
            continue;
        }
        recheck = Some(recheck.map_or(deadline, |r| r.min(deadline)));
        live.insert(name.clone(), at.clone());
    }
    (live, recheck, overdue)
}

/// Ready pods not being deleted nor being evicted.
pub fn count_healthy(pods: &[Arc<Pod>], disrupted: &BTreeMap<String, Time>) -> i32 {
    pods.iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter(|p| !disrupted.contains_key(&p.name_any()))
        .filter(|p| is_ready(p))
        .count() as i32
}

/// The `DisruptionAllowed` condition, keeping its transition time while
/// its status holds.
fn condition(
    pdb: &PodDisruptionBudget,
    status: bool,
    reason: &str,
    message: &str,
    now: Timestamp,
) -> Condition {
    let status = if status { "True" } else { "False" }.to_string();
    let since = pdb
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == CONDITION))
        .filter(|c| c.status == status)
        .map(|c| c.last_transition_time.clone())
        .unwrap_or(Time(now));
    Condition {
        type_: CONDITION.to_string(),
        status,
        reason: reason.to_string(),
        message: message.to_string(),
        observed_generation: pdb.metadata.generation,
        last_transition_time: since,
    }
}

/// The status for the counts found.
pub fn budget_status(
    pdb: &PodDisruptionBudget,
    expected: i32,
    desired: i32,
    healthy: i32,
    disrupted: BTreeMap<String, Time>,
    now: Timestamp,
) -> PodDisruptionBudgetStatus {
    let allowed = if expected <= 0 {
        0
    } else {
        (healthy - desired).max(0)
    };
    let cond = if allowed > 0 {
        condition(pdb, true, "SufficientPods", "", now)
    } else {
        condition(pdb, false, "InsufficientPods", "", now)
    };
    PodDisruptionBudgetStatus {
        current_healthy: Some(healthy),
        desired_healthy: Some(desired),
        expected_pods: Some(expected),
        disruptions_allowed: Some(allowed),
        disrupted_pods: Some(disrupted).filter(|d| !d.is_empty()),
        observed_generation: pdb.metadata.generation,
        conditions: Some(vec![cond]),
    }
}

/// When the counts cannot be made: no disruption allowed.
fn fail_safe(
    pdb: &PodDisruptionBudget,
    message: &str,
    now: Timestamp,
) -> PodDisruptionBudgetStatus {
    let mut st = pdb.status.clone().unwrap_or_default();
    st.disruptions_allowed = Some(0);
    st.current_healthy = Some(st.current_healthy.unwrap_or(0));
    st.desired_healthy = Some(st.desired_healthy.unwrap_or(0));
    st.expected_pods = Some(st.expected_pods.unwrap_or(0));
    st.observed_generation = pdb.metadata.generation;
    st.conditions = Some(vec![condition(pdb, false, "SyncFailed", message, now)]);
    st
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, ready: bool, deleting: bool) -> Arc<Pod> {
        let mut meta = json!({"name": name, "namespace": "ns"});
        if deleting {
            meta["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        }
        Arc::new(
            serde_json::from_value(json!({"metadata": meta,
                "status": {"phase": "Running", "conditions": [{"type": "Ready",
                    "status": if ready {"True"} else {"False"}}]}}))
            .expect("pod"),
        )
    }

    fn pdb() -> PodDisruptionBudget {
        serde_json::from_value(
            json!({"metadata": {"name": "b", "namespace": "ns", "generation": 3},
            "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "web"}}}}),
        )
        .expect("pdb")
    }

    #[test]
    fn percentages_round_up() {
        assert_eq!(scaled(&IntOrString::String("50%".into()), 3), Ok(2));
        assert_eq!(scaled(&IntOrString::String("34%".into()), 3), Ok(2));
        assert_eq!(scaled(&IntOrString::String("0%".into()), 3), Ok(0));
        assert_eq!(scaled(&IntOrString::Int(4), 3), Ok(4));
        assert!(scaled(&IntOrString::String("x".into()), 3).is_err());
    }

    #[test]
    fn min_available_two_of_three_ready_allows_one() {
        let pods = [
            pod("a", true, false),
            pod("b", true, false),
            pod("c", true, false),
        ];
        let h = count_healthy(&pods, &BTreeMap::new());
        let st = budget_status(&pdb(), 3, 2, h, BTreeMap::new(), Timestamp::now());
        assert_eq!(st.disruptions_allowed, Some(1));
        assert_eq!(st.current_healthy, Some(3));
        assert_eq!(st.observed_generation, Some(3));
        let c = &st.conditions.unwrap_or_default()[0];
        assert_eq!(
            (c.type_.as_str(), c.status.as_str(), c.reason.as_str()),
            ("DisruptionAllowed", "True", "SufficientPods")
        );
    }

    #[test]
    fn unready_deleting_and_evicted_pods_are_not_healthy() {
        let pods = [
            pod("a", true, false),
            pod("b", false, false),
            pod("c", true, true),
            pod("d", true, false),
        ];
        let now = Timestamp::now();
        let mut rec = BTreeMap::new();
        rec.insert("d".to_string(), Time(now));
        rec.insert("gone".to_string(), Time(now));
        let old = now
            .checked_sub(SignedDuration::from_secs(300))
            .unwrap_or(now);
        rec.insert("a".to_string(), Time(old));
        let (live, recheck, overdue) = live_disruptions(Some(&rec), &pods, now);
        assert_eq!(live.keys().collect::<Vec<_>>(), ["d"]);
        assert_eq!(overdue, ["a"]);
        assert!(recheck.is_some_and(|t| t > now));
        assert_eq!(count_healthy(&pods, &live), 1);
        let st = budget_status(&pdb(), 4, 2, 1, live, now);
        assert_eq!(st.disruptions_allowed, Some(0));
        let c = &st.conditions.unwrap_or_default()[0];
        assert_eq!(
            (c.status.as_str(), c.reason.as_str()),
            ("False", "InsufficientPods")
        );
    }

    #[test]
    fn nothing_expected_allows_nothing() {
        let st = budget_status(&pdb(), 0, 0, 0, BTreeMap::new(), Timestamp::now());
        assert_eq!(st.disruptions_allowed, Some(0));
    }
}
