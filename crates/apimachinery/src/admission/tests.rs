use serde_json::json;

use super::*;

fn pod() -> Value {
    json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}})
}

#[test]
fn service_account_and_tolerations_are_defaulted() {
    let mut p = pod();
    mutate_pod(&mut p, &Context::default()).expect("admitted");
    assert_eq!(p["spec"]["serviceAccountName"], "default");
    assert_eq!(p["spec"]["serviceAccount"], "default");
    let keys: Vec<&str> = p["spec"]["tolerations"]
        .as_array()
        .expect("tolerations")
        .iter()
        .filter_map(|t| t["key"].as_str())
        .collect();
    assert_eq!(
        keys,
        vec![
            "node.kubernetes.io/not-ready",
            "node.kubernetes.io/unreachable"
        ]
    );
    assert_eq!(p["spec"]["tolerations"][0]["tolerationSeconds"], 300);
    // A pod's own toleration is kept, not doubled.
    let mut own = pod();
    own["spec"]["tolerations"] = json!([{"key": "node.kubernetes.io/unreachable", "operator": "Exists",
        "effect": "NoExecute", "tolerationSeconds": 5}]);
    mutate_pod(&mut own, &Context::default()).expect("admitted");
    assert_eq!(own["spec"]["tolerations"].as_array().map(Vec::len), Some(2));
    assert_eq!(own["spec"]["tolerations"][0]["tolerationSeconds"], 5);
}

#[test]
fn limit_ranges_default_and_bound_containers() {
    let ranges = vec![json!({"spec": {"limits": [{"type": "Container",
        "default": {"cpu": "500m"}, "defaultRequest": {"cpu": "100m", "memory": "64Mi"},
        "max": {"cpu": "1"}}]}})];
    let ctx = Context {
        limit_ranges: ranges,
        ..Default::default()
    };
    let mut p = pod();
    mutate_pod(&mut p, &ctx).expect("admitted");
    assert_eq!(
        p["spec"]["containers"][0]["resources"],
        json!({"limits": {"cpu": "500m"}, "requests": {"cpu": "100m", "memory": "64Mi"}})
    );
    assert!(validate_pod(&p, &ctx).is_ok());
    p["spec"]["containers"][0]["resources"]["limits"]["cpu"] = json!("2");
    assert_eq!(
        validate_pod(&p, &ctx),
        Err(Denied(
            "maximum cpu usage per Container is 1, but limit is 2".into()
        ))
    );
}

#[test]
fn pod_security_levels_follow_the_namespace_labels() {
    let ns = |mode: &str, level: &str| json!({"metadata": {"labels": {format!("pod-security.kubernetes.io/{mode}"): level}}});
    let mut p = pod();
    p["spec"]["hostNetwork"] = json!(true);
    p["spec"]["containers"][0]["securityContext"] = json!({"privileged": true,
        "capabilities": {"add": ["NET_ADMIN", "CHOWN"]}});
    let e = pod_security::admit(&p, Some(&ns("enforce", "baseline"))).expect_err("denied");
    assert_eq!(
        e.0,
        "violates PodSecurity \"baseline:latest\": host namespaces (hostNetwork=true), \
privileged (container \"c\" must not set securityContext.privileged=true), \
non-default capabilities (container \"c\" must not include \"NET_ADMIN\" in securityContext.capabilities.add)"
    );
    assert!(pod_security::admit(&p, Some(&ns("enforce", "privileged"))).is_ok());
    let warned = pod_security::admit(&p, Some(&ns("warn", "baseline"))).expect("allowed");
    assert!(warned[0].starts_with("would violate PodSecurity \"baseline:latest\""));
    // A plain pod passes baseline but not restricted.
    assert!(pod_security::admit(&pod(), Some(&ns("enforce", "baseline"))).is_ok());
    let r =
        pod_security::admit(&pod(), Some(&ns("enforce", "restricted"))).expect_err("restricted");
    assert!(r.0.contains("allowPrivilegeEscalation != false"), "{}", r.0);
}

#[test]
fn quotas_count_and_refuse_past_hard() {
    let quota = json!({"metadata": {"name": "q"}, "spec": {"hard": {"pods": "2", "requests.cpu": "1"}},
        "status": {"used": {"pods": "1", "requests.cpu": "600m"}}});
    let mut p = pod();
    p["spec"]["containers"][0]["resources"] = json!({"requests": {"cpu": "300m"}});
    let u = quota::usage_of("", "pods", &p);
    let status = quota::admit(&quota, &quota::Usage::new(), &u, &p, true)
        .expect("fits")
        .expect("tracked");
    assert_eq!(status["used"], json!({"pods": "2", "requests.cpu": "900m"}));
    p["spec"]["containers"][0]["resources"] = json!({"requests": {"cpu": "500m"}});
    let u = quota::usage_of("", "pods", &p);
    assert_eq!(
        quota::admit(&quota, &quota::Usage::new(), &u, &p, true),
        Err(Denied(
            "exceeded quota: q, requested: requests.cpu=500m, used: requests.cpu=600m, limited: requests.cpu=1".into()
        ))
    );
    let bare = pod();
    let u = quota::usage_of("", "pods", &bare);
    assert_eq!(
        quota::admit(&quota, &quota::Usage::new(), &u, &bare, true),
        Err(Denied(
            "failed quota: q: must specify requests.cpu for: c".into()
        ))
    );
}
