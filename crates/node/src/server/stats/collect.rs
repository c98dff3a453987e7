//! One reading of the node's and its pods' usage: the runtime's
//! container and sandbox stats joined with the containers' labels (pod,
//! namespace, name) and the host's own figures, with `usageNanoCores`
//! worked out from the previous reading of the same container
//! ([`CpuRates`]).

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use rkube_cri::{CriError, RuntimeService, SandboxState};

use super::host::{self, HostUsage};
use crate::kubelet::container::sandbox::{
    LABEL_CONTAINER_NAME, LABEL_POD_NAME, LABEL_POD_NAMESPACE, LABEL_POD_UID,
};
use crate::kubelet::volumes::claim_record;
use crate::kubelet::volumes::usage::disk_usage;

/// Readings of one key are kept at least this far apart, so a rate
/// spans at least this long once two are kept, however often it is asked
/// for (a span of a few milliseconds would show a busy container idle).
const KEEP_SAMPLE: Duration = Duration::from_secs(1);
/// Readings kept per key.
const KEPT: usize = 3;

/// CPU figures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cpu {
    pub time: Option<SystemTime>,
    pub usage_core_nanoseconds: u64,
    /// Since the previous reading; None on the first.
    pub usage_nano_cores: Option<u64>,
}

/// Memory figures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Memory {
    pub time: Option<SystemTime>,
    pub working_set: u64,
    pub usage: u64,
    pub rss: u64,
}

/// One container's usage.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContainerUsage {
    pub id: String,
    pub name: String,
    pub image: String,
    pub start: Option<SystemTime>,
    pub cpu: Cpu,
    pub memory: Memory,
    pub rootfs_used: Option<u64>,
    /// The size of its log files.
    pub logs_used: u64,
}

/// One pod's usage.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodUsage {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub start: Option<SystemTime>,
    pub containers: Vec<ContainerUsage>,
    pub cpu: Cpu,
    pub memory: Memory,
    /// Bytes received and sent on the pod's interface.
    pub network: Option<(SystemTime, u64, u64)>,
    /// Its PersistentVolumeClaim volumes.
    pub volumes: Vec<VolumeUsage>,
}

/// One claim volume of a pod: its file system and what its directory
/// holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VolumeUsage {
    pub name: String,
    pub claim: String,
    pub namespace: String,
    pub time: Option<SystemTime>,
    pub fs: Option<host::FsUsage>,
    pub used: u64,
}

/// The claim volumes of the pod `uid` (from the record the volume manager
/// keeps in the pod's directory under `root_dir`).
pub fn claim_volumes(root_dir: &Path, uid: &str) -> Vec<VolumeUsage> {
    if uid.is_empty() || uid.contains('/') || uid.starts_with('.') {
        return Vec::new();
    }
    let dir = root_dir.join("pods").join(uid);
    claim_record::read(&dir)
        .into_iter()
        .map(|r| VolumeUsage {
            time: Some(SystemTime::now()),
            fs: host::fs_usage(&r.path),
            used: disk_usage(&r.path),
            name: r.volume,
            claim: r.claim,
            namespace: r.namespace,
        })
        .collect()
}

/// A reading of the whole node.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub host: HostUsage,
    pub node_cpu: Cpu,
    pub pods: Vec<PodUsage>,
}

/// The kept CPU readings of each container, pod and the node (oldest
/// first, at least [`KEEP_SAMPLE`] apart).
#[derive(Debug, Default)]
pub struct CpuRates {
    previous: Mutex<HashMap<String, VecDeque<(u64, SystemTime)>>>,
}

impl CpuRates {
    /// The rate since the newest kept reading of `key` at least
    /// [`KEEP_SAMPLE`] older than this one (else the oldest kept); this
    /// reading is kept when it is [`KEEP_SAMPLE`] newer than the last.
    /// `None` for the first reading, or when the counter went back (a
    /// restarted container under the same key).
    pub fn rate(&self, key: &str, cumulative: u64, at: SystemTime) -> Option<u64> {
        let Ok(mut previous) = self.previous.lock() else {
            return None;
        };
        let kept = previous.entry(key.to_string()).or_default();
        // A clock that went back, or a counter that did: start again.
        if kept
            .back()
            .is_some_and(|(c, then)| *then > at || *c > cumulative)
        {
            kept.clear();
        }
        let old_enough =
            |then: &SystemTime| at.duration_since(*then).is_ok_and(|d| d >= KEEP_SAMPLE);
        let base = kept
            .iter()
            .rev()
            .find(|(_, then)| old_enough(then))
            .or_else(|| kept.front())
            .copied();
        let rate = base.and_then(|(before, then)| {
            let elapsed = at.duration_since(then).ok()?.as_nanos();
            let used = u128::from(cumulative.checked_sub(before)?);
            (elapsed > 0).then(|| u64::try_from(used * 1_000_000_000 / elapsed).unwrap_or(u64::MAX))
        });
        if kept.back().is_none_or(|(_, then)| old_enough(then)) {
            kept.push_back((cumulative, at));
            while kept.len() > KEPT {
                kept.pop_front();
            }
        }
        rate
    }

    /// Forget the readings of keys not in `live`.
    pub fn retain(&self, live: &HashSet<String>) {
        if let Ok(mut previous) = self.previous.lock() {
            previous.retain(|k, _| live.contains(k));
        }
    }
}

fn size_of_logs(path: &Path) -> u64 {
    super::super::logs::files::log_files(path)
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum()
}

/// Read everything now. Sandbox stats the runtime does not have are
/// made up from the sum of the pod's containers.
pub async fn collect(
    runtime: &dyn RuntimeService,
    rates: &CpuRates,
    fs_path: &Path,
) -> Result<Snapshot, CriError> {
    let containers = runtime.list_containers().await?;
    let sandboxes = runtime.list_pod_sandboxes().await?;
    let container_stats = runtime.list_container_stats().await?;
    let sandbox_stats = match runtime.list_pod_sandbox_stats().await {
        Ok(s) => s,
        Err(CriError::Unsupported(_)) => Vec::new(),
        Err(e) => return Err(e),
    };
    let fs_path = fs_path.to_path_buf();
    let root_dir = fs_path.clone();
    let host = tokio::task::spawn_blocking(move || host::read(&fs_path))
        .await
        .unwrap_or_default();

    let mut live = HashSet::new();
    let node_time = host.time.unwrap_or_else(SystemTime::now);
    live.insert("node".to_string());
    let node_cpu = Cpu {
        time: host.time,
        usage_core_nanoseconds: host.cpu_usage_core_nanoseconds,
        usage_nano_cores: rates.rate("node", host.cpu_usage_core_nanoseconds, node_time),
    };

    let by_id: HashMap<&str, _> = containers.iter().map(|c| (c.id.as_str(), c)).collect();
    let mut pods: Vec<PodUsage> = Vec::new();
    let mut pod_of_sandbox: HashMap<String, usize> = HashMap::new();
    for s in sandboxes.iter().filter(|s| s.state == SandboxState::Ready) {
        pod_of_sandbox.insert(s.id.clone(), pods.len());
        pods.push(PodUsage {
            namespace: s.pod_namespace.clone(),
            name: s.pod_name.clone(),
            uid: s.pod_uid.clone(),
            start: Some(s.created_at),
            ..PodUsage::default()
        });
    }
    for st in &container_stats {
        let Some(c) = by_id.get(st.container_id.as_str()) else {
            continue;
        };
        let label = |k: &str| c.labels.get(k).cloned().unwrap_or_default();
        let index = match pod_of_sandbox.get(&c.sandbox_id) {
            Some(i) => *i,
            None => {
                pod_of_sandbox.insert(c.sandbox_id.clone(), pods.len());
                pods.push(PodUsage {
                    namespace: label(LABEL_POD_NAMESPACE),
                    name: label(LABEL_POD_NAME),
                    uid: label(LABEL_POD_UID),
                    ..PodUsage::default()
                });
                pods.len() - 1
            }
        };
        live.insert(st.container_id.clone());
        let name = c
            .labels
            .get(LABEL_CONTAINER_NAME)
            .cloned()
            .unwrap_or_else(|| c.name.clone());
        pods[index].containers.push(ContainerUsage {
            id: c.id.clone(),
            name,
            image: c.image.clone(),
            start: c.started_at,
            cpu: Cpu {
                time: Some(st.timestamp),
                usage_core_nanoseconds: st.cpu_usage_core_nanoseconds,
                usage_nano_cores: rates.rate(
                    &st.container_id,
                    st.cpu_usage_core_nanoseconds,
                    st.timestamp,
                ),
            },
            memory: Memory {
                time: Some(st.timestamp),
                working_set: st.memory_working_set_bytes,
                usage: st.memory_usage_bytes,
                rss: st.memory_rss_bytes,
            },
            rootfs_used: st.writable_layer_bytes,
            logs_used: size_of_logs(&c.log_path),
        });
    }
    let stats_of_sandbox: HashMap<&str, _> = sandbox_stats
        .iter()
        .map(|s| (s.sandbox_id.as_str(), s))
        .collect();
    for (sandbox_id, index) in &pod_of_sandbox {
        let pod = &mut pods[*index];
        let key = format!("pod/{sandbox_id}");
        if let Some(s) = stats_of_sandbox.get(sandbox_id.as_str()) {
            live.insert(key.clone());
            pod.cpu = Cpu {
                time: Some(s.timestamp),
                usage_core_nanoseconds: s.cpu_usage_core_nanoseconds,
                usage_nano_cores: rates.rate(&key, s.cpu_usage_core_nanoseconds, s.timestamp),
            };
            pod.memory = Memory {
                time: Some(s.timestamp),
                working_set: s.memory_working_set_bytes,
                usage: s.memory_usage_bytes,
                rss: s.memory_rss_bytes,
            };
            pod.network = Some((s.timestamp, s.network_rx_bytes, s.network_tx_bytes));
        } else if !pod.containers.is_empty() {
            let time = pod.containers.iter().filter_map(|c| c.cpu.time).max();
            let sum =
                |f: &dyn Fn(&ContainerUsage) -> u64| pod.containers.iter().map(f).sum::<u64>();
            let nano_cores: Option<u64> =
                pod.containers.iter().map(|c| c.cpu.usage_nano_cores).sum();
            pod.cpu = Cpu {
                time,
                usage_core_nanoseconds: sum(&|c| c.cpu.usage_core_nanoseconds),
                usage_nano_cores: nano_cores,
            };
            pod.memory = Memory {
                time,
                working_set: sum(&|c| c.memory.working_set),
                usage: sum(&|c| c.memory.usage),
                rss: sum(&|c| c.memory.rss),
            };
        }
        pod.containers.sort_by(|a, b| a.name.cmp(&b.name));
    }
    rates.retain(&live);
    let uids: Vec<String> = pods.iter().map(|p| p.uid.clone()).collect();
    let volumes = tokio::task::spawn_blocking(move || {
        uids.iter()
            .map(|u| claim_volumes(&root_dir, u))
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_default();
    for (pod, v) in pods.iter_mut().zip(volumes) {
        pod.volumes = v;
    }
    pods.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));

    Ok(Snapshot {
        host,
        node_cpu,
        pods,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_millis(1_000_000 + ms)
    }

    #[test]
    fn a_rate_spans_a_second_however_often_it_is_asked_for() {
        let rates = CpuRates::default();
        // Half a core: 500 ms of CPU per second.
        assert_eq!(rates.rate("c", 0, at(0)), None, "no rate from one reading");
        assert_eq!(rates.rate("c", 500_000_000, at(1000)), Some(500_000_000));
        // Asked again 2 ms later, while the counter has not moved: still
        // the rate over the last second and more, not zero.
        let again = rates.rate("c", 500_000_000, at(1002)).expect("a rate");
        assert!(
            (490_000_000..=500_000_000).contains(&again),
            "rate over 1.002 s: {again}"
        );
        assert_eq!(rates.rate("c", 1_000_000_000, at(2000)), Some(500_000_000));
    }

    #[test]
    fn a_counter_that_goes_back_starts_again() {
        let rates = CpuRates::default();
        rates.rate("c", 5_000_000_000, at(0));
        assert_eq!(rates.rate("c", 1_000, at(1000)), None);
        assert_eq!(rates.rate("c", 250_001_000, at(2000)), Some(250_000_000));
    }
}
