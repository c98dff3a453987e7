//! From the HPA's metric specs to one replica count (kube's
//! `computeReplicasForMetrics`): each resource metric (`Resource`, or
//! `ContainerResource`) is measured through the [`MetricsSource`] and
//! turned into a proposal by `replicas.rs`; the largest proposal wins. A
//! metric that fails gets a Warning event (`FailedGetResourceMetric`,
//! ...); if every metric failed, or some failed and the rest would scale
//! down, there is no count (ScalingActive False), else ScalingActive True
//! `ValidMetricFound`. Pods, Object and External metrics need a custom or
//! external metrics API rkube does not serve: they fail like a metric
//! whose API is missing.

use k8s_openapi::api::autoscaling::v2::{
    ContainerResourceMetricStatus, MetricSpec, MetricStatus, MetricValueStatus,
    ResourceMetricStatus,
};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::jiff::Timestamp;

use super::conditions::{Condition, SCALING_ACTIVE};
use super::metrics::{self, MetricsSource};
use super::replicas::{self, PodInfo, Tolerances};

/// An event to record: warning or not, reason, message.
pub type Event = (bool, &'static str, String);

/// What the metrics asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct Proposal {
    /// The replica count (`None`: no usable count, kube's -1).
    pub replicas: Option<i32>,
    /// The metric that asked for most (`cpu resource utilization
    /// (percentage of request)`).
    pub metric: String,
    /// `status.currentMetrics`, one per spec (empty where it failed).
    pub statuses: Vec<MetricStatus>,
    /// The ScalingActive condition to set.
    pub condition: Option<Condition>,
    /// Events to record.
    pub events: Vec<Event>,
    /// The error kube would return (`invalid metrics (1 invalid out of 1),
    /// first error is: ...`).
    pub error: Option<String>,
}

/// The request of `resource` of a pod (its containers', or one's), in
/// thousandths; `Err(container)` for the first container without one.
fn request(pod: &Pod, resource: &str, container: Option<&str>) -> Result<i64, String> {
    let mut sum = 0i64;
    let containers = pod
        .spec
        .as_ref()
        .map(|s| s.containers.as_slice())
        .unwrap_or(&[]);
    for c in containers {
        if container.is_some_and(|want| c.name != want) {
            continue;
        }
        let q = c
            .resources
            .as_ref()
            .and_then(|r| r.requests.as_ref())
            .and_then(|r| r.get(resource))
            .and_then(|q| rkube_apimachinery::quantity::parse_milli(&q.0));
        match q {
            Some(v) => sum += i64::try_from(v).unwrap_or(i64::MAX),
            None => return Err(c.name.clone()),
        }
    }
    Ok(sum)
}

/// What the calculation needs of `pod`.
pub fn pod_info(pod: &Pod, resource: &str, container: Option<&str>) -> PodInfo {
    let status = pod.status.as_ref();
    let ready = status
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
        .map(|c| {
            (
                c.status == "True",
                c.last_transition_time
                    .as_ref()
                    .map(|t| t.0)
                    .unwrap_or(Timestamp::UNIX_EPOCH),
            )
        });
    PodInfo {
        name: pod.metadata.name.clone().unwrap_or_default(),
        phase: status.and_then(|s| s.phase.clone()).unwrap_or_default(),
        deleting: pod.metadata.deletion_timestamp.is_some(),
        ready,
        start_time: status.and_then(|s| s.start_time.as_ref()).map(|t| t.0),
        request: request(pod, resource, container),
    }
}

/// A quantity of thousandths, as kube's `NewMilliQuantity(v, DecimalSI)`
/// prints it (`250m`, `2`, `67108864`).
pub fn milli_quantity(v: i64) -> Quantity {
    Quantity(if v % 1000 == 0 {
        (v / 1000).to_string()
    } else {
        format!("{v}m")
    })
}

/// One metric's proposal: replicas, its name, its status.
type One = Result<(i32, String, MetricStatus), (String, Event, Condition)>;

async fn one<M: MetricsSource>(
    source: &M,
    spec: &MetricSpec,
    namespace: &str,
    selector: &str,
    current: i32,
    pods: &[Pod],
    now: Timestamp,
) -> One {
    let (resource, container, target) = match spec.type_.as_str() {
        "Resource" => match &spec.resource {
            Some(r) => (r.name.clone(), None, r.target.clone()),
            None => return Err(invalid(spec, "FailedGetResourceMetric")),
        },
        "ContainerResource" => match &spec.container_resource {
            Some(r) => (r.name.clone(), Some(r.container.clone()), r.target.clone()),
            None => return Err(invalid(spec, "FailedGetContainerResourceMetric")),
        },
        other => {
            let reason = match other {
                "Pods" => "FailedGetPodsMetric",
                "Object" => "FailedGetObjectMetric",
                "External" => "FailedGetExternalMetric",
                _ => "InvalidMetricSourceType",
            };
            let err = format!(
                "unable to get metric of type {other}: no custom or external metrics API is served"
            );
            return Err(unable(reason, err));
        }
    };
    let failed_reason = if container.is_some() {
        "FailedGetContainerResourceMetric"
    } else {
        "FailedGetResourceMetric"
    };
    let infos: Vec<PodInfo> = pods
        .iter()
        .map(|p| pod_info(p, &resource, container.as_deref()))
        .collect();
    let samples = match source.pod_metrics(namespace, selector).await {
        Ok(list) => metrics::samples(&list, &resource, container.as_deref()),
        Err(e) => Err(e),
    };
    let what = if target.average_value.is_some() {
        "usage"
    } else {
        "utilization"
    };
    let samples = match samples {
        Ok(s) => s,
        Err(e) => {
            let err = format!(
                "failed to get {resource} {what}: unable to get metrics for resource {resource}: {e}"
            );
            return Err(unable(failed_reason, err));
        }
    };
    let status = |current: MetricValueStatus| {
        let mut s = MetricStatus {
            type_: spec.type_.clone(),
            ..Default::default()
        };
        match &container {
            None => {
                s.resource = Some(ResourceMetricStatus {
                    name: resource.clone(),
                    current,
                })
            }
            Some(c) => {
                s.container_resource = Some(ContainerResourceMetricStatus {
                    name: resource.clone(),
                    container: c.clone(),
                    current,
                })
            }
        }
        s
    };
    if let Some(avg) = &target.average_value {
        let target_milli = rkube_apimachinery::quantity::parse_milli(&avg.0)
            .and_then(|v| i64::try_from(v).ok())
            .unwrap_or(0);
        return match replicas::raw_resource_replicas(
            current,
            target_milli,
            &resource,
            &infos,
            samples,
            Tolerances::default(),
            now,
        ) {
            Ok((n, usage)) => Ok((
                n,
                format!("{resource} resource"),
                status(MetricValueStatus {
                    average_value: Some(milli_quantity(usage)),
                    ..Default::default()
                }),
            )),
            Err(e) => Err(unable(
                failed_reason,
                format!("failed to get {resource} usage: {e}"),
            )),
        };
    }
    let Some(utilization) = target.average_utilization else {
        return Err(unable(
            failed_reason,
            "invalid resource metric source: neither an average utilization target nor an average value (usage) target was set".into(),
        ));
    };
    match replicas::resource_replicas(
        current,
        utilization,
        &resource,
        &infos,
        samples,
        Tolerances::default(),
        now,
    ) {
        Ok(u) => Ok((
            u.replicas,
            format!("{resource} resource utilization (percentage of request)"),
            status(MetricValueStatus {
                average_utilization: Some(u.utilization),
                average_value: Some(milli_quantity(u.raw_average)),
                value: None,
            }),
        )),
        Err(e) => Err(unable(
            failed_reason,
            format!("failed to get {resource} utilization: {e}"),
        )),
    }
}

/// kube's `getUnableComputeReplicaCountCondition`: a Warning event with
/// the error, and ScalingActive False.
fn unable(reason: &'static str, err: String) -> (String, Event, Condition) {
    let condition = Condition::new(
        SCALING_ACTIVE,
        false,
        reason,
        format!("the HPA was unable to compute the replica count: {err}"),
    );
    (err.clone(), (true, reason, err), condition)
}

fn invalid(spec: &MetricSpec, reason: &'static str) -> (String, Event, Condition) {
    unable(
        reason,
        format!(
            "invalid metric source: the {} source is not set",
            spec.type_
        ),
    )
}

/// Every metric's proposal, combined (`computeReplicasForMetrics`).
pub async fn replicas_for_metrics<M: MetricsSource>(
    source: &M,
    specs: &[MetricSpec],
    namespace: &str,
    selector: &str,
    spec_replicas: i32,
    pods: &[Pod],
    now: Timestamp,
) -> Proposal {
    let mut out = Proposal {
        replicas: None,
        metric: String::new(),
        statuses: vec![MetricStatus::default(); specs.len()],
        condition: None,
        events: Vec::new(),
        error: None,
    };
    if specs.is_empty() {
        out.error = Some("the HPA has no metrics".into());
        return out;
    }
    let mut best: Option<i32> = None;
    let mut invalid = 0usize;
    let mut first: Option<(String, Condition)> = None;
    for (i, spec) in specs.iter().enumerate() {
        match one(source, spec, namespace, selector, spec_replicas, pods, now).await {
            Ok((n, name, status)) => {
                out.statuses[i] = status;
                if best.is_none_or(|b| n > b) {
                    best = Some(n);
                    out.metric = name;
                }
            }
            Err((err, event, condition)) => {
                out.events.push(event);
                if first.is_none() {
                    first = Some((err, condition));
                }
                invalid += 1;
            }
        }
    }
    out.statuses.retain(|s| !s.type_.is_empty());
    if let Some((err, condition)) = first {
        out.error = Some(format!(
            "invalid metrics ({invalid} invalid out of {}), first error is: {err}",
            specs.len()
        ));
        if invalid >= specs.len() || best.unwrap_or(0) < spec_replicas {
            out.condition = Some(condition);
            return out;
        }
    }
    out.replicas = best;
    out.condition = Some(Condition::new(
        SCALING_ACTIVE,
        true,
        "ValidMetricFound",
        format!(
            "the HPA was able to successfully calculate a replica count from {}",
            out.metric
        ),
    ));
    out
}

#[cfg(test)]
#[path = "compute_test.rs"]
mod tests;
