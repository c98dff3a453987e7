//! Services get cluster IPs and node ports from kube-apiserver's default
//! ranges, never twice, and give them back when deleted — through kubectl.
//! A Service over a Deployment's pods gets Endpoints and EndpointSlices
//! that follow the pods; PodDisruptionBudgets report how many pods may go;
//! ResourceQuota usage goes down again when objects are deleted.

use std::time::Duration;

use rkube_e2e::Cluster;
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(30);

fn json(s: &str) -> Value {
    serde_json::from_str(s).expect("kubectl printed JSON")
}

fn sorted_words(s: &str) -> Vec<String> {
    let mut v: Vec<String> = s.split_whitespace().map(str::to_string).collect();
    v.sort();
    v
}

fn service(name: &str, extra_spec: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n  selector: {{app: {name}}}\n  ports:\n  - port: 80\n{extra_spec}"
    )
}

#[test]
fn cluster_ips_and_node_ports_are_allocated_once_and_released() {
    let c = Cluster::up();
    let create = |name: &str, spec: &str| {
        let f = c.file(&format!("{name}.yaml"), &service(name, spec));
        c.kubectl(&["create", "-f", f.to_str().expect("path")])
    };
    let ip_of = |name: &str| c.ok(&["get", "svc", name, "-o", "jsonpath={.spec.clusterIP}"]);

    assert!(create("a", "").status.success());
    assert!(create("b", "  type: NodePort\n").status.success());
    let (a, b) = (ip_of("a"), ip_of("b"));
    for ip in [&a, &b] {
        let octets: Vec<u8> = ip.split('.').map(|o| o.parse().expect("octet")).collect();
        assert!(
            octets[0] == 10 && (96..112).contains(&octets[1]),
            "{ip} not in 10.96.0.0/12"
        );
    }
    assert_ne!(a, b);
    let node_port: u16 = c
        .ok(&[
            "get",
            "svc",
            "b",
            "-o",
            "jsonpath={.spec.ports[0].nodePort}",
        ])
        .parse()
        .expect("port");
    assert!((30000..=32767).contains(&node_port), "{node_port}");

    // Asking for a taken IP is Invalid, naming the field.
    let out = create("c", &format!("  clusterIP: {a}\n"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains(&format!(r#"Service "c" is invalid: spec.clusterIPs: Invalid value: []string{{"{a}"}}: failed to allocate IP {a}: provided IP is already allocated"#)),
        "{err}"
    );
    // Out of range too.
    let out = create("d", "  clusterIP: 192.168.0.10\n");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is not in the valid range"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Deleting the Service releases its IP: the same IP can be asked for again.
    c.ok(&["delete", "svc", "a"]);
    assert!(
        create("c", &format!("  clusterIP: {a}\n")).status.success(),
        "{}",
        c.log()
    );
    assert_eq!(ip_of("c"), a);

    // Headless Services have no IP.
    assert!(create("h", "  clusterIP: None\n").status.success());
    assert_eq!(ip_of("h"), "None");
}

#[test]
fn the_service_range_is_the_one_given_on_the_command_line() {
    let c = Cluster::up_with(&["--service-cluster-ip-range", "10.201.7.0/24"]);
    let f = c.file("s.yaml", &service("s", ""));
    c.ok(&["create", "-f", f.to_str().expect("path")]);
    let ip = c.ok(&["get", "svc", "s", "-o", "jsonpath={.spec.clusterIP}"]);
    assert!(ip.starts_with("10.201.7.") && ip != "10.201.7.1", "{ip}");
    c.wait_until(
        "the kubernetes Service exists",
        Duration::from_secs(20),
        || {
            c.kubectl(&[
                "get",
                "svc",
                "kubernetes",
                "-o",
                "jsonpath={.spec.clusterIP}",
            ])
            .stdout
                == b"10.201.7.1"
        },
    );
    let f = c.file(
        "outside.yaml",
        &service("outside", "  clusterIP: 10.96.0.20\n"),
    );
    let err = c.fails(&["create", "-f", f.to_str().expect("path")]);
    assert!(
        err.contains("The range of valid IPs is 10.201.7.0/24"),
        "{err}"
    );
    let bad = std::process::Command::new(rkube_e2e::rkube_bin())
        .args(["up", "--service-cluster-ip-range", "10.201.7.1/24"])
        .output()
        .expect("run rkube up");
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("did you mean 10.201.7.0/24"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}

#[test]
fn endpoints_and_endpoint_slices_follow_the_pods_of_a_service() {
    let c = Cluster::up_with(&["--sim-nodes", "3"]);
    c.ok(&[
        "create",
        "deployment",
        "web",
        "--image=nginx",
        "--replicas=3",
    ]);
    c.ok(&[
        "expose",
        "deployment",
        "web",
        "--port=80",
        "--target-port=8080",
    ]);
    let pod_ips = || {
        sorted_words(&c.ok(&[
            "get",
            "pods",
            "-l",
            "app=web",
            "--field-selector=status.phase=Running",
            "-o",
            "jsonpath={.items[*].status.podIP}",
        ]))
    };
    let endpoint_ips = || {
        sorted_words(&c.ok(&[
            "get",
            "endpoints",
            "web",
            "-o",
            "jsonpath={.subsets[*].addresses[*].ip}",
        ]))
    };
    c.wait_until("3 ready addresses in the Endpoints", WAIT, || {
        c.kubectl(&["get", "endpoints", "web"]).status.success() && endpoint_ips().len() == 3
    });
    let ips = pod_ips();
    assert_eq!(endpoint_ips(), ips);
    let ep = json(&c.ok(&["get", "endpoints", "web", "-o", "json"]));
    assert_eq!(ep["subsets"].as_array().map(Vec::len), Some(1), "{ep}");
    assert_eq!(ep["subsets"][0]["ports"][0]["port"], 8080);
    assert_eq!(ep["subsets"][0]["ports"][0]["protocol"], "TCP");
    assert_eq!(ep["subsets"][0]["notReadyAddresses"], Value::Null);
    let addr = &ep["subsets"][0]["addresses"][0];
    assert_eq!(addr["targetRef"]["kind"], "Pod");
    assert!(
        addr["targetRef"]["name"]
            .as_str()
            .is_some_and(|n| n.starts_with("web-")),
        "{addr}"
    );
    assert!(
        addr["nodeName"].as_str().is_some_and(|n| !n.is_empty()),
        "{addr}"
    );
    assert_eq!(ep["metadata"]["labels"]["app"], "web");
    assert_eq!(
        ep["metadata"]["labels"]["endpoints.kubernetes.io/managed-by"],
        "endpoint-controller"
    );
    assert!(
        ep["metadata"]["annotations"]["endpoints.kubernetes.io/last-change-trigger-time"]
            .is_string(),
        "{ep}"
    );
    // The table shows ip:port.
    let table = c.ok(&["get", "endpoints", "web"]);
    assert!(table.contains(&format!("{}:8080", ips[0])), "{table}");

    // One slice with the 3 pods, ready, on port 8080.
    let slices = || {
        json(&c.ok(&[
            "get",
            "endpointslices",
            "-l",
            "kubernetes.io/service-name=web",
            "-o",
            "json",
        ]))["items"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    let ready_ips = |s: &Value| -> Vec<String> {
        let mut v: Vec<String> = s["endpoints"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["conditions"]["ready"] == true)
            .filter_map(|e| e["addresses"][0].as_str().map(str::to_string))
            .collect();
        v.sort();
        v
    };
    c.wait_until("a slice with 3 ready endpoints", WAIT, || {
        let s = slices();
        s.len() == 1 && ready_ips(&s[0]).len() == 3
    });
    let slice = slices().remove(0);
    assert_eq!(ready_ips(&slice), ips);
    let name = slice["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        name.starts_with("web-") && name.len() == "web-".len() + 5,
        "{name}"
    );
    assert_eq!(slice["addressType"], "IPv4");
    assert_eq!(slice["ports"][0]["port"], 8080);
    assert_eq!(slice["ports"][0]["protocol"], "TCP");
    assert_eq!(
        slice["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"],
        "endpointslice-controller.k8s.io"
    );
    let owner = &slice["metadata"]["ownerReferences"][0];
    assert_eq!(
        (owner["kind"].as_str(), owner["name"].as_str()),
        (Some("Service"), Some("web"))
    );
    assert_eq!(owner["controller"], true);
    let e = &slice["endpoints"][0];
    assert_eq!(e["conditions"]["serving"], true);
    assert_eq!(e["conditions"]["terminating"], false);
    assert_eq!(e["targetRef"]["kind"], "Pod");
    assert!(e["nodeName"].as_str().is_some_and(|n| !n.is_empty()), "{e}");
    let table = c.ok(&[
        "get",
        "endpointslices",
        "-l",
        "kubernetes.io/service-name=web",
    ]);
    assert!(table.contains("IPv4") && table.contains("8080"), "{table}");

    // Scaled to 1: both shrink; the slice is updated, not replaced.
    c.ok(&["scale", "deployment", "web", "--replicas=1"]);
    c.wait_until("one address left in Endpoints and the slice", WAIT, || {
        let s = slices();
        endpoint_ips().len() == 1
            && s.len() == 1
            && s[0]["endpoints"].as_array().map(Vec::len) == Some(1)
    });
    assert_eq!(slices()[0]["metadata"]["name"], name.as_str());
    c.wait_until("one pod left", WAIT, || pod_ips().len() == 1);
    assert_eq!(endpoint_ips(), pod_ips());

    // A Service without a selector is left alone.
    let f = c.file(
        "manual.yaml",
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: manual\nspec:\n  ports:\n  - port: 80\n",
    );
    c.ok(&["create", "-f", f.to_str().expect("path")]);
    // Deleting the Service deletes its Endpoints and slices.
    c.ok(&["delete", "svc", "web"]);
    c.wait_until("the Endpoints and slices are gone", WAIT, || {
        !c.kubectl(&["get", "endpoints", "web"]).status.success() && slices().is_empty()
    });
    let err = c.fails(&["get", "endpoints", "manual"]);
    assert!(
        err.contains("NotFound") || err.contains("not found"),
        "{err}"
    );
}

#[test]
fn disruption_budgets_count_healthy_pods() {
    let c = Cluster::up_with(&["--sim-nodes", "3"]);
    c.ok(&[
        "create",
        "deployment",
        "web",
        "--image=nginx",
        "--replicas=3",
    ]);
    c.ok(&[
        "create",
        "pdb",
        "web",
        "--selector=app=web",
        "--min-available=2",
    ]);
    c.ok(&[
        "create",
        "pdb",
        "half",
        "--selector=app=web",
        "--max-unavailable=50%",
    ]);
    let status = |name: &str| json(&c.ok(&["get", "pdb", name, "-o", "json"]))["status"].clone();
    c.wait_until("3 healthy pods in both budgets", WAIT, || {
        status("web")["currentHealthy"] == 3 && status("half")["currentHealthy"] == 3
    });
    let s = status("web");
    assert_eq!(
        (
            &s["expectedPods"],
            &s["desiredHealthy"],
            &s["disruptionsAllowed"]
        ),
        (&Value::from(3), &Value::from(2), &Value::from(1)),
        "{s}"
    );
    assert_eq!(s["observedGeneration"], 1);
    let cond = &s["conditions"][0];
    assert_eq!(
        (
            cond["type"].as_str(),
            cond["status"].as_str(),
            cond["reason"].as_str()
        ),
        (
            Some("DisruptionAllowed"),
            Some("True"),
            Some("SufficientPods")
        )
    );
    // 50% of the Deployment's 3 replicas, rounded up, may be unavailable.
    let s = status("half");
    assert_eq!(
        (&s["desiredHealthy"], &s["disruptionsAllowed"]),
        (&Value::from(1), &Value::from(2)),
        "{s}"
    );
    let table = c.ok(&["get", "pdb", "web"]);
    let row: Vec<&str> = table
        .lines()
        .nth(1)
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    // NAME MIN AVAILABLE MAX UNAVAILABLE ALLOWED DISRUPTIONS AGE
    assert_eq!(&row[..4], ["web", "2", "N/A", "1"], "{table}");

    // Down to 2 pods: none may go; the budget that scales goes down too.
    c.ok(&["scale", "deployment", "web", "--replicas=2"]);
    c.wait_until("no disruption allowed", WAIT, || {
        let s = status("web");
        s["currentHealthy"] == 2 && s["disruptionsAllowed"] == 0
    });
    let cond = &status("web")["conditions"][0];
    assert_eq!(
        (cond["status"].as_str(), cond["reason"].as_str()),
        (Some("False"), Some("InsufficientPods"))
    );
    c.wait_until("the percentage follows the scale", WAIT, || {
        let s = status("half");
        s["expectedPods"] == 2 && s["desiredHealthy"] == 1 && s["disruptionsAllowed"] == 1
    });
}

#[test]
fn evictions_take_disruptions_from_the_budget() {
    let c = Cluster::up_with(&["--sim-nodes", "3"]);
    for p in ["p1", "p2", "p3"] {
        c.ok(&["run", p, "--image=nginx", "-l", "app=bare"]);
    }
    c.ok(&[
        "create",
        "pdb",
        "bare",
        "--selector=app=bare",
        "--min-available=2",
    ]);
    let status = || json(&c.ok(&["get", "pdb", "bare", "-o", "json"]))["status"].clone();
    c.wait_until("one disruption allowed", WAIT, || {
        status()["disruptionsAllowed"] == 1
    });
    let body = c.file(
        "eviction.json",
        r#"{"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "x"}}"#,
    );
    let evict = |pod: &str| {
        c.kubectl(&[
            "create",
            "--raw",
            &format!("/api/v1/namespaces/default/pods/{pod}/eviction"),
            "-f",
            body.to_str().expect("path"),
        ])
    };
    // Two evictions at once: the budget allows one, so exactly one goes
    // through, whichever reads the budget first.
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| evict("p1"));
        let b = s.spawn(|| evict("p2"));
        (a.join().expect("evict p1"), b.join().expect("evict p2"))
    });
    assert_ne!(
        a.status.success(),
        b.status.success(),
        "exactly one eviction succeeds"
    );
    let (gone, kept, refused) = if a.status.success() {
        ("p1", "p2", b)
    } else {
        ("p2", "p1", a)
    };
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("Cannot evict pod as it would violate the pod's disruption budget."),
        "{err}"
    );
    // Nothing replaces the evicted pod: a later eviction is refused too.
    let again = evict("p3");
    assert!(!again.status.success());
    c.wait_until(
        "the evicted pod is gone and the budget recounted",
        WAIT,
        || {
            let s = status();
            s["expectedPods"] == 2 && s["currentHealthy"] == 2 && s["disruptedPods"].is_null()
        },
    );
    assert_eq!(status()["disruptionsAllowed"], 0);
    assert!(!c.kubectl(&["get", "pod", gone]).status.success());
    assert!(c.kubectl(&["get", "pod", kept]).status.success());
}

#[test]
fn quota_usage_is_given_back_when_objects_go() {
    let c = Cluster::up_with(&["--sim-nodes", "3"]);
    c.ok(&["create", "namespace", "q"]);
    c.ok(&[
        "create",
        "quota",
        "small",
        "-n",
        "q",
        "--hard=pods=2,services=1",
    ]);
    let used = |res: &str| {
        c.ok(&[
            "get",
            "quota",
            "small",
            "-n",
            "q",
            "-o",
            &format!("jsonpath={{.status.used.{res}}}"),
        ])
    };
    c.wait_until("the quota's status lists its resources", WAIT, || {
        used("pods") == "0"
    });
    assert_eq!(used("services"), "0");
    c.ok(&["run", "a", "--image=nginx", "-n", "q"]);
    c.ok(&["run", "b", "--image=nginx", "-n", "q"]);
    let err = c.fails(&["run", "c", "--image=nginx", "-n", "q"]);
    assert!(
        err.contains(r#"pods "c" is forbidden: exceeded quota: small, requested: pods=1, used: pods=2, limited: pods=2"#),
        "{err}"
    );
    c.ok(&[
        "create",
        "service",
        "clusterip",
        "s",
        "--tcp=80:80",
        "-n",
        "q",
    ]);
    assert_eq!(used("services"), "1");

    c.ok(&["delete", "pod", "a", "-n", "q", "--wait=true"]);
    c.ok(&["delete", "service", "s", "-n", "q"]);
    c.wait_until("the quota gives back a pod and the service", WAIT, || {
        used("pods") == "1" && used("services") == "0"
    });
    c.ok(&["run", "c", "--image=nginx", "-n", "q"]);
    let describe = c.ok(&["describe", "quota", "small", "-n", "q"]);
    let row = |res: &str| -> Vec<String> {
        describe
            .lines()
            .find(|l| l.split_whitespace().next() == Some(res))
            .map(|l| l.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default()
    };
    assert_eq!(row("pods"), ["pods", "2", "2"], "{describe}");
    assert_eq!(row("services"), ["services", "0", "1"], "{describe}");
}
