//! The kinds kube-apiserver serves beyond the everyday ones, through
//! kubectl 1.37: PodTemplate, ReplicationController (defaults, `scale
//! rc`), ComponentStatus (read-only, deprecated, health from the leader
//! Leases and the store), APIService (one `Local` per group/version, one
//! per CRD version while the CRD exists) and RuntimeClass with its
//! admission plugin. Each is listed by `api-resources`, printed with its
//! columns by `get` and described by `explain`.

use std::time::Duration;

use rkube_e2e::Cluster;

/// The whitespace-separated words of each line (kubectl pads columns).
fn words(out: &str) -> Vec<Vec<String>> {
    out.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect()
}

const KINDS: &str = r#"
apiVersion: node.k8s.io/v1
kind: RuntimeClass
metadata:
  name: sandboxed
handler: runsc
overhead:
  podFixed:
    cpu: 250m
    memory: 64Mi
scheduling:
  nodeSelector:
    sandbox: "true"
  tolerations:
  - key: sandbox
    operator: Exists
    effect: NoSchedule
---
apiVersion: v1
kind: PodTemplate
metadata:
  name: tpl
template:
  metadata:
    labels:
      app: tpl
  spec:
    containers:
    - name: c
      image: nginx:1.27
---
apiVersion: v1
kind: ReplicationController
metadata:
  name: web
spec:
  replicas: 2
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: c
        image: nginx:1.27
"#;

#[test]
fn api_resources_lists_the_kinds() {
    let c = Cluster::up_with(&["--disable-controller-manager", "--disable-scheduler"]);
    let out = c.ok(&["api-resources"]);
    let rows = words(&out);
    let row = |name: &str| {
        rows.iter()
            .find(|r| r[0] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} missing from api-resources:\n{out}"))
    };
    assert_eq!(
        row("componentstatuses"),
        ["componentstatuses", "cs", "v1", "false", "ComponentStatus"]
    );
    assert_eq!(
        row("podtemplates"),
        ["podtemplates", "v1", "true", "PodTemplate"]
    );
    assert_eq!(
        row("replicationcontrollers"),
        [
            "replicationcontrollers",
            "rc",
            "v1",
            "true",
            "ReplicationController"
        ]
    );
    assert_eq!(
        row("apiservices"),
        [
            "apiservices",
            "apiregistration.k8s.io/v1",
            "false",
            "APIService"
        ]
    );
    assert_eq!(
        row("runtimeclasses"),
        ["runtimeclasses", "node.k8s.io/v1", "false", "RuntimeClass"]
    );
    for what in [
        "podtemplate.template",
        "rc.spec.selector",
        "componentstatus.conditions",
        "apiservice.spec.groupPriorityMinimum",
        "runtimeclass.handler",
    ] {
        let text = c.ok(&["explain", what]);
        assert!(
            text.contains("FIELD:") || text.contains("KIND:"),
            "{what}: {text}"
        );
    }
}

#[test]
fn kinds_are_created_defaulted_printed_and_scaled() {
    let c = Cluster::up_with(&["--disable-controller-manager", "--disable-scheduler"]);
    let file = c.file("kinds.yaml", KINDS);
    c.ok(&["apply", "-f", file.to_str().unwrap_or_default()]);

    let rcs = words(&c.ok(&["get", "rc"]));
    assert_eq!(rcs[0], ["NAME", "DESIRED", "CURRENT", "READY", "AGE"]);
    assert_eq!(rcs[1][..4], ["web", "2", "0", "0"]);
    let wide = words(&c.ok(&["get", "rc", "-o", "wide"]));
    assert_eq!(wide[0][5..], ["CONTAINERS", "IMAGES", "SELECTOR"]);
    assert_eq!(wide[1][5..], ["c", "nginx:1.27", "app=web"]);
    // The selector and the labels come from the template.
    assert_eq!(
        c.ok(&[
            "get",
            "rc",
            "web",
            "-o",
            "jsonpath={.spec.selector.app} {.metadata.labels.app}"
        ]),
        "web web"
    );
    c.ok(&["scale", "rc", "web", "--replicas=3"]);
    assert_eq!(
        c.ok(&["get", "rc", "web", "-o", "jsonpath={.spec.replicas}"]),
        "3"
    );
    let mismatched = c.file(
        "bad-rc.yaml",
        r#"
apiVersion: v1
kind: ReplicationController
metadata:
  name: bad
spec:
  selector:
    app: other
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: c
        image: nginx
"#,
    );
    let err = c.fails(&["create", "-f", mismatched.to_str().unwrap_or_default()]);
    assert!(
        err.contains("spec.template.metadata.labels: Invalid value: {\"app\":\"web\"}: `selector` does not match template `labels`")
            || err.contains("`selector` does not match template `labels`"),
        "{err}"
    );

    let tpl = words(&c.ok(&["get", "podtemplates"]));
    assert_eq!(tpl[0], ["NAME", "CONTAINERS", "IMAGES", "POD", "LABELS"]);
    assert_eq!(tpl[1], ["tpl", "c", "nginx:1.27", "app=tpl"]);

    let rc = words(&c.ok(&["get", "runtimeclass"]));
    assert_eq!(rc[0], ["NAME", "HANDLER", "AGE"]);
    assert_eq!(rc[1][..2], ["sandboxed", "runsc"]);
    let immutable = c.fails(&[
        "patch",
        "runtimeclass",
        "sandboxed",
        "--type=merge",
        "-p",
        r#"{"handler":"kata"}"#,
    ]);
    assert!(
        immutable.contains("handler: Invalid value: \"kata\": field is immutable"),
        "{immutable}"
    );
}

#[test]
fn runtime_class_admission_merges_and_refuses() {
    let c = Cluster::up_with(&["--disable-controller-manager", "--disable-scheduler"]);
    let file = c.file("kinds.yaml", KINDS);
    c.ok(&["apply", "-f", file.to_str().unwrap_or_default()]);
    let pod = c.file(
        "pod.yaml",
        r#"
apiVersion: v1
kind: Pod
metadata:
  name: sandboxed
spec:
  runtimeClassName: sandboxed
  nodeSelector:
    zone: a
  containers:
  - name: c
    image: nginx
"#,
    );
    c.ok(&["create", "-f", pod.to_str().unwrap_or_default()]);
    assert_eq!(
        c.ok(&[
            "get",
            "pod",
            "sandboxed",
            "-o",
            "jsonpath={.spec.overhead.cpu} {.spec.overhead.memory} {.spec.nodeSelector.sandbox} {.spec.nodeSelector.zone} {.spec.tolerations[?(@.key==\"sandbox\")].operator}",
        ]),
        "250m 64Mi true a Exists"
    );
    let conflict = c.file(
        "conflict.yaml",
        r#"
apiVersion: v1
kind: Pod
metadata:
  name: conflict
spec:
  runtimeClassName: sandboxed
  nodeSelector:
    sandbox: "false"
  containers:
  - name: c
    image: nginx
"#,
    );
    let err = c.fails(&["create", "-f", conflict.to_str().unwrap_or_default()]);
    assert!(
        err.contains("pods \"conflict\" is forbidden: conflict: runtimeClass.scheduling.nodeSelector[sandbox] = true; pod.spec.nodeSelector[sandbox] = false"),
        "{err}"
    );
    let missing = c.fails(&[
        "run",
        "nope",
        "--image=nginx",
        "--overrides",
        r#"{"spec":{"runtimeClassName":"nope"}}"#,
    ]);
    assert!(
        missing
            .contains("pods \"nope\" is forbidden: pod rejected: RuntimeClass \"nope\" not found"),
        "{missing}"
    );
}

#[test]
fn component_statuses_and_apiservices() {
    // The whole cluster: the scheduler and the controller manager hold
    // their leader Leases.
    let c = Cluster::up();
    c.wait_until(
        "every component is healthy",
        Duration::from_secs(30),
        || {
            let out = c.kubectl(&["get", "componentstatuses"]);
            let text = String::from_utf8_lossy(&out.stdout);
            words(&text)
                .iter()
                .skip(1)
                .filter(|r| r.get(1).is_some_and(|s| s == "Healthy"))
                .count()
                == 3
        },
    );
    let out = c.kubectl(&["get", "cs"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let rows = words(&stdout);
    assert_eq!(rows[0], ["NAME", "STATUS", "MESSAGE", "ERROR"]);
    let names: Vec<&str> = rows[1..].iter().map(|r| r[0].as_str()).collect();
    assert_eq!(names, ["controller-manager", "etcd-0", "scheduler"]);
    assert!(
        rows[1..].iter().all(|r| r[1..] == ["Healthy", "ok"]),
        "{stdout}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Warning: v1 ComponentStatus is deprecated in v1.19+"),
        "{stderr}"
    );
    let refused = c.fails(&["delete", "cs", "etcd-0"]);
    assert!(
        refused.contains("MethodNotAllowed") || refused.contains("not allowed"),
        "{refused}"
    );

    let apis = words(&c.ok(&["get", "apiservices"]));
    assert_eq!(apis[0], ["NAME", "SERVICE", "AVAILABLE", "AGE"]);
    for name in [
        "v1.",
        "v1.apps",
        "v1.node.k8s.io",
        "v1.apiregistration.k8s.io",
    ] {
        let name = name.trim_end_matches('.');
        let row = apis
            .iter()
            .find(|r| r[0] == name)
            .unwrap_or_else(|| panic!("no APIService {name}: {apis:?}"));
        assert_eq!(row[1..3], ["Local", "True"], "{name}");
    }
    assert_eq!(
        c.ok(&["get", "apiservice", "v1.apps", "-o",
            "jsonpath={.spec.groupPriorityMinimum} {.spec.versionPriority} {.status.conditions[0].reason}"]),
        "17800 15 Local"
    );

    // A CRD's group/version gets one while the CRD exists.
    let crd = c.file(
        "crd.yaml",
        r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
"#,
    );
    c.ok(&["apply", "-f", crd.to_str().unwrap_or_default()]);
    c.wait_until(
        "the CRD's APIService exists",
        Duration::from_secs(15),
        || {
            c.kubectl(&["get", "apiservice", "v1.example.com"])
                .status
                .success()
        },
    );
    assert_eq!(
        c.ok(&["get", "apiservice", "v1.example.com", "-o",
            "jsonpath={.spec.groupPriorityMinimum} {.spec.versionPriority} {.status.conditions[0].status}"]),
        "1000 100 True"
    );
    c.ok(&["delete", "crd", "widgets.example.com"]);
    c.wait_until(
        "the CRD's APIService is gone",
        Duration::from_secs(15),
        || {
            !c.kubectl(&["get", "apiservice", "v1.example.com"])
                .status
                .success()
        },
    );
}

#[test]
fn an_unknown_kind_is_reported_as_kube_apiserver_does() {
    // kubectl validates against /openapi/v3, finds no schema for the
    // kind, falls back to /openapi/v2 in protobuf, then maps the kind.
    let c = Cluster::up_with(&["--disable-controller-manager", "--disable-scheduler"]);
    let file = c.file(
        "gizmo.yaml",
        "apiVersion: example.com/v1\nkind: Gizmo\nmetadata:\n  name: g\n",
    );
    let err = c.fails(&["apply", "-f", file.to_str().unwrap_or_default()]);
    assert!(!err.contains("failed to download openapi"), "{err}");
    assert!(
        err.contains("no matches for kind \"Gizmo\" in version \"example.com/v1\""),
        "{err}"
    );
}
