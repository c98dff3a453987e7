//! A protobuf message to JSON, driven by the schema, with the JSON forms
//! Kubernetes gives its special types.

use base64::Engine;
use serde_json::{Map, Number, Value};

use super::error::DecodeError;
use super::schema::{self, Field, FieldType};
use super::wire::{Raw, Reader};

/// Deeper than any Kubernetes object goes.
const MAX_DEPTH: usize = 64;

const TIME: &str = "apimachinery.pkg.apis.meta.v1.Time";
const MICRO_TIME: &str = "apimachinery.pkg.apis.meta.v1.MicroTime";
const DURATION: &str = "apimachinery.pkg.apis.meta.v1.Duration";
const QUANTITY: &str = "apimachinery.pkg.api.resource.Quantity";
const INT_OR_STRING: &str = "apimachinery.pkg.util.intstr.IntOrString";
const RAW_EXTENSION: &str = "apimachinery.pkg.runtime.RawExtension";
const FIELDS_V1: &str = "apimachinery.pkg.apis.meta.v1.FieldsV1";

/// Decodes `buf` as message `name`.
pub fn decode_message(name: &str, buf: &[u8]) -> Result<Value, DecodeError> {
    message(name, buf, 0)
}

/// The `raw` bytes (field 2) of a `runtime.Unknown`.
pub fn raw_bytes(unknown: &[u8]) -> Result<Vec<u8>, DecodeError> {
    let mut r = Reader::new(unknown);
    let mut raw = Vec::new();
    while !r.is_empty() {
        if let (2, Raw::Len(b)) = r.field()? {
            raw = b.to_vec();
        }
    }
    Ok(raw)
}

fn string(b: &[u8]) -> Result<String, DecodeError> {
    String::from_utf8(b.to_vec())
        .map_err(|_| DecodeError::Malformed("a string is not UTF-8".into()))
}

/// The fields of a message as (tag, raw) pairs, in order.
fn fields(buf: &[u8]) -> Result<Vec<(u32, Raw<'_>)>, DecodeError> {
    let mut r = Reader::new(buf);
    let mut out = Vec::new();
    while !r.is_empty() {
        out.push(r.field()?);
    }
    Ok(out)
}

fn varint_of(fields: &[(u32, Raw<'_>)], tag: u32) -> u64 {
    fields
        .iter()
        .rev()
        .find_map(|(t, r)| match (t, r) {
            (t, Raw::Varint(v)) if *t == tag => Some(*v),
            _ => None,
        })
        .unwrap_or(0)
}

fn bytes_of<'a>(fields: &[(u32, Raw<'a>)], tag: u32) -> &'a [u8] {
    fields
        .iter()
        .rev()
        .find_map(|(t, r)| match (t, r) {
            (t, Raw::Len(b)) if *t == tag => Some(*b),
            _ => None,
        })
        .unwrap_or(&[])
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// RFC 3339 in UTC, with `micros` fractional digits when given.
fn rfc3339(seconds: i64, micros: Option<u32>) -> String {
    let (y, mo, d) = civil(seconds.div_euclid(86_400));
    let s = seconds.rem_euclid(86_400);
    let (h, mi, se) = (s / 3600, (s % 3600) / 60, s % 60);
    match micros {
        Some(us) => format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{se:02}.{us:06}Z"),
        None => format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{se:02}Z"),
    }
}

/// Go's `time.Duration.String()` for whole and fractional seconds.
fn go_duration(ns: i64) -> String {
    if ns == 0 {
        return "0s".into();
    }
    let sign = if ns < 0 { "-" } else { "" };
    let ns = ns.unsigned_abs();
    if ns < 1_000_000_000 {
        let (unit, div) = if ns < 1_000 {
            ("ns", 1)
        } else if ns < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        return format!("{sign}{}{unit}", trim_fraction(ns, div));
    }
    let (h, rest) = (ns / 3_600_000_000_000, ns % 3_600_000_000_000);
    let (m, rest) = (rest / 60_000_000_000, rest % 60_000_000_000);
    let mut out = String::from(sign);
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if h > 0 || m > 0 {
        out.push_str(&format!("{m}m"));
    }
    out.push_str(&format!("{}s", trim_fraction(rest, 1_000_000_000)));
    out
}

/// `value / div` with the fraction's trailing zeros cut (`1.5`, `2`).
fn trim_fraction(value: u64, div: u64) -> String {
    let (whole, frac) = (value / div, value % div);
    if frac == 0 {
        return whole.to_string();
    }
    let digits = div.to_string().len() - 1;
    let f = format!("{frac:0digits$}");
    format!("{whole}.{}", f.trim_end_matches('0'))
}

/// The JSON form of Kubernetes' special messages, or `None` for others.
fn special(name: &str, buf: &[u8]) -> Result<Option<Value>, DecodeError> {
    let f = match name {
        TIME | MICRO_TIME | DURATION | QUANTITY | INT_OR_STRING | RAW_EXTENSION | FIELDS_V1 => {
            fields(buf)?
        }
        _ => return Ok(None),
    };
    Ok(Some(match name {
        TIME | MICRO_TIME => {
            let seconds = varint_of(&f, 1) as i64;
            let nanos = varint_of(&f, 2) as i64 as i32;
            if seconds == 0 && nanos == 0 {
                Value::Null
            } else if name == TIME {
                Value::String(rfc3339(seconds, None))
            } else {
                Value::String(rfc3339(seconds, Some((nanos.max(0) / 1000) as u32)))
            }
        }
        DURATION => Value::String(go_duration(varint_of(&f, 1) as i64)),
        QUANTITY => Value::String(string(bytes_of(&f, 1))?),
        INT_OR_STRING => {
            if varint_of(&f, 1) == 1 {
                Value::String(string(bytes_of(&f, 3))?)
            } else {
                Value::from(varint_of(&f, 2) as i64 as i32)
            }
        }
        _ => {
            let raw = bytes_of(&f, 1);
            if raw.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(raw).map_err(|e| {
                    DecodeError::Malformed(format!("embedded JSON is not valid: {e}"))
                })?
            }
        }
    }))
}

fn scalar(ty: &FieldType, raw: Raw<'_>, depth: usize) -> Result<Value, DecodeError> {
    let wrong = || DecodeError::Malformed(format!("wire type {:?} for a {ty:?}", raw.wire_type()));
    Ok(match (ty, raw) {
        (FieldType::String, Raw::Len(b)) => Value::String(string(b)?),
        (FieldType::Bytes, Raw::Len(b)) => {
            Value::String(base64::engine::general_purpose::STANDARD.encode(b))
        }
        (FieldType::Int32, Raw::Varint(v)) => Value::from(v as i64 as i32),
        (FieldType::Int64, Raw::Varint(v)) => Value::from(v as i64),
        (FieldType::Bool, Raw::Varint(v)) => Value::Bool(v != 0),
        (FieldType::Double, Raw::Fixed64(v)) => Number::from_f64(f64::from_bits(v))
            .map(Value::Number)
            .unwrap_or(Value::Null),
        (FieldType::Message(name), Raw::Len(b)) => message(name, b, depth + 1)?,
        _ => return Err(wrong()),
    })
}

/// Packed repeated numbers (one length-delimited run of varints).
fn packed(ty: &FieldType, b: &[u8]) -> Result<Vec<Value>, DecodeError> {
    let mut r = Reader::new(b);
    let mut out = Vec::new();
    while !r.is_empty() {
        out.push(scalar(ty, Raw::Varint(r.varint()?), 0)?);
    }
    Ok(out)
}

fn map_entry(field: &Field, b: &[u8], depth: usize) -> Result<(String, Value), DecodeError> {
    let mut key = String::new();
    let mut value = Value::Null;
    for (tag, raw) in fields(b)? {
        match tag {
            1 => {
                key = match scalar(
                    field.map_key.as_ref().unwrap_or(&FieldType::String),
                    raw,
                    depth,
                )? {
                    Value::String(s) => s,
                    other => other.to_string(),
                }
            }
            2 => value = scalar(&field.ty, raw, depth)?,
            _ => {}
        }
    }
    if value.is_null() {
        value = match field.ty {
            FieldType::String | FieldType::Bytes => Value::String(String::new()),
            _ => Value::Null,
        };
    }
    Ok((key, value))
}

/// Whether a decoded scalar of field `tag` of `message` is one JSON would
/// omit: a null always; an empty string, a zero or `false` unless the Go
/// field keeps its zero in JSON (a pointer that was set, or no
/// `omitempty`: [`schema::keeps_zero`]). gogo-protobuf writes non-pointer
/// fields even when zero, so without this every `generateName: ""`,
/// `stdin: false` and `hostPort: 0` would be stored.
fn omitted_zero(message: &str, tag: u32, v: &Value) -> bool {
    let zero = match v {
        Value::Null => return true,
        Value::String(s) => s.is_empty(),
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        _ => false,
    };
    zero && !schema::keeps_zero(message, tag)
}

fn message(name: &str, buf: &[u8], depth: usize) -> Result<Value, DecodeError> {
    if depth > MAX_DEPTH {
        return Err(DecodeError::TooDeep(MAX_DEPTH));
    }
    if let Some(v) = special(name, buf)? {
        return Ok(v);
    }
    let schema = schema::messages()
        .get(name)
        .ok_or_else(|| DecodeError::UnknownMessage(name.to_string()))?;
    let mut out = Map::new();
    for (tag, raw) in fields(buf)? {
        let Some(field) = schema.get(&tag) else {
            continue; // a field newer than our schema: dropped
        };
        if field.map_key.is_some() {
            let Raw::Len(b) = raw else {
                return Err(DecodeError::Malformed(format!(
                    "map {} is not a message",
                    field.json
                )));
            };
            let (k, v) = map_entry(field, b, depth)?;
            if let Value::Object(m) = out
                .entry(field.json.clone())
                .or_insert_with(|| Value::Object(Map::new()))
            {
                m.insert(k, v);
            }
        } else if field.inline {
            if let Value::Object(inner) = scalar(&field.ty, raw, depth)? {
                out.extend(inner);
            }
        } else if field.repeated {
            let items = match (&field.ty, raw) {
                (FieldType::Int32 | FieldType::Int64 | FieldType::Bool, Raw::Len(b)) => {
                    packed(&field.ty, b)?
                }
                (ty, raw) => vec![scalar(ty, raw, depth)?],
            };
            if let Value::Array(a) = out
                .entry(field.json.clone())
                .or_insert_with(|| Value::Array(Vec::new()))
            {
                a.extend(items);
            }
        } else {
            let v = scalar(&field.ty, raw, depth)?;
            if omitted_zero(name, tag, &v) {
                out.remove(&field.json);
                continue;
            }
            out.insert(field.json.clone(), v);
        }
    }
    Ok(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_durations_as_kubernetes_writes_them() {
        assert_eq!(rfc3339(0, None), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000, None), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(951_782_400, Some(5)), "2000-02-29T00:00:00.000005Z");
        assert_eq!(go_duration(0), "0s");
        assert_eq!(go_duration(1_500_000_000), "1.5s");
        assert_eq!(go_duration(3_723_000_000_000), "1h2m3s");
        assert_eq!(go_duration(120_000_000_000), "2m0s");
        assert_eq!(go_duration(2_000_000), "2ms");
    }
}
