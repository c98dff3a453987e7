//! `metrics.k8s.io/v1beta1` in process: discovery lists the group,
//! NodeMetrics and PodMetrics of simulated nodes follow the pods'
//! `rkube.io/sim-usage` annotation (or half their requests), selectors
//! pick what is measured, and what has no figures is a 404 as
//! metrics-server words it. A real node's figures come from its Summary
//! API answer (stubbed into the cache: the API server's connection to
//! nodes is another part's).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Method, Request};
use http_body_util::BodyExt;
use rkube_apimachinery::Registry;
use rkube_apiserver::resources::{self, ApiState};
use rkube_apiserver::RequestAttributes;
use rkube_store::backend::MemDir;
use rkube_store::embedded::{CompactionPolicy, EmbeddedOptions, EmbeddedStore};
use serde_json::{json, Value};
use tower::ServiceExt;

struct Api {
    state: Arc<ApiState>,
    router: axum::Router,
}

impl Api {
    async fn new() -> Api {
        let mut opts = EmbeddedOptions::new("unused");
        opts.compaction = CompactionPolicy::Manual;
        let store = EmbeddedStore::open_on(Arc::new(MemDir::new()), opts).expect("store");
        let state = Arc::new(ApiState::new(
            Arc::new(store),
            Arc::new(Registry::builtin()),
        ));
        resources::ensure_namespaces(state.store.as_ref(), &state.registry())
            .await
            .expect("namespaces");
        Api {
            router: resources::router(state.clone()),
            state,
        }
    }

    async fn call(
        &self,
        method: Method,
        uri: &str,
        accept: Option<&str>,
        body: Option<(&str, Value)>,
    ) -> (u16, Value) {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(a) = accept {
            req = req.header(header::ACCEPT, a);
        }
        let req = match body {
            Some((ct, b)) => req
                .header(header::CONTENT_TYPE, ct)
                .body(Body::from(b.to_string())),
            None => req.body(Body::empty()),
        }
        .expect("request");
        let resp = self.router.clone().oneshot(req).await.expect("response");
        let code = resp.status().as_u16();
        let bytes = resp.into_body().collect().await.expect("body").to_bytes();
        let v = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (code, v)
    }

    async fn get(&self, uri: &str) -> (u16, Value) {
        self.call(Method::GET, uri, None, None).await
    }

    async fn ok(&self, uri: &str) -> Value {
        let (code, v) = self.get(uri).await;
        assert_eq!(code, 200, "GET {uri}: {v}");
        v
    }

    async fn create(&self, uri: &str, obj: Value) {
        let (code, v) = self
            .call(Method::POST, uri, None, Some(("application/json", obj)))
            .await;
        assert_eq!(code, 201, "POST {uri}: {v}");
    }

    async fn patch_status(&self, uri: &str, status: Value) {
        let (code, v) = self
            .call(
                Method::PATCH,
                &format!("{uri}/status"),
                None,
                Some(("application/merge-patch+json", json!({"status": status}))),
            )
            .await;
        assert_eq!(code, 200, "PATCH {uri}/status: {v}");
    }

    async fn sim_node(&self, name: &str, annotations: Value) {
        let mut a = json!({"rkube.io/sim": "true"});
        if let (Some(a), Some(more)) = (a.as_object_mut(), annotations.as_object()) {
            a.extend(more.clone());
        }
        self.create(
            "/api/v1/nodes",
            json!({"apiVersion": "v1", "kind": "Node",
                   "metadata": {"name": name, "labels": {"pool": "sim"}, "annotations": a}}),
        )
        .await;
    }

    /// A pod bound to `node` in `phase`.
    async fn pod(
        &self,
        ns: &str,
        name: &str,
        node: &str,
        phase: &str,
        meta: Value,
        containers: Value,
    ) {
        let mut metadata = meta;
        metadata["name"] = json!(name);
        self.create(
            &format!("/api/v1/namespaces/{ns}/pods"),
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": metadata,
                   "spec": {"nodeName": node, "containers": containers}}),
        )
        .await;
        self.patch_status(
            &format!("/api/v1/namespaces/{ns}/pods/{name}"),
            json!({"phase": phase}),
        )
        .await;
    }
}

fn names(list: &Value) -> Vec<String> {
    let mut v: Vec<String> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| {
            let ns = i["metadata"]["namespace"].as_str().unwrap_or_default();
            let n = i["metadata"]["name"].as_str().unwrap_or_default();
            if ns.is_empty() {
                n.to_string()
            } else {
                format!("{ns}/{n}")
            }
        })
        .collect();
    v.sort();
    v
}

/// Two simulated nodes; on `sim-a`: `web` (annotated, two containers,
/// label app=web), `db` (requests only), `waiting` (Pending); on
/// `sim-b`: `other/job` (no requests); `sim-b` has its own base.
async fn cluster() -> Api {
    let api = Api::new().await;
    api.sim_node("sim-a", json!({})).await;
    api.sim_node(
        "sim-b",
        json!({"rkube.io/sim-usage": "cpu=10m,memory=32Mi"}),
    )
    .await;
    api.create(
        "/api/v1/namespaces",
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "other"}}),
    )
    .await;
    api.pod(
        "default",
        "web",
        "sim-a",
        "Running",
        json!({"labels": {"app": "web"},
               "annotations": {"rkube.io/sim-usage": "cpu=300m,memory=96Mi,sidecar.cpu=20m"}}),
        json!([{"name": "app", "image": "nginx"}, {"name": "sidecar", "image": "envoy"}]),
    )
    .await;
    api.pod(
        "default",
        "db",
        "sim-a",
        "Running",
        json!({"labels": {"app": "db"}}),
        json!([{"name": "pg", "image": "postgres",
                "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}}]),
    )
    .await;
    api.pod(
        "default",
        "waiting",
        "sim-a",
        "Pending",
        json!({}),
        json!([{"name": "c", "image": "busybox"}]),
    )
    .await;
    api.pod(
        "other",
        "job",
        "sim-b",
        "Running",
        json!({}),
        json!([{"name": "c", "image": "busybox"}]),
    )
    .await;
    api
}

const BASE: &str = "/apis/metrics.k8s.io/v1beta1";

#[tokio::test]
async fn discovery_lists_the_metrics_group_with_nodes_and_pods() {
    let api = Api::new().await;
    let apis = api.ok("/apis").await;
    let group = apis["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .find(|g| g["name"] == "metrics.k8s.io")
        .expect("metrics.k8s.io in /apis");
    assert_eq!(
        group["preferredVersion"]["groupVersion"],
        "metrics.k8s.io/v1beta1"
    );

    let list = api.ok(BASE).await;
    let resources = list["resources"].as_array().expect("resources");
    let nodes = resources
        .iter()
        .find(|r| r["name"] == "nodes")
        .expect("nodes");
    assert_eq!(nodes["kind"], "NodeMetrics");
    assert_eq!(nodes["namespaced"], false);
    assert_eq!(nodes["verbs"], json!(["get", "list"]));
    let pods = resources
        .iter()
        .find(|r| r["name"] == "pods")
        .expect("pods");
    assert_eq!(pods["kind"], "PodMetrics");
    assert_eq!(pods["namespaced"], true);
    assert_eq!(pods["verbs"], json!(["get", "list"]));

    let (code, aggregated) = api
        .call(
            Method::GET,
            "/apis",
            Some("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"),
            None,
        )
        .await;
    assert_eq!(code, 200);
    let group = aggregated["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|g| g["metadata"]["name"] == "metrics.k8s.io")
        .expect("metrics.k8s.io in aggregated discovery");
    let v = &group["versions"][0];
    assert_eq!(v["version"], "v1beta1");
    let kinds: Vec<&Value> = v["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .map(|r| &r["responseKind"]["kind"])
        .collect();
    assert_eq!(kinds, [&json!("NodeMetrics"), &json!("PodMetrics")]);

    // Authorization sees an ordinary resource request.
    let attrs = RequestAttributes::from_request(
        "GET",
        "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods",
        None,
    );
    assert!(attrs.is_resource_request);
    assert_eq!(
        (
            attrs.verb.as_str(),
            attrs.api_group.as_str(),
            attrs.resource.as_str(),
            attrs.namespace.as_str()
        ),
        ("list", "metrics.k8s.io", "pods", "default")
    );
}

#[tokio::test]
async fn simulated_figures_follow_the_annotation_and_the_requests() {
    let api = cluster().await;

    let web = api.ok(&format!("{BASE}/namespaces/default/pods/web")).await;
    assert_eq!(web["kind"], "PodMetrics");
    assert_eq!(web["apiVersion"], "metrics.k8s.io/v1beta1");
    assert_eq!(web["metadata"]["namespace"], "default");
    assert_eq!(web["metadata"]["labels"], json!({"app": "web"}));
    assert_eq!(web["window"], "15s");
    assert!(
        web["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{web}"
    );
    // The pod's 300m goes to `app` (sidecar has its own); 96Mi is shared.
    assert_eq!(
        web["containers"],
        json!([{"name": "app", "usage": {"cpu": "300m", "memory": "48Mi"}},
               {"name": "sidecar", "usage": {"cpu": "20m", "memory": "48Mi"}}])
    );
    let db = api.ok(&format!("{BASE}/namespaces/default/pods/db")).await;
    assert_eq!(
        db["containers"],
        json!([{"name": "pg", "usage": {"cpu": "250m", "memory": "512Mi"}}])
    );

    // sim-a: 50m + 320m + 250m; 128Mi + 96Mi + 512Mi.
    let a = api.ok(&format!("{BASE}/nodes/sim-a")).await;
    assert_eq!(a["kind"], "NodeMetrics");
    assert_eq!(a["metadata"]["labels"], json!({"pool": "sim"}));
    assert_eq!(a["usage"], json!({"cpu": "620m", "memory": "736Mi"}));
    // sim-b: its own base 10m/32Mi + 1m/4Mi of a container without requests.
    let b = api.ok(&format!("{BASE}/nodes/sim-b")).await;
    assert_eq!(b["usage"], json!({"cpu": "11m", "memory": "36Mi"}));

    let nodes = api.ok(&format!("{BASE}/nodes")).await;
    assert_eq!(nodes["kind"], "NodeMetricsList");
    assert_eq!(nodes["apiVersion"], "metrics.k8s.io/v1beta1");
    assert_eq!(names(&nodes), ["sim-a", "sim-b"]);
    let listed_a = nodes["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|n| n["metadata"]["name"] == "sim-a")
        .expect("sim-a");
    assert_eq!(listed_a["usage"], a["usage"]);

    // A pending pod has no figures.
    let pods = api.ok(&format!("{BASE}/namespaces/default/pods")).await;
    assert_eq!(pods["kind"], "PodMetricsList");
    assert_eq!(names(&pods), ["default/db", "default/web"]);
    let all = api.ok(&format!("{BASE}/pods")).await;
    assert_eq!(names(&all), ["default/db", "default/web", "other/job"]);
}

#[tokio::test]
async fn selectors_pick_what_is_measured() {
    let api = cluster().await;
    let by_label = api
        .ok(&format!("{BASE}/pods?labelSelector=app%3Dweb"))
        .await;
    assert_eq!(names(&by_label), ["default/web"]);
    let by_set = api
        .ok(&format!(
            "{BASE}/namespaces/default/pods?labelSelector=app+in+(web,db)"
        ))
        .await;
    assert_eq!(names(&by_set), ["default/db", "default/web"]);
    let by_name = api
        .ok(&format!("{BASE}/pods?fieldSelector=metadata.name%3Ddb"))
        .await;
    assert_eq!(names(&by_name), ["default/db"]);
    let by_ns = api
        .ok(&format!(
            "{BASE}/pods?fieldSelector=metadata.namespace!%3Ddefault"
        ))
        .await;
    assert_eq!(names(&by_ns), ["other/job"]);
    let nodes = api
        .ok(&format!("{BASE}/nodes?fieldSelector=metadata.name%3Dsim-b"))
        .await;
    assert_eq!(names(&nodes), ["sim-b"]);
    let none = api
        .ok(&format!("{BASE}/nodes?labelSelector=pool%3Dreal"))
        .await;
    assert_eq!(names(&none), Vec::<String>::new());

    let (code, status) = api
        .get(&format!("{BASE}/pods?fieldSelector=spec.nodeName%3Dsim-a"))
        .await;
    assert_eq!(code, 400, "{status}");
    let (code, status) = api
        .get(&format!("{BASE}/pods?labelSelector=%3D%3D%3D"))
        .await;
    assert_eq!(code, 400, "{status}");
}

#[tokio::test]
async fn what_has_no_figures_is_not_found_as_metrics_server_says() {
    let api = cluster().await;
    let (code, s) = api
        .get(&format!("{BASE}/namespaces/default/pods/waiting"))
        .await;
    assert_eq!(code, 404);
    assert_eq!(s["kind"], "Status");
    assert_eq!(s["reason"], "NotFound");
    assert_eq!(
        s["message"],
        "podmetrics.metrics.k8s.io \"default/waiting\" not found"
    );
    let (code, s) = api
        .get(&format!("{BASE}/namespaces/default/pods/nope"))
        .await;
    assert_eq!(code, 404);
    assert_eq!(s["message"], "pods \"nope\" not found");
    let (code, s) = api.get(&format!("{BASE}/nodes/nope")).await;
    assert_eq!(code, 404);
    assert_eq!(s["message"], "nodes \"nope\" not found");

    // Only get and list are served.
    let (code, _) = api.get(&format!("{BASE}/pods?watch=true")).await;
    assert_eq!(code, 405);
    let (code, _) = api
        .call(
            Method::POST,
            &format!("{BASE}/namespaces/default/pods"),
            None,
            Some(("application/json", json!({}))),
        )
        .await;
    assert_eq!(code, 405);
    let (code, _) = api
        .call(Method::DELETE, &format!("{BASE}/nodes/sim-a"), None, None)
        .await;
    assert_eq!(code, 405);

    // kubectl get's Table.
    let (code, table) = api
        .call(
            Method::GET,
            &format!("{BASE}/nodes"),
            Some("application/json;as=Table;v=v1;g=meta.k8s.io"),
            None,
        )
        .await;
    assert_eq!(code, 200);
    assert_eq!(table["kind"], "Table");
    assert_eq!(table["rows"].as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn a_real_node_reports_what_its_summary_says() {
    let api = cluster().await;
    api.create(
        "/api/v1/nodes",
        json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "real-a"}}),
    )
    .await;
    api.patch_status(
        "/api/v1/nodes/real-a",
        json!({"addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
               "daemonEndpoints": {"kubeletEndpoint": {"Port": 1}}}),
    )
    .await;
    api.pod(
        "default",
        "busy",
        "real-a",
        "Running",
        json!({}),
        json!([{"name": "burn", "image": "busybox"}]),
    )
    .await;
    // Not reachable (and nothing answers on port 1): no figures.
    let (code, s) = api.get(&format!("{BASE}/nodes/real-a")).await;
    assert_eq!(code, 404, "{s}");
    assert_eq!(
        s["message"],
        "nodemetrics.metrics.k8s.io \"real-a\" not found"
    );
    assert_eq!(
        names(&api.ok(&format!("{BASE}/nodes")).await),
        ["sim-a", "sim-b"]
    );

    // Its Summary API answer, as the node would give it.
    let summary = json!({
        "node": {"nodeName": "real-a",
                 "cpu": {"time": "2026-12-07T19:00:00Z", "usageNanoCores": 123_456_789u64, "usageCoreNanoSeconds": 5},
                 "memory": {"time": "2026-12-07T19:00:00Z", "workingSetBytes": 1_610_612_736u64}},
        "pods": [{"podRef": {"name": "busy", "namespace": "default", "uid": "x"},
                  "containers": [{"name": "burn",
                                  "cpu": {"time": "2026-12-07T19:00:01Z", "usageNanoCores": 987_654_321u64},
                                  "memory": {"time": "2026-12-07T19:00:01Z", "workingSetBytes": 7_360_512u64}}]}]
    });
    api.state
        .resource_metrics
        .set_ttl(Duration::from_secs(3600));
    api.state
        .resource_metrics
        .insert_summary("real-a", summary.to_string().as_bytes())
        .expect("summary");
    let node = api.ok(&format!("{BASE}/nodes/real-a")).await;
    assert_eq!(
        node["usage"],
        json!({"cpu": "123456789n", "memory": "1536Mi"})
    );
    assert_eq!(node["timestamp"], "2026-12-07T19:00:00Z");
    let pod = api
        .ok(&format!("{BASE}/namespaces/default/pods/busy"))
        .await;
    assert_eq!(
        pod["containers"],
        json!([{"name": "burn", "usage": {"cpu": "987654321n", "memory": "7188Ki"}}])
    );
    assert_eq!(pod["timestamp"], "2026-12-07T19:00:01Z");
    assert_eq!(
        names(&api.ok(&format!("{BASE}/nodes")).await),
        ["real-a", "sim-a", "sim-b"]
    );
    assert_eq!(
        names(&api.ok(&format!("{BASE}/namespaces/default/pods")).await),
        ["default/busy", "default/db", "default/web"]
    );
}

#[tokio::test]
async fn the_apiservice_is_local_until_a_user_puts_a_service_in_its_place() {
    let api = Api::new().await;
    let mut config = resources::SystemObjectsConfig::new("127.0.0.1:6443".parse().expect("addr"));
    config.interval = Duration::from_millis(100);
    let task = resources::spawn_system_objects(api.state.clone(), config);
    let uri = "/apis/apiregistration.k8s.io/v1/apiservices/v1beta1.metrics.k8s.io";
    let mut local = Value::Null;
    for _ in 0..100 {
        let (code, v) = api.get(uri).await;
        if code == 200 && v["status"]["conditions"][0]["reason"] == "Local" {
            local = v;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(local["spec"]["group"], "metrics.k8s.io", "{local}");
    assert_eq!(local["status"]["conditions"][0]["status"], "True");

    // metrics-server's manifest, applied over it.
    let service = json!({"namespace": "kube-system", "name": "metrics-server", "port": 443});
    let (code, v) = api
        .call(
            Method::PATCH,
            uri,
            None,
            Some((
                "application/merge-patch+json",
                json!({"spec": {"service": service, "insecureSkipTLSVerify": true}}),
            )),
        )
        .await;
    assert_eq!(code, 200, "{v}");
    // Several reconcile passes later, the user's spec stands.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let kept = api.ok(uri).await;
    assert_eq!(kept["spec"]["service"], service, "{kept}");
    task.abort();
}
