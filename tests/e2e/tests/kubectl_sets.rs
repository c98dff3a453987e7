//! StatefulSets and DaemonSets through kubectl 1.37 against
//! `rkube up --sim-nodes 5`.
//!
//! A StatefulSet (OrderedReady) creates web-0, web-1, web-2 one at a time,
//! each after the previous is Ready, with stable names, labels, hostname,
//! subdomain and claims; `rollout status` completes; an image update with
//! partition=1 changes only ordinals ≥ 1; `rollout history` and `rollout
//! undo` work through ControllerRevisions; scaling to 1 removes web-2,
//! then web-1. A DaemonSet covers every untainted node, one pod each,
//! bound by `matchFields` node affinity; a tolerating one covers all
//! nodes; a new image rolls out; a node selector follows node labels.

use std::path::Path;
use std::time::Duration;

use rkube_e2e::Cluster;

const T: Duration = Duration::from_secs(60);

const WEB: &str = r#"apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  clusterIP: None
  selector: {app: web}
  ports: [{port: 80}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: web}
spec:
  serviceName: web
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: nginx, image: "nginx:1.0"}]
  volumeClaimTemplates:
  - metadata: {name: data}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 1Gi}}
"#;

/// One line per watch event: name, Ready status, deletionTimestamp.
const WATCH_FORMAT: &str = r#"jsonpath={.metadata.name} ready={.status.conditions[?(@.type=="Ready")].status} deleting={.metadata.deletionTimestamp}{"\n"}"#;

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

fn first(lines: &[String], f: impl Fn(&str) -> bool) -> Option<usize> {
    lines.iter().position(|l| f(l))
}

/// The pod's image ("" while it does not exist: being replaced).
fn image_of(c: &Cluster, pod: &str) -> String {
    let out = c.kubectl(&[
        "get",
        "pod",
        pod,
        "-o",
        "jsonpath={.spec.containers[0].image}",
    ]);
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[test]
fn statefulset_ordered_create_partitioned_update_undo_and_scale_down() {
    let c = Cluster::up_with(&["--sim-nodes", "5", "--sim-pod-start-delay", "300ms"]);
    let watch_file = c.dir.path().join("watch-create.txt");
    let mut watch = c.spawn_kubectl(
        &["get", "pods", "-l", "app=web", "-w", "-o", WATCH_FORMAT],
        &watch_file,
    );
    let f = c.file("web.yaml", WEB);
    c.ok(&["apply", "-f", f.to_str().unwrap_or_default()]);
    let out = c.ok(&["rollout", "status", "statefulset/web", "--timeout=60s"]);
    assert!(
        out.contains("partitioned roll out complete: 3 new pods have been updated"),
        "{out}"
    );

    // Created in order, each only after the previous one was Ready.
    c.wait_until("the watch saw web-2 ready", T, || {
        lines(&watch_file)
            .iter()
            .any(|l| l.starts_with("web-2 ready=True"))
    });
    let _ = watch.kill();
    let _ = watch.wait();
    let seen = lines(&watch_file);
    let appears = |p: &str| first(&seen, |l| l.starts_with(&format!("{p} "))).unwrap_or(usize::MAX);
    let ready =
        |p: &str| first(&seen, |l| l.starts_with(&format!("{p} ready=True"))).unwrap_or(usize::MAX);
    assert!(ready("web-0") < appears("web-1"), "{seen:#?}");
    assert!(ready("web-1") < appears("web-2"), "{seen:#?}");
    assert!(appears("web-0") < appears("web-1"), "{seen:#?}");

    // Identity: labels, hostname, subdomain, claims.
    let update_rev = c.ok(&[
        "get",
        "sts",
        "web",
        "-o",
        "jsonpath={.status.updateRevision}",
    ]);
    assert!(update_rev.starts_with("web-"), "{update_rev}");
    let got = c.ok(&[
        "get",
        "pod",
        "web-1",
        "-o",
        r#"jsonpath={.metadata.labels.statefulset\.kubernetes\.io/pod-name} {.metadata.labels.apps\.kubernetes\.io/pod-index} {.metadata.labels.controller-revision-hash} {.spec.hostname} {.spec.subdomain} {.spec.volumes[?(@.name=="data")].persistentVolumeClaim.claimName}"#,
    ]);
    assert_eq!(got, format!("web-1 1 {update_rev} web-1 web data-web-1"));
    let claims = c.ok(&["get", "pvc", "-o", "jsonpath={.items[*].metadata.name}"]);
    assert_eq!(claims, "data-web-0 data-web-1 data-web-2");
    let status = c.ok(&[
        "get",
        "sts",
        "web",
        "-o",
        "jsonpath={.status.replicas} {.status.readyReplicas} {.status.currentReplicas} {.status.updatedReplicas} {.status.availableReplicas} {.status.currentRevision}",
    ]);
    assert_eq!(status, format!("3 3 3 3 3 {update_rev}"));
    let events = c.ok(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.kind=StatefulSet,reason=SuccessfulCreate",
        "-o",
        "jsonpath={range .items[*]}{.message}{\"\\n\"}{end}",
    ]);
    assert!(
        events.contains("create Pod web-0 in StatefulSet web successful"),
        "{events}"
    );
    assert!(
        events.contains("create Claim data-web-2 Pod web-2 in StatefulSet web success"),
        "{events}"
    );

    // Partitioned update: only ordinals >= 1 move to the new image.
    c.ok(&[
        "patch",
        "sts",
        "web",
        "-p",
        r#"{"spec":{"updateStrategy":{"rollingUpdate":{"partition":1}}}}"#,
    ]);
    c.ok(&["set", "image", "statefulset/web", "nginx=nginx:2.0"]);
    let out = c.ok(&["rollout", "status", "statefulset/web", "--timeout=60s"]);
    assert!(
        out.contains("partitioned roll out complete: 2 new pods have been updated"),
        "{out}"
    );
    c.wait_until("web-1 and web-2 run nginx:2.0", T, || {
        image_of(&c, "web-1") == "nginx:2.0" && image_of(&c, "web-2") == "nginx:2.0"
    });
    assert_eq!(image_of(&c, "web-0"), "nginx:1.0");
    let revs = c.ok(&[
        "get",
        "sts",
        "web",
        "-o",
        "jsonpath={.status.currentRevision} {.status.updateRevision} {.status.updatedReplicas} {.status.currentReplicas}",
    ]);
    let parts: Vec<&str> = revs.split(' ').collect();
    assert_eq!(parts[0], update_rev, "{revs}");
    assert_ne!(parts[1], update_rev, "{revs}");
    assert_eq!(&parts[2..], ["2", "1"], "{revs}");

    // History, then undo to revision 1 (partition 0: every pod).
    let history = c.ok(&["rollout", "history", "statefulset/web"]);
    let numbers: Vec<&str> = history
        .lines()
        .skip_while(|l| !l.starts_with("REVISION"))
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(numbers, ["1", "2"], "{history}");
    c.ok(&[
        "patch",
        "sts",
        "web",
        "-p",
        r#"{"spec":{"updateStrategy":{"rollingUpdate":{"partition":0}}}}"#,
    ]);
    let out = c.ok(&["rollout", "undo", "statefulset/web", "--to-revision=1"]);
    assert!(out.contains("statefulset.apps/web rolled back"), "{out}");
    c.wait_until("every pod runs nginx:1.0 again", T, || {
        ["web-0", "web-1", "web-2"]
            .iter()
            .all(|p| image_of(&c, p) == "nginx:1.0")
    });
    c.ok(&["rollout", "status", "statefulset/web", "--timeout=60s"]);
    let history = c.ok(&["rollout", "history", "statefulset/web"]);
    let numbers: Vec<&str> = history
        .lines()
        .skip_while(|l| !l.starts_with("REVISION"))
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(numbers, ["2", "3"], "{history}");
    let back = c.ok(&[
        "get",
        "sts",
        "web",
        "-o",
        "jsonpath={.status.updateRevision}",
    ]);
    assert_eq!(back, update_rev, "revision 1 is reused as revision 3");

    // Scale down: web-2 goes first, then web-1, one at a time.
    let scale_file = c.dir.path().join("watch-scale.txt");
    let mut watch = c.spawn_kubectl(
        &["get", "pods", "-l", "app=web", "-w", "-o", WATCH_FORMAT],
        &scale_file,
    );
    // The watch has listed the pods before the scale-down starts.
    c.wait_until("the watch lists web-2", T, || {
        lines(&scale_file).iter().any(|l| l.starts_with("web-2 "))
    });
    c.ok(&["scale", "statefulset/web", "--replicas=1"]);
    c.wait_until("only web-0 is left", T, || {
        c.ok(&[
            "get",
            "pods",
            "-l",
            "app=web",
            "-o",
            "jsonpath={.items[*].metadata.name}",
        ]) == "web-0"
    });
    let _ = watch.kill();
    let _ = watch.wait();
    let seen = lines(&scale_file);
    let deleting = |p: &str| {
        first(&seen, |l| {
            l.starts_with(&format!("{p} ")) && !l.ends_with("deleting=")
        })
        .unwrap_or(usize::MAX)
    };
    let last_web2 = seen
        .iter()
        .rposition(|l| l.starts_with("web-2 "))
        .unwrap_or(usize::MAX);
    assert!(deleting("web-1") < usize::MAX, "{seen:#?}");
    assert!(deleting("web-2") < deleting("web-1"), "{seen:#?}");
    assert!(
        last_web2 < deleting("web-1"),
        "web-1 deleted only after web-2 was gone: {seen:#?}"
    );
    assert!(!seen
        .iter()
        .any(|l| l.starts_with("web-0 ") && !l.ends_with("deleting=")));
    let out = c.ok(&[
        "get",
        "sts",
        "web",
        "-o",
        "jsonpath={.status.replicas} {.status.readyReplicas}",
    ]);
    assert_eq!(out, "1 1");
}

const DS: &str = r#"apiVersion: apps/v1
kind: DaemonSet
metadata: {name: NAME}
spec:
  selector: {matchLabels: {app: NAME}}
  template:
    metadata: {labels: {app: NAME}}
    spec:
      TOLERATIONS
      containers: [{name: agent, image: "agent:1"}]
"#;

fn daemonset(c: &Cluster, name: &str, tolerations: &str) {
    let yaml = DS.replace("NAME", name).replace("TOLERATIONS", tolerations);
    let f = c.file(&format!("{name}.yaml"), &yaml);
    c.ok(&["apply", "-f", f.to_str().unwrap_or_default()]);
}

/// `pod node image hash` per pod of `app`, sorted by node.
fn ds_pods(c: &Cluster, app: &str) -> Vec<Vec<String>> {
    let out = c.ok(&[
        "get",
        "pods",
        "-l",
        &format!("app={app}"),
        "-o",
        r#"jsonpath={range .items[*]}{.metadata.name} {.spec.nodeName} {.spec.containers[0].image} {.metadata.labels.controller-revision-hash} {.metadata.deletionTimestamp}{"\n"}{end}"#,
    ]);
    let mut rows: Vec<Vec<String>> = out
        .lines()
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect();
    rows.sort_by(|a, b| a.get(1).cmp(&b.get(1)));
    rows
}

#[test]
fn daemonsets_cover_eligible_nodes_and_roll_out() {
    let c = Cluster::up_with(&["--sim-nodes", "5"]);
    c.wait_until("5 nodes are registered", T, || {
        c.ok(&["get", "nodes", "-o", "jsonpath={.items[*].metadata.name}"])
            .split_whitespace()
            .count()
            == 5
    });
    let nodes_out = c.ok(&["get", "nodes", "-o", "jsonpath={.items[*].metadata.name}"]);
    let mut nodes: Vec<&str> = nodes_out.split_whitespace().collect();
    nodes.sort();
    let tainted = nodes[0];
    c.ok(&["taint", "nodes", tainted, "dedicated=infra:NoSchedule"]);

    // No toleration: every node but the tainted one.
    daemonset(&c, "logger", "");
    let out = c.ok(&["rollout", "status", "daemonset/logger", "--timeout=60s"]);
    assert!(
        out.contains("daemon set \"logger\" successfully rolled out"),
        "{out}"
    );
    let pods = ds_pods(&c, "logger");
    let on: Vec<&str> = pods.iter().map(|p| p[1].as_str()).collect();
    assert_eq!(on, nodes[1..], "{pods:?}");
    let status = c.ok(&[
        "get",
        "ds",
        "logger",
        "-o",
        "jsonpath={.status.desiredNumberScheduled} {.status.currentNumberScheduled} {.status.numberReady} {.status.numberAvailable} {.status.updatedNumberScheduled} {.status.numberMisscheduled}",
    ]);
    assert_eq!(status, "4 4 4 4 4 0");
    // Bound through matchFields affinity, with the automatic tolerations.
    let pod = &pods[0][0];
    let got = c.ok(&[
        "get",
        "pod",
        pod,
        "-o",
        r#"jsonpath={.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchFields[0].values[0]} {.spec.tolerations[?(@.key=="node.kubernetes.io/unschedulable")].effect} {.metadata.ownerReferences[0].kind}"#,
    ]);
    assert_eq!(got, format!("{} NoSchedule DaemonSet", pods[0][1]));
    let events = c.ok(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=logger,reason=SuccessfulCreate",
        "-o",
        "jsonpath={.items[*].message}",
    ]);
    assert!(events.contains(&format!("Created pod: {pod}")), "{events}");

    // Tolerating everything: all five.
    daemonset(&c, "agent", "tolerations: [{operator: Exists}]");
    c.ok(&["rollout", "status", "daemonset/agent", "--timeout=60s"]);
    let pods = ds_pods(&c, "agent");
    let on: Vec<&str> = pods.iter().map(|p| p[1].as_str()).collect();
    assert_eq!(on, nodes, "{pods:?}");

    // A new image rolls out to every pod, with a new revision.
    let old_hash = ds_pods(&c, "logger")[0][3].clone();
    c.ok(&["set", "image", "daemonset/logger", "agent=agent:2"]);
    let out = c.ok(&["rollout", "status", "daemonset/logger", "--timeout=60s"]);
    assert!(
        out.contains("daemon set \"logger\" successfully rolled out"),
        "{out}"
    );
    c.wait_until("4 logger pods run agent:2", T, || {
        let pods = ds_pods(&c, "logger");
        pods.len() == 4 && pods.iter().all(|p| p.len() == 4 && p[2] == "agent:2")
    });
    let pods = ds_pods(&c, "logger");
    assert!(pods.iter().all(|p| p[3] != old_hash), "{pods:?}");
    let history = c.ok(&["rollout", "history", "daemonset/logger"]);
    assert!(
        history.contains("\n1 ") && history.contains("\n2 "),
        "{history}"
    );

    // Undo goes back to the first template, and its revision hash.
    let out = c.ok(&["rollout", "undo", "daemonset/logger"]);
    assert!(out.contains("daemonset.apps/logger rolled back"), "{out}");
    c.wait_until("4 logger pods run agent:1 again", T, || {
        let pods = ds_pods(&c, "logger");
        pods.len() == 4 && pods.iter().all(|p| p.len() == 4 && p[2] == "agent:1")
    });
    let pods = ds_pods(&c, "logger");
    assert!(pods.iter().all(|p| p[3] == old_hash), "{pods:?}");

    // A node selector follows node labels: pods come and go.
    c.ok(&["label", "node", nodes[1], nodes[2], "role=edge"]);
    daemonset(&c, "edge", "nodeSelector: {role: edge}");
    c.wait_until("edge pods on the two labelled nodes", T, || {
        let pods = ds_pods(&c, "edge");
        pods.iter().map(|p| p[1].as_str()).collect::<Vec<_>>() == [nodes[1], nodes[2]]
    });
    c.ok(&["label", "node", nodes[2], "role-"]);
    c.wait_until("the edge pod on the unlabelled node goes away", T, || {
        let pods = ds_pods(&c, "edge");
        pods.iter().map(|p| p[1].as_str()).collect::<Vec<_>>() == [nodes[1]]
    });
    let status = c.ok(&[
        "get",
        "ds",
        "edge",
        "-o",
        "jsonpath={.status.desiredNumberScheduled}",
    ]);
    assert_eq!(status, "1");
}

const DB: &str = r#"apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: db
  replicas: 3
  podManagementPolicy: Parallel
  ordinals: {start: 5}
  updateStrategy: {type: OnDelete}
  persistentVolumeClaimRetentionPolicy: {whenDeleted: Retain, whenScaled: Delete}
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers: [{name: db, image: "db:1"}]
  volumeClaimTemplates:
  - metadata: {name: data}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 1Gi}}
"#;

#[test]
fn statefulset_parallel_on_delete_ordinals_and_claim_retention() {
    let c = Cluster::up_with(&["--sim-nodes", "3", "--sim-pod-start-delay", "1s"]);
    let watch_file = c.dir.path().join("watch-db.txt");
    let mut watch = c.spawn_kubectl(
        &["get", "pods", "-l", "app=db", "-w", "-o", WATCH_FORMAT],
        &watch_file,
    );
    let f = c.file("db.yaml", DB);
    c.ok(&["apply", "-f", f.to_str().unwrap_or_default()]);
    c.wait_until("db-5, db-6, db-7 are ready", T, || {
        c.ok(&["get", "sts", "db", "-o", "jsonpath={.status.readyReplicas}"]) == "3"
    });
    c.wait_until("the watch saw every pod ready", T, || {
        let seen = lines(&watch_file);
        ["db-5", "db-6", "db-7"].iter().all(|p| {
            seen.iter()
                .any(|l| l.starts_with(&format!("{p} ready=True")))
        })
    });
    let _ = watch.kill();
    let _ = watch.wait();
    let seen = lines(&watch_file);
    // Parallel: every pod was created before the first one became Ready.
    let first_ready = first(&seen, |l| l.contains("ready=True")).unwrap_or(0);
    for p in ["db-5", "db-6", "db-7"] {
        let at = first(&seen, |l| l.starts_with(&format!("{p} "))).unwrap_or(usize::MAX);
        assert!(at < first_ready, "{p}: {seen:#?}");
    }
    let claims = c.ok(&["get", "pvc", "-o", "jsonpath={.items[*].metadata.name}"]);
    assert_eq!(claims, "data-db-5 data-db-6 data-db-7");

    // OnDelete: a new template changes nothing until a pod is deleted.
    c.ok(&["set", "image", "statefulset/db", "db=db:2"]);
    c.wait_until("a new update revision", T, || {
        let revs = c.ok(&[
            "get",
            "sts",
            "db",
            "-o",
            "jsonpath={.status.currentRevision} {.status.updateRevision}",
        ]);
        let r: Vec<&str> = revs.split(' ').collect();
        r.len() == 2 && r[0] != r[1]
    });
    assert_eq!(image_of(&c, "db-6"), "db:1");
    c.ok(&["delete", "pod", "db-6"]);
    c.wait_until("db-6 comes back with db:2", T, || {
        let out = c.kubectl(&[
            "get",
            "pod",
            "db-6",
            "-o",
            "jsonpath={.spec.containers[0].image} {.metadata.deletionTimestamp}",
        ]);
        String::from_utf8_lossy(&out.stdout) == "db:2 "
    });
    assert_eq!(image_of(&c, "db-5"), "db:1");
    assert_eq!(image_of(&c, "db-7"), "db:1");
    c.wait_until("updatedReplicas is 1", T, || {
        c.ok(&[
            "get",
            "sts",
            "db",
            "-o",
            "jsonpath={.status.updatedReplicas} {.status.currentReplicas}",
        ]) == "1 2"
    });

    // Scale to 1: the condemned pods go, and with whenScaled=Delete their claims.
    c.ok(&["scale", "statefulset/db", "--replicas=1"]);
    c.wait_until("only db-5 and its claim are left", T, || {
        c.ok(&[
            "get",
            "pods",
            "-l",
            "app=db",
            "-o",
            "jsonpath={.items[*].metadata.name}",
        ]) == "db-5"
            && c.ok(&["get", "pvc", "-o", "jsonpath={.items[*].metadata.name}"]) == "data-db-5"
    });
}
