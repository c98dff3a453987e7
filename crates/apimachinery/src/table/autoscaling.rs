//! The HorizontalPodAutoscaler printer (kube's
//! `printHorizontalPodAutoscaler` and `formatHPAMetrics`): NAME,
//! REFERENCE (`Kind/name`), TARGETS (`cpu: 50%/80%`, `<unknown>` until the
//! controller measured; two metrics at most, then `+ N more...`), MINPODS,
//! MAXPODS, REPLICAS, AGE. A v1 object is printed as its v2 form, as
//! kube-apiserver prints the internal object whatever the version.

use serde_json::{json, Value};

use super::{age, arr, c, n, s, Column};

pub(super) const HPA: &[Column] = &[
    c("Name", "string", 0),
    c("Reference", "string", 0),
    c("Targets", "string", 0),
    c("MinPods", "string", 0),
    c("MaxPods", "integer", 0),
    c("Replicas", "integer", 0),
    c("Age", "string", 0),
];

pub(super) fn hpa(o: &Value, now: i64) -> Vec<Value> {
    let mut v2;
    let o = if s(o, "/apiVersion") == "autoscaling/v1" {
        v2 = o.clone();
        crate::conversion::convert("autoscaling", "HorizontalPodAutoscaler", &mut v2, "v2");
        &v2
    } else {
        o
    };
    let reference = format!(
        "{}/{}",
        s(o, "/spec/scaleTargetRef/kind"),
        s(o, "/spec/scaleTargetRef/name")
    );
    let min = match o.pointer("/spec/minReplicas").and_then(Value::as_i64) {
        Some(m) => m.to_string(),
        None => "<unset>".to_string(),
    };
    vec![
        json!(s(o, "/metadata/name")),
        json!(reference),
        json!(targets(
            arr(o, "/spec/metrics"),
            arr(o, "/status/currentMetrics")
        )),
        json!(min),
        json!(n(o, "/spec/maxReplicas")),
        json!(n(o, "/status/currentReplicas")),
        age(o, now),
    ]
}

/// A Quantity or integer as kubectl shows it.
fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn percent(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_i64).map(|p| format!("{p}%"))
}

/// kube's `formatHPAMetrics`.
pub fn targets(specs: &[Value], statuses: &[Value]) -> String {
    if specs.is_empty() {
        return "<none>".into();
    }
    const MAX: usize = 2;
    let unknown = || "<unknown>".to_string();
    let mut list = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        let status = statuses.get(i);
        let cur = |ptr: &str| status.and_then(|st| st.pointer(ptr));
        let entry = match spec.get("type").and_then(Value::as_str).unwrap_or("") {
            ty @ ("External" | "Object") => {
                let src = if ty == "External" {
                    "external"
                } else {
                    "object"
                };
                let avg = spec.pointer(&format!("/{src}/target/averageValue"));
                if avg.is_some() {
                    let current =
                        text(cur(&format!("/{src}/current/averageValue"))).unwrap_or_else(unknown);
                    format!("{current}/{} (avg)", text(avg).unwrap_or_default())
                } else {
                    let current =
                        text(cur(&format!("/{src}/current/value"))).unwrap_or_else(unknown);
                    let target = text(spec.pointer(&format!("/{src}/target/value")));
                    format!("{current}/{}", target.unwrap_or_default())
                }
            }
            "Pods" => {
                let current = text(cur("/pods/current/averageValue")).unwrap_or_else(unknown);
                let target = text(spec.pointer("/pods/target/averageValue")).unwrap_or_default();
                format!("{current}/{target}")
            }
            ty @ ("Resource" | "ContainerResource") => {
                let src = if ty == "Resource" {
                    "resource"
                } else {
                    "containerResource"
                };
                let name = s(spec, &format!("/{src}/name"));
                let avg = spec.pointer(&format!("/{src}/target/averageValue"));
                if avg.is_some() {
                    let current =
                        text(cur(&format!("/{src}/current/averageValue"))).unwrap_or_else(unknown);
                    format!("{name}: {current}/{}", text(avg).unwrap_or_default())
                } else {
                    let current = percent(cur(&format!("/{src}/current/averageUtilization")))
                        .unwrap_or_else(unknown);
                    let target =
                        percent(spec.pointer(&format!("/{src}/target/averageUtilization")))
                            .unwrap_or_else(|| "<auto>".into());
                    format!("{name}: {current}/{target}")
                }
            }
            _ => "<unknown type>".into(),
        };
        list.push(entry);
    }
    let count = list.len();
    if count > MAX {
        list.truncate(MAX);
        return format!("{} + {} more...", list.join(", "), count - MAX);
    }
    list.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cpu(target: i64) -> Value {
        json!({"type": "Resource", "resource": {"name": "cpu",
            "target": {"type": "Utilization", "averageUtilization": target}}})
    }

    #[test]
    fn targets_show_current_over_target() {
        assert_eq!(targets(&[cpu(80)], &[]), "cpu: <unknown>/80%");
        let status = json!({"type": "Resource", "resource": {"name": "cpu",
            "current": {"averageUtilization": 50, "averageValue": "250m"}}});
        assert_eq!(targets(&[cpu(80)], &[status]), "cpu: 50%/80%");
        let mem = json!({"type": "Resource", "resource": {"name": "memory",
            "target": {"type": "AverageValue", "averageValue": "64Mi"}}});
        assert_eq!(
            targets(&[cpu(80), mem.clone(), cpu(10)], &[]),
            "cpu: <unknown>/80%, memory: <unknown>/64Mi + 1 more..."
        );
        assert_eq!(targets(&[], &[]), "<none>");
    }

    #[test]
    fn a_v1_row_reads_like_the_v2_row() {
        let o = json!({"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web"},
            "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"},
                "minReplicas": 1, "maxReplicas": 5, "targetCPUUtilizationPercentage": 50},
            "status": {"currentReplicas": 2, "desiredReplicas": 2,
                "currentCPUUtilizationPercentage": 30}});
        let row = hpa(&o, 0);
        assert_eq!(row[1], "Deployment/web");
        assert_eq!(row[2], "cpu: 30%/50%");
        assert_eq!(row[3], "1");
        assert_eq!(row[4], 5);
        assert_eq!(row[5], 2);
    }
}
