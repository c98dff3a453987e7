//! What `rkube bench cluster` runs and measures, shared by its
//! Deployment scenarios (`cluster.rs`) and its StatefulSet ones
//! (`cluster_storage.rs`).

use std::time::Duration;

use super::stats::Percentiles;

/// Sizes of one run.
#[derive(Clone, Debug)]
pub(super) struct Plan {
    pub(super) nodes: usize,
    pub(super) replicas: usize,
    pub(super) deployments: usize,
    pub(super) per_deployment: usize,
    pub(super) statefulsets: usize,
    pub(super) per_statefulset: usize,
    pub(super) timeout: Duration,
}

/// What one scenario creates.
#[derive(Clone, Copy, Debug)]
pub(super) enum Workload {
    /// `.0` Deployments of `.1` replicas.
    Deployments(usize, usize),
    /// `count` StatefulSets of `replicas`, with a claim per pod or not.
    StatefulSets {
        count: usize,
        replicas: usize,
        claims: bool,
    },
}

/// What one scenario measured.
#[derive(Debug, Default)]
pub(super) struct Outcome {
    pub(super) pods: usize,
    /// Claims seen Bound (StatefulSets with claims).
    pub(super) claims: usize,
    pub(super) all_ready: Duration,
    pub(super) startup: Option<Percentiles>,
    /// Seen created → seen bound: the part of startup spent before a node.
    pub(super) binding: Option<Percentiles>,
    pub(super) created_per_s: f64,
    pub(super) scheduled_per_s: f64,
    pub(super) peak_rss: u64,
    pub(super) cpu_s: f64,
}
