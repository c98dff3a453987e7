//! Properties of the pure patch and schema code:
//! - a strategic merge patch computed as the JSON merge diff of two
//!   objects (no lists, so SMP and RFC 7386 agree) turns the first into
//!   the second: `apply(a, diff(a, b)) == b`;
//! - structural schemas of any shape parse, and validating, pruning and
//!   defaulting any value against them never panics (a fuzz target, short
//!   in CI; `PROPTEST_CASES=100000` for a long run).

use proptest::prelude::*;
use rkube_apimachinery::crd::schema;
use rkube_apimachinery::strategic;
use serde_json::{json, Map, Value};

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<bool>().prop_map(Value::Bool),
        (-5i64..5).prop_map(Value::from),
        "[a-z]{0,4}".prop_map(Value::String),
    ]
}

/// Objects of objects and scalars (no lists, no nulls).
fn object() -> impl Strategy<Value = Value> {
    scalar()
        .prop_recursive(3, 24, 4, |inner| {
            prop::collection::btree_map("[a-d]", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect()))
        })
        .prop_map(|v| if v.is_object() { v } else { json!({"x": v}) })
}

/// The RFC 7386 patch taking `a` to `b`.
fn merge_diff(a: &Value, b: &Value) -> Value {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            let mut out = Map::new();
            for (k, av) in a {
                match b.get(k) {
                    None => {
                        out.insert(k.clone(), Value::Null);
                    }
                    Some(bv) if bv != av => {
                        out.insert(k.clone(), merge_diff(av, bv));
                    }
                    Some(_) => {}
                }
            }
            for (k, bv) in b {
                if !a.contains_key(k) {
                    out.insert(k.clone(), bv.clone());
                }
            }
            Value::Object(out)
        }
        _ => b.clone(),
    }
}

fn schema_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(json!({"type": "string"})),
        Just(json!({"type": "integer", "minimum": 0, "maximum": 3})),
        Just(json!({"type": "number", "multipleOf": 0.5})),
        Just(json!({"type": "boolean"})),
        Just(json!({"type": "string", "enum": ["a", "b"], "default": "a"})),
        Just(json!({"type": "string", "pattern": "^[a-c]+$", "maxLength": 3})),
        Just(json!({"x-kubernetes-int-or-string": true})),
        Just(json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true})),
        Just(json!({"type": "bogus"})),
        Just(json!({"pattern": "("})),
    ];
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            (
                prop::collection::btree_map("[a-d]", inner.clone(), 0..4),
                any::<bool>()
            )
                .prop_map(|(props, required)| {
                    let keys: Vec<String> = props.keys().cloned().collect();
                    let mut s = json!({"type": "object", "properties": props});
                    if required && !keys.is_empty() {
                        s["required"] = json!([keys[0]]);
                    }
                    s
                }),
            (
                inner.clone(),
                prop::sample::select(&["atomic", "set", "map", "x"][..])
            )
                .prop_map(
                    |(items, lt)| json!({"type": "array", "items": items, "maxItems": 3,
                    "x-kubernetes-list-type": lt, "x-kubernetes-list-map-keys": ["a"]})
                ),
            inner.prop_map(
                |v| json!({"type": "object", "additionalProperties": v, "nullable": true})
            ),
        ]
    })
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        scalar(),
        (-1e3f64..1e3).prop_map(|f| json!(f)),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-d]", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    #[test]
    fn strategic_merge_of_a_merge_diff_reaches_the_target(a in object(), b in object()) {
        let patch = merge_diff(&a, &b);
        let mut doc = a.clone();
        strategic::apply(&mut doc, &patch).expect("a patch without lists applies");
        prop_assert_eq!(doc, b);
    }

    #[test]
    fn schemas_and_values_of_any_shape_never_panic(s in schema_value(), v in any_json()) {
        let root = json!({"type": "object", "properties": {"spec": s}});
        if let Ok(parsed) = schema::parse(&root, "openAPIV3Schema") {
            let mut obj = json!({"apiVersion": "x/v1", "kind": "X", "metadata": {"name": "a"}, "spec": v});
            let _ = parsed.validate_root(&obj);
            let _ = parsed.prune_root(&mut obj);
            parsed.default_root(&mut obj);
            let _ = parsed.validate_root(&obj);
        }
    }
}
