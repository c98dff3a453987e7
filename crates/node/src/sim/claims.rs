//! Claims of simulated pods, from one watch of all
//! PersistentVolumeClaims shared by every simulated node: a pod that uses
//! claims (`persistentVolumeClaim`, or an `ephemeral` volume's
//! `<pod>-<volume>`) starts only once they are all Bound, as the real
//! kubelet waits; [`Claims`] remembers the waiting pods by claim, so a
//! claim turning Bound wakes only the pods that use it.

use std::collections::{HashMap, HashSet};

use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use kube::ResourceExt;

/// `namespace/name` of the claims a pod uses.
pub fn claim_keys(pod: &Pod) -> Vec<String> {
    let ns = pod.namespace().unwrap_or_default();
    let name = pod.name_any();
    pod.spec
        .iter()
        .flat_map(|s| s.volumes.iter().flatten())
        .filter_map(|v| {
            if let Some(c) = &v.persistent_volume_claim {
                Some(format!("{ns}/{}", c.claim_name))
            } else {
                v.ephemeral
                    .as_ref()
                    .map(|_| format!("{ns}/{name}-{}", v.name))
            }
        })
        .collect()
}

fn claim_key(c: &PersistentVolumeClaim) -> String {
    format!("{}/{}", c.namespace().unwrap_or_default(), c.name_any())
}

fn is_bound(c: &PersistentVolumeClaim) -> bool {
    c.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Bound")
        && c.metadata.deletion_timestamp.is_none()
}

/// Which claims are Bound, and which pods wait for which claims.
#[derive(Default)]
pub struct Claims {
    bound: HashSet<String>,
    /// Waiting pods by uid, with the claims they wait for.
    waiting: HashMap<String, Pod>,
    by_claim: HashMap<String, HashSet<String>>,
    /// The Bound claims of a relist in progress (they replace `bound`
    /// when it is done: claims deleted while the watch was down go).
    relist: Option<HashSet<String>>,
}

impl Claims {
    /// Whether all the pod's claims are Bound; if not, the pod is kept
    /// (its newest version) until they are.
    pub fn ready_or_wait(&mut self, pod: &Pod) -> bool {
        let keys = claim_keys(pod);
        let uid = pod.uid().unwrap_or_default();
        if keys.iter().all(|k| self.bound.contains(k)) {
            self.forget(&uid);
            return true;
        }
        for k in keys {
            self.by_claim.entry(k).or_default().insert(uid.clone());
        }
        self.waiting.insert(uid, pod.clone());
        false
    }

    /// The pod is gone (or handled otherwise).
    pub fn forget(&mut self, uid: &str) {
        if let Some(pod) = self.waiting.remove(uid) {
            for k in claim_keys(&pod) {
                if let Some(set) = self.by_claim.get_mut(&k) {
                    set.remove(uid);
                    if set.is_empty() {
                        self.by_claim.remove(&k);
                    }
                }
            }
        }
    }

    /// A claim was seen: the waiting pods it may let start (to be
    /// observed again).
    pub fn claim_seen(&mut self, c: &PersistentVolumeClaim) -> Vec<Pod> {
        let key = claim_key(c);
        if !is_bound(c) {
            self.bound.remove(&key);
            return Vec::new();
        }
        self.bound.insert(key.clone());
        if let Some(r) = &mut self.relist {
            r.insert(key.clone());
        }
        self.by_claim
            .get(&key)
            .into_iter()
            .flatten()
            .filter_map(|uid| self.waiting.get(uid).cloned())
            .collect()
    }

    /// The claim watch lists again.
    pub fn relist_started(&mut self) {
        self.relist = Some(HashSet::new());
    }

    /// The relist is complete.
    pub fn relist_done(&mut self) {
        if let Some(r) = self.relist.take() {
            self.bound = r;
        }
    }

    /// Keep only the waiting pods in `live` (after the pod watch relisted).
    pub fn retain_pods(&mut self, live: &HashSet<String>) {
        let gone: Vec<String> = self
            .waiting
            .keys()
            .filter(|u| !live.contains(*u))
            .cloned()
            .collect();
        for uid in gone {
            self.forget(&uid);
        }
    }

    /// A claim was deleted.
    pub fn claim_gone(&mut self, c: &PersistentVolumeClaim) {
        self.bound.remove(&claim_key(c));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(uid: &str) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "web-0", "namespace": "ns", "uid": uid},
            "spec": {"containers": [], "volumes": [
                {"name": "data", "persistentVolumeClaim": {"claimName": "data-web-0"}},
                {"name": "tmp", "ephemeral": {"volumeClaimTemplate": {"spec": {}}}}]},
        }))
        .expect("test input")
    }

    fn claim(name: &str, phase: &str) -> PersistentVolumeClaim {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "ns"},
            "status": {"phase": phase},
        }))
        .expect("test input")
    }

    #[test]
    fn pods_wait_for_all_their_claims() {
        let mut c = Claims::default();
        assert_eq!(claim_keys(&pod("u")), vec!["ns/data-web-0", "ns/web-0-tmp"]);
        assert!(!c.ready_or_wait(&pod("u")));
        assert!(c.claim_seen(&claim("data-web-0", "Pending")).is_empty());
        assert_eq!(c.claim_seen(&claim("data-web-0", "Bound")).len(), 1);
        assert!(
            !c.ready_or_wait(&pod("u")),
            "the ephemeral claim is not bound"
        );
        assert_eq!(c.claim_seen(&claim("web-0-tmp", "Bound")).len(), 1);
        assert!(c.ready_or_wait(&pod("u")));
        assert!(c.waiting.is_empty() && c.by_claim.is_empty());
        let none: Pod = serde_json::from_value(json!({"metadata": {"name": "p", "uid": "x"}}))
            .expect("test input");
        assert!(c.ready_or_wait(&none));
        c.claim_gone(&claim("web-0-tmp", "Bound"));
        assert!(!c.ready_or_wait(&pod("u2")));
        c.retain_pods(&HashSet::new());
        assert!(c.waiting.is_empty() && c.by_claim.is_empty());
        // A relist forgets claims that went meanwhile.
        c.claim_seen(&claim("data-web-0", "Bound"));
        c.relist_started();
        c.relist_done();
        assert!(!c.ready_or_wait(&pod("u3")));
    }
}
