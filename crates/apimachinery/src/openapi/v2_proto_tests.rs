//! The protobuf OpenAPI v2 document read back with prost messages written
//! from gnostic's `OpenAPIv2.proto` (the fields kubectl's parser reads),
//! checked the way kubectl's `proto.NewOpenAPIData` checks it: every
//! `$ref` names a definition, every array has exactly one item schema.

use std::collections::HashSet;

use prost::Message;

use super::v2_proto::encode;
use crate::Registry;

#[derive(Clone, PartialEq, Message)]
struct Document {
    #[prost(string, tag = "1")]
    swagger: String,
    #[prost(message, optional, tag = "2")]
    info: Option<Info>,
    #[prost(message, optional, tag = "8")]
    paths: Option<Paths>,
    #[prost(message, optional, tag = "9")]
    definitions: Option<Definitions>,
}

#[derive(Clone, PartialEq, Message)]
struct Info {
    #[prost(string, tag = "1")]
    title: String,
}

#[derive(Clone, PartialEq, Message)]
struct Paths {
    #[prost(message, repeated, tag = "2")]
    path: Vec<NamedPathItem>,
}

#[derive(Clone, PartialEq, Message)]
struct NamedPathItem {
    #[prost(string, tag = "1")]
    name: String,
}

#[derive(Clone, PartialEq, Message)]
struct Definitions {
    #[prost(message, repeated, tag = "1")]
    additional_properties: Vec<NamedSchema>,
}

#[derive(Clone, PartialEq, Message)]
struct NamedSchema {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(message, optional, tag = "2")]
    value: Option<Schema>,
}

#[derive(Clone, PartialEq, Message)]
struct Schema {
    #[prost(string, tag = "1")]
    reference: String,
    #[prost(string, tag = "4")]
    description: String,
    #[prost(message, optional, boxed, tag = "21")]
    additional_properties: Option<Box<AdditionalPropertiesItem>>,
    #[prost(message, optional, tag = "22")]
    type_: Option<TypeItem>,
    #[prost(message, optional, tag = "23")]
    items: Option<ItemsItem>,
    #[prost(message, repeated, tag = "24")]
    all_of: Vec<Schema>,
    #[prost(message, optional, tag = "25")]
    properties: Option<Properties>,
    #[prost(message, repeated, tag = "31")]
    vendor_extension: Vec<NamedAny>,
}

#[derive(Clone, PartialEq, Message)]
struct AdditionalPropertiesItem {
    #[prost(message, optional, tag = "1")]
    schema: Option<Schema>,
    #[prost(bool, optional, tag = "2")]
    boolean: Option<bool>,
}

#[derive(Clone, PartialEq, Message)]
struct TypeItem {
    #[prost(string, repeated, tag = "1")]
    value: Vec<String>,
}

#[derive(Clone, PartialEq, Message)]
struct ItemsItem {
    #[prost(message, repeated, tag = "1")]
    schema: Vec<Schema>,
}

#[derive(Clone, PartialEq, Message)]
struct Properties {
    #[prost(message, repeated, tag = "1")]
    additional_properties: Vec<NamedSchema>,
}

#[derive(Clone, PartialEq, Message)]
struct NamedAny {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(message, optional, tag = "2")]
    value: Option<Any>,
}

#[derive(Clone, PartialEq, Message)]
struct Any {
    #[prost(string, tag = "2")]
    yaml: String,
}

/// Every schema in `s` (itself included).
fn walk<'a>(s: &'a Schema, out: &mut Vec<&'a Schema>) {
    out.push(s);
    for p in s.properties.iter().flat_map(|p| &p.additional_properties) {
        if let Some(v) = &p.value {
            walk(v, out);
        }
    }
    for i in s.items.iter().flat_map(|i| &i.schema) {
        walk(i, out);
    }
    for a in &s.all_of {
        walk(a, out);
    }
    if let Some(sub) = s
        .additional_properties
        .as_ref()
        .and_then(|a| a.schema.as_ref())
    {
        walk(sub, out);
    }
}

#[test]
fn the_protobuf_document_reads_back_as_kubectl_parses_it() {
    let json = super::v2(&Registry::builtin());
    let bytes = encode(&json);
    let doc = Document::decode(bytes.as_slice()).expect("a gnostic Document");
    assert_eq!(doc.swagger, "2.0");
    assert_eq!(doc.info.map(|i| i.title), Some("Kubernetes".to_string()));
    let paths = doc.paths.map(|p| p.path).unwrap_or_default();
    assert!(paths
        .iter()
        .any(|p| p.name == "/api/v1/namespaces/{namespace}/pods"));

    let defs = doc
        .definitions
        .map(|d| d.additional_properties)
        .unwrap_or_default();
    assert_eq!(
        defs.len(),
        json["definitions"].as_object().map_or(0, |m| m.len())
    );
    let names: HashSet<&str> = defs.iter().map(|d| d.name.as_str()).collect();
    let rc = defs
        .iter()
        .find(|d| d.name == "io.k8s.api.core.v1.ReplicationController")
        .and_then(|d| d.value.as_ref())
        .expect("ReplicationController");
    assert_eq!(
        rc.type_.as_ref().map(|t| t.value.clone()),
        Some(vec!["object".to_string()])
    );
    let gvk = rc
        .vendor_extension
        .iter()
        .find(|e| e.name == "x-kubernetes-group-version-kind")
        .and_then(|e| e.value.as_ref())
        .map(|v| serde_json::from_str::<serde_json::Value>(&v.yaml).ok())
        .expect("the GVK extension");
    assert_eq!(
        gvk,
        Some(serde_json::json!([{"group": "", "kind": "ReplicationController", "version": "v1"}]))
    );

    for d in &defs {
        let mut all = Vec::new();
        if let Some(v) = &d.value {
            walk(v, &mut all);
        }
        for s in all {
            if let Some(target) = s.reference.strip_prefix("#/definitions/") {
                assert!(names.contains(target), "{}: dangling $ref {target}", d.name);
            }
            let types = s
                .type_
                .as_ref()
                .map(|t| t.value.clone())
                .unwrap_or_default();
            assert!(types.len() <= 1, "{}: several types {types:?}", d.name);
            if types.first().map(String::as_str) == Some("array") {
                assert_eq!(
                    s.items.as_ref().map_or(0, |i| i.schema.len()),
                    1,
                    "{}: an array needs one item schema",
                    d.name
                );
            }
        }
    }
}
