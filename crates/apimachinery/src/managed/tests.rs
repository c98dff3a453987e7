use serde_json::json;

use super::*;

fn shape() -> Shape<'static> {
    Shape::builtin("Deployment")
}

fn writer<'a>(manager: &'a str, now: &'a str) -> Writer<'a> {
    Writer {
        manager,
        api_version: "apps/v1",
        subresource: "",
        has_status: true,
        now,
    }
}

fn deployment(image: &str, replicas: i64) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": image,
                    "ports": [{"containerPort": 80}]}]}}}})
}

#[test]
fn fields_v1_round_trips_with_keyed_elements_and_dots() {
    let set = FieldSet::of(&deployment("nginx", 1), &shape());
    let v1 = set.to_fields_v1();
    let expected = json!({"f:metadata": {"f:labels": {"f:app": {}}},
        "f:spec": {"f:replicas": {}, "f:selector": {},
            "f:template": {"f:metadata": {"f:labels": {"f:app": {}}},
                "f:spec": {"f:containers": {"k:{\"name\":\"web\"}": {".": {}, "f:image": {}, "f:name": {},
                    "f:ports": {"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}}}}}}}}});
    assert_eq!(v1, expected);
    assert_eq!(FieldSet::from_fields_v1(&v1), set);
}

#[test]
fn a_second_manager_changing_an_owned_field_conflicts_until_forced() {
    let (live, entries) = apply(
        None,
        &deployment("nginx:1", 2),
        &shape(),
        &writer("alice", "t1"),
        Vec::new(),
        false,
    )
    .expect("first apply");
    // Same values: shared ownership, no conflict.
    let (_, shared) = apply(
        Some(&live),
        &deployment("nginx:1", 2),
        &shape(),
        &writer("bob", "t2"),
        entries.clone(),
        false,
    )
    .expect("same values do not conflict");
    assert_eq!(shared.len(), 2);
    // A different replicas value conflicts with alice.
    let e = apply(
        Some(&live),
        &deployment("nginx:1", 5),
        &shape(),
        &writer("bob", "t2"),
        entries.clone(),
        false,
    )
    .expect_err("conflict");
    let status = e.status();
    assert_eq!(status.code, 409);
    assert_eq!(
        status.message,
        "Apply failed with 1 conflict: conflict with \"alice\": .spec.replicas"
    );
    let causes = status.details.expect("details").causes;
    assert_eq!(causes[0].reason, "FieldManagerConflict");
    assert_eq!(causes[0].field, ".spec.replicas");
    // Forced: bob takes replicas from alice.
    let (merged, forced) = apply(
        Some(&live),
        &deployment("nginx:1", 5),
        &shape(),
        &writer("bob", "t2"),
        entries,
        true,
    )
    .expect("forced");
    assert_eq!(merged["spec"]["replicas"], 5);
    let alice = forced.iter().find(|e| e.manager == "alice").expect("alice");
    assert!(!alice
        .fields
        .contains(&fieldset::path(&["f:spec", "f:replicas"])));
}

#[test]
fn fields_an_applier_stops_sending_are_removed_unless_others_own_them() {
    let mut with_label = deployment("nginx:1", 1);
    with_label["metadata"]["labels"]["tier"] = json!("front");
    let (live, entries) = apply(
        None,
        &with_label,
        &shape(),
        &writer("alice", "t1"),
        Vec::new(),
        false,
    )
    .expect("apply");
    let (after, _) = apply(
        Some(&live),
        &deployment("nginx:1", 1),
        &shape(),
        &writer("alice", "t2"),
        entries,
        false,
    )
    .expect("re-apply");
    assert!(after["metadata"]["labels"].get("tier").is_none());
}

#[test]
fn updates_take_the_fields_they_change() {
    let old = deployment("nginx:1", 1);
    let entries = update(None, &old, &shape(), &writer("creator", "t1"), Vec::new());
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].operation, "Update");
    let new = deployment("nginx:2", 1);
    let entries = update(Some(&old), &new, &shape(), &writer("editor", "t2"), entries);
    let image = fieldset::path(&[
        "f:spec",
        "f:template",
        "f:spec",
        "f:containers",
        "k:{\"name\":\"web\"}",
        "f:image",
    ]);
    let editor = entries
        .iter()
        .find(|e| e.manager == "editor")
        .expect("editor");
    assert!(editor.fields.contains(&image));
    let creator = entries
        .iter()
        .find(|e| e.manager == "creator")
        .expect("creator");
    assert!(!creator.fields.contains(&image));
    // Nothing changed: no new entry.
    let same = update(
        Some(&new),
        &new,
        &shape(),
        &writer("idle", "t3"),
        entries.clone(),
    );
    assert_eq!(same, entries);
}

#[test]
fn a_creators_entry_is_the_same_built_either_way() {
    let new = deployment("nginx:1", 3);
    let w = writer("creator", "t1");
    let slow = update(None, &new, &shape(), &w, Vec::new());
    let fast = created(&new, &shape(), &w);
    let (mut a, mut b) = (json!({"metadata": {}}), json!({"metadata": {}}));
    write(&mut a, slow);
    write(&mut b, fast);
    assert_eq!(a, b);
}

/// Random objects over keys that mean something to a Pod's shape (keyed
/// lists, sets, atomic maps), small enough that pairs often share parts.
fn arb_object() -> impl proptest::strategy::Strategy<Value = Value> {
    use proptest::prelude::*;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        (0i64..3).prop_map(Value::from),
        prop::sample::select(vec!["a", "b", "web", "TCP"]).prop_map(Value::from),
    ];
    let keys = prop::sample::select(vec![
        "spec",
        "status",
        "metadata",
        "labels",
        "finalizers",
        "containers",
        "name",
        "image",
        "ports",
        "containerPort",
        "protocol",
        "env",
        "value",
        "conditions",
        "type",
        "nodeName",
        "selector",
        "matchLabels",
        "phase",
    ]);
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(keys.clone().prop_map(String::from), inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

    /// The walk that skips equal parts finds what collecting every field
    /// of both objects and taking differences finds.
    #[test]
    fn removed_and_changed_equals_the_full_walks(
        base in arb_object(),
        edit in arb_object(),
        overlay in proptest::bool::ANY,
    ) {
        // A second object sharing parts with the first half the time.
        let other = match (overlay, &base, &edit) {
            (true, Value::Object(b), Value::Object(e)) => {
                let mut m = b.clone();
                for (k, v) in e.iter().take(2) {
                    m.insert(k.clone(), v.clone());
                }
                Value::Object(m)
            }
            _ => edit.clone(),
        };
        let shape = Shape::builtin("Pod");
        for (old, new) in [(&base, &other), (&other, &base)] {
            let (new_set, changed) = fieldset::of_and_changed(old, new, &shape);
            let removed = FieldSet::of(old, &shape).difference(&new_set);
            let (fast_removed, fast_changed) = fieldset::removed_and_changed(old, new, &shape);
            proptest::prop_assert_eq!(fast_removed, removed);
            proptest::prop_assert_eq!(fast_changed, changed);
        }
    }
}

#[test]
fn a_status_write_changes_only_status_fields() {
    let shape = Shape::builtin("Pod");
    let old = json!({"metadata": {"name": "p", "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
        "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "True"}]}});
    let mut new = old.clone();
    new["status"] = json!({"phase": "Running", "podIP": "10.0.0.1",
        "conditions": [{"type": "Ready", "status": "True"}]});
    let (removed, changed) = fieldset::removed_and_changed(&old, &new, &shape);
    let paths = |s: &FieldSet| s.to_fields_v1();
    assert_eq!(
        paths(&changed),
        json!({"f:status": {"f:phase": {}, "f:podIP": {},
            "f:conditions": {"k:{\"type\":\"Ready\"}": {".": {}, "f:status": {}, "f:type": {}}}}})
    );
    assert_eq!(
        paths(&removed),
        json!({"f:status": {"f:conditions": {"k:{\"type\":\"PodScheduled\"}": {".": {}, "f:status": {}, "f:type": {}}}}})
    );
}
