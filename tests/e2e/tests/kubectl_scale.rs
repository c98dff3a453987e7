//! `kubectl scale` goes through the `scale` subresource (autoscaling/v1
//! Scale); spec changes bump `metadata.generation`, status writes do not.

use rkube_e2e::Cluster;

const DEPLOYMENT: &str = r#"apiVersion: apps/v1
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
"#;

#[test]
fn kubectl_scale_uses_the_scale_subresource() {
    // The API's own semantics: no Deployment controller writing status.
    let c = Cluster::up_with(&["--disable-controller-manager"]);
    let f = c.file("deploy.yaml", DEPLOYMENT);
    assert_eq!(
        c.ok(&["create", "-f", f.to_str().expect("path")]).trim(),
        "deployment.apps/web created"
    );
    assert_eq!(
        c.ok(&[
            "get",
            "deploy",
            "web",
            "-o",
            "jsonpath={.metadata.generation}"
        ]),
        "1"
    );

    let scale = c.ok(&[
        "get",
        "--raw",
        "/apis/apps/v1/namespaces/default/deployments/web/scale",
    ]);
    assert!(
        scale.contains(r#""kind":"Scale""#) && scale.contains(r#""selector":"app=web""#),
        "{scale}"
    );

    assert_eq!(
        c.ok(&["scale", "deploy", "web", "--replicas=5"]).trim(),
        "deployment.apps/web scaled"
    );
    assert_eq!(
        c.ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"]),
        "5"
    );
    assert_eq!(
        c.ok(&[
            "get",
            "deploy",
            "web",
            "-o",
            "jsonpath={.metadata.generation}"
        ]),
        "2"
    );

    // A precondition on the current size that does not hold fails.
    let err = c.fails(&[
        "scale",
        "deploy",
        "web",
        "--current-replicas=3",
        "--replicas=1",
    ]);
    assert!(err.contains("Expected replicas to be 3, was 5"), "{err}");

    // Status is its own subresource: writing it leaves generation alone.
    c.ok(&[
        "patch",
        "deploy",
        "web",
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"replicas":5}}"#,
    ]);
    assert_eq!(
        c.ok(&[
            "get",
            "deploy",
            "web",
            "-o",
            "jsonpath={.status.replicas}/{.metadata.generation}"
        ]),
        "5/2"
    );
    // ... and the main resource cannot write status.
    c.ok(&[
        "patch",
        "deploy",
        "web",
        "--type=merge",
        "-p",
        r#"{"status":{"replicas":9}}"#,
    ]);
    assert_eq!(
        c.ok(&["get", "deploy", "web", "-o", "jsonpath={.status.replicas}"]),
        "5"
    );
}
