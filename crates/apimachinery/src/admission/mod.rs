//! Built-in admission plugins, the pure part: given the object and what
//! the plugin reads from the cluster (its namespace, LimitRanges,
//! ResourceQuotas), mutate it or refuse it the way kube-apiserver's
//! default plugins do. The API server gathers the context and runs the
//! chain — mutating plugins, then validating ones — in
//! `crates/apiserver/src/resources/admission.rs`.
//!
//! - `pods.rs`: ServiceAccount (default `serviceAccountName`) and
//!   DefaultTolerationSeconds;
//! - `limit_ranger.rs`: LimitRange defaults and min/max;
//! - `pod_security.rs`: PodSecurity `baseline` (and `restricted`) by
//!   namespace label;
//! - `quota.rs`: ResourceQuota usage of a new object;
//! - `priority.rs`: Priority (a pod's priority from its PriorityClass);
//! - `runtime_class.rs`: RuntimeClass (overhead, node selector and
//!   tolerations from the pod's RuntimeClass);
//! - `default_storage_class.rs`: DefaultStorageClass (a new claim's
//!   class);
//! - `storage_protection.rs`: StorageObjectInUseProtection (the
//!   protection finalizers of new claims and volumes);
//! - `claim_resize.rs`: PersistentVolumeClaimResize (growing a claim only
//!   where its class allows expansion).
//!
//! NamespaceLifecycle is enforced by the storage layer itself (writes into
//! a missing namespace are 404, into a terminating one 403).

pub mod claim_resize;
pub mod default_storage_class;
pub mod limit_ranger;
pub mod pod_security;
pub mod pods;
pub mod priority;
pub mod quota;
pub mod runtime_class;
pub mod storage_protection;

use k8s_openapi::api::storage::v1::StorageClass;
use serde_json::Value;

/// A refusal: kube-apiserver answers 403 Forbidden with this reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied(pub String);

/// What the plugins read from the cluster for one request.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// The object's namespace (for its PodSecurity labels).
    pub namespace: Option<Value>,
    /// The LimitRanges of the namespace.
    pub limit_ranges: Vec<Value>,
    /// The cluster's PriorityClasses.
    pub priority_classes: Vec<Value>,
    /// The RuntimeClass the pod names, if it names one that exists.
    pub runtime_class: Option<Value>,
    /// The cluster's StorageClasses (read for a new claim).
    pub storage_classes: Vec<StorageClass>,
    /// The StorageClass an updated claim names, if it exists.
    pub claim_class: Option<StorageClass>,
}

/// Mutating plugins for a new pod (Priority may refuse it).
pub fn mutate_pod(pod: &mut Value, ctx: &Context) -> Result<(), Denied> {
    pods::default_service_account(pod);
    pods::default_toleration_seconds(pod);
    limit_ranger::apply_defaults(pod, &ctx.limit_ranges);
    priority::admit(pod, &ctx.priority_classes)?;
    runtime_class::admit(pod, ctx.runtime_class.as_ref())
}

/// Validating plugins for a new pod; `Ok` carries warnings (PodSecurity
/// `warn` mode).
pub fn validate_pod(pod: &Value, ctx: &Context) -> Result<Vec<String>, Denied> {
    limit_ranger::check(pod, &ctx.limit_ranges)?;
    runtime_class::validate(pod, ctx.runtime_class.as_ref())?;
    pod_security::admit(pod, ctx.namespace.as_ref())
}

/// The StorageClasses among objects read from the store (anything that
/// does not read as one is skipped).
pub fn storage_classes(objects: impl IntoIterator<Item = Value>) -> Vec<StorageClass> {
    objects
        .into_iter()
        .filter_map(|v| serde_json::from_value(v).ok())
        .collect()
}

/// Mutating plugins for a new claim: DefaultStorageClass, then
/// StorageObjectInUseProtection.
pub fn mutate_claim(claim: &mut Value, ctx: &Context) {
    default_storage_class::admit(claim, &ctx.storage_classes);
    storage_protection::protect_claim(claim);
}

/// Mutating plugins for a new volume: StorageObjectInUseProtection.
pub fn mutate_volume(volume: &mut Value) {
    storage_protection::protect_volume(volume);
}

/// Validating plugins for an update of a claim (not of its status):
/// PersistentVolumeClaimResize.
pub fn validate_claim_update(old: &Value, new: &Value, ctx: &Context) -> Result<(), Denied> {
    claim_resize::validate(old, new, ctx.claim_class.as_ref())
}

#[cfg(test)]
mod tests;
