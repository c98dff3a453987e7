//! What the replica controller reads and writes of the kind it runs for:
//! `apps/v1` ReplicaSet or `core/v1` ReplicationController (as
//! kube-controller-manager's ReplicationManager runs the ReplicaSet
//! controller for ReplicationControllers). Everything else is shared.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetCondition};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::core::NamespaceResourceScope;
use kube::Resource;
use rkube_apimachinery::matching::label_selector_matches;
use serde::de::DeserializeOwned;

use crate::framework::context::Context;
use crate::framework::informer::Informer;

/// A kind that keeps a number of pods from a template.
pub trait Replicated:
    Resource<DynamicType = (), Scope = NamespaceResourceScope>
    + Clone
    + DeserializeOwned
    + Debug
    + Send
    + Sync
    + 'static
{
    /// The controller's name, as kube-controller-manager names it.
    const CONTROLLER: &'static str;
    /// The shared informer of the kind.
    fn informer(ctx: &Context) -> &Arc<Informer<Self>>;
    /// `spec.replicas` (defaulted to 1).
    fn replicas(&self) -> i32;
    /// Whether the selector selects `labels`.
    fn selects(&self, labels: Option<&BTreeMap<String, String>>) -> bool;
    /// `spec.template`.
    fn template(&self) -> Option<&PodTemplateSpec>;
    /// `spec.minReadySeconds`.
    fn min_ready_seconds(&self) -> i32;
    /// Whether `self` and `other` have the same spec.
    fn same_spec(&self, other: &Self) -> bool;
    /// The current status, in the shape both kinds share.
    fn replica_status(&self) -> ReplicaStatus;
}

/// The status fields ReplicaSet and ReplicationController share.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReplicaStatus {
    pub replicas: i32,
    pub fully_labeled_replicas: i32,
    pub ready_replicas: i32,
    pub available_replicas: i32,
    pub observed_generation: Option<i64>,
    pub conditions: Vec<Condition>,
}

/// A status condition (`ReplicaSetCondition`,
/// `ReplicationControllerCondition`), serialized as the API has it.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl From<&ReplicaSetCondition> for Condition {
    fn from(c: &ReplicaSetCondition) -> Self {
        Condition {
            type_: c.type_.clone().unwrap_or_default(),
            status: c.status.clone().unwrap_or_default(),
            last_transition_time: c.last_transition_time.clone(),
            reason: c.reason.clone(),
            message: c.message.clone(),
        }
    }
}

impl Replicated for ReplicaSet {
    const CONTROLLER: &'static str = "replicaset-controller";

    fn informer(ctx: &Context) -> &Arc<Informer<Self>> {
        &ctx.informers.replicasets
    }

    fn replicas(&self) -> i32 {
        self.spec.replicas.unwrap_or(1)
    }

    fn selects(&self, labels: Option<&BTreeMap<String, String>>) -> bool {
        label_selector_matches(Some(&self.spec.selector), labels)
    }

    fn template(&self) -> Option<&PodTemplateSpec> {
        self.spec.template.as_ref()
    }

    fn min_ready_seconds(&self) -> i32 {
        self.spec.min_ready_seconds.unwrap_or(0)
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
