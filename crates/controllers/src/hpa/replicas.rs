//! The replica count one resource metric asks for (kube's
//! `ReplicaCalculator.GetResourceReplicas` and `GetRawResourceReplicas`):
//! pure, from the target's pods, their metrics and the time.
//!
//! - Pods being deleted, failed or pending are ignored; a pod without a
//!   metric is *missing*; for CPU, a pod not ready, or one still within
//!   the CPU initialization period whose sample may predate its readiness,
//!   is *unready*, and its metric is not used.
//! - The usage ratio (utilization ÷ target, or average ÷ target) of the
//!   ready pods decides; within the tolerance (0.1 either way) nothing
//!   changes.
//! - With missing pods or (scaling up) unready ones, the ratio is computed
//!   again as if the missing pods used 100 % of their request (or the
//!   target, if higher) when scaling down, and nothing when scaling up,
//!   and unready pods nothing; if that flips the direction or lands within
//!   the tolerance, nothing changes.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::jiff::{SignedDuration, Timestamp};

/// kube-controller-manager's `--horizontal-pod-autoscaler-tolerance`.
pub const TOLERANCE: f64 = 0.1;
/// `--horizontal-pod-autoscaler-cpu-initialization-period`.
pub const CPU_INITIALIZATION_PERIOD: SignedDuration = SignedDuration::from_secs(300);
/// `--horizontal-pod-autoscaler-initial-readiness-delay`.
pub const INITIAL_READINESS_DELAY: SignedDuration = SignedDuration::from_secs(30);

/// What the calculation needs to know of a pod.
#[derive(Debug, Clone, PartialEq)]
pub struct PodInfo {
    pub name: String,
    /// `status.phase`.
    pub phase: String,
    /// `metadata.deletionTimestamp` is set.
    pub deleting: bool,
    /// The Ready condition: its status is True, and when it last changed.
    pub ready: Option<(bool, Timestamp)>,
    /// `status.startTime`.
    pub start_time: Option<Timestamp>,
    /// The request of the resource, in thousandths (summed over the
    /// containers, or the one container of a ContainerResource metric);
    /// `Err(container)` when a container has none.
    pub request: Result<i64, String>,
}

/// One pod's sample of one resource.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Usage in thousandths (millicores, or milli-bytes).
    pub value: i64,
    pub timestamp: Timestamp,
    pub window: SignedDuration,
}

/// The pods' samples, by pod name.
pub type Samples = BTreeMap<String, Sample>;

/// Why no replica count could be computed (worded as kube's).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalcError {
    #[error("no pods returned by selector while calculating replica count")]
    NoPods,
    #[error("did not receive metrics for targeted pods (pods might be unready)")]
    NoReadyMetrics,
    #[error("missing request for {resource} in container {container} of Pod {pod}")]
    MissingRequest {
        resource: String,
        container: String,
        pod: String,
    },
    #[error("no metrics returned matched known pods")]
    NoMatchingMetrics,
}

/// The tolerance around a ratio of 1 within which nothing changes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tolerances {
    pub scale_down: f64,
    pub scale_up: f64,
}

impl Default for Tolerances {
    fn default() -> Self {
        Tolerances {
            scale_down: TOLERANCE,
            scale_up: TOLERANCE,
        }
    }
}

impl Tolerances {
    fn within(&self, ratio: f64) -> bool {
        (1.0 - self.scale_down) <= ratio && ratio <= (1.0 + self.scale_up)
    }
}

/// A utilization proposal: replicas, the utilization (percent of
/// request) and the average usage (thousandths) of the ready pods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Utilization {
    pub replicas: i32,
    pub utilization: i32,
    pub raw_average: i64,
}

/// The pods sorted into kube's groups.
struct Groups {
    ready: usize,
    unready: BTreeSet<String>,
    missing: BTreeSet<String>,
    ignored: BTreeSet<String>,
}

fn group_pods(pods: &[PodInfo], samples: &Samples, cpu: bool, now: Timestamp) -> Groups {
    let mut g = Groups {
        ready: 0,
        unready: BTreeSet::new(),
        missing: BTreeSet::new(),
        ignored: BTreeSet::new(),
    };
    for pod in pods {
        if pod.deleting || pod.phase == "Failed" || pod.phase == "Pending" {
            g.ignored.insert(pod.name.clone());
            continue;
        }
        let Some(sample) = samples.get(&pod.name) else {
            g.missing.insert(pod.name.clone());
            continue;
        };
        if cpu {
            let unready = match (pod.ready, pod.start_time) {
                (Some((ready, changed)), Some(start)) => {
                    if start + CPU_INITIALIZATION_PERIOD > now {
                        // Within the initialization period: a sample taken
                        // before the pod became ready may show start-up
                        // usage.
                        !ready || sample.timestamp < changed + sample.window
                    } else {
                        !ready && start + INITIAL_READINESS_DELAY > changed
                    }
                }
                _ => true,
            };
            if unready {
                g.unready.insert(pod.name.clone());
                continue;
            }
        }
        g.ready += 1;
    }
    g
}

fn requests(pods: &[PodInfo], resource: &str) -> Result<BTreeMap<String, i64>, CalcError> {
    let mut out = BTreeMap::new();
    for pod in pods {
        match &pod.request {
            Ok(r) => {
                out.insert(pod.name.clone(), *r);
            }
            Err(container) => {
                return Err(CalcError::MissingRequest {
                    resource: resource.to_string(),
                    container: container.clone(),
                    pod: pod.name.clone(),
                })
            }
        }
    }
    Ok(out)
}

/// Usage ratio, utilization and average usage of `samples` against
/// `requests` (kube's `GetResourceUtilizationRatio`).
fn utilization_ratio(
    samples: &Samples,
    requests: &BTreeMap<String, i64>,
    target: i32,
) -> Result<(f64, i32, i64), CalcError> {
    let (mut used, mut requested, mut n) = (0i64, 0i64, 0i64);
    for (pod, s) in samples {
        let Some(r) = requests.get(pod) else { continue };
        used += s.value;
        requested += r;
        n += 1;
    }
    if requested == 0 {
        return Err(CalcError::NoMatchingMetrics);
    }
    let utilization = ((used * 100) / requested) as i32;
    Ok((
        f64::from(utilization) / f64::from(target.max(1)),
        utilization,
        used / n,
    ))
}

/// The replicas a utilization target asks for.
pub fn resource_replicas(
    current: i32,
    target_utilization: i32,
    resource: &str,
    pods: &[PodInfo],
    mut samples: Samples,
    tolerances: Tolerances,
    now: Timestamp,
) -> Result<Utilization, CalcError> {
    if pods.is_empty() {
        return Err(CalcError::NoPods);
    }
    let g = group_pods(pods, &samples, resource == "cpu", now);
    samples.retain(|p, _| !g.ignored.contains(p) && !g.unready.contains(p));
    if samples.is_empty() {
        return Err(CalcError::NoReadyMetrics);
    }
    let requests = requests(pods, resource)?;
    let (ratio, utilization, raw_average) =
        utilization_ratio(&samples, &requests, target_utilization)?;
    let answer = |replicas| Utilization {
        replicas,
        utilization,
        raw_average,
    };
    let scale_up_with_unready = !g.unready.is_empty() && ratio > 1.0;
    if !scale_up_with_unready && g.missing.is_empty() {
        if tolerances.within(ratio) {
            return Ok(answer(current));
        }
        return Ok(answer((ratio * g.ready as f64).ceil() as i32));
    }
    let filler = |value| Sample {
        value,
        timestamp: now,
        window: SignedDuration::ZERO,
    };
    if !g.missing.is_empty() {
        for pod in &g.missing {
            let request = requests.get(pod).copied().unwrap_or(0);
            let value = if ratio < 1.0 {
                request * i64::from(target_utilization.max(100)) / 100
            } else {
                0
            };
            if ratio != 1.0 {
                samples.insert(pod.clone(), filler(value));
            }
        }
    }
    if scale_up_with_unready {
        for pod in &g.unready {
            samples.insert(pod.clone(), filler(0));
        }
    }
    let (new_ratio, _, _) = utilization_ratio(&samples, &requests, target_utilization)?;
    if tolerances.within(new_ratio)
        || (ratio < 1.0 && new_ratio > 1.0)
        || (ratio > 1.0 && new_ratio < 1.0)
    {
        return Ok(answer(current));
    }
    let replicas = (new_ratio * samples.len() as f64).ceil() as i32;
    if (new_ratio < 1.0 && replicas > current) || (new_ratio > 1.0 && replicas < current) {
        return Ok(answer(current));
    }
    Ok(answer(replicas))
}

/// The replicas an average-value target (thousandths) asks for; also the
/// average usage of the ready pods.
pub fn raw_resource_replicas(
    current: i32,
    target: i64,
    resource: &str,
    pods: &[PodInfo],
    mut samples: Samples,
    tolerances: Tolerances,
    now: Timestamp,
) -> Result<(i32, i64), CalcError> {
    if pods.is_empty() {
        return Err(CalcError::NoPods);
    }
    let g = group_pods(pods, &samples, resource == "cpu", now);
    samples.retain(|p, _| !g.ignored.contains(p) && !g.unready.contains(p));
    if samples.is_empty() {
        return Err(CalcError::NoReadyMetrics);
    }
    let ratio_of = |s: &Samples| {
        let sum: i64 = s.values().map(|v| v.value).sum();
        let avg = sum / s.len().max(1) as i64;
        (
            sum as f64 / s.len().max(1) as f64 / target.max(1) as f64,
            avg,
        )
    };
    let (ratio, usage) = ratio_of(&samples);
    let scale_up_with_unready = !g.unready.is_empty() && ratio > 1.0;
    if !scale_up_with_unready && g.missing.is_empty() {
        if tolerances.within(ratio) {
            return Ok((current, usage));
        }
        return Ok(((ratio * g.ready as f64).ceil() as i32, usage));
    }
    let filler = |value| Sample {
        value,
        timestamp: now,
        window: SignedDuration::ZERO,
    };
    for pod in &g.missing {
        samples.insert(pod.clone(), filler(if ratio < 1.0 { target } else { 0 }));
    }
    if scale_up_with_unready {
        for pod in &g.unready {
            samples.insert(pod.clone(), filler(0));
        }
    }
    let (new_ratio, _) = ratio_of(&samples);
    if tolerances.within(new_ratio)
        || (ratio < 1.0 && new_ratio > 1.0)
        || (ratio > 1.0 && new_ratio < 1.0)
    {
        return Ok((current, usage));
    }
    let replicas = (new_ratio * samples.len() as f64).ceil() as i32;
    if (new_ratio < 1.0 && replicas > current) || (new_ratio > 1.0 && replicas < current) {
        return Ok((current, usage));
    }
    Ok((replicas, usage))
}

#[cfg(test)]
#[path = "replicas_test.rs"]
mod tests;
