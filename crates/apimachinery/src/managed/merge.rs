//! Merging an applied configuration into the live object: the config's
//! values win; granular objects merge field by field; keyed lists merge
//! element by element (live order, new elements appended); sets are
//! unions; atomic values are replaced.

use serde_json::Value;

use super::fieldset::key_element;
use super::shape::{ListKind, Shape};

/// `live` with `config` merged in.
pub fn merge(live: &Value, config: &Value, shape: &Shape<'_>) -> Value {
    let mut out = live.clone();
    merge_into(&mut out, config, shape);
    out
}

/// Merges `config` into `live` in place (one copy of the live object in
/// all, not one per level).
pub fn merge_into(live: &mut Value, config: &Value, shape: &Shape<'_>) {
    match (live, config) {
        (Value::Object(l), Value::Object(c)) if !shape.atomic_object() => {
            for (k, cv) in c {
                match l.get_mut(k) {
                    Some(lv) => merge_into(lv, cv, &shape.field(k)),
                    None => {
                        l.insert(k.clone(), cv.clone());
                    }
                }
            }
        }
        (Value::Array(l), Value::Array(c)) => match shape.list() {
            ListKind::Atomic => *l = c.clone(),
            ListKind::Set => {
                for v in c {
                    if !l.contains(v) {
                        l.push(v.clone());
                    }
                }
            }
            ListKind::Map(keys) => {
                let element = shape.element();
                for cv in c {
                    let key = key_element(cv, &keys, shape);
                    let at = key.as_ref().and_then(|k| {
                        l.iter()
                            .position(|lv| key_element(lv, &keys, shape).as_ref() == Some(k))
                    });
                    match at {
                        Some(i) => merge_into(&mut l[i], cv, &element),
                        None => l.push(cv.clone()),
                    }
                }
            }
        },
        (live, _) => *live = config.clone(),
    }
}
