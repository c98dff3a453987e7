//! The ReplicationController controller (core/v1): the ReplicaSet
//! controller run for ReplicationControllers, as kube-controller-manager's
//! ReplicationManager wraps its ReplicaSetController. Only what the kind
//! holds differently is here: a selector that is a plain label map, and
//! the conditions' type.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{
    PodTemplateSpec, ReplicationController, ReplicationControllerCondition,
};
use tokio::task::JoinHandle;

use crate::framework::context::Context;
use crate::framework::informer::Informer;
use crate::replicaset::{self, Condition, ReplicaStatus, Replicated};

pub const NAME: &str = <ReplicationController as Replicated>::CONTROLLER;

pub fn start(ctx: &Arc<Context>) -> Vec<JoinHandle<()>> {
    replicaset::start_for::<ReplicationController>(ctx)
}

impl From<&ReplicationControllerCondition> for Condition {
    fn from(c: &ReplicationControllerCondition) -> Self {
        Condition {
            type_: c.type_.clone(),
            status: c.status.clone(),
            last_transition_time: c.last_transition_time.clone(),
            reason: c.reason.clone(),
            message: c.message.clone(),
        }
    }
}

/// Whether the label map `selector` selects `labels`. An empty selector
/// selects nothing: the API server defaults it from the template's labels
/// and refuses it empty, so only an object it never checked has one.
fn selects(selector: &BTreeMap<String, String>, labels: Option<&BTreeMap<String, String>>) -> bool {
    !selector.is_empty()
        && selector
            .iter()
            .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
}

impl Replicated for ReplicationController {
    const CONTROLLER: &'static str = "replicationcontroller-controller";

    fn informer(ctx: &Context) -> &Arc<Informer<Self>> {
        &ctx.informers.replicationcontrollers
    }

    fn replicas(&self) -> i32 {
        self.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
    }

    fn selects(&self, labels: Option<&BTreeMap<String, String>>) -> bool {
        self.spec
            .as_ref()
            .and_then(|s| s.selector.as_ref())
            .is_some_and(|sel| selects(sel, labels))
    }

    fn template(&self) -> Option<&PodTemplateSpec> {
        self.spec.as_ref()?.template.as_ref()
    }

    fn min_ready_seconds(&self) -> i32 {
        self.spec
            .as_ref()
            .and_then(|s| s.min_ready_seconds)
            .unwrap_or(0)
    }

    fn same_spec(&self, other: &Self) -> bool {
        self.spec == other.spec
    }

    fn replica_status(&self) -> ReplicaStatus {
        let s = self.status.clone().unwrap_or_default();
        ReplicaStatus {
            replicas: s.replicas,
            fully_labeled_replicas: s.fully_labeled_replicas.unwrap_or(0),
            ready_replicas: s.ready_replicas.unwrap_or(0),
            available_replicas: s.available_replicas.unwrap_or(0),
            observed_generation: s.observed_generation,
            conditions: s.conditions.iter().flatten().map(Condition::from).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rc(v: serde_json::Value) -> ReplicationController {
        serde_json::from_value(v).expect("a ReplicationController")
    }

    fn labels(v: serde_json::Value) -> BTreeMap<String, String> {
        serde_json::from_value(v).expect("labels")
    }

    #[test]
    fn the_selector_is_a_label_map() {
        let c = rc(json!({"metadata": {"name": "web"},
            "spec": {"selector": {"app": "web"}, "replicas": 3, "minReadySeconds": 5}}));
        assert!(c.selects(Some(&labels(json!({"app": "web", "x": "y"})))));
        assert!(!c.selects(Some(&labels(json!({"app": "db"})))));
        assert!(!c.selects(None));
        assert_eq!(c.replicas(), 3);
        assert_eq!(c.min_ready_seconds(), 5);
    }

    #[test]
    fn an_empty_or_missing_selector_selects_nothing() {
        let empty = rc(json!({"spec": {"selector": {}}}));
        assert!(!empty.selects(Some(&labels(json!({"app": "web"})))));
        let missing = rc(json!({"spec": {}}));
        assert!(!missing.selects(Some(&labels(json!({"app": "web"})))));
        assert_eq!(missing.replicas(), 1);
    }

    #[test]
    fn status_and_conditions_read_as_the_replica_sets() {
        let c = rc(
            json!({"status": {"replicas": 2, "readyReplicas": 1, "observedGeneration": 4,
            "conditions": [{"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate"}]}}),
        );
        let s = c.replica_status();
        assert_eq!(
            (s.replicas, s.ready_replicas, s.available_replicas),
            (2, 1, 0)
        );
        assert_eq!(s.observed_generation, Some(4));
        assert_eq!(s.conditions[0].type_, "ReplicaFailure");
        assert_eq!(s.conditions[0].reason.as_deref(), Some("FailedCreate"));
    }
}
