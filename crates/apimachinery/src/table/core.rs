//! Printers of core/v1 kinds.

use serde_json::{json, Value};

use super::{age, arr, c, first_three, labels, n, name, or_none, s, since, Column};

pub const POD: &[Column] = &[
    c("Name", "string", 0),
    c("Ready", "string", 0),
    c("Status", "string", 0),
    c("Restarts", "string", 0),
    c("Age", "string", 0),
    c("IP", "string", 1),
    c("Node", "string", 1),
    c("Nominated Node", "string", 1),
    c("Readiness Gates", "string", 1),
];

fn finished_at(st: &Value) -> Option<i64> {
    st.pointer("/lastState/terminated/finishedAt")
        .and_then(Value::as_str)
        .and_then(super::parse_rfc3339)
}

pub fn pod(o: &Value, now: i64) -> Vec<Value> {
    let spec_init = arr(o, "/spec/initContainers");
    let sidecar = |name: &str| {
        spec_init
            .iter()
            .any(|c| s(c, "/name") == name && s(c, "/restartPolicy") == "Always")
    };
    let mut total = arr(o, "/spec/containers").len()
        + spec_init
            .iter()
            .filter(|c| s(c, "/restartPolicy") == "Always")
            .count();
    if total == 0 {
        total = arr(o, "/status/containerStatuses").len();
    }
    let mut ready = 0usize;
    let mut restarts = 0i64;
    let mut last_restart: Option<i64> = None;
    let mut reason = s(o, "/status/phase").to_string();
    if !s(o, "/status/reason").is_empty() {
        reason = s(o, "/status/reason").to_string();
    }
    let gated = arr(o, "/status/conditions")
        .iter()
        .any(|c| s(c, "/type") == "PodScheduled" && s(c, "/reason") == "SchedulingGated");
    if gated {
        reason = "SchedulingGated".into();
    }
    let mut initializing = false;
    let init_statuses = arr(o, "/status/initContainerStatuses");
    let n_init = spec_init.len();
    for (i, st) in init_statuses.iter().enumerate() {
        restarts += n(st, "/restartCount");
        let side = sidecar(s(st, "/name"));
        if let Some(t) = finished_at(st) {
            last_restart = Some(last_restart.map_or(t, |l| l.max(t)));
        }
        if st.pointer("/state/terminated").is_some() && n(st, "/state/terminated/exitCode") == 0 {
            continue;
        }
        if side && st.get("started").and_then(Value::as_bool) == Some(true) {
            if st.get("ready").and_then(Value::as_bool) == Some(true) {
                ready += 1;
            }
            continue;
        }
        initializing = true;
        reason = if let Some(t) = st.pointer("/state/terminated") {
            match s(t, "/reason") {
                "" if n(t, "/signal") != 0 => format!("Init:Signal:{}", n(t, "/signal")),
                "" => format!("Init:ExitCode:{}", n(t, "/exitCode")),
                r => format!("Init:{r}"),
            }
        } else if !s(st, "/state/waiting/reason").is_empty()
            && s(st, "/state/waiting/reason") != "PodInitializing"
        {
            format!("Init:{}", s(st, "/state/waiting/reason"))
        } else {
            format!("Init:{i}/{n_init}")
        };
        break;
    }
    let initialized = arr(o, "/status/conditions")
        .iter()
        .any(|c| s(c, "/type") == "Initialized" && s(c, "/status") == "True");
    if !initializing || initialized {
        if !initializing {
            // Non-sidecar init restarts are not counted once initialized.
            restarts = init_statuses
                .iter()
                .filter(|st| sidecar(s(st, "/name")))
                .map(|st| n(st, "/restartCount"))
                .sum();
        }
        let mut has_running = false;
        for st in arr(o, "/status/containerStatuses").iter().rev() {
            restarts += n(st, "/restartCount");
            if let Some(t) = finished_at(st) {
                last_restart = Some(last_restart.map_or(t, |l| l.max(t)));
            }
            if !s(st, "/state/waiting/reason").is_empty() {
                reason = s(st, "/state/waiting/reason").to_string();
            } else if let Some(t) = st.pointer("/state/terminated") {
                reason = match s(t, "/reason") {
                    "" if n(t, "/signal") != 0 => format!("Signal:{}", n(t, "/signal")),
                    "" => format!("ExitCode:{}", n(t, "/exitCode")),
                    r => r.to_string(),
                };
            } else if st.get("ready").and_then(Value::as_bool) == Some(true)
                && st.pointer("/state/running").is_some()
            {
                has_running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && has_running {
            let pod_ready = arr(o, "/status/conditions")
                .iter()
                .any(|c| s(c, "/type") == "Ready" && s(c, "/status") == "True");
            reason = if pod_ready { "Running" } else { "NotReady" }.into();
        }
    }
    if o.pointer("/metadata/deletionTimestamp")
        .is_some_and(|v| !v.is_null())
    {
        if s(o, "/status/reason") == "NodeLost" {
            reason = "Unknown".into();
        } else if !matches!(s(o, "/status/phase"), "Succeeded" | "Failed") {
            reason = "Terminating".into();
        }
    }
    let restarts_cell = match last_restart {
        Some(t) if restarts > 0 => format!("{restarts} ({} ago)", super::human_duration(now - t)),
        _ => restarts.to_string(),
    };
    let ip = arr(o, "/status/podIPs")
        .first()
        .map(|p| s(p, "/ip").to_string())
        .unwrap_or_else(|| s(o, "/status/podIP").to_string());
    let gates = arr(o, "/spec/readinessGates");
    let gates_cell = if gates.is_empty() {
        "<none>".to_string()
    } else {
        let t = gates
            .iter()
            .filter(|g| {
                arr(o, "/status/conditions")
                    .iter()
                    .any(|c| s(c, "/type") == s(g, "/conditionType") && s(c, "/status") == "True")
            })
            .count();
        format!("{t}/{}", gates.len())
    };
    vec![
        name(o),
        json!(format!("{ready}/{total}")),
        json!(reason),
        json!(restarts_cell),
        age(o, now),
        or_none(&ip),
        or_none(s(o, "/spec/nodeName")),
        or_none(s(o, "/status/nominatedNodeName")),
        json!(gates_cell),
    ]
}

pub const SERVICE: &[Column] = &[
    c("Name", "string", 0),
    c("Type", "string", 0),
    c("Cluster-IP", "string", 0),
    c("External-IP", "string", 0),
    c("Port(s)", "string", 0),
    c("Age", "string", 0),
    c("Selector", "string", 1),
];

pub fn service(o: &Value, now: i64) -> Vec<Value> {
    let ty = s(o, "/spec/type");
    let cluster_ip = arr(o, "/spec/clusterIPs")
        .first()
        .and_then(Value::as_str)
        .unwrap_or_else(|| s(o, "/spec/clusterIP"));
    let external: Vec<String> = arr(o, "/spec/externalIPs")
        .iter()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect();
    let external_cell = match ty {
        "ClusterIP" | "NodePort" | "" => {
            if external.is_empty() {
                "<none>".into()
            } else {
                external.join(",")
            }
        }
        "LoadBalancer" => {
            let mut lb: Vec<String> = arr(o, "/status/loadBalancer/ingress")
                .iter()
                .map(|i| {
                    if s(i, "/ip").is_empty() {
                        s(i, "/hostname")
                    } else {
                        s(i, "/ip")
                    }
                    .to_string()
                })
                .collect();
            lb.sort();
            lb.dedup();
            lb.extend(external);
            if lb.is_empty() {
                "<pending>".into()
            } else {
                lb.join(",")
            }
        }
        "ExternalName" => s(o, "/spec/externalName").to_string(),
        _ => "<unknown>".into(),
    };
    let ports: Vec<String> = arr(o, "/spec/ports")
        .iter()
        .map(|p| {
            let proto = if s(p, "/protocol").is_empty() {
                "TCP"
            } else {
                s(p, "/protocol")
            };
            if n(p, "/nodePort") > 0 {
                format!("{}:{}/{proto}", n(p, "/port"), n(p, "/nodePort"))
            } else {
                format!("{}/{proto}", n(p, "/port"))
            }
        })
        .collect();
    vec![
        name(o),
        json!(ty),
        or_none(cluster_ip),
        json!(external_cell),
        or_none(&ports.join(",")),
        age(o, now),
        json!(labels(o.pointer("/spec/selector"))),
    ]
}

pub const ENDPOINTS: &[Column] = &[
    c("Name", "string", 0),
    c("Endpoints", "string", 0),
    c("Age", "string", 0),
];

pub fn endpoints(o: &Value, now: i64) -> Vec<Value> {
    let subsets = arr(o, "/subsets");
    let cell = if subsets.is_empty() {
        "<none>".to_string()
    } else {
        let mut all = Vec::new();
        for ss in subsets {
            let ips: Vec<String> = arr(ss, "/addresses")
                .iter()
                .map(|a| s(a, "/ip").to_string())
                .collect();
            let ports = arr(ss, "/ports");
            if ports.is_empty() {
                all.extend(ips);
            } else {
                for p in ports {
                    for ip in &ips {
                        let host = if ip.contains(':') {
                            format!("[{ip}]")
                        } else {
                            ip.clone()
                        };
                        all.push(format!("{host}:{}", n(p, "/port")));
                    }
                }
            }
        }
        first_three(&all)
    };
    vec![name(o), json!(cell), age(o, now)]
}

pub const NODE: &[Column] = &[
    c("Name", "string", 0),
    c("Status", "string", 0),
    c("Roles", "string", 0),
    c("Age", "string", 0),
    c("Version", "string", 0),
    c("Internal-IP", "string", 1),
    c("External-IP", "string", 1),
    c("OS-Image", "string", 1),
    c("Kernel-Version", "string", 1),
    c("Container-Runtime", "string", 1),
];

pub fn node(o: &Value, now: i64) -> Vec<Value> {
    let mut status = match arr(o, "/status/conditions")
        .iter()
        .find(|c| s(c, "/type") == "Ready")
    {
        Some(c) if s(c, "/status") == "True" => vec!["Ready"],
        Some(_) => vec!["NotReady"],
        None => vec!["Unknown"],
    };
    if o.pointer("/spec/unschedulable").and_then(Value::as_bool) == Some(true) {
        status.push("SchedulingDisabled");
    }
    let mut roles: Vec<String> = o
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| {
            if let Some(r) = k
                .strip_prefix("node-role.kubernetes.io/")
                .filter(|r| !r.is_empty())
            {
                Some(r.to_string())
            } else if k == "kubernetes.io/role" {
                v.as_str().filter(|v| !v.is_empty()).map(str::to_string)
            } else {
                None
            }
        })
        .collect();
    roles.sort();
    roles.dedup();
    let addr = |t: &str| {
        arr(o, "/status/addresses")
            .iter()
            .find(|a| s(a, "/type") == t)
            .map(|a| s(a, "/address"))
            .unwrap_or("")
    };
    let or_unknown = |v: &str| json!(if v.is_empty() { "<unknown>" } else { v });
    vec![
        name(o),
        json!(status.join(",")),
        or_none(&roles.join(",")),
        age(o, now),
        json!(s(o, "/status/nodeInfo/kubeletVersion")),
        or_none(addr("InternalIP")),
        or_none(addr("ExternalIP")),
        or_unknown(s(o, "/status/nodeInfo/osImage")),
        or_unknown(s(o, "/status/nodeInfo/kernelVersion")),
        or_unknown(s(o, "/status/nodeInfo/containerRuntimeVersion")),
    ]
}

pub const NAMESPACE: &[Column] = &[
    c("Name", "string", 0),
    c("Status", "string", 0),
    c("Age", "string", 0),
];

pub fn namespace(o: &Value, now: i64) -> Vec<Value> {
    vec![name(o), json!(s(o, "/status/phase")), age(o, now)]
}

fn count(o: &Value, ptr: &str) -> usize {
    o.pointer(ptr)
        .and_then(Value::as_object)
        .map_or(0, |m| m.len())
}

pub const CONFIGMAP: &[Column] = &[
    c("Name", "string", 0),
    c("Data", "string", 0),
    c("Age", "string", 0),
];

pub fn configmap(o: &Value, now: i64) -> Vec<Value> {
    vec![
        name(o),
        json!(count(o, "/data") + count(o, "/binaryData")),
        age(o, now),
    ]
}

pub const SECRET: &[Column] = &[
    c("Name", "string", 0),
    c("Type", "string", 0),
    c("Data", "string", 0),
    c("Age", "string", 0),
];

pub fn secret(o: &Value, now: i64) -> Vec<Value> {
    vec![
        name(o),
        json!(s(o, "/type")),
        json!(count(o, "/data")),
        age(o, now),
    ]
}

pub const SERVICEACCOUNT: &[Column] = &[
    c("Name", "string", 0),
    c("Secrets", "string", 0),
    c("Age", "string", 0),
];

pub fn serviceaccount(o: &Value, now: i64) -> Vec<Value> {
    vec![name(o), json!(arr(o, "/secrets").len()), age(o, now)]
}

pub const EVENT: &[Column] = &[
    c("Last Seen", "string", 0),
    c("Type", "string", 0),
    c("Reason", "string", 0),
    c("Object", "string", 0),
    c("Subobject", "string", 1),
    c("Source", "string", 1),
    c("Message", "string", 0),
    c("First Seen", "string", 1),
    c("Count", "string", 1),
    c("Name", "string", 1),
];

pub fn event(o: &Value, now: i64) -> Vec<Value> {
    let (regarding, note) = if o.get("regarding").is_some() {
        ("/regarding", "/note")
    } else {
        ("/involvedObject", "/message")
    };
    let first = if s(o, "/firstTimestamp").is_empty() {
        since(o, "/eventTime", now)
    } else {
        since(o, "/firstTimestamp", now)
    };
    let last = if o.get("series").is_some_and(|v| !v.is_null()) {
        since(o, "/series/lastObservedTime", now)
    } else if s(o, "/lastTimestamp").is_empty() {
        first.clone()
    } else {
        since(o, "/lastTimestamp", now)
    };
    let kind = s(o, &format!("{regarding}/kind")).to_lowercase();
    let obj_name = s(o, &format!("{regarding}/name"));
    let object = if obj_name.is_empty() {
        kind
    } else {
        format!("{kind}/{obj_name}")
    };
    let component = [
        s(o, "/source/component"),
        s(o, "/reportingController"),
        s(o, "/reportingComponent"),
    ]
    .into_iter()
    .find(|v| !v.is_empty())
    .unwrap_or("");
    let instance = [s(o, "/source/host"), s(o, "/reportingInstance")]
        .into_iter()
        .find(|v| !v.is_empty())
        .unwrap_or("");
    let source = if instance.is_empty() {
        component.to_string()
    } else {
        format!("{component}, {instance}")
    };
    let count = if o.get("series").is_some_and(|v| !v.is_null()) {
        n(o, "/series/count")
    } else {
        n(o, "/count").max(1)
    };
    vec![
        json!(last),
        json!(s(o, "/type")),
        json!(s(o, "/reason")),
        json!(object),
        json!(s(o, &format!("{regarding}/fieldPath"))),
        json!(source),
        json!(s(o, note).trim()),
        json!(first),
        json!(count),
        name(o),
    ]
}

fn access_modes(o: &Value, ptr: &str) -> String {
    let modes: Vec<&str> = arr(o, ptr).iter().filter_map(Value::as_str).collect();
    [
        ("ReadWriteOnce", "RWO"),
        ("ReadOnlyMany", "ROX"),
        ("ReadWriteMany", "RWX"),
        ("ReadWriteOncePod", "RWOP"),
    ]
    .iter()
    .filter(|(m, _)| modes.contains(m))
    .map(|(_, a)| *a)
    .collect::<Vec<_>>()
    .join(",")
}

fn storage_class(o: &Value) -> String {
    let beta = s(
        o,
        "/metadata/annotations/volume.beta.kubernetes.io~1storage-class",
    );
    if beta.is_empty() {
        s(o, "/spec/storageClassName").to_string()
    } else {
        beta.to_string()
    }
}

fn phase_or_terminating(o: &Value) -> String {
    if o.pointer("/metadata/deletionTimestamp")
        .is_some_and(|v| !v.is_null())
    {
        "Terminating".into()
    } else {
        s(o, "/status/phase").to_string()
    }
}

fn unset(v: &str) -> Value {
    json!(if v.is_empty() { "<unset>" } else { v })
}

pub const PV: &[Column] = &[
    c("Name", "string", 0),
    c("Capacity", "string", 0),
    c("Access Modes", "string", 0),
    c("Reclaim Policy", "string", 0),
    c("Status", "string", 0),
    c("Claim", "string", 0),
    c("StorageClass", "string", 0),
    c("VolumeAttributesClass", "string", 0),
    c("Reason", "string", 0),
    c("Age", "string", 0),
    c("VolumeMode", "string", 1),
];

pub fn pv(o: &Value, now: i64) -> Vec<Value> {
    let claim = if o.pointer("/spec/claimRef").is_some() {
        format!(
            "{}/{}",
            s(o, "/spec/claimRef/namespace"),
            s(o, "/spec/claimRef/name")
        )
    } else {
        String::new()
    };
    vec![
        name(o),
        json!(s(o, "/spec/capacity/storage")),
        json!(access_modes(o, "/spec/accessModes")),
        json!(s(o, "/spec/persistentVolumeReclaimPolicy")),
        json!(phase_or_terminating(o)),
        json!(claim),
        json!(storage_class(o)),
        unset(s(o, "/spec/volumeAttributesClassName")),
        json!(s(o, "/status/reason")),
        age(o, now),
        unset(s(o, "/spec/volumeMode")),
    ]
}

pub const PVC: &[Column] = &[
    c("Name", "string", 0),
    c("Status", "string", 0),
    c("Volume", "string", 0),
    c("Capacity", "string", 0),
    c("Access Modes", "string", 0),
    c("StorageClass", "string", 0),
    c("VolumeAttributesClass", "string", 0),
    c("Age", "string", 0),
    c("VolumeMode", "string", 1),
];

pub fn pvc(o: &Value, now: i64) -> Vec<Value> {
    let bound = !s(o, "/spec/volumeName").is_empty();
    vec![
        name(o),
        json!(phase_or_terminating(o)),
        json!(s(o, "/spec/volumeName")),
        json!(if bound {
            s(o, "/status/capacity/storage")
        } else {
            ""
        }),
        json!(if bound {
            access_modes(o, "/status/accessModes")
        } else {
            String::new()
        }),
        json!(storage_class(o)),
        unset(s(o, "/spec/volumeAttributesClassName")),
        age(o, now),
        unset(s(o, "/spec/volumeMode")),
    ]
}

pub const QUOTA: &[Column] = &[
    c("Name", "string", 0),
    c("Request", "string", 0),
    c("Limit", "string", 0),
    c("Age", "string", 0),
];

pub fn quota(o: &Value, now: i64) -> Vec<Value> {
    let hard = o.pointer("/status/hard").and_then(Value::as_object);
    let mut names: Vec<&String> = hard.map(|h| h.keys().collect()).unwrap_or_default();
    names.sort();
    let used = |k: &str| {
        let u = s(
            o,
            &format!("/status/used/{}", k.replace('~', "~0").replace('/', "~1")),
        );
        if u.is_empty() {
            "0".to_string()
        } else {
            u.to_string()
        }
    };
    let render = |limits: bool| {
        names
            .iter()
            .filter(|k| (k.split('.').next() == Some("limits")) == limits)
            .map(|k| {
                format!(
                    "{k}: {}/{}",
                    used(k),
                    hard.and_then(|h| h.get(*k))
                        .and_then(Value::as_str)
                        .unwrap_or("")
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    vec![
        name(o),
        json!(render(false)),
        json!(render(true)),
        age(o, now),
    ]
}

pub const PODTEMPLATE: &[Column] = &[
    c("Name", "string", 0),
    c("Containers", "string", 0),
    c("Images", "string", 0),
    c("Pod Labels", "string", 0),
];

pub fn podtemplate(o: &Value, _now: i64) -> Vec<Value> {
    let (cs, images) = super::containers(o, "/template/spec");
    vec![
        name(o),
        cs,
        images,
        json!(labels(o.pointer("/template/metadata/labels"))),
    ]
}

pub const COMPONENTSTATUS: &[Column] = &[
    c("Name", "string", 0),
    c("Status", "string", 0),
    c("Message", "string", 0),
    c("Error", "string", 0),
];

/// Status is the `Healthy` condition: `Healthy`, `Unhealthy`, or
/// `Unknown` when there is none.
pub fn componentstatus(o: &Value, _now: i64) -> Vec<Value> {
    let healthy = arr(o, "/conditions")
        .iter()
        .find(|c| s(c, "/type") == "Healthy");
    let (status, message, error) = match healthy {
        None => ("Unknown", "", ""),
        Some(c) => (
            if s(c, "/status") == "True" {
                "Healthy"
            } else {
                "Unhealthy"
            },
            s(c, "/message"),
            s(c, "/error"),
        ),
    };
    vec![name(o), json!(status), json!(message), json!(error)]
}
