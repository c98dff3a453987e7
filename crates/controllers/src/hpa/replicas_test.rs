//! kube's replica calculator cases (`replica_calculator_test.go`), in its
//! units: requests of one core, usage in millicores.

use super::*;

fn now() -> Timestamp {
    "2026-12-07T12:00:00Z".parse().expect("time")
}

fn ago(secs: i64) -> Timestamp {
    now() - SignedDuration::from_secs(secs)
}

/// A running pod, ready for long, started ten minutes ago.
fn pod(name: &str) -> PodInfo {
    PodInfo {
        name: name.into(),
        phase: "Running".into(),
        deleting: false,
        ready: Some((true, ago(590))),
        start_time: Some(ago(600)),
        request: Ok(1000),
    }
}

fn pods(n: usize) -> Vec<PodInfo> {
    (0..n).map(|i| pod(&format!("p{i}"))).collect()
}

fn samples(levels: &[(usize, i64)]) -> Samples {
    levels
        .iter()
        .map(|(i, v)| {
            (
                format!("p{i}"),
                Sample {
                    value: *v,
                    timestamp: ago(10),
                    window: SignedDuration::from_secs(30),
                },
            )
        })
        .collect()
}

fn calc(current: i32, target: i32, pods: &[PodInfo], s: Samples) -> Result<Utilization, CalcError> {
    resource_replicas(
        current,
        target,
        "cpu",
        pods,
        s,
        Tolerances::default(),
        now(),
    )
}

#[test]
fn scale_up() {
    let got = calc(3, 30, &pods(3), samples(&[(0, 300), (1, 500), (2, 700)])).expect("ok");
    assert_eq!(
        got,
        Utilization {
            replicas: 5,
            utilization: 50,
            raw_average: 500
        }
    );
}

#[test]
fn scale_down() {
    let s = samples(&[(0, 100), (1, 300), (2, 500), (3, 250), (4, 250)]);
    let got = calc(5, 50, &pods(5), s).expect("ok");
    assert_eq!((got.replicas, got.utilization), (3, 28));
}

#[test]
fn within_tolerance_nothing_changes() {
    let mut p = pods(3);
    p[0].request = Ok(900);
    p[2].request = Ok(1100);
    let got = calc(3, 100, &p, samples(&[(0, 1010), (1, 1030), (2, 1020)])).expect("ok");
    assert_eq!((got.replicas, got.utilization), (3, 102));
}

#[test]
fn unready_pods_count_as_idle_when_scaling_up() {
    let mut p = pods(3);
    // Not ready since it started (a pod that turned unready later, past
    // its initialization period, still counts).
    p[0].ready = Some((false, ago(595)));
    // Without p0: (500+700)/2000 = 60 % → ratio 2; with p0 at 0: 40 % → 4.
    let got = calc(3, 30, &p, samples(&[(0, 300), (1, 500), (2, 700)])).expect("ok");
    assert_eq!((got.replicas, got.utilization), (4, 60));
}

#[test]
fn a_pod_that_turned_unready_after_its_initialization_still_counts() {
    let mut p = pods(2);
    p[1].ready = Some((false, ago(100)));
    let got = calc(2, 50, &p, samples(&[(0, 1000), (1, 1000)])).expect("ok");
    assert_eq!((got.replicas, got.utilization), (4, 100));
}

#[test]
fn missing_pods_use_their_whole_request_when_scaling_down() {
    // Ready pods at 10 % of a 100 % target; the two without metrics
    // count as 100 %: 55 % → ceil(0.55 × 4) = 3.
    let got = calc(4, 100, &pods(4), samples(&[(0, 100), (1, 100)])).expect("ok");
    assert_eq!(got.replicas, 3);
    // At a 50 % target the same fill flips the direction: no change.
    let got = calc(4, 50, &pods(4), samples(&[(0, 100), (1, 100)])).expect("ok");
    assert_eq!(got.replicas, 4);
}

#[test]
fn missing_pods_use_nothing_when_scaling_up() {
    // 100 % of a 30 % target; with the missing pods at 0: 50 % → 7.
    let got = calc(4, 30, &pods(4), samples(&[(0, 1000), (1, 1000)])).expect("ok");
    assert_eq!(got.replicas, 7);
}

#[test]
fn pending_failed_and_deleting_pods_are_ignored() {
    let mut p = pods(4);
    p[1].phase = "Pending".into();
    p[2].phase = "Failed".into();
    p[3].deleting = true;
    let got = calc(
        4,
        50,
        &p,
        samples(&[(0, 500), (1, 900), (2, 900), (3, 900)]),
    )
    .expect("ok");
    assert_eq!((got.replicas, got.utilization), (4, 50));
}

#[test]
fn a_sample_from_before_readiness_in_the_initialization_period_is_not_used() {
    let mut p = pods(2);
    // Started a minute ago, ready 5 s ago; the sample (10 s old, 30 s
    // window) covers start-up.
    p[1].start_time = Some(ago(60));
    p[1].ready = Some((true, ago(5)));
    let got = calc(2, 50, &p, samples(&[(0, 500), (1, 2000)])).expect("ok");
    assert_eq!((got.replicas, got.utilization), (2, 50));
}

#[test]
fn errors_are_kubes() {
    assert_eq!(
        calc(1, 50, &[], Samples::new())
            .expect_err("no pods")
            .to_string(),
        "no pods returned by selector while calculating replica count"
    );
    let mut p = pods(1);
    p[0].ready = Some((false, ago(595)));
    assert_eq!(
        calc(1, 50, &p, samples(&[(0, 100)]))
            .expect_err("unready")
            .to_string(),
        "did not receive metrics for targeted pods (pods might be unready)"
    );
    let mut p = pods(1);
    p[0].request = Err("web".into());
    assert_eq!(
        calc(1, 50, &p, samples(&[(0, 100)]))
            .expect_err("request")
            .to_string(),
        "missing request for cpu in container web of Pod p0"
    );
}

#[test]
fn average_value_targets() {
    // 64Mi target; pods at 128Mi and 64Mi average 96Mi → ratio 1.5 → 3.
    let mi = 1024 * 1024 * 1000;
    let p = pods(2);
    let (replicas, usage) = raw_resource_replicas(
        2,
        64 * mi,
        "memory",
        &p,
        samples(&[(0, 128 * mi), (1, 64 * mi)]),
        Tolerances::default(),
        now(),
    )
    .expect("ok");
    assert_eq!((replicas, usage), (3, 96 * mi));
}
