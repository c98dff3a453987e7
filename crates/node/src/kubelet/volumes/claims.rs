//! PersistentVolumeClaim and generic ephemeral volumes, as the kubelet's
//! volume manager resolves them: the pod's volume names a claim (for an
//! `ephemeral` volume the claim `<pod>-<volume>`, which must be owned by
//! the pod), the claim must be Bound, and its PersistentVolume's
//! `claimRef` must name it back. What the volume is on the host comes from
//! the PV: `hostPath` (with its `type` checks) and `local`; other sources
//! cannot be mounted by rkube's node.
//!
//! The checks are pure ([`check_claim`], [`check_volume`]) so that they
//! can be tested without an API server; [`resolve`] reads the two objects.

use std::path::PathBuf;

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim, Pod, Volume};
use kube::api::Api;
use kube::Client;
use rkube_apimachinery::matching::volume_bound_to_claim;

/// Which claim a pod's volume uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimUse {
    pub claim: String,
    /// `persistentVolumeClaim.readOnly`.
    pub read_only: bool,
    /// A generic ephemeral volume: the claim must be owned by the pod.
    pub ephemeral: bool,
}

/// The claim a volume uses, if it is a `persistentVolumeClaim` or an
/// `ephemeral` volume.
pub fn claim_use(pod: &Pod, v: &Volume) -> Option<ClaimUse> {
    if let Some(c) = &v.persistent_volume_claim {
        return Some(ClaimUse {
            claim: c.claim_name.clone(),
            read_only: c.read_only.unwrap_or(false),
            ephemeral: false,
        });
    }
    v.ephemeral.as_ref()?;
    let pod_name = pod.metadata.name.as_deref().unwrap_or_default();
    Some(ClaimUse {
        claim: format!("{pod_name}-{}", v.name),
        read_only: false,
        ephemeral: true,
    })
}

/// Why a claim's volume is not ready to mount.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ClaimError {
    /// The controllers are not done yet (the claim is missing, Pending or
    /// its volume not there): the pod waits, as the kubelet's volume
    /// manager does, and is told only after a while.
    #[error("{0}")]
    Waiting(String),
    /// Something a person must fix: told at once.
    #[error("{0}")]
    Refused(String),
}

/// What a bound claim's volume is on this node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimVolume {
    pub pv_name: String,
    pub source: VolumeSource,
    /// Mounted read-only: the pod asked for it, or the volume offers only
    /// `ReadOnlyMany`.
    pub read_only: bool,
}

/// The host side of a PersistentVolume rkube's node can mount.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VolumeSource {
    /// `hostPath`: the path and its `type` ("" for none).
    HostPath { path: PathBuf, kind: String },
    /// `local`: a path that must exist.
    Local { path: PathBuf },
}

fn key(ns: &str, name: &str) -> String {
    format!("{ns}/{name}")
}

/// The claim is usable by the pod: Bound, not being deleted, and for an
/// ephemeral volume owned by the pod.
pub fn check_claim(
    pod: &Pod,
    u: &ClaimUse,
    claim: &PersistentVolumeClaim,
) -> Result<(), ClaimError> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let k = key(ns, &u.claim);
    if u.ephemeral {
        let pod_uid = pod.metadata.uid.as_deref().unwrap_or_default();
        let owned = claim
            .metadata
            .owner_references
            .iter()
            .flatten()
            .any(|o| o.controller == Some(true) && o.kind == "Pod" && o.uid == pod_uid);
        if !owned {
            return Err(ClaimError::Refused(format!(
                "error processing PVC {k}: PVC {k} was not created for pod {ns}/{} (pod is not owner)",
                pod.metadata.name.as_deref().unwrap_or_default()
            )));
        }
    }
    if claim.metadata.deletion_timestamp.is_some() {
        return Err(ClaimError::Waiting(format!(
            "error processing PVC {k}: can't start pod because PVC is being deleted"
        )));
    }
    let phase = claim.status.as_ref().and_then(|s| s.phase.as_deref());
    let volume = claim
        .spec
        .as_ref()
        .and_then(|s| s.volume_name.as_deref())
        .unwrap_or_default();
    if phase != Some("Bound") || volume.is_empty() {
        return Err(ClaimError::Waiting(format!(
            "error processing PVC {k}: PVC is not bound"
        )));
    }
    Ok(())
}

/// The bound claim's volume names the claim back and has a source this
/// node mounts.
pub fn check_volume(
    u: &ClaimUse,
    claim: &PersistentVolumeClaim,
    pv: &PersistentVolume,
) -> Result<ClaimVolume, ClaimError> {
    let pv_name = pv.metadata.name.clone().unwrap_or_default();
    let ns = claim.metadata.namespace.as_deref().unwrap_or("default");
    if !volume_bound_to_claim(pv, claim) {
        return Err(ClaimError::Waiting(format!(
            "error processing PVC {}: found PV object {pv_name:?} but it has a claimRef that does not name this claim",
            key(ns, &u.claim)
        )));
    }
    let spec = pv.spec.clone().unwrap_or_default();
    let source = if let Some(h) = &spec.host_path {
        VolumeSource::HostPath {
            path: PathBuf::from(&h.path),
            kind: h.type_.clone().unwrap_or_default(),
        }
    } else if let Some(l) = &spec.local {
        VolumeSource::Local {
            path: PathBuf::from(&l.path),
        }
    } else {
        return Err(ClaimError::Refused(format!(
            "PersistentVolume {pv_name:?} (claim {}) has a volume source rkube's node cannot mount: only hostPath and local volumes can be mounted",
            key(ns, &u.claim)
        )));
    };
    let modes = spec.access_modes.unwrap_or_default();
    let read_only_only = !modes.is_empty() && modes.iter().all(|m| m == "ReadOnlyMany");
    Ok(ClaimVolume {
        pv_name,
        source,
        read_only: u.read_only || read_only_only,
    })
}

fn not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

/// Read the claim and its volume and check both.
pub async fn resolve(client: &Client, pod: &Pod, u: &ClaimUse) -> Result<ClaimVolume, ClaimError> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let k = key(ns, &u.claim);
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), ns);
    let claim = match claims.get(&u.claim).await {
        Ok(c) => c,
        Err(e) if not_found(&e) => {
            return Err(ClaimError::Waiting(format!(
                "error processing PVC {k}: failed to fetch PVC from API server: persistentvolumeclaims {:?} not found",
                u.claim
            )))
        }
        Err(e) => {
            return Err(ClaimError::Waiting(format!(
                "error processing PVC {k}: failed to fetch PVC from API server: {e}"
            )))
        }
    };
    check_claim(pod, u, &claim)?;
    let pv_name = claim
        .spec
        .as_ref()
        .and_then(|s| s.volume_name.clone())
        .unwrap_or_default();
    let volumes: Api<PersistentVolume> = Api::all(client.clone());
    let pv = match volumes.get(&pv_name).await {
        Ok(pv) => pv,
        Err(e) if not_found(&e) => {
            return Err(ClaimError::Waiting(format!(
                "error processing PVC {k}: failed to fetch PV {pv_name:?} from API server: persistentvolumes {pv_name:?} not found"
            )))
        }
        Err(e) => {
            return Err(ClaimError::Waiting(format!(
                "error processing PVC {k}: failed to fetch PV {pv_name:?} from API server: {e}"
            )))
        }
    };
    check_volume(u, &claim, &pv)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod() -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "web-0", "namespace": "ns", "uid": "pu"},
            "spec": {"containers": [], "volumes": [
                {"name": "data", "persistentVolumeClaim": {"claimName": "data-web-0", "readOnly": true}},
                {"name": "scratch", "ephemeral": {"volumeClaimTemplate": {"spec": {}}}},
                {"name": "e", "emptyDir": {}}]},
        }))
        .expect("test input")
    }

    fn claim(name: &str, phase: &str, owner: Option<&str>) -> PersistentVolumeClaim {
        let mut c = json!({
            "metadata": {"name": name, "namespace": "ns", "uid": "cu"},
            "spec": {"volumeName": "pv1"},
            "status": {"phase": phase},
        });
        if let Some(o) = owner {
            c["metadata"]["ownerReferences"] = json!([{"apiVersion": "v1", "kind": "Pod",
                "name": "web-0", "uid": o, "controller": true}]);
        }
        serde_json::from_value(c).expect("test input")
    }

    fn pv(source: serde_json::Value, modes: &[&str], claim_uid: &str) -> PersistentVolume {
        let mut spec = source;
        spec["accessModes"] = json!(modes);
        spec["claimRef"] = json!({"name": "data-web-0", "namespace": "ns", "uid": claim_uid});
        serde_json::from_value(json!({"metadata": {"name": "pv1"}, "spec": spec}))
            .expect("test input")
    }

    #[test]
    fn claims_of_a_pod() {
        let p = pod();
        let vols = p
            .spec
            .as_ref()
            .and_then(|s| s.volumes.clone())
            .expect("test input");
        assert_eq!(
            claim_use(&p, &vols[0]),
            Some(ClaimUse {
                claim: "data-web-0".into(),
                read_only: true,
                ephemeral: false
            })
        );
        assert_eq!(
            claim_use(&p, &vols[1]),
            Some(ClaimUse {
                claim: "web-0-scratch".into(),
                read_only: false,
                ephemeral: true
            })
        );
        assert_eq!(claim_use(&p, &vols[2]), None);
    }

    #[test]
    fn claim_must_be_bound_and_owned() {
        let p = pod();
        let u = ClaimUse {
            claim: "data-web-0".into(),
            read_only: false,
            ephemeral: false,
        };
        check_claim(&p, &u, &claim("data-web-0", "Bound", None)).expect("bound");
        assert_eq!(
            check_claim(&p, &u, &claim("data-web-0", "Pending", None)),
            Err(ClaimError::Waiting(
                "error processing PVC ns/data-web-0: PVC is not bound".into()
            ))
        );
        let e = ClaimUse {
            claim: "web-0-scratch".into(),
            read_only: false,
            ephemeral: true,
        };
        check_claim(&p, &e, &claim("web-0-scratch", "Bound", Some("pu"))).expect("owned");
        let err = check_claim(&p, &e, &claim("web-0-scratch", "Bound", Some("other")))
            .expect_err("not owned");
        assert!(
            matches!(&err, ClaimError::Refused(m) if m.ends_with("(pod is not owner)")),
            "{err}"
        );
        assert!(matches!(
            check_claim(&p, &e, &claim("web-0-scratch", "Bound", None)),
            Err(ClaimError::Refused(_))
        ));
    }

    #[test]
    fn volume_sources() {
        let u = ClaimUse {
            claim: "data-web-0".into(),
            read_only: false,
            ephemeral: false,
        };
        let c = claim("data-web-0", "Bound", None);
        let v = check_volume(
            &u,
            &c,
            &pv(
                json!({"hostPath": {"path": "/x", "type": "DirectoryOrCreate"}}),
                &["ReadWriteOnce"],
                "cu",
            ),
        )
        .expect("hostPath");
        assert_eq!(
            v.source,
            VolumeSource::HostPath {
                path: "/x".into(),
                kind: "DirectoryOrCreate".into()
            }
        );
        assert!(!v.read_only);
        let v = check_volume(
            &u,
            &c,
            &pv(json!({"local": {"path": "/l"}}), &["ReadOnlyMany"], "cu"),
        )
        .expect("local");
        assert_eq!(v.source, VolumeSource::Local { path: "/l".into() });
        assert!(v.read_only, "ReadOnlyMany only: read-only");
        let ro = ClaimUse {
            read_only: true,
            ..u.clone()
        };
        assert!(
            check_volume(
                &ro,
                &c,
                &pv(json!({"local": {"path": "/l"}}), &["ReadWriteOnce"], "cu")
            )
            .expect("local")
            .read_only
        );
        assert!(matches!(
            check_volume(&u, &c, &pv(json!({"nfs": {"server": "s", "path": "/"}}), &["ReadWriteMany"], "cu")),
            Err(ClaimError::Refused(m)) if m.contains("rkube's node cannot mount")
        ));
        assert!(matches!(
            check_volume(
                &u,
                &c,
                &pv(
                    json!({"local": {"path": "/l"}}),
                    &["ReadWriteOnce"],
                    "other"
                )
            ),
            Err(ClaimError::Waiting(_))
        ));
    }
}
