//! The node IPAM controller (kube-controller-manager's range allocator,
//! `--allocate-node-cidrs` with `--cluster-cidr` and a node mask of /24):
//! every Node without `spec.podCIDR` gets the next free /24 of the cluster
//! range in `spec.podCIDR` and `spec.podCIDRs`, which its node agent then
//! hands out to its pods.
//!
//! The ranges in use are rebuilt from the Nodes before the first one is
//! given (a restarted controller gives no range twice); a deleted Node's
//! range is free again. When every range is taken the Node gets a
//! `CIDRNotAvailable` event (Normal, "Node X status is now:
//! CIDRNotAvailable", as Kubernetes records it) and is tried again when a
//! Node with a range is deleted, or after 30 s.
//! Nodes that have a podCIDR already — simulated nodes set their own —
//! cost one comparison per update and are never written to.

use std::collections::{BTreeSet, HashMap};
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::reflector::ObjectRef;
use kube::ResourceExt;
use rkube_events::Recorder;
use serde_json::json;
use tokio::task::JoinHandle;
use tracing::{error, info, warn};

use crate::framework::context::Context;
use crate::framework::informer::Change;
use crate::framework::queue::{Key, Queue};
use crate::framework::runner::{spawn_workers, Outcome};

pub use crate::framework::context::DEFAULT_CLUSTER_CIDR;

pub const NAME: &str = "node-ipam-controller";
/// The size of each node's range (`--node-cidr-mask-size`, IPv4 default).
pub const NODE_MASK: u8 = 24;
/// When a node that found no free range is tried again.
const RETRY: Duration = Duration::from_secs(30);

/// The /`NODE_MASK` ranges of a cluster range, which of them are taken,
/// and where the next search starts (round-robin, as Kubernetes' CIDR set).
#[derive(Debug)]
pub struct CidrAllocator {
    base: u32,
    cluster_len: u8,
    count: u32,
    used: BTreeSet<u32>,
    next: u32,
}

impl CidrAllocator {
    /// The allocator of `cluster` (`10.244.0.0/16`); `None` if it is not
    /// an IPv4 CIDR or is smaller than one node's range.
    pub fn new(cluster: &str) -> Option<CidrAllocator> {
        let (base, cluster_len) = parse(cluster)?;
        // As Kubernetes' CIDR set: at most 16 bits between the two masks.
        if cluster_len > NODE_MASK || NODE_MASK - cluster_len > 16 {
            return None;
        }
        Some(CidrAllocator {
            base: base & mask(cluster_len),
            cluster_len,
            count: 1 << (NODE_MASK - cluster_len),
            used: BTreeSet::new(),
            next: 0,
        })
    }

    /// Marks `cidr` (a node's podCIDR) taken; `false` if it is not one of
    /// this cluster range's node ranges (another range, or malformed).
    pub fn occupy(&mut self, cidr: &str) -> bool {
        match self.index_of(cidr) {
            Some(i) => {
                self.used.insert(i);
                true
            }
            None => false,
        }
    }

    /// Frees `cidr`; `false` if it was not taken or not this range's.
    pub fn release(&mut self, cidr: &str) -> bool {
        self.index_of(cidr).is_some_and(|i| self.used.remove(&i))
    }

    /// Takes the next free range; `None` when all are taken.
    pub fn allocate(&mut self) -> Option<String> {
        for step in 0..self.count {
            let i = (self.next + step) % self.count;
            if self.used.insert(i) {
                self.next = (i + 1) % self.count;
                let net = Ipv4Addr::from(self.base + (i << (32 - u32::from(NODE_MASK))));
                return Some(format!("{net}/{NODE_MASK}"));
            }
        }
        None
    }

    /// How many ranges are taken.
    pub fn used(&self) -> usize {
        self.used.len()
    }

    fn index_of(&self, cidr: &str) -> Option<u32> {
        let (addr, len) = parse(cidr)?;
        if len != NODE_MASK || addr & mask(self.cluster_len) != self.base {
            return None;
        }
        if addr & !mask(NODE_MASK) != 0 {
            return None;
        }
        Some((addr - self.base) >> (32 - u32::from(NODE_MASK)))
    }
}

fn parse(cidr: &str) -> Option<(u32, u8)> {
    let (addr, len) = cidr.trim().split_once('/')?;
    let addr: Ipv4Addr = addr.parse().ok()?;
    let len: u8 = len.parse().ok().filter(|l| *l <= 32)?;
    Some((u32::from(addr), len))
}

fn mask(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len))
    }
}

/// A node's `spec.podCIDR`, if set.
fn pod_cidr(node: &Node) -> Option<&str> {
    node.spec
        .as_ref()
        .and_then(|s| s.pod_cidr.as_deref())
        .filter(|c| !c.is_empty())
}

struct Controller {
    ctx: Arc<Context>,
    recorder: Recorder,
    allocator: Mutex<Allocator>,
}

struct Allocator {
    ranges: CidrAllocator,
    /// Whether every Node's range has been marked (after the first full
    /// list); nothing is given before.
    rebuilt: bool,
    /// Ranges given by this controller that the informer has not shown
    /// yet, by node: a node queued again before its patch is seen must not
    /// get a second range.
    given: HashMap<String, String>,
}

pub fn start(ctx: &Arc<Context>) -> Vec<JoinHandle<()>> {
    let Some(cluster) = ctx.options.cluster_cidr.clone().filter(|c| !c.is_empty()) else {
        return Vec::new();
    };
    let Some(ranges) = CidrAllocator::new(&cluster) else {
        error!(cluster_cidr = %cluster,
            "--cluster-cidr must be an IPv4 range of /{NODE_MASK} or larger: nodes get no podCIDR");
        return Vec::new();
    };
    let c = Arc::new(Controller {
        ctx: ctx.clone(),
        recorder: ctx.recorder(NAME),
        allocator: Mutex::new(Allocator {
            ranges,
            rebuilt: false,
            given: HashMap::new(),
        }),
    });
    let queue = Queue::default();
    let q = queue.clone();
    let handler = c.clone();
    ctx.informers.nodes.on_change(move |change| match change {
        Change::Applied { old, new } => match pod_cidr(new) {
            None => q.add(Key::new("", new.name_any())),
            Some(cidr) => {
                let before = old.as_deref().and_then(pod_cidr);
                let mut a = handler.lock();
                a.given.remove(&new.name_any());
                if before != Some(cidr) {
                    a.ranges.occupy(cidr);
                }
            }
        },
        Change::Deleted(node) => {
            let given = handler.lock().given.remove(&node.name_any());
            let freed = pod_cidr(node)
                .or(given.as_deref())
                .is_some_and(|c| handler.lock().ranges.release(c));
            if freed {
                // Nodes waiting for a range may have one now.
                for waiting in handler.ctx.informers.nodes.store().state() {
                    if pod_cidr(&waiting).is_none() {
                        q.add(Key::new("", waiting.name_any()));
                    }
                }
            }
        }
    });
    info!(cluster_cidr = %cluster, node_mask = NODE_MASK, "allocating node pod ranges");
    spawn_workers(NAME, queue, 1, move |key| {
        let c = c.clone();
        async move { c.reconcile(key).await }
    })
}

impl Controller {
    fn lock(&self) -> std::sync::MutexGuard<'_, Allocator> {
        self.allocator.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Marks every Node's range taken, once, after the first full list.
    async fn rebuild(&self) {
        if self.lock().rebuilt {
            return;
        }
        self.ctx.informers.nodes.synced().await;
        let nodes = self.ctx.informers.nodes.store().state();
        let mut a = self.lock();
        if a.rebuilt {
            return;
        }
        for node in &nodes {
            if let Some(cidr) = pod_cidr(node) {
                a.ranges.occupy(cidr);
            }
        }
        a.rebuilt = true;
        info!(
            nodes = nodes.len(),
            ranges_in_use = a.ranges.used(),
            "node ranges rebuilt"
        );
    }

    async fn reconcile(&self, key: Key) -> Outcome {
        self.rebuild().await;
        let store = self.ctx.informers.nodes.store();
        let Some(node) = store.get(&ObjectRef::new(&key.name)) else {
            return Ok(None);
        };
        if pod_cidr(&node).is_some()
            || node.metadata.deletion_timestamp.is_some()
            || self.lock().given.contains_key(&key.name)
        {
            return Ok(None);
        }
        let Some(cidr) = self.lock().ranges.allocate() else {
            warn!(node = %key.name, "no free pod range left in the cluster range");
            self.recorder.normal(
                node.as_ref(),
                "CIDRNotAvailable",
                &format!("Node {} status is now: CIDRNotAvailable", key.name),
            );
            return Ok(Some(RETRY));
        };
        let api: Api<Node> = Api::all(self.ctx.client.clone());
        let patch = json!({"spec": {"podCIDR": cidr, "podCIDRs": [cidr]}});
        match api
            .patch(&key.name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(patched) if pod_cidr(&patched) == Some(cidr.as_str()) => {
                self.lock().given.insert(key.name.clone(), cidr.clone());
                info!(node = %key.name, pod_cidr = %cidr, "node pod range allocated");
                Ok(None)
            }
            Ok(patched) => {
                // Someone else set it first: ours is free again, theirs taken.
                let mut a = self.lock();
                a.ranges.release(&cidr);
                if let Some(theirs) = pod_cidr(&patched) {
                    a.ranges.occupy(theirs);
                }
                Ok(None)
            }
            Err(e) => {
                self.lock().ranges.release(&cidr);
                match e {
                    // Gone meanwhile, or its podCIDR was set and may not change.
                    kube::Error::Api(s) if matches!(s.code, 404 | 422) => Ok(None),
                    e => Err(e.into()),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gives_each_range_once_in_order() {
        let mut a = CidrAllocator::new("10.244.0.0/16").expect("valid");
        assert_eq!(a.allocate().as_deref(), Some("10.244.0.0/24"));
        assert_eq!(a.allocate().as_deref(), Some("10.244.1.0/24"));
        assert_eq!(a.used(), 2);
    }

    #[test]
    fn rebuilt_ranges_are_skipped() {
        let mut a = CidrAllocator::new("10.244.0.0/16").expect("valid");
        assert!(a.occupy("10.244.0.0/24"));
        assert!(a.occupy("10.244.2.0/24"));
        assert_eq!(a.allocate().as_deref(), Some("10.244.1.0/24"));
        assert_eq!(a.allocate().as_deref(), Some("10.244.3.0/24"));
    }

    #[test]
    fn other_ranges_are_ignored() {
        let mut a = CidrAllocator::new("10.244.0.0/16").expect("valid");
        // A simulated node's range, a range of another size, garbage.
        assert!(!a.occupy("10.64.3.0/24"));
        assert!(!a.occupy("10.244.0.0/25"));
        assert!(!a.occupy("10.244.0.128/24"));
        assert!(!a.occupy("nonsense"));
        assert_eq!(a.used(), 0);
    }

    #[test]
    fn exhausts_and_reuses_released_ranges() {
        let mut a = CidrAllocator::new("10.250.0.0/23").expect("valid");
        assert_eq!(a.allocate().as_deref(), Some("10.250.0.0/24"));
        assert_eq!(a.allocate().as_deref(), Some("10.250.1.0/24"));
        assert_eq!(a.allocate(), None);
        a.release("10.250.0.0/24");
        assert_eq!(a.allocate().as_deref(), Some("10.250.0.0/24"));
        assert_eq!(a.allocate(), None);
    }

    #[test]
    fn round_robin_does_not_reuse_a_freed_range_at_once() {
        let mut a = CidrAllocator::new("10.244.0.0/16").expect("valid");
        let first = a.allocate().expect("free");
        a.release(&first);
        assert_eq!(a.allocate().as_deref(), Some("10.244.1.0/24"));
    }

    #[test]
    fn refuses_unusable_cluster_ranges() {
        assert!(CidrAllocator::new("10.244.0.0/25").is_none());
        assert!(CidrAllocator::new("fd00::/48").is_none());
        assert!(CidrAllocator::new("10.244.0.0").is_none());
        let whole = CidrAllocator::new("0.0.0.0/0");
        assert!(whole.is_none(), "more than 16 bits between the masks");
        let a = CidrAllocator::new("10.0.0.0/8").expect("a /8 is fine");
        assert_eq!(a.count, 65_536);
    }
}
