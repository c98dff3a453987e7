//! The target's `scale` subresource, read and written through the API as
//! kube's scale client does: Deployments, ReplicaSets, StatefulSets,
//! ReplicationControllers, and any kind (a custom resource) whose
//! resource has a `scale` subresource, found through discovery once per
//! group/version/kind.

use std::collections::HashMap;
use std::sync::Mutex;

use k8s_openapi::api::autoscaling::v1::Scale;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::Client;
use serde_json::json;

/// The scale of one target, as kube's `Scale`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetScale {
    /// `spec.replicas`.
    pub spec_replicas: i32,
    /// `status.replicas`.
    pub status_replicas: i32,
    /// `status.selector` (a label selector string; may be empty).
    pub selector: String,
}

impl From<&Scale> for TargetScale {
    fn from(s: &Scale) -> Self {
        TargetScale {
            spec_replicas: s.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0),
            status_replicas: s.status.as_ref().map(|s| s.replicas).unwrap_or(0),
            selector: s
                .status
                .as_ref()
                .and_then(|s| s.selector.clone())
                .unwrap_or_default(),
        }
    }
}

/// Why a target's scale could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ScaleError {
    /// `scaleTargetRef.apiVersion` does not parse.
    #[error("invalid API version {0:?} in scale target reference")]
    ApiVersion(String),
    /// Discovery does not know the kind.
    #[error("unable to determine resource for scale target reference: {0}")]
    Unknown(String),
    /// The API refused or failed (shown as the API's message, as Go's
    /// client shows a Status).
    #[error("{}", api_message(.0))]
    Kube(#[from] kube::Error),
}

/// The message of an API error's Status, else the error.
pub fn api_message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) if !s.message.is_empty() => s.message.clone(),
        other => other.to_string(),
    }
}

/// Scale reads and writes, with the kinds found so far.
pub struct Scales {
    client: Client,
    resources: Mutex<HashMap<(String, String, String), ApiResource>>,
}

/// The built-in kinds with a scale subresource (no discovery needed).
fn builtin(group: &str, version: &str, kind: &str) -> Option<ApiResource> {
    let plural = match (group, kind) {
        ("apps", "Deployment") => "deployments",
        ("apps", "ReplicaSet") => "replicasets",
        ("apps", "StatefulSet") => "statefulsets",
        ("", "ReplicationController") => "replicationcontrollers",
        _ => return None,
    };
    let gvk = GroupVersionKind::gvk(group, version, kind);
    Some(ApiResource::from_gvk_with_plural(&gvk, plural))
}

impl Scales {
    pub fn new(client: Client) -> Self {
        Scales {
            client,
            resources: Mutex::default(),
        }
    }

    async fn resource(&self, api_version: &str, kind: &str) -> Result<ApiResource, ScaleError> {
        // An empty apiVersion names the core group, as Go's
        // ParseGroupVersion reads it.
        let (group, version) = match api_version.split_once('/') {
            Some((g, v)) => (g, v),
            None if api_version.is_empty() => ("", "v1"),
            None => ("", api_version),
        };
        if version.is_empty() || api_version.matches('/').count() > 1 {
            return Err(ScaleError::ApiVersion(api_version.to_string()));
        }
        if let Some(r) = builtin(group, version, kind) {
            return Ok(r);
        }
        let key = (group.to_string(), version.to_string(), kind.to_string());
        if let Some(r) = self
            .resources
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return Ok(r.clone());
        }
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let (r, _) = kube::discovery::pinned_kind(&self.client, &gvk)
            .await
            .map_err(|e| ScaleError::Unknown(e.to_string()))?;
        self.resources
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, r.clone());
        Ok(r)
    }

    fn api(&self, r: &ApiResource, namespace: &str) -> Api<DynamicObject> {
        Api::namespaced_with(self.client.clone(), namespace, r)
    }

    /// The target's scale.
    pub async fn get(
        &self,
        namespace: &str,
        api_version: &str,
        kind: &str,
        name: &str,
    ) -> Result<TargetScale, ScaleError> {
        let r = self.resource(api_version, kind).await?;
        let scale = self.api(&r, namespace).get_scale(name).await?;
        Ok(TargetScale::from(&scale))
    }

    /// Sets the target's `spec.replicas` through its scale.
    pub async fn set(
        &self,
        namespace: &str,
        api_version: &str,
        kind: &str,
        name: &str,
        replicas: i32,
    ) -> Result<(), ScaleError> {
        let r = self.resource(api_version, kind).await?;
        let patch = json!({"spec": {"replicas": replicas}});
        self.api(&r, namespace)
            .patch_scale(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
        Ok(())
    }
}
