//! The HorizontalPodAutoscaler on real CPU, with kubectl 1.37 on
//! `rkube up --real-node`: a Deployment whose pods burn a whole core
//! against a request of 100m is scaled up by an HPA targeting 50 % CPU,
//! stays scaled up while they burn (it must not scale down on pods whose
//! first reading is not in yet), and comes back down once they stop.

use std::time::{Duration, Instant};

use rkube_e2e::image::BUSYBOX;
use rkube_e2e::real_node::RealCluster;

fn deployment() -> String {
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: burn
spec:
  replicas: 1
  selector:
    matchLabels: {{app: burn}}
  template:
    metadata:
      labels: {{app: burn}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: main
        image: {BUSYBOX}
        command: ["sh", "-c", "timeout 60 sh -c 'while :; do :; done'; sleep 100000"]
        resources:
          requests:
            cpu: 100m
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: burn
spec:
  scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: burn}}
  minReplicas: 1
  maxReplicas: 3
  metrics:
  - type: Resource
    resource:
      name: cpu
      target: {{type: Utilization, averageUtilization: 50}}
  behavior:
    scaleDown:
      stabilizationWindowSeconds: 0
      policies: [{{type: Percent, value: 100, periodSeconds: 1}}]
    scaleUp:
      stabilizationWindowSeconds: 0
"#
    )
}

/// What the HPA saw: its description (events) and the pods' metrics.
fn evidence(c: &RealCluster) -> String {
    let describe = c.cluster.kubectl(&["describe", "hpa", "burn"]);
    let metrics = c.cluster.kubectl(&[
        "get",
        "--raw",
        "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods",
    ]);
    format!(
        "{}\nPodMetrics: {}",
        String::from_utf8_lossy(&describe.stdout),
        String::from_utf8_lossy(&metrics.stdout)
    )
}

fn hpa_field(c: &RealCluster, path: &str) -> String {
    let out = c
        .cluster
        .kubectl(&["get", "hpa", "burn", "-o", &format!("jsonpath={path}")]);
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn hpa_scales_a_deployment_on_real_cpu_and_holds_while_it_burns() {
    let c = RealCluster::up_with(&["--horizontal-pod-autoscaler-sync-period", "2s"]);
    c.apply("burn", &deployment());

    // Up: one pod burning a core is ten times its request.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if hpa_field(&c, "{.status.desiredReplicas}") == "3" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the HPA never asked for 3 replicas; status: {}\nserver log:\n{}",
            hpa_field(&c, "{.status}"),
            c.cluster.log()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    c.wait_for(
        &["deployment", "burn"],
        "{.status.readyReplicas}",
        "3",
        Duration::from_secs(60),
    );

    // Held: while they burn (each for 60 s), the HPA never asks for fewer,
    // and it reports the utilization it acts on.
    let hold_until = Instant::now() + Duration::from_secs(15);
    let mut seen_utilization = false;
    while Instant::now() < hold_until {
        let desired = hpa_field(&c, "{.status.desiredReplicas}");
        assert_eq!(
            desired,
            "3",
            "the HPA scaled down while every pod burns a core; status: {}\n{}",
            hpa_field(&c, "{.status}"),
            evidence(&c)
        );
        let util = hpa_field(
            &c,
            "{.status.currentMetrics[0].resource.current.averageUtilization}",
        );
        if util.parse::<u32>().is_ok_and(|u| u > 100) {
            seen_utilization = true;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(
        seen_utilization,
        "the HPA never reported the pods' real utilization (well over 100 %); status: {}",
        hpa_field(&c, "{.status}")
    );
    let shown = c.cluster.ok(&["get", "hpa", "burn"]);
    assert!(shown.contains("/50%"), "kubectl get hpa: {shown}");

    // Down: once the loops end, usage falls to nothing and the HPA goes
    // back to its minimum.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if hpa_field(&c, "{.status.desiredReplicas}") == "1" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the HPA never scaled back down after the pods went idle; status: {}",
            hpa_field(&c, "{.status}")
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}
