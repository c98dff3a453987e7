//! Replacing objects a client kept without their resourceVersion
//! (package managers keep release records in Secrets and ConfigMaps this
//! way and PUT them without reading first): an unconditional update,
//! accepted for the kinds whose strategy allows it, as kube-apiserver
//! does, and refused for custom resources with kube-apiserver's message.
//! `kubectl replace -f` fills in the live resourceVersion itself when the
//! file has none; `kubectl replace --raw` sends the file as it is, as
//! those clients do.

use std::time::Duration;

use rkube_e2e::Cluster;
use serde_json::Value;

/// The object kubectl printed as JSON, without its resourceVersion, with
/// `change` applied.
fn without_resource_version(json: &str, change: impl FnOnce(&mut Value)) -> String {
    let mut obj: Value = serde_json::from_str(json).expect("kubectl printed JSON");
    let meta = obj["metadata"].as_object_mut().expect("metadata");
    assert!(meta.remove("resourceVersion").is_some(), "{json}");
    change(&mut obj);
    obj.to_string()
}

const WIDGET_CRD: &str = r#"apiVersion: apiextensions.k8s.io/v1
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
        properties:
          spec:
            type: object
            properties:
              size: {type: string}
"#;

#[test]
fn replace_without_a_resource_version() {
    let c = Cluster::up();

    // A ConfigMap and a Secret, replaced from what was read minus the
    // resourceVersion: both replaced, the new data stored.
    c.ok(&[
        "create",
        "configmap",
        "release",
        "--from-literal=state=pending",
    ]);
    c.ok(&[
        "create",
        "secret",
        "generic",
        "record",
        "--from-literal=v=1",
    ]);
    let cm = c.ok(&["get", "configmap", "release", "-o", "json"]);
    let cm = without_resource_version(&cm, |o| o["data"]["state"] = "deployed".into());
    let cm_file = c.file("cm.json", &cm);
    let replaced = c.ok(&[
        "replace",
        "--raw",
        "/api/v1/namespaces/default/configmaps/release",
        "-f",
        cm_file.to_str().expect("path"),
    ]);
    assert!(replaced.contains(r#""state":"deployed""#), "{replaced}");
    assert_eq!(
        c.ok(&["get", "cm", "release", "-o", "jsonpath={.data.state}"]),
        "deployed"
    );
    let secret = c.ok(&["get", "secret", "record", "-o", "json"]);
    // "Mg==" is "2".
    let secret = without_resource_version(&secret, |o| o["data"]["v"] = "Mg==".into());
    let secret_file = c.file("secret.json", &secret);
    c.ok(&[
        "replace",
        "--raw",
        "/api/v1/namespaces/default/secrets/record",
        "-f",
        secret_file.to_str().expect("path"),
    ]);
    assert_eq!(
        c.ok(&["get", "secret", "record", "-o", "jsonpath={.data.v}"]),
        "Mg=="
    );
    // The everyday form still works (kubectl reads the version itself).
    let cm = c.ok(&["get", "configmap", "release", "-o", "json"]);
    let cm = without_resource_version(&cm, |o| o["data"]["state"] = "superseded".into());
    let cm_file = c.file("cm2.json", &cm);
    assert_eq!(
        c.ok(&["replace", "-f", cm_file.to_str().expect("path")])
            .trim(),
        "configmap/release replaced"
    );

    // A custom resource must name the version it replaces (kubectl words
    // kube-apiserver's Status, whose kind is the resource, as
    // `The widgets "w1" is invalid`).
    let crd = c.file("crd.yaml", WIDGET_CRD);
    c.ok(&["apply", "-f", crd.to_str().expect("path")]);
    c.ok(&[
        "wait",
        "--for=condition=Established",
        "crd/widgets.example.com",
        "--timeout=30s",
    ]);
    let widget =
        "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w1\nspec:\n  size: small\n";
    let widget_file = c.file("widget.yaml", widget);
    let widget_path = widget_file.to_str().expect("path");
    c.wait_until("widgets are served", Duration::from_secs(10), || {
        c.kubectl(&["create", "-f", widget_path]).status.success()
    });
    let read = c.ok(&["get", "widget", "w1", "-o", "json"]);
    let changed = without_resource_version(&read, |o| o["spec"]["size"] = "large".into());
    let changed_file = c.file("widget-changed.json", &changed);
    let err = c.fails(&[
        "replace",
        "--raw",
        "/apis/example.com/v1/namespaces/default/widgets/w1",
        "-f",
        changed_file.to_str().expect("path"),
    ]);
    assert!(
        err.contains(
            r#"The widgets "w1" is invalid: metadata.resourceVersion: Invalid value: 0: must be specified for an update"#
        ),
        "{err}"
    );
    assert_eq!(
        c.ok(&["get", "widget", "w1", "-o", "jsonpath={.spec.size}"]),
        "small"
    );
}
