//! A real node's figures, read from the kubelet Summary API
//! (`/stats/summary`): `node.cpu.usageNanoCores` and
//! `node.memory.workingSetBytes` for the node, and per pod (`podRef`) the
//! same two of each container, as metrics-server reads them. A container
//! missing either figure is left out, and so is a pod left with no
//! container, as metrics-server does.

use std::collections::HashMap;

use serde::Deserialize;

use super::usage::Usage;

/// One node's answer, reduced to what the Metrics API shows.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct NodeReport {
    /// The node's own figures and when they were taken.
    pub node: Option<(Usage, String)>,
    /// Each pod's containers by (namespace, name).
    pub pods: HashMap<(String, String), PodReport>,
}

/// One pod's figures.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PodReport {
    /// When the latest figure was taken (RFC 3339).
    pub timestamp: String,
    pub containers: Vec<(String, Usage)>,
}

#[derive(Deserialize)]
struct Summary {
    node: Option<Stats>,
    #[serde(default)]
    pods: Vec<PodStats>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PodStats {
    pod_ref: PodRef,
    #[serde(default)]
    containers: Vec<ContainerStats>,
}

#[derive(Deserialize)]
struct PodRef {
    name: String,
    namespace: String,
}

#[derive(Deserialize)]
struct ContainerStats {
    name: String,
    #[serde(flatten)]
    stats: Stats,
}

#[derive(Deserialize)]
struct Stats {
    cpu: Option<Cpu>,
    memory: Option<Memory>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Cpu {
    time: Option<String>,
    usage_nano_cores: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Memory {
    working_set_bytes: Option<u64>,
}

impl Stats {
    fn usage(&self) -> Option<(Usage, String)> {
        let cpu = self.cpu.as_ref()?;
        let usage = Usage {
            cpu_nanos: cpu.usage_nano_cores?,
            memory_bytes: self.memory.as_ref()?.working_set_bytes?,
        };
        Some((usage, cpu.time.clone().unwrap_or_default()))
    }
}

/// Parses a Summary API answer.
pub fn parse(body: &[u8]) -> Result<NodeReport, serde_json::Error> {
    let summary: Summary = serde_json::from_slice(body)?;
    let mut pods = HashMap::new();
    for pod in summary.pods {
        let mut report = PodReport::default();
        for c in pod.containers {
            if let Some((usage, time)) = c.stats.usage() {
                report.timestamp = report.timestamp.max(time);
                report.containers.push((c.name, usage));
            }
        }
        if !report.containers.is_empty() {
            pods.insert((pod.pod_ref.namespace, pod.pod_ref.name), report);
        }
    }
    Ok(NodeReport {
        node: summary.node.as_ref().and_then(Stats::usage),
        pods,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_summary_gives_the_node_and_each_complete_container() {
        let body = json!({
            "node": {"nodeName": "n", "cpu": {"time": "2026-12-07T19:00:00Z", "usageNanoCores": 123_456_789u64, "usageCoreNanoSeconds": 9},
                     "memory": {"time": "2026-12-07T19:00:00Z", "workingSetBytes": 512u64 << 20}},
            "pods": [
                {"podRef": {"name": "web", "namespace": "default", "uid": "u"},
                 "containers": [
                    {"name": "app", "cpu": {"time": "2026-12-07T19:00:01Z", "usageNanoCores": 5_000_000}, "memory": {"workingSetBytes": 7 << 20}},
                    {"name": "starting", "cpu": {"time": "2026-12-07T19:00:02Z"}, "memory": {}}
                 ]},
                {"podRef": {"name": "empty", "namespace": "default"}, "containers": []}
            ]
        });
        let r = parse(body.to_string().as_bytes()).expect("summary");
        assert_eq!(
            r.node,
            Some((
                Usage {
                    cpu_nanos: 123_456_789,
                    memory_bytes: 512 << 20
                },
                "2026-12-07T19:00:00Z".to_string()
            ))
        );
        assert_eq!(r.pods.len(), 1);
        let web = &r.pods[&("default".to_string(), "web".to_string())];
        assert_eq!(web.timestamp, "2026-12-07T19:00:01Z");
        assert_eq!(
            web.containers,
            vec![(
                "app".to_string(),
                Usage {
                    cpu_nanos: 5_000_000,
                    memory_bytes: 7 << 20
                }
            )]
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(parse(b"not json").is_err());
        assert!(parse(b"{\"pods\": 3}").is_err());
        assert_eq!(parse(b"{}").ok(), Some(NodeReport::default()));
    }
}
