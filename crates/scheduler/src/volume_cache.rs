//! The scheduler's view of storage: PersistentVolumeClaims,
//! PersistentVolumes, StorageClasses and CSIStorageCapacities, kept from
//! watches, with kube-scheduler's "assume cache" on top: a volume the
//! scheduler has chosen for a claim (its `claimRef` set) or a claim it has
//! chosen a node for (`volume.kubernetes.io/selected-node`) is seen as
//! changed from that moment, before the API write — so two pods scheduled
//! one after the other never get the same volume. The watch's next version
//! of the object replaces the assumed one; a failed binding restores the
//! watched one.
//!
//! Also here: which claims a pod uses (its `persistentVolumeClaim` and
//! generic ephemeral volumes), read by the pod cache and the volume
//! plugins alike.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim, Pod};
use k8s_openapi::api::storage::v1::{CSIStorageCapacity, StorageClass};

/// A claim's cache key: `namespace/name`.
pub fn key(namespace: &str, name: &str) -> String {
    format!("{namespace}/{name}")
}

/// A claim a pod uses, by name in the pod's namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodClaim {
    pub name: String,
    /// From a generic ephemeral volume: the ephemeral-volume controller
    /// creates it, named `<pod>-<volume>`, owned by the pod.
    pub ephemeral: bool,
}

/// The claims of `pod`'s volumes, in the order of its volumes. Empty for
/// most pods, and cheap to find out.
pub fn pod_claims(pod: &Pod) -> Vec<PodClaim> {
    let Some(volumes) = pod.spec.as_ref().and_then(|s| s.volumes.as_ref()) else {
        return Vec::new();
    };
    let pod_name = pod.metadata.name.as_deref().unwrap_or("");
    volumes
        .iter()
        .filter_map(|v| {
            if let Some(c) = &v.persistent_volume_claim {
                Some(PodClaim {
                    name: c.claim_name.clone(),
                    ephemeral: false,
                })
            } else {
                v.ephemeral.as_ref().map(|_| PodClaim {
                    name: format!("{pod_name}-{}", v.name),
                    ephemeral: true,
                })
            }
        })
        .collect()
}

/// The keys (`namespace/name`) of `pod`'s claims.
pub fn pod_claim_keys(pod: &Pod) -> Vec<String> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or("");
    pod_claims(pod)
        .into_iter()
        .map(|c| key(ns, &c.name))
        .collect()
}

fn version<T: kube::Resource>(o: &T) -> Option<&str> {
    o.meta().resource_version.as_deref()
}

#[derive(Default)]
pub struct VolumeCache {
    claims: HashMap<String, Arc<PersistentVolumeClaim>>,
    volumes: BTreeMap<String, Arc<PersistentVolume>>,
    /// Claims and volumes as the scheduler assumes them (keys as above);
    /// they win over the watched ones until the watch brings a newer
    /// version.
    assumed_claims: HashMap<String, Arc<PersistentVolumeClaim>>,
    assumed_volumes: HashMap<String, Arc<PersistentVolume>>,
    classes: HashMap<String, Arc<StorageClass>>,
    /// By `namespace/name`.
    capacities: HashMap<String, Arc<CSIStorageCapacity>>,
}

impl VolumeCache {
    pub fn set_claim(&mut self, mut claim: PersistentVolumeClaim) {
        claim.metadata.managed_fields = None;
        let k = key(
            claim.metadata.namespace.as_deref().unwrap_or(""),
            claim.metadata.name.as_deref().unwrap_or(""),
        );
        if self
            .assumed_claims
            .get(&k)
            .is_some_and(|a| version(a.as_ref()) != version(&claim))
        {
            self.assumed_claims.remove(&k);
        }
        self.claims.insert(k, Arc::new(claim));
    }

    pub fn remove_claim(&mut self, claim: &PersistentVolumeClaim) {
        let k = key(
            claim.metadata.namespace.as_deref().unwrap_or(""),
            claim.metadata.name.as_deref().unwrap_or(""),
        );
        self.claims.remove(&k);
        self.assumed_claims.remove(&k);
    }

    pub fn set_volume(&mut self, mut volume: PersistentVolume) {
        volume.metadata.managed_fields = None;
        let name = volume.metadata.name.clone().unwrap_or_default();
        if self
            .assumed_volumes
            .get(&name)
            .is_some_and(|a| version(a.as_ref()) != version(&volume))
        {
            self.assumed_volumes.remove(&name);
        }
        self.volumes.insert(name, Arc::new(volume));
    }

    pub fn remove_volume(&mut self, name: &str) {
        self.volumes.remove(name);
        self.assumed_volumes.remove(name);
    }

    pub fn set_class(&mut self, class: StorageClass) {
        let name = class.metadata.name.clone().unwrap_or_default();
        self.classes.insert(name, Arc::new(class));
    }

    pub fn remove_class(&mut self, name: &str) {
        self.classes.remove(name);
    }

    pub fn set_capacity(&mut self, capacity: CSIStorageCapacity) {
        let k = key(
            capacity.metadata.namespace.as_deref().unwrap_or(""),
            capacity.metadata.name.as_deref().unwrap_or(""),
        );
        self.capacities.insert(k, Arc::new(capacity));
    }

    pub fn remove_capacity(&mut self, capacity: &CSIStorageCapacity) {
        self.capacities.remove(&key(
            capacity.metadata.namespace.as_deref().unwrap_or(""),
            capacity.metadata.name.as_deref().unwrap_or(""),
        ));
    }

    /// The claim `namespace/name` as the scheduler sees it (assumed first).
    pub fn claim(&self, key: &str) -> Option<&Arc<PersistentVolumeClaim>> {
        self.assumed_claims
            .get(key)
            .or_else(|| self.claims.get(key))
    }

    /// The volume `name` as the scheduler sees it (assumed first).
    pub fn volume(&self, name: &str) -> Option<&Arc<PersistentVolume>> {
        self.assumed_volumes
            .get(name)
            .or_else(|| self.volumes.get(name))
    }

    /// Every volume as the scheduler sees it.
    pub fn volumes(&self) -> impl Iterator<Item = &Arc<PersistentVolume>> {
        self.volumes
            .iter()
            .map(|(name, v)| self.assumed_volumes.get(name).unwrap_or(v))
    }

    pub fn class(&self, name: &str) -> Option<&Arc<StorageClass>> {
        self.classes.get(name)
    }

    /// The CSIStorageCapacity objects published for `class`.
    pub fn capacities_of<'a>(
        &'a self,
        class: &'a str,
    ) -> impl Iterator<Item = &'a Arc<CSIStorageCapacity>> + 'a {
        self.capacities
            .values()
            .filter(move |c| c.storage_class_name == class)
    }

    /// Sees `volume` as changed (its `claimRef` set) until the watch
    /// brings a newer version or [`VolumeCache::restore_volume`].
    pub fn assume_volume(&mut self, volume: PersistentVolume) {
        let name = volume.metadata.name.clone().unwrap_or_default();
        self.assumed_volumes.insert(name, Arc::new(volume));
    }

    pub fn assume_claim(&mut self, claim: PersistentVolumeClaim) {
        let k = key(
            claim.metadata.namespace.as_deref().unwrap_or(""),
            claim.metadata.name.as_deref().unwrap_or(""),
        );
        self.assumed_claims.insert(k, Arc::new(claim));
    }

    /// Forgets what was assumed of the volume: the watched one counts again.
    pub fn restore_volume(&mut self, name: &str) {
        self.assumed_volumes.remove(name);
    }

    pub fn restore_claim(&mut self, key: &str) {
        self.assumed_claims.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pv(name: &str, rv: &str) -> PersistentVolume {
        serde_json::from_value(json!({"metadata": {"name": name, "resourceVersion": rv}}))
            .expect("pv")
    }

    #[test]
    fn an_assumed_volume_lasts_until_the_watch_brings_a_newer_one() {
        let mut c = VolumeCache::default();
        c.set_volume(pv("v", "1"));
        let mut assumed = pv("v", "1");
        assumed.metadata.labels = Some([("assumed".to_string(), "yes".to_string())].into());
        c.assume_volume(assumed);
        let labelled = |c: &VolumeCache| c.volume("v").and_then(|v| v.metadata.labels.clone());
        assert!(labelled(&c).is_some());
        // The same version again (a relist) keeps the assumption.
        c.set_volume(pv("v", "1"));
        assert!(labelled(&c).is_some());
        assert_eq!(c.volumes().count(), 1);
        assert!(c.volumes().all(|v| v.metadata.labels.is_some()));
        // A newer version replaces it.
        c.set_volume(pv("v", "2"));
        assert!(labelled(&c).is_none());
        // Restoring drops the assumption.
        c.assume_volume(pv("v", "2"));
        c.restore_volume("v");
        assert_eq!(
            c.volume("v")
                .and_then(|v| v.metadata.resource_version.clone()),
            Some("2".into())
        );
    }

    #[test]
    fn a_pods_claims_include_its_ephemeral_volumes() {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "web-0", "namespace": "ns"},
            "spec": {"containers": [], "volumes": [
                {"name": "data", "persistentVolumeClaim": {"claimName": "data-web-0"}},
                {"name": "tmp", "emptyDir": {}},
                {"name": "scratch", "ephemeral": {"volumeClaimTemplate": {"spec": {}}}}
            ]}
        }))
        .expect("pod");
        assert_eq!(
            pod_claims(&pod),
            vec![
                PodClaim {
                    name: "data-web-0".into(),
                    ephemeral: false
                },
                PodClaim {
                    name: "web-0-scratch".into(),
                    ephemeral: true
                }
            ]
        );
        assert_eq!(
            pod_claim_keys(&pod),
            vec!["ns/data-web-0", "ns/web-0-scratch"]
        );
    }
}
