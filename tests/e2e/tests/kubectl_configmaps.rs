//! A user manages ConfigMaps with kubectl 1.37 against `rkube up`: discovery,
//! create from a multi-document file, get in several output formats with
//! selectors and paging, label, watch, replace with a stale version,
//! delete — each step checks what kubectl printed. (Typed creates, Tables
//! and validation have their own files.)

use std::time::Duration;

use rkube_e2e::Cluster;

const TWO_CONFIGMAPS: &str = r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
  labels: {app: web, tier: front}
data:
  color: blue
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: db-config
  labels: {app: db}
data:
  size: "10"
"#;

#[test]
fn configmaps_through_kubectl() {
    let c = Cluster::up();

    // Discovery: the namespaces every cluster starts with, the resource table.
    let ns = c.ok(&["get", "namespaces", "-o", "name"]);
    for want in [
        "namespace/default",
        "namespace/kube-system",
        "namespace/kube-public",
        "namespace/kube-node-lease",
    ] {
        assert!(ns.lines().any(|l| l == want), "{want} missing from:\n{ns}");
    }
    let resources = c.ok(&["api-resources"]);
    assert!(
        resources
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>()
                == ["configmaps", "cm", "v1", "true", "ConfigMap"]),
        "configmaps row:\n{resources}"
    );
    assert!(
        resources
            .lines()
            .any(|l| l.starts_with("deployments") && l.contains("apps/v1")),
        "{resources}"
    );
    let versions = c.ok(&["api-versions"]);
    assert!(
        versions.lines().any(|l| l == "apps/v1") && versions.lines().any(|l| l == "v1"),
        "{versions}"
    );

    // A watch started before the writes sees them.
    let watch_out = c.dir.path().join("watch.out");
    let mut watch = c.spawn_kubectl(
        &["get", "configmaps", "-w", "--output-watch-events"],
        &watch_out,
    );
    std::thread::sleep(Duration::from_millis(500));

    let file = c.file("cms.yaml", TWO_CONFIGMAPS);
    let file = file.to_str().expect("utf-8 path");
    let created = c.ok(&["create", "-f", file]);
    assert_eq!(
        created.lines().collect::<Vec<_>>(),
        [
            "configmap/web-config created",
            "configmap/db-config created"
        ]
    );

    let err = c.fails(&["create", "-f", file]);
    assert!(
        err.contains(r#"configmaps "web-config" already exists"#),
        "{err}"
    );

    let names = c.ok(&["get", "cm", "-o", "name"]);
    assert_eq!(
        names.lines().collect::<Vec<_>>(),
        ["configmap/db-config", "configmap/web-config"]
    );
    assert_eq!(
        c.ok(&["get", "cm", "-l", "app=web", "-o", "name"]).trim(),
        "configmap/web-config"
    );
    assert_eq!(
        c.ok(&[
            "get",
            "cm",
            "-l",
            "app in (web,db),tier!=front",
            "-o",
            "name"
        ])
        .trim(),
        "configmap/db-config"
    );
    assert_eq!(
        c.ok(&[
            "get",
            "cm",
            "--field-selector",
            "metadata.name=db-config",
            "-o",
            "name"
        ])
        .trim(),
        "configmap/db-config"
    );
    assert_eq!(
        c.ok(&["get", "cm", "web-config", "-o", "jsonpath={.data.color}"]),
        "blue"
    );
    let paged = c.ok(&["get", "cm", "--chunk-size=1", "-o", "name"]);
    assert_eq!(paged, names, "paging by one gives the same list");
    let yaml = c.ok(&["get", "cm", "web-config", "-o", "yaml"]);
    for field in [
        "uid: ",
        "creationTimestamp: ",
        "resourceVersion: ",
        "namespace: default",
    ] {
        assert!(yaml.contains(field), "{field} missing:\n{yaml}");
    }
    let cols = c.ok(&[
        "get",
        "cm",
        "-o",
        "custom-columns=NAME:.metadata.name,APP:.metadata.labels.app",
    ]);
    assert!(
        cols.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["web-config", "web"]),
        "{cols}"
    );

    let described = c.ok(&["describe", "cm", "web-config"]);
    for line in [
        "Name:         web-config",
        "Namespace:    default",
        "color:",
        "blue",
    ] {
        assert!(
            described.lines().any(|l| l.trim_end() == line),
            "{line:?} missing from describe:\n{described}"
        );
    }
    let version = c.ok(&["version"]);
    assert!(
        version
            .lines()
            .any(|l| l == "Server Version: v1.37.0+rkube"),
        "{version}"
    );

    // label (a merge patch) and annotate.
    assert_eq!(
        c.ok(&["label", "cm", "web-config", "env=prod"]).trim(),
        "configmap/web-config labeled"
    );
    assert_eq!(
        c.ok(&["get", "cm", "-l", "env=prod", "-o", "name"]).trim(),
        "configmap/web-config"
    );
    assert_eq!(
        c.ok(&["annotate", "cm", "web-config", "note=hello"]).trim(),
        "configmap/web-config annotated"
    );
    assert_eq!(
        c.ok(&[
            "get",
            "cm",
            "web-config",
            "-o",
            "jsonpath={.metadata.annotations.note}"
        ]),
        "hello"
    );

    // replace with a stale resourceVersion: Conflict.
    let stale = yaml.replace("color: blue", "color: red");
    let stale_file = c.file("stale.yaml", &stale);
    let err = c.fails(&["replace", "-f", stale_file.to_str().expect("path")]);
    assert!(err.contains("the object has been modified; please apply your changes to the latest version and try again"), "{err}");
    assert_eq!(
        c.ok(&["get", "cm", "web-config", "-o", "jsonpath={.data.color}"]),
        "blue"
    );

    // Errors a person can act on.
    let err = c.fails(&["get", "cm", "nosuch"]);
    assert!(err.contains(r#"configmaps "nosuch" not found"#), "{err}");
    let bad = c.file(
        "bad.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad_Name\n",
    );
    let err = c.fails(&["create", "-f", bad.to_str().expect("path")]);
    assert!(
        err.contains(
            r#"ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name""#
        ),
        "{err}"
    );

    assert_eq!(
        c.ok(&["delete", "cm", "db-config"]).trim(),
        r#"configmap "db-config" deleted from default namespace"#
    );
    assert_eq!(
        c.ok(&["get", "cm", "-o", "name"]).trim(),
        "configmap/web-config"
    );

    std::thread::sleep(Duration::from_millis(500));
    let _ = watch.kill();
    let _ = watch.wait();
    let events = std::fs::read_to_string(&watch_out).expect("watch output");
    let seen: Vec<(String, String)> = events
        .lines()
        .skip(1)
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            Some((w.next()?.to_string(), w.next()?.to_string()))
        })
        .collect();
    let expect = |kind: &str, name: &str| {
        assert!(
            seen.iter().any(|(k, n)| k == kind && n == name),
            "{kind} {name} not seen in:\n{events}"
        )
    };
    expect("ADDED", "web-config");
    expect("ADDED", "db-config");
    expect("MODIFIED", "web-config");
    expect("DELETED", "db-config");
}
