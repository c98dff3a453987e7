//! JSON to a protobuf message, driven by the schema: the reverse of
//! `decode.rs`, with Kubernetes' special types (Time, MicroTime, Quantity,
//! IntOrString, RawExtension, FieldsV1) in their protobuf forms. Fields the
//! schema does not know and JSON nulls are left out; repeated numbers are
//! not packed (as gogo-protobuf writes Kubernetes' proto2 messages).

use base64::Engine;
use serde_json::Value;

use super::schema::{self, Field, FieldType};

/// Why an object could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// The schema has no such message.
    #[error("no protobuf schema for {0}")]
    UnknownMessage(String),
    /// A value of the wrong JSON type for its field.
    #[error("{field}: {detail}")]
    Value {
        /// The field's JSON name.
        field: String,
        /// What is wrong.
        detail: String,
    },
    /// Deeper than any Kubernetes object goes.
    #[error("nested more than {MAX_DEPTH} messages deep")]
    TooDeep,
}

const MAX_DEPTH: usize = 64;

const TIME: &str = "apimachinery.pkg.apis.meta.v1.Time";
const MICRO_TIME: &str = "apimachinery.pkg.apis.meta.v1.MicroTime";
const QUANTITY: &str = "apimachinery.pkg.api.resource.Quantity";
const INT_OR_STRING: &str = "apimachinery.pkg.util.intstr.IntOrString";
const RAW_EXTENSION: &str = "apimachinery.pkg.runtime.RawExtension";
const FIELDS_V1: &str = "apimachinery.pkg.apis.meta.v1.FieldsV1";

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn key(out: &mut Vec<u8>, tag: u32, wire: u8) {
    varint(out, (u64::from(tag) << 3) | u64::from(wire));
}

/// A length-delimited field.
pub(super) fn bytes_field(out: &mut Vec<u8>, tag: u32, b: &[u8]) {
    key(out, tag, 2);
    varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

fn varint_field(out: &mut Vec<u8>, tag: u32, v: u64) {
    key(out, tag, 0);
    varint(out, v);
}

/// Days from 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// RFC 3339 (`2024-01-02T03:04:05Z`, `…05.123456Z`, `…05+01:00`) as
/// seconds and nanoseconds since the epoch.
fn parse_rfc3339(s: &str) -> Option<(i64, i32)> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut rest = &s[19..];
    let mut nanos = 0i32;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        let mut text = frac[..digits.min(9)].to_string();
        while text.len() < 9 {
            text.push('0');
        }
        nanos = text.parse().ok()?;
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        o if o.len() == 6 => {
            let sign = if o.starts_with('-') { -1 } else { 1 };
            sign * (o.get(1..3)?.parse::<i64>().ok()? * 3600
                + o.get(4..6)?.parse::<i64>().ok()? * 60)
        }
        _ => return None,
    };
    let seconds = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + se - offset;
    Some((seconds, nanos))
}

/// Encodes `v` as message `name`.
pub fn encode_message(name: &str, v: &Value) -> Result<Vec<u8>, EncodeError> {
    message(name, v, 0)
}

/// The protobuf form of Kubernetes' special messages, or `None` for others.
fn special(name: &str, field: &str, v: &Value) -> Result<Option<Vec<u8>>, EncodeError> {
    let wrong = |detail: &str| EncodeError::Value {
        field: field.to_string(),
        detail: detail.to_string(),
    };
    let mut out = Vec::new();
    match name {
        TIME | MICRO_TIME => {
            let text = v.as_str().ok_or_else(|| wrong("a time is a string"))?;
            let (seconds, nanos) = parse_rfc3339(text).ok_or_else(|| wrong("not RFC 3339"))?;
            varint_field(&mut out, 1, seconds as u64);
            if nanos != 0 {
                varint_field(&mut out, 2, nanos as i64 as u64);
            }
        }
        QUANTITY => {
            let text = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => return Err(wrong("a quantity is a string")),
            };
            bytes_field(&mut out, 1, text.as_bytes());
        }
        INT_OR_STRING => match v {
            Value::String(s) => {
                varint_field(&mut out, 1, 1);
                bytes_field(&mut out, 3, s.as_bytes());
            }
            Value::Number(n) => {
                varint_field(&mut out, 1, 0);
                varint_field(&mut out, 2, n.as_i64().unwrap_or(0) as u64);
            }
            _ => return Err(wrong("an int or a string")),
        },
        RAW_EXTENSION | FIELDS_V1 => {
            let raw = serde_json::to_vec(v).map_err(|e| wrong(&e.to_string()))?;
            bytes_field(&mut out, 1, &raw);
        }
        _ => return Ok(None),
    }
    Ok(Some(out))
}

fn scalar(
    out: &mut Vec<u8>,
    tag: u32,
    f: &Field,
    v: &Value,
    depth: usize,
) -> Result<(), EncodeError> {
    let wrong = |detail: &str| EncodeError::Value {
        field: f.json.clone(),
        detail: detail.to_string(),
    };
    match (&f.ty, v) {
        (_, Value::Null) => {}
        (FieldType::String, Value::String(s)) => bytes_field(out, tag, s.as_bytes()),
        (FieldType::Bytes, Value::String(s)) => {
            let b = base64::engine::general_purpose::STANDARD
                .decode(s)
                .map_err(|_| wrong("bytes are base64"))?;
            bytes_field(out, tag, &b);
        }
        (FieldType::Int32 | FieldType::Int64, Value::Number(n)) => varint_field(
            out,
            tag,
            n.as_i64().ok_or_else(|| wrong("not an integer"))? as u64,
        ),
        (FieldType::Bool, Value::Bool(b)) => varint_field(out, tag, u64::from(*b)),
        (FieldType::Double, Value::Number(n)) => {
            key(out, tag, 1);
            out.extend_from_slice(&n.as_f64().unwrap_or(0.0).to_bits().to_le_bytes());
        }
        (FieldType::Message(name), v) => {
            let b = match special(name, &f.json, v)? {
                Some(b) => b,
                None => message(name, v, depth + 1)?,
            };
            bytes_field(out, tag, &b);
        }
        _ => return Err(wrong("wrong JSON type")),
    }
    Ok(())
}

fn message(name: &str, v: &Value, depth: usize) -> Result<Vec<u8>, EncodeError> {
    if depth > MAX_DEPTH {
        return Err(EncodeError::TooDeep);
    }
    let fields = schema::messages()
        .get(name)
        .ok_or_else(|| EncodeError::UnknownMessage(name.to_string()))?;
    let mut tags: Vec<(&u32, &Field)> = fields.iter().collect();
    tags.sort_by_key(|(tag, _)| **tag);
    let mut out = Vec::new();
    let Value::Object(map) = v else {
        return Ok(out);
    };
    for (&tag, f) in tags {
        if f.inline {
            scalar(&mut out, tag, f, v, depth)?;
            continue;
        }
        let Some(value) = map.get(&f.json) else {
            continue;
        };
        if let Some(key_type) = &f.map_key {
            let Value::Object(entries) = value else {
                continue;
            };
            for (k, item) in entries {
                let mut entry = Vec::new();
                let key_field = Field {
                    json: f.json.clone(),
                    repeated: false,
                    inline: false,
                    map_key: None,
                    ty: key_type.clone(),
                };
                scalar(&mut entry, 1, &key_field, &Value::String(k.clone()), depth)?;
                scalar(&mut entry, 2, f, item, depth)?;
                bytes_field(&mut out, tag, &entry);
            }
        } else if f.repeated {
            if let Value::Array(items) = value {
                for item in items {
                    scalar(&mut out, tag, f, item, depth)?;
                }
            }
        } else {
            scalar(&mut out, tag, f, value, depth)?;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn object_meta_round_trips_through_the_decoder() {
        let meta = json!({
            "name": "web", "namespace": "default", "uid": "u-1", "resourceVersion": "42",
            "generation": 3, "creationTimestamp": "2026-12-07T12:00:00Z",
            "labels": {"app": "web"}, "annotations": {"a": "b"},
            "finalizers": ["x/y"],
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs",
                                 "uid": "u-2", "controller": true}],
            "managedFields": [{"manager": "kubectl", "operation": "Update", "apiVersion": "v1",
                               "time": "2026-12-07T12:00:00Z", "fieldsType": "FieldsV1",
                               "fieldsV1": {"f:metadata": {"f:labels": {".": {}}}}}]
        });
        let name = "apimachinery.pkg.apis.meta.v1.ObjectMeta";
        let bytes = encode_message(name, &meta).expect("encodes");
        let back = super::super::decode::decode_message(name, &bytes).expect("decodes");
        assert_eq!(back, meta);
    }

    #[test]
    fn times() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some((0, 0)));
        assert_eq!(
            parse_rfc3339("2023-11-14T22:13:20Z"),
            Some((1_700_000_000, 0))
        );
        assert_eq!(
            parse_rfc3339("2000-02-29T00:00:00.000005Z"),
            Some((951_782_400, 5_000))
        );
        assert_eq!(
            parse_rfc3339("2023-11-14T23:13:20+01:00"),
            Some((1_700_000_000, 0))
        );
        assert_eq!(parse_rfc3339("yesterday"), None);
    }
}
