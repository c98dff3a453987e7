//! `kubectl get` prints the columns kube-apiserver's printers give each
//! kind, from the server-side Table: default and `-o wide`, several kinds
//! at once, `-A`, `--show-labels`, `--sort-by` (the full objects in the
//! rows) and `get -w` (one-row Tables per event).

use std::time::Duration;

use rkube_e2e::Cluster;

/// The whitespace-separated words of each line (kubectl pads columns).
fn words(out: &str) -> Vec<Vec<String>> {
    out.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect()
}

#[test]
fn columns_per_kind() {
    // The objects as created, with no controllers making pods for the
    // workloads or writing their status.
    let c = Cluster::up_with(&["--disable-controller-manager", "--disable-scheduler"]);
    c.ok(&[
        "create",
        "deployment",
        "web",
        "--image=nginx:1.27",
        "--replicas=2",
    ]);
    c.ok(&["run", "p1", "--image=nginx", "--labels=app=p,tier=x"]);
    c.ok(&["create", "service", "nodeport", "np", "--tcp=80:8080"]);
    c.ok(&[
        "create",
        "configmap",
        "c1",
        "--from-literal=a=b",
        "--from-literal=c=d",
    ]);
    c.ok(&["create", "secret", "generic", "s1", "--from-literal=a=b"]);
    c.ok(&["create", "job", "j1", "--image=busybox", "--", "true"]);
    c.ok(&["create", "role", "r1", "--verb=get", "--resource=pods"]);
    c.ok(&["create", "priorityclass", "high", "--value=1000"]);

    let pods = words(&c.ok(&["get", "pods"]));
    assert_eq!(pods[0], ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]);
    assert_eq!(pods[1][..4], ["p1", "0/1", "Pending", "0"]);
    let wide = words(&c.ok(&["get", "pods", "-o", "wide"]));
    assert_eq!(
        wide[0],
        [
            "NAME",
            "READY",
            "STATUS",
            "RESTARTS",
            "AGE",
            "IP",
            "NODE",
            "NOMINATED",
            "NODE",
            "READINESS",
            "GATES"
        ]
    );
    assert_eq!(wide[1][5..], ["<none>", "<none>", "<none>", "<none>"]);

    let deploy = words(&c.ok(&["get", "deployments", "-o", "wide"]));
    assert_eq!(
        deploy[0],
        [
            "NAME",
            "READY",
            "UP-TO-DATE",
            "AVAILABLE",
            "AGE",
            "CONTAINERS",
            "IMAGES",
            "SELECTOR"
        ]
    );
    assert_eq!(deploy[1][..4], ["web", "0/2", "0", "0"]);
    assert_eq!(deploy[1][5..], ["nginx", "nginx:1.27", "app=web"]);

    let svc = words(&c.ok(&["get", "svc", "np"]));
    assert_eq!(
        svc[0],
        [
            "NAME",
            "TYPE",
            "CLUSTER-IP",
            "EXTERNAL-IP",
            "PORT(S)",
            "AGE"
        ]
    );
    assert_eq!(svc[1][1], "NodePort");
    assert!(svc[1][2].starts_with("10."), "{:?}", svc[1]);
    assert_eq!(svc[1][3], "<none>");
    assert!(
        svc[1][4].starts_with("80:3") && svc[1][4].ends_with("/TCP"),
        "{:?}",
        svc[1]
    );

    let several = c.ok(&["get", "cm,secret,job,role,priorityclass", "-o", "wide"]);
    let several = words(&several);
    assert!(several.iter().any(|r| r[..] == ["NAME", "DATA", "AGE"]));
    assert!(several
        .iter()
        .any(|r| r.len() == 3 && r[0] == "configmap/c1" && r[1] == "2"));
    assert!(several
        .iter()
        .any(|r| r[..] == ["NAME", "TYPE", "DATA", "AGE"]));
    assert!(several
        .iter()
        .any(|r| r.len() >= 3 && r[0] == "secret/s1" && r[1] == "Opaque" && r[2] == "1"));
    assert!(several.iter().any(|r| r.starts_with(&[
        "NAME".into(),
        "STATUS".into(),
        "COMPLETIONS".into(),
        "DURATION".into(),
        "AGE".into()
    ])));
    assert!(several
        .iter()
        .any(|r| r.len() >= 3 && r[0] == "job.batch/j1" && r[1] == "Running" && r[2] == "0/1"));
    // Roles have no printer: the default NAME, CREATED AT.
    assert!(several.iter().any(|r| r[..] == ["NAME", "CREATED", "AT"]));
    assert!(several.iter().any(|r| r.len() == 2
        && r[0] == "role.rbac.authorization.k8s.io/r1"
        && r[1].ends_with('Z')));
    assert!(several.iter().any(|r| r.len() >= 3
        && r[0] == "priorityclass.scheduling.k8s.io/high"
        && r[1] == "1000"
        && r[2] == "false"));

    // -A and --show-labels read the metadata in each row.
    let all = words(&c.ok(&["get", "pods", "-A", "--show-labels"]));
    assert_eq!(
        all[0],
        [
            "NAMESPACE",
            "NAME",
            "READY",
            "STATUS",
            "RESTARTS",
            "AGE",
            "LABELS"
        ]
    );
    assert_eq!(all[1][0], "default");
    assert_eq!(all[1][6], "app=p,tier=x");
    // --sort-by needs the whole objects (includeObject=Object).
    c.ok(&["create", "configmap", "a0", "--from-literal=z=1"]);
    let sorted = words(&c.ok(&["get", "cm", "--sort-by=.metadata.name", "-o", "name"]));
    assert_eq!(sorted[0], ["configmap/a0"]);
    let sorted = words(&c.ok(&["get", "cm", "--sort-by=.metadata.name"]));
    assert_eq!(sorted[1][0], "a0");
    let ns = words(&c.ok(&["get", "namespaces"]));
    assert_eq!(ns[0], ["NAME", "STATUS", "AGE"]);
    assert!(ns.iter().any(|r| r[0] == "kube-system" && r[1] == "Active"));
}

#[test]
fn get_watch_prints_rows() {
    let c = Cluster::up();
    c.ok(&["create", "configmap", "first", "--from-literal=a=b"]);
    let out = c.dir.path().join("watch.txt");
    let mut w = c.spawn_kubectl(&["get", "configmaps", "-w"], &out);
    std::thread::sleep(Duration::from_millis(800));
    c.ok(&[
        "create",
        "configmap",
        "second",
        "--from-literal=a=b",
        "--from-literal=c=d",
    ]);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let text = loop {
        let text = std::fs::read_to_string(&out).unwrap_or_default();
        if text.contains("second") || std::time::Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let _ = w.kill();
    let _ = w.wait();
    let rows = words(&text);
    assert_eq!(rows[0], ["NAME", "DATA", "AGE"], "{text}");
    assert!(
        rows.iter()
            .any(|r| r.len() == 3 && r[0] == "first" && r[1] == "1"),
        "{text}"
    );
    assert!(
        rows.iter()
            .any(|r| r.len() == 3 && r[0] == "second" && r[1] == "2"),
        "{text}"
    );
}
