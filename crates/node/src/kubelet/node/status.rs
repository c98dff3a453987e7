//! The node's running status: every round (the Lease's renewal period, at
//! most 10 s as the kubelet's eviction monitor) the Lease is renewed, the
//! host measured, the conditions and `status.images` written when they
//! changed (and every `node_status_report` regardless), and pods evicted
//! under pressure or over their local-storage limits.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Event, Node, Pod};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::Client;
use rkube_cri::{ImageService, RuntimeService};
use serde_json::{json, Value};

use crate::kubelet::config::KubeletConfig;
use crate::kubelet::container::qos::cgroup_parent;
use crate::kubelet::container::sandbox::pod_log_dir;
use crate::kubelet::error::KubeletError;
use crate::kubelet::node::clock::now;
use crate::kubelet::node::conditions::{
    crossed, with_runtime, Condition, Measurements, PressureState, Signal,
};
use crate::kubelet::node::eviction::{
    local_storage_evictions, pick_victim, EmptyDirUse, Eviction, PodStats,
};
use crate::kubelet::node::host::{fs_stats, meminfo, pids};
use crate::kubelet::node::object;
use crate::kubelet::node::thresholds::EvictionThresholds;
use crate::kubelet::volumes::empty_dirs;
use crate::kubelet::volumes::usage::disk_usage;

/// The eviction manager's monitoring interval.
const MAX_ROUND: Duration = Duration::from_secs(10);

/// Measure the host now: memory, the kubelet's file system (nodefs), the
/// image store's (imagefs: `DATA_DIR/images`), processes.
pub fn measure(config: &KubeletConfig) -> Measurements {
    let mem = meminfo();
    let nodefs = fs_stats(&config.root_dir).unwrap_or_default();
    let images_dir = config
        .root_dir
        .parent()
        .map(|d| d.join("images"))
        .unwrap_or_else(|| config.root_dir.clone());
    let imagefs = fs_stats(&images_dir).unwrap_or_default();
    let (running, max) = pids();
    Measurements {
        memory_available: mem.available,
        memory_capacity: mem.total,
        nodefs_available: nodefs.available,
        nodefs_capacity: nodefs.capacity,
        nodefs_inodes_free: nodefs.inodes_free,
        nodefs_inodes: nodefs.inodes,
        imagefs_available: imagefs.available,
        imagefs_capacity: imagefs.capacity,
        pids_running: running,
        pids_max: max,
    }
}

/// A pod's memory use from its cgroup (v1 `memory` hierarchy or v2).
fn pod_memory(pod: &Pod) -> u64 {
    let parent = cgroup_parent(pod);
    let candidates = [
        format!("/sys/fs/cgroup/memory/{parent}/memory.usage_in_bytes"),
        format!("/sys/fs/cgroup/{parent}/memory.current"),
        format!("/sys/fs/cgroup/unified/{parent}/memory.current"),
    ];
    candidates
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok()?.trim().parse().ok())
        .unwrap_or(0)
}

/// What each pod uses now.
pub fn pod_stats(config: &KubeletConfig, pods: &[Pod], with_memory: bool) -> Vec<PodStats> {
    pods.iter()
        .map(|pod| {
            let memory_dirs: BTreeSet<String> = pod
                .spec
                .iter()
                .flat_map(|s| s.volumes.iter().flatten())
                .filter(|v| {
                    v.empty_dir.as_ref().and_then(|e| e.medium.as_deref()) == Some("Memory")
                })
                .map(|v| v.name.clone())
                .collect();
            let mut ephemeral = disk_usage(&pod_log_dir(pod, config));
            let empty: Vec<EmptyDirUse> = empty_dirs(config, pod)
                .into_iter()
                .map(|(name, path, limit)| {
                    let used = disk_usage(&path);
                    if !memory_dirs.contains(&name) {
                        ephemeral += used;
                    }
                    let shown = pod
                        .spec
                        .iter()
                        .flat_map(|s| s.volumes.iter().flatten())
                        .find(|v| v.name == name)
                        .and_then(|v| {
                            v.empty_dir
                                .as_ref()?
                                .size_limit
                                .as_ref()
                                .map(|q| q.0.clone())
                        })
                        .unwrap_or_default();
                    EmptyDirUse {
                        name,
                        used,
                        limit: limit.map(|l| (l.max(0) as u64, shown)),
                    }
                })
                .collect();
            PodStats {
                pod: pod.clone(),
                memory: if with_memory { pod_memory(pod) } else { 0 },
                ephemeral,
                empty_dirs: empty,
            }
        })
        .collect()
}

/// Whether the pod is still one the kubelet may evict.
fn active(pod: &Pod) -> bool {
    let phase = pod
        .status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("Pending");
    pod.metadata.deletion_timestamp.is_none() && phase != "Succeeded" && phase != "Failed"
}

/// Does an eviction as the kubelet: status Failed/Evicted with the
/// message and a DisruptionTarget condition, and an `Evicted` event. The
/// pod worker then kills its containers.
pub async fn evict(client: &Client, node_name: &str, e: &Eviction) -> Result<(), kube::Error> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), &e.namespace);
    let now = now();
    let status = json!({"status": {
        "phase": "Failed",
        "reason": "Evicted",
        "message": e.message,
        "conditions": [{"type": "DisruptionTarget", "status": "True", "reason": "TerminationByKubelet",
                        "message": e.message, "lastTransitionTime": now}],
    }});
    pods.patch_status(&e.name, &PatchParams::default(), &Patch::Strategic(status))
        .await?;
    let events: Api<Event> = Api::namespaced(client.clone(), &e.namespace);
    let suffix = format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos()
    );
    let event: Event = serde_json::from_value(json!({
        "metadata": {"name": format!("{}.{suffix}", e.name), "namespace": e.namespace},
        "involvedObject": {"apiVersion": "v1", "kind": "Pod", "namespace": e.namespace,
                           "name": e.name, "uid": e.uid},
        "reason": "Evicted",
        "message": e.message,
        "type": "Warning",
        "source": {"component": "kubelet", "host": node_name},
        "reportingComponent": "kubelet",
        "reportingInstance": node_name,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }))
    .map_err(kube::Error::SerdeError)?;
    events.create(&PostParams::default(), &event).await?;
    tracing::warn!(pod = %e.name, namespace = %e.namespace, message = %e.message, "pod evicted");
    Ok(())
}

/// The pods to evict this round: those over their local-storage limits,
/// then one victim per crossed pressure threshold.
pub fn decide(m: &Measurements, stats: &[PodStats], t: &EvictionThresholds) -> Vec<Eviction> {
    let mut out = local_storage_evictions(stats);
    if out.is_empty() {
        for (signal, threshold, available) in crossed(m, t) {
            if let Some(v) = pick_victim(signal, threshold, available, stats) {
                if !out.iter().any(|e| e.uid == v.uid) {
                    out.push(v);
                }
                // One pod per round, as the kubelet.
                break;
            }
        }
    }
    out
}

/// The loop behind [`crate::kubelet::node::run_status`].
pub async fn run(
    client: Client,
    config: Arc<KubeletConfig>,
    runtime: Arc<dyn RuntimeService>,
    images: Arc<dyn ImageService>,
) -> Result<(), KubeletError> {
    let name = config.node_name.clone();
    let nodes: Api<Node> = Api::all(client.clone());
    let mut node = nodes.get(&name).await.map_err(|source| KubeletError::Api {
        what: format!("cannot read node {name}"),
        source,
    })?;
    let node_uid = node.metadata.uid.clone().unwrap_or_default();
    let lease_duration = (config.lease_renew.as_secs() * 4).max(1);
    let mut tick = tokio::time::interval(config.lease_renew.min(MAX_ROUND));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut pressure = PressureState::default();
    let mut last: Option<(Vec<Condition>, Value)> = None;
    let mut last_write = Instant::now();
    let mut last_lease: Option<Instant> = None;
    let mut evicted: BTreeSet<String> = BTreeSet::new();
    loop {
        tick.tick().await;
        if last_lease.is_none_or(|t| t.elapsed() + Duration::from_millis(100) >= config.lease_renew)
        {
            match crate::kubelet::node::lease::renew(&client, &name, &node_uid, lease_duration)
                .await
            {
                Ok(()) => last_lease = Some(Instant::now()),
                Err(error) => tracing::warn!(node = %name, %error, "cannot renew the node's lease"),
            }
        }
        let cfg = config.clone();
        let m = tokio::task::spawn_blocking(move || measure(&cfg))
            .await
            .unwrap_or_default();
        let signals = crossed(&m, &config.eviction_hard);
        let kinds: Vec<Signal> = signals.iter().map(|s| s.0).collect();
        let runtime_up = match runtime.version().await {
            Ok(_) => true,
            Err(error) => {
                tracing::warn!(%error, "the container runtime does not answer");
                false
            }
        };
        let conds = with_runtime(pressure.observe(&kinds, Instant::now()), runtime_up);
        let imgs = match images.list_images().await {
            Ok(list) => object::images(&list),
            Err(error) => {
                tracing::warn!(%error, "cannot list the node's images");
                last.as_ref()
                    .map(|l| l.1.clone())
                    .unwrap_or(Value::Array(Vec::new()))
            }
        };
        let changed = last.as_ref().is_none_or(|(c, i)| *c != conds || *i != imgs);
        if changed || last_write.elapsed() >= config.node_status_report {
            let now = now();
            let patch = json!({"status": {"conditions": object::conditions(&conds, Some(&node), &now), "images": imgs}});
            match nodes
                .patch_status(&name, &PatchParams::default(), &Patch::Merge(patch))
                .await
            {
                Ok(n) => {
                    node = n;
                    last = Some((conds.clone(), imgs));
                    last_write = Instant::now();
                }
                Err(error) => {
                    tracing::warn!(node = %name, %error, "cannot write the node's status")
                }
            }
        }
        if let Err(error) = eviction_round(&client, &config, &m, &signals, &mut evicted).await {
            tracing::warn!(node = %name, %error, "eviction round failed");
        }
    }
}

async fn eviction_round(
    client: &Client,
    config: &Arc<KubeletConfig>,
    m: &Measurements,
    signals: &[(Signal, u64, u64)],
    evicted: &mut BTreeSet<String>,
) -> Result<(), kube::Error> {
    let pods: Api<Pod> = Api::all(client.clone());
    let list = pods
        .list(&ListParams::default().fields(&format!("spec.nodeName={}", config.node_name)))
        .await?;
    let live: Vec<Pod> = list.items.into_iter().filter(active).collect();
    evicted.retain(|uid| live.iter().any(|p| p.metadata.uid.as_deref() == Some(uid)));
    let candidates: Vec<Pod> = live
        .into_iter()
        .filter(|p| !evicted.contains(p.metadata.uid.as_deref().unwrap_or_default()))
        .collect();
    let needs_local = candidates.iter().any(has_local_limits);
    if signals.iter().all(|s| s.0 == Signal::PidAvailable) && !needs_local {
        return Ok(());
    }
    let with_memory = signals.iter().any(|s| s.0 == Signal::MemoryAvailable);
    let cfg = config.clone();
    let m = *m;
    let decisions = tokio::task::spawn_blocking(move || {
        let stats = pod_stats(&cfg, &candidates, with_memory);
        decide(&m, &stats, &cfg.eviction_hard)
    })
    .await
    .unwrap_or_default();
    for e in decisions {
        evict(client, &config.node_name, &e).await?;
        evicted.insert(e.uid);
    }
    Ok(())
}

/// Whether a pod has an emptyDir `sizeLimit` or an ephemeral-storage limit.
fn has_local_limits(pod: &Pod) -> bool {
    let Some(spec) = pod.spec.as_ref() else {
        return false;
    };
    spec.volumes
        .iter()
        .flatten()
        .any(|v| v.empty_dir.as_ref().is_some_and(|e| e.size_limit.is_some()))
        || spec
            .containers
            .iter()
            .chain(spec.init_containers.iter().flatten())
            .any(|c| {
                c.resources
                    .as_ref()
                    .and_then(|r| r.limits.as_ref())
                    .is_some_and(|l| l.contains_key("ephemeral-storage"))
            })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decide_takes_local_limits_first_then_one_pressure_victim() {
        let pod = |name: &str| -> Pod {
            serde_json::from_value(
                json!({"metadata": {"name": name, "namespace": "ns", "uid": name},
                "spec": {"containers": [{"name": "c"}]}}),
            )
            .expect("pod")
        };
        let m = Measurements {
            memory_available: 10 << 20,
            memory_capacity: 4 << 30,
            nodefs_available: 1,
            nodefs_capacity: 100,
            ..Default::default()
        };
        let stats = vec![
            PodStats {
                pod: pod("a"),
                memory: 100 << 20,
                ephemeral: 0,
                empty_dirs: vec![],
            },
            PodStats {
                pod: pod("b"),
                memory: 200 << 20,
                ephemeral: 0,
                empty_dirs: vec![],
            },
        ];
        let d = decide(&m, &stats, &EvictionThresholds::default());
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].name, "b");
        assert!(d[0]
            .message
            .starts_with("The node was low on resource: memory."));
        let mut over = stats.clone();
        over[0].empty_dirs.push(EmptyDirUse {
            name: "v".into(),
            used: 10,
            limit: Some((5, "5".into())),
        });
        let d = decide(&m, &over, &EvictionThresholds::default());
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].name, "a");
        assert!(decide(
            &Measurements::default(),
            &stats,
            &EvictionThresholds::default()
        )
        .is_empty());
    }
}
