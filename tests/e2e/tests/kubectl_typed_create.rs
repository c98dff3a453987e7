//! kubectl's typed commands (`create configmap`, `create secret`, `create
//! deployment`, …) send their bodies as Kubernetes protobuf, as client-go's
//! typed clients do since 1.32. rkube decodes them; each object is checked
//! as stored.

use rkube_e2e::Cluster;

fn get(c: &Cluster, what: &[&str], path: &str) -> String {
    let mut args = vec!["get"];
    args.extend_from_slice(what);
    let jp = format!("jsonpath={path}");
    args.extend_from_slice(&["-o", &jp]);
    c.ok(&args)
}

#[test]
fn typed_creates_go_through_protobuf() {
    let c = Cluster::up();
    let file = c.file("motd.txt", "hello\nworld\n");
    let file = file.to_str().expect("utf-8 path");

    let out = c.ok(&[
        "create",
        "configmap",
        "settings",
        "--from-literal=mode=fast",
        &format!("--from-file={file}"),
    ]);
    assert_eq!(out.trim(), "configmap/settings created");
    assert_eq!(
        get(&c, &["configmap", "settings"], "{.data}"),
        r#"{"mode":"fast","motd.txt":"hello\nworld\n"}"#
    );
    let err = c.fails(&["create", "configmap", "settings", "--from-literal=a=b"]);
    assert!(
        err.contains(r#"configmaps "settings" already exists"#),
        "{err}"
    );

    c.ok(&[
        "create",
        "secret",
        "generic",
        "creds",
        "--from-literal=password=hunter2",
        &format!("--from-file=banner={file}"),
    ]);
    assert_eq!(
        get(
            &c,
            &["secret", "creds"],
            "{.type} {.data.password} {.data.banner}"
        ),
        "Opaque aHVudGVyMg== aGVsbG8Kd29ybGQK"
    );

    c.ok(&["create", "namespace", "team-a"]);
    assert_eq!(
        get(&c, &["namespace", "team-a"], "{.status.phase}"),
        "Active"
    );

    c.ok(&[
        "create",
        "deployment",
        "web",
        "--image=nginx:1.27",
        "--replicas=3",
        "--port=8080",
    ]);
    assert_eq!(
        get(
            &c,
            &["deployment", "web"],
            "{.spec.replicas} {.spec.selector.matchLabels.app} {.spec.template.spec.containers[0].image} {.spec.template.spec.containers[0].ports[0].containerPort}"
        ),
        "3 web nginx:1.27 8080"
    );
    // A zero that was asked for is kept.
    c.ok(&[
        "create",
        "deployment",
        "idle",
        "--image=nginx",
        "--replicas=0",
    ]);
    assert_eq!(get(&c, &["deployment", "idle"], "{.spec.replicas}"), "0");

    c.ok(&["create", "service", "clusterip", "web", "--tcp=80:8080"]);
    assert_eq!(
        get(
            &c,
            &["service", "web"],
            "{.spec.type} {.spec.ports[0].port} {.spec.ports[0].targetPort} {.spec.ports[0].nodePort}"
        ),
        "ClusterIP 80 8080 ",
        "no node port on a ClusterIP service"
    );
    let ip = get(&c, &["service", "web"], "{.spec.clusterIP}");
    assert!(ip.starts_with("10."), "allocated cluster IP {ip}");

    c.ok(&[
        "create",
        "job",
        "once",
        "--image=busybox",
        "--",
        "echo",
        "hi",
    ]);
    assert_eq!(
        get(
            &c,
            &["job", "once"],
            "{.spec.template.spec.containers[0].command}"
        ),
        r#"["echo","hi"]"#
    );
    c.ok(&[
        "create",
        "cronjob",
        "nightly",
        "--image=busybox",
        "--schedule=0 3 * * *",
    ]);
    assert_eq!(
        get(&c, &["cronjob", "nightly"], "{.spec.schedule}"),
        "0 3 * * *"
    );

    c.ok(&["create", "serviceaccount", "robot"]);
    c.ok(&[
        "create",
        "priorityclass",
        "high",
        "--value=1000",
        "--description=important",
    ]);
    assert_eq!(
        get(&c, &["priorityclass", "high"], "{.value} {.description}"),
        "1000 important"
    );
    c.ok(&[
        "create",
        "poddisruptionbudget",
        "web",
        "--selector=app=web",
        "--min-available=50%",
    ]);
    assert_eq!(get(&c, &["pdb", "web"], "{.spec.minAvailable}"), "50%");
    c.ok(&[
        "create",
        "role",
        "reader",
        "--verb=get,list",
        "--resource=pods",
    ]);
    assert_eq!(
        get(&c, &["role", "reader"], "{.rules[0].verbs}"),
        r#"["get","list"]"#
    );
    c.ok(&[
        "create",
        "rolebinding",
        "reader",
        "--role=reader",
        "--user=bob",
    ]);
    assert_eq!(
        get(
            &c,
            &["rolebinding", "reader"],
            "{.roleRef.name} {.subjects[0].name}"
        ),
        "reader bob"
    );
    c.ok(&["create", "quota", "small", "--hard=pods=3,requests.cpu=1"]);
    assert_eq!(
        get(
            &c,
            &["resourcequota", "small"],
            "{.spec.hard.pods} {.spec.hard.requests\\.cpu}"
        ),
        "3 1"
    );
}

/// client-go writes every non-pointer field on the wire, zero or not; what
/// is stored must be what Go's JSON makes of the object: zero `omitempty`
/// fields left out, a pointer set to zero kept, initialisms spelled as the
/// Go JSON tags spell them.
#[test]
fn typed_creates_store_what_go_json_would() {
    let c = Cluster::up();
    c.ok(&[
        "create",
        "deployment",
        "idle",
        "--image=nginx",
        "--replicas=0",
    ]);
    assert_eq!(
        get(&c, &["deployment", "idle"], "{.spec.replicas}"),
        "0",
        "a *int32 set to 0 stays 0 (absent would default to 1)"
    );
    let stored: serde_json::Value =
        serde_json::from_str(&c.ok(&["get", "deployment", "idle", "-o", "json"]))
            .expect("kubectl prints JSON");
    let meta = &stored["metadata"];
    for absent in ["generateName", "selfLink", "deletionGracePeriodSeconds"] {
        assert!(meta.get(absent).is_none(), "metadata.{absent}: {meta}");
    }
    let container = &stored["spec"]["template"]["spec"]["containers"][0];
    for absent in ["stdin", "stdinOnce", "tty", "workingDir"] {
        assert!(
            container.get(absent).is_none(),
            "container.{absent} (zero, omitempty): {container}"
        );
    }
    let pod = &stored["spec"]["template"]["spec"];
    for absent in ["hostNetwork", "hostPID", "nodeName", "hostname"] {
        assert!(pod.get(absent).is_none(), "pod spec {absent}: {pod}");
    }

    c.ok(&[
        "create",
        "clusterrole",
        "healthz-reader",
        "--verb=get",
        "--non-resource-url=/healthz,/readyz",
    ]);
    assert_eq!(
        get(
            &c,
            &["clusterrole", "healthz-reader"],
            "{.rules[0].nonResourceURLs}"
        ),
        r#"["/healthz","/readyz"]"#
    );
}
