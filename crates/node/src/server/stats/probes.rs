//! `/metrics/probes`: `prober_probe_total`, the kubelet's count of probe
//! results by probe type, result, container, pod, namespace and pod UID.
//! The kubelet's prober calls [`record`] after each probe; the counts
//! live for the process, as the kubelet's Go registry (one per process,
//! shared by every node in it).

use std::collections::BTreeMap;
use std::sync::{LazyLock, Mutex};

use k8s_openapi::api::core::v1::Pod;

use super::prom::{Family, Kind};

/// One series' labels: probe type, result, container, pod, namespace,
/// pod UID.
type Key = (&'static str, &'static str, String, String, String, String);

static COUNTS: LazyLock<Mutex<BTreeMap<Key, u64>>> = LazyLock::new(Mutex::default);

/// Count one probe of `container` in `pod`: `probe_type` is `Liveness`,
/// `Readiness` or `Startup`.
pub fn record(probe_type: &'static str, success: bool, container: &str, pod: &Pod) {
    let meta = &pod.metadata;
    let key = (
        probe_type,
        if success { "successful" } else { "failed" },
        container.to_string(),
        meta.name.clone().unwrap_or_default(),
        meta.namespace.clone().unwrap_or_default(),
        meta.uid.clone().unwrap_or_default(),
    );
    if let Ok(mut counts) = COUNTS.lock() {
        *counts.entry(key).or_default() += 1;
    }
}

/// Forget the series of a pod that is gone from the node.
pub fn forget_pod(uid: &str) {
    if let Ok(mut counts) = COUNTS.lock() {
        counts.retain(|k, _| k.5 != uid);
    }
}

/// The counts as a family.
pub fn families() -> Vec<Family> {
    let mut family = Family::new(
        "prober_probe_total",
        "[BETA] Cumulative number of a liveness, readiness or startup probe for a container by result.",
        Kind::Counter,
    );
    if let Ok(counts) = COUNTS.lock() {
        for ((probe_type, result, container, pod, namespace, uid), n) in counts.iter() {
            family.push(
                vec![
                    ("probe_type", probe_type.to_string()),
                    ("result", result.to_string()),
                    ("container", container.clone()),
                    ("pod", pod.clone()),
                    ("namespace", namespace.clone()),
                    ("pod_uid", uid.clone()),
                ],
                *n as f64,
                None,
            );
        }
    }
    vec![family]
}
