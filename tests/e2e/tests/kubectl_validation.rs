//! Per-kind defaulting and validation, as kubectl 1.37 shows them:
//! Kubernetes' defaults appear on created objects, invalid objects are
//! refused with kube-apiserver's field messages, and fixed fields stay
//! fixed.

use rkube_e2e::Cluster;

fn create(c: &Cluster, name: &str, yaml: &str) -> std::process::Output {
    let f = c.file(name, yaml);
    c.kubectl(&["create", "-f", f.to_str().expect("utf-8 path")])
}

#[test]
fn defaults_and_field_errors() {
    let c = Cluster::up();

    // An invalid pod: every problem named, nothing stored.
    let out = create(
        &c,
        "bad-pod.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: bad\nspec:\n  restartPolicy: Sometimes\n  containers:\n  - {}\n",
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    for want in [
        r#"The Pod "bad" is invalid"#,
        "spec.containers[0].name: Required value",
        "spec.containers[0].image: Required value",
        r#"spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never""#,
    ] {
        assert!(err.contains(want), "missing {want:?} in {err}");
    }
    assert!(c.kubectl(&["get", "pod", "bad"]).status.code() != Some(0));

    // kubectl run (a typed, protobuf create): Kubernetes' pod defaults.
    c.ok(&["run", "web", "--image=nginx", "--port=80"]);
    assert_eq!(
        c.ok(&[
            "get", "pod", "web", "-o",
            "jsonpath={.spec.restartPolicy} {.spec.dnsPolicy} {.spec.terminationGracePeriodSeconds} {.spec.schedulerName} {.spec.containers[0].imagePullPolicy} {.spec.containers[0].ports[0].protocol} {.status.phase} {.status.qosClass}",
        ]),
        "Always ClusterFirst 30 default-scheduler Always TCP Pending BestEffort"
    );
    // A pod's spec is fixed, except images.
    c.ok(&["set", "image", "pod/web", "web=nginx:1.27"]);
    let err = c.fails(&[
        "patch",
        "pod",
        "web",
        "--type=merge",
        "-p",
        r#"{"spec":{"restartPolicy":"Never"}}"#,
    ]);
    assert!(
        err.contains("spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`"),
        "{err}"
    );

    // Deployments: defaults, and a selector that must match the template.
    c.ok(&["create", "deployment", "api", "--image=nginx:1.27"]);
    assert_eq!(
        c.ok(&[
            "get", "deploy", "api", "-o",
            "jsonpath={.spec.strategy.type} {.spec.strategy.rollingUpdate.maxSurge} {.spec.revisionHistoryLimit} {.spec.progressDeadlineSeconds}",
        ]),
        "RollingUpdate 25% 10 600"
    );
    let out = create(
        &c,
        "mismatch.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: mismatch\nspec:\n  selector:\n    matchLabels: {app: a}\n  template:\n    metadata:\n      labels: {app: b}\n    spec:\n      containers:\n      - {name: c, image: nginx}\n",
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(r#"spec.template.metadata.labels: Invalid value: map[string]string{"app":"b"}: `selector` does not match template `labels`"#),
        "{err}"
    );
    let err = c.fails(&[
        "patch", "deploy", "api", "--type=merge", "-p",
        r#"{"spec":{"selector":{"matchLabels":{"app":"other"}},"template":{"metadata":{"labels":{"app":"other"}}}}}"#,
    ]);
    assert!(
        err.contains("spec.selector: Invalid value:") && err.contains("field is immutable"),
        "{err}"
    );

    // Services: defaults and port checks.
    c.ok(&["create", "service", "clusterip", "api", "--tcp=80"]);
    assert_eq!(
        c.ok(&["get", "svc", "api", "-o", "jsonpath={.spec.sessionAffinity} {.spec.ports[0].targetPort} {.spec.internalTrafficPolicy}"]),
        "None 80 Cluster"
    );
    let out = create(
        &c,
        "bad-svc.yaml",
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: bad\nspec:\n  ports:\n  - port: 0\n",
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(
            "spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive"
        ),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Jobs get a selector on their own uid; their template is fixed.
    c.ok(&["create", "job", "once", "--image=busybox", "--", "true"]);
    let uid = c.ok(&["get", "job", "once", "-o", "jsonpath={.metadata.uid}"]);
    assert_eq!(
        c.ok(&["get", "job", "once", "-o", "jsonpath={.spec.selector.matchLabels.batch\\.kubernetes\\.io/controller-uid} {.spec.template.metadata.labels.job-name} {.spec.backoffLimit}"]),
        format!("{uid} once 6")
    );

    // A secret's stringData is stored base64-encoded in data, and not kept.
    create(
        &c,
        "s.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  user: admin\n",
    );
    assert_eq!(
        c.ok(&[
            "get",
            "secret",
            "s",
            "-o",
            "jsonpath={.type} {.data.user} {.stringData}"
        ]),
        "Opaque YWRtaW4= "
    );

    // An immutable config map keeps its data.
    create(&c, "frozen.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: frozen\nimmutable: true\ndata:\n  a: b\n");
    let err = c.fails(&[
        "patch",
        "cm",
        "frozen",
        "--type=merge",
        "-p",
        r#"{"data":{"a":"c"}}"#,
    ]);
    assert!(
        err.contains("data: Forbidden: field is immutable when `immutable` is set"),
        "{err}"
    );
}

/// An unparsable Quantity anywhere (a container's requests, a LimitRange,
/// an update) is refused as kube-apiserver refuses it, and nothing is
/// stored.
#[test]
fn unparsable_quantities_are_bad_requests() {
    let c = Cluster::up_with(&["--disable-controller-manager", "--disable-scheduler"]);
    const WANT: &str = "cannot be handled as a Pod: quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
    let out = create(
        &c,
        "lots.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: lots\nspec:\n  containers:\n  - name: c\n    image: nginx\n    resources:\n      requests:\n        cpu: lots\n",
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("error when creating")
            && err.contains(&format!("lots.yaml\": Pod in version \"v1\" {WANT}")),
        "{err}"
    );
    assert!(err.starts_with("Error from server (BadRequest)"), "{err}");
    assert!(c.kubectl(&["get", "pod", "lots"]).status.code() != Some(0));

    let out = create(
        &c,
        "limits.yaml",
        "apiVersion: v1\nkind: LimitRange\nmetadata:\n  name: lr\nspec:\n  limits:\n  - type: Container\n    default:\n      memory: 1kk\n",
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("LimitRange in version \"v1\" cannot be handled as a LimitRange: unable to parse quantity's suffix"),
        "{err}"
    );

    // On a patch too (read before it is validated): the pod keeps its
    // good quantity.
    let out = create(
        &c,
        "good.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: good\nspec:\n  containers:\n  - name: c\n    image: nginx\n    resources:\n      limits:\n        memory: 64Mi\n",
    );
    assert!(out.status.success(), "{out:?}");
    let err = c.fails(&[
        "patch",
        "pod",
        "good",
        "--type=json",
        "-p",
        r#"[{"op":"replace","path":"/spec/containers/0/resources/limits/memory","value":"much"}]"#,
    ]);
    assert!(
        err.contains(&format!("Pod in version \"v1\" {WANT}")),
        "{err}"
    );
    assert_eq!(
        c.ok(&[
            "get",
            "pod",
            "good",
            "-o",
            "jsonpath={.spec.containers[0].resources.limits.memory}"
        ]),
        "64Mi"
    );
}
