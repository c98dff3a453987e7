//! The three patch decoders and server-side apply against objects that
//! exist: random RFC 6902 operation lists, merge patches, strategic merge
//! patches with directives, and apply configurations, sent to a deployment
//! and a config map. The server answers 2xx or a 4xx `Status`, never 5xx,
//! never panics, and the object still reads back as valid JSON of its kind.
//! A short run in CI; `PROPTEST_CASES=100000` for a long one.

mod in_process;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use proptest::prelude::*;
use serde_json::{json, Value};
use tower::ServiceExt;

const DEPLOYMENT: &str = "/apis/apps/v1/namespaces/default/deployments/web";
const CONFIGMAP: &str = "/api/v1/namespaces/default/configmaps/cfg";

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-3i64..100).prop_map(Value::from),
        "[a-z0-9:./-]{0,10}".prop_map(Value::String),
    ]
}

fn field() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("spec".to_string()),
        Just("template".to_string()),
        Just("containers".to_string()),
        Just("name".to_string()),
        Just("image".to_string()),
        Just("ports".to_string()),
        Just("containerPort".to_string()),
        Just("env".to_string()),
        Just("value".to_string()),
        Just("replicas".to_string()),
        Just("metadata".to_string()),
        Just("labels".to_string()),
        Just("finalizers".to_string()),
        Just("data".to_string()),
        Just("$patch".to_string()),
        Just("$retainKeys".to_string()),
        Just("$setElementOrder/containers".to_string()),
        Just("$deleteFromPrimitiveList/finalizers".to_string()),
        "[a-z]{1,5}",
    ]
}

fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(5, 40, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(field(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn pointer() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            field(),
            (0usize..3).prop_map(|i| i.to_string()),
            Just("-".to_string()),
            Just("a~1b".to_string()),
        ],
        0..6,
    )
    .prop_map(|parts| parts.iter().map(|p| format!("/{p}")).collect())
}

fn json_patch() -> impl Strategy<Value = Value> {
    let op = (
        prop::sample::select(&["add", "remove", "replace", "test", "move", "copy", "bogus"][..]),
        pointer(),
        pointer(),
        value(),
    )
        .prop_map(
            |(op, path, from, value)| json!({"op": op, "path": path, "from": from, "value": value}),
        );
    prop::collection::vec(op, 0..5).prop_map(Value::Array)
}

/// (content type, body) of one patch.
fn patch() -> impl Strategy<Value = (&'static str, Vec<u8>)> {
    prop_oneof![
        json_patch().prop_map(|p| ("application/json-patch+json", p.to_string().into_bytes())),
        value().prop_map(|p| ("application/merge-patch+json", p.to_string().into_bytes())),
        value().prop_map(|p| (
            "application/strategic-merge-patch+json",
            p.to_string().into_bytes()
        )),
        (value(), any::<bool>()).prop_map(|(p, deployment)| {
            let mut config = json!({
                "apiVersion": if deployment { "apps/v1" } else { "v1" },
                "kind": if deployment { "Deployment" } else { "ConfigMap" },
                "metadata": {"name": if deployment { "web" } else { "cfg" }},
            });
            if let (Some(c), Some(extra)) = (config.as_object_mut(), p.as_object()) {
                for (k, v) in extra {
                    c.entry(k.clone()).or_insert_with(|| v.clone());
                }
            }
            (
                "application/apply-patch+yaml",
                config.to_string().into_bytes(),
            )
        }),
    ]
}

async fn send(
    router: &axum::Router,
    method: Method,
    uri: &str,
    ct: &str,
    body: Vec<u8>,
) -> (StatusCode, Value) {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", ct)
        .body(Body::from(body))
        .expect("request");
    let resp = router.clone().oneshot(req).await.expect("infallible");
    let status = resp.status();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn setup() -> (axum::Router, tokio::runtime::Runtime) {
    let (router, rt) = in_process::resource_api();
    rt.block_on(async {
        let d = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "finalizers": ["a/b"]},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "web", "image": "nginx", "ports": [{"containerPort": 80}],
                        "env": [{"name": "A", "value": "1"}]}]}}}});
        let (s, v) = send(&router, Method::POST, "/apis/apps/v1/namespaces/default/deployments", "application/json",
            d.to_string().into_bytes()).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": {"a": "1"}});
        let (s, v) = send(&router, Method::POST, "/api/v1/namespaces/default/configmaps", "application/json",
            cm.to_string().into_bytes()).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
    });
    (router, rt)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn patches_get_an_answer_and_leave_a_valid_object(
        (ct, body) in patch(),
        on_deployment in any::<bool>(),
    ) {
        let (router, rt) = setup();
        let uri = if on_deployment { DEPLOYMENT } else { CONFIGMAP };
        let target = format!("{uri}?fieldManager=fuzz");
        let ((status, answer), (read_status, read)) = rt.block_on(async {
            let answer = send(&router, Method::PATCH, &target, ct, body).await;
            let read = send(&router, Method::GET, uri, "application/json", Vec::new()).await;
            (answer, read)
        });
        prop_assert!(status.as_u16() < 500, "{status}: {answer}");
        if !status.is_success() {
            prop_assert_eq!(answer.get("kind").and_then(Value::as_str), Some("Status"), "{}", answer);
        }
        prop_assert_eq!(read_status, StatusCode::OK, "{}", read);
        let kind = if on_deployment { "Deployment" } else { "ConfigMap" };
        prop_assert_eq!(read.get("kind").and_then(Value::as_str), Some(kind), "{}", read);
    }
}
