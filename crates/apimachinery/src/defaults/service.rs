//! Service defaults (`SetDefaults_Service`).

use serde_json::{json, Value};

use super::{obj, set};

pub fn apply(svc: &mut Value) {
    let Some(spec) = obj(svc, "spec") else { return };
    set(spec, "type", json!("ClusterIP"));
    set(spec, "sessionAffinity", json!("None"));
    let ty = spec
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if ty != "ExternalName" {
        set(spec, "internalTrafficPolicy", json!("Cluster"));
    }
    if ty == "NodePort" || ty == "LoadBalancer" {
        set(spec, "externalTrafficPolicy", json!("Cluster"));
    }
    if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
        for p in ports.iter_mut().filter_map(Value::as_object_mut) {
            set(p, "protocol", json!("TCP"));
            if let Some(port) = p.get("port").cloned() {
                set(p, "targetPort", port);
            }
        }
    }
}
