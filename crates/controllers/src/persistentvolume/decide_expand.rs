//! Volume expansion of bound claims, without I/O, as kube's expand
//! controller and the kubelet leave it: when a claim asks for more than
//! its volume holds and the class allows expansion, a local-path volume
//! (a directory: nothing to resize) gets the new capacity, then the claim's
//! `status.capacity`; volumes of other provisioners wait for their
//! external resizer.

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use k8s_openapi::api::storage::v1::StorageClass;
use rkube_apimachinery::storage::{storage_bytes, LOCAL_PATH_PROVISIONER};

use super::decide_volume::provisioned_by;

#[derive(Clone, Debug, PartialEq)]
pub(super) enum ExpandStep {
    /// Grow the volume to this quantity, then finish.
    Expand(String),
    /// The volume has grown: the claim's capacity becomes the volume's
    /// (this quantity), its resize conditions go.
    Finish(String),
    /// Another provisioner's volume: its resizer expands it.
    External,
    Nothing,
}

fn quantity(
    r: Option<
        &std::collections::BTreeMap<
            String,
            k8s_openapi::apimachinery::pkg::api::resource::Quantity,
        >,
    >,
) -> Option<(i128, String)> {
    let q = r?.get("storage")?;
    Some((storage_bytes(r)?, q.0.clone()))
}

/// The step for a bound `claim` and its `volume`.
pub(super) fn decide(
    claim: &PersistentVolumeClaim,
    volume: &PersistentVolume,
    class: Option<&StorageClass>,
) -> ExpandStep {
    let requested = quantity(
        claim
            .spec
            .as_ref()
            .and_then(|s| s.resources.as_ref())
            .and_then(|r| r.requests.as_ref()),
    );
    let held = quantity(volume.spec.as_ref().and_then(|s| s.capacity.as_ref()));
    let status = claim.status.as_ref();
    let shown = quantity(status.and_then(|s| s.capacity.as_ref()));
    let (Some((want, want_q)), Some((has, has_q))) = (requested, held) else {
        return ExpandStep::Nothing;
    };
    if want > has {
        if class.is_none_or(|c| c.allow_volume_expansion != Some(true)) {
            return ExpandStep::Nothing;
        }
        if provisioned_by(volume) == Some(LOCAL_PATH_PROVISIONER) {
            return ExpandStep::Expand(want_q);
        }
        return ExpandStep::External;
    }
    let resizing = status
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Resizing"));
    let behind = shown.is_some_and(|(s, _)| s < has);
    // The volume grew (by us, or by an expansion cut short).
    if behind && (resizing || provisioned_by(volume) == Some(LOCAL_PATH_PROVISIONER)) {
        return ExpandStep::Finish(has_q);
    }
    ExpandStep::Nothing
}
