//! Deployments through kubectl 1.37 against `rkube up --sim-nodes 5`: the
//! deployment controller rolls templates out through ReplicaSets as
//! kube-controller-manager does, so `kubectl rollout status | history |
//! undo | restart | pause | resume`, `kubectl scale` and `kubectl describe`
//! print what they print on a real cluster.

use std::collections::BTreeSet;
use std::time::Duration;

use rkube_e2e::Cluster;
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(30);

fn cluster() -> Cluster {
    Cluster::up_with(&["--sim-nodes", "5"])
}

/// `kubectl rollout status` until it succeeds; its output.
fn rolled_out(c: &Cluster, deploy: &str) -> String {
    let out = c.ok(&["rollout", "status", deploy, "--timeout=60s"]);
    let name = deploy.trim_start_matches("deployment/");
    assert!(
        out.ends_with(&format!("deployment \"{name}\" successfully rolled out\n")),
        "{out}"
    );
    out
}

/// Phase and first image of each pod with `selector`.
fn pods(c: &Cluster, selector: &str) -> Vec<(String, String)> {
    let out = c.ok(&[
        "get",
        "pods",
        "-l",
        selector,
        "-o",
        r#"jsonpath={range .items[*]}{.status.phase} {.spec.containers[0].image}{"\n"}{end}"#,
    ]);
    out.lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(p, i)| (p.to_string(), i.to_string()))
        .collect()
}

/// Exactly `n` pods, all Running `image`.
fn wait_pods(c: &Cluster, selector: &str, n: usize, image: &str) {
    c.wait_until(&format!("{n} pods {selector} run {image}"), WAIT, || {
        let p = pods(c, selector);
        p.len() == n && p.iter().all(|(phase, i)| phase == "Running" && i == image)
    });
}

/// REVISION column of `kubectl rollout history`.
fn revisions(c: &Cluster, deploy: &str) -> Vec<String> {
    let out = c.ok(&["rollout", "history", deploy]);
    out.lines()
        .skip_while(|l| !l.starts_with("REVISION"))
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

fn get(c: &Cluster, what: &[&str], path: &str) -> String {
    let mut args = vec!["get"];
    args.extend_from_slice(what);
    let jp = format!("jsonpath={path}");
    args.extend(["-o", jp.as_str()]);
    c.ok(&args)
}

#[test]
fn create_scale_update_undo_and_restart() {
    let c = cluster();
    assert_eq!(
        c.ok(&[
            "create",
            "deployment",
            "web",
            "--image=nginx:1",
            "--replicas=3"
        ])
        .trim(),
        "deployment.apps/web created"
    );
    rolled_out(&c, "deployment/web");
    wait_pods(&c, "app=web", 3, "nginx:1");
    // The controller writes status from its informer's copy, which has no
    // managedFields: kubectl's entry stays beside the controller's.
    let managers = get(
        &c,
        &["deployment", "web", "--show-managed-fields"],
        "{range .metadata.managedFields[*]}{.manager}/{.subresource} {end}",
    );
    assert!(
        managers.contains("kubectl-create/ ")
            && managers.contains("kube-controller-manager/status"),
        "{managers}"
    );
    // One ReplicaSet, named for the template hash, which its selector,
    // labels and pods carry; revision 1.
    let rs = get(&c, &["rs", "-l", "app=web"], "{.items[*].metadata.name}");
    let hash = get(
        &c,
        &["rs", &rs],
        "{.spec.selector.matchLabels.pod-template-hash}",
    );
    assert_eq!(rs, format!("web-{hash}"));
    assert!(
        hash.bytes()
            .all(|b| b"bcdfghjklmnpqrstvwxz2456789".contains(&b)),
        "{hash}"
    );
    assert_eq!(
        get(&c, &["rs", &rs], "{.metadata.annotations}"),
        r#"{"deployment.kubernetes.io/desired-replicas":"3","deployment.kubernetes.io/max-replicas":"4","deployment.kubernetes.io/revision":"1"}"#
    );
    assert_eq!(
        get(&c, &["rs", &rs], "{.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}/{.metadata.ownerReferences[0].controller}"),
        "Deployment/web/true"
    );
    assert_eq!(
        get(&c, &["deploy", "web"], "{.status.replicas}/{.status.updatedReplicas}/{.status.readyReplicas}/{.status.availableReplicas}/{.status.observedGeneration}"),
        "3/3/3/3/1"
    );
    assert_eq!(
        get(
            &c,
            &["deploy", "web"],
            r#"{.status.conditions[?(@.type=="Progressing")].message}"#
        ),
        format!("ReplicaSet \"{rs}\" has successfully progressed.")
    );

    // Scaling a deployment with one active ReplicaSet scales it.
    c.ok(&["scale", "deployment/web", "--replicas=20"]);
    wait_pods(&c, "app=web", 20, "nginx:1");
    c.ok(&["scale", "deployment/web", "--replicas=3"]);
    wait_pods(&c, "app=web", 3, "nginx:1");
    rolled_out(&c, "deployment/web");

    // A new template rolls out through a second ReplicaSet.
    c.ok(&["set", "image", "deployment/web", "nginx=nginx:2"]);
    rolled_out(&c, "deployment/web");
    wait_pods(&c, "app=web", 3, "nginx:2");
    assert_eq!(revisions(&c, "deployment/web"), ["1", "2"]);
    assert_eq!(
        get(
            &c,
            &["deploy", "web"],
            "{.metadata.annotations.deployment\\.kubernetes\\.io/revision}"
        ),
        "2"
    );
    assert_eq!(get(&c, &["rs", &rs], "{.spec.replicas}"), "0");

    // Undo: the first ReplicaSet is new again, as revision 3.
    assert_eq!(
        c.ok(&["rollout", "undo", "deployment/web"]).trim(),
        "deployment.apps/web rolled back"
    );
    rolled_out(&c, "deployment/web");
    wait_pods(&c, "app=web", 3, "nginx:1");
    assert_eq!(revisions(&c, "deployment/web"), ["2", "3"]);
    assert_eq!(
        get(&c, &["rs", &rs], "{.spec.replicas} {.metadata.annotations.deployment\\.kubernetes\\.io/revision} {.metadata.annotations.deployment\\.kubernetes\\.io/revision-history}"),
        "3 3 1"
    );

    let describe = c.ok(&["describe", "deployment", "web"]);
    for line in [
        format!("Scaled up replica set {rs} from 0 to 3"),
        format!("Scaled up replica set {rs} from 3 to 20"),
        format!("Scaled down replica set {rs} from 20 to 3"),
        format!("Scaled down replica set {rs} from 3 to 2"),
    ] {
        assert!(
            describe.contains(&line) && describe.contains("ScalingReplicaSet"),
            "{line} not in:\n{describe}"
        );
    }
    assert!(
        describe.contains(&format!("NewReplicaSet:   {rs} (3/3 replicas created)")),
        "{describe}"
    );

    // Restart: same image, new pods from a third ReplicaSet.
    let before: BTreeSet<String> = get(&c, &["pods", "-l", "app=web"], "{.items[*].metadata.name}")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    assert_eq!(
        c.ok(&["rollout", "restart", "deployment/web"]).trim(),
        "deployment.apps/web restarted"
    );
    rolled_out(&c, "deployment/web");
    wait_pods(&c, "app=web", 3, "nginx:1");
    let after = get(&c, &["pods", "-l", "app=web"], "{.items[*].metadata.name}");
    assert!(
        after.split_whitespace().all(|p| !before.contains(p)),
        "{before:?} / {after}"
    );
    assert_eq!(revisions(&c, "deployment/web"), ["2", "3", "4"]);
    assert_eq!(
        get(&c, &["rs", "-l", "app=web"], "{.items[*].metadata.name}")
            .split_whitespace()
            .count(),
        3
    );
}

#[test]
fn a_paused_deployment_rolls_out_on_resume() {
    let c = cluster();
    c.ok(&[
        "create",
        "deployment",
        "web",
        "--image=nginx:1",
        "--replicas=2",
    ]);
    rolled_out(&c, "deployment/web");
    assert_eq!(
        c.ok(&["rollout", "pause", "deployment/web"]).trim(),
        "deployment.apps/web paused"
    );
    c.ok(&["set", "image", "deployment/web", "nginx=nginx:2"]);
    // Scaling still applies while paused.
    c.ok(&["scale", "deployment/web", "--replicas=4"]);
    // pause, set image and scale: generation 4.
    c.wait_until(
        "the paused deployment's last change is observed",
        WAIT,
        || {
            get(
                &c,
                &["deploy", "web"],
                "{.metadata.generation} {.status.observedGeneration} {.status.replicas}",
            ) == "4 4 4"
        },
    );
    assert_eq!(
        get(
            &c,
            &["deploy", "web"],
            r#"{.status.conditions[?(@.type=="Progressing")].reason}"#
        ),
        "DeploymentPaused"
    );
    wait_pods(&c, "app=web", 4, "nginx:1");
    assert_eq!(
        get(
            &c,
            &["rs", "-l", "app=web"],
            "{.items[*].spec.template.spec.containers[0].image}"
        ),
        "nginx:1"
    );
    assert_eq!(revisions(&c, "deployment/web"), ["1"]);

    assert_eq!(
        c.ok(&["rollout", "resume", "deployment/web"]).trim(),
        "deployment.apps/web resumed"
    );
    rolled_out(&c, "deployment/web");
    wait_pods(&c, "app=web", 4, "nginx:2");
    assert_eq!(revisions(&c, "deployment/web"), ["1", "2"]);
}

/// The events of a `get -w --output-watch-events -o json` stream, as
/// (type, pod name, hash label).
fn watch_events(text: &str) -> Vec<(String, String, String)> {
    serde_json::Deserializer::from_str(text)
        .into_iter::<Value>()
        .map_while(Result::ok)
        .map(|e| {
            let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
            let meta = &e["object"]["metadata"];
            (
                s(&e["type"]),
                s(&meta["name"]),
                s(&meta["labels"]["pod-template-hash"]),
            )
        })
        .collect()
}

#[test]
fn recreate_removes_every_old_pod_before_starting_new_ones() {
    let c = cluster();
    let f = c.file(
        "db.yaml",
        r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: db}
spec:
  replicas: 3
  revisionHistoryLimit: 1
  strategy: {type: Recreate}
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: db, image: "postgres:1"}]}
"#,
    );
    c.ok(&["apply", "-f", f.to_str().expect("path")]);
    rolled_out(&c, "deployment/db");
    wait_pods(&c, "app=db", 3, "postgres:1");
    let old_hash = get(
        &c,
        &["pods", "-l", "app=db"],
        "{.items[0].metadata.labels.pod-template-hash}",
    );

    let out = c.dir.path().join("watch.json");
    let mut watch = c.spawn_kubectl(
        &[
            "get",
            "pods",
            "-l",
            "app=db",
            "-w",
            "--output-watch-events",
            "-o",
            "json",
        ],
        &out,
    );
    let events = || watch_events(&std::fs::read_to_string(&out).unwrap_or_default());
    c.wait_until("the watch lists the old pods", WAIT, || events().len() >= 3);
    c.ok(&["set", "image", "deployment/db", "db=postgres:2"]);
    rolled_out(&c, "deployment/db");
    wait_pods(&c, "app=db", 3, "postgres:2");
    c.wait_until("the watch sees the new pods", WAIT, || {
        events()
            .iter()
            .filter(|(t, _, h)| t == "ADDED" && *h != old_hash)
            .count()
            == 3
    });
    let _ = watch.kill();
    let _ = watch.wait();
    let ev = events();
    let last_old_gone = ev
        .iter()
        .rposition(|(t, _, h)| t == "DELETED" && *h == old_hash)
        .expect("old pods deleted");
    let first_new = ev
        .iter()
        .position(|(t, _, h)| t == "ADDED" && *h != old_hash)
        .expect("new pods added");
    assert!(last_old_gone < first_new, "{ev:?}");
    assert_eq!(
        ev.iter()
            .filter(|(t, _, h)| t == "DELETED" && *h == old_hash)
            .count(),
        3,
        "{ev:?}"
    );

    // The new ReplicaSet starts at full size; one old one is kept.
    let describe = c.ok(&["describe", "deployment", "db"]);
    assert!(
        describe.contains(&format!(
            "Scaled down replica set db-{old_hash} from 3 to 0"
        )),
        "{describe}"
    );
    assert!(
        describe
            .lines()
            .any(|l| l.split_whitespace().eq(["StrategyType:", "Recreate"])),
        "{describe}"
    );
    let new_hash = get(
        &c,
        &["pods", "-l", "app=db"],
        "{.items[0].metadata.labels.pod-template-hash}",
    );
    assert!(
        describe.contains(&format!("Scaled up replica set db-{new_hash} from 0 to 3")),
        "{describe}"
    );
    c.ok(&["set", "image", "deployment/db", "db=postgres:3"]);
    rolled_out(&c, "deployment/db");
    c.wait_until(
        "revisionHistoryLimit 1 leaves two ReplicaSets",
        WAIT,
        || {
            get(&c, &["rs", "-l", "app=db"], "{.items[*].metadata.name}")
                .split_whitespace()
                .count()
                == 2
        },
    );
    assert_eq!(revisions(&c, "deployment/db"), ["2", "3"]);
}

#[test]
fn an_unschedulable_deployment_exceeds_its_progress_deadline() {
    let c = cluster();
    let f = c.file(
        "stuck.yaml",
        r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: stuck}
spec:
  replicas: 2
  progressDeadlineSeconds: 3
  selector: {matchLabels: {app: stuck}}
  template:
    metadata: {labels: {app: stuck}}
    spec:
      nodeSelector: {disk: none}
      containers: [{name: s, image: "nginx:1"}]
"#,
    );
    c.ok(&["apply", "-f", f.to_str().expect("path")]);
    let err = c.fails(&["rollout", "status", "deployment/stuck", "--timeout=60s"]);
    assert!(
        err.contains(r#"error: deployment "stuck" exceeded its progress deadline"#),
        "{err}"
    );
    let rs = get(&c, &["rs", "-l", "app=stuck"], "{.items[0].metadata.name}");
    assert_eq!(
        get(
            &c,
            &["deploy", "stuck"],
            r#"{.status.conditions[?(@.type=="Progressing")].status} {.status.conditions[?(@.type=="Progressing")].reason} {.status.conditions[?(@.type=="Progressing")].message}"#
        ),
        format!("False ProgressDeadlineExceeded ReplicaSet \"{rs}\" has timed out progressing.")
    );
    assert_eq!(
        get(
            &c,
            &["deploy", "stuck"],
            r#"{.status.conditions[?(@.type=="Available")].reason} {.status.unavailableReplicas}"#
        ),
        "MinimumReplicasUnavailable 2"
    );
    let pending = pods(&c, "app=stuck");
    assert_eq!(pending.len(), 2);
    assert!(pending.iter().all(|(p, _)| p == "Pending"), "{pending:?}");
}

#[test]
fn orphan_replica_sets_are_adopted_and_released() {
    let c = cluster();
    let f = c.file(
        "orphan.yaml",
        r#"apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: legacy
  labels: {app: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web, gen: legacy}}
  template:
    metadata: {labels: {app: web, gen: legacy}}
    spec: {containers: [{name: nginx, image: "nginx:0"}]}
"#,
    );
    c.ok(&["apply", "-f", f.to_str().expect("path")]);
    wait_pods(&c, "gen=legacy", 2, "nginx:0");

    // The Deployment's selector matches the orphan's labels: it adopts
    // it as an old ReplicaSet and rolls it down to nothing.
    c.ok(&[
        "create",
        "deployment",
        "web",
        "--image=nginx:1",
        "--replicas=2",
    ]);
    rolled_out(&c, "deployment/web");
    assert_eq!(
        get(
            &c,
            &["rs", "legacy"],
            "{.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name} {.spec.replicas}"
        ),
        "Deployment/web 0"
    );
    wait_pods(&c, "app=web", 2, "nginx:1");

    // Labels that no longer match: released.
    c.ok(&["label", "rs", "legacy", "app=other", "--overwrite"]);
    c.wait_until("the deployment releases the replica set", WAIT, || {
        get(&c, &["rs", "legacy"], "{.metadata.ownerReferences[*].uid}").is_empty()
    });
    // ... and it no longer counts among the Deployment's revisions.
    assert_eq!(revisions(&c, "deployment/web"), ["1"]);
}
