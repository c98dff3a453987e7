//! The HPA's conditions, kept as kube's `setCondition` keeps them: one per
//! type (AbleToScale, ScalingActive, ScalingLimited), its
//! `lastTransitionTime` moved only when its status changes.

use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscalerCondition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

pub const ABLE_TO_SCALE: &str = "AbleToScale";
pub const SCALING_ACTIVE: &str = "ScalingActive";
pub const SCALING_LIMITED: &str = "ScalingLimited";

/// One condition to set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub type_: &'static str,
    pub status: bool,
    pub reason: String,
    pub message: String,
}

impl Condition {
    pub fn new(
        type_: &'static str,
        status: bool,
        reason: &str,
        message: impl Into<String>,
    ) -> Self {
        Condition {
            type_,
            status,
            reason: reason.to_string(),
            message: message.into(),
        }
    }
}

/// Sets `c` in `list`.
pub fn set(list: &mut Vec<HorizontalPodAutoscalerCondition>, c: &Condition, now: Timestamp) {
    let status = if c.status { "True" } else { "False" };
    let i = match list.iter().position(|x| x.type_ == c.type_) {
        Some(i) => i,
        None => {
            list.push(HorizontalPodAutoscalerCondition {
                type_: c.type_.to_string(),
                ..Default::default()
            });
            list.len() - 1
        }
    };
    let existing = &mut list[i];
    if existing.status != status {
        existing.last_transition_time = Some(Time(now));
    }
    existing.status = status.to_string();
    existing.reason = Some(c.reason.clone());
    existing.message = Some(c.message.clone());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_transition_time_moves_only_when_the_status_does() {
        let t0: Timestamp = "2026-12-07T12:00:00Z".parse().expect("t");
        let t1: Timestamp = "2026-12-07T12:00:15Z".parse().expect("t");
        let mut list = Vec::new();
        set(
            &mut list,
            &Condition::new(ABLE_TO_SCALE, true, "SucceededGetScale", "a"),
            t0,
        );
        set(
            &mut list,
            &Condition::new(ABLE_TO_SCALE, true, "ReadyForNewScale", "b"),
            t1,
        );
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].last_transition_time, Some(Time(t0)));
        assert_eq!(list[0].reason.as_deref(), Some("ReadyForNewScale"));
        set(
            &mut list,
            &Condition::new(ABLE_TO_SCALE, false, "FailedGetScale", "c"),
            t1,
        );
        assert_eq!(list[0].last_transition_time, Some(Time(t1)));
        assert_eq!(list[0].status, "False");
    }
}
