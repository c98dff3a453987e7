//! Decoding only what selectors read. A watch with a selector must test
//! every change (and its previous version) of its resource; parsing whole
//! objects into a `Value` for that was the largest single cost of a
//! 10,000-pod cluster's node agent watch (`spec.nodeName!=`).
//!
//! [`selectable`] keeps, of a JSON object:
//! - every scalar at the top level and one level down (`reason`,
//!   `spec.nodeName`, `status.phase`, `metadata.name`,
//!   `involvedObject.kind`, …) — every field label Kubernetes defines is a
//!   path of at most two segments;
//! - `metadata.labels` whole (label selectors) and `status.podIPs` whole
//!   (the `status.podIP` field label reads its first entry);
//!
//! and skips, without building them, all other nested objects and arrays
//! (containers, managedFields, conditions, …). If a field label deeper than
//! two segments is ever supported (CRD `selectableFields`), this must keep
//! it too.

use std::fmt;

use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Keys one level down that are kept whole.
const WHOLE: [&str; 2] = ["labels", "podIPs"];

/// `json` (an object) reduced to the fields selectors read.
pub fn selectable(json: &[u8]) -> Result<Value, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(json);
    let value = Keep { depth: 0 }.deserialize(&mut de)?;
    de.end()?;
    Ok(value.unwrap_or(Value::Null))
}

/// Reads a value at `depth` (0: the object itself); `None` when skipped.
#[derive(Clone, Copy)]
struct Keep {
    depth: u8,
}

impl<'de> DeserializeSeed<'de> for Keep {
    type Value = Option<Value>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Keep {
    type Value = Option<Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Some(Value::Bool(v)))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(Value::Number(v.into())))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(Value::Number(v.into())))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Some(Number::from_f64(v).map_or(Value::Null, Value::Number)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(Value::String(v.to_owned())))
    }

    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Some(Value::String(v)))
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Some(Value::Null))
    }

    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(Some(Value::Null))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        if self.depth >= 2 {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            return Ok(None);
        }
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if self.depth == 1 && WHOLE.contains(&key.as_str()) {
                let v: Value = map.next_value()?;
                out.insert(key, v);
            } else if let Some(v) = map.next_value_seed(Keep {
                depth: self.depth + 1,
            })? {
                out.insert(key, v);
            }
        }
        Ok(Some(Value::Object(out)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::selector::{FieldSelector, LabelSelector};
    use serde_json::json;

    fn pod() -> Value {
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p1", "namespace": "default", "labels": {"app": "web", "tier": "x"},
                         "managedFields": [{"manager": "m"}], "ownerReferences": [{"uid": "u"}],
                         "deletionTimestamp": null},
            "spec": {"nodeName": "n1", "restartPolicy": "Always", "hostNetwork": false,
                     "containers": [{"name": "c", "image": "busybox"}], "nodeSelector": {"a": "b"}},
            "status": {"phase": "Running", "podIPs": [{"ip": "10.0.0.5"}], "podIP": "10.0.0.5",
                       "conditions": [{"type": "Ready", "status": "True"}], "startTime": "t",
                       "containerStatuses": [{"name": "c", "ready": true}], "x": 1.5}
        })
    }

    #[test]
    fn keeps_what_selectors_read_and_drops_the_rest() {
        let full = pod();
        let kept = selectable(&serde_json::to_vec(&full).expect("json")).expect("selectable");
        assert_eq!(
            kept,
            json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "p1", "namespace": "default", "labels": {"app": "web", "tier": "x"},
                             "deletionTimestamp": null},
                "spec": {"nodeName": "n1", "restartPolicy": "Always", "hostNetwork": false},
                "status": {"phase": "Running", "podIPs": [{"ip": "10.0.0.5"}], "podIP": "10.0.0.5",
                           "startTime": "t", "x": 1.5}
            })
        );
    }

    #[test]
    fn selectors_decide_the_same_on_the_reduced_object() {
        let full = pod();
        let kept = selectable(&serde_json::to_vec(&full).expect("json")).expect("selectable");
        for field in [
            "spec.nodeName!=",
            "spec.nodeName=n2",
            "status.phase=Running",
            "status.podIP=10.0.0.5",
            "spec.hostNetwork=false",
            "metadata.name=p1,metadata.namespace=default",
            "spec.restartPolicy=Never",
        ] {
            let s = FieldSelector::parse(field).expect("field selector");
            assert_eq!(
                s.matches_object("", "Pod", &kept),
                s.matches_object("", "Pod", &full),
                "{field}"
            );
        }
        for label in ["app=web", "app in (db)", "tier", "!tier", "app!=web"] {
            let s = LabelSelector::parse(label).expect("label selector");
            assert_eq!(s.matches_object(&kept), s.matches_object(&full), "{label}");
        }
    }

    #[test]
    fn malformed_json_is_an_error() {
        assert!(selectable(b"{\"a\":").is_err());
        assert!(selectable(b"{} x").is_err());
    }
}
