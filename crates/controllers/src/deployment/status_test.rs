use super::*;
use serde_json::{json, Value};

fn deployment(status: Value) -> Deployment {
    serde_json::from_value(json!({
        "metadata": {"name": "web", "generation": 2},
        "spec": {
            "replicas": 3,
            "progressDeadlineSeconds": 600,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "template": {"metadata": {"labels": {"app": "web"}}}
        },
        "status": status,
    }))
    .expect("deployment")
}

fn rs(name: &str, replicas: i32, status: Value) -> ReplicaSet {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {}},
        "status": status,
    }))
    .expect("replica set")
}

fn at(s: i64) -> Timestamp {
    Timestamp::from_second(s).expect("time")
}

fn reason(s: &DeploymentStatus, t: &str) -> Option<String> {
    get_condition(s, t).and_then(|c| c.reason.clone())
}

#[test]
fn a_finished_rollout_says_its_replica_set_has_progressed() {
    let d = deployment(
        json!({"replicas": 3, "updatedReplicas": 3, "availableReplicas": 2, "observedGeneration": 2,
        "conditions": [{"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated",
                        "lastUpdateTime": "2026-01-01T00:00:00Z", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}),
    );
    let new = rs(
        "web-abc",
        3,
        json!({"replicas": 3, "readyReplicas": 3, "availableReplicas": 3}),
    );
    let s = rollout(&d, &[&new], Some(&new), 0, at(1_800_000_000));
    assert_eq!(s.replicas, Some(3));
    assert_eq!(s.updated_replicas, Some(3));
    assert_eq!(s.available_replicas, Some(3));
    assert_eq!(s.unavailable_replicas, None);
    assert_eq!(s.observed_generation, Some(2));
    let p = get_condition(&s, PROGRESSING).expect("progressing");
    assert_eq!(p.reason.as_deref(), Some(NEW_RS_AVAILABLE));
    assert_eq!(
        p.message.as_deref(),
        Some(r#"ReplicaSet "web-abc" has successfully progressed."#)
    );
    // Same status True: the transition time stays.
    assert_eq!(
        p.last_transition_time.as_ref().map(|t| t.0),
        Some(at(1_767_225_600))
    );
    let a = get_condition(&s, AVAILABLE).expect("available");
    assert_eq!(a.status.as_deref(), Some("True"));
    assert_eq!(
        a.message.as_deref(),
        Some("Deployment has minimum availability.")
    );
    assert!(complete(&d, &s));
    assert_eq!(recheck_after(&d, &s, at(1_800_000_000)), None);
}

#[test]
fn no_progress_past_the_deadline_times_out() {
    let mut d = deployment(
        json!({"replicas": 3, "updatedReplicas": 3, "unavailableReplicas": 3, "observedGeneration": 2,
        "conditions": [{"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated",
                        "lastUpdateTime": "2026-01-01T00:00:00Z", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}),
    );
    d.spec.progress_deadline_seconds = Some(3);
    let new = rs("web-abc", 3, json!({"replicas": 3}));
    let start = 1_767_225_600;
    // Within the deadline: unchanged, look again when it passes (+1s).
    let s = rollout(&d, &[&new], Some(&new), 0, at(start + 1));
    assert_eq!(reason(&s, PROGRESSING).as_deref(), Some(RS_UPDATED));
    assert_eq!(
        reason(&s, AVAILABLE).as_deref(),
        Some(MINIMUM_REPLICAS_UNAVAILABLE)
    );
    assert_eq!(
        recheck_after(&d, &s, at(start + 1)),
        Some(Duration::from_secs(3))
    );
    // Past it.
    let s = rollout(&d, &[&new], Some(&new), 0, at(start + 4));
    let p = get_condition(&s, PROGRESSING).expect("progressing");
    assert_eq!(p.reason.as_deref(), Some(TIMED_OUT));
    assert_eq!(p.status.as_deref(), Some("False"));
    assert_eq!(
        p.message.as_deref(),
        Some(r#"ReplicaSet "web-abc" has timed out progressing."#)
    );
}

#[test]
fn progress_refreshes_the_update_time() {
    let d = deployment(
        json!({"replicas": 3, "updatedReplicas": 1, "observedGeneration": 2,
        "conditions": [{"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated",
                        "lastUpdateTime": "2026-01-01T00:00:00Z", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}),
    );
    let old = rs("web-old", 2, json!({"replicas": 2, "availableReplicas": 2}));
    let new = rs("web-new", 2, json!({"replicas": 2}));
    let s = rollout(&d, &[&old, &new], Some(&new), 0, at(1_800_000_000));
    let p = get_condition(&s, PROGRESSING).expect("progressing");
    assert_eq!(
        p.message.as_deref(),
        Some(r#"ReplicaSet "web-new" is progressing."#)
    );
    assert_eq!(
        p.last_update_time.as_ref().map(|t| t.0),
        Some(at(1_800_000_000))
    );
    assert_eq!(
        p.last_transition_time.as_ref().map(|t| t.0),
        Some(at(1_767_225_600))
    );
    // 2 of 3 available with maxUnavailable 0 (25% of 3, rounded down).
    assert_eq!(
        reason(&s, AVAILABLE).as_deref(),
        Some(MINIMUM_REPLICAS_UNAVAILABLE)
    );
    assert_eq!(s.unavailable_replicas, Some(2));
}

#[test]
fn pausing_and_resuming_set_progressing_unknown() {
    let mut d = deployment(json!({}));
    d.spec.paused = Some(true);
    let s = paused_update(&d, at(1)).expect("paused");
    let p = get_condition(&s, PROGRESSING).expect("progressing");
    assert_eq!(
        (
            p.status.as_deref(),
            p.reason.as_deref(),
            p.message.as_deref()
        ),
        (Some("Unknown"), Some(PAUSED), Some("Deployment is paused"))
    );
    d.status = Some(s);
    assert!(paused_update(&d, at(2)).is_none());
    d.spec.paused = None;
    let s = paused_update(&d, at(3)).expect("resumed");
    assert_eq!(reason(&s, PROGRESSING).as_deref(), Some(RESUMED));
    // Without a deadline there is no Progressing condition at all.
    d.spec.progress_deadline_seconds = None;
    d.spec.paused = Some(true);
    assert!(paused_update(&d, at(4)).is_none());
}
