//! Validation as kubectl users see it: messages of kube-apiserver.

use serde_json::{json, Value};

use super::*;
use crate::defaults;

fn messages(group: &str, kind: &str, mut obj: Value) -> Vec<String> {
    defaults::apply(group, kind, &mut obj);
    create(group, kind, &obj)
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn pods_need_named_containers_with_images() {
    let m = messages(
        "",
        "Pod",
        json!({"spec": {"restartPolicy": "Sometimes",
        "containers": [{}, {"name": "Bad_Name", "image": "x"}, {"name": "web", "image": "y",
         "ports": [{"containerPort": 70000}]}, {"name": "web", "image": "z"}]}}),
    );
    assert_eq!(
        m,
        [
            "spec.containers[0].name: Required value",
            "spec.containers[0].image: Required value",
            "spec.containers[1].name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
            "spec.containers[2].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
            "spec.containers[3].name: Duplicate value: \"web\"",
            "spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\"",
        ]
    );
    assert_eq!(
        messages("", "Pod", json!({"spec": {}})),
        ["spec.containers: Required value"]
    );
}

#[test]
fn deployments_need_a_matching_selector() {
    let d = |sel: Value| {
        json!({"spec": {"selector": sel, "template": {
        "metadata": {"labels": {"app": "web"}},
        "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}})
    };
    assert!(messages(
        "apps",
        "Deployment",
        d(json!({"matchLabels": {"app": "web"}}))
    )
    .is_empty());
    assert_eq!(
        messages("apps", "Deployment", d(json!({"matchLabels": {"app": "api"}}))),
        ["spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"web\"}: `selector` does not match template `labels`"]
    );
    assert_eq!(
        messages("apps", "Deployment", d(Value::Null)),
        ["spec.selector: Required value"]
    );
    let mut bad =
        d(json!({"matchExpressions": [{"key": "app", "operator": "In", "values": ["web"]}]}));
    bad["spec"]["replicas"] = json!(-1);
    bad["spec"]["template"]["spec"]["restartPolicy"] = json!("Never");
    assert_eq!(
        messages("apps", "Deployment", bad),
        [
            "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
            "spec.template.spec.restartPolicy: Unsupported value: \"Never\": supported values: \"Always\""
        ]
    );
}

#[test]
fn jobs_need_on_failure_or_never() {
    let j = json!({"metadata": {"name": "j", "uid": "u1"}, "spec": {"template": {
        "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}});
    assert_eq!(
        messages("batch", "Job", j.clone()),
        ["spec.template.spec.restartPolicy: Unsupported value: \"Always\": supported values: \"OnFailure\", \"Never\""]
    );
    let mut ok = j;
    ok["spec"]["template"]["spec"]["restartPolicy"] = json!("Never");
    assert!(messages("batch", "Job", ok).is_empty());
}

#[test]
fn services_need_valid_ports() {
    assert_eq!(
        messages(
            "",
            "Service",
            json!({"spec": {"ports": [{"port": 80}, {"port": 0, "name": "b"}]}})
        ),
        [
            "spec.ports[0].name: Required value",
            "spec.ports[1].port: Invalid value: 0: must be between 1 and 65535, inclusive"
        ]
    );
    assert_eq!(
        messages("", "Service", json!({"spec": {}})),
        ["spec.ports: Required value"]
    );
    assert!(messages("", "Service", json!({"spec": {"clusterIP": "None"}})).is_empty());
}

#[test]
fn immutable_config_maps_and_fixed_fields() {
    let old = json!({"immutable": true, "data": {"a": "b"}});
    let causes: Vec<String> = update(
        "",
        "ConfigMap",
        &old,
        &json!({"immutable": true, "data": {"a": "c"}}),
        false,
    )
    .iter()
    .map(ToString::to_string)
    .collect();
    assert_eq!(
        causes,
        ["data: Forbidden: field is immutable when `immutable` is set"]
    );
    assert!(update("", "ConfigMap", &old, &old, false).is_empty());

    let pod = |image: &str, policy: &str| json!({"spec": {"restartPolicy": policy, "containers": [{"name": "c", "image": image}]}});
    assert!(update("", "Pod", &pod("a", "Always"), &pod("b", "Always"), false).is_empty());
    let causes = update("", "Pod", &pod("a", "Always"), &pod("a", "Never"), false);
    assert_eq!(causes.len(), 1);
    assert!(causes[0]
        .to_string()
        .starts_with("spec: Forbidden: pod updates may not change fields other than"));

    let dep = |app: &str| {
        json!({"spec": {"selector": {"matchLabels": {"app": app}}, "template": {
        "metadata": {"labels": {"app": app}}, "spec": {"containers": [{"name": "c", "image": "x"}]}}}})
    };
    let causes = update("apps", "Deployment", &dep("a"), &dep("b"), false);
    assert_eq!(causes.len(), 1);
    assert!(causes[0].to_string().ends_with("field is immutable"));
}

#[test]
fn defaults_fill_what_kubernetes_fills() {
    let mut pod = json!({"spec": {"containers": [{"name": "c", "image": "nginx",
        "ports": [{"containerPort": 80}], "resources": {"limits": {"cpu": "1"}},
        "readinessProbe": {"httpGet": {"port": 80}}}]}});
    defaults::apply("", "Pod", &mut pod);
    let spec = &pod["spec"];
    assert_eq!(spec["restartPolicy"], "Always");
    assert_eq!(spec["dnsPolicy"], "ClusterFirst");
    assert_eq!(spec["terminationGracePeriodSeconds"], 30);
    assert_eq!(spec["schedulerName"], "default-scheduler");
    let c = &spec["containers"][0];
    assert_eq!(c["imagePullPolicy"], "Always");
    assert_eq!(c["terminationMessagePath"], "/dev/termination-log");
    assert_eq!(c["ports"][0]["protocol"], "TCP");
    assert_eq!(c["resources"]["requests"]["cpu"], "1");
    assert_eq!(c["readinessProbe"]["periodSeconds"], 10);
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/");

    let mut d = json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]}}}});
    defaults::apply("apps", "Deployment", &mut d);
    assert_eq!(d["spec"]["replicas"], 1);
    assert_eq!(
        d["spec"]["strategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
    );
    assert_eq!(d["spec"]["revisionHistoryLimit"], 10);
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"],
        "IfNotPresent"
    );

    let mut svc = json!({"spec": {"ports": [{"port": 80}]}});
    defaults::apply("", "Service", &mut svc);
    assert_eq!(svc["spec"]["type"], "ClusterIP");
    assert_eq!(svc["spec"]["sessionAffinity"], "None");
    assert_eq!(
        svc["spec"]["ports"][0],
        json!({"port": 80, "protocol": "TCP", "targetPort": 80})
    );

    let mut job =
        json!({"metadata": {"name": "j", "uid": "u1"}, "spec": {"template": {"spec": {}}}});
    defaults::apply("batch", "Job", &mut job);
    assert_eq!(
        job["spec"]["selector"],
        json!({"matchLabels": {"batch.kubernetes.io/controller-uid": "u1"}})
    );
    assert_eq!(
        job["spec"]["template"]["metadata"]["labels"]["job-name"],
        "j"
    );
    assert_eq!(job["spec"]["backoffLimit"], 6);
    assert_eq!(job["spec"]["completions"], 1);

    let mut secret = json!({"data": {}});
    defaults::apply("", "Secret", &mut secret);
    assert_eq!(secret["type"], "Opaque");
}

#[test]
fn a_node_pod_range_is_set_once() {
    let none = json!({"metadata": {"name": "n"}, "spec": {}});
    let a = json!({"metadata": {"name": "n"}, "spec": {"podCIDRs": ["10.0.1.0/24"], "podCIDR": "10.0.1.0/24"}});
    let b = json!({"metadata": {"name": "n"}, "spec": {"podCIDRs": ["10.0.2.0/24"], "podCIDR": "10.0.2.0/24"}});
    assert!(update("", "Node", &none, &a, false).is_empty());
    assert!(update("", "Node", &a, &a, false).is_empty());
    let m: Vec<String> = update("", "Node", &a, &b, false)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        m,
        ["spec.podCIDRs: Forbidden: node updates may not change podCIDR except from \"\" to valid"]
    );
    let bad = json!({"metadata": {"name": "n"}, "spec": {"podCIDRs": ["10.0.1.0/33"]}});
    let m = messages("", "Node", bad);
    assert_eq!(
        m,
        ["spec.podCIDRs[0]: Invalid value: \"10.0.1.0/33\": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"]
    );
    let with_provider = json!({"metadata": {"name": "n"}, "spec": {"providerID": "kind://a"}});
    let other = json!({"metadata": {"name": "n"}, "spec": {"providerID": "kind://b"}});
    assert_eq!(update("", "Node", &with_provider, &other, false).len(), 1);
}

#[test]
fn services_duplicate_ports_and_node_ports() {
    let m = messages(
        "",
        "Service",
        json!({"spec": {"type": "NodePort", "ports": [
            {"name": "a", "port": 80, "nodePort": 30001},
            {"name": "b", "port": 80, "nodePort": 30001},
            {"name": "c", "port": 80, "protocol": "UDP", "nodePort": 30001}
        ]}}),
    );
    assert_eq!(
        m,
        [
            "spec.ports[1]: Duplicate value: core.ServicePort{Name:\"\", Protocol:\"TCP\", AppProtocol:(*string)(nil), Port:80, TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:\"\"}, NodePort:0}",
            "spec.ports[1].nodePort: Duplicate value: 30001",
        ]
    );
}

#[test]
fn services_external_ips_affinity_policies_and_ranges() {
    let m = messages(
        "",
        "Service",
        json!({"spec": {"ports": [{"port": 80}],
            "externalIPs": ["1.2.3.4", "nope", "127.0.0.1", "0.0.0.0", "169.254.1.1"],
            "sessionAffinity": "ClientIP",
            "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 86401}},
            "loadBalancerSourceRanges": ["10.0.0.0/8", "10.0.0.0/40"],
            "healthCheckNodePort": 31000}}),
    );
    assert_eq!(
        m,
        [
            "spec.externalIPs[1]: Invalid value: \"nope\": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
            "spec.externalIPs[2]: Invalid value: \"127.0.0.1\": may not be in the loopback range (127.0.0.0/8, ::1/128)",
            "spec.externalIPs[3]: Invalid value: \"0.0.0.0\": may not be unspecified (0.0.0.0)",
            "spec.externalIPs[4]: Invalid value: \"169.254.1.1\": may not be in the link-local range (169.254.0.0/16, fe80::/10)",
            "spec.sessionAffinityConfig.clientIP.timeoutSeconds: Invalid value: 86401: must be greater than 0 and less than 86400",
            "spec.healthCheckNodePort: Invalid value: 31000: may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'",
            "spec.LoadBalancerSourceRanges: Forbidden: may only be used when `type` is 'LoadBalancer'",
            "spec.LoadBalancerSourceRanges[1]: Invalid value: \"10.0.0.0/40\": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
        ]
    );
    let m = messages(
        "",
        "Service",
        json!({"spec": {"ports": [{"port": 80}], "externalTrafficPolicy": "Local"}}),
    );
    assert_eq!(
        m,
        ["spec.externalTrafficPolicy: Invalid value: \"Local\": may only be set for externally-accessible services"]
    );
    let m = messages(
        "",
        "Service",
        json!({"spec": {"type": "ExternalName", "externalName": "Not_A_Host"}}),
    );
    assert_eq!(m.len(), 1);
    assert!(
        m[0].starts_with(
            "spec.externalName: Invalid value: \"Not_A_Host\": a lowercase RFC 1123 subdomain"
        ),
        "{m:?}"
    );
    assert!(messages(
        "",
        "Service",
        json!({"spec": {"type": "ExternalName", "externalName": "db.example.com."}})
    )
    .is_empty());
    // A LoadBalancer with everything right.
    assert!(messages(
        "",
        "Service",
        json!({"spec": {"type": "LoadBalancer", "externalTrafficPolicy": "Local",
            "healthCheckNodePort": 31000, "loadBalancerSourceRanges": [" 10.0.0.0/8 "],
            "sessionAffinity": "ClientIP",
            "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 10800}},
            "ports": [{"name": "a", "port": 53, "protocol": "UDP"}, {"name": "b", "port": 53}]}})
    )
    .is_empty());
}

#[test]
fn a_service_changing_type_keeps_its_old_traffic_policy() {
    let old = json!({"spec": {"type": "NodePort", "externalTrafficPolicy": "Cluster",
        "ports": [{"port": 80, "protocol": "TCP", "nodePort": 30080}]}});
    let mut new = old.clone();
    new["spec"]["type"] = json!("ClusterIP");
    assert!(update("", "Service", &old, &new, false).is_empty());
    new["spec"]["externalTrafficPolicy"] = json!("Local");
    assert_eq!(update("", "Service", &old, &new, false).len(), 1);
}
