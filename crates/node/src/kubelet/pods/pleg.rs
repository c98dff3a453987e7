//! The relist (the kubelet's PLEG): one `list_pod_sandboxes` and one
//! `list_containers` every `relist_period` (or sooner when a worker asks,
//! after it changed something), grouped by pod uid and shared by every
//! worker through a `watch` channel.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rkube_cri::RuntimeService;
use tokio::sync::{watch, Notify};
use tokio::time::Instant;
use tracing::warn;

use crate::kubelet::pods::view::PodRuntime;

/// What the runtime had at one relist.
#[derive(Debug, Default)]
pub struct Relist {
    /// Counts relists; 0 before the first.
    pub seq: u64,
    /// When the listing began: it shows every change made before.
    pub started: Option<Instant>,
    /// Each pod's sandboxes and containers, by pod uid.
    pub pods: HashMap<String, PodRuntime>,
}

impl Relist {
    /// The pod's part (empty if the runtime has nothing of it).
    pub fn pod(&self, uid: &str) -> PodRuntime {
        self.pods.get(uid).cloned().unwrap_or_default()
    }
}

/// One listing of the runtime, grouped by pod.
pub async fn list(runtime: &dyn RuntimeService, seq: u64) -> Option<Relist> {
    let started = Instant::now();
    let sandboxes = match runtime.list_pod_sandboxes().await {
        Ok(s) => s,
        Err(error) => {
            warn!(%error, "cannot list the pod sandboxes");
            return None;
        }
    };
    let containers = match runtime.list_containers().await {
        Ok(c) => c,
        Err(error) => {
            warn!(%error, "cannot list the containers");
            return None;
        }
    };
    let mut pods: HashMap<String, PodRuntime> = HashMap::new();
    let mut owner: HashMap<String, String> = HashMap::new();
    for s in sandboxes {
        owner.insert(s.id.clone(), s.pod_uid.clone());
        pods.entry(s.pod_uid.clone()).or_default().sandboxes.push(s);
    }
    for c in containers {
        if let Some(uid) = owner.get(&c.sandbox_id) {
            pods.entry(uid.clone()).or_default().containers.push(c);
        }
    }
    Some(Relist {
        seq,
        started: Some(started),
        pods,
    })
}

/// Relist every `period`, or at once when `asked`, until dropped.
pub async fn run(
    runtime: Arc<dyn RuntimeService>,
    period: Duration,
    asked: Arc<Notify>,
    out: watch::Sender<Arc<Relist>>,
) {
    let mut seq = 0;
    loop {
        seq += 1;
        if let Some(relist) = list(runtime.as_ref(), seq).await {
            if out.send(Arc::new(relist)).is_err() {
                return;
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            _ = asked.notified() => {}
        }
    }
}
