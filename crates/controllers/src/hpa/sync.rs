//! One sync of one HPA (kube's `reconcileAutoscaler`): read the target's
//! scale, ask the metrics for a count (unless the target is at zero, or
//! outside `minReplicas`..`maxReplicas`, which is corrected first),
//! stabilize and limit it (`behavior.rs`), write the new scale with a
//! `SuccessfulRescale` event, and write the status (current and desired
//! replicas, current metrics, conditions, `lastScaleTime`) when it changed.

use std::sync::Arc;

use k8s_openapi::api::autoscaling::v2::{
    HorizontalPodAutoscaler, HorizontalPodAutoscalerStatus, MetricStatus,
};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::Api;
use kube::ResourceExt;
use rkube_apimachinery::LabelSelector;
use serde_json::{json, Value};
use tracing::info;

use super::behavior::History;
use super::compute::{self, Proposal};
use super::conditions::{self, Condition, ABLE_TO_SCALE, SCALING_ACTIVE, SCALING_LIMITED};
use super::metrics::MetricsSource;
use super::Controller;
use crate::framework::status::merge_status;
use crate::ControllerError;

/// Why a sync ended early (logged; the HPA is synced again next period).
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("{0}")]
    Failed(String),
    #[error(transparent)]
    Controller(#[from] ControllerError),
}

impl<M: MetricsSource> Controller<M> {
    fn warn(&self, hpa: &HorizontalPodAutoscaler, reason: &str, message: &str) {
        self.recorder.warning(hpa, reason, message);
    }

    /// The pods of `namespace` matching `selector`, from the informer.
    fn pods(&self, namespace: &str, selector: &LabelSelector) -> Vec<Pod> {
        self.ctx
            .informers
            .pods
            .store()
            .state()
            .into_iter()
            .filter(|p| p.metadata.namespace.as_deref() == Some(namespace))
            .filter(|p| {
                let labels = p.metadata.labels.clone().unwrap_or_default();
                selector.matches(&labels)
            })
            .map(Arc::unwrap_or_clone)
            .collect()
    }

    /// Syncs `hpa`.
    pub(super) async fn sync(
        &self,
        hpa: &HorizontalPodAutoscaler,
        history: &mut History,
    ) -> Result<(), SyncError> {
        let now = Timestamp::now();
        let ns = hpa.namespace().unwrap_or_default();
        let spec = hpa.spec.clone();
        let target = &spec.scale_target_ref;
        let api_version = target.api_version.clone().unwrap_or_default();
        let reference = format!("{}/{}/{}", target.kind, ns, target.name);
        let old = hpa.status.clone().unwrap_or_default();
        let mut status = HorizontalPodAutoscalerStatus {
            conditions: old.conditions.clone(),
            last_scale_time: old.last_scale_time.clone(),
            current_replicas: old.current_replicas,
            desired_replicas: old.desired_replicas,
            current_metrics: old.current_metrics.clone(),
            observed_generation: hpa.metadata.generation,
        };
        let mut conds = old.conditions.clone().unwrap_or_default();
        let scale = match self
            .scales
            .get(&ns, &api_version, &target.kind, &target.name)
            .await
        {
            Ok(s) => s,
            Err(e) => {
                self.warn(hpa, "FailedGetScale", &e.to_string());
                let c = Condition::new(
                    ABLE_TO_SCALE,
                    false,
                    "FailedGetScale",
                    format!("the HPA controller was unable to get the target's current scale: {e}"),
                );
                conditions::set(&mut conds, &c, now);
                status.conditions = Some(conds);
                self.write_status(hpa, &old, status).await?;
                return Err(SyncError::Failed(format!(
                    "failed to query scale subresource for {reference}: {e}"
                )));
            }
        };
        let able = Condition::new(
            ABLE_TO_SCALE,
            true,
            "SucceededGetScale",
            "the HPA controller was able to get the target's current scale",
        );
        conditions::set(&mut conds, &able, now);
        let current = scale.spec_replicas;
        history.record_initial(current, now);
        let min = spec.min_replicas.unwrap_or(1);
        let max = spec.max_replicas;
        let mut desired = 0;
        let mut reason = String::new();
        let mut metric_statuses: Vec<MetricStatus> = Vec::new();
        let rescale;
        if current == 0 && min != 0 {
            let c = Condition::new(
                SCALING_ACTIVE,
                false,
                "ScalingDisabled",
                "scaling is disabled since the replica count of the target is zero",
            );
            conditions::set(&mut conds, &c, now);
            rescale = false;
        } else if current > max {
            reason = "Current number of replicas above Spec.MaxReplicas".into();
            desired = max;
            rescale = true;
        } else if current < min {
            reason = "Current number of replicas below Spec.MinReplicas".into();
            desired = min;
            rescale = true;
        } else {
            let proposal = self.propose(hpa, &ns, &scale, now).await;
            for (warning, r, message) in &proposal.events {
                if *warning {
                    self.warn(hpa, r, message);
                }
            }
            if let Some(c) = &proposal.condition {
                conditions::set(&mut conds, c, now);
            }
            let Some(proposed) = proposal.replicas else {
                status.current_replicas = Some(current);
                status.current_metrics = non_empty(proposal.statuses);
                status.conditions = Some(conds);
                self.write_status(hpa, &old, status).await?;
                let err = proposal.error.unwrap_or_default();
                self.warn(hpa, "FailedComputeMetricsReplicas", &err);
                return Err(SyncError::Failed(format!(
                    "failed to compute desired number of replicas based on listed metrics for {reference}: {err}"
                )));
            };
            metric_statuses = proposal.statuses;
            desired = proposed.max(0);
            if desired > current {
                reason = format!("{} above target", proposal.metric);
            }
            if desired < current {
                reason = "All metrics below target".into();
            }
            let n = match &spec.behavior {
                None => history.normalize(current, desired, min, max, now),
                Some(b) => history.normalize_with_behavior(b, current, desired, min, max, now),
            };
            let (r, m) = n.able_to_scale;
            conditions::set(&mut conds, &Condition::new(ABLE_TO_SCALE, true, r, m), now);
            let (limited, (r, m)) = n.limited;
            conditions::set(
                &mut conds,
                &Condition::new(SCALING_LIMITED, limited, r, m),
                now,
            );
            desired = n.replicas;
            rescale = desired != current;
        }
        if rescale {
            if let Err(e) = self
                .scales
                .set(&ns, &api_version, &target.kind, &target.name, desired)
                .await
            {
                self.warn(
                    hpa,
                    "FailedRescale",
                    &format!("New size: {desired}; reason: {reason}; error: {e}"),
                );
                let c = Condition::new(
                    ABLE_TO_SCALE,
                    false,
                    "FailedUpdateScale",
                    format!("the HPA controller was unable to update the target scale: {e}"),
                );
                conditions::set(&mut conds, &c, now);
                status.current_replicas = Some(current);
                status.current_metrics = non_empty(metric_statuses);
                status.conditions = Some(conds);
                self.write_status(hpa, &old, status).await?;
                return Err(SyncError::Failed(format!(
                    "failed to rescale {reference}: {e}"
                )));
            }
            let c = Condition::new(
                ABLE_TO_SCALE,
                true,
                "SucceededRescale",
                format!("the HPA controller was able to update the target scale to {desired}"),
            );
            conditions::set(&mut conds, &c, now);
            self.recorder.normal(
                hpa,
                "SuccessfulRescale",
                &format!("New size: {desired}; reason: {reason}"),
            );
            history.record_scale(spec.behavior.as_ref(), current, desired, now);
            info!(hpa = %hpa.name_any(), namespace = %ns, from = current, to = desired, %reason, "rescaled");
            status.last_scale_time = Some(Time(now));
        } else {
            desired = current;
        }
        status.current_replicas = Some(current);
        status.desired_replicas = desired;
        status.current_metrics = non_empty(metric_statuses);
        status.conditions = Some(conds);
        self.write_status(hpa, &old, status).await?;
        Ok(())
    }

    /// The metrics' proposal, after the scale's selector was checked.
    async fn propose(
        &self,
        hpa: &HorizontalPodAutoscaler,
        ns: &str,
        scale: &super::scale::TargetScale,
        now: Timestamp,
    ) -> Proposal {
        let unusable = |event_reason: &'static str, event: String, message: String| Proposal {
            replicas: None,
            metric: String::new(),
            statuses: Vec::new(),
            condition: Some(Condition::new(
                SCALING_ACTIVE,
                false,
                "InvalidSelector",
                message,
            )),
            events: vec![(true, event_reason, event.clone())],
            error: Some(event),
        };
        if scale.selector.is_empty() {
            return unusable(
                "SelectorRequired",
                "selector is required".into(),
                "the HPA target's scale is missing a selector".into(),
            );
        }
        let selector = match LabelSelector::parse(&scale.selector) {
            Ok(s) => s,
            Err(e) => {
                let e = e.to_string();
                return unusable(
                    "InvalidSelector",
                    format!("couldn't convert selector into a corresponding internal selector object: {e}"),
                    format!("the HPA target's scale has an invalid selector: {e}"),
                );
            }
        };
        let pods = self.pods(ns, &selector);
        let specs = hpa.spec.metrics.clone().unwrap_or_default();
        compute::replicas_for_metrics(
            &self.metrics,
            &specs,
            ns,
            &scale.selector,
            scale.spec_replicas,
            &pods,
            now,
        )
        .await
    }

    /// Writes `status` unless it is what the HPA already has.
    async fn write_status(
        &self,
        hpa: &HorizontalPodAutoscaler,
        old: &HorizontalPodAutoscalerStatus,
        status: HorizontalPodAutoscalerStatus,
    ) -> Result<(), ControllerError> {
        if &status == old {
            return Ok(());
        }
        let mut value = serde_json::to_value(&status)?;
        // A merge patch: name what went away, so it is removed.
        if let Value::Object(m) = &mut value {
            for field in ["currentMetrics", "lastScaleTime", "currentReplicas"] {
                m.entry(field).or_insert(Value::Null);
            }
            m.entry("desiredReplicas").or_insert(json!(0));
        }
        let api: Api<HorizontalPodAutoscaler> = Api::namespaced(
            self.ctx.client.clone(),
            &hpa.namespace().unwrap_or_default(),
        );
        merge_status(&api, &hpa.name_any(), value).await
    }
}

fn non_empty(v: Vec<MetricStatus>) -> Option<Vec<MetricStatus>> {
    (!v.is_empty()).then_some(v)
}
