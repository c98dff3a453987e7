//! HorizontalPodAutoscaler defaults (`pkg/apis/autoscaling/v1` and `v2`
//! `defaults.go`). Both versions: `minReplicas` 1. v2 also: a CPU
//! utilization target of 80 % when no metric is given, and, when
//! `behavior` is given, every rule it leaves out (`GenerateHPAScaleUpRules`
//! and `GenerateHPAScaleDownRules`): scale-up without a stabilization
//! window by the larger of 100 % or 4 pods per 15 s, scale-down after a
//! 300 s window by up to 100 % per 15 s.

use serde_json::{json, Value};

use super::{obj, set};

/// The CPU utilization target v2 gives an HPA without metrics (kube's
/// `DefaultCPUUtilization`).
pub const DEFAULT_CPU_UTILIZATION: i64 = 80;

/// Defaults of an HPA in the version its `apiVersion` names.
pub fn horizontal_pod_autoscaler(o: &mut Value) {
    let v1 = o.get("apiVersion").and_then(Value::as_str) == Some("autoscaling/v1");
    let Some(spec) = obj(o, "spec") else { return };
    set(spec, "minReplicas", Value::from(1));
    if v1 {
        return;
    }
    let no_metrics = spec
        .get("metrics")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty);
    if no_metrics {
        spec.insert(
            "metrics".into(),
            json!([{"type": "Resource", "resource": {"name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": DEFAULT_CPU_UTILIZATION}}}]),
        );
    }
    let Some(behavior) = spec.get_mut("behavior").filter(|b| b.is_object()) else {
        return;
    };
    if let Some(up) = obj(behavior, "scaleUp") {
        set(up, "stabilizationWindowSeconds", Value::from(0));
        set(up, "selectPolicy", Value::from("Max"));
        set(
            up,
            "policies",
            json!([
                {"type": "Pods", "value": 4, "periodSeconds": 15},
                {"type": "Percent", "value": 100, "periodSeconds": 15},
            ]),
        );
    }
    if let Some(down) = obj(behavior, "scaleDown") {
        set(down, "stabilizationWindowSeconds", Value::from(300));
        set(down, "selectPolicy", Value::from("Max"));
        set(
            down,
            "policies",
            json!([{"type": "Percent", "value": 100, "periodSeconds": 15}]),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v2_gets_min_replicas_a_cpu_target_and_no_behavior_when_none_given() {
        let mut o = json!({"apiVersion": "autoscaling/v2", "spec": {"maxReplicas": 3}});
        horizontal_pod_autoscaler(&mut o);
        assert_eq!(o["spec"]["minReplicas"], 1);
        assert_eq!(
            o["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"],
            80
        );
        assert!(o["spec"].get("behavior").is_none());
    }

    #[test]
    fn a_partial_behavior_is_filled_in_as_kube_does() {
        let mut o = json!({"apiVersion": "autoscaling/v2", "spec": {"maxReplicas": 3,
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": 60}}}});
        horizontal_pod_autoscaler(&mut o);
        let b = &o["spec"]["behavior"];
        assert_eq!(b["scaleDown"]["stabilizationWindowSeconds"], 60);
        assert_eq!(b["scaleDown"]["selectPolicy"], "Max");
        assert_eq!(b["scaleDown"]["policies"][0]["value"], 100);
        assert_eq!(b["scaleUp"]["stabilizationWindowSeconds"], 0);
        assert_eq!(
            b["scaleUp"]["policies"][0],
            json!({"type": "Pods", "value": 4, "periodSeconds": 15})
        );
        assert_eq!(
            b["scaleUp"]["policies"][1],
            json!({"type": "Percent", "value": 100, "periodSeconds": 15})
        );
    }

    #[test]
    fn v1_gets_min_replicas_only() {
        let mut o = json!({"apiVersion": "autoscaling/v1", "spec": {"maxReplicas": 3}});
        horizontal_pod_autoscaler(&mut o);
        assert_eq!(o["spec"]["minReplicas"], 1);
        assert!(o["spec"].get("targetCPUUtilizationPercentage").is_none());
        assert!(o["spec"].get("metrics").is_none());
    }
}
