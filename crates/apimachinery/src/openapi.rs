//! OpenAPI v3 documents generated from the registry: the index
//! (`/openapi/v3`) and one document per group/version with every path and
//! operation rkube serves, the query parameters it accepts
//! (`fieldValidation`, `dryRun`, `fieldManager`) and Kubernetes'
//! `x-kubernetes-group-version-kind` / `x-kubernetes-action` extensions.
//! kubectl reads these to learn that the server validates fields itself
//! (then `create|apply -f` send `fieldValidation=Strict` instead of
//! validating on the client).
//!
//! Schemas of the kinds are not generated yet (`kubectl explain` needs
//! them): every body is described as a free-form object.

use serde_json::{json, Map, Value};

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
        if let Some(doc) = v3_group_version(reg, &g, &v) {
            let seg = segment(&g, &v);
            paths.insert(
                seg.clone(),
                json!({"serverRelativeURL": format!("/openapi/v3/{seg}?hash={}", hash(&doc))}),
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
    let mut op = json!({
        "operationId": format!("{verb_id}{kind}{}{}", info.version, info.kind),
        "responses": {"200": {"description": "OK",
            "content": {"application/json": {"schema": {"type": "object"}}}}},
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

/// The document of one group/version, or `None` when nothing is served there.
pub fn v3_group_version(reg: &Registry, group: &str, version: &str) -> Option<Value> {
    let mut paths = Map::new();
    let mut any = false;
    for info in reg
        .iter()
        .filter(|r| r.group == group && r.version == version)
    {
        any = true;
        paths_of(info, &mut paths);
    }
    any.then(|| {
        json!({
            "openapi": "3.0.0",
            "info": {"title": "Kubernetes", "version": group_version(group, version)},
            "paths": paths,
            "components": {"schemas": {}},
        })
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
}
