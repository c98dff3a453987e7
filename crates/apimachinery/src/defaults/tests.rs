//! Defaults never overwrite what was set.

use serde_json::json;

use super::apply;

#[test]
fn set_fields_are_kept() {
    let mut pod = json!({"spec": {"restartPolicy": "Never", "terminationGracePeriodSeconds": 0,
        "containers": [{"name": "c", "image": "x:latest", "imagePullPolicy": "Never"}]}});
    apply("", "Pod", &mut pod);
    assert_eq!(pod["spec"]["restartPolicy"], "Never");
    assert_eq!(pod["spec"]["terminationGracePeriodSeconds"], 0);
    assert_eq!(pod["spec"]["containers"][0]["imagePullPolicy"], "Never");
    let mut d = json!({"spec": {"replicas": 0, "strategy": {"type": "Recreate"}}});
    apply("apps", "Deployment", &mut d);
    assert_eq!(d["spec"]["replicas"], 0);
    assert_eq!(d["spec"]["strategy"], json!({"type": "Recreate"}));
}

#[test]
fn odd_shapes_do_not_panic() {
    for v in [
        json!(null),
        json!([]),
        json!({"spec": 3}),
        json!({"spec": {"containers": "x"}}),
    ] {
        for (g, k) in [
            ("", "Pod"),
            ("apps", "Deployment"),
            ("batch", "Job"),
            ("", "Service"),
        ] {
            let mut o = v.clone();
            apply(g, k, &mut o);
        }
    }
}

#[test]
fn secret_string_data_becomes_data() {
    let mut s = json!({"data": {"a": "YQ=="}, "stringData": {"b": "hello", "a": "x"}});
    apply("", "Secret", &mut s);
    assert_eq!(
        s,
        json!({"type": "Opaque", "data": {"a": "eA==", "b": "aGVsbG8="}})
    );
    let mut pc = json!({"value": 5});
    apply("scheduling.k8s.io", "PriorityClass", &mut pc);
    assert_eq!(pc["preemptionPolicy"], "PreemptLowerPriority");
}
