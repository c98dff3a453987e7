//! The OpenAPI v2 document in protobuf: gnostic's `openapi.v2.Document`
//! message (`openapiv2/OpenAPIv2.proto`), which kube-apiserver serves for
//! `Accept: application/com.github.proto-openapi.spec.v2@v1.0+protobuf`
//! and kubectl asks for when the v3 documents do not describe a kind.
//!
//! Written from the JSON document [`super::v2`] builds: every field the
//! message has is carried; values gnostic keeps as `Any` (defaults,
//! enums, examples, `x-` extensions) carry their JSON text in `Any.yaml`
//! (JSON is YAML). JSON fields the messages do not have are left out, as
//! gnostic does.

use serde_json::{Map, Value};

use crate::protobuf::writer::Writer;

/// The media type clients ask for (client-go's `Accept`).
pub const ACCEPT: &str = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf";
/// The media type of the response, as kube-apiserver labels it: `@` is
/// not allowed in a MIME subtype, and Go's parser refuses it.
pub const CONTENT_TYPE: &str = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

/// Whether `media_type` (without parameters) asks for the protobuf form
/// (kube-openapi's handler also answers `application/vnd.kubernetes.protobuf`
/// with it).
pub fn accepts(media_type: &str) -> bool {
    matches!(
        media_type,
        ACCEPT | CONTENT_TYPE | "application/vnd.kubernetes.protobuf"
    )
}

fn str_of<'a>(m: &'a Map<String, Value>, key: &str) -> &'a str {
    m.get(key).and_then(Value::as_str).unwrap_or("")
}

fn strings(w: &mut Writer, field: u32, v: Option<&Value>) {
    for s in v.and_then(Value::as_array).into_iter().flatten() {
        if let Some(s) = s.as_str() {
            w.bytes(field, s.as_bytes());
        }
    }
}

/// `Any { yaml = 2 }` holding `v`'s JSON text.
fn any(w: &mut Writer, field: u32, v: &Value) {
    let text = serde_json::to_string(v).unwrap_or_default();
    w.message(field, |a| a.string(2, &text));
}

/// `NamedAny` entries for the `x-` keys of `m`.
fn vendor_extensions(w: &mut Writer, field: u32, m: &Map<String, Value>) {
    for (k, v) in m.iter().filter(|(k, _)| k.starts_with("x-")) {
        w.message(field, |n| {
            n.string(1, k);
            any(n, 2, v);
        });
    }
}

fn external_docs(w: &mut Writer, field: u32, v: Option<&Value>) {
    if let Some(d) = v.and_then(Value::as_object) {
        w.message(field, |e| {
            e.string(1, str_of(d, "description"));
            e.string(2, str_of(d, "url"));
            vendor_extensions(e, 3, d);
        });
    }
}

/// An `openapi.v2.Schema`.
fn schema(w: &mut Writer, s: &Value) {
    let Some(m) = s.as_object() else {
        return;
    };
    let f = |k: &str| m.get(k).and_then(Value::as_f64).unwrap_or(0.0);
    let i = |k: &str| m.get(k).and_then(Value::as_i64).unwrap_or(0);
    let b = |k: &str| m.get(k).and_then(Value::as_bool).unwrap_or(false);
    w.string(1, str_of(m, "$ref"));
    w.string(2, str_of(m, "format"));
    w.string(3, str_of(m, "title"));
    w.string(4, str_of(m, "description"));
    if let Some(d) = m.get("default") {
        any(w, 5, d);
    }
    w.double(6, f("multipleOf"));
    w.double(7, f("maximum"));
    w.bool(8, b("exclusiveMaximum"));
    w.double(9, f("minimum"));
    w.bool(10, b("exclusiveMinimum"));
    w.int64(11, i("maxLength"));
    w.int64(12, i("minLength"));
    w.string(13, str_of(m, "pattern"));
    w.int64(14, i("maxItems"));
    w.int64(15, i("minItems"));
    w.bool(16, b("uniqueItems"));
    w.int64(17, i("maxProperties"));
    w.int64(18, i("minProperties"));
    strings(w, 19, m.get("required"));
    for e in m
        .get("enum")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        any(w, 20, e);
    }
    match m.get("additionalProperties") {
        Some(Value::Bool(flag)) => w.message(21, |a| a.bool_always(2, *flag)),
        Some(sub @ Value::Object(_)) => w.message(21, |a| a.message(1, |s| schema(s, sub))),
        _ => {}
    }
    match m.get("type") {
        Some(Value::String(t)) => w.message(22, |ty| ty.string(1, t)),
        Some(types @ Value::Array(_)) => w.message(22, |ty| strings(ty, 1, Some(types))),
        _ => {}
    }
    match m.get("items") {
        Some(items @ Value::Object(_)) => w.message(23, |it| it.message(1, |s| schema(s, items))),
        Some(Value::Array(list)) => w.message(23, |it| {
            for item in list {
                it.message(1, |s| schema(s, item));
            }
        }),
        _ => {}
    }
    for sub in m
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        w.message(24, |s| schema(s, sub));
    }
    if let Some(props) = m.get("properties").and_then(Value::as_object) {
        w.message(25, |p| named_schemas(p, 1, props));
    }
    w.string(26, str_of(m, "discriminator"));
    w.bool(27, b("readOnly"));
    external_docs(w, 29, m.get("externalDocs"));
    if let Some(e) = m.get("example") {
        any(w, 30, e);
    }
    vendor_extensions(w, 31, m);
}

/// `NamedSchema` entries, one per key of `map`.
fn named_schemas(w: &mut Writer, field: u32, map: &Map<String, Value>) {
    for (name, s) in map {
        w.message(field, |n| {
            n.string(1, name);
            n.message(2, |v| schema(v, s));
        });
    }
}

/// A `ParametersItem`: a `$ref`, a body parameter or a non-body one.
fn parameter(w: &mut Writer, p: &Value) {
    let Some(m) = p.as_object() else {
        return;
    };
    if let Some(r) = m.get("$ref").and_then(Value::as_str) {
        w.message(2, |j| {
            j.string(1, r);
            j.string(2, str_of(m, "description"));
        });
        return;
    }
    let required = m.get("required").and_then(Value::as_bool).unwrap_or(false);
    w.message(1, |param| match str_of(m, "in") {
        "body" => param.message(1, |body| {
            body.string(1, str_of(m, "description"));
            body.string(2, str_of(m, "name"));
            body.string(3, "body");
            body.bool(4, required);
            if let Some(s) = m.get("schema") {
                body.message(5, |v| schema(v, s));
            }
            vendor_extensions(body, 6, m);
        }),
        place => param.message(2, |non_body| {
            // header 1, formData 2, query 3, path 4; query and formData
            // have allowEmptyValue (5), which moves the rest one on.
            let (member, shift) = match place {
                "header" => (1, 0),
                "formData" => (2, 1),
                "path" => (4, 0),
                _ => (3, 1),
            };
            non_body.message(member, |sub| {
                sub.bool(1, required);
                sub.string(2, place);
                sub.string(3, str_of(m, "description"));
                sub.string(4, str_of(m, "name"));
                sub.string(5 + shift, str_of(m, "type"));
                sub.string(6 + shift, str_of(m, "format"));
                sub.bool(
                    19 + shift,
                    m.get("uniqueItems")
                        .and_then(Value::as_bool)
                        .unwrap_or(false),
                );
                vendor_extensions(sub, 22 + shift, m);
            });
        }),
    });
}

/// An `Operation`.
fn operation(w: &mut Writer, op: &Value) {
    let Some(m) = op.as_object() else {
        return;
    };
    strings(w, 1, m.get("tags"));
    w.string(2, str_of(m, "summary"));
    w.string(3, str_of(m, "description"));
    external_docs(w, 4, m.get("externalDocs"));
    w.string(5, str_of(m, "operationId"));
    strings(w, 6, m.get("produces"));
    strings(w, 7, m.get("consumes"));
    for p in m
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        w.message(8, |item| parameter(item, p));
    }
    if let Some(responses) = m.get("responses").and_then(Value::as_object) {
        w.message(9, |rs| {
            for (code, r) in responses.iter().filter(|(k, _)| !k.starts_with("x-")) {
                let Some(r) = r.as_object() else {
                    continue;
                };
                rs.message(1, |named| {
                    named.string(1, code);
                    named.message(2, |value| {
                        value.message(1, |resp| {
                            resp.string(1, str_of(r, "description"));
                            if let Some(s) = r.get("schema") {
                                resp.message(2, |item| item.message(1, |v| schema(v, s)));
                            }
                            vendor_extensions(resp, 5, r);
                        })
                    });
                });
            }
            vendor_extensions(rs, 2, responses);
        });
    }
    strings(w, 10, m.get("schemes"));
    w.bool(
        11,
        m.get("deprecated")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    );
    vendor_extensions(w, 13, m);
}

/// A `PathItem`.
fn path_item(w: &mut Writer, item: &Value) {
    let Some(m) = item.as_object() else {
        return;
    };
    w.string(1, str_of(m, "$ref"));
    for (field, verb) in [
        (2, "get"),
        (3, "put"),
        (4, "post"),
        (5, "delete"),
        (6, "options"),
        (7, "head"),
        (8, "patch"),
    ] {
        if let Some(op) = m.get(verb) {
            w.message(field, |o| operation(o, op));
        }
    }
    for p in m
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        w.message(9, |it| parameter(it, p));
    }
    vendor_extensions(w, 10, m);
}

/// The `openapi.v2.Document` of the JSON document `doc`.
pub fn encode(doc: &Value) -> Vec<u8> {
    let mut w = Writer::new();
    let Some(m) = doc.as_object() else {
        return w.into_bytes();
    };
    w.string(1, str_of(m, "swagger"));
    if let Some(info) = m.get("info").and_then(Value::as_object) {
        w.message(2, |i| {
            i.string(1, str_of(info, "title"));
            i.string(2, str_of(info, "version"));
            i.string(3, str_of(info, "description"));
            i.string(4, str_of(info, "termsOfService"));
            vendor_extensions(i, 7, info);
        });
    }
    w.string(3, str_of(m, "host"));
    w.string(4, str_of(m, "basePath"));
    strings(&mut w, 5, m.get("schemes"));
    strings(&mut w, 6, m.get("consumes"));
    strings(&mut w, 7, m.get("produces"));
    if let Some(paths) = m.get("paths").and_then(Value::as_object) {
        w.message(8, |ps| {
            vendor_extensions(ps, 1, paths);
            for (path, item) in paths.iter().filter(|(k, _)| !k.starts_with("x-")) {
                ps.message(2, |named| {
                    named.string(1, path);
                    named.message(2, |v| path_item(v, item));
                });
            }
        });
    }
    if let Some(defs) = m.get("definitions").and_then(Value::as_object) {
        w.message(9, |d| named_schemas(d, 1, defs));
    }
    external_docs(&mut w, 15, m.get("externalDocs"));
    vendor_extensions(&mut w, 16, m);
    w.into_bytes()
}
