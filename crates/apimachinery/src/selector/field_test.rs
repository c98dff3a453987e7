//! Tests of field selector parsing, per-kind field labels and matching.
use serde_json::json;

use super::*;

/// `(field, op, value)` as parsed.
type Term<'a> = (&'a str, FieldOp, &'a str);

#[test]
fn parses_terms() {
    let cases: Vec<(&str, Vec<Term>)> = vec![
        ("", vec![]),
        (",", vec![]),
        (
            "metadata.name=foo",
            vec![("metadata.name", FieldOp::Equals, "foo")],
        ),
        (
            "status.phase!=Running,metadata.name==foo",
            vec![
                ("metadata.name", FieldOp::Equals, "foo"),
                ("status.phase", FieldOp::NotEquals, "Running"),
            ],
        ),
        ("a=", vec![("a", FieldOp::Equals, "")]),
        ("a=b\\,c", vec![("a", FieldOp::Equals, "b,c")]),
        ("a=b\\=c\\\\", vec![("a", FieldOp::Equals, "b=c\\")]),
        ("=x", vec![("", FieldOp::Equals, "x")]),
    ];
    for (input, want) in cases {
        let sel = FieldSelector::parse(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
        let got: Vec<Term> = sel
            .terms()
            .iter()
            .map(|t| (t.field.as_str(), t.op, t.value.as_str()))
            .collect();
        assert_eq!(got, want, "{input:?}");
    }
    let sel = FieldSelector::parse("a=b\\,c,x!=y").unwrap_or_default();
    assert_eq!(sel.to_string(), "a=b\\,c,x!=y");
    assert_eq!(sel.requires_exact_match("a"), Some("b,c"));
    assert_eq!(sel.requires_exact_match("x"), None);
}

#[test]
fn rejects_bad_syntax() {
    let cases = [
        ("foo", "invalid selector: 'foo'; can't understand 'foo'"),
        (
            "a=b,foo",
            "invalid selector: 'a=b,foo'; can't understand 'foo'",
        ),
        (
            "a=b=c",
            "invalid field selector: unescaped character in value: 61",
        ),
        (
            "a=b\\x",
            "invalid field selector: invalid escape sequence: \\x",
        ),
        (
            "a=b\\",
            "invalid field selector: invalid escape sequence: \\",
        ),
    ];
    for (input, want) in cases {
        let err = FieldSelector::parse(input)
            .err()
            .unwrap_or_else(|| panic!("{input:?} parsed"));
        assert_eq!(
            (err.code(), err.reason(), err.message().as_str()),
            (400, "BadRequest", want),
            "{input:?}"
        );
    }
}

#[test]
fn field_labels_per_kind() {
    let ok = [
        ("", "Pod", "spec.nodeName", "spec.nodeName"),
        ("", "Pod", "spec.host", "spec.nodeName"),
        ("", "Pod", "status.phase", "status.phase"),
        ("", "Event", "involvedObject.uid", "involvedObject.uid"),
        ("events.k8s.io", "Event", "reason", "reason"),
        ("", "Secret", "type", "type"),
        ("", "Node", "spec.unschedulable", "spec.unschedulable"),
        ("", "Namespace", "status.phase", "status.phase"),
        ("apps", "ReplicaSet", "status.replicas", "status.replicas"),
        ("batch", "Job", "status.successful", "status.successful"),
        ("", "ConfigMap", "metadata.namespace", "metadata.namespace"),
        ("apps", "Deployment", "metadata.name", "metadata.name"),
    ];
    for (group, kind, label, want) in ok {
        assert_eq!(
            convert_field_label(group, kind, label).ok().as_deref(),
            Some(want),
            "{kind} {label}"
        );
    }
    let bad = [
        ("", "Pod", "spec.foo", "field label not supported: spec.foo"),
        ("", "Node", "metadata.namespace", "field label not supported: metadata.namespace"),
        ("", "Namespace", "metadata.namespace", "field label not supported: metadata.namespace"),
        ("", "Event", "", "field label not supported: "),
        (
            "",
            "ConfigMap",
            "data.x",
            "\"data.x\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\"",
        ),
    ];
    for (group, kind, label, want) in bad {
        let err = convert_field_label(group, kind, label)
            .err()
            .map(|e| (e.code(), e.message()));
        assert_eq!(err, Some((400, want.to_string())), "{kind} {label}");
    }
    let sel = FieldSelector::parse("spec.host=n1").and_then(|s| s.for_kind("", "Pod"));
    assert_eq!(
        sel.ok().map(|s| s.to_string()).as_deref(),
        Some("spec.nodeName=n1")
    );
    assert!(FieldSelector::parse("spec.x=1")
        .and_then(|s| s.for_kind("", "Pod"))
        .is_err());
    assert_eq!(
        supported_field_labels("", "ConfigMap"),
        ["metadata.name", "metadata.namespace"]
    );
    assert!(supported_field_labels("", "Pod").contains(&"status.nominatedNodeName"));
}

#[test]
fn matches_objects_like_kube_apiserver() {
    let pod = json!({
        "metadata": {"name": "p1", "namespace": "default"},
        "spec": {"nodeName": "n1", "restartPolicy": "Always"},
        "status": {"phase": "Running", "podIPs": [{"ip": "10.0.0.5"}]}
    });
    let node = json!({"metadata": {"name": "n1"}, "spec": {}});
    let job = json!({"metadata": {"name": "j", "namespace": "d"}, "status": {"succeeded": 2}});
    let rs = json!({"metadata": {"name": "r", "namespace": "d"}, "status": {}});
    let event = json!({"metadata": {"name": "e", "namespace": "d"}, "involvedObject": {"kind": "Pod", "name": "p1"},
                       "reason": "Started", "source": {}, "reportingComponent": "kubelet", "type": "Normal"});
    let ev1 = json!({"metadata": {"name": "e", "namespace": "d"}, "regarding": {"kind": "Pod", "name": "p1"},
                     "reason": "Started", "reportingController": "kubelet", "type": "Normal"});
    let cases: Vec<(&str, &str, &serde_json::Value, &str, bool)> = vec![
        ("", "Pod", &pod, "metadata.name=p1", true),
        ("", "Pod", &pod, "metadata.name=p2", false),
        (
            "",
            "Pod",
            &pod,
            "metadata.namespace=default,spec.nodeName=n1",
            true,
        ),
        ("", "Pod", &pod, "spec.nodeName!=n1", false),
        ("", "Pod", &pod, "spec.nodeName!=", true),
        ("", "Pod", &pod, "spec.hostNetwork=false", true),
        ("", "Pod", &pod, "status.podIP=10.0.0.5", true),
        ("", "Pod", &pod, "spec.schedulerName=", true),
        ("", "Pod", &pod, "status.phase=Running", true),
        ("", "Node", &node, "spec.unschedulable=false", true),
        ("batch", "Job", &job, "status.successful=2", true),
        ("apps", "ReplicaSet", &rs, "status.replicas=0", true),
        (
            "",
            "Event",
            &event,
            "involvedObject.kind=Pod,involvedObject.name=p1,reason=Started",
            true,
        ),
        ("", "Event", &event, "source=kubelet", true),
        ("", "Event", &event, "involvedObject.uid=", true),
        (
            "events.k8s.io",
            "Event",
            &ev1,
            "involvedObject.name=p1,source=kubelet,reportingComponent=kubelet",
            true,
        ),
        ("events.k8s.io", "Event", &ev1, "type=Warning", false),
    ];
    for (group, kind, obj, sel, want) in cases {
        let parsed = FieldSelector::parse(sel).and_then(|s| s.for_kind(group, kind));
        let parsed = parsed.unwrap_or_else(|e| panic!("{sel}: {e}"));
        assert_eq!(
            parsed.matches_object(group, kind, obj),
            want,
            "{kind} {sel}"
        );
    }
    assert!(FieldSelector::everything().matches_object("", "Pod", &pod));
    assert!(FieldSelector::equals("metadata.name", "p1").matches_object("", "Pod", &pod));
    assert_eq!(
        field_value(
            "example.com",
            "Widget",
            &json!({"spec": {"size": 3, "on": true}}),
            "spec.size"
        ),
        "3"
    );
    assert_eq!(
        field_value(
            "example.com",
            "Widget",
            &json!({"spec": {"size": 3, "on": true}}),
            "spec.on"
        ),
        "true"
    );
}
