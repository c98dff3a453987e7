//! Two `rkube controller-manager` processes against one API server (`rkube
//! up --disable-controller-manager`): exactly one leads through the
//! `kube-system/kube-controller-manager` Lease and acts; when it is killed
//! the other takes over within the lease duration, and no pod is created
//! twice.

use std::time::Duration;

use rkube_e2e::Cluster;

const RS: &str = "apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: c, image: nginx}]
";

fn holder(c: &Cluster) -> String {
    c.ok(&[
        "get",
        "lease",
        "-n",
        "kube-system",
        "kube-controller-manager",
        "-o",
        "jsonpath={.spec.holderIdentity}",
    ])
}

fn pods(c: &Cluster) -> usize {
    c.ok(&["get", "pods", "-l", "app=web", "-o", "name"])
        .lines()
        .count()
}

#[test]
fn one_controller_manager_leads_and_the_other_takes_over() {
    let c = Cluster::up_with(&["--disable-controller-manager", "--sim-nodes", "2"]);
    let mut first = c.spawn_component("cm-1", &["controller-manager"]);
    let mut second = c.spawn_component("cm-2", &["controller-manager"]);
    c.wait_until(
        "a controller manager leads",
        Duration::from_secs(20),
        || {
            c.kubectl(&[
                "get",
                "lease",
                "-n",
                "kube-system",
                "kube-controller-manager",
            ])
            .status
            .success()
        },
    );
    let leader = holder(&c);
    let (leading, standing) = if leader.contains(&format!("_{}_", first.pid())) {
        (&mut first, &mut second)
    } else {
        assert!(
            leader.contains(&format!("_{}_", second.pid())),
            "holder {leader:?} is neither process"
        );
        (&mut second, &mut first)
    };

    c.ok(&["apply", "-f", c.file("rs.yaml", RS).to_str().expect("path")]);
    c.wait_until("3 pods exist", Duration::from_secs(30), || pods(&c) == 3);
    assert!(
        !standing.log().contains("controllers started"),
        "the candidate that does not lead must not run controllers:\n{}",
        standing.log()
    );

    leading.kill();
    c.ok(&["scale", "rs", "web", "--replicas=6"]);
    c.wait_until(
        "the other takes over and scales to 6",
        Duration::from_secs(40),
        || pods(&c) == 6,
    );
    let new_leader = holder(&c);
    assert!(
        new_leader.contains(&format!("_{}_", standing.pid())),
        "the lease should be held by the survivor, is {new_leader:?}"
    );
    assert!(
        standing.log().contains("became leader"),
        "{}",
        standing.log()
    );
    // Settled: no duplicates appear afterwards.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(pods(&c), 6);
}
