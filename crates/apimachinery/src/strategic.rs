//! Strategic merge patch (`application/strategic-merge-patch+json`) for
//! built-in kinds: maps merge key by key (`null` deletes), lists of objects
//! with a patch merge key merge element by element, a few primitive lists
//! merge as sets, every other list is replaced. Directives: `$patch:
//! replace|delete|merge`, `$retainKeys`, `$deleteFromPrimitiveList/<f>`,
//! `$setElementOrder/<f>` (accepted; order is kept as merged).
//!
//! The merge keys are Kubernetes' `patchMergeKey` struct tags (see
//! `shared/reference/patch-metadata.md`), looked up by field name and, for
//! `ports`, by where the list is (container ports by `containerPort`,
//! service ports by `port`).

use serde_json::{Map, Value};

/// How a list field merges.
enum ListMerge {
    /// Objects merged by this key.
    Key(&'static str),
    /// Primitive values merged as a set.
    Set,
    /// Replaced whole.
    Replace,
}

fn list_merge(path: &[String], field: &str) -> ListMerge {
    match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "volumes"
        | "env"
        | "imagePullSecrets"
        | "schedulingGates"
        | "resourceClaims"
        | "secrets"
        | "evictionResponders"
        | "allocatedResourcesStatus" => ListMerge::Key("name"),
        "volumeMounts" => ListMerge::Key("mountPath"),
        "volumeDevices" => ListMerge::Key("devicePath"),
        "conditions" | "addresses" => ListMerge::Key("type"),
        "hostAliases" | "podIPs" | "hostIPs" => ListMerge::Key("ip"),
        "topologySpreadConstraints" => ListMerge::Key("topologyKey"),
        "ownerReferences" => ListMerge::Key("uid"),
        "finalizers" | "podCIDRs" => ListMerge::Set,
        "ports" => {
            let in_container = path.iter().rev().nth(1).is_some_and(|p| {
                matches!(
                    p.as_str(),
                    "containers" | "initContainers" | "ephemeralContainers"
                )
            });
            if in_container {
                ListMerge::Key("containerPort")
            } else {
                ListMerge::Key("port")
            }
        }
        _ => ListMerge::Replace,
    }
}

/// How list field `field` merges, for the OpenAPI extensions:
/// `Some(Some(key))` merges objects by `key`, `Some(None)` merges primitive
/// values as a set, `None` replaces the list. `in_container` tells
/// container ports (by `containerPort`) from others (by `port`).
pub fn list_strategy(field: &str, in_container: bool) -> Option<Option<&'static str>> {
    let path: Vec<String> = if in_container {
        vec!["containers".into(), "0".into()]
    } else {
        Vec::new()
    };
    match list_merge(&path, field) {
        ListMerge::Key(k) => Some(Some(k)),
        ListMerge::Set => Some(None),
        ListMerge::Replace => None,
    }
}

/// Why a patch could not be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PatchError(pub String);

/// Applies the strategic merge patch `patch` to `doc`.
pub fn apply(doc: &mut Value, patch: &Value) -> Result<(), PatchError> {
    if !patch.is_object() {
        return Err(PatchError(
            "a strategic merge patch must be a JSON object".into(),
        ));
    }
    merge_map(doc, patch, &mut Vec::new())
}

fn merge_map(doc: &mut Value, patch: &Value, path: &mut Vec<String>) -> Result<(), PatchError> {
    let Some(p) = patch.as_object() else {
        *doc = patch.clone();
        return Ok(());
    };
    match p.get("$patch").and_then(Value::as_str) {
        Some("replace") => {
            let mut rest = p.clone();
            rest.remove("$patch");
            *doc = Value::Object(rest);
            return Ok(());
        }
        Some("delete") => {
            *doc = Value::Null;
            return Ok(());
        }
        Some("merge") | None => {}
        Some(other) => return Err(PatchError(format!("unknown patch type: {other}"))),
    }
    if !doc.is_object() {
        *doc = Value::Object(Map::new());
    }
    let Some(d) = doc.as_object_mut() else {
        return Ok(());
    };
    if let Some(keep) = p.get("$retainKeys").and_then(Value::as_array) {
        let keep: Vec<&str> = keep.iter().filter_map(Value::as_str).collect();
        d.retain(|k, _| keep.contains(&k.as_str()));
    }
    for (k, v) in p {
        if k == "$patch" || k == "$retainKeys" || k.starts_with("$setElementOrder/") {
            continue;
        }
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
            let gone: Vec<&Value> = v.as_array().map(|a| a.iter().collect()).unwrap_or_default();
            if let Some(list) = d.get_mut(field).and_then(Value::as_array_mut) {
                list.retain(|x| !gone.contains(&x));
            }
            continue;
        }
        if v.is_null() {
            d.remove(k);
            continue;
        }
        path.push(k.clone());
        match v {
            Value::Object(_) => {
                let slot = d.entry(k.clone()).or_insert(Value::Null);
                merge_map(slot, v, path)?;
                if slot.is_null() {
                    d.remove(k);
                }
            }
            Value::Array(items) => {
                let merged = merge_list(d.get(k), items, path, k)?;
                d.insert(k.clone(), merged);
            }
            _ => {
                d.insert(k.clone(), v.clone());
            }
        }
        path.pop();
    }
    Ok(())
}

fn merge_list(
    current: Option<&Value>,
    items: &[Value],
    path: &mut Vec<String>,
    field: &str,
) -> Result<Value, PatchError> {
    // A `{"$patch": "replace"}` element: the rest replaces the list.
    if items
        .iter()
        .any(|i| i.get("$patch").and_then(Value::as_str) == Some("replace"))
    {
        return Ok(Value::Array(
            items
                .iter()
                .filter(|i| i.get("$patch").is_none())
                .cloned()
                .collect(),
        ));
    }
    let mut list: Vec<Value> = current
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    match list_merge(path, field) {
        ListMerge::Replace => Ok(Value::Array(items.to_vec())),
        ListMerge::Set => {
            for i in items {
                if !list.contains(i) {
                    list.push(i.clone());
                }
            }
            Ok(Value::Array(list))
        }
        ListMerge::Key(key) => {
            for item in items {
                let Some(k) = item.get(key).filter(|k| !k.is_null()) else {
                    return Err(PatchError(format!(
                        "map: {item} does not contain declared merge key: {key}"
                    )));
                };
                let at = list.iter().position(|e| e.get(key) == Some(k));
                let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
                match (at, delete) {
                    (Some(i), true) => {
                        list.remove(i);
                    }
                    (None, true) => {}
                    (Some(i), false) => merge_map(&mut list[i], item, path)?,
                    (None, false) => {
                        let mut fresh = Value::Object(Map::new());
                        merge_map(&mut fresh, item, path)?;
                        list.push(fresh);
                    }
                }
            }
            Ok(Value::Array(list))
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn patched(mut doc: Value, patch: Value) -> Value {
        apply(&mut doc, &patch).expect("applies");
        doc
    }

    fn pod() -> Value {
        json!({"metadata": {"labels": {"a": "1", "b": "2"}, "finalizers": ["x"]},
               "spec": {"containers": [
                   {"name": "web", "image": "nginx", "ports": [{"containerPort": 80, "protocol": "TCP"}],
                    "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
                   {"name": "side", "image": "busybox"}],
                 "tolerations": [{"key": "k"}]}})
    }

    #[test]
    fn containers_merge_by_name() {
        let p = patched(
            pod(),
            json!({"spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}),
        );
        let c = &p["spec"]["containers"];
        assert_eq!(
            c.as_array().map(Vec::len),
            Some(2),
            "the other container stays"
        );
        assert_eq!(c[0]["image"], "nginx:1.27");
        assert_eq!(
            c[0]["ports"][0]["containerPort"], 80,
            "untouched fields stay"
        );
    }

    #[test]
    fn nested_lists_and_directives() {
        let p = patched(
            pod(),
            json!({"spec": {"containers": [{"name": "web",
                "env": [{"name": "B", "$patch": "delete"}, {"name": "C", "value": "3"}],
                "ports": [{"containerPort": 443}]},
                {"name": "side", "$patch": "delete"}],
                "tolerations": [{"key": "other"}]},
              "metadata": {"labels": {"a": null, "c": "3"}, "finalizers": ["y"]}}),
        );
        assert_eq!(p["spec"]["containers"].as_array().map(Vec::len), Some(1));
        let web = &p["spec"]["containers"][0];
        assert_eq!(
            web["env"],
            json!([{"name": "A", "value": "1"}, {"name": "C", "value": "3"}])
        );
        assert_eq!(web["ports"].as_array().map(Vec::len), Some(2));
        assert_eq!(
            p["spec"]["tolerations"],
            json!([{"key": "other"}]),
            "no merge key: replaced"
        );
        assert_eq!(p["metadata"]["labels"], json!({"b": "2", "c": "3"}));
        assert_eq!(p["metadata"]["finalizers"], json!(["x", "y"]), "a set");

        let p = patched(
            pod(),
            json!({"$deleteFromPrimitiveList/finalizers": ["x"], "metadata": {}}),
        );
        assert_eq!(
            p["metadata"]["finalizers"],
            json!(["x"]),
            "the directive applies at its own level"
        );
        let p = patched(
            pod(),
            json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["x"]}}),
        );
        assert_eq!(p["metadata"]["finalizers"], json!([]));
        let p = patched(
            pod(),
            json!({"spec": {"containers": [{"name": "only", "image": "i"}, {"$patch": "replace"}]}}),
        );
        assert_eq!(
            p["spec"]["containers"],
            json!([{"name": "only", "image": "i"}])
        );
        let p = patched(
            pod(),
            json!({"metadata": {"labels": {"$patch": "replace", "z": "9"}}}),
        );
        assert_eq!(p["metadata"]["labels"], json!({"z": "9"}));
    }

    #[test]
    fn service_ports_merge_by_port() {
        let svc = json!({"spec": {"ports": [{"port": 80, "targetPort": 8080}]}});
        let p = patched(
            svc,
            json!({"spec": {"ports": [{"port": 80, "targetPort": 9090}, {"port": 443}]}}),
        );
        assert_eq!(
            p["spec"]["ports"],
            json!([{"port": 80, "targetPort": 9090}, {"port": 443}])
        );
    }

    #[test]
    fn a_missing_merge_key_is_an_error() {
        let mut doc = pod();
        assert!(apply(&mut doc, &json!({"spec": {"containers": [{"image": "x"}]}})).is_err());
        assert!(apply(&mut doc, &json!([1])).is_err());
    }
}
