//! HorizontalPodAutoscalers served as `autoscaling/v2` (stored) and
//! `autoscaling/v1` (converted) as kube-apiserver serves them: defaults,
//! round trips through v1 that lose nothing, 422s for bad specs, and the
//! Table `kubectl get hpa` prints. In process, no TLS.

mod in_process;

use axum::body::Body;
use axum::http::{Method, Request};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

const V2: &str = "/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers";
const V1: &str = "/apis/autoscaling/v1/namespaces/default/horizontalpodautoscalers";

struct Api {
    router: axum::Router,
    rt: tokio::runtime::Runtime,
}

impl Api {
    fn new() -> Self {
        let (router, rt) = in_process::resource_api();
        Api { router, rt }
    }

    fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        ctype: &str,
        accept: &str,
    ) -> (u16, Value) {
        let router = self.router.clone();
        let mut req = Request::builder().method(method).uri(path);
        if !ctype.is_empty() {
            req = req.header("content-type", ctype);
        }
        if !accept.is_empty() {
            req = req.header("accept", accept);
        }
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        self.rt.block_on(async move {
            let resp = router
                .oneshot(req.body(Body::from(body)).expect("request"))
                .await
                .expect("infallible");
            let status = resp.status().as_u16();
            let bytes = resp.into_body().collect().await.expect("body").to_bytes();
            let v = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            (status, v)
        })
    }

    fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(Method::POST, path, Some(body), "application/json", "")
    }

    fn get(&self, path: &str) -> Value {
        let (code, v) = self.call(Method::GET, path, None, "", "");
        assert_eq!(code, 200, "{v}");
        v
    }
}

fn v2(name: &str) -> Value {
    json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "maxReplicas": 5}})
}

#[test]
fn v2_defaults_and_the_v1_view() {
    let api = Api::new();
    let (code, created) = api.post(V2, v2("web"));
    assert_eq!(code, 201, "{created}");
    assert_eq!(created["spec"]["minReplicas"], 1);
    assert_eq!(
        created["spec"]["metrics"],
        json!([{"type": "Resource", "resource": {"name": "cpu",
            "target": {"type": "Utilization", "averageUtilization": 80}}}])
    );
    assert!(created["spec"].get("behavior").is_none());
    assert_eq!(created["status"]["desiredReplicas"], 0);

    let v1 = api.get(&format!("{V1}/web"));
    assert_eq!(v1["apiVersion"], "autoscaling/v1");
    assert_eq!(v1["spec"]["targetCPUUtilizationPercentage"], 80);
    assert_eq!(v1["spec"]["minReplicas"], 1);
    assert!(v1["spec"].get("metrics").is_none());
    assert!(v1["metadata"].get("annotations").is_none(), "{v1}");

    let list = api.get(V1);
    assert_eq!(list["apiVersion"], "autoscaling/v1");
    assert_eq!(list["items"][0]["apiVersion"], "autoscaling/v1");
    assert_eq!(
        list["items"][0]["spec"]["targetCPUUtilizationPercentage"],
        80
    );
}

#[test]
fn a_v1_create_is_stored_as_v2() {
    let api = Api::new();
    let (code, created) = api.post(
        V1,
        json!({"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web"},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                "maxReplicas": 5, "targetCPUUtilizationPercentage": 50}}),
    );
    assert_eq!(code, 201, "{created}");
    assert_eq!(created["apiVersion"], "autoscaling/v1");
    assert_eq!(created["spec"]["targetCPUUtilizationPercentage"], 50);
    let v2 = api.get(&format!("{V2}/web"));
    assert_eq!(
        v2["spec"]["metrics"][0]["resource"]["target"],
        json!({"type": "Utilization", "averageUtilization": 50})
    );
    // A merge patch through v1 changes the v2 metric.
    let (code, patched) = api.call(
        Method::PATCH,
        &format!("{V1}/web"),
        Some(json!({"spec": {"targetCPUUtilizationPercentage": 70}})),
        "application/merge-patch+json",
        "",
    );
    assert_eq!(code, 200, "{patched}");
    let v2 = api.get(&format!("{V2}/web"));
    assert_eq!(
        v2["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"],
        70
    );
}

#[test]
fn what_v1_cannot_say_survives_a_v1_update() {
    let api = Api::new();
    let mut o = v2("web");
    o["spec"]["metrics"] = json!([
        {"type": "Resource", "resource": {"name": "cpu",
            "target": {"type": "Utilization", "averageUtilization": 60}}},
        {"type": "Resource", "resource": {"name": "memory",
            "target": {"type": "AverageValue", "averageValue": "64Mi"}}},
    ]);
    o["spec"]["behavior"] = json!({"scaleDown": {"stabilizationWindowSeconds": 60}});
    let (code, created) = api.post(V2, o);
    assert_eq!(code, 201, "{created}");
    // The behavior was completed with kube's defaults.
    let b = &created["spec"]["behavior"];
    assert_eq!(b["scaleDown"]["stabilizationWindowSeconds"], 60);
    assert_eq!(
        b["scaleDown"]["policies"],
        json!([{"type": "Percent", "value": 100, "periodSeconds": 15}])
    );
    assert_eq!(b["scaleUp"]["selectPolicy"], "Max");
    assert_eq!(
        b["scaleUp"]["policies"],
        json!([{"type": "Pods", "value": 4, "periodSeconds": 15},
               {"type": "Percent", "value": 100, "periodSeconds": 15}])
    );

    let mut v1 = api.get(&format!("{V1}/web"));
    assert_eq!(v1["spec"]["targetCPUUtilizationPercentage"], 60);
    let annotations = &v1["metadata"]["annotations"];
    assert!(annotations["autoscaling.alpha.kubernetes.io/metrics"]
        .as_str()
        .is_some_and(|m| m.contains("memory")));
    assert!(annotations["autoscaling.alpha.kubernetes.io/behavior"]
        .as_str()
        .is_some_and(|b| b.contains("StabilizationWindowSeconds")));

    v1["spec"]["maxReplicas"] = json!(7);
    let (code, updated) = api.call(
        Method::PUT,
        &format!("{V1}/web"),
        Some(v1),
        "application/json",
        "",
    );
    assert_eq!(code, 200, "{updated}");
    let after = api.get(&format!("{V2}/web"));
    assert_eq!(after["spec"]["maxReplicas"], 7);
    assert_eq!(after["spec"]["metrics"][1]["resource"]["name"], "memory");
    assert_eq!(
        after["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"],
        60
    );
    assert!(after["metadata"].get("annotations").is_none(), "{after}");
}

#[test]
fn bad_specs_get_422s_naming_the_field() {
    let api = Api::new();
    let mut o = v2("bad");
    o["spec"]["minReplicas"] = json!(6);
    o["spec"]["scaleTargetRef"] = json!({"name": "web"});
    o["spec"]["behavior"] =
        json!({"scaleUp": {"policies": [{"type": "Pods", "value": 1, "periodSeconds": 1801}]}});
    let (code, status) = api.post(V2, o);
    assert_eq!(code, 422, "{status}");
    assert_eq!(status["reason"], "Invalid");
    let message = status["message"].as_str().expect("message");
    for want in [
        "spec.scaleTargetRef.kind: Required value",
        "spec.maxReplicas: Invalid value: 5: must be greater than or equal to `minReplicas`",
        "spec.behavior.scaleUp.policies[0].periodSeconds: Invalid value: 1801: must be less than or equal to 1800",
    ] {
        assert!(message.contains(want), "{want} not in {message}");
    }
    assert!(
        message.starts_with("HorizontalPodAutoscaler.autoscaling \"bad\" is invalid"),
        "{message}"
    );

    let (code, status) = api.post(
        V1,
        json!({"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "bad"},
            "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"},
                "minReplicas": 0, "maxReplicas": 2, "targetCPUUtilizationPercentage": 0}}),
    );
    assert_eq!(code, 422, "{status}");
    let message = status["message"].as_str().expect("message");
    assert!(
        message.contains("spec.minReplicas: Invalid value: 0: must be greater than or equal to 1"),
        "{message}"
    );
    assert!(
        message.contains(
            "spec.targetCPUUtilizationPercentage: Invalid value: 0: must be greater than 0"
        ),
        "{message}"
    );
}

#[test]
fn the_table_shows_reference_targets_and_bounds() {
    let api = Api::new();
    let (code, _) = api.post(V2, v2("web"));
    assert_eq!(code, 201);
    for path in [V2, V1] {
        let (code, table) = api.call(
            Method::GET,
            path,
            None,
            "",
            "application/json;as=Table;v=v1;g=meta.k8s.io",
        );
        assert_eq!(code, 200, "{table}");
        let names: Vec<&str> = table["columnDefinitions"]
            .as_array()
            .expect("columns")
            .iter()
            .filter_map(|c| c["name"].as_str())
            .collect();
        assert_eq!(
            names,
            [
                "Name",
                "Reference",
                "Targets",
                "MinPods",
                "MaxPods",
                "Replicas",
                "Age"
            ]
        );
        let cells = &table["rows"][0]["cells"];
        assert_eq!(cells[0], "web");
        assert_eq!(cells[1], "Deployment/web");
        assert_eq!(cells[2], "cpu: <unknown>/80%");
        assert_eq!(cells[3], "1");
        assert_eq!(cells[4], 5);
        assert_eq!(cells[5], 0);
    }
}

#[test]
fn status_written_through_v2_reads_back_through_v1() {
    let api = Api::new();
    let (code, _) = api.post(V2, v2("web"));
    assert_eq!(code, 201);
    let (code, patched) = api.call(
        Method::PATCH,
        &format!("{V2}/web/status"),
        Some(
            json!({"status": {"currentReplicas": 2, "desiredReplicas": 3,
            "currentMetrics": [{"type": "Resource", "resource": {"name": "cpu",
                "current": {"averageUtilization": 95, "averageValue": "475m"}}}],
            "conditions": [{"type": "AbleToScale", "status": "True", "reason": "SucceededRescale",
                "message": "the HPA controller was able to update the target scale to 3",
                "lastTransitionTime": "2026-12-07T12:00:00Z"}]}}),
        ),
        "application/merge-patch+json",
        "",
    );
    assert_eq!(code, 200, "{patched}");
    let v1 = api.get(&format!("{V1}/web"));
    assert_eq!(v1["status"]["currentCPUUtilizationPercentage"], 95);
    assert_eq!(v1["status"]["currentReplicas"], 2);
    assert_eq!(v1["status"]["desiredReplicas"], 3);
    let conditions = v1["metadata"]["annotations"]["autoscaling.alpha.kubernetes.io/conditions"]
        .as_str()
        .expect("conditions annotation");
    assert!(conditions.contains("SucceededRescale"));
    let (code, table) = api.call(
        Method::GET,
        &format!("{V2}/web"),
        None,
        "",
        "application/json;as=Table;v=v1;g=meta.k8s.io",
    );
    assert_eq!(code, 200);
    assert_eq!(table["rows"][0]["cells"][2], "cpu: 95%/80%");
}
