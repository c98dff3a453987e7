//! `kubectl apply` (client-side, with its last-applied annotation) of a
//! multi-document manifest, then of a changed one: a container removed, an
//! env var added, replicas changed — through strategic merge patches with
//! Kubernetes' merge keys. kubectl finds `fieldValidation` in rkube's
//! OpenAPI v3 documents and leaves validation to the server (Strict).

use rkube_e2e::Cluster;

const FIRST: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        ports: [{containerPort: 80}]
        env: [{name: A, value: \"1\"}]
      - name: side
        image: busybox
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: cfg
data: {a: \"1\"}
";

#[test]
fn apply_then_reapply_a_changed_manifest() {
    let c = Cluster::up();
    let f = c.file("app.yaml", FIRST);
    let path = f.to_str().expect("utf-8 path");
    let out = c.ok(&["apply", "-f", path]);
    assert_eq!(out, "deployment.apps/web created\nconfigmap/cfg created\n");

    let changed = FIRST
        .replace("replicas: 2", "replicas: 3")
        .replace("value: \"1\"}]", "value: \"1\"}, {name: B, value: \"2\"}]")
        .replace("      - name: side\n        image: busybox\n", "")
        .replace("containerPort: 80", "containerPort: 8080");
    let f = c.file("app.yaml", &changed);
    let out = c.ok(&["apply", "-f", f.to_str().expect("utf-8 path")]);
    assert_eq!(
        out,
        "deployment.apps/web configured\nconfigmap/cfg unchanged\n"
    );
    assert_eq!(
        c.ok(&[
            "get", "deploy", "web", "-o",
            "jsonpath={.spec.replicas} {.spec.template.spec.containers[*].name} {.spec.template.spec.containers[0].env} {.spec.template.spec.containers[0].ports[*].containerPort}",
        ]),
        r#"3 web [{"name":"A","value":"1"},{"name":"B","value":"2"}] 8080"#
    );
    let annotation = c.ok(&[
        "get",
        "deploy",
        "web",
        "-o",
        "jsonpath={.metadata.annotations.kubectl\\.kubernetes\\.io/last-applied-configuration}",
    ]);
    assert!(annotation.contains("\"replicas\":3"), "{annotation}");

    // Server-side strict validation: an unknown field is refused, named.
    let bad = c.file(
        "bad.yaml",
        &changed.replace(
            "image: nginx:1.27",
            "image: nginx:1.27\n        colour: red",
        ),
    );
    let err = c.fails(&["apply", "-f", bad.to_str().expect("utf-8 path")]);
    assert!(
        err.contains(
            r#"strict decoding error: unknown field "spec.template.spec.containers[0].colour""#
        ),
        "{err}"
    );
}
