//! CustomResourceDefinitions through kubectl 1.37: a CRD with two served
//! versions, a structural schema (required, enum, pattern, bounds,
//! defaults, pruning), status and scale subresources, printer columns,
//! short names and a category. The CRD becomes Established and appears in
//! discovery; its objects are validated, defaulted and pruned; status and
//! spec are written separately; deleting the CRD deletes its objects.

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
  names:
    plural: crontabs
    singular: crontab
    kind: CronTab
    shortNames: [ct]
    categories: [all]
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
            required: [cronSpec]
            properties:
              cronSpec:
                type: string
                pattern: '^(\d+|\*)(/\d+)?(\s+(\d+|\*)(/\d+)?){4}$'
              image: {type: string}
              replicas: {type: integer, minimum: 1, maximum: 10, default: 1}
              policy: {type: string, enum: [Allow, Forbid], default: Allow}
          status:
            type: object
            properties:
              replicas: {type: integer}
              selector: {type: string}
              phase: {type: string}
    subresources:
      status: {}
      scale:
        specReplicasPath: .spec.replicas
        statusReplicasPath: .status.replicas
        labelSelectorPath: .status.selector
    additionalPrinterColumns:
    - {name: Spec, type: string, jsonPath: .spec.cronSpec}
    - {name: Replicas, type: integer, jsonPath: .spec.replicas}
    - {name: Phase, type: string, jsonPath: .status.phase}
    - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}
  - name: v1beta1
    served: true
    storage: false
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
"#;

const TAB: &str = "apiVersion: stable.example.com/v1
kind: CronTab
metadata:
  name: nightly
spec:
  cronSpec: '0 3 * * *'
  image: backup:1
";

fn json(s: &str) -> Value {
    serde_json::from_str(s).expect("kubectl printed JSON")
}

#[test]
fn a_crd_is_served_validated_and_cleaned_up() {
    let c = Cluster::up();
    let crd = c.file("crd.yaml", CRD);
    c.ok(&["apply", "-f", crd.to_str().expect("path")]);
    c.ok(&[
        "wait",
        "--for=condition=Established",
        "--timeout=10s",
        "crd/crontabs.stable.example.com",
    ]);
    let status = json(&c.ok(&["get", "crd", "crontabs.stable.example.com", "-o", "json"]));
    assert_eq!(status["status"]["acceptedNames"]["kind"], "CronTab");
    assert_eq!(
        status["status"]["storedVersions"],
        serde_json::json!(["v1"])
    );
    let cond = |t: &str| {
        status["status"]["conditions"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["type"] == t))
            .map(|c| c["status"].clone())
    };
    assert_eq!(cond("NamesAccepted"), Some(Value::from("True")));
    assert_eq!(
        status["metadata"]["finalizers"],
        serde_json::json!(["customresourcecleanup.apiextensions.k8s.io"])
    );

    // Discovery: kind, short name, category, both versions.
    let resources = c.ok(&["api-resources", "--api-group=stable.example.com"]);
    assert!(
        resources.contains("crontabs") && resources.contains("ct") && resources.contains("CronTab"),
        "{resources}"
    );
    let versions = c.ok(&["api-versions"]);
    assert!(versions.contains("stable.example.com/v1\n"), "{versions}");
    assert!(
        versions.contains("stable.example.com/v1beta1\n"),
        "{versions}"
    );

    // kubectl explain reads the CRD's schema from the OpenAPI v3 document.
    let explained = c.ok(&["explain", "crontab.spec"]);
    assert!(
        explained.contains("GROUP:      stable.example.com") && explained.contains("cronSpec"),
        "{explained}"
    );

    // Create: defaults filled in, generation 1, no status from the client.
    let tab = c.file("tab.yaml", TAB);
    c.ok(&["apply", "-f", tab.to_str().expect("path")]);
    let got = json(&c.ok(&["get", "ct", "nightly", "-o", "json"]));
    assert_eq!(got["spec"]["replicas"], 1);
    assert_eq!(got["spec"]["policy"], "Allow");
    assert_eq!(got["metadata"]["generation"], 1);

    // Printer columns, through the short name and the `all` category.
    let table = c.ok(&["get", "ct"]);
    let header: Vec<&str> = table
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    assert_eq!(header, vec!["NAME", "SPEC", "REPLICAS", "PHASE", "AGE"]);
    assert!(table.contains("nightly   0 3 * * *   1"), "{table}");
    let all = c.ok(&["get", "all"]);
    assert!(all.contains("crontab.stable.example.com/nightly"), "{all}");

    // Schema validation: 422 with kube-apiserver's field errors.
    let bad = c.file(
        "bad.yaml",
        "apiVersion: stable.example.com/v1
kind: CronTab
metadata: {name: bad}
spec: {cronSpec: 'every day', replicas: 20, policy: Maybe}
",
    );
    let err = c.fails(&["apply", "-f", bad.to_str().expect("path")]);
    assert!(
        err.contains("spec.cronSpec: Invalid value: \"every day\": spec.cronSpec in body should match")
            && err.contains("spec.replicas: Invalid value: 20: spec.replicas in body should be less than or equal to 10")
            && err.contains("spec.policy: Unsupported value: \"Maybe\": supported values: \"Allow\", \"Forbid\""),
        "{err}"
    );
    let missing = c.fails(&[
        "create",
        "-f",
        c.file(
            "missing.yaml",
            "apiVersion: stable.example.com/v1\nkind: CronTab\nmetadata: {name: m}\nspec: {image: x}\n",
        )
        .to_str()
        .expect("path"),
    ]);
    assert!(
        missing.contains("spec.cronSpec: Required value"),
        "{missing}"
    );

    // Unknown fields: refused by kubectl's default (Strict), pruned when
    // validation is off.
    let extra = c.file(
        "extra.yaml",
        "apiVersion: stable.example.com/v1
kind: CronTab
metadata: {name: extra}
spec: {cronSpec: '* * * * *', colour: blue}
",
    );
    let strict = c.fails(&["create", "-f", extra.to_str().expect("path")]);
    assert!(strict.contains("unknown field \"spec.colour\""), "{strict}");
    c.ok(&[
        "create",
        "--validate=false",
        "-f",
        extra.to_str().expect("path"),
    ]);
    let pruned = json(&c.ok(&["get", "ct", "extra", "-o", "json"]));
    assert!(pruned["spec"].get("colour").is_none(), "{pruned}");

    // Status and spec are written separately; generation follows spec.
    c.ok(&[
        "patch",
        "ct",
        "nightly",
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"phase":"Running","replicas":1,"selector":"app=nightly"}}"#,
    ]);
    c.ok(&[
        "patch",
        "ct",
        "nightly",
        "--type=merge",
        "-p",
        r#"{"status":{"phase":"Hacked"},"metadata":{"labels":{"a":"b"}}}"#,
    ]);
    let got = json(&c.ok(&["get", "ct", "nightly", "-o", "json"]));
    assert_eq!(got["status"]["phase"], "Running");
    assert_eq!(got["metadata"]["generation"], 1, "no spec change");
    c.ok(&[
        "patch", "ct", "nightly", "--type=json",
        "-p", r#"[{"op":"test","path":"/spec/image","value":"backup:1"},{"op":"replace","path":"/spec/image","value":"backup:2"}]"#,
    ]);
    let got = json(&c.ok(&["get", "ct", "nightly", "-o", "json"]));
    assert_eq!(got["spec"]["image"], "backup:2");
    assert_eq!(got["metadata"]["generation"], 2);
    let smp = c.fails(&[
        "patch",
        "ct",
        "nightly",
        "--type=strategic",
        "-p",
        r#"{"spec":{"image":"x"}}"#,
    ]);
    assert!(
        smp.contains("UnsupportedMediaType")
            || smp.contains("unknown format")
            || smp.contains("415"),
        "{smp}"
    );

    // Scale subresource.
    c.ok(&["scale", "ct", "nightly", "--replicas=5"]);
    let scale = json(&c.ok(&[
        "get",
        "--raw",
        "/apis/stable.example.com/v1/namespaces/default/crontabs/nightly/scale",
    ]));
    assert_eq!(scale["spec"]["replicas"], 5);
    assert_eq!(scale["status"]["selector"], "app=nightly");

    // The other served version shows the same object under its apiVersion.
    let beta = json(&c.ok(&[
        "get",
        "crontabs.v1beta1.stable.example.com",
        "nightly",
        "-o",
        "json",
    ]));
    assert_eq!(beta["apiVersion"], "stable.example.com/v1beta1");
    assert_eq!(beta["spec"]["replicas"], 5);

    // Deleting the CRD deletes its objects, then the CRD and its API.
    c.ok(&[
        "delete",
        "crd",
        "crontabs.stable.example.com",
        "--timeout=20s",
    ]);
    c.wait_until("the CRD is gone", Duration::from_secs(10), || {
        !c.kubectl(&["get", "crd", "crontabs.stable.example.com"])
            .status
            .success()
    });
    let raw = c.kubectl(&["get", "--raw", "/apis/stable.example.com/v1/crontabs"]);
    assert!(!raw.status.success(), "the API is gone");
    c.ok(&["apply", "-f", crd.to_str().expect("path")]);
    c.ok(&[
        "wait",
        "--for=condition=Established",
        "--timeout=10s",
        "crd/crontabs.stable.example.com",
    ]);
    let left = c.ok(&["get", "ct", "-A", "-o", "name"]);
    assert_eq!(left.trim(), "", "objects of the deleted CRD are gone");
}

#[test]
fn conflicting_crd_names_are_not_accepted() {
    let c = Cluster::up();
    let crd = c.file("crd.yaml", CRD);
    c.ok(&["apply", "-f", crd.to_str().expect("path")]);
    let clash = CRD
        .replace("crontabs.stable.example.com", "crontabz.stable.example.com")
        .replace("plural: crontabs", "plural: crontabz")
        .replace("singular: crontab", "singular: crontabz");
    let clash = c.file("clash.yaml", &clash);
    c.ok(&["apply", "-f", clash.to_str().expect("path")]);
    c.wait_until("the clash is reported", Duration::from_secs(10), || {
        let s = c.ok(&["get", "crd", "crontabz.stable.example.com", "-o", "json"]);
        let v = json(&s);
        v["status"]["conditions"].as_array().is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "NamesAccepted" && c["status"] == "False")
        })
    });
    let raw = c.kubectl(&["get", "--raw", "/apis/stable.example.com/v1/crontabz"]);
    assert!(
        !raw.status.success(),
        "a CRD whose names clash is not served"
    );
    let err = c.fails(&[
        "create",
        "-f",
        c.file(
            "badcrd.yaml",
            "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: wrong.example.com}\nspec:\n  group: example.com\n  scope: Galaxy\n  names: {plural: things, kind: Thing}\n  versions: []\n",
        )
        .to_str()
        .expect("path"),
    ]);
    assert!(
        err.contains("metadata.name: Invalid value: \"wrong.example.com\"")
            && err.contains("spec.scope: Unsupported value: \"Galaxy\""),
        "{err}"
    );
}

const RULED_CRD: &str = r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: scalers.ruled.example.com
spec:
  group: ruled.example.com
  scope: Namespaced
  names: {plural: scalers, singular: scaler, kind: Scaler}
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
            x-kubernetes-validations:
            - rule: self.minReplicas <= self.replicas
              message: replicas must not be below minReplicas
            - rule: self.replicas <= self.maxReplicas
              messageExpression: "'replicas ' + string(self.replicas) + ' is above maxReplicas ' + string(self.maxReplicas)"
            - rule: self.storageClass == oldSelf.storageClass
              message: storageClass is immutable
            properties:
              replicas: {type: integer}
              minReplicas: {type: integer}
              maxReplicas: {type: integer}
              storageClass: {type: string}
              owner:
                type: string
                x-kubernetes-validations:
                - rule: self.matches('^[a-z]+@example\\.com$')
                  reason: FieldValueForbidden
                  message: owner must be an example.com address
"#;

/// `x-kubernetes-validations`: CEL rules refuse bad objects with
/// kube-apiserver's messages, transition rules (`oldSelf`) guard updates,
/// and a rule that does not compile refuses the CRD.
#[test]
fn cel_validation_rules_are_enforced() {
    let c = Cluster::up();
    let crd = c.file("ruled.yaml", RULED_CRD);
    c.ok(&["apply", "-f", crd.to_str().expect("path")]);
    c.ok(&[
        "wait",
        "--for=condition=Established",
        "--timeout=10s",
        "crd/scalers.ruled.example.com",
    ]);
    let scaler = |replicas: i64, class: &str, owner: &str| {
        format!(
            "apiVersion: ruled.example.com/v1\nkind: Scaler\nmetadata: {{name: web}}\nspec:\n  replicas: {replicas}\n  minReplicas: 2\n  maxReplicas: 5\n  storageClass: {class}\n  owner: {owner}\n"
        )
    };
    let file = c.file("s.yaml", &scaler(7, "fast", "Bob@elsewhere.org"));
    let err = c.fails(&["apply", "-f", file.to_str().expect("path")]);
    assert!(
        err.contains("The Scaler \"web\" is invalid")
            && err.contains("spec: Invalid value: \"object\": replicas 7 is above maxReplicas 5")
            && err.contains("spec.owner: Forbidden: owner must be an example.com address"),
        "{err}"
    );
    let file = c.file("s.yaml", &scaler(1, "fast", "bob@example.com"));
    let err = c.fails(&["apply", "-f", file.to_str().expect("path")]);
    assert!(
        err.contains("spec: Invalid value: \"object\": replicas must not be below minReplicas"),
        "{err}"
    );
    // Valid: created. The transition rule did not run (no old object).
    let file = c.file("s.yaml", &scaler(3, "fast", "bob@example.com"));
    c.ok(&["apply", "-f", file.to_str().expect("path")]);
    // An update may change replicas but not the storage class.
    c.ok(&[
        "patch",
        "scaler",
        "web",
        "--type=merge",
        "-p",
        r#"{"spec":{"replicas":4}}"#,
    ]);
    let err = c.fails(&[
        "patch",
        "scaler",
        "web",
        "--type=merge",
        "-p",
        r#"{"spec":{"storageClass":"slow"}}"#,
    ]);
    assert!(
        err.contains("spec: Invalid value: \"object\": storageClass is immutable"),
        "{err}"
    );
    let got = json(&c.ok(&["get", "scaler", "web", "-o", "json"]));
    assert_eq!(got["spec"]["replicas"], 4);
    assert_eq!(got["spec"]["storageClass"], "fast");

    // A rule that does not compile: the CRD itself is refused.
    let broken = RULED_CRD
        .replace("scalers.ruled", "brokens.ruled")
        .replace(
            "plural: scalers, singular: scaler, kind: Scaler",
            "plural: brokens, singular: broken, kind: Broken",
        )
        .replace("self.minReplicas <= self.replicas", "self.minReplicas <=");
    let file = c.file("broken.yaml", &broken);
    let err = c.fails(&["apply", "-f", file.to_str().expect("path")]);
    assert!(
        err.contains("x-kubernetes-validations[0].rule: Invalid value: \"self.minReplicas <=\": compilation failed"),
        "{err}"
    );
}
