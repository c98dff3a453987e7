//! Sets of field paths, as `managedFields[].fieldsV1` encodes them: a path
//! is a list of elements `f:<field>`, `k:<key object>` (an element of a
//! keyed list), `v:<value>` (an element of a set); the trie form marks a
//! node that is owned and has children with `"."`.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::shape::{ListKind, Shape};

/// One path (`["f:spec", "f:replicas"]`).
pub type Path = Vec<String>;

/// A set of owned paths.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSet(pub BTreeSet<Path>);

/// Fields never recorded as owned.
fn ignored(path: &[String]) -> bool {
    match path {
        [first] => matches!(first.as_str(), "f:apiVersion" | "f:kind" | "f:metadata"),
        [first, second, ..] if first == "f:metadata" => matches!(
            second.as_str(),
            "f:name"
                | "f:namespace"
                | "f:creationTimestamp"
                | "f:selfLink"
                | "f:uid"
                | "f:generation"
                | "f:managedFields"
                | "f:resourceVersion"
                | "f:deletionTimestamp"
                | "f:deletionGracePeriodSeconds"
        ),
        _ => false,
    }
}

impl FieldSet {
    pub fn contains(&self, p: &Path) -> bool {
        self.0.contains(p)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn union(&self, other: &FieldSet) -> FieldSet {
        FieldSet(self.0.union(&other.0).cloned().collect())
    }

    pub fn difference(&self, other: &FieldSet) -> FieldSet {
        FieldSet(self.0.difference(&other.0).cloned().collect())
    }

    pub fn intersection(&self, other: &FieldSet) -> FieldSet {
        FieldSet(self.0.intersection(&other.0).cloned().collect())
    }

    /// Drops the paths under `prefix` (or keeps only them, `keep_only`).
    pub fn split(&self, prefix: &str) -> (FieldSet, FieldSet) {
        let (inside, outside) = self
            .0
            .iter()
            .cloned()
            .partition(|p| p.first().is_some_and(|f| f == prefix));
        (FieldSet(inside), FieldSet(outside))
    }

    /// The set `fieldsV1` encodes.
    pub fn from_fields_v1(v: &Value) -> FieldSet {
        let mut set = BTreeSet::new();
        fn walk(v: &Value, path: &mut Path, set: &mut BTreeSet<Path>) {
            let Some(m) = v.as_object() else { return };
            if (m.is_empty() || m.contains_key(".")) && !path.is_empty() {
                set.insert(path.clone());
            }
            for (k, child) in m {
                if k == "." {
                    continue;
                }
                path.push(k.clone());
                walk(child, path, set);
                path.pop();
            }
        }
        walk(v, &mut Vec::new(), &mut set);
        FieldSet(set)
    }

    /// `fieldsV1` for this set.
    pub fn to_fields_v1(&self) -> Value {
        let mut root = Map::new();
        for path in &self.0 {
            let mut node = &mut root;
            for (i, el) in path.iter().enumerate() {
                let entry = node
                    .entry(el.clone())
                    .or_insert_with(|| Value::Object(Map::new()));
                let Some(child) = entry.as_object_mut() else {
                    break;
                };
                if i + 1 == path.len() && !child.is_empty() {
                    child.insert(".".into(), Value::Object(Map::new()));
                }
                node = child;
            }
        }
        // A node that is owned and got children after being inserted as a
        // leaf needs its "." as well.
        fn mark(v: &mut Value, path: &mut Path, set: &BTreeSet<Path>) {
            let Some(m) = v.as_object_mut() else { return };
            if !path.is_empty() && set.contains(path) && !m.is_empty() {
                m.insert(".".into(), Value::Object(Map::new()));
            }
            let keys: Vec<String> = m.keys().filter(|k| *k != ".").cloned().collect();
            for k in keys {
                path.push(k.clone());
                if let Some(child) = m.get_mut(&k) {
                    mark(child, path, set);
                }
                path.pop();
            }
        }
        let mut v = Value::Object(root);
        mark(&mut v, &mut Vec::new(), &self.0);
        v
    }

    /// Every field of `obj`, as server-side apply counts them.
    pub fn of(obj: &Value, shape: &Shape<'_>) -> FieldSet {
        let mut set = BTreeSet::new();
        walk_object(obj, shape, &mut Vec::new(), &mut set);
        set.retain(|p| !ignored(p));
        FieldSet(set)
    }
}

/// The `k:` element name of a keyed list item, `None` when it has no key.
pub fn key_element(item: &Value, keys: &[String], shape: &Shape<'_>) -> Option<String> {
    let mut k = Map::new();
    for f in keys {
        match item.get(f).cloned().or_else(|| shape.key_default(f)) {
            Some(v) => {
                k.insert(f.clone(), v);
            }
            None => continue,
        }
    }
    if k.is_empty() {
        return None;
    }
    // serde_json maps are sorted: the key is compact JSON with sorted names.
    Some(format!("k:{}", Value::Object(k)))
}

fn walk_object(obj: &Value, shape: &Shape<'_>, path: &mut Path, set: &mut BTreeSet<Path>) {
    let Some(m) = obj.as_object() else { return };
    for (k, v) in m {
        path.push(format!("f:{k}"));
        walk_value(v, &shape.field(k), path, set);
        path.pop();
    }
}

fn walk_value(v: &Value, shape: &Shape<'_>, path: &mut Path, set: &mut BTreeSet<Path>) {
    match v {
        Value::Object(m) if !m.is_empty() && !shape.atomic_object() => {
            walk_object(v, shape, path, set);
        }
        Value::Array(items) => match shape.list() {
            ListKind::Atomic => {
                set.insert(path.clone());
            }
            ListKind::Set => {
                for item in items {
                    path.push(format!("v:{item}"));
                    set.insert(path.clone());
                    path.pop();
                }
            }
            ListKind::Map(keys) => {
                let element = shape.element();
                for item in items {
                    let Some(k) = key_element(item, &keys, shape) else {
                        continue;
                    };
                    path.push(k);
                    set.insert(path.clone());
                    walk_object(item, &element, path, set);
                    path.pop();
                }
            }
        },
        _ => {
            set.insert(path.clone());
        }
    }
}

/// The value at `path` in `obj`.
pub fn get<'v>(obj: &'v Value, path: &[String], shape: &Shape<'_>) -> Option<&'v Value> {
    let Some((first, rest)) = path.split_first() else {
        return Some(obj);
    };
    if let Some(name) = first.strip_prefix("f:") {
        let child = obj.as_object()?.get(name)?;
        return get(child, rest, &shape.field(name));
    }
    let items = obj.as_array()?;
    if let Some(v) = first.strip_prefix("v:") {
        let want: Value = serde_json::from_str(v).ok()?;
        let found = items.iter().find(|i| **i == want)?;
        return if rest.is_empty() { Some(found) } else { None };
    }
    if first.starts_with("k:") {
        let ListKind::Map(keys) = shape.list() else {
            return None;
        };
        let found = items
            .iter()
            .find(|i| key_element(i, &keys, shape).as_deref() == Some(first.as_str()))?;
        return get(found, rest, &shape.element());
    }
    None
}

/// Removes the value at `path` from `obj` (if there).
pub fn remove(obj: &mut Value, path: &[String], shape: &Shape<'_>) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    if let Some(name) = first.strip_prefix("f:") {
        let Some(m) = obj.as_object_mut() else { return };
        if rest.is_empty() {
            m.remove(name);
        } else if let Some(child) = m.get_mut(name) {
            remove(child, rest, &shape.field(name));
        }
        return;
    }
    let keys = match shape.list() {
        ListKind::Map(keys) => Some(keys),
        _ => None,
    };
    let Some(items) = obj.as_array_mut() else {
        return;
    };
    let at = items.iter().position(|i| {
        if let Some(v) = first.strip_prefix("v:") {
            serde_json::from_str::<Value>(v).ok().as_ref() == Some(i)
        } else {
            keys.as_ref()
                .and_then(|k| key_element(i, k, shape))
                .as_deref()
                == Some(first.as_str())
        }
    });
    let Some(at) = at else { return };
    if rest.is_empty() {
        items.remove(at);
    } else {
        remove(&mut items[at], rest, &shape.element());
    }
}

/// `fieldpath.Path.String()`: `.spec.containers[name="web"].image`.
pub fn path_string(path: &[String]) -> String {
    let mut out = String::new();
    for el in path {
        if let Some(f) = el.strip_prefix("f:") {
            out.push('.');
            out.push_str(f);
        } else if let Some(v) = el.strip_prefix("v:") {
            out.push_str(&format!("[={v}]"));
        } else if let Some(k) = el.strip_prefix("k:") {
            let parts: Vec<String> = serde_json::from_str::<Map<String, Value>>(k)
                .unwrap_or_default()
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            out.push_str(&format!("[{}]", parts.join(",")));
        }
    }
    out
}
