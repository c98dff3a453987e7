//! Tests of name and metadata validation: exact kube-apiserver messages.
use super::*;
use serde_json::json;

const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1035_MSG: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";
const KEY_NAME_MSG: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

#[test]
fn dns1123_subdomain() {
    let long = "a".repeat(254);
    let cases: Vec<(&str, Vec<String>)> = vec![
        ("example.com", vec![]),
        ("a", vec![]),
        ("0-a.b-1", vec![]),
        (&long[..253], vec![]),
        ("", vec![SUBDOMAIN_MSG.into()]),
        ("Foo", vec![SUBDOMAIN_MSG.into()]),
        ("-a", vec![SUBDOMAIN_MSG.into()]),
        ("a-", vec![SUBDOMAIN_MSG.into()]),
        ("a..b", vec![SUBDOMAIN_MSG.into()]),
        ("a_b", vec![SUBDOMAIN_MSG.into()]),
        ("ü", vec![SUBDOMAIN_MSG.into()]),
        (&long, vec!["must be no more than 253 characters".into()]),
    ];
    for (input, want) in cases {
        assert_eq!(is_dns1123_subdomain(input), want, "{input:?}");
    }
}

#[test]
fn dns1123_and_dns1035_labels() {
    let long = "a".repeat(64);
    assert!(is_dns1123_label("my-name").is_empty());
    assert!(is_dns1123_label("123-abc").is_empty());
    assert_eq!(is_dns1123_label("a.b"), ["must not contain dots"]);
    assert_eq!(is_dns1123_label("A"), [LABEL_MSG]);
    assert_eq!(is_dns1123_label(""), [LABEL_MSG]);
    assert_eq!(
        is_dns1123_label(&long),
        ["must be no more than 63 characters"]
    );
    assert!(is_dns1035_label("my-name").is_empty());
    assert_eq!(is_dns1035_label("1abc"), [DNS1035_MSG]);
    assert_eq!(is_dns1035_label("a.b"), [DNS1035_MSG]);
}

#[test]
fn qualified_names_and_label_values() {
    let long_name = "a".repeat(64);
    let cases: Vec<(String, Vec<String>)> = vec![
        ("app".into(), vec![]),
        ("app.kubernetes.io/name".into(), vec![]),
        ("My.Name_1".into(), vec![]),
        ("/name".into(), vec!["prefix part must be non-empty".into()]),
        ("example.com/".into(), vec!["name part must be non-empty".into(), KEY_NAME_MSG.into()]),
        ("-bad".into(), vec![KEY_NAME_MSG.into()]),
        (long_name.clone(), vec!["name part must be no more than 63 bytes".into()]),
        ("Example.com/x".into(), vec![format!("prefix part {SUBDOMAIN_MSG}")]),
        (
            "a/b/c".into(),
            vec!["a valid label key must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')".into()],
        ),
    ];
    for (input, want) in cases {
        assert_eq!(is_qualified_name(&input), want, "{input:?}");
    }
    assert!(is_label_value("").is_empty());
    assert!(is_label_value("v1.2_3-x").is_empty());
    assert_eq!(is_label_value("bad value"), [VALUE_MSG]);
    assert_eq!(
        is_label_value(&long_name),
        ["must be no more than 63 bytes"]
    );
}

#[test]
fn path_segments_and_name_rules() {
    assert_eq!(is_path_segment_name("."), ["may not be '.'"]);
    assert_eq!(is_path_segment_name(".."), ["may not be '..'"]);
    assert_eq!(
        is_path_segment_name("a/b%c"),
        ["may not contain '/'", "may not contain '%'"]
    );
    assert!(is_path_segment_name("system:controller:foo").is_empty());
    assert!(is_path_segment_prefix("..").is_empty());

    let cases = [
        ("", "namespaces", NameRule::Dns1123Label),
        ("", "services", NameRule::Dns1035Label),
        ("", "pods", NameRule::Dns1123Subdomain),
        ("", "configmaps", NameRule::Dns1123Subdomain),
        ("apps", "statefulsets", NameRule::Dns1123Label),
        ("apps", "deployments", NameRule::Dns1123Subdomain),
        (
            "rbac.authorization.k8s.io",
            "clusterroles",
            NameRule::PathSegment,
        ),
        ("example.com", "widgets", NameRule::Dns1123Subdomain),
    ];
    for (group, resource, rule) in cases {
        assert_eq!(name_rule(group, resource), rule, "{group}/{resource}");
    }
    // Prefixes may end in a dash; upstream's mask drops two bytes and adds 'a'.
    assert!(NameRule::Dns1123Subdomain.check("web-", true).is_empty());
    assert!(NameRule::Dns1123Label.check("web-", true).is_empty());
    assert!(!NameRule::Dns1123Subdomain.check("web-", false).is_empty());
    assert!(NameRule::Dns1035Label.check("a-", true).is_empty());
    assert!(NameRule::PathSegment.check("..", true).is_empty());
    assert_eq!(
        NameRule::PathSegment.check("..", false),
        ["may not be '..'"]
    );
}

#[test]
fn generate_name_suffix() {
    let mut i = 0;
    let name = generate_name("web-", |n| {
        i += 1;
        (i * 7) % n
    });
    assert_eq!(name.len(), 9);
    assert!(name.starts_with("web-"));
    assert!(name[4..]
        .bytes()
        .all(|c| GENERATE_NAME_ALPHABET.contains(&c)));
    assert_eq!(generate_name("x-", |_| 0), "x-bbbbb");
    assert_eq!(generate_name("x-", |n| n + 1), "x-ccccc"); // taken modulo n
    let long = "a".repeat(100);
    assert_eq!(generate_name(&long, |_| 26).len(), 63);
    assert!(generate_name(&long, |_| 26).ends_with("aaaa99999"));
    // Cut on a character boundary.
    let uni = format!("{}é", "a".repeat(57));
    assert_eq!(
        generate_name(&uni, |_| 0),
        format!("{}bbbbb", "a".repeat(57))
    );

    let mut meta = json!({"generateName": "job-"});
    assert_eq!(
        apply_generate_name(&mut meta, |_| 1).as_deref(),
        Some("job-ccccc")
    );
    assert_eq!(meta["name"], "job-ccccc");
    let mut named = json!({"name": "fixed", "generateName": "job-"});
    assert_eq!(apply_generate_name(&mut named, |_| 1), None);
    assert_eq!(named["name"], "fixed");
    assert_eq!(apply_generate_name(&mut json!({}), |_| 1), None);
}

fn messages(causes: &[Cause]) -> Vec<String> {
    causes.iter().map(Cause::to_string).collect()
}

#[test]
fn object_meta_on_create() {
    let cases: Vec<(Value, bool, NameRule, Vec<String>)> = vec![
        (json!({"name": "web", "namespace": "default"}), true, NameRule::Dns1123Subdomain, vec![]),
        (
            json!({"namespace": "default"}),
            true,
            NameRule::Dns1123Subdomain,
            vec!["metadata.name: Required value: name or generateName is required".into()],
        ),
        (
            json!({"name": "Web", "namespace": "default"}),
            true,
            NameRule::Dns1123Subdomain,
            vec![format!("metadata.name: Invalid value: \"Web\": {SUBDOMAIN_MSG}")],
        ),
        (json!({"name": "web"}), true, NameRule::Dns1123Subdomain, vec!["metadata.namespace: Required value".into()]),
        (
            json!({"name": "n1", "namespace": "x"}),
            false,
            NameRule::Dns1123Label,
            vec!["metadata.namespace: Forbidden: not allowed on this type".into()],
        ),
        (
            json!({"name": "a.b"}),
            false,
            NameRule::Dns1123Label,
            vec!["metadata.name: Invalid value: \"a.b\": must not contain dots".into()],
        ),
        (
            json!({"name": "web", "namespace": "default", "generateName": "Web-"}),
            true,
            NameRule::Dns1123Subdomain,
            vec![format!("metadata.generateName: Invalid value: \"Web-\": {SUBDOMAIN_MSG}")],
        ),
        (
            json!({"name": "web", "namespace": "default", "labels": {"ok": "yes", "bad key!": "bad value"}}),
            true,
            NameRule::Dns1123Subdomain,
            vec![
                format!("metadata.labels: Invalid value: \"bad key!\": {KEY_NAME_MSG}"),
                format!("metadata.labels: Invalid value: \"bad value\": {VALUE_MSG}"),
            ],
        ),
        (
            json!({"name": "web", "namespace": "default", "annotations": {"Example.COM/Key": "ok"}, "generation": -1}),
            true,
            NameRule::Dns1123Subdomain,
            vec!["metadata.generation: Invalid value: -1: must be greater than or equal to 0".into()],
        ),
        (
            json!({"name": "web", "namespace": "default", "finalizers": ["orphan", "foregroundDeletion", "a/b/c"]}),
            true,
            NameRule::Dns1123Subdomain,
            vec![
                "metadata.finalizers: Invalid value: \"a/b/c\": a valid label key must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')".into(),
                "metadata.finalizers: Invalid value: []string{\"orphan\", \"foregroundDeletion\", \"a/b/c\"}: finalizer orphan and foregroundDeletion cannot be both set".into(),
            ],
        ),
        (
            // keys in sorted order so the rendered value does not depend on
            // serde_json's map ordering feature
            json!({"name": "web", "namespace": "default", "ownerReferences": [
                {"apiVersion": "apps/v1", "controller": true, "kind": "ReplicaSet", "name": "a", "uid": "1"},
                {"apiVersion": "a/b/c", "controller": true, "kind": "ReplicaSet", "name": "b", "uid": "2"},
                {"kind": "X"}
            ]}),
            true,
            NameRule::Dns1123Subdomain,
            vec![
                "metadata.ownerReferences[1].apiVersion: Invalid value: \"a/b/c\": must be <group>/<version> or <version>".into(),
                "metadata.ownerReferences: Invalid value: [{\"apiVersion\":\"apps/v1\",\"controller\":true,\"kind\":\"ReplicaSet\",\"name\":\"a\",\"uid\":\"1\"},{\"apiVersion\":\"a/b/c\",\"controller\":true,\"kind\":\"ReplicaSet\",\"name\":\"b\",\"uid\":\"2\"},{\"kind\":\"X\"}]: Only one reference can have Controller set to true. Found \"true\" in references for ReplicaSet/a and ReplicaSet/b".into(),
                "metadata.ownerReferences[2].apiVersion: Required value: must not be empty".into(),
                "metadata.ownerReferences[2].name: Required value: must not be empty".into(),
                "metadata.ownerReferences[2].uid: Required value: must not be empty".into(),
            ],
        ),
    ];
    for (meta, namespaced, rule, want) in cases {
        assert_eq!(
            messages(&validate_object_meta(&meta, namespaced, rule)),
            want,
            "{meta}"
        );
    }
}

#[test]
fn annotation_size_limit() {
    let big = "x".repeat(TOTAL_ANNOTATION_SIZE_LIMIT);
    let ok = json!({"k": "x".repeat(TOTAL_ANNOTATION_SIZE_LIMIT - 1)});
    assert!(validate_annotations(Some(&ok), "metadata.annotations").is_empty());
    let over = json!({"k": big});
    assert_eq!(
        messages(&validate_annotations(Some(&over), "metadata.annotations")),
        ["metadata.annotations: Too long: may not be more than 262144 bytes"]
    );
    let not_strings = json!({"k": 1});
    assert_eq!(
        messages(&validate_labels(Some(&not_strings), "metadata.labels")),
        ["metadata.labels[k]: Invalid value: 1: must be a string"]
    );
}

#[test]
fn create_meta_per_resource() {
    let svc = json!({"name": "1web", "namespace": "default"});
    assert_eq!(
        messages(&validate_create_meta("", "services", true, &svc)),
        [format!(
            "metadata.name: Invalid value: \"1web\": {DNS1035_MSG}"
        )]
    );
    let cj = json!({"name": "c".repeat(53), "namespace": "default"});
    assert_eq!(
        messages(&validate_create_meta("batch", "cronjobs", true, &cj)),
        [format!(
            "metadata.name: Invalid value: \"{}\": must be no more than 52 characters",
            "c".repeat(53)
        )]
    );
    let role = json!({"name": "system:leader-locking", "namespace": "kube-system"});
    assert!(validate_create_meta("rbac.authorization.k8s.io", "roles", true, &role).is_empty());
}

#[test]
fn object_meta_on_update() {
    let old = json!({"name": "a", "namespace": "ns", "uid": "u1", "resourceVersion": "5", "generation": 3,
                     "creationTimestamp": "2024-01-01T00:00:00Z"});
    let mut same = old.clone();
    same["labels"] = json!({"x": "y"});
    assert!(validate_object_meta_update(&same, &old).is_empty());

    let new = json!({"name": "b", "namespace": "ns", "uid": "u2", "generation": 2,
                     "creationTimestamp": "2024-01-01T00:00:00Z"});
    assert_eq!(
        messages(&validate_object_meta_update(&new, &old)),
        [
            "metadata.resourceVersion: Invalid value: \"\": must be specified for an update",
            "metadata.generation: Invalid value: 2: must not be decremented",
            "metadata.name: Invalid value: \"b\": field is immutable",
            "metadata.uid: Invalid value: \"u2\": field is immutable",
        ]
    );

    let deleting = json!({"name": "a", "resourceVersion": "5", "deletionTimestamp": "2024-01-01T00:00:00Z",
                          "finalizers": ["keep"]});
    let mut adds = deleting.clone();
    adds["finalizers"] = json!(["keep", "new.example.com/f", "another"]);
    assert_eq!(
        messages(&validate_object_meta_update(&adds, &deleting)),
        ["metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{\"another\", \"new.example.com/f\"}"]
    );
}
