//! What the PV controller does with one volume, without I/O (Kubernetes'
//! `syncVolume` and `reclaimVolume`): Available when free, Bound when its
//! claim is bound to it, Released when the claim is gone, then kept
//! (Retain), deleted (Delete, rkube's local-path volumes), left to its
//! provisioner (Delete, other provisioners) or Failed.

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use rkube_apimachinery::storage::{LOCAL_PATH_PROVISIONER, PROVISIONED_BY};

use crate::framework::event::Ev;

/// The beta form of `pv.kubernetes.io/provisioned-by`, which external
/// provisioners also set.
const BETA_PROVISIONED_BY: &str = "pv.beta.kubernetes.io/provisioned-by";

#[derive(Clone, Debug, PartialEq)]
pub(super) enum VolumeStep {
    /// Write `status.phase` (and its transition time).
    Phase(&'static str),
    /// The claim named by `claimRef` has to finish binding: queue it.
    QueueClaim,
    /// The claim is bound elsewhere: drop the reference (all of it when the
    /// controller set it, else only its uid), back to Available.
    Unbind,
    /// The claim is gone: Released (the caller first asks the API server
    /// whether it is really gone).
    Release,
    /// Released under `Delete` and ours: delete the object.
    Delete,
    /// Reclaiming failed: phase Failed with this event.
    Fail(Ev),
    Nothing,
}

fn phase(volume: &PersistentVolume) -> &str {
    volume
        .status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

/// The provisioner that made `volume`, if one did.
pub(crate) fn provisioned_by(volume: &PersistentVolume) -> Option<&str> {
    let a = volume.metadata.annotations.as_ref()?;
    a.get(PROVISIONED_BY)
        .or_else(|| a.get(BETA_PROVISIONED_BY))
        .map(String::as_str)
}

/// The step for `volume`; `claim` is the claim its `claimRef` names, as
/// the cache has it (any uid).
pub(super) fn decide(
    volume: &PersistentVolume,
    claim: Option<&PersistentVolumeClaim>,
) -> VolumeStep {
    let step = sync(volume, claim);
    // A volume being deleted still moves through its phases (so its
    // protection can go once no claim is bound), but is not deleted again.
    if volume.metadata.deletion_timestamp.is_some() && step == VolumeStep::Delete {
        return VolumeStep::Nothing;
    }
    step
}

fn sync(volume: &PersistentVolume, claim: Option<&PersistentVolumeClaim>) -> VolumeStep {
    let Some(r) = volume.spec.as_ref().and_then(|s| s.claim_ref.as_ref()) else {
        return set_phase(volume, "Available");
    };
    let ref_uid = r.uid.as_deref().unwrap_or("");
    if ref_uid.is_empty() {
        // Reserved for a claim that has not bound yet: its sync binds.
        return match (phase(volume), claim) {
            (p, _) if p != "Available" => VolumeStep::Phase("Available"),
            (_, Some(_)) => VolumeStep::QueueClaim,
            _ => VolumeStep::Nothing,
        };
    }
    let claim = claim.filter(|c| c.metadata.uid.as_deref() == Some(ref_uid));
    let Some(claim) = claim else {
        return match phase(volume) {
            "Released" => reclaim(volume),
            "Failed" => VolumeStep::Nothing,
            _ => VolumeStep::Release,
        };
    };
    let bound_to = claim
        .spec
        .as_ref()
        .and_then(|s| s.volume_name.as_deref())
        .unwrap_or("");
    if bound_to.is_empty() {
        return VolumeStep::QueueClaim;
    }
    if Some(bound_to) == volume.metadata.name.as_deref() {
        return set_phase(volume, "Bound");
    }
    VolumeStep::Unbind
}

fn set_phase(volume: &PersistentVolume, want: &'static str) -> VolumeStep {
    if phase(volume) == want {
        VolumeStep::Nothing
    } else {
        VolumeStep::Phase(want)
    }
}

/// What a Released volume's reclaim policy asks for.
fn reclaim(volume: &PersistentVolume) -> VolumeStep {
    let policy = volume
        .spec
        .as_ref()
        .and_then(|s| s.persistent_volume_reclaim_policy.as_deref())
        .unwrap_or("Retain");
    match policy {
        "Retain" => VolumeStep::Nothing,
        "Delete" => match provisioned_by(volume) {
            Some(LOCAL_PATH_PROVISIONER) => VolumeStep::Delete,
            // Another provisioner deletes what it made.
            Some(_) => VolumeStep::Nothing,
            None => VolumeStep::Fail(Ev::warning(
                "VolumeFailedDelete",
                "error getting deleter volume plugin for volume: no deletable volume plugin \
                 matched (only volumes made by a provisioner can be deleted)"
                    .into(),
            )),
        },
        "Recycle" => VolumeStep::Fail(Ev::warning(
            "VolumeFailedRecycle",
            "No recycler plugin found for the volume!".into(),
        )),
        other => VolumeStep::Fail(Ev::warning(
            "VolumeUnknownReclaimPolicy",
            format!("Volume has unrecognized PersistentVolumeReclaimPolicy \"{other}\""),
        )),
    }
}
