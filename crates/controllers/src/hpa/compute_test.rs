//! The metrics → replicas step against a fake metrics source.

use std::sync::Mutex;

use k8s_openapi::api::autoscaling::v2::{MetricTarget, ResourceMetricSource};
use serde_json::{json, Value};

use super::*;
use crate::hpa::metrics::MetricsError;

/// Answers the same PodMetricsList (or error) every time, and remembers
/// what it was asked.
struct FakeMetrics {
    answer: Result<Value, MetricsError>,
    asked: Mutex<Vec<(String, String)>>,
}

impl MetricsSource for FakeMetrics {
    async fn pod_metrics(&self, namespace: &str, selector: &str) -> Result<Value, MetricsError> {
        self.asked
            .lock()
            .expect("lock")
            .push((namespace.into(), selector.into()));
        self.answer.clone()
    }
}

fn fake(answer: Result<Value, MetricsError>) -> FakeMetrics {
    FakeMetrics {
        answer,
        asked: Mutex::new(Vec::new()),
    }
}

fn now() -> Timestamp {
    "2026-12-07T12:00:00Z".parse().expect("time")
}

fn pod(name: &str, cpu_request: &str) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "default", "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "web", "image": "busybox",
            "resources": {"requests": {"cpu": cpu_request}}}]},
        "status": {"phase": "Running", "startTime": "2026-12-07T11:00:00Z",
            "conditions": [{"type": "Ready", "status": "True",
                "lastTransitionTime": "2026-12-07T11:00:10Z"}]},
    }))
    .expect("pod")
}

fn usage(pods: &[(&str, &str)]) -> Value {
    json!({"kind": "PodMetricsList", "apiVersion": "metrics.k8s.io/v1beta1", "metadata": {},
        "items": pods.iter().map(|(name, cpu)| json!({
            "metadata": {"name": name, "namespace": "default"},
            "timestamp": "2026-12-07T11:59:50Z", "window": "15s",
            "containers": [{"name": "web", "usage": {"cpu": cpu, "memory": "10Mi"}}],
        })).collect::<Vec<_>>()})
}

fn cpu(target: i32) -> MetricSpec {
    MetricSpec {
        type_: "Resource".into(),
        resource: Some(ResourceMetricSource {
            name: "cpu".into(),
            target: MetricTarget {
                type_: "Utilization".into(),
                average_utilization: Some(target),
                ..Default::default()
            },
        }),
        ..Default::default()
    }
}

#[tokio::test]
async fn cpu_above_target_asks_for_more_replicas() {
    let m = fake(Ok(usage(&[("a", "200m"), ("b", "200m")])));
    let pods = [pod("a", "250m"), pod("b", "250m")];
    let p = replicas_for_metrics(&m, &[cpu(50)], "default", "app=web", 2, &pods, now()).await;
    // 80 % of request against 50 % → ceil(1.6 × 2) = 4.
    assert_eq!(p.replicas, Some(4));
    assert_eq!(p.metric, "cpu resource utilization (percentage of request)");
    assert_eq!(p.statuses.len(), 1);
    let current = &p.statuses[0].resource.as_ref().expect("resource").current;
    assert_eq!(current.average_utilization, Some(80));
    assert_eq!(current.average_value, Some(Quantity("200m".into())));
    let c = p.condition.expect("condition");
    assert_eq!((c.status, c.reason.as_str()), (true, "ValidMetricFound"));
    assert_eq!(
        c.message,
        "the HPA was able to successfully calculate a replica count from cpu resource utilization (percentage of request)"
    );
    assert_eq!(
        m.asked.lock().expect("lock").as_slice(),
        [("default".to_string(), "app=web".to_string())]
    );
}

#[tokio::test]
async fn no_metrics_is_a_warning_and_scaling_inactive() {
    let m = fake(Ok(json!({"items": []})));
    let pods = [pod("a", "250m")];
    let p = replicas_for_metrics(&m, &[cpu(50)], "default", "app=web", 1, &pods, now()).await;
    assert_eq!(p.replicas, None);
    let err = "failed to get cpu utilization: unable to get metrics for resource cpu: no metrics returned from resource metrics API";
    assert_eq!(
        p.events,
        vec![(true, "FailedGetResourceMetric", err.to_string())]
    );
    let c = p.condition.expect("condition");
    assert_eq!(
        (c.status, c.reason.as_str()),
        (false, "FailedGetResourceMetric")
    );
    assert_eq!(
        c.message,
        format!("the HPA was unable to compute the replica count: {err}")
    );
    assert_eq!(
        p.error.as_deref(),
        Some(format!("invalid metrics (1 invalid out of 1), first error is: {err}").as_str())
    );
}

#[tokio::test]
async fn an_unreachable_metrics_api_is_reported_as_kube_does() {
    let m = fake(Err(MetricsError::Fetch(
        "the server could not find the requested resource".into(),
    )));
    let pods = [pod("a", "250m")];
    let p = replicas_for_metrics(&m, &[cpu(50)], "default", "app=web", 1, &pods, now()).await;
    assert_eq!(p.replicas, None);
    assert!(p.events[0].2.contains(
        "unable to fetch metrics from resource metrics API: the server could not find the requested resource"
    ));
}

#[tokio::test]
async fn the_largest_proposal_wins_and_a_failed_metric_blocks_scaling_down_only() {
    let m = fake(Ok(usage(&[("a", "100m"), ("b", "100m")])));
    let pods = [pod("a", "250m"), pod("b", "250m")];
    let mut memory = cpu(50);
    if let Some(r) = memory.resource.as_mut() {
        r.name = "memory".into();
    }
    // cpu at 40 % of a 10 % target → 8; memory has no request → fails.
    let p = replicas_for_metrics(
        &m,
        &[cpu(10), memory.clone()],
        "default",
        "",
        2,
        &pods,
        now(),
    )
    .await;
    assert_eq!(p.replicas, Some(8));
    assert_eq!(p.events.len(), 1);
    assert!(p.events[0]
        .2
        .contains("missing request for memory in container web of Pod a"));
    // At a 90 % target cpu would scale down: with a failed metric, no count.
    let p = replicas_for_metrics(&m, &[cpu(90), memory], "default", "", 2, &pods, now()).await;
    assert_eq!(p.replicas, None);
}
