//! `/metrics/resource`: the kubelet's resource metrics (what
//! metrics-server scrapes), with its names, help texts, stabilities,
//! labels and timestamps.

use std::time::{SystemTime, UNIX_EPOCH};

use super::collect::Snapshot;
use super::prom::{Family, Kind};

const NS: f64 = 1e9;

fn secs(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

/// The families for `snapshot`, or only `scrape_error` 1 when the
/// reading failed (`None`).
pub fn families(snapshot: Option<&Snapshot>) -> Vec<Family> {
    let mut node_cpu = Family::new(
        "node_cpu_usage_seconds_total",
        "[STABLE] Cumulative cpu time consumed by the node in core-seconds",
        Kind::Counter,
    );
    let mut node_memory = Family::new(
        "node_memory_working_set_bytes",
        "[STABLE] Current working set of the node in bytes",
        Kind::Gauge,
    );
    let mut container_cpu = Family::new(
        "container_cpu_usage_seconds_total",
        "[STABLE] Cumulative cpu time consumed by the container in core-seconds",
        Kind::Counter,
    );
    let mut container_memory = Family::new(
        "container_memory_working_set_bytes",
        "[STABLE] Current working set of the container in bytes",
        Kind::Gauge,
    );
    let mut container_start = Family::new(
        "container_start_time_seconds",
        "[STABLE] Start time of the container since unix epoch in seconds",
        Kind::Gauge,
    );
    let mut pod_cpu = Family::new(
        "pod_cpu_usage_seconds_total",
        "[STABLE] Cumulative cpu time consumed by the pod in core-seconds",
        Kind::Counter,
    );
    let mut pod_memory = Family::new(
        "pod_memory_working_set_bytes",
        "[STABLE] Current working set of the pod in bytes",
        Kind::Gauge,
    );
    let mut scrape_error = Family::new(
        "scrape_error",
        "[ALPHA] (Deprecated since 1.29.0) 1 if there was an error while getting container metrics, 0 otherwise",
        Kind::Gauge,
    );
    let mut resource_scrape_error = Family::new(
        "resource_scrape_error",
        "[STABLE] 1 if there was an error while getting container metrics, 0 otherwise",
        Kind::Gauge,
    );
    let error = if snapshot.is_some() { 0.0 } else { 1.0 };
    scrape_error.push(vec![], error, None);
    resource_scrape_error.push(vec![], error, None);
    if let Some(s) = snapshot {
        node_cpu.push(
            vec![],
            s.node_cpu.usage_core_nanoseconds as f64 / NS,
            s.node_cpu.time,
        );
        node_memory.push(vec![], s.host.memory_working_set as f64, s.host.time);
        for p in &s.pods {
            let pod_labels = || vec![("namespace", p.namespace.clone()), ("pod", p.name.clone())];
            for c in &p.containers {
                let labels = || {
                    let mut l = pod_labels();
                    l.push(("container", c.name.clone()));
                    l
                };
                if let Some(start) = c.start.filter(|t| secs(*t) > 0.0) {
                    container_start.push(labels(), secs(start), None);
                }
                container_cpu.push(
                    labels(),
                    c.cpu.usage_core_nanoseconds as f64 / NS,
                    c.cpu.time,
                );
                container_memory.push(labels(), c.memory.working_set as f64, c.memory.time);
            }
            if p.cpu.time.is_some() {
                pod_cpu.push(
                    pod_labels(),
                    p.cpu.usage_core_nanoseconds as f64 / NS,
                    p.cpu.time,
                );
                pod_memory.push(pod_labels(), p.memory.working_set as f64, p.memory.time);
            }
        }
    }
    vec![
        node_cpu,
        node_memory,
        container_cpu,
        container_memory,
        container_start,
        pod_cpu,
        pod_memory,
        scrape_error,
        resource_scrape_error,
    ]
}
