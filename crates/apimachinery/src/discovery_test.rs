//! Tests of the discovery documents and Accept negotiation.
use super::*;
use serde_json::{json, Value};

fn to_json<T: Serialize>(t: &T) -> Value {
    serde_json::to_value(t).unwrap_or(Value::Null)
}

#[test]
fn negotiation_table() {
    use DiscoveryFormat::*;
    let v2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";
    let cases: Vec<(Option<&str>, Option<DiscoveryFormat>)> = vec![
        (None, Some(Legacy)),
        (Some(""), Some(Legacy)),
        (Some("application/json"), Some(Legacy)),
        (Some("*/*"), Some(Legacy)),
        (Some("application/json, */*"), Some(Legacy)),
        // kubectl / client-go 1.37
        (Some("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"), Some(Aggregated)),
        (Some(v2), Some(Aggregated)),
        // parameter order and spacing do not matter; extra params ignored
        (Some("application/json; as=APIGroupDiscoveryList; v=v2; g=apidiscovery.k8s.io; charset=utf-8"), Some(Aggregated)),
        (Some("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList;profile=nopeer"), Some(Aggregated)),
        // kube-rs run_aggregated: v2, v2beta1, json
        (
            Some("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"),
            Some(Aggregated),
        ),
        // v2beta1 only: no longer served, fall back to the next clause
        (Some("application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"), Some(Legacy)),
        // q-values reorder clauses
        (Some("application/json;q=0.5, application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"), Some(Aggregated)),
        (Some("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList;q=0,application/json"), Some(Legacy)),
        // protobuf aggregated is skipped
        (Some("application/vnd.kubernetes.protobuf;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"), Some(Legacy)),
        (Some("text/html"), None),
        (Some("application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"), None),
    ];
    for (accept, want) in cases {
        let got = negotiate_discovery(accept).ok();
        assert_eq!(got, want, "Accept: {accept:?}");
    }
    let err = negotiate_discovery(Some("text/html"))
        .err()
        .map(|e| (e.code(), e.reason()));
    assert_eq!(err, Some((406, "NotAcceptable")));
    assert!(wants_aggregated(Some(v2)));
    assert!(!wants_aggregated(Some("application/json")));
}

#[test]
fn legacy_api_and_apis() {
    let reg = Registry::builtin();
    let api = to_json(&api_versions(
        &reg,
        vec![ServerAddressByClientCidr::any("127.0.0.1:6443")],
    ));
    assert_eq!(
        api,
        json!({"kind": "APIVersions", "versions": ["v1"],
               "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}]})
    );
    let empty = to_json(&api_versions(&reg, vec![]));
    assert_eq!(empty["serverAddressByClientCIDRs"], json!([]));

    let apis = to_json(&api_group_list(&reg));
    assert_eq!(apis["kind"], "APIGroupList");
    assert_eq!(apis["apiVersion"], "v1");
    let names: Vec<&str> = apis["groups"]
        .as_array()
        .map(|a| a.iter().filter_map(|g| g["name"].as_str()).collect())
        .unwrap_or_default();
    // kube-apiserver lists the aggregator's own group first (priority 18000).
    assert_eq!(names[0], "apiregistration.k8s.io");
    assert_eq!(names[1], "apps");
    assert_eq!(names[2], "events.k8s.io");
    assert!(!names.contains(&""));
    for g in apis["groups"].as_array().into_iter().flatten() {
        assert_eq!(g["preferredVersion"], g["versions"][0], "{g}");
        assert!(g.get("kind").is_none());
    }
    let apps = to_json(&api_group(&reg, "apps"));
    assert_eq!(
        apps,
        json!({"kind": "APIGroup", "apiVersion": "v1", "name": "apps",
               "versions": [{"groupVersion": "apps/v1", "version": "v1"}],
               "preferredVersion": {"groupVersion": "apps/v1", "version": "v1"}})
    );
    assert!(api_group(&reg, "nope").is_none());
    assert!(api_group(&reg, "").is_none());
}

#[test]
fn legacy_resource_lists() {
    let reg = Registry::builtin();
    let core = to_json(&api_resource_list(&reg, "", "v1"));
    assert_eq!(core["kind"], "APIResourceList");
    assert!(core.get("apiVersion").is_none());
    assert_eq!(core["groupVersion"], "v1");
    let names: Vec<&str> = core["resources"]
        .as_array()
        .map(|a| a.iter().filter_map(|r| r["name"].as_str()).collect())
        .unwrap_or_default();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    assert!(names.contains(&"pods/status") && names.contains(&"namespaces/finalize"));
    let find = |doc: &Value, name: &str| -> Value {
        doc["resources"]
            .as_array()
            .and_then(|a| a.iter().find(|r| r["name"] == name).cloned())
            .unwrap_or(Value::Null)
    };
    assert_eq!(
        find(&core, "pods"),
        json!({"name": "pods", "singularName": "pod", "namespaced": true, "kind": "Pod",
               "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
               "shortNames": ["po"], "categories": ["all"]})
    );
    assert_eq!(
        find(&core, "pods/eviction"),
        json!({"name": "pods/eviction", "singularName": "", "namespaced": true, "group": "policy",
               "version": "v1", "kind": "Eviction", "verbs": ["create"]})
    );
    assert_eq!(
        find(&core, "pods/status"),
        json!({"name": "pods/status", "singularName": "", "namespaced": true, "kind": "Pod",
               "verbs": ["get", "patch", "update"]})
    );
    assert_eq!(find(&core, "secrets").get("shortNames"), None);

    let apps = to_json(&api_resource_list(&reg, "apps", "v1"));
    assert_eq!(apps["apiVersion"], "v1");
    assert_eq!(apps["groupVersion"], "apps/v1");
    assert_eq!(
        find(&apps, "deployments/scale"),
        json!({"name": "deployments/scale", "singularName": "", "namespaced": true, "group": "autoscaling",
               "version": "v1", "kind": "Scale", "verbs": ["get", "patch", "update"]})
    );
    assert!(api_resource_list(&reg, "apps", "v2").is_none());
    assert!(api_resource_list(&reg, "nope", "v1").is_none());
}

#[test]
fn aggregated_documents() {
    let reg = Registry::builtin();
    let core = to_json(&aggregated_core(&reg));
    assert_eq!(core["kind"], "APIGroupDiscoveryList");
    assert_eq!(core["apiVersion"], "apidiscovery.k8s.io/v2");
    assert_eq!(core["metadata"], json!({}));
    let items = core["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["metadata"], json!({"name": ""}));
    assert_eq!(items[0]["versions"][0]["version"], "v1");
    assert_eq!(items[0]["versions"][0]["freshness"], "Current");
    let pods = items[0]["versions"][0]["resources"]
        .as_array()
        .and_then(|a| a.iter().find(|r| r["resource"] == "pods").cloned())
        .unwrap_or(Value::Null);
    assert_eq!(
        pods,
        json!({"resource": "pods", "responseKind": {"group": "", "version": "", "kind": "Pod"},
        "scope": "Namespaced", "singularResource": "pod",
        "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
        "shortNames": ["po"], "categories": ["all"],
        "subresources": [
            {"subresource": "attach", "responseKind": {"group": "", "version": "", "kind": "PodAttachOptions"}, "verbs": ["create", "get"]},
            {"subresource": "binding", "responseKind": {"group": "", "version": "", "kind": "Binding"}, "verbs": ["create"]},
            {"subresource": "ephemeralcontainers", "responseKind": {"group": "", "version": "", "kind": "Pod"}, "verbs": ["get", "patch", "update"]},
            {"subresource": "eviction", "responseKind": {"group": "policy", "version": "v1", "kind": "Eviction"}, "verbs": ["create"]},
            {"subresource": "exec", "responseKind": {"group": "", "version": "", "kind": "PodExecOptions"}, "verbs": ["create", "get"]},
            {"subresource": "log", "responseKind": {"group": "", "version": "", "kind": "Pod"}, "verbs": ["get"]},
            {"subresource": "portforward", "responseKind": {"group": "", "version": "", "kind": "PodPortForwardOptions"}, "verbs": ["create", "get"]},
            {"subresource": "proxy", "responseKind": {"group": "", "version": "", "kind": "PodProxyOptions"}, "verbs": ["create", "delete", "get", "patch", "update"]},
            {"subresource": "status", "responseKind": {"group": "", "version": "", "kind": "Pod"}, "verbs": ["get", "patch", "update"]}
        ]})
    );

    let apis = to_json(&aggregated_groups(&reg));
    let groups: Vec<&str> = apis["items"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|g| g["metadata"]["name"].as_str())
                .collect()
        })
        .unwrap_or_default();
    let legacy: Vec<String> = api_group_list(&reg)
        .groups
        .into_iter()
        .map(|g| g.name)
        .collect();
    assert_eq!(groups, legacy);
    let apps = &apis["items"][1];
    assert_eq!(apps["metadata"]["name"], "apps");
    let deploy = apps["versions"][0]["resources"]
        .as_array()
        .and_then(|a| a.iter().find(|r| r["resource"] == "deployments").cloned())
        .unwrap_or(Value::Null);
    assert_eq!(
        deploy["subresources"][0],
        json!({"subresource": "scale", "responseKind": {"group": "autoscaling", "version": "v1", "kind": "Scale"}, "verbs": ["get", "patch", "update"]})
    );
    let ns = items[0]["versions"][0]["resources"]
        .as_array()
        .and_then(|a| a.iter().find(|r| r["resource"] == "namespaces").cloned())
        .unwrap_or(Value::Null);
    assert_eq!(ns["scope"], "Cluster");
    // A resource with no subresources omits the key.
    let cm = items[0]["versions"][0]["resources"]
        .as_array()
        .and_then(|a| a.iter().find(|r| r["resource"] == "configmaps").cloned())
        .unwrap_or(Value::Null);
    assert!(cm.get("subresources").is_none());
}

#[test]
fn documents_round_trip() {
    let reg = Registry::builtin();
    let list = aggregated_groups(&reg);
    let text = serde_json::to_string(&list).unwrap_or_default();
    let back: Result<ApiGroupDiscoveryList, _> = serde_json::from_str(&text);
    assert_eq!(back.ok(), Some(list));
    let rl = api_resource_list(&reg, "", "v1");
    let text = serde_json::to_string(&rl).unwrap_or_default();
    let back: Result<Option<ApiResourceList>, _> = serde_json::from_str(&text);
    assert_eq!(back.ok(), Some(rl));
}
