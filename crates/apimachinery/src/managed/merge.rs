//! Merging an applied configuration into the live object: the config's
//! values win; granular objects merge field by field; keyed lists merge
//! element by element (live order, new elements appended); sets are
//! unions; atomic values are replaced.

use serde_json::Value;

use super::fieldset::key_element;
use super::shape::{ListKind, Shape};

/// `live` with `config` merged in.
pub fn merge(live: &Value, config: &Value, shape: &Shape<'_>) -> Value {
    match (live, config) {
        (Value::Object(l), Value::Object(c)) if !shape.atomic_object() => {
            let mut out = l.clone();
            for (k, cv) in c {
                let merged = match l.get(k) {
                    Some(lv) => merge(lv, cv, &shape.field(k)),
                    None => cv.clone(),
                };
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        (Value::Array(l), Value::Array(c)) => match shape.list() {
            ListKind::Atomic => config.clone(),
            ListKind::Set => {
                let mut out = l.clone();
                for v in c {
                    if !out.contains(v) {
                        out.push(v.clone());
                    }
                }
                Value::Array(out)
            }
            ListKind::Map(keys) => {
                let element = shape.element();
                let mut out = l.clone();
                for cv in c {
                    let key = key_element(cv, &keys, shape);
                    let at = key.as_ref().and_then(|k| {
                        out.iter()
                            .position(|lv| key_element(lv, &keys, shape).as_ref() == Some(k))
                    });
                    match at {
                        Some(i) => out[i] = merge(&out[i], cv, &element),
                        None => out.push(cv.clone()),
                    }
                }
                Value::Array(out)
            }
        },
        _ => config.clone(),
    }
}
