//! What the PV controller does with one claim, without I/O (Kubernetes'
//! `syncUnboundClaim` and `syncBoundClaim`): assign the default class
//! later, bind to the best volume or to the one named, wait for the first
//! consumer or a provisioner, or mark the claim Lost.

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use k8s_openapi::api::storage::v1::StorageClass;
use rkube_apimachinery::matching::{
    access_modes_contain, find_matching_volume, volume_bound_to_claim,
};
use rkube_apimachinery::storage::{
    claim_class, default_class, storage_bytes, volume_class, waits_for_first_consumer,
    BIND_COMPLETED, SELECTED_NODE,
};

use crate::framework::event::Ev;

/// Kubernetes' provisioner name for classes of statically made volumes.
pub(super) const NO_PROVISIONER: &str = "kubernetes.io/no-provisioner";

/// The next step for a claim.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum ClaimStep {
    /// Set `spec.storageClassName` to the default class (1.28+: claims
    /// made before a default class existed).
    AssignDefaultClass(String),
    /// Bind the claim and this volume both ways (each write only if it is
    /// not done yet) and make both Bound.
    Bind(String),
    /// Stay Pending, with an event; `provisioner`: annotate the claim for
    /// this provisioner.
    Pending {
        event: Option<Ev>,
        provisioner: Option<String>,
    },
    /// The claim's volume is gone or bound to another claim.
    Lost(Ev),
    Nothing,
}

fn annotated(claim: &PersistentVolumeClaim, key: &str) -> bool {
    claim
        .metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(key))
}

fn volume_mode(mode: Option<&String>) -> &str {
    mode.map(String::as_str).unwrap_or("Filesystem")
}

/// Why `volume` cannot hold `claim` (Kubernetes' `checkVolumeSatisfyClaim`),
/// `None` when it can.
pub(super) fn unsatisfied(
    volume: &PersistentVolume,
    claim: &PersistentVolumeClaim,
) -> Option<String> {
    let cs = claim.spec.as_ref();
    let vs = volume.spec.as_ref();
    let requested = storage_bytes(
        cs.and_then(|s| s.resources.as_ref())
            .and_then(|r| r.requests.as_ref()),
    )
    .unwrap_or(0);
    if volume.metadata.deletion_timestamp.is_some() {
        return Some(format!(
            "the volume is marked for deletion \"{}\"",
            volume.metadata.name.as_deref().unwrap_or_default()
        ));
    }
    let capacity = storage_bytes(vs.and_then(|s| s.capacity.as_ref())).unwrap_or(0);
    if capacity < requested {
        return Some("requested PV is too small".into());
    }
    if volume_class(volume) != claim_class(claim).unwrap_or("") {
        return Some("storageClassName does not match".into());
    }
    if volume_mode(vs.and_then(|s| s.volume_mode.as_ref()))
        != volume_mode(cs.and_then(|s| s.volume_mode.as_ref()))
    {
        return Some("incompatible volumeMode".into());
    }
    if !access_modes_contain(volume, claim) {
        return Some("incompatible accessMode".into());
    }
    None
}

/// The step for `claim`, from the volumes and classes the controller
/// sees; `waiting_pods`: the pods using the claim not scheduled yet.
pub(super) fn decide(
    claim: &PersistentVolumeClaim,
    volumes: &[&PersistentVolume],
    classes: &[&StorageClass],
    waiting_pods: &[String],
) -> ClaimStep {
    if claim.metadata.deletion_timestamp.is_some() {
        return ClaimStep::Nothing;
    }
    let volume_name = claim
        .spec
        .as_ref()
        .and_then(|s| s.volume_name.as_deref())
        .unwrap_or("");
    if volume_name.is_empty() && annotated(claim, BIND_COMPLETED) {
        return ClaimStep::Lost(Ev::warning(
            "ClaimLost",
            "Bound claim has lost reference to PersistentVolume. Data on the volume is lost!"
                .into(),
        ));
    }
    if volume_name.is_empty() {
        return unbound(claim, volumes, classes, waiting_pods);
    }
    let volume = volumes
        .iter()
        .find(|v| v.metadata.name.as_deref() == Some(volume_name));
    if !annotated(claim, BIND_COMPLETED) {
        // Pre-bound by the user to a volume by name.
        let Some(v) = volume else {
            return ClaimStep::Pending {
                event: None,
                provisioner: None,
            };
        };
        let has_ref = v.spec.as_ref().and_then(|s| s.claim_ref.as_ref()).is_some();
        if !has_ref {
            if let Some(why) = unsatisfied(v, claim) {
                return ClaimStep::Pending {
                    event: Some(Ev::warning(
                        "VolumeMismatch",
                        format!("Cannot bind to requested volume \"{volume_name}\": {why}"),
                    )),
                    provisioner: None,
                };
            }
            return ClaimStep::Bind(volume_name.to_string());
        }
        if volume_bound_to_claim(v, claim) {
            return ClaimStep::Bind(volume_name.to_string());
        }
        return ClaimStep::Pending {
            event: Some(Ev::warning(
                "FailedBinding",
                format!("volume \"{volume_name}\" already bound to a different claim."),
            )),
            provisioner: None,
        };
    }
    // Bound (or was): keep it so, or report it lost.
    let Some(v) = volume else {
        return ClaimStep::Lost(Ev::warning(
            "ClaimLost",
            "Bound claim has lost its PersistentVolume. Data on the volume is lost!".into(),
        ));
    };
    let claim_ref = v.spec.as_ref().and_then(|s| s.claim_ref.as_ref());
    match claim_ref {
        None => ClaimStep::Bind(volume_name.to_string()),
        Some(r) if r.uid.is_some() && r.uid == claim.metadata.uid => {
            ClaimStep::Bind(volume_name.to_string())
        }
        Some(_) => ClaimStep::Lost(Ev::warning(
            "ClaimMisbound",
            "Two claims are bound to the same volume, this one is bound incorrectly".into(),
        )),
    }
}

fn unbound(
    claim: &PersistentVolumeClaim,
    volumes: &[&PersistentVolume],
    classes: &[&StorageClass],
    waiting_pods: &[String],
) -> ClaimStep {
    let Some(class_name) = claim_class(claim) else {
        // A volume without a class first; else the default class, now.
        if let Some(v) = find_matching_volume(claim, volumes, None, false) {
            return ClaimStep::Bind(v.metadata.name.clone().unwrap_or_default());
        }
        return match default_class(classes.iter().copied()).and_then(|d| d.metadata.name.clone()) {
            Some(name) => ClaimStep::AssignDefaultClass(name),
            None => no_class(),
        };
    };
    let class = classes
        .iter()
        .find(|c| c.metadata.name.as_deref() == Some(class_name));
    let delay = class.is_some_and(|c| waits_for_first_consumer(c));
    if let Some(v) = find_matching_volume(claim, volumes, None, delay) {
        return ClaimStep::Bind(v.metadata.name.clone().unwrap_or_default());
    }
    if delay && !annotated(claim, SELECTED_NODE) {
        let event = match waiting_pods {
            [] => Ev::normal(
                "WaitForFirstConsumer",
                "waiting for first consumer to be created before binding".into(),
            ),
            [one] => Ev::normal(
                "WaitForPodScheduled",
                format!("waiting for pod {one} to be scheduled"),
            ),
            many => Ev::normal(
                "WaitForPodScheduled",
                format!("waiting for pods {} to be scheduled", many.join(",")),
            ),
        };
        return ClaimStep::Pending {
            event: Some(event),
            provisioner: None,
        };
    }
    if class_name.is_empty() {
        return no_class();
    }
    match class {
        None => ClaimStep::Pending {
            event: Some(Ev::warning(
                "ProvisioningFailed",
                format!("storageclass.storage.k8s.io \"{class_name}\" not found"),
            )),
            provisioner: None,
        },
        Some(c) if c.provisioner == NO_PROVISIONER => ClaimStep::Pending {
            event: Some(Ev::warning(
                "ProvisioningFailed",
                format!("no volume plugin matched name: {NO_PROVISIONER}"),
            )),
            provisioner: None,
        },
        Some(c) => ClaimStep::Pending {
            event: Some(Ev::normal(
                "ExternalProvisioning",
                format!(
                    "Waiting for a volume to be created either by the external provisioner '{}' \
                     or manually by the system administrator. If volume creation is delayed, \
                     please verify that the provisioner is running and correctly registered.",
                    c.provisioner
                ),
            )),
            provisioner: Some(c.provisioner.clone()),
        },
    }
}

fn no_class() -> ClaimStep {
    ClaimStep::Pending {
        event: Some(Ev::normal(
            "FailedBinding",
            "no persistent volumes available for this claim and no storage class is set".into(),
        )),
        provisioner: None,
    }
}
