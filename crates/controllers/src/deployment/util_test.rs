use super::*;
use serde_json::{json, Value};

fn deployment(replicas: i32, surge: Value, unavailable: Value) -> Deployment {
    serde_json::from_value(json!({
        "metadata": {"name": "web", "annotations": {"kubernetes.io/change-cause": "v2", REVISION: "7"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "nginx:1"}]}}
        }
    }))
    .expect("deployment")
}

fn rs(name: &str, replicas: i32, created: &str, annotations: Value) -> ReplicaSet {
    serde_json::from_value(json!({
        "metadata": {"name": name, "creationTimestamp": created, "annotations": annotations},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}}},
    }))
    .expect("replica set")
}

#[test]
fn hash_uses_the_safe_alphabet_and_ignores_its_own_label() {
    let d = deployment(3, json!(1), json!(0));
    let h = compute_hash(&d.spec.template, None);
    assert!(!h.is_empty() && h.len() <= 10, "{h}");
    assert!(h.bytes().all(|b| SAFE_ALPHABET.contains(&b)), "{h}");
    assert_eq!(h, compute_hash(&d.spec.template, None));
    assert_ne!(h, compute_hash(&d.spec.template, Some(1)));

    let mut labelled = d.spec.template.clone();
    if let Some(l) = labelled.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
        l.insert(HASH_LABEL.into(), h.clone());
    }
    assert_eq!(h, compute_hash(&labelled, None));
    assert!(equal_ignore_hash(&labelled, &d.spec.template));

    let mut other = d.spec.template.clone();
    if let Some(c) = other.spec.as_mut().map(|s| &mut s.containers[0]) {
        c.image = Some("nginx:2".into());
    }
    assert!(!equal_ignore_hash(&other, &d.spec.template));
    assert_ne!(h, compute_hash(&other, None));
}

#[test]
fn surge_rounds_up_unavailable_rounds_down() {
    let pct = |s: &str| IntOrString::String(s.into());
    assert_eq!(
        resolve_fenceposts(Some(&pct("25%")), Some(&pct("25%")), 3),
        (1, 0)
    );
    assert_eq!(
        resolve_fenceposts(Some(&pct("25%")), Some(&pct("25%")), 10),
        (3, 2)
    );
    assert_eq!(
        resolve_fenceposts(Some(&pct("0%")), Some(&pct("10%")), 5),
        (0, 1)
    );
    assert_eq!(
        resolve_fenceposts(Some(&IntOrString::Int(0)), Some(&IntOrString::Int(0)), 5),
        (0, 1)
    );
    assert_eq!(resolve_fenceposts(None, None, 5), (0, 1));
    assert_eq!(scaled_value(&pct("50%"), 5, true), 3);
    assert_eq!(scaled_value(&pct("50%"), 5, false), 2);

    let d = deployment(4, json!("25%"), json!(10));
    assert_eq!(max_surge(&d), 1);
    // Never more than the replicas.
    assert_eq!(max_unavailable(&d), 4);
    let mut recreate = d.clone();
    recreate.spec.strategy = serde_json::from_value(json!({"type": "Recreate"})).ok();
    assert_eq!((max_surge(&recreate), max_unavailable(&recreate)), (0, 0));
}

#[test]
fn the_new_replica_set_grows_by_the_surge_left() {
    let d = deployment(10, json!("25%"), json!("25%"));
    // 10 old, nothing new: surge is 3.
    assert_eq!(new_rs_new_replicas(&d, 10, 0), 3);
    // 13 in all: no room.
    assert_eq!(new_rs_new_replicas(&d, 13, 3), 3);
    // 7 old + 3 new: up to 13 → 6.
    assert_eq!(new_rs_new_replicas(&d, 10, 3), 6);
    // Never past the desired count.
    assert_eq!(new_rs_new_replicas(&d, 9, 9), 10);
    let mut recreate = d.clone();
    recreate.spec.strategy = serde_json::from_value(json!({"type": "Recreate"})).ok();
    assert_eq!(new_rs_new_replicas(&recreate, 10, 0), 10);
}

#[test]
fn proportional_scaling_splits_extra_replicas_by_size() {
    // Kubernetes' documented example: 10 replicas, maxSurge 3, a rollout
    // at 8 old + 5 new, scaled to 15: 3 more to the old, 2 to the new.
    let mut d = deployment(15, json!(3), json!(2));
    d.status = serde_json::from_value(json!({"replicas": 13})).ok();
    let ann = json!({MAX_REPLICAS: "13", DESIRED_REPLICAS: "10"});
    let old = rs("web-old", 8, "2026-01-01T00:00:00Z", ann.clone());
    let new = rs("web-new", 5, "2026-01-01T00:01:00Z", ann);
    let (sizes, op) = proportional_sizes(&d, &[&old, &new]);
    assert_eq!(op, "up");
    assert_eq!(sizes, vec![(0, 11), (1, 7)]);

    // Down to 5: at most 8, 10 to remove, larger (older on ties) first.
    let mut d5 = deployment(5, json!(3), json!(2));
    d5.status = serde_json::from_value(json!({"replicas": 18})).ok();
    let ann = json!({MAX_REPLICAS: "18"});
    let old = rs("web-old", 11, "2026-01-01T00:00:00Z", ann.clone());
    let new = rs("web-new", 7, "2026-01-01T00:01:00Z", ann);
    let (sizes, op) = proportional_sizes(&d5, &[&old, &new]);
    assert_eq!(op, "down");
    let total: i32 = sizes.iter().map(|(_, s)| s).sum();
    assert_eq!(total, 8);
    assert_eq!(sizes, vec![(0, 5), (1, 3)]);

    // To zero: everything goes.
    let d0 = deployment(0, json!(3), json!(2));
    let (sizes, _) = proportional_sizes(&d0, &[&old, &new]);
    assert_eq!(sizes, vec![(0, 0), (1, 0)]);
}

#[test]
fn a_replica_set_made_new_again_keeps_its_old_revision_in_the_history() {
    let d = deployment(3, json!(1), json!(0));
    let mut r = rs("web-a", 0, "2026-01-01T00:00:00Z", json!({REVISION: "1"}));
    assert!(set_new_rs_annotations(&d, &mut r, 3, true));
    let a = r.metadata.annotations.clone().unwrap_or_default();
    assert_eq!(a.get(REVISION).map(String::as_str), Some("3"));
    assert_eq!(a.get(REVISION_HISTORY).map(String::as_str), Some("1"));
    assert_eq!(
        a.get("kubernetes.io/change-cause").map(String::as_str),
        Some("v2")
    );
    // Existing: no replicas annotations added.
    assert!(!a.contains_key(DESIRED_REPLICAS));
    // Nothing more to do the second time.
    assert!(!set_new_rs_annotations(&d, &mut r, 3, true));
    // Again later: history grows.
    assert!(set_new_rs_annotations(&d, &mut r, 5, true));
    let a = r.metadata.annotations.clone().unwrap_or_default();
    assert_eq!(a.get(REVISION_HISTORY).map(String::as_str), Some("1,3"));

    let mut fresh = rs("web-b", 0, "2026-01-01T00:00:00Z", json!({}));
    assert!(set_new_rs_annotations(&d, &mut fresh, 1, false));
    let a = fresh.metadata.annotations.clone().unwrap_or_default();
    assert_eq!(a.get(REVISION).map(String::as_str), Some("1"));
    assert_eq!(a.get(DESIRED_REPLICAS).map(String::as_str), Some("3"));
    assert_eq!(a.get(MAX_REPLICAS).map(String::as_str), Some("4"));
    assert!(!a.contains_key(REVISION_HISTORY));

    let long = vec!["12345"; 400].join(",");
    let h = extend_history(&long, "9").unwrap_or_default();
    assert!(
        h.len() <= REVISION_HISTORY_CHARS && h.ends_with(",9"),
        "{}",
        h.len()
    );
}

#[test]
fn history_limit_deletes_the_oldest_empty_revisions() {
    let mk = |name: &str, rev: &str, replicas: i32| {
        let mut r = rs(
            name,
            replicas,
            "2026-01-01T00:00:00Z",
            json!({REVISION: rev}),
        );
        r.status = serde_json::from_value(json!({"replicas": replicas})).ok();
        r
    };
    let a = mk("a", "3", 0);
    let b = mk("b", "1", 0);
    let c = mk("c", "2", 2);
    let e = mk("e", "4", 0);
    let old = [&a, &b, &c, &e];
    // Limit 1: three go, lowest revisions first, but c still has replicas.
    assert_eq!(history_victims(&old, 1), vec![1, 0]);
    assert_eq!(history_victims(&old, 4), Vec::<usize>::new());
    assert_eq!(history_victims(&old, 0), vec![1, 0, 3]);
}

#[test]
fn saturation_needs_the_annotation_the_size_and_availability() {
    let d = deployment(3, json!(1), json!(0));
    let mut r = rs(
        "web-a",
        3,
        "2026-01-01T00:00:00Z",
        json!({DESIRED_REPLICAS: "3"}),
    );
    assert!(!is_saturated(&d, &r));
    r.status = serde_json::from_value(json!({"replicas": 3, "availableReplicas": 3})).ok();
    assert!(is_saturated(&d, &r));
    r.metadata.annotations = None;
    assert!(!is_saturated(&d, &r));
}
