//! Kubernetes' protobuf encoding of built-in objects
//! (`application/vnd.kubernetes.protobuf`), decoded into the same JSON the
//! rest of rkube works with. client-go's typed clients (and so kubectl's
//! `create configmap`, `create secret`, …) send request bodies this way.
//!
//! - `wire.rs`: the protobuf wire format (varints, lengths, tags);
//! - `schema.rs`: every message's fields, from `schema.txt`, which
//!   `scripts/gen-protobuf-schema.py` generates from the `k8s-pb` and
//!   `k8s-openapi` crates (tags from one, exact JSON names from the other),
//!   and which scalar fields keep a zero in JSON, from `zeros.txt`, which
//!   `scripts/gen-protobuf-zeros.py` generates from the Go API types;
//! - `error.rs`: [`DecodeError`], what can go wrong at any level;
//! - `decode.rs`: a message to JSON, with Kubernetes' special types (Time,
//!   Quantity, IntOrString, RawExtension, …);
//! - `encode.rs`: JSON to a message, the reverse (responses the server
//!   answers in protobuf: `PartialObjectMetadata(List)`);
//! - `writer.rs`: writing the wire format (the OpenAPI v2 document's
//!   protobuf form, `crate::openapi::v2_proto`);
//! - this file: the `k8s\0` envelope and which message a kind is.

mod decode;
mod encode;
mod error;
pub(crate) mod schema;
mod wire;
pub(crate) mod writer;

use serde_json::Value;

pub use encode::EncodeError;
pub use error::DecodeError;

/// The four bytes every Kubernetes protobuf body starts with.
pub const MAGIC: &[u8; 4] = b"k8s\0";

/// The protobuf message that holds objects of `apiVersion`/`kind`:
/// `api.<group's first label>.<version>.<Kind>` for API groups,
/// `api.core.v1.<Kind>` for the core group, and the `meta.k8s.io` kinds
/// (DeleteOptions, …) from apimachinery.
pub(crate) fn message_for(api_version: &str, kind: &str) -> String {
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    if group == "meta.k8s.io" || (group.is_empty() && kind == "DeleteOptions") {
        return format!("apimachinery.pkg.apis.meta.v1.{kind}");
    }
    let package = match group {
        "" => "core",
        g => g.split('.').next().unwrap_or(g),
    };
    format!("api.{package}.{version}.{kind}")
}

/// Decodes a `k8s\0`-enveloped body into the object's JSON, with
/// `apiVersion` and `kind` from the envelope.
pub fn decode_object(body: &[u8]) -> Result<Value, DecodeError> {
    let rest = body
        .strip_prefix(MAGIC.as_slice())
        .ok_or(DecodeError::NoMagic)?;
    let unknown = decode::decode_message("apimachinery.pkg.runtime.Unknown", rest)?;
    let type_meta = unknown.get("typeMeta");
    let field = |name: &str| {
        type_meta
            .and_then(|t| t.get(name))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let (api_version, kind) = (field("apiVersion"), field("kind"));
    if kind.is_empty() {
        return Err(DecodeError::NoKind);
    }
    if let Some(enc) = unknown.get("contentEncoding").and_then(Value::as_str) {
        if !enc.is_empty() {
            return Err(DecodeError::Unsupported(format!("contentEncoding {enc}")));
        }
    }
    let raw = decode::raw_bytes(rest)?;
    let message = message_for(&api_version, &kind);
    let mut obj = decode::decode_message(&message, &raw)?;
    if let Value::Object(map) = &mut obj {
        map.insert("apiVersion".into(), Value::String(api_version));
        map.insert("kind".into(), Value::String(kind));
    }
    Ok(obj)
}

/// Encodes `obj` (JSON of `apiVersion`/`kind`) as a `k8s\0`-enveloped
/// body, as kube-apiserver writes a protobuf response.
pub fn encode_object(api_version: &str, kind: &str, obj: &Value) -> Result<Vec<u8>, EncodeError> {
    let raw = encode::encode_message(&message_for(api_version, kind), obj)?;
    let mut type_meta = Vec::new();
    encode::bytes_field(&mut type_meta, 1, api_version.as_bytes());
    encode::bytes_field(&mut type_meta, 2, kind.as_bytes());
    let mut out = MAGIC.to_vec();
    encode::bytes_field(&mut out, 1, &type_meta);
    encode::bytes_field(&mut out, 2, &raw);
    encode::bytes_field(&mut out, 3, b"");
    encode::bytes_field(&mut out, 4, b"");
    Ok(out)
}

#[cfg(test)]
mod names_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod zeros_tests;
