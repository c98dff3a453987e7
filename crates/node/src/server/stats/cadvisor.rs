//! `/metrics/cadvisor`: the container metrics cAdvisor gives Prometheus
//! stacks, by cAdvisor's names and labels (`container`, `id`, `image`,
//! `name`, `namespace`, `pod`, and `cpu`/`interface` where cAdvisor has
//! them): one series per container, per pod (its cgroup, `container`
//! empty) and for the node's root cgroup (`id="/"`).

use std::time::{SystemTime, UNIX_EPOCH};

use super::collect::{Cpu, Memory, Snapshot};
use super::prom::{Family, Kind};

/// A series' identity.
struct Who {
    container: String,
    id: String,
    image: String,
    name: String,
    namespace: String,
    pod: String,
}

impl Who {
    fn labels(&self) -> Vec<(&'static str, String)> {
        vec![
            ("container", self.container.clone()),
            ("id", self.id.clone()),
            ("image", self.image.clone()),
            ("name", self.name.clone()),
            ("namespace", self.namespace.clone()),
            ("pod", self.pod.clone()),
        ]
    }
}

struct Families {
    cpu: Family,
    working_set: Family,
    usage: Family,
    rss: Family,
    rx: Family,
    tx: Family,
    start: Family,
}

impl Families {
    fn series(&mut self, who: &Who, cpu: &Cpu, memory: &Memory, start: Option<SystemTime>) {
        let mut cpu_labels = who.labels();
        cpu_labels.push(("cpu", "total".to_string()));
        self.cpu.push(
            cpu_labels,
            cpu.usage_core_nanoseconds as f64 / 1e9,
            cpu.time,
        );
        self.working_set
            .push(who.labels(), memory.working_set as f64, memory.time);
        self.usage
            .push(who.labels(), memory.usage as f64, memory.time);
        self.rss.push(who.labels(), memory.rss as f64, memory.time);
        if let Some(start) = start {
            let secs = start
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs_f64();
            self.start.push(who.labels(), secs, memory.time);
        }
    }

    fn network(&mut self, who: &Who, interface: &str, rx: u64, tx: u64, time: Option<SystemTime>) {
        let mut labels = who.labels();
        labels.push(("interface", interface.to_string()));
        self.rx.push(labels.clone(), rx as f64, time);
        self.tx.push(labels, tx as f64, time);
    }
}

/// The families for `snapshot`.
pub fn families(s: &Snapshot) -> Vec<Family> {
    let mut f = Families {
        cpu: Family::new(
            "container_cpu_usage_seconds_total",
            "Cumulative cpu time consumed in seconds.",
            Kind::Counter,
        ),
        working_set: Family::new(
            "container_memory_working_set_bytes",
            "Current working set in bytes.",
            Kind::Gauge,
        ),
        usage: Family::new(
            "container_memory_usage_bytes",
            "Current memory usage in bytes, including all memory regardless of when it was accessed",
            Kind::Gauge,
        ),
        rss: Family::new("container_memory_rss", "Size of RSS in bytes.", Kind::Gauge),
        rx: Family::new(
            "container_network_receive_bytes_total",
            "Cumulative count of bytes received",
            Kind::Counter,
        ),
        tx: Family::new(
            "container_network_transmit_bytes_total",
            "Cumulative count of bytes transmitted",
            Kind::Counter,
        ),
        start: Family::new(
            "container_start_time_seconds",
            "Start time of the container since unix epoch in seconds.",
            Kind::Gauge,
        ),
    };
    let h = &s.host;
    let root = Who {
        container: String::new(),
        id: "/".to_string(),
        image: String::new(),
        name: String::new(),
        namespace: String::new(),
        pod: String::new(),
    };
    let root_memory = Memory {
        time: h.time,
        working_set: h.memory_working_set,
        usage: h.memory_usage,
        rss: h.memory_rss,
    };
    f.series(&root, &s.node_cpu, &root_memory, h.boot_time);
    for (name, rx, tx) in &h.interfaces {
        f.network(&root, name, *rx, *tx, h.time);
    }
    for p in &s.pods {
        let pod_cgroup = format!("/kubepods/pod{}", p.uid);
        let pod = Who {
            container: String::new(),
            id: pod_cgroup.clone(),
            image: String::new(),
            name: String::new(),
            namespace: p.namespace.clone(),
            pod: p.name.clone(),
        };
        if p.cpu.time.is_some() {
            f.series(&pod, &p.cpu, &p.memory, p.start);
        }
        if let Some((t, rx, tx)) = p.network {
            f.network(&pod, "eth0", rx, tx, Some(t));
        }
        for c in &p.containers {
            let who = Who {
                container: c.name.clone(),
                id: format!("{pod_cgroup}/{}", c.id),
                image: c.image.clone(),
                name: c.id.clone(),
                namespace: p.namespace.clone(),
                pod: p.name.clone(),
            };
            f.series(&who, &c.cpu, &c.memory, c.start);
        }
    }
    vec![f.cpu, f.working_set, f.usage, f.rss, f.rx, f.tx, f.start]
}
