//! The examples of Kubernetes' HPA documentation ("Configurable scaling
//! behavior") and of `horizontal_test.go`.

use k8s_openapi::api::autoscaling::v2::HPAScalingPolicy;

use super::*;

fn t(secs: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + secs).expect("time")
}

fn policy(ty: &str, value: i32, period: i32) -> HPAScalingPolicy {
    HPAScalingPolicy {
        type_: ty.into(),
        value,
        period_seconds: period,
    }
}

fn rules(window: i32, select: &str, policies: Vec<HPAScalingPolicy>) -> HPAScalingRules {
    HPAScalingRules {
        stabilization_window_seconds: Some(window),
        select_policy: Some(select.into()),
        policies: Some(policies),
        tolerance: None,
    }
}

/// What the API server defaults an empty `behavior: {}` to.
fn defaults() -> HorizontalPodAutoscalerBehavior {
    HorizontalPodAutoscalerBehavior {
        scale_up: Some(rules(
            0,
            "Max",
            vec![policy("Pods", 4, 15), policy("Percent", 100, 15)],
        )),
        scale_down: Some(rules(300, "Max", vec![policy("Percent", 100, 15)])),
    }
}

#[test]
fn default_scale_up_takes_the_larger_of_4_pods_and_100_percent() {
    let mut h = History::default();
    h.record_initial(1, t(0));
    let n = h.normalize_with_behavior(&defaults(), 1, 10, 1, 20, t(0));
    assert_eq!(n.replicas, 5);
    assert_eq!(n.limited, (true, UP_LIMIT));
    let mut h = History::default();
    let n = h.normalize_with_behavior(&defaults(), 10, 50, 1, 100, t(0));
    assert_eq!(n.replicas, 20, "100 % of 10 beats 4 pods");
}

#[test]
fn scale_down_policies_per_period_as_documented() {
    // "Pods 4 per 60 s and Percent 10 per 60 s: with 80 replicas, 8
    // replicas go in the first step" (selectPolicy Max: the larger change).
    let b = HorizontalPodAutoscalerBehavior {
        scale_up: None,
        scale_down: Some(rules(
            0,
            "Max",
            vec![policy("Pods", 4, 60), policy("Percent", 10, 60)],
        )),
    };
    let mut h = History::default();
    let n = h.normalize_with_behavior(&b, 80, 10, 1, 100, t(0));
    assert_eq!((n.replicas, n.limited), (72, (true, DOWN_LIMIT)));
    h.record_scale(Some(&b), 80, 72, t(0));
    // Within the same period nothing more goes.
    let n = h.normalize_with_behavior(&b, 72, 10, 1, 100, t(30));
    assert_eq!(n.replicas, 72);
    // A period later: 10 % of 72 = 7.2, more than 4 → 64.
    let n = h.normalize_with_behavior(&b, 72, 10, 1, 100, t(61));
    assert_eq!(n.replicas, 64);
}

#[test]
fn select_policy_min_and_disabled() {
    let down = |select| HorizontalPodAutoscalerBehavior {
        scale_up: None,
        scale_down: Some(rules(
            0,
            select,
            vec![policy("Pods", 4, 60), policy("Percent", 10, 60)],
        )),
    };
    let mut h = History::default();
    let n = h.normalize_with_behavior(&down("Min"), 80, 10, 1, 100, t(0));
    assert_eq!(n.replicas, 76, "Min: the smaller change");
    let mut h = History::default();
    let n = h.normalize_with_behavior(&down("Disabled"), 80, 10, 1, 100, t(0));
    assert_eq!(n.replicas, 80, "Disabled: no scale-down");
}

#[test]
fn the_scale_down_window_keeps_the_highest_recent_recommendation() {
    let mut h = History::default();
    h.record_initial(5, t(0));
    let n = h.normalize_with_behavior(&defaults(), 5, 3, 1, 10, t(30));
    assert_eq!(n.replicas, 5);
    assert_eq!(n.able_to_scale, DOWN_STABILIZED);
    // 300 s after the last higher recommendation, down it goes.
    let n = h.normalize_with_behavior(&defaults(), 5, 3, 1, 10, t(331));
    assert_eq!(n.replicas, 3);
    assert_eq!(n.able_to_scale, READY);
}

#[test]
fn a_scale_up_window_keeps_the_lowest_recent_recommendation() {
    let mut b = defaults();
    if let Some(up) = b.scale_up.as_mut() {
        up.stabilization_window_seconds = Some(60);
    }
    let mut h = History::default();
    h.record_initial(2, t(0));
    let n = h.normalize_with_behavior(&b, 2, 6, 1, 10, t(10));
    assert_eq!((n.replicas, n.able_to_scale), (2, UP_STABILIZED));
    let n = h.normalize_with_behavior(&b, 2, 6, 1, 10, t(80));
    assert_eq!(n.replicas, 6);
}

#[test]
fn without_behavior_min_max_and_doubling() {
    let mut h = History::default();
    h.record_initial(2, t(0));
    let n = h.normalize(2, 20, 1, 10, t(0));
    assert_eq!((n.replicas, n.limited), (4, (true, UP_LIMIT)));
    let n = h.normalize(4, 20, 1, 6, t(15));
    assert_eq!((n.replicas, n.limited), (6, (true, TOO_MANY)));
    let mut h = History::default();
    let n = h.normalize(3, 0, 2, 6, t(0));
    assert_eq!((n.replicas, n.limited), (2, (true, TOO_FEW)));
    let n = h.normalize(3, 3, 2, 6, t(0));
    assert_eq!((n.replicas, n.limited), (3, (false, WITHIN)));
}
