//! Bad input never panics the server and always gets a 4xx `Status`: random
//! bodies (bytes, JSON of any shape, damaged valid objects) with every write
//! method and content type, against several resources, in process. A short
//! run in CI; `PROPTEST_CASES=100000` for a long one.

mod in_process;

use axum::body::Body;
use axum::http::{Method, Request};
use http_body_util::BodyExt;
use proptest::prelude::*;
use serde_json::Value;
use tower::ServiceExt;

const PATHS: &[&str] = &[
    "/api/v1/namespaces/default/configmaps",
    "/api/v1/namespaces/default/configmaps/cm",
    "/api/v1/namespaces/default/pods/p/status",
    "/api/v1/namespaces",
    "/api/v1/namespaces/default",
    "/apis/apps/v1/namespaces/default/deployments",
    "/apis/apps/v1/namespaces/default/deployments/d",
    "/api/v1/nodes/n",
    "/api/v1/namespaces/default/pods/p/binding",
    "/api/v1/namespaces/default/pods/p/eviction",
    "/api/v1/namespaces/default/bindings",
];

const TYPES: &[&str] = &[
    "application/json",
    "application/merge-patch+json",
    "application/json-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
    "application/yaml",
    "application/vnd.kubernetes.protobuf",
    "text/plain",
    "",
];

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        "[a-zA-Z0-9_./-]{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("metadata".to_string()),
                    Just("name".to_string()),
                    Just("namespace".to_string()),
                    Just("labels".to_string()),
                    Just("resourceVersion".to_string()),
                    Just("finalizers".to_string()),
                    Just("spec".to_string()),
                    Just("status".to_string()),
                    Just("data".to_string()),
                    Just("kind".to_string()),
                    Just("apiVersion".to_string()),
                    Just("op".to_string()),
                    Just("path".to_string()),
                    "[a-z]{1,6}",
                ],
                inner,
                0..5
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..64),
        // Past the protobuf magic number, into the envelope decoder.
        prop::collection::vec(any::<u8>(), 0..64).prop_map(|tail| {
            let mut v = b"k8s\0".to_vec();
            v.extend(tail);
            v
        }),
        json_value().prop_map(|v| serde_json::to_vec(&v).unwrap_or_default()),
        // A valid object with a damaged byte.
        (0usize..80, any::<u8>()).prop_map(|(at, b)| {
            let mut v = br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cm"},"data":{"a":"1"}}"#.to_vec();
            let at = at % v.len();
            v[at] = b;
            v
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn any_body_gets_a_status_never_a_panic(
        path in prop::sample::select(PATHS),
        method in prop::sample::select(&[Method::POST, Method::PUT, Method::PATCH, Method::DELETE][..]),
        content_type in prop::sample::select(TYPES),
        body in body(),
    ) {
        let (router, rt) = in_process::resource_api();
        let (status, bytes) = rt.block_on(async move {
            let mut req = Request::builder().method(method).uri(path);
            if !content_type.is_empty() {
                req = req.header("content-type", content_type);
            }
            let resp = router.oneshot(req.body(Body::from(body)).expect("request")).await.expect("infallible");
            let status = resp.status();
            let bytes = resp.into_body().collect().await.expect("body").to_bytes();
            (status, bytes)
        });
        prop_assert!(status.as_u16() < 500, "{status}: {}", String::from_utf8_lossy(&bytes));
        if status.as_u16() >= 400 {
            let v: Value = serde_json::from_slice(&bytes).expect("an error body is JSON");
            prop_assert_eq!(v.get("kind").and_then(Value::as_str), Some("Status"), "{}", v);
            prop_assert_eq!(v.get("code").and_then(Value::as_u64), Some(u64::from(status.as_u16())));
        }
    }
}
