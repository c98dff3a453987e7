//! From the metrics' recommendation to the replica count set (kube's
//! `normalizeDesiredReplicas` and `normalizeDesiredReplicasWithBehaviors`):
//! stabilization windows over past recommendations, then the limits —
//! `minReplicas`/`maxReplicas`, and the rate of change: without
//! `spec.behavior`, at most double (or 4) per sync and scale-down after a
//! 300 s window; with it, the policies of `scaleUp`/`scaleDown` over the
//! scale events of their periods, combined by `selectPolicy`.
//!
//! [`History`] is one HPA's memory (recommendations and scale events),
//! kept by the controller between syncs. Pure: the time is passed in.

use k8s_openapi::api::autoscaling::v2::{HPAScalingRules, HorizontalPodAutoscalerBehavior};
use k8s_openapi::jiff::{SignedDuration, Timestamp};

/// `--horizontal-pod-autoscaler-downscale-stabilization`.
pub const DOWNSCALE_STABILIZATION: SignedDuration = SignedDuration::from_secs(300);

/// One HPA's past recommendations and scale changes.
#[derive(Debug, Clone, Default)]
pub struct History {
    recommendations: Vec<(i32, Timestamp)>,
    scale_up: Vec<(i32, Timestamp)>,
    scale_down: Vec<(i32, Timestamp)>,
}

/// A reason and message of a condition, as kube words them.
pub type Why = (&'static str, &'static str);

/// What normalizing decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Normalized {
    /// The replica count to set.
    pub replicas: i32,
    /// AbleToScale (status True): why the recommendation is what it is.
    pub able_to_scale: Why,
    /// ScalingLimited: whether the limits changed the count, and why.
    pub limited: (bool, Why),
}

const READY: Why = ("ReadyForNewScale", "recommended size matches current size");
const DOWN_STABILIZED: Why = (
    "ScaleDownStabilized",
    "recent recommendations were higher than current one, applying the highest recent recommendation",
);
const UP_STABILIZED: Why = (
    "ScaleUpStabilized",
    "recent recommendations were lower than current one, applying the lowest recent recommendation",
);
const WITHIN: Why = (
    "DesiredWithinRange",
    "the desired count is within the acceptable range",
);
const TOO_FEW: Why = (
    "TooFewReplicas",
    "the desired replica count is less than the minimum replica count",
);
const TOO_MANY: Why = (
    "TooManyReplicas",
    "the desired replica count is more than the maximum replica count",
);
const UP_LIMIT: Why = (
    "ScaleUpLimit",
    "the desired replica count is increasing faster than the maximum scale rate",
);
const DOWN_LIMIT: Why = (
    "ScaleDownLimit",
    "the desired replica count is decreasing faster than the maximum scale rate",
);

impl History {
    /// The first sync's recommendation is the current size (kube's
    /// `recordInitialRecommendation`).
    pub fn record_initial(&mut self, current: i32, now: Timestamp) {
        if self.recommendations.is_empty() {
            self.recommendations.push((current, now));
        }
    }

    /// Remembers a rescale from `from` to `to` (only with a behavior, as
    /// kube does: the policies are what read them).
    pub fn record_scale(
        &mut self,
        behavior: Option<&HorizontalPodAutoscalerBehavior>,
        from: i32,
        to: i32,
        now: Timestamp,
    ) {
        let Some(b) = behavior else { return };
        let longest = |r: Option<&HPAScalingRules>| {
            r.and_then(|r| r.policies.as_ref())
                .into_iter()
                .flatten()
                .map(|p| p.period_seconds)
                .max()
                .unwrap_or(0)
        };
        let (events, change, period) = if to > from {
            (&mut self.scale_up, to - from, longest(b.scale_up.as_ref()))
        } else {
            (
                &mut self.scale_down,
                from - to,
                longest(b.scale_down.as_ref()),
            )
        };
        let cutoff = now - SignedDuration::from_secs(i64::from(period));
        events.retain(|(_, t)| *t >= cutoff);
        events.push((change, now));
    }

    /// Without `spec.behavior`.
    pub fn normalize(
        &mut self,
        current: i32,
        desired: i32,
        min: i32,
        max: i32,
        now: Timestamp,
    ) -> Normalized {
        let cutoff = now - DOWNSCALE_STABILIZATION;
        let mut stabilized = desired;
        for (r, t) in &self.recommendations {
            if *t >= cutoff && *r > stabilized {
                stabilized = *r;
            }
        }
        self.remember(desired, now, DOWNSCALE_STABILIZATION);
        let able = if stabilized != desired {
            DOWN_STABILIZED
        } else {
            READY
        };
        let up_limit = (2 * current).max(4);
        let (max_allowed, max_why) = if max > up_limit {
            (up_limit, UP_LIMIT)
        } else {
            (max, TOO_MANY)
        };
        let (replicas, why) = if stabilized < min {
            (min, TOO_FEW)
        } else if stabilized > max_allowed {
            (max_allowed, max_why)
        } else {
            (stabilized, WITHIN)
        };
        Normalized {
            replicas,
            able_to_scale: able,
            limited: (replicas != stabilized, why),
        }
    }

    /// With `spec.behavior` (defaulted by the API server).
    pub fn normalize_with_behavior(
        &mut self,
        behavior: &HorizontalPodAutoscalerBehavior,
        current: i32,
        desired: i32,
        min: i32,
        max: i32,
        now: Timestamp,
    ) -> Normalized {
        let window = |r: Option<&HPAScalingRules>, default: i64| {
            SignedDuration::from_secs(
                r.and_then(|r| r.stabilization_window_seconds)
                    .map(i64::from)
                    .unwrap_or(default),
            )
        };
        let up_window = window(behavior.scale_up.as_ref(), 0);
        let down_window = window(
            behavior.scale_down.as_ref(),
            DOWNSCALE_STABILIZATION.as_secs(),
        );
        let (mut up_rec, mut down_rec) = (desired, desired);
        for (r, t) in &self.recommendations {
            if *t > now - up_window {
                up_rec = up_rec.min(*r);
            }
            if *t > now - down_window {
                down_rec = down_rec.max(*r);
            }
        }
        let stabilized = current.max(up_rec).min(down_rec);
        self.remember(desired, now, up_window.max(down_window));
        let able = if stabilized == desired {
            READY
        } else if desired >= current {
            UP_STABILIZED
        } else {
            DOWN_STABILIZED
        };
        let (replicas, why) = if stabilized > current {
            let limit = self
                .scale_up_limit(current, behavior.scale_up.as_ref(), now)
                .max(current);
            let (allowed, why) = if max > limit {
                (limit, UP_LIMIT)
            } else {
                (max, TOO_MANY)
            };
            if stabilized > allowed {
                (allowed, why)
            } else {
                (stabilized, WITHIN)
            }
        } else if stabilized < current {
            let limit = self
                .scale_down_limit(current, behavior.scale_down.as_ref(), now)
                .min(current);
            let (allowed, why) = if min < limit {
                (limit, DOWN_LIMIT)
            } else {
                (min, TOO_FEW)
            };
            if stabilized < allowed {
                (allowed, why)
            } else {
                (stabilized, WITHIN)
            }
        } else {
            (stabilized, WITHIN)
        };
        Normalized {
            replicas,
            able_to_scale: able,
            limited: (replicas != stabilized, why),
        }
    }

    /// Records `desired`, reusing a slot older than `keep`.
    fn remember(&mut self, desired: i32, now: Timestamp, keep: SignedDuration) {
        let cutoff = now - keep;
        match self.recommendations.iter_mut().find(|(_, t)| *t < cutoff) {
            Some(slot) => *slot = (desired, now),
            None => self.recommendations.push((desired, now)),
        }
    }

    fn changes_in(events: &[(i32, Timestamp)], period: i32, now: Timestamp) -> i32 {
        let cutoff = now - SignedDuration::from_secs(i64::from(period));
        events
            .iter()
            .filter(|(_, t)| *t > cutoff)
            .map(|(c, _)| c)
            .sum()
    }

    /// The size at the start of `period` (what changed since undone).
    fn period_start(&self, current: i32, period: i32, now: Timestamp) -> i32 {
        current - Self::changes_in(&self.scale_up, period, now)
            + Self::changes_in(&self.scale_down, period, now)
    }

    fn scale_up_limit(&self, current: i32, rules: Option<&HPAScalingRules>, now: Timestamp) -> i32 {
        let Some(rules) = rules else { return i32::MAX };
        let select = rules.select_policy.as_deref().unwrap_or("Max");
        if select == "Disabled" {
            return current;
        }
        let mut result: Option<i32> = None;
        for p in rules.policies.iter().flatten() {
            let start = self.period_start(current, p.period_seconds, now);
            let proposed = if p.type_ == "Pods" {
                start + p.value
            } else {
                (f64::from(start) * (1.0 + f64::from(p.value) / 100.0)).ceil() as i32
            };
            result = Some(match (result, select) {
                (None, _) => proposed,
                (Some(r), "Min") => r.min(proposed),
                (Some(r), _) => r.max(proposed),
            });
        }
        result.unwrap_or(current)
    }

    fn scale_down_limit(
        &self,
        current: i32,
        rules: Option<&HPAScalingRules>,
        now: Timestamp,
    ) -> i32 {
        let Some(rules) = rules else { return i32::MIN };
        let select = rules.select_policy.as_deref().unwrap_or("Max");
        if select == "Disabled" {
            return current;
        }
        let mut result: Option<i32> = None;
        for p in rules.policies.iter().flatten() {
            let start = self.period_start(current, p.period_seconds, now);
            let proposed = if p.type_ == "Pods" {
                start - p.value
            } else {
                (f64::from(start) * (1.0 - f64::from(p.value) / 100.0)) as i32
            };
            // Max lets the most pods go: the lowest limit.
            result = Some(match (result, select) {
                (None, _) => proposed,
                (Some(r), "Min") => r.max(proposed),
                (Some(r), _) => r.min(proposed),
            });
        }
        result.unwrap_or(current)
    }
}

#[cfg(test)]
#[path = "behavior_test.rs"]
mod tests;
