//! The scheduler's view of the cluster: every node with what the pods on
//! it request and the host ports they hold. Pods count from the moment the
//! scheduler picks their node ("assumed"), so two pods picked one after
//! the other never share the last free resources; the watch confirms the
//! binding later, or a failed binding takes the pod back off.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Pod};

use crate::resources::{allocatable, pod_requests, Amounts};
use crate::volume_cache::pod_claim_keys;

/// A host port: protocol, port, host IP (empty: all).
pub type HostPort = (String, i32, String);

/// What inter-pod affinity and topology spreading need of a placed pod.
#[derive(Debug)]
pub struct PodMeta {
    pub name: String,
    pub namespace: String,
    /// `spec.priority` (set by the Priority admission plugin).
    pub priority: i32,
    pub amounts: Amounts,
    pub deleting: bool,
    pub labels: std::collections::BTreeMap<String, String>,
    /// Its required anti-affinity terms (they bind pods that come later).
    pub anti_affinity: Vec<k8s_openapi::api::core::v1::PodAffinityTerm>,
}

impl PodMeta {
    pub fn of(pod: &Pod) -> Self {
        PodMeta {
            name: pod.metadata.name.clone().unwrap_or_default(),
            priority: pod.spec.as_ref().and_then(|s| s.priority).unwrap_or(0),
            amounts: pod_requests(pod),
            deleting: pod.metadata.deletion_timestamp.is_some(),
            namespace: pod.metadata.namespace.clone().unwrap_or_default(),
            labels: pod.metadata.labels.clone().unwrap_or_default(),
            anti_affinity: pod
                .spec
                .as_ref()
                .and_then(|s| s.affinity.as_ref())
                .and_then(|a| a.pod_anti_affinity.as_ref())
                .and_then(|a| {
                    a.required_during_scheduling_ignored_during_execution
                        .clone()
                })
                .unwrap_or_default(),
        }
    }
}

pub struct NodeInfo {
    pub node: Arc<Node>,
    /// The pods on the node (uid → what affinity rules read).
    pub pods: HashMap<String, Arc<PodMeta>>,
    pub allocatable: Amounts,
    pub requested: Amounts,
    pub ports: Vec<HostPort>,
    /// Pods on the node per controller (owner uid), for spreading.
    pub owners: HashMap<String, u32>,
}

struct Placed {
    node: String,
    meta: Arc<PodMeta>,
    amounts: Amounts,
    ports: Vec<HostPort>,
    owner: Option<String>,
    /// Its claims (`namespace/name`).
    claims: Vec<String>,
}

/// The uid of a pod's controller (ReplicaSet, Job, StatefulSet…).
pub fn owner_of(pod: &Pod) -> Option<String> {
    pod.metadata
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true))
        .map(|o| o.uid.clone())
}

#[derive(Default)]
pub struct Cache {
    pub nodes: BTreeMap<String, NodeInfo>,
    pods: HashMap<String, Placed>,
    /// Placed pods with required anti-affinity (0: nobody repels anyone,
    /// and pods without affinity rules of their own skip that work).
    pub with_anti_affinity: usize,
    /// The placed pods (uids) using each claim (`namespace/name`), for
    /// ReadWriteOncePod.
    claim_users: HashMap<String, HashSet<String>>,
}

pub fn host_ports(pod: &Pod) -> Vec<HostPort> {
    pod.spec
        .iter()
        .flat_map(|s| s.containers.iter())
        .flat_map(|c| c.ports.iter().flatten())
        .filter_map(|p| {
            let port = p.host_port.filter(|&h| h > 0)?;
            Some((
                p.protocol.clone().unwrap_or_else(|| "TCP".to_string()),
                port,
                p.host_ip.clone().unwrap_or_default(),
            ))
        })
        .collect()
}

impl Cache {
    pub fn set_node(&mut self, node: Node) {
        let name = node.metadata.name.clone().unwrap_or_default();
        let alloc = allocatable(&node);
        let node = Arc::new(node);
        if let Some(info) = self.nodes.get_mut(&name) {
            info.node = node;
            info.allocatable = alloc;
            return;
        }
        let mut info = NodeInfo {
            node,
            allocatable: alloc,
            requested: Amounts::default(),
            ports: Vec::new(),
            owners: HashMap::new(),
            pods: HashMap::new(),
        };
        for (uid, placed) in self.pods.iter().filter(|(_, p)| p.node == name) {
            info.pods.insert(uid.clone(), placed.meta.clone());
            info.requested.add(&placed.amounts);
            info.ports.extend(placed.ports.iter().cloned());
            if let Some(o) = &placed.owner {
                *info.owners.entry(o.clone()).or_insert(0) += 1;
            }
        }
        self.nodes.insert(name, info);
    }

    pub fn remove_node(&mut self, name: &str) {
        self.nodes.remove(name);
    }

    /// Counts `pod` (by `uid`) on `node`; a pod already counted elsewhere
    /// moves.
    pub fn place(&mut self, uid: &str, node: &str, pod: &Pod) {
        if let Some(p) = self.pods.get_mut(uid).filter(|p| p.node == node) {
            // Same node: only its labels or deletion may have changed.
            let labels = pod.metadata.labels.clone().unwrap_or_default();
            if p.meta.labels != labels
                || p.meta.deleting != pod.metadata.deletion_timestamp.is_some()
            {
                p.meta = Arc::new(PodMeta::of(pod));
                if let Some(info) = self.nodes.get_mut(node) {
                    info.pods.insert(uid.to_string(), p.meta.clone());
                }
            }
            return;
        }
        self.remove_pod(uid);
        let meta = Arc::new(PodMeta::of(pod));
        if !meta.anti_affinity.is_empty() {
            self.with_anti_affinity += 1;
        }
        let placed = Placed {
            meta,
            node: node.to_string(),
            amounts: pod_requests(pod),
            ports: host_ports(pod),
            owner: owner_of(pod),
            claims: pod_claim_keys(pod),
        };
        for c in &placed.claims {
            self.claim_users
                .entry(c.clone())
                .or_default()
                .insert(uid.to_string());
        }
        if let Some(info) = self.nodes.get_mut(node) {
            info.pods.insert(uid.to_string(), placed.meta.clone());
            info.requested.add(&placed.amounts);
            info.ports.extend(placed.ports.iter().cloned());
            if let Some(o) = &placed.owner {
                *info.owners.entry(o.clone()).or_insert(0) += 1;
            }
        }
        self.pods.insert(uid.to_string(), placed);
    }

    pub fn remove_pod(&mut self, uid: &str) {
        let Some(placed) = self.pods.remove(uid) else {
            return;
        };
        if !placed.meta.anti_affinity.is_empty() {
            self.with_anti_affinity -= 1;
        }
        for c in &placed.claims {
            if let Some(users) = self.claim_users.get_mut(c) {
                users.remove(uid);
                if users.is_empty() {
                    self.claim_users.remove(c);
                }
            }
        }
        if let Some(info) = self.nodes.get_mut(&placed.node) {
            info.pods.remove(uid);
            info.requested.sub(&placed.amounts);
            for p in &placed.ports {
                if let Some(i) = info.ports.iter().position(|q| q == p) {
                    info.ports.swap_remove(i);
                }
            }
            if let Some(o) = &placed.owner {
                if let Some(n) = info.owners.get_mut(o) {
                    *n -= 1;
                    if *n == 0 {
                        info.owners.remove(o);
                    }
                }
            }
        }
    }

    pub fn is_placed(&self, uid: &str) -> bool {
        self.pods.contains_key(uid)
    }

    /// The placed (bound or assumed) pods using the claim `namespace/name`.
    pub fn claim_users(&self, claim: &str) -> impl Iterator<Item = &String> {
        self.claim_users.get(claim).into_iter().flatten()
    }
}
