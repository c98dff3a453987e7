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
