//! PodSecurity admission: a namespace's `pod-security.kubernetes.io/enforce`
//! label (`privileged`, `baseline`, `restricted`) refuses pods that break
//! that level of the Pod Security Standards; `…/warn` only warns. Messages
//! follow kube-apiserver (`violates PodSecurity "baseline:latest": …`).

use serde_json::Value;

use super::Denied;

const LABEL: &str = "pod-security.kubernetes.io/";

/// Capabilities a baseline pod may add.
const BASELINE_CAPS: &[&str] = &[
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

/// Sysctls a baseline pod may set.
const SAFE_SYSCTLS: &[&str] = &[
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
];

fn level(ns: Option<&Value>, mode: &str) -> Option<String> {
    ns?.pointer("/metadata/labels")?
        .get(format!("{LABEL}{mode}"))?
        .as_str()
        .map(str::to_string)
}

fn containers(pod: &Value) -> impl Iterator<Item = &Value> {
    ["initContainers", "containers", "ephemeralContainers"]
        .into_iter()
        .flat_map(move |k| {
            pod.pointer(&format!("/spec/{k}"))
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
        })
}

fn name(c: &Value) -> &str {
    c.get("name").and_then(Value::as_str).unwrap_or("")
}

fn quoted(names: &[String]) -> String {
    let q: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
    q.join(", ")
}

fn plural(names: &[String], one: &str, many: &str) -> String {
    if names.len() == 1 {
        format!("{one} {}", quoted(names))
    } else {
        format!("{many} {}", quoted(names))
    }
}

/// The baseline violations of `pod`.
pub fn baseline(pod: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let spec = pod.get("spec").cloned().unwrap_or(Value::Null);
    let host: Vec<String> = ["hostNetwork", "hostPID", "hostIPC"]
        .iter()
        .filter(|f| spec.get(**f).and_then(Value::as_bool) == Some(true))
        .map(|f| format!("{f}=true"))
        .collect();
    if !host.is_empty() {
        out.push(format!("host namespaces ({})", host.join(", ")));
    }
    let privileged: Vec<String> = containers(pod)
        .filter(|c| {
            c.pointer("/securityContext/privileged")
                .and_then(Value::as_bool)
                == Some(true)
        })
        .map(|c| name(c).to_string())
        .collect();
    if !privileged.is_empty() {
        out.push(format!(
            "privileged ({} must not set securityContext.privileged=true)",
            plural(&privileged, "container", "containers")
        ));
    }
    let mut caps = Vec::new();
    let mut cap_containers = Vec::new();
    for c in containers(pod) {
        let added: Vec<String> = c
            .pointer("/securityContext/capabilities/add")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .filter(|cap| !BASELINE_CAPS.contains(cap))
            .map(str::to_string)
            .collect();
        if !added.is_empty() {
            cap_containers.push(name(c).to_string());
            for cap in added {
                if !caps.contains(&cap) {
                    caps.push(cap);
                }
            }
        }
    }
    if !caps.is_empty() {
        out.push(format!(
            "non-default capabilities ({} must not include {} in securityContext.capabilities.add)",
            plural(&cap_containers, "container", "containers"),
            quoted(&caps)
        ));
    }
    let host_path: Vec<String> = spec
        .get("volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|v| v.get("hostPath").is_some())
        .map(|v| {
            v.get("name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        })
        .collect();
    if !host_path.is_empty() {
        out.push(format!(
            "hostPath volumes ({})",
            plural(&host_path, "volume", "volumes")
        ));
    }
    let mut port_containers = Vec::new();
    let mut ports = Vec::new();
    for c in containers(pod) {
        let used: Vec<String> = c
            .get("ports")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|p| p.get("hostPort").and_then(Value::as_i64))
            .filter(|p| *p != 0)
            .map(|p| p.to_string())
            .collect();
        if !used.is_empty() {
            port_containers.push(name(c).to_string());
            ports.extend(used);
        }
    }
    if !ports.is_empty() {
        out.push(format!(
            "hostPort ({} uses {} {})",
            plural(&port_containers, "container", "containers"),
            if ports.len() == 1 {
                "hostPort"
            } else {
                "hostPorts"
            },
            ports.join(", ")
        ));
    }
    let unconfined = |v: Option<&Value>| {
        v.and_then(|s| s.get("type")).and_then(Value::as_str) == Some("Unconfined")
    };
    let mut seccomp = Vec::new();
    if unconfined(spec.pointer("/securityContext/seccompProfile")) {
        seccomp.push(
            "pod must not set securityContext.seccompProfile.type to \"Unconfined\"".to_string(),
        );
    }
    let bad: Vec<String> = containers(pod)
        .filter(|c| unconfined(c.pointer("/securityContext/seccompProfile")))
        .map(|c| name(c).to_string())
        .collect();
    if !bad.is_empty() {
        seccomp.push(format!(
            "{} must not set securityContext.seccompProfile.type to \"Unconfined\"",
            plural(&bad, "container", "containers")
        ));
    }
    if !seccomp.is_empty() {
        out.push(format!("seccompProfile ({})", seccomp.join("; ")));
    }
    let proc_mount: Vec<String> = containers(pod)
        .filter(|c| {
            c.pointer("/securityContext/procMount")
                .and_then(Value::as_str)
                == Some("Unmasked")
        })
        .map(|c| name(c).to_string())
        .collect();
    if !proc_mount.is_empty() {
        out.push(format!(
            "procMount ({} must not set securityContext.procMount to \"Unmasked\")",
            plural(&proc_mount, "container", "containers")
        ));
    }
    let sysctls: Vec<String> = spec
        .pointer("/securityContext/sysctls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|s| s.get("name").and_then(Value::as_str))
        .filter(|n| !SAFE_SYSCTLS.contains(n))
        .map(str::to_string)
        .collect();
    if !sysctls.is_empty() {
        out.push(format!("forbidden sysctls ({})", sysctls.join(", ")));
    }
    out
}

/// The restricted violations of `pod` (on top of baseline's).
pub fn restricted(pod: &Value) -> Vec<String> {
    let mut out = baseline(pod);
    let pod_sc = pod.pointer("/spec/securityContext");
    let escalation: Vec<String> = containers(pod)
        .filter(|c| {
            c.pointer("/securityContext/allowPrivilegeEscalation")
                .and_then(Value::as_bool)
                != Some(false)
        })
        .map(|c| name(c).to_string())
        .collect();
    if !escalation.is_empty() {
        out.push(format!(
            "allowPrivilegeEscalation != false ({} must set securityContext.allowPrivilegeEscalation=false)",
            plural(&escalation, "container", "containers")
        ));
    }
    let drop_all: Vec<String> = containers(pod)
        .filter(|c| {
            !c.pointer("/securityContext/capabilities/drop")
                .and_then(Value::as_array)
                .is_some_and(|d| d.iter().any(|x| x == "ALL"))
        })
        .map(|c| name(c).to_string())
        .collect();
    if !drop_all.is_empty() {
        out.push(format!(
            "unrestricted capabilities ({} must set securityContext.capabilities.drop=[\"ALL\"])",
            plural(&drop_all, "container", "containers")
        ));
    }
    let pod_non_root = pod_sc
        .and_then(|s| s.get("runAsNonRoot"))
        .and_then(Value::as_bool)
        == Some(true);
    let root: Vec<String> = containers(pod)
        .filter(|c| {
            let own = c
                .pointer("/securityContext/runAsNonRoot")
                .and_then(Value::as_bool);
            !(own == Some(true) || (own.is_none() && pod_non_root))
        })
        .map(|c| name(c).to_string())
        .collect();
    if !root.is_empty() {
        out.push(format!(
            "runAsNonRoot != true (pod or {} must set securityContext.runAsNonRoot=true)",
            plural(&root, "container", "containers")
        ));
    }
    let pod_seccomp = pod_sc
        .and_then(|s| s.pointer("/seccompProfile/type"))
        .is_some();
    let no_seccomp: Vec<String> = containers(pod)
        .filter(|c| !pod_seccomp && c.pointer("/securityContext/seccompProfile/type").is_none())
        .map(|c| name(c).to_string())
        .collect();
    if !no_seccomp.is_empty() {
        out.push(format!(
            "seccompProfile (pod or {} must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\")",
            plural(&no_seccomp, "container", "containers")
        ));
    }
    out
}

fn violations(level: &str, pod: &Value) -> Vec<String> {
    match level {
        "baseline" => baseline(pod),
        "restricted" => restricted(pod),
        _ => Vec::new(),
    }
}

/// Enforce the namespace's level (403), and collect the warnings of its
/// `warn` level.
pub fn admit(pod: &Value, ns: Option<&Value>) -> Result<Vec<String>, Denied> {
    if let Some(enforce) = level(ns, "enforce") {
        let v = violations(&enforce, pod);
        if !v.is_empty() {
            return Err(Denied(format!(
                "violates PodSecurity \"{enforce}:latest\": {}",
                v.join(", ")
            )));
        }
    }
    let mut warnings = Vec::new();
    if let Some(warn) = level(ns, "warn") {
        let v = violations(&warn, pod);
        if !v.is_empty() {
            warnings.push(format!(
                "would violate PodSecurity \"{warn}:latest\": {}",
                v.join(", ")
            ));
        }
    }
    Ok(warnings)
}
