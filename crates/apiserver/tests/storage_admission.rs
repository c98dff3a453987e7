//! The storage admission plugins as the write pipeline runs them, in
//! process: DefaultStorageClass fills a new claim's class (the newest
//! default; none without one; `""` kept), StorageObjectInUseProtection puts
//! the protection finalizers on new claims and volumes, and
//! PersistentVolumeClaimResize lets a bound claim grow only where its class
//! allows expansion (a status write is not judged).

mod in_process;

use axum::body::Body;
use axum::http::{Method, Request};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

const CLASSES: &str = "/apis/storage.k8s.io/v1/storageclasses";
const CLAIMS: &str = "/api/v1/namespaces/default/persistentvolumeclaims";
const VOLUMES: &str = "/api/v1/persistentvolumes";

struct Api {
    router: axum::Router,
    rt: tokio::runtime::Runtime,
}

impl Api {
    fn new() -> Self {
        let (router, rt) = in_process::resource_api();
        Api { router, rt }
    }

    fn call(&self, method: Method, path: &str, body: Option<Value>, ctype: &str) -> (u16, Value) {
        let router = self.router.clone();
        let mut req = Request::builder().method(method).uri(path);
        if !ctype.is_empty() {
            req = req.header("content-type", ctype);
        }
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        self.rt.block_on(async move {
            let resp = router
                .oneshot(req.body(Body::from(body)).expect("request"))
                .await
                .expect("infallible");
            let status = resp.status().as_u16();
            let bytes = resp.into_body().collect().await.expect("body").to_bytes();
            (
                status,
                serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            )
        })
    }

    fn post(&self, path: &str, body: Value) -> Value {
        let (code, v) = self.call(Method::POST, path, Some(body), "application/json");
        assert_eq!(code, 201, "{v}");
        v
    }

    fn patch(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(
            Method::PATCH,
            path,
            Some(body),
            "application/merge-patch+json",
        )
    }
}

fn class(name: &str, default: bool, expand: bool) -> Value {
    json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
        "metadata": {"name": name, "annotations":
            {"storageclass.kubernetes.io/is-default-class": default.to_string()}},
        "provisioner": "example.com/p", "allowVolumeExpansion": expand})
}

fn claim(name: &str, class: Option<&str>) -> Value {
    let mut c = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": name},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}});
    if let Some(class) = class {
        c["spec"]["storageClassName"] = json!(class);
    }
    c
}

#[test]
fn new_claims_get_the_default_class_and_protection() {
    let api = Api::new();
    let none = api.post(CLAIMS, claim("before", None));
    assert!(none["spec"].get("storageClassName").is_none(), "{none}");
    api.post(CLASSES, class("slow", false, false));
    api.post(CLASSES, class("standard", true, false));
    let got = api.post(CLAIMS, claim("after", None));
    assert_eq!(got["spec"]["storageClassName"], "standard");
    assert_eq!(got["spec"]["volumeMode"], "Filesystem");
    assert_eq!(got["status"], json!({"phase": "Pending"}));
    assert_eq!(
        got["metadata"]["finalizers"],
        json!(["kubernetes.io/pvc-protection"])
    );
    let empty = api.post(CLAIMS, claim("empty", Some("")));
    assert_eq!(empty["spec"]["storageClassName"], "");
    let named = api.post(CLAIMS, claim("named", Some("slow")));
    assert_eq!(named["spec"]["storageClassName"], "slow");
    let pv = api.post(
        VOLUMES,
        json!({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "pv1"},
            "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                "hostPath": {"path": "/srv/pv1"}}}),
    );
    assert_eq!(
        pv["metadata"]["finalizers"],
        json!(["kubernetes.io/pv-protection"])
    );
    assert_eq!(pv["spec"]["persistentVolumeReclaimPolicy"], "Retain");
}

#[test]
fn a_bound_claim_grows_only_where_its_class_allows() {
    let api = Api::new();
    api.post(CLASSES, class("fixed", false, false));
    api.post(CLASSES, class("elastic", false, true));
    for (name, class) in [("a", "fixed"), ("b", "elastic")] {
        api.post(CLAIMS, claim(name, Some(class)));
        let (code, v) = api.patch(
            &format!("{CLAIMS}/{name}/status"),
            json!({"status": {"phase": "Bound", "capacity": {"storage": "1Gi"}}}),
        );
        assert_eq!(code, 200, "{v}");
    }
    let grow = json!({"spec": {"resources": {"requests": {"storage": "2Gi"}}}});
    let (code, refused) = api.patch(&format!("{CLAIMS}/a"), grow.clone());
    assert_eq!(code, 403, "{refused}");
    assert_eq!(
        refused["message"],
        "persistentvolumeclaims \"a\" is forbidden: only dynamically provisioned pvc can be resized and the storageclass that provisions the pvc must support resize"
    );
    let (code, grown) = api.patch(&format!("{CLAIMS}/b"), grow);
    assert_eq!(code, 200, "{grown}");
    assert_eq!(grown["spec"]["resources"]["requests"]["storage"], "2Gi");
    let (code, shrunk) = api.patch(
        &format!("{CLAIMS}/b"),
        json!({"spec": {"resources": {"requests": {"storage": "1Gi"}}}}),
    );
    assert_eq!(code, 422, "{shrunk}");
    assert_eq!(
        shrunk["message"],
        "PersistentVolumeClaim \"b\" is invalid: spec.resources.requests.storage: Forbidden: field can not be less than status.capacity"
    );
}
