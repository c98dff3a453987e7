//! `list_container_stats` and `list_pod_sandbox_stats`: each running
//! container's cgroup, each ready pod's cgroup (the parent of its
//! containers' ones) and the byte counters of the pod's interfaces, read
//! inside its network namespace.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use rkube_cri::{ContainerState, ContainerStats, CriError, PodSandboxStats};

use super::cgroup_usage;
use super::cgroups;
use super::container_entry::ContainerEntry;
use super::locks::{lock, read};
use super::netns;
use super::runtime::RuncRuntime;
use super::sandbox_entry::SandboxEntry;

/// Received and sent bytes summed over the interfaces of `/proc/net/dev`
/// text, loopback left out.
pub(crate) fn net_dev_bytes(text: &str) -> (u64, u64) {
    let mut rx = 0u64;
    let mut tx = 0u64;
    for line in text.lines().skip(2) {
        let Some((name, counters)) = line.split_once(':') else {
            continue;
        };
        if name.trim() == "lo" {
            continue;
        }
        let fields: Vec<u64> = counters
            .split_whitespace()
            .filter_map(|f| f.parse().ok())
            .collect();
        if fields.len() >= 9 {
            rx = rx.saturating_add(fields[0]);
            tx = tx.saturating_add(fields[8]);
        }
    }
    (rx, tx)
}

impl RuncRuntime {
    pub(crate) async fn container_stats(&self) -> Result<Vec<ContainerStats>, CriError> {
        let entries: Vec<Arc<ContainerEntry>> = read(&self.containers).values().cloned().collect();
        let mut out = Vec::new();
        for entry in entries {
            if self.observe(&entry).state != ContainerState::Running {
                continue;
            }
            let Some(usage) = cgroup_usage::read(&entry.record.cgroups_path) else {
                continue;
            };
            out.push(ContainerStats {
                container_id: entry.record.id.clone(),
                timestamp: SystemTime::now(),
                cpu_usage_core_nanoseconds: usage.cpu_ns,
                memory_working_set_bytes: usage.working_set,
                memory_usage_bytes: usage.memory_usage,
                memory_rss_bytes: usage.rss,
                // The root filesystem is the snapshotter's: its writable
                // layer is not known here.
                writable_layer_bytes: None,
            });
        }
        Ok(out)
    }

    pub(crate) async fn sandbox_stats(&self) -> Result<Vec<PodSandboxStats>, CriError> {
        let entries: Vec<Arc<SandboxEntry>> = read(&self.sandboxes).values().cloned().collect();
        let mut out = Vec::new();
        for entry in entries {
            let (id, ready, cgroup, netns_path) = {
                let r = lock(&entry.record);
                (
                    r.id.clone(),
                    r.ready,
                    cgroups::container_cgroup_path(&self.config.cgroup_root, &r.cgroup_parent, ""),
                    r.netns_path.clone(),
                )
            };
            if !ready {
                continue;
            }
            let usage = cgroup_usage::read(&cgroup).unwrap_or_default();
            let (rx, tx) = match netns_path {
                Some(path) => network_bytes(path).await.unwrap_or_else(|e| {
                    tracing::debug!(sandbox = %id, error = %e, "no network counters");
                    (0, 0)
                }),
                None => (0, 0),
            };
            out.push(PodSandboxStats {
                sandbox_id: id,
                timestamp: SystemTime::now(),
                cpu_usage_core_nanoseconds: usage.cpu_ns,
                memory_working_set_bytes: usage.working_set,
                memory_usage_bytes: usage.memory_usage,
                memory_rss_bytes: usage.rss,
                network_rx_bytes: rx,
                network_tx_bytes: tx,
            });
        }
        Ok(out)
    }
}

/// The pod's received and sent bytes, from `/proc/thread-self/net/dev`
/// read by a thread inside its namespace.
async fn network_bytes(netns_path: PathBuf) -> Result<(u64, u64), CriError> {
    let text = netns::in_netns(&netns_path, || {
        std::fs::read_to_string("/proc/thread-self/net/dev")
    })
    .await?
    .map_err(CriError::io("reading /proc/thread-self/net/dev"))?;
    Ok(net_dev_bytes(&text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn net_dev_counters_without_loopback() {
        let text = "Inter-|   Receive                                                |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    lo:     100       1    0    0    0     0          0         0      100       1    0    0    0     0       0          0\n  eth0:    5000      10    0    0    0     0          0         0     7000      12    0    0    0     0       0          0\n";
        assert_eq!(net_dev_bytes(text), (5000, 7000));
    }
}
