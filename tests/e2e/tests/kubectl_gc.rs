//! Garbage collection, namespace deletion and default ServiceAccounts
//! through kubectl 1.37 against `rkube up --sim-nodes 3`:
//! `--cascade=foreground|orphan|background` on a ReplicaSet, a ConfigMap
//! whose owner is gone, custom resources as dependents and as owners, a
//! namespace emptied (pods, config maps, a custom
//! resource) and held Terminating by a finalizer until it is removed, the
//! namespaces that may not be deleted, and the `default` ServiceAccount of
//! every new namespace.

use std::time::Duration;

use rkube_e2e::Cluster;

const WAIT: Duration = Duration::from_secs(30);

fn replicaset(name: &str, replicas: u32, pod_finalizer: Option<&str>) -> String {
    let finalizers = pod_finalizer
        .map(|f| format!("\n      finalizers: [{f}]"))
        .unwrap_or_default();
    format!(
        "apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: {name}
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}{finalizers}
    spec:
      containers:
      - {{name: c, image: nginx}}
"
    )
}

fn up() -> Cluster {
    Cluster::up_with(&["--sim-nodes", "3"])
}

/// Creates ReplicaSet `name` in `ns` and waits for its pods to run.
fn running_replicaset(c: &Cluster, ns: &str, name: &str, replicas: u32, fin: Option<&str>) {
    let f = c.file(
        &format!("{ns}-{name}.yaml"),
        &replicaset(name, replicas, fin),
    );
    c.ok(&["apply", "-n", ns, "-f", f.to_str().expect("path")]);
    let want = vec!["Running"; replicas as usize].join(" ");
    c.wait_until(&format!("{name}'s pods run"), WAIT, || {
        phases(c, ns, name) == want
    });
}

fn phases(c: &Cluster, ns: &str, app: &str) -> String {
    c.ok(&[
        "get",
        "pods",
        "-n",
        ns,
        "-l",
        &format!("app={app}"),
        "-o",
        "jsonpath={.items[*].status.phase}",
    ])
    .trim()
    .to_string()
}

fn pod_names(c: &Cluster, ns: &str, app: &str) -> Vec<String> {
    c.ok(&[
        "get",
        "pods",
        "-n",
        ns,
        "-l",
        &format!("app={app}"),
        "-o",
        "name",
    ])
    .lines()
    .map(str::to_string)
    .collect()
}

#[test]
fn cascading_deletion_of_a_replicaset() {
    let c = up();

    // Foreground: kubectl returns once the ReplicaSet is gone, which is
    // after its pods are.
    running_replicaset(&c, "default", "fg", 3, None);
    let out = c.ok(&["delete", "rs", "fg", "--cascade=foreground"]);
    assert!(out.contains(r#"replicaset.apps "fg" deleted"#), "{out}");
    assert_eq!(pod_names(&c, "default", "fg"), Vec::<String>::new());
    assert!(!c.kubectl(&["get", "rs", "fg"]).status.success());

    // Foreground, caught in the middle: pods a finalizer holds keep the
    // ReplicaSet with `foregroundDeletion` until they go.
    running_replicaset(&c, "default", "held", 2, Some("example.com/hold"));
    c.ok(&[
        "delete",
        "rs",
        "held",
        "--cascade=foreground",
        "--wait=false",
    ]);
    c.wait_until("the pods are being deleted", WAIT, || {
        c.ok(&[
            "get",
            "pods",
            "-l",
            "app=held",
            "-o",
            "jsonpath={range .items[*]}{.metadata.deletionTimestamp}{\"\\n\"}{end}",
        ])
        .lines()
        .filter(|l| !l.is_empty())
        .count()
            == 2
    });
    let finalizers = c.ok(&["get", "rs", "held", "-o", "jsonpath={.metadata.finalizers}"]);
    assert_eq!(finalizers.trim(), r#"["foregroundDeletion"]"#);
    let deleting = c.ok(&[
        "get",
        "rs",
        "held",
        "-o",
        "jsonpath={.metadata.deletionTimestamp}",
    ]);
    assert!(!deleting.trim().is_empty());
    for pod in pod_names(&c, "default", "held") {
        c.ok(&[
            "patch",
            &pod,
            "--type=merge",
            "-p",
            r#"{"metadata":{"finalizers":null}}"#,
        ]);
    }
    c.wait_until("the held ReplicaSet is gone", WAIT, || {
        !c.kubectl(&["get", "rs", "held"]).status.success()
    });
    assert_eq!(pod_names(&c, "default", "held"), Vec::<String>::new());

    // Orphan: the pods stay, running, with no owner.
    running_replicaset(&c, "default", "orph", 2, None);
    let before = pod_names(&c, "default", "orph");
    c.ok(&["delete", "rs", "orph", "--cascade=orphan"]);
    assert!(!c.kubectl(&["get", "rs", "orph"]).status.success());
    assert_eq!(pod_names(&c, "default", "orph"), before);
    assert_eq!(phases(&c, "default", "orph"), "Running Running");
    let owners = c.ok(&[
        "get",
        "pods",
        "-l",
        "app=orph",
        "-o",
        "jsonpath={.items[*].metadata.ownerReferences}",
    ]);
    assert_eq!(owners.trim(), "");

    // Background (kubectl's default): the ReplicaSet goes at once, the
    // collector takes its pods after.
    running_replicaset(&c, "default", "bg", 3, None);
    c.ok(&["delete", "rs", "bg", "--wait=false"]);
    c.wait_until("the background ReplicaSet's pods are gone", WAIT, || {
        pod_names(&c, "default", "bg").is_empty()
    });
    // The orphans are still there, and still running.
    assert_eq!(pod_names(&c, "default", "orph"), before);
}

#[test]
fn an_object_whose_owner_is_gone_is_collected() {
    let c = up();
    c.ok(&["create", "configmap", "owner"]);
    c.ok(&["create", "configmap", "alive"]);
    let uid = |name: &str| c.ok(&["get", "cm", name, "-o", "jsonpath={.metadata.uid}"]);
    let (gone_uid, alive_uid) = (uid("owner"), uid("alive"));
    c.ok(&["delete", "configmap", "owner"]);
    let dependent = |name: &str, owner: &str, uid: &str| {
        format!(
            "apiVersion: v1
kind: ConfigMap
metadata:
  name: {name}
  ownerReferences:
  - {{apiVersion: v1, kind: ConfigMap, name: {owner}, uid: {uid}}}
data: {{a: b}}
"
        )
    };
    let kept = c.file("kept.yaml", &dependent("kept", "alive", &alive_uid));
    c.ok(&["create", "-f", kept.to_str().expect("path")]);
    let orphan = c.file("orphan.yaml", &dependent("orphan", "owner", &gone_uid));
    c.ok(&["create", "-f", orphan.to_str().expect("path")]);
    c.wait_until("the orphan config map is collected", WAIT, || {
        !c.kubectl(&["get", "cm", "orphan"]).status.success()
    });
    // Its owner alive, the other one stays; once that owner goes, so does it.
    assert_eq!(
        c.ok(&["get", "cm", "kept", "-o", "jsonpath={.data.a}"]),
        "b"
    );
    c.ok(&["delete", "configmap", "alive"]);
    c.wait_until(
        "the dependent of the deleted owner is collected",
        WAIT,
        || !c.kubectl(&["get", "cm", "kept"]).status.success(),
    );
}

const CRD: &str = "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
";

fn install_crd(c: &Cluster) {
    let crd = c.file("crd.yaml", CRD);
    c.ok(&["apply", "-f", crd.to_str().expect("path")]);
    c.wait_until("the CRD is established", WAIT, || {
        c.kubectl(&["get", "widgets", "-A"]).status.success()
    });
}

#[test]
fn custom_resources_are_collected_and_own_what_they_make() {
    let c = up();
    install_crd(&c);
    let create = |name: &str, yaml: String| {
        let f = c.file(name, &yaml);
        c.ok(&["create", "-f", f.to_str().expect("path")]);
    };
    // A custom resource whose owner (a ConfigMap) is deleted goes too.
    c.ok(&["create", "configmap", "cm-owner"]);
    let cm_uid = c.ok(&["get", "cm", "cm-owner", "-o", "jsonpath={.metadata.uid}"]);
    create(
        "owned.yaml",
        format!(
            "apiVersion: example.com/v1
kind: Widget
metadata:
  name: owned
  ownerReferences:
  - {{apiVersion: v1, kind: ConfigMap, name: cm-owner, uid: {cm_uid}}}
"
        ),
    );
    c.ok(&["delete", "configmap", "cm-owner"]);
    c.wait_until("the owned widget is collected", WAIT, || {
        !c.kubectl(&["get", "widget", "owned"]).status.success()
    });

    // A custom resource deleted in the foreground waits for what it owns.
    c.ok(&[
        "create",
        "-f",
        c.file(
            "boss.yaml",
            "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: boss\n",
        )
        .to_str()
        .expect("path"),
    ]);
    let boss_uid = c.ok(&["get", "widget", "boss", "-o", "jsonpath={.metadata.uid}"]);
    create(
        "minion.yaml",
        format!(
            "apiVersion: v1
kind: ConfigMap
metadata:
  name: minion
  ownerReferences:
  - {{apiVersion: example.com/v1, kind: Widget, name: boss, uid: {boss_uid}, blockOwnerDeletion: true}}
"
        ),
    );
    c.ok(&["delete", "widget", "boss", "--cascade=foreground"]);
    assert!(!c.kubectl(&["get", "cm", "minion"]).status.success());
}

#[test]
fn deleting_a_namespace_empties_it_and_finalizers_hold_it() {
    let c = up();
    install_crd(&c);

    c.ok(&["create", "namespace", "team"]);
    // A new namespace gets its default ServiceAccount.
    c.wait_until("team has a default service account", WAIT, || {
        c.kubectl(&["get", "sa", "default", "-n", "team"])
            .status
            .success()
    });
    running_replicaset(&c, "team", "web", 2, None);
    c.ok(&[
        "create",
        "configmap",
        "plain",
        "-n",
        "team",
        "--from-literal=a=b",
    ]);
    let widget = c.file(
        "widget.yaml",
        "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w1\nspec: {size: 3}\n",
    );
    c.ok(&["create", "-n", "team", "-f", widget.to_str().expect("path")]);
    let held = c.file(
        "held.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: held\n  finalizers: [example.com/hold]\n",
    );
    c.ok(&["create", "-n", "team", "-f", held.to_str().expect("path")]);

    c.ok(&["delete", "namespace", "team", "--wait=false"]);
    c.wait_until("the namespace's content is deleted", WAIT, || {
        pod_names(&c, "team", "web").is_empty()
            && c.ok(&["get", "widgets", "-n", "team", "-o", "name"])
                .trim()
                .is_empty()
            && c.ok(&["get", "cm", "-n", "team", "-o", "name"]).trim() == "configmap/held"
    });
    assert_eq!(
        c.ok(&["get", "rs,sa", "-n", "team", "-o", "name"]).trim(),
        ""
    );
    let condition = |kind: &str| {
        c.ok(&[
            "get",
            "ns",
            "team",
            "-o",
            &format!(
                "jsonpath={{.status.conditions[?(@.type==\"{kind}\")].status}} {{.status.conditions[?(@.type==\"{kind}\")].reason}}: {{.status.conditions[?(@.type==\"{kind}\")].message}}"
            ),
        ])
    };
    c.wait_until("the namespace reports what holds it", WAIT, || {
        condition("NamespaceFinalizersRemaining")
            == "True SomeFinalizersRemain: Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances"
    });
    assert_eq!(
        condition("NamespaceContentRemaining"),
        "True SomeResourcesRemain: Some resources are remaining: configmaps. has 1 resource instances"
    );
    assert_eq!(
        condition("NamespaceDeletionDiscoveryFailure"),
        "False ResourcesDiscovered: All resources successfully discovered"
    );
    assert_eq!(
        c.ok(&[
            "get",
            "ns",
            "team",
            "-o",
            "jsonpath={.status.phase} {.spec.finalizers}"
        ]),
        r#"Terminating ["kubernetes"]"#
    );
    // A terminating namespace takes nothing new.
    let err = c.fails(&["create", "configmap", "late", "-n", "team"]);
    assert!(err.contains("because it is being terminated"), "{err}");

    c.ok(&[
        "patch",
        "cm",
        "held",
        "-n",
        "team",
        "--type=merge",
        "-p",
        r#"{"metadata":{"finalizers":null}}"#,
    ]);
    c.wait_until("the namespace is gone", WAIT, || {
        !c.kubectl(&["get", "ns", "team"]).status.success()
    });

    // The name can be used again at once, with a fresh account.
    c.ok(&["create", "namespace", "team"]);
    c.wait_until("the new team has a default service account", WAIT, || {
        c.kubectl(&["get", "sa", "default", "-n", "team"])
            .status
            .success()
    });
}

#[test]
fn system_namespaces_stay_and_default_accounts_come_back() {
    let c = up();
    for ns in ["default", "kube-system", "kube-public"] {
        let err = c.fails(&["delete", "namespace", ns]);
        assert!(
            err.contains(&format!(
                r#"namespaces "{ns}" is forbidden: this namespace may not be deleted"#
            )),
            "{err}"
        );
    }
    assert_eq!(
        c.ok(&["get", "ns", "default", "-o", "jsonpath={.status.phase}"]),
        "Active"
    );
    c.wait_until("kube-system has a default service account", WAIT, || {
        c.kubectl(&["get", "sa", "default", "-n", "kube-system"])
            .status
            .success()
    });
    c.ok(&["create", "namespace", "fresh"]);
    c.wait_until("fresh has a default service account", WAIT, || {
        c.kubectl(&["get", "sa", "default", "-n", "fresh"])
            .status
            .success()
    });
    // spec.finalizers change only through the finalize subresource.
    c.ok(&[
        "patch",
        "ns",
        "fresh",
        "--type=merge",
        "-p",
        r#"{"spec":{"finalizers":[]}}"#,
    ]);
    assert_eq!(
        c.ok(&["get", "ns", "fresh", "-o", "jsonpath={.spec.finalizers}"]),
        r#"["kubernetes"]"#
    );
    let uid = || {
        c.ok(&[
            "get",
            "sa",
            "default",
            "-n",
            "fresh",
            "-o",
            "jsonpath={.metadata.uid}",
        ])
    };
    let first = uid();
    c.ok(&["delete", "sa", "default", "-n", "fresh"]);
    c.wait_until("the default service account is back", WAIT, || {
        c.kubectl(&["get", "sa", "default", "-n", "fresh"])
            .status
            .success()
    });
    assert_ne!(uid(), first);
}
