//! The HorizontalPodAutoscaler controller (kube-controller-manager's
//! `horizontalpodautoscaling`): every sync period (15 s, kube's
//! `--horizontal-pod-autoscaler-sync-period`) each HPA's target is scaled
//! to what its resource metrics ask for.
//!
//! Start with `sync.rs` (one sync of one HPA). The steps, one file each:
//! - `scale.rs`: the target's `scale` subresource through the API;
//! - `metrics.rs`: pod metrics from `metrics.k8s.io/v1beta1` (the
//!   [`metrics::MetricsSource`] seam; a fake one in the tests);
//! - `compute.rs`: the metric specs → one proposal, with events and the
//!   ScalingActive condition;
//! - `replicas.rs`: kube's replica calculation (pure);
//! - `behavior.rs`: stabilization windows and scaling policies (pure);
//! - `conditions.rs`: AbleToScale, ScalingActive, ScalingLimited.

mod behavior;
mod compute;
mod conditions;
mod metrics;
mod replicas;
mod scale;
mod sync;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use kube::api::Api;
use kube::runtime::reflector::ObjectRef;
use rkube_events::Recorder;
use tokio::task::JoinHandle;
use tracing::{debug, warn};

use crate::framework::context::Context;
use crate::framework::informer::{Change, Informer};
use crate::framework::queue::{Key, Queue};
use crate::framework::runner::{spawn_workers, Outcome};
use behavior::History;
use metrics::{ApiMetrics, MetricsSource};
use scale::Scales;

/// The event source (`horizontal-pod-autoscaler`, as kube's).
pub const NAME: &str = "horizontal-pod-autoscaler";
/// kube-controller-manager's `--concurrent-horizontal-pod-autoscaler-syncs`.
const WORKERS: usize = 5;
/// `--horizontal-pod-autoscaler-sync-period`'s default.
pub const DEFAULT_SYNC_PERIOD: Duration = Duration::from_secs(15);

pub(crate) struct Controller<M: MetricsSource> {
    ctx: Arc<Context>,
    hpas: Arc<Informer<HorizontalPodAutoscaler>>,
    recorder: Recorder,
    scales: Scales,
    metrics: M,
    /// Each HPA's recommendations and scale events.
    history: Mutex<HashMap<Key, History>>,
    sync_period: Duration,
}

pub fn start(ctx: &Arc<Context>) -> Vec<JoinHandle<()>> {
    let hpas = Informer::new(Api::all(ctx.client.clone()), "horizontalpodautoscalers");
    let c = Arc::new(Controller {
        ctx: ctx.clone(),
        hpas: hpas.clone(),
        recorder: ctx.recorder(NAME),
        scales: Scales::new(ctx.client.clone()),
        metrics: ApiMetrics(ctx.client.clone()),
        history: Mutex::default(),
        sync_period: ctx.options.hpa_sync_period,
    });
    let queue = Queue::default();
    let q = queue.clone();
    hpas.on_change(move |change| match change {
        Change::Applied { new, .. } => q.add(Key::of(*new)),
        Change::Deleted(h) => q.add(Key::of(*h)),
    });
    // The replica calculation reads pods from the shared pod informer.
    ctx.informers.pods.on_change(|_| {});
    let mut tasks: Vec<JoinHandle<()>> = hpas.start().into_iter().collect();
    let me = c.clone();
    tasks.extend(spawn_workers(NAME, queue, WORKERS, move |key| {
        let me = me.clone();
        async move { me.reconcile(key).await }
    }));
    tasks
}

impl<M: MetricsSource> Controller<M> {
    async fn reconcile(&self, key: Key) -> Outcome {
        self.hpas.synced().await;
        self.ctx.informers.pods.synced().await;
        let hpa = self
            .hpas
            .store()
            .get(&ObjectRef::new(&key.name).within(&key.namespace));
        let Some(hpa) = hpa else {
            self.history
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&key);
            return Ok(None);
        };
        if hpa.metadata.deletion_timestamp.is_some() {
            return Ok(None);
        }
        let mut history = self
            .history
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            .cloned()
            .unwrap_or_default();
        let result = self.sync(&hpa, &mut history).await;
        self.history
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.clone(), history);
        match result {
            Ok(()) => debug!(hpa = %key, "synced"),
            // As kube's HPA queue: a failed sync is tried again at the
            // next period, not sooner (its events would flood otherwise).
            Err(error) => warn!(hpa = %key, %error, "sync failed"),
        }
        Ok(Some(self.sync_period))
    }
}
