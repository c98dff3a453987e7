//! A real operator: a small `kopf` operator (Python, from PyPI;
//! `scripts/kopf_operator.py`) runs against `rkube up`. It watches its
//! CustomResource, writes status through the status subresource, holds
//! objects with its finalizer until its deletion handler ran, and posts
//! events. The test drives it with kubectl and checks what it did.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use rkube_e2e::Cluster;
use serde_json::Value;

const CRD: &str = r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: crontabs.stable.example.com
spec:
  group: stable.example.com
  scope: Namespaced
  names: {plural: crontabs, singular: crontab, kind: CronTab, shortNames: [ct]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              cronSpec: {type: string}
              image: {type: string}
              replicas: {type: integer, default: 1}
          status:
            type: object
            x-kubernetes-preserve-unknown-fields: true
"#;

/// The operator process, killed (by pid) when the test ends.
struct Operator(Child);

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn object(c: &Cluster, name: &str) -> Value {
    let out = c.kubectl(&["get", "ct", name, "-o", "json"]);
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

#[test]
fn a_kopf_operator_manages_its_resources() {
    let has_kopf = Command::new("python3")
        .args(["-c", "import kopf, kubernetes"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        has_kopf,
        "python3 -c 'import kopf, kubernetes' failed: this test needs kopf and the Python \
         kubernetes client (scripts/setup.sh installs them)"
    );
    let c = Cluster::up();
    let crd = c.file("crd.yaml", CRD);
    c.ok(&["apply", "-f", crd.to_str().expect("path")]);
    c.ok(&[
        "wait",
        "--for=condition=Established",
        "--timeout=10s",
        "crd/crontabs.stable.example.com",
    ]);

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/kopf_operator.py");
    let log = c.dir.path().join("kopf.log");
    let _operator = Operator(
        Command::new("python3")
            .args([
                "-m",
                "kopf",
                "run",
                "--standalone",
                "--namespace",
                "default",
                "--verbose",
                script,
            ])
            .env("KUBECONFIG", c.kubeconfig())
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).expect("log file"))
            .stderr(std::fs::File::create(c.dir.path().join("kopf.err")).expect("log file"))
            .spawn()
            .expect("start kopf"),
    );
    let kopf_log = || {
        format!(
            "{}{}",
            std::fs::read_to_string(&log).unwrap_or_default(),
            std::fs::read_to_string(c.dir.path().join("kopf.err")).unwrap_or_default()
        )
    };

    let tab = c.file(
        "tab.yaml",
        "apiVersion: stable.example.com/v1\nkind: CronTab\nmetadata: {name: nightly}\nspec: {cronSpec: '0 3 * * *', image: backup:1}\n",
    );
    c.ok(&["apply", "-f", tab.to_str().expect("path")]);
    c.wait_until("status written on create", Duration::from_secs(30), || {
        let o = object(&c, "nightly");
        o["status"]["phase"] == "Created" && o["status"]["created"]["replicas"] == 1
    });
    let o = object(&c, "nightly");
    assert_eq!(o["status"]["observedImage"], "backup:1", "{}", kopf_log());
    let finalizers = o["metadata"]["finalizers"].to_string();
    assert!(
        finalizers.contains("rkube.test/kopf-finalizer"),
        "{finalizers}"
    );
    assert_eq!(
        o["metadata"]["generation"], 1,
        "status writes leave generation alone"
    );

    c.ok(&[
        "patch",
        "ct",
        "nightly",
        "--type=merge",
        "-p",
        r#"{"spec":{"image":"backup:2"}}"#,
    ]);
    c.wait_until("status written on update", Duration::from_secs(30), || {
        let o = object(&c, "nightly");
        o["status"]["phase"] == "Updated" && o["status"]["observedImage"] == "backup:2"
    });
    assert_eq!(object(&c, "nightly")["status"]["previousImage"], "backup:1");

    // The handler's event, on the object (kubectl's event query).
    c.wait_until("the event posted", Duration::from_secs(30), || {
        let ev = c.ok(&[
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=nightly,reason=Scheduled",
            "-o",
            "jsonpath={.items[*].message}",
        ]);
        ev.contains("runs at 0 3 * * *")
    });

    // Delete: the finalizer holds the object until the handler ran.
    c.ok(&["delete", "ct", "nightly", "--timeout=30s"]);
    assert!(
        !c.kubectl(&["get", "ct", "nightly"]).status.success(),
        "the object is gone after its finalizer went"
    );
    let proof = c.ok(&[
        "get",
        "configmap",
        "deleted-nightly",
        "-o",
        "jsonpath={.data.by}",
    ]);
    assert_eq!(proof, "kopf", "{}", kopf_log());
}
