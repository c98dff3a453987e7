use super::*;
use serde_json::json;

fn v2_full() -> Value {
    json!({
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", "namespace": "default", "annotations": {"team": "a"}},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": 1, "maxReplicas": 5,
            "metrics": [
                {"type": "Resource", "resource": {"name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": 50}}},
                {"type": "Resource", "resource": {"name": "memory",
                    "target": {"type": "AverageValue", "averageValue": "64Mi"}}},
                {"type": "Pods", "pods": {"metric": {"name": "qps"},
                    "target": {"type": "AverageValue", "averageValue": "10"}}},
            ],
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": 60,
                "selectPolicy": "Max",
                "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]}},
        },
        "status": {
            "currentReplicas": 2, "desiredReplicas": 3,
            "currentMetrics": [{"type": "Resource", "resource": {"name": "cpu",
                "current": {"averageUtilization": 70, "averageValue": "350m"}}}],
            "conditions": [{"type": "AbleToScale", "status": "True",
                "reason": "SucceededRescale", "message": "ok",
                "lastTransitionTime": "2026-01-01T00:00:00Z"}],
        },
    })
}

#[test]
fn v2_to_v1_keeps_the_cpu_target_in_fields_and_the_rest_in_annotations() {
    let mut o = v2_full();
    crate::conversion::convert("autoscaling", "HorizontalPodAutoscaler", &mut o, "v1");
    assert_eq!(o["apiVersion"], "autoscaling/v1");
    assert_eq!(o["spec"]["targetCPUUtilizationPercentage"], 50);
    assert!(o["spec"].get("metrics").is_none());
    assert!(o["spec"].get("behavior").is_none());
    assert_eq!(o["status"]["currentCPUUtilizationPercentage"], 70);
    let a = &o["metadata"]["annotations"];
    assert_eq!(a["team"], "a");
    let metrics: Value =
        serde_json::from_str(a[METRIC_SPECS_ANNOTATION].as_str().expect("metrics")).expect("json");
    assert_eq!(
        metrics,
        json!([
            {"type": "Resource", "resource": {"name": "memory", "targetAverageValue": "64Mi"}},
            {"type": "Pods", "pods": {"metricName": "qps", "targetAverageValue": "10"}},
        ])
    );
    let behavior: Value =
        serde_json::from_str(a[BEHAVIOR_ANNOTATION].as_str().expect("behavior")).expect("json");
    assert_eq!(behavior["ScaleDown"]["StabilizationWindowSeconds"], 60);
    assert_eq!(behavior["ScaleDown"]["Policies"][0]["PeriodSeconds"], 15);
    assert!(a[CONDITIONS_ANNOTATION].as_str().is_some());
    assert!(a[METRIC_STATUSES_ANNOTATION]
        .as_str()
        .expect("current")
        .contains("currentAverageUtilization"));
}

#[test]
fn v2_to_v1_to_v2_loses_nothing() {
    let mut o = v2_full();
    crate::conversion::convert("autoscaling", "HorizontalPodAutoscaler", &mut o, "v1");
    crate::conversion::convert("autoscaling", "HorizontalPodAutoscaler", &mut o, "v2");
    assert_eq!(o, v2_full());
}

#[test]
fn a_plain_v1_object_becomes_a_cpu_utilization_metric() {
    let mut o = json!({
        "apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web"},
        "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"},
            "maxReplicas": 3, "targetCPUUtilizationPercentage": 80},
        "status": {"currentReplicas": 1, "desiredReplicas": 1,
            "currentCPUUtilizationPercentage": 12},
    });
    crate::conversion::convert("autoscaling", "HorizontalPodAutoscaler", &mut o, "v2");
    assert_eq!(o["apiVersion"], "autoscaling/v2");
    assert_eq!(
        o["spec"]["metrics"],
        json!([{"type": "Resource", "resource": {"name": "cpu",
            "target": {"type": "Utilization", "averageUtilization": 80}}}])
    );
    assert_eq!(
        o["status"]["currentMetrics"],
        json!([{"type": "Resource", "resource": {"name": "cpu",
            "current": {"averageUtilization": 12}}}])
    );
    assert!(o["metadata"].get("annotations").is_none());
}

#[test]
fn stale_round_trip_annotations_written_through_v2_are_dropped_going_to_v1() {
    let mut o = v2_full();
    o["metadata"]["annotations"][METRIC_SPECS_ANNOTATION] = json!("[garbage");
    o["spec"]["metrics"] = json!([]);
    crate::conversion::convert("autoscaling", "HorizontalPodAutoscaler", &mut o, "v1");
    assert!(o["metadata"]["annotations"]
        .get(METRIC_SPECS_ANNOTATION)
        .is_none());
}

#[test]
fn behavior_annotation_is_read_case_insensitively() {
    let mut o = json!({
        "apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", "annotations": {BEHAVIOR_ANNOTATION:
            r#"{"ScaleUp":{"StabilizationWindowSeconds":0,"SelectPolicy":"Max","Policies":[{"Type":"Pods","Value":4,"PeriodSeconds":15}],"Tolerance":null}}"#}},
        "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 3},
    });
    crate::conversion::convert("autoscaling", "HorizontalPodAutoscaler", &mut o, "v2");
    assert_eq!(
        o["spec"]["behavior"],
        json!({"scaleUp": {"stabilizationWindowSeconds": 0, "selectPolicy": "Max",
            "policies": [{"type": "Pods", "value": 4, "periodSeconds": 15}]}})
    );
}
