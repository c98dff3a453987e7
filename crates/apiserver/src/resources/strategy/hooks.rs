//! The hooks a kind's strategy may implement, each with the default a
//! simple kind has; see `mod.rs` for the table of strategies.

use bytes::Bytes;
use rkube_apimachinery::{validate, ApiError, Cause, ResourceInfo};
use serde_json::Value;

use super::super::allocator::Allocation;

/// Which admission plugins of `rkube_apimachinery::admission` look at a
/// kind's writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admitted {
    /// No plugin but the namespace lifecycle and ResourceQuota.
    Plain,
    /// ServiceAccount, DefaultTolerationSeconds, LimitRanger, Priority,
    /// PodSecurity: the pod plugins.
    Pod,
    /// DefaultStorageClass and StorageObjectInUseProtection on create,
    /// PersistentVolumeClaimResize on update: claims.
    Claim,
    /// StorageObjectInUseProtection on create: volumes.
    Volume,
}

/// What a create of a kind does instead of storing the object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateAction {
    /// Store the object (every kind but a few).
    Store,
    /// Bind the pod the body names (`bindings`).
    BindPod,
}

/// The hooks of one kind. `info` is the resource being written (a custom
/// resource's schema lives there).
pub trait Strategy: Sync {
    /// What a create does ([`CreateAction::Store`] unless overridden).
    fn create_action(&self) -> CreateAction {
        CreateAction::Store
    }

    /// Refuses a create before anything else (a custom resource whose CRD
    /// is going away).
    fn allow_create(&self, _info: &ResourceInfo) -> Result<(), ApiError> {
        Ok(())
    }

    /// Whether a new object starts at `metadata.generation` 1.
    fn has_generation(&self, _info: &ResourceInfo, obj: &Value) -> bool {
        obj.get("spec").is_some()
    }

    /// PrepareForCreate: kind-specific resets of a new object, after the
    /// generic metadata rules and after a status subresource's kind lost
    /// the status the client sent.
    fn prepare_for_create(&self, _info: &ResourceInfo, _obj: &mut Value) {}

    /// PrepareForUpdate: kind-specific changes to the new version, after
    /// the generic rules copied the system fields and (through the main
    /// resource) the status, or (through `status`) everything but status.
    fn prepare_for_update(
        &self,
        _info: &ResourceInfo,
        _old: &Value,
        _new: &mut Value,
        _status: bool,
    ) {
    }

    /// Whether an update changed what `metadata.generation` counts.
    fn spec_changed(&self, _info: &ResourceInfo, old: &Value, new: &Value) -> bool {
        new.get("spec") != old.get("spec")
    }

    /// Validate: the kind's validation of a new object (may default what
    /// a custom resource's schema defaults).
    fn validate(&self, info: &ResourceInfo, obj: &mut Value) -> Vec<Cause> {
        validate::create(&info.group, &info.kind, obj)
    }

    /// ValidateUpdate: the kind's validation of a new version.
    fn validate_update(
        &self,
        info: &ResourceInfo,
        old: &Value,
        new: &mut Value,
        status: bool,
    ) -> Vec<Cause> {
        validate::update(&info.group, &info.kind, old, new, status)
    }

    /// Canonicalize: the stored form of a valid object.
    fn canonicalize(&self, _obj: &mut Value) {}

    /// WarningsOnCreate.
    fn warnings_on_create(&self, _obj: &Value) -> Vec<String> {
        Vec::new()
    }

    /// WarningsOnUpdate.
    fn warnings_on_update(&self, _old: &Value, _new: &Value) -> Vec<String> {
        Vec::new()
    }

    /// AllowCreateOnUpdate: whether a PUT of a missing object creates it.
    fn allow_create_on_update(&self) -> bool {
        false
    }

    /// AllowUnconditionalUpdate: whether a PUT without
    /// `metadata.resourceVersion` overwrites whatever is stored (true for
    /// most built-in kinds in kube-apiserver).
    fn allow_unconditional_update(&self) -> bool {
        true
    }

    /// Whether a PATCH may be a strategic merge patch.
    fn strategic_merge(&self) -> bool {
        true
    }

    /// The admission plugins that look at the kind.
    fn admitted(&self) -> Admitted {
        Admitted::Plain
    }

    /// Allocations (keys that must not exist yet) a new object takes in
    /// the transaction that stores it; fills in what was chosen.
    fn allocate(&self, _obj: &mut Value) -> Result<Vec<Allocation>, Vec<Cause>> {
        Ok(Vec::new())
    }

    /// The allocation keys an object holds, deleted with it.
    fn held_keys(&self, _obj: &Value) -> Vec<Bytes> {
        Vec::new()
    }

    /// Refuses a delete before anything else (namespaces that may not go).
    fn check_delete(&self, _info: &ResourceInfo, _name: &str) -> Result<(), ApiError> {
        Ok(())
    }

    /// Whether something of the kind's own (not `metadata.finalizers`)
    /// keeps a deleting object (a namespace's `spec.finalizers`).
    fn deletion_held(&self, _obj: &Value) -> bool {
        false
    }

    /// The grace period a delete waits for (`requested`: the delete
    /// options'); 0 for deleting at once (a pod on a node waits for it).
    fn grace_period(&self, _obj: &Value, _requested: Option<i64>) -> i64 {
        0
    }

    /// Changes to an object as its graceful deletion starts (a namespace
    /// turns `Terminating`).
    fn begin_delete(&self, _obj: &mut Value) {}
}
