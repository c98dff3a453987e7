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

/// `kubectl diff` (a dry-run patch on the server) shows what a re-apply
/// would change, and nothing for an unchanged manifest.
#[test]
fn diff_shows_what_apply_would_change() {
    let c = Cluster::up();
    let f = c.file("app.yaml", FIRST);
    let path = f.to_str().expect("utf-8 path");
    c.ok(&["apply", "-f", path]);
    let same = c.kubectl(&["diff", "-f", path]);
    assert_eq!(same.status.code(), Some(0), "no differences: {same:?}");
    let changed = c.file("changed.yaml", &FIRST.replace("nginx:1.27", "nginx:1.28"));
    let out = c.kubectl(&["diff", "-f", changed.to_str().expect("utf-8 path")]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "differences found: {text}\n{out:?}"
    );
    assert!(
        text.contains("-        image: nginx:1.27") && text.contains("+        image: nginx:1.28"),
        "{text}"
    );
    // Nothing was written.
    let image = c.ok(&[
        "get",
        "deploy",
        "web",
        "-o",
        "jsonpath={.spec.template.spec.containers[0].image}",
    ]);
    assert_eq!(image, "nginx:1.27");
}

/// `kubectl explain` reads the schemas of the OpenAPI v3 documents.
#[test]
fn explain_describes_fields_from_the_served_schemas() {
    let c = Cluster::up();
    let out = c.ok(&["explain", "pod.spec.containers"]);
    assert!(out.contains("KIND:       Pod"), "{out}");
    assert!(out.contains("FIELD: containers <[]Container>"), "{out}");
    assert!(out.contains("  image\t<string>"), "{out}");
    assert!(out.contains("  name\t<string> -required-"), "{out}");
    assert!(
        out.contains("List of containers belonging to the pod."),
        "{out}"
    );
    let out = c.ok(&["explain", "deployments.spec.strategy"]);
    assert!(out.contains("GROUP:      apps"), "{out}");
    assert!(out.contains("rollingUpdate"), "{out}");
}

/// Server-side apply: two field managers, a conflict named by field and
/// manager, `--force-conflicts` taking the field over, and managedFields
/// recording who owns what.
#[test]
fn server_side_apply_conflicts_and_force() {
    // Only kubectl writes: no Deployment controller adding its own
    // managedFields entries (status, revision annotation).
    let c = Cluster::up_with(&["--disable-controller-manager"]);
    let f = c.file("app.yaml", FIRST);
    let path = f.to_str().expect("utf-8 path");
    c.ok(&["apply", "--server-side", "-f", path]);
    // Applying the same again changes nothing and succeeds.
    c.ok(&["apply", "--server-side", "-f", path]);
    let managers = c.ok(&[
        "get",
        "deploy",
        "web",
        "--show-managed-fields",
        "-o",
        "jsonpath={range .metadata.managedFields[*]}{.manager}/{.operation} {end}",
    ]);
    assert_eq!(managers.trim(), "kubectl/Apply", "{managers}");

    // Another manager changing replicas conflicts with kubectl.
    let scaled = c.file("scaled.yaml", &FIRST.replace("replicas: 2", "replicas: 7"));
    let scaled = scaled.to_str().expect("utf-8 path");
    let err = c.fails(&[
        "apply",
        "--server-side",
        "--field-manager=autoscaler",
        "-f",
        scaled,
    ]);
    assert!(
        err.contains("Apply failed with 1 conflict: conflict with \"kubectl\": .spec.replicas"),
        "{err}"
    );
    let replicas = c.ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"]);
    assert_eq!(replicas, "2", "a conflicting apply writes nothing");

    // Forced: the autoscaler owns replicas now; kubectl no longer does.
    c.ok(&[
        "apply",
        "--server-side",
        "--field-manager=autoscaler",
        "--force-conflicts",
        "-f",
        scaled,
    ]);
    let replicas = c.ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"]);
    assert_eq!(replicas, "7");
    let owners = c.ok(&[
        "get",
        "deploy",
        "web",
        "--show-managed-fields",
        "-o",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&owners).expect("json");
    let fields_of = |m: &str| {
        v["metadata"]["managedFields"]
            .as_array()
            .and_then(|a| a.iter().find(|e| e["manager"] == m))
            .map(|e| e["fieldsV1"].clone())
            .unwrap_or_default()
    };
    assert!(
        fields_of("autoscaler")["f:spec"]["f:replicas"].is_object(),
        "{owners}"
    );
    assert!(
        fields_of("kubectl")["f:spec"].get("f:replicas").is_none(),
        "{owners}"
    );
    assert!(
        fields_of("kubectl")["f:spec"]["f:template"]["f:spec"]["f:containers"]
            ["k:{\"name\":\"web\"}"]["f:image"]
            .is_object(),
        "{owners}"
    );

    // A client-side edit by another manager takes the field (an Update).
    c.ok(&["set", "image", "deploy/web", "web=nginx:1.29"]);
    let owners = c.ok(&[
        "get",
        "deploy",
        "web",
        "--show-managed-fields",
        "-o",
        "json",
    ]);
    assert!(owners.contains("\"operation\": \"Update\""), "{owners}");
}
