//! HorizontalPodAutoscalers through kubectl 1.37 against `rkube up
//! --sim-nodes 2`: `kubectl autoscale` creates one, `kubectl get hpa`
//! prints its REFERENCE, TARGETS, MINPODS and MAXPODS, the `autoscaling/v1`
//! view shows the same HPA with `targetCPUUtilizationPercentage`, and the
//! controller (synced every second here) brings the Deployment within
//! min..max through its scale subresource and reports the missing metrics
//! as kube-controller-manager does.
//!
//! Scaling on CPU usage needs the resource metrics API
//! (`metrics.k8s.io`), which is not in this branch: the controller's
//! metrics path is tested with a fake metrics source in
//! `crates/controllers/src/hpa/compute_test.rs`.

use std::time::Duration;

use rkube_e2e::Cluster;

const WAIT: Duration = Duration::from_secs(30);

const DEPLOYMENT: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: busybox
        resources:
          requests: {cpu: 100m}
"#;

/// An HPA whose target does not exist.
const GHOST: &str = r#"apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: ghost
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: nothing}
  maxReplicas: 2
"#;

fn cluster() -> Cluster {
    Cluster::up_with(&[
        "--sim-nodes",
        "2",
        "--horizontal-pod-autoscaler-sync-period",
        "1s",
    ])
}

#[test]
fn kubectl_autoscale_and_get_hpa() {
    let c = cluster();
    let f = c.file("deploy.yaml", DEPLOYMENT);
    c.ok(&["create", "-f", f.to_str().expect("path")]);
    let out = c.ok(&[
        "autoscale",
        "deployment",
        "web",
        "--cpu-percent=50",
        "--min=1",
        "--max=5",
    ]);
    assert_eq!(
        out.trim(),
        "horizontalpodautoscaler.autoscaling/web autoscaled",
        "{out}"
    );

    let table = c.ok(&["get", "hpa"]);
    let mut lines = table.lines();
    let header: Vec<&str> = lines.next().expect("header").split_whitespace().collect();
    assert_eq!(
        header,
        [
            "NAME",
            "REFERENCE",
            "TARGETS",
            "MINPODS",
            "MAXPODS",
            "REPLICAS",
            "AGE"
        ],
        "{table}"
    );
    let row = lines.next().expect("a row");
    assert!(row.starts_with("web "), "{table}");
    assert!(row.contains(" Deployment/web "), "{table}");
    assert!(row.contains(" cpu: <unknown>/50% "), "{table}");
    let cols: Vec<&str> = row.split_whitespace().collect();
    // NAME REFERENCE cpu: <unknown>/50% MINPODS MAXPODS REPLICAS AGE
    assert_eq!(&cols[4..6], ["1", "5"], "{table}");

    // The same object through autoscaling/v1 (kubectl expands a short
    // name to its group and drops the version: `hpa.v1.autoscaling` asks
    // for the preferred v2, so the full name it is).
    assert_eq!(
        c.ok(&[
            "get",
            "horizontalpodautoscalers.v1.autoscaling",
            "web",
            "-o",
            "jsonpath={.apiVersion} {.spec.targetCPUUtilizationPercentage} {.spec.minReplicas} {.spec.maxReplicas}",
        ]),
        "autoscaling/v1 50 1 5"
    );
    let v1_table = c.ok(&["get", "horizontalpodautoscalers.v1.autoscaling"]);
    assert!(
        v1_table.contains("Deployment/web") && v1_table.contains("cpu: <unknown>/50%"),
        "{v1_table}"
    );
    assert_eq!(
        c.ok(&[
            "get",
            "hpa.v2.autoscaling",
            "web",
            "-o",
            "jsonpath={.spec.metrics[0].resource.target.averageUtilization}",
        ]),
        "50"
    );

    // Pods on simulated nodes use half their CPU request (rkube.io/sim-usage
    // unset): the controller reads them from metrics.k8s.io and shows 50 %
    // against the 50 % target.
    c.wait_until("ScalingActive with a valid metric", WAIT, || {
        c.ok(&[
            "get",
            "hpa",
            "web",
            "-o",
            r#"jsonpath={.status.conditions[?(@.type=="ScalingActive")].reason}"#,
        ]) == "ValidMetricFound"
    });
    c.wait_until("TARGETS shows the usage", WAIT, || {
        c.ok(&["get", "hpa", "web", "--no-headers"])
            .contains("cpu: 50%/50%")
    });
    assert_eq!(
        c.ok(&[
            "get",
            "hpa",
            "web",
            "-o",
            r#"jsonpath={.status.currentReplicas} {.status.conditions[?(@.type=="AbleToScale")].reason}"#,
        ]),
        "1 ReadyForNewScale"
    );
}

#[test]
fn the_controller_keeps_the_target_within_min_and_max() {
    let c = cluster();
    let f = c.file("deploy.yaml", DEPLOYMENT);
    c.ok(&["create", "-f", f.to_str().expect("path")]);
    c.ok(&[
        "autoscale",
        "deployment",
        "web",
        "--cpu-percent=50",
        "--min=3",
        "--max=4",
    ]);
    c.wait_until("the deployment scaled to minReplicas", WAIT, || {
        c.ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"]) == "3"
    });
    let events = c.ok(&[
        "get",
        "events",
        "--field-selector",
        "reason=SuccessfulRescale",
        "-o",
        "jsonpath={.items[*].message}",
    ]);
    assert!(
        events.contains("New size: 3; reason: Current number of replicas below Spec.MinReplicas"),
        "{events}"
    );
    c.wait_until("lastScaleTime and desiredReplicas", WAIT, || {
        c.ok(&[
            "get",
            "hpa",
            "web",
            "-o",
            "jsonpath={.status.desiredReplicas}",
        ]) == "3"
            && !c
                .ok(&[
                    "get",
                    "hpa",
                    "web",
                    "-o",
                    "jsonpath={.status.lastScaleTime}",
                ])
                .is_empty()
    });

    // Above max: brought down to it.
    c.ok(&["scale", "deploy", "web", "--replicas=7"]);
    c.wait_until("the deployment scaled to maxReplicas", WAIT, || {
        c.ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"]) == "4"
    });

    // A target that does not exist: FailedGetScale.
    let ghost = c.file("ghost.yaml", GHOST);
    c.ok(&["create", "-f", ghost.to_str().expect("path")]);
    c.wait_until("AbleToScale False", WAIT, || {
        c.ok(&[
            "get",
            "hpa",
            "ghost",
            "-o",
            r#"jsonpath={.status.conditions[?(@.type=="AbleToScale")].reason}"#,
        ]) == "FailedGetScale"
    });
    let message = c.ok(&[
        "get",
        "hpa",
        "ghost",
        "-o",
        r#"jsonpath={.status.conditions[?(@.type=="AbleToScale")].message}"#,
    ]);
    assert!(
        message.starts_with("the HPA controller was unable to get the target's current scale:")
            && message.contains("not found"),
        "{message}"
    );
}
