//! Tests of label selector parsing (kube-apiserver's messages) and matching.
use std::collections::BTreeMap;

use serde_json::json;

use super::*;

const KEY_NAME_MSG: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

#[test]
fn parses_valid_selectors_to_canonical_form() {
    let cases = [
        ("", ""),
        ("  ", ""),
        ("a=b", "a=b"),
        ("a==b", "a==b"),
        ("a!=b", "a!=b"),
        ("a", "a"),
        ("!a", "!a"),
        ("a=", "a="),
        ("a>1,b<2", "a>1,b<2"),
        ("b=2, a = 1", "a=1,b=2"),
        (
            "x in (foo,,baz),y,z notin ()",
            "x in (,baz,foo),y,z notin ()",
        ),
        ("env in (prod, dev)", "env in (dev,prod)"),
        ("a in (,)", "a in ()"),
        (
            "in in (in), notin notin (notin)",
            "in in (in),notin notin (notin)",
        ),
        (
            "app.kubernetes.io/name=web,tier notin (db)",
            "app.kubernetes.io/name=web,tier notin (db)",
        ),
    ];
    for (input, want) in cases {
        let sel = LabelSelector::parse(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
        assert_eq!(sel.to_string(), want, "{input:?}");
    }
    let sel = LabelSelector::parse("a in (x),b").unwrap_or_default();
    assert_eq!(
        sel.requirements()[0],
        Requirement {
            key: "a".into(),
            operator: Operator::In,
            values: vec!["x".into()]
        }
    );
    assert_eq!(sel.requirements()[1].operator, Operator::Exists);
    assert_eq!(sel.requires_exact_match("a"), Some("x"));
    assert_eq!(sel.requires_exact_match("b"), None);
}

#[test]
fn rejects_invalid_selectors_with_kube_messages() {
    let cases: Vec<(&str, String)> = vec![
        ("a b", "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt".into()),
        ("a=b,", "found '', expected: identifier after ','".into()),
        ("a=b c", "found 'c', expected: ',' or 'end of string'".into()),
        ("a=b=c", "found '=', expected: ',' or 'end of string'".into()),
        ("=a", "found '=', expected: !, identifier, or 'end of string'".into()),
        (",a", "found ',', expected: !, identifier, or 'end of string'".into()),
        ("a in (b", "unable to parse requirement: found '', expected: ',' or ')'".into()),
        ("a in b", "unable to parse requirement: found 'b' expected: '('".into()),
        ("a in (b c)", "unable to parse requirement: found 'c', expected: ',' or ')'".into()),
        ("a in (=)", "unable to parse requirement: found '=', expected: ',', ')' or identifier".into()),
        ("a!!b", "unable to parse requirement: found '!', expected: in, notin, =, ==, !=, gt, lt".into()),
        ("!a=b", "found '=', expected: ',' or 'end of string'".into()),
        ("a=(", "unable to parse requirement: found '(', expected: identifier".into()),
        (
            "a+b=c",
            format!("unable to parse requirement: <nil>: Invalid value: \"a+b\": {KEY_NAME_MSG}"),
        ),
        (
            "a=-bad",
            format!("unable to parse requirement: values[0][a]: Invalid value: \"-bad\": {VALUE_MSG}"),
        ),
        (
            "a>x",
            "unable to parse requirement: values[0]: Invalid value: \"x\": for 'Gt', 'Lt' operators, the value must be an integer".into(),
        ),
        (
            "a in (-x,-y)",
            format!(
                "unable to parse requirement: [values[0][a]: Invalid value: \"-x\": {VALUE_MSG}, values[1][a]: Invalid value: \"-y\": {VALUE_MSG}]"
            ),
        ),
    ];
    for (input, want) in cases {
        let err = LabelSelector::parse(input)
            .err()
            .unwrap_or_else(|| panic!("{input:?} parsed"));
        assert_eq!((err.code(), err.reason()), (400, "BadRequest"), "{input:?}");
        assert_eq!(err.message(), want, "{input:?}");
    }
}

#[test]
fn matching() {
    let labels: BTreeMap<String, String> = [("app", "web"), ("tier", "front"), ("n", "5")]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let cases = [
        ("", true),
        ("app=web", true),
        ("app==web", true),
        ("app=db", false),
        ("app!=db", true),
        ("missing!=x", true),
        ("app in (db,web)", true),
        ("app notin (db,web)", false),
        ("missing notin (x)", true),
        ("missing in (x)", false),
        ("app", true),
        ("!app", false),
        ("!missing", true),
        ("app=web,tier=back", false),
        ("n>4", true),
        ("n>5", false),
        ("n<6", true),
        ("app>1", false),
        ("missing>1", false),
        ("missing=", false),
        ("missing in ()", false),
    ];
    for (sel, want) in cases {
        let parsed = LabelSelector::parse(sel).unwrap_or_else(|e| panic!("{sel}: {e}"));
        assert_eq!(parsed.matches(&labels), want, "{sel}");
    }
    let pod = json!({"metadata": {"name": "p", "labels": {"app": "web"}}});
    let bare = json!({"metadata": {"name": "p"}});
    let sel = LabelSelector::parse("app=web").unwrap_or_default();
    assert!(sel.matches_object(&pod));
    assert!(!sel.matches_object(&bare));
    assert!(LabelSelector::parse("!app")
        .unwrap_or_default()
        .matches_object(&bare));
    assert!(LabelSelector::everything().matches_object(&bare));
}
