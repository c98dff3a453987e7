//! [`ApiPlan`]: the sizes of one `rkube bench api` run, from its options.

use std::time::Duration;

use crate::bench::args::{ApiBenchArgs, BenchBackend};

/// Sizes of one run.
#[derive(Clone, Debug)]
pub struct ApiPlan {
    pub quick: bool,
    pub clients: usize,
    pub duration: Duration,
    pub pods: usize,
    pub page: usize,
    pub watchers: usize,
    pub watch_events: usize,
    pub watch_rate: f64,
    pub backends: Vec<BenchBackend>,
}

impl ApiPlan {
    pub(super) fn from_args(a: &ApiBenchArgs) -> Self {
        let q = a.quick;
        ApiPlan {
            quick: q,
            clients: a.clients.unwrap_or(if q { 8 } else { 64 }),
            duration: a.duration.unwrap_or(if q {
                Duration::from_millis(500)
            } else {
                Duration::from_secs(5)
            }),
            pods: a.pods.unwrap_or(if q { 2_000 } else { 100_000 }),
            page: a.page.unwrap_or(500),
            watchers: a.watchers.unwrap_or(if q { 20 } else { 1_000 }),
            watch_events: a.watch_events.unwrap_or(if q { 200 } else { 10_000 }),
            watch_rate: a.watch_rate.unwrap_or(if q { 400.0 } else { 500.0 }),
            backends: a
                .backends
                .clone()
                .unwrap_or_else(|| vec![BenchBackend::Embedded, BenchBackend::Etcd]),
        }
    }
}
