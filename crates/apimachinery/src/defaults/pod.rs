//! Pod spec defaults (`SetDefaults_PodSpec`, `_Container`, `_Probe`, …).

use serde_json::{json, Map, Value};

use super::set;

/// `imagePullPolicy`: Always for `:latest` or no tag, else IfNotPresent
/// (a digest counts as a tag).
fn pull_policy(image: &str) -> &'static str {
    if image.contains('@') {
        return "IfNotPresent";
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.rsplit_once(':') {
        Some((_, tag)) if tag != "latest" => "IfNotPresent",
        _ => "Always",
    }
}

fn probe(p: &mut Value) {
    let Some(m) = p.as_object_mut() else { return };
    set(m, "timeoutSeconds", json!(1));
    set(m, "periodSeconds", json!(10));
    set(m, "successThreshold", json!(1));
    set(m, "failureThreshold", json!(3));
    if let Some(h) = m.get_mut("httpGet").and_then(Value::as_object_mut) {
        set(h, "path", json!("/"));
        set(h, "scheme", json!("HTTP"));
    }
}

fn container(c: &mut Value) {
    let Some(m) = c.as_object_mut() else { return };
    set(m, "terminationMessagePath", json!("/dev/termination-log"));
    set(m, "terminationMessagePolicy", json!("File"));
    if let Some(image) = m.get("image").and_then(Value::as_str) {
        let policy = pull_policy(image);
        set(m, "imagePullPolicy", json!(policy));
    }
    if let Some(ports) = m.get_mut("ports").and_then(Value::as_array_mut) {
        for p in ports.iter_mut().filter_map(Value::as_object_mut) {
            set(p, "protocol", json!("TCP"));
        }
    }
    for name in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(p) = m.get_mut(name) {
            probe(p);
        }
    }
    // Requests default to limits for what has a limit and no request.
    if let Some(res) = m.get_mut("resources").and_then(Value::as_object_mut) {
        if let Some(limits) = res.get("limits").and_then(Value::as_object).cloned() {
            let requests = res
                .entry("requests")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Some(r) = requests.as_object_mut() {
                for (k, v) in limits {
                    r.entry(k).or_insert(v);
                }
            }
        }
    }
}

fn volume(v: &mut Value) {
    let Some(m) = v.as_object_mut() else { return };
    for source in ["configMap", "secret", "projected", "downwardAPI"] {
        if let Some(s) = m.get_mut(source).and_then(Value::as_object_mut) {
            set(s, "defaultMode", json!(420));
        }
    }
}

/// Defaults a pod spec (of a pod or of a template).
pub fn spec(spec: &mut Value) {
    let Some(m) = spec.as_object_mut() else {
        return;
    };
    set(m, "restartPolicy", json!("Always"));
    set(m, "dnsPolicy", json!("ClusterFirst"));
    set(m, "terminationGracePeriodSeconds", json!(30));
    set(m, "schedulerName", json!("default-scheduler"));
    set(m, "securityContext", json!({}));
    set(m, "enableServiceLinks", json!(true));
    if m.contains_key("serviceAccountName") || m.contains_key("serviceAccount") {
        let name = m
            .get("serviceAccountName")
            .or_else(|| m.get("serviceAccount"))
            .cloned()
            .unwrap_or(Value::Null);
        set(m, "serviceAccountName", name.clone());
        set(m, "serviceAccount", name);
    }
    for list in ["containers", "initContainers", "ephemeralContainers"] {
        if let Some(cs) = m.get_mut(list).and_then(Value::as_array_mut) {
            cs.iter_mut().for_each(container);
        }
    }
    if let Some(vs) = m.get_mut("volumes").and_then(Value::as_array_mut) {
        vs.iter_mut().for_each(volume);
    }
    super::storage::pod_spec_claims(spec);
}

/// Defaults the pod template at `template` of a workload.
pub fn template(obj: &mut Value, path: &str) {
    if let Some(s) = obj.pointer_mut(&format!("{path}/spec")) {
        spec(s);
    }
}

/// The pod's QoS class: Guaranteed when every container's cpu and memory
/// limits equal its requests, BestEffort with no requests or limits at
/// all, Burstable otherwise.
pub fn qos_class(spec: &Value) -> &'static str {
    let containers: Vec<&Value> = ["containers", "initContainers"]
        .iter()
        .filter_map(|l| spec.get(*l).and_then(Value::as_array))
        .flatten()
        .collect();
    let res = |c: &Value, kind: &str, name: &str| {
        c.pointer(&format!("/resources/{kind}/{name}"))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let any = containers.iter().any(|c| {
        ["requests", "limits"].iter().any(|k| {
            c.pointer(&format!("/resources/{k}"))
                .and_then(Value::as_object)
                .is_some_and(|m| !m.is_empty())
        })
    });
    if !any {
        return "BestEffort";
    }
    let guaranteed = containers.iter().all(|c| {
        ["cpu", "memory"].iter().all(|r| {
            let limit = res(c, "limits", r);
            limit.is_some() && res(c, "requests", r).or(limit.clone()) == limit
        })
    });
    if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}
