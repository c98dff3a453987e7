//! OpenAPI v3 documents generated from the registry: the index
//! (`/openapi/v3`) and one document per group/version with every path and
//! operation rkube serves, the query parameters it accepts
//! (`fieldValidation`, `dryRun`, `fieldManager`) and Kubernetes'
//! `x-kubernetes-group-version-kind` / `x-kubernetes-action` extensions.
//! kubectl reads these to learn that the server validates fields itself
//! (then `create|apply -f` send `fieldValidation=Strict` instead of
//! validating on the client).
//!
//! `schemas.rs` adds the `components.schemas` (`kubectl explain` reads
//! them). `/openapi/v2` is the same in Swagger 2.0 form, as JSON or, in
//! `v2_proto.rs`, as gnostic's protobuf message.

mod schemas;
pub mod v2_proto;

use serde_json::{json, Map, Value};

use schemas::Flavor;

use crate::registry::{group_version, Registry, ResourceInfo};

/// The URL segment of a group/version's document (`api/v1`, `apis/apps/v1`).
fn segment(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// A stable short hash of a document, for `serverRelativeURL`'s `?hash=`.
fn hash(v: &Value) -> String {
    let bytes = serde_json::to_vec(v).unwrap_or_default();
    // FNV-1a, 64 bits: enough to tell versions of a document apart.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016X}")
}

/// The index: every group/version and the URL of its document.
pub fn v3_index(reg: &Registry) -> Value {
    let mut paths = Map::new();
    let mut gvs: Vec<(String, String)> = reg
        .iter()
        .map(|r| (r.group.clone(), r.version.clone()))
        .collect();
    gvs.sort();
    gvs.dedup();
    for (g, v) in gvs {
        // The schemas follow from the paths, the binary and the CRDs: hash
        // those rather than generating every document.
        if let Some(paths_only) = paths_document(reg, &g, &v) {
            let sources: Vec<String> = reg
                .iter()
                .filter(|r| r.group == g && r.version == v)
                .filter_map(|r| r.custom.as_ref().map(|c| c.source.clone()))
                .collect();
            let key = json!([paths_only, sources, env!("CARGO_PKG_VERSION")]);
            let seg = segment(&g, &v);
            paths.insert(
                seg.clone(),
                json!({"serverRelativeURL": format!("/openapi/v3/{seg}?hash={}", hash(&key))}),
            );
        }
    }
    json!({ "paths": paths })
}

fn query(name: &str, description: &str) -> Value {
    json!({"name": name, "in": "query", "description": description,
           "schema": {"type": "string", "uniqueItems": true}})
}

fn write_params() -> Vec<Value> {
    vec![
        query("dryRun", "When present, indicates that modifications should not be persisted."),
        query("fieldManager", "fieldManager is a name associated with the actor or entity that is making these changes."),
        query("fieldValidation", "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: Ignore, Warn (default), Strict."),
    ]
}

fn operation(info: &ResourceInfo, action: &str, verb_id: &str, write: bool) -> Value {
    let kind = if info.group.is_empty() { "Core" } else { "" };
    let body = match (action, info.custom.is_some()) {
        ("list" | "deletecollection", _) => json!({"type": "object"}),
        _ => Flavor::V3.reference(&format!("{{{}}}", info.kind)),
    };
    let mut op = json!({
        "operationId": format!("{verb_id}{kind}{}{}", info.version, info.kind),
        "responses": {"200": {"description": "OK",
            "content": {"application/json": {"schema": body}}}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {"group": info.group, "version": info.version, "kind": info.kind},
    });
    if write {
        op["parameters"] = Value::Array(write_params());
        op["requestBody"] =
            json!({"content": {"*/*": {"schema": {"type": "object"}}}, "required": true});
    }
    op
}

fn paths_of(info: &ResourceInfo, paths: &mut Map<String, Value>) {
    let base = if info.group.is_empty() {
        format!("/api/{}", info.version)
    } else {
        format!("/apis/{}/{}", info.group, info.version)
    };
    let collection = if info.namespaced {
        format!("{base}/namespaces/{{namespace}}/{}", info.plural)
    } else {
        format!("{base}/{}", info.plural)
    };
    let item = format!("{collection}/{{name}}");
    let mut coll = Map::new();
    if info.has_verb("list") {
        coll.insert("get".into(), operation(info, "list", "list", false));
    }
    if info.has_verb("create") {
        coll.insert("post".into(), operation(info, "post", "create", true));
    }
    if info.has_verb("deletecollection") {
        coll.insert(
            "delete".into(),
            operation(info, "deletecollection", "deleteCollection", false),
        );
    }
    if !coll.is_empty() {
        paths.insert(collection, Value::Object(coll));
    }
    let mut one = Map::new();
    if info.has_verb("get") {
        one.insert("get".into(), operation(info, "get", "read", false));
    }
    if info.has_verb("update") {
        one.insert("put".into(), operation(info, "put", "replace", true));
    }
    if info.has_verb("patch") {
        one.insert("patch".into(), operation(info, "patch", "patch", true));
    }
    if info.has_verb("delete") {
        one.insert("delete".into(), operation(info, "delete", "delete", false));
    }
    if !one.is_empty() {
        paths.insert(item, Value::Object(one));
    }
}

/// The paths of one group/version (`None` when nothing is served there);
/// operations refer to their kind's schema as `{Kind}`, resolved by
/// [`resolve_refs`].
fn paths_document(reg: &Registry, group: &str, version: &str) -> Option<Map<String, Value>> {
    let mut paths = Map::new();
    let mut any = false;
    for info in reg
        .iter()
        .filter(|r| r.group == group && r.version == version)
    {
        any = true;
        paths_of(info, &mut paths);
    }
    any.then_some(paths)
}

/// Replaces the `{Kind}` placeholders of operation `$ref`s with the
/// definitions' names (or a free-form object when a kind has none).
fn resolve_refs(v: &mut Value, kinds: &Map<String, Value>, flavor: Flavor) {
    match v {
        Value::Object(m) => {
            let placeholder = m
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.rsplit('/').next())
                .and_then(|k| k.strip_prefix('{').and_then(|k| k.strip_suffix('}')))
                .map(str::to_string);
            if let Some(kind) = placeholder {
                *v = match kinds.get(&kind).and_then(|k| k["name"].as_str()) {
                    Some(name) => flavor.reference(name),
                    None => json!({"type": "object"}),
                };
                return;
            }
            for child in m.values_mut() {
                resolve_refs(child, kinds, flavor);
            }
        }
        Value::Array(items) => {
            for child in items {
                resolve_refs(child, kinds, flavor);
            }
        }
        _ => {}
    }
}

/// The document of one group/version, or `None` when nothing is served there.
pub fn v3_group_version(reg: &Registry, group: &str, version: &str) -> Option<Value> {
    let mut paths = Value::Object(paths_document(reg, group, version)?);
    let served: Vec<&ResourceInfo> = reg
        .iter()
        .filter(|r| r.group == group && r.version == version)
        .collect();
    let (schemas, kinds) = schemas::components(&served, Flavor::V3);
    resolve_refs(&mut paths, &kinds, Flavor::V3);
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": group_version(group, version)},
        "paths": paths,
        "components": {"schemas": schemas},
    }))
}

/// `/openapi/v2`: every served path and definition, Swagger 2.0.
pub fn v2(reg: &Registry) -> Value {
    let served: Vec<&ResourceInfo> = reg.iter().collect();
    let (definitions, kinds) = schemas::components(&served, Flavor::V2);
    let mut paths = Map::new();
    for info in &served {
        paths_of(info, &mut paths);
    }
    // Swagger 2.0 operations: the body and response schemas directly.
    let mut paths = Value::Object(paths);
    for ops in paths
        .as_object_mut()
        .into_iter()
        .flat_map(|p| p.values_mut())
    {
        for op in ops.as_object_mut().into_iter().flat_map(|o| o.values_mut()) {
            let Some(op) = op.as_object_mut() else {
                continue;
            };
            let schema = op
                .get_mut("responses")
                .and_then(|r| r.pointer_mut("/200/content/application~1json/schema"))
                .map(Value::take);
            if let Some(schema) = schema {
                op.insert(
                    "responses".into(),
                    json!({"200": {"description": "OK", "schema": schema}}),
                );
            }
            if let Some(body) = op.remove("requestBody") {
                let params = op.entry("parameters").or_insert_with(|| json!([]));
                if let Some(p) = params.as_array_mut() {
                    let schema = body
                        .pointer("/content/*~1*/schema")
                        .cloned()
                        .unwrap_or(json!({}));
                    p.push(
                        json!({"name": "body", "in": "body", "required": true, "schema": schema}),
                    );
                }
            }
            for p in op
                .get_mut("parameters")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                if let Some(m) = p
                    .as_object_mut()
                    .filter(|m| m.get("in") == Some(&json!("query")))
                {
                    m.remove("schema");
                    m.insert("type".into(), json!("string"));
                    m.insert("uniqueItems".into(), json!(true));
                }
            }
        }
    }
    resolve_refs(&mut paths, &kinds, Flavor::V2);
    json!({
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": env!("CARGO_PKG_VERSION")},
        "paths": paths,
        "definitions": definitions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_index_and_a_document() {
        let reg = Registry::builtin();
        let index = v3_index(&reg);
        let url = index["paths"]["apis/apps/v1"]["serverRelativeURL"]
            .as_str()
            .unwrap_or("");
        assert!(url.starts_with("/openapi/v3/apis/apps/v1?hash="), "{url}");
        assert!(index["paths"]["api/v1"].is_object());
        let doc = v3_group_version(&reg, "apps", "v1").expect("apps/v1");
        let patch =
            &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
        assert_eq!(
            patch["x-kubernetes-group-version-kind"]["kind"],
            "Deployment"
        );
        assert!(patch["parameters"]
            .as_array()
            .is_some_and(|ps| ps.iter().any(|p| p["name"] == "fieldValidation")));
        assert!(v3_group_version(&reg, "nope", "v1").is_none());
    }

    #[test]
    fn schemas_come_from_the_served_types_with_kubernetes_extensions() {
        let reg = Registry::builtin();
        let doc = v3_group_version(&reg, "apps", "v1").expect("apps/v1");
        let schemas = &doc["components"]["schemas"];
        let d = &schemas["io.k8s.api.apps.v1.Deployment"];
        assert_eq!(
            d["x-kubernetes-group-version-kind"],
            json!([{"group": "apps", "version": "v1", "kind": "Deployment"}])
        );
        assert!(d["description"]
            .as_str()
            .is_some_and(|t| t.contains("Deployment")));
        let containers = &schemas["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"];
        assert_eq!(containers["x-kubernetes-patch-merge-key"], "name");
        assert_eq!(containers["x-kubernetes-patch-strategy"], "merge");
        let ports = &schemas["io.k8s.api.core.v1.Container"]["properties"]["ports"];
        assert_eq!(ports["x-kubernetes-patch-merge-key"], "containerPort");
        // Every $ref resolves.
        let text = doc.to_string();
        for r in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
            let name = r.split('"').next().unwrap_or("");
            assert!(schemas.get(name).is_some(), "dangling $ref {name}");
        }
        let get = &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["get"];
        assert_eq!(
            get["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/io.k8s.api.apps.v1.Deployment"
        );
        let v2 = v2(&reg);
        assert!(v2["definitions"]["io.k8s.api.core.v1.Pod"]["properties"]["spec"].is_object());
        assert!(!v2.to_string().contains("#/components/"));
    }
}

#[cfg(test)]
mod v2_proto_tests;
