//! `/stats/summary`: the kubelet's Summary API (`stats/v1alpha1`) JSON
//! from a [`Snapshot`]: the node (CPU, memory, network, filesystem) and
//! each pod with its containers. What metrics-server and `kubectl top`
//! read from a kubelet.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};

use super::collect::{ContainerUsage, Cpu, Memory, PodUsage, Snapshot, VolumeUsage};
use super::host::FsUsage;

/// A time as `metav1.Time` writes it (seconds, UTC).
pub fn time(t: SystemTime) -> Value {
    let secs = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    match jiff::Timestamp::from_second(secs as i64) {
        Ok(ts) => Value::String(ts.to_string()),
        Err(_) => Value::Null,
    }
}

fn opt_time(t: Option<SystemTime>) -> Value {
    t.map(time).unwrap_or(Value::Null)
}

fn object(pairs: Vec<(&str, Value)>) -> Value {
    Value::Object(
        pairs
            .into_iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| (k.to_string(), v))
            .collect::<Map<String, Value>>(),
    )
}

fn cpu(c: &Cpu) -> Value {
    object(vec![
        ("time", opt_time(c.time)),
        (
            "usageNanoCores",
            c.usage_nano_cores.map(Value::from).unwrap_or(Value::Null),
        ),
        ("usageCoreNanoSeconds", json!(c.usage_core_nanoseconds)),
    ])
}

fn memory(m: &Memory, available: Option<u64>) -> Value {
    object(vec![
        ("time", opt_time(m.time)),
        (
            "availableBytes",
            available.map(Value::from).unwrap_or(Value::Null),
        ),
        ("usageBytes", json!(m.usage)),
        ("workingSetBytes", json!(m.working_set)),
        ("rssBytes", json!(m.rss)),
    ])
}

fn fs(t: Option<SystemTime>, f: Option<&FsUsage>, used: Option<u64>) -> Value {
    object(vec![
        ("time", opt_time(t)),
        (
            "availableBytes",
            f.map(|f| json!(f.available)).unwrap_or(Value::Null),
        ),
        (
            "capacityBytes",
            f.map(|f| json!(f.capacity)).unwrap_or(Value::Null),
        ),
        (
            "usedBytes",
            used.or(f.map(|f| f.used))
                .map(Value::from)
                .unwrap_or(Value::Null),
        ),
        (
            "inodesFree",
            f.map(|f| json!(f.inodes_free)).unwrap_or(Value::Null),
        ),
        ("inodes", f.map(|f| json!(f.inodes)).unwrap_or(Value::Null)),
        (
            "inodesUsed",
            f.map(|f| json!(f.inodes.saturating_sub(f.inodes_free)))
                .unwrap_or(Value::Null),
        ),
    ])
}

fn interfaces(t: Option<SystemTime>, list: &[(String, u64, u64)]) -> Value {
    let Some((name, rx, tx)) = list.first() else {
        return Value::Null;
    };
    json!({
        "time": opt_time(t),
        "name": name,
        "rxBytes": rx,
        "txBytes": tx,
        "interfaces": list.iter().map(|(n, rx, tx)| json!({"name": n, "rxBytes": rx, "txBytes": tx})).collect::<Vec<_>>(),
    })
}

fn container(c: &ContainerUsage, node_fs: Option<&FsUsage>) -> Value {
    object(vec![
        ("name", json!(c.name)),
        ("startTime", opt_time(c.start)),
        ("cpu", cpu(&c.cpu)),
        ("memory", memory(&c.memory, None)),
        (
            "rootfs",
            c.rootfs_used
                .map(|u| fs(c.cpu.time, node_fs, Some(u)))
                .unwrap_or(Value::Null),
        ),
        ("logs", fs(c.cpu.time, node_fs, Some(c.logs_used))),
    ])
}

/// A claim volume as the kubelet reports it: its file system's figures,
/// the bytes its directory holds, its name and `pvcRef`.
fn volume(v: &VolumeUsage) -> Value {
    let mut out = fs(v.time, v.fs.as_ref(), Some(v.used));
    out["name"] = json!(v.name);
    out["pvcRef"] = json!({"name": v.claim, "namespace": v.namespace});
    out
}

fn pod(p: &PodUsage, node_fs: Option<&FsUsage>) -> Value {
    let network = p
        .network
        .map(|(t, rx, tx)| interfaces(Some(t), &[("eth0".to_string(), rx, tx)]))
        .unwrap_or(Value::Null);
    let ephemeral: u64 = p
        .containers
        .iter()
        .map(|c| c.logs_used + c.rootfs_used.unwrap_or(0))
        .sum();
    object(vec![
        (
            "podRef",
            json!({"name": p.name, "namespace": p.namespace, "uid": p.uid}),
        ),
        ("startTime", opt_time(p.start)),
        (
            "containers",
            Value::Array(p.containers.iter().map(|c| container(c, node_fs)).collect()),
        ),
        ("cpu", cpu(&p.cpu)),
        ("memory", memory(&p.memory, None)),
        ("network", network),
        (
            "ephemeral-storage",
            fs(p.cpu.time, node_fs, Some(ephemeral)),
        ),
        (
            "volume",
            if p.volumes.is_empty() {
                Value::Null
            } else {
                Value::Array(p.volumes.iter().map(volume).collect())
            },
        ),
    ])
}

/// The Summary of `snapshot` for node `node_name`.
pub fn summary(node_name: &str, s: &Snapshot) -> Value {
    let h = &s.host;
    let node_memory = Memory {
        time: h.time,
        working_set: h.memory_working_set,
        usage: h.memory_usage,
        rss: h.memory_rss,
    };
    let mut node_memory = memory(&node_memory, Some(h.memory_available));
    node_memory["pageFaults"] = json!(h.page_faults);
    node_memory["majorPageFaults"] = json!(h.major_page_faults);
    let node_fs = fs(h.time, h.fs.as_ref(), None);
    let node = object(vec![
        ("nodeName", json!(node_name)),
        ("systemContainers", json!([])),
        ("startTime", opt_time(h.boot_time)),
        ("cpu", cpu(&s.node_cpu)),
        ("memory", node_memory),
        ("network", interfaces(h.time, &h.interfaces)),
        ("fs", node_fs.clone()),
        ("runtime", json!({"imageFs": node_fs})),
    ]);
    json!({
        "node": node,
        "pods": s.pods.iter().map(|p| pod(p, h.fs.as_ref())).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claim_volumes_carry_their_pvc_ref() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let data = tmp.path().join("data");
        std::fs::create_dir(&data).expect("mkdir");
        std::fs::write(data.join("f"), vec![0u8; 50_000]).expect("write");
        crate::kubelet::volumes::claim_record::write(
            &tmp.path().join("pods/u1"),
            &[crate::kubelet::volumes::claim_record::ClaimRecord {
                volume: "data".into(),
                claim: "data-web-0".into(),
                namespace: "ns".into(),
                path: data,
            }],
        )
        .expect("record");
        let snapshot = Snapshot {
            pods: vec![PodUsage {
                name: "web-0".into(),
                namespace: "ns".into(),
                uid: "u1".into(),
                volumes: super::super::collect::claim_volumes(tmp.path(), "u1"),
                ..PodUsage::default()
            }],
            ..Snapshot::default()
        };
        let s = summary("n", &snapshot);
        let v = &s["pods"][0]["volume"][0];
        assert_eq!(v["name"], "data");
        assert_eq!(
            v["pvcRef"],
            json!({"name": "data-web-0", "namespace": "ns"})
        );
        assert!(v["usedBytes"].as_u64().expect("used") >= 50_000);
        assert!(v["capacityBytes"].as_u64().expect("capacity") > 0);
        assert!(super::super::collect::claim_volumes(tmp.path(), "../x").is_empty());
    }
}
