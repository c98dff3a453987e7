//! Sets of field paths, as `managedFields[].fieldsV1` encodes them: a path
//! is a list of elements `f:<field>`, `k:<key object>` (an element of a
//! keyed list), `v:<value>` (an element of a set); the trie form marks a
//! node that is owned and has children with `"."`.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::shape::{ListKind, Shape};

/// One path: its elements (`f:spec`, `f:replicas`) joined by NUL, which
/// no element contains — one allocation per path.
pub type Path = String;

const SEP: char = '\0';

/// The path of these elements.
pub fn path(elements: &[&str]) -> Path {
    elements.join("\0")
}

/// The elements of a path.
pub fn elements(p: &str) -> impl Iterator<Item = &str> {
    p.split(SEP).filter(|e| !e.is_empty())
}

fn push(p: &mut String, el: &str) -> usize {
    let len = p.len();
    if !p.is_empty() {
        p.push(SEP);
    }
    p.push_str(el);
    len
}

/// A set of owned paths.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSet(pub BTreeSet<Path>);

/// Fields never recorded as owned.
fn ignored(path: &str) -> bool {
    let mut els = elements(path);
    match (els.next(), els.next()) {
        (Some(first), None) => matches!(first, "f:apiVersion" | "f:kind" | "f:metadata"),
        (Some("f:metadata"), Some(second)) => matches!(
            second,
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
    pub fn contains(&self, p: &str) -> bool {
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
            .partition(|p| elements(p).next() == Some(prefix));
        (FieldSet(inside), FieldSet(outside))
    }

    /// The set `fieldsV1` encodes.
    pub fn from_fields_v1(v: &Value) -> FieldSet {
        let mut set = BTreeSet::new();
        fn walk(v: &Value, path: &mut String, set: &mut BTreeSet<Path>) {
            let Some(m) = v.as_object() else { return };
            if (m.is_empty() || m.contains_key(".")) && !path.is_empty() {
                set.insert(path.clone());
            }
            for (k, child) in m {
                if k == "." {
                    continue;
                }
                let len = push(path, k);
                walk(child, path, set);
                path.truncate(len);
            }
        }
        walk(v, &mut String::new(), &mut set);
        FieldSet(set)
    }

    /// `fieldsV1` for this set.
    pub fn to_fields_v1(&self) -> Value {
        let mut root = Map::new();
        for p in &self.0 {
            let mut node = &mut root;
            for el in elements(p) {
                let entry = node
                    .entry(el.to_string())
                    .or_insert_with(|| Value::Object(Map::new()));
                let Some(child) = entry.as_object_mut() else {
                    break;
                };
                node = child;
            }
        }
        // An owned node with children says so with ".".
        fn mark(v: &mut Value, path: &mut String, set: &BTreeSet<Path>) {
            let Some(m) = v.as_object_mut() else { return };
            if !path.is_empty() && !m.is_empty() && set.contains(path.as_str()) {
                m.insert(".".into(), Value::Object(Map::new()));
            }
            for (k, child) in m.iter_mut() {
                if k == "." {
                    continue;
                }
                let len = push(path, k);
                mark(child, path, set);
                path.truncate(len);
            }
        }
        let mut v = Value::Object(root);
        mark(&mut v, &mut String::new(), &self.0);
        v
    }

    /// Every field of `obj`, as server-side apply counts them.
    pub fn of(obj: &Value, shape: &Shape<'_>) -> FieldSet {
        let mut w = Walk {
            all: BTreeSet::new(),
            changed: None,
        };
        pair_object(obj, None, shape, &mut String::new(), &mut w);
        w.all.retain(|p| !ignored(p));
        FieldSet(w.all)
    }
}

/// `fieldsV1` of every field of `obj` (what [`FieldSet::of`] gives, then
/// [`FieldSet::to_fields_v1`]), built in one walk: the creator's entry.
/// `without_status` leaves out `status` (kinds with a status subresource).
pub fn fields_v1_of(obj: &Value, shape: &Shape<'_>, without_status: bool) -> Value {
    let mut root = Map::new();
    let Some(m) = obj.as_object() else {
        return Value::Object(root);
    };
    for (k, v) in m {
        match k.as_str() {
            "apiVersion" | "kind" => {}
            "status" if without_status => {}
            "metadata" => {
                let mut meta = Map::new();
                for (mk, mv) in v.as_object().into_iter().flatten() {
                    let p = format!("f:metadata{SEP}f:{mk}");
                    if !ignored(&p) {
                        meta.insert(format!("f:{mk}"), trie_value(mv, &shape.field(k).field(mk)));
                    }
                }
                if !meta.is_empty() {
                    root.insert("f:metadata".into(), Value::Object(meta));
                }
            }
            _ => {
                root.insert(format!("f:{k}"), trie_value(v, &shape.field(k)));
            }
        }
    }
    Value::Object(root)
}

fn trie_object(obj: &Map<String, Value>, shape: &Shape<'_>, out: &mut Map<String, Value>) {
    for (k, v) in obj {
        out.insert(format!("f:{k}"), trie_value(v, &shape.field(k)));
    }
}

fn trie_value(v: &Value, shape: &Shape<'_>) -> Value {
    let mut out = Map::new();
    match v {
        Value::Object(m) if !m.is_empty() && !shape.atomic_object() => {
            trie_object(m, shape, &mut out);
        }
        Value::Array(items) => match shape.list() {
            ListKind::Atomic => {}
            ListKind::Set => {
                for item in items {
                    out.insert(format!("v:{item}"), Value::Object(Map::new()));
                }
            }
            ListKind::Map(keys) => {
                let element = shape.element();
                for item in items {
                    let Some(k) = key_element(item, &keys, shape) else {
                        continue;
                    };
                    let mut e = Map::new();
                    e.insert(".".into(), Value::Object(Map::new()));
                    if let Some(m) = item.as_object() {
                        trie_object(m, &element, &mut e);
                    }
                    out.insert(k, Value::Object(e));
                }
            }
        },
        _ => {}
    }
    Value::Object(out)
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

/// The fields of `new` (as [`FieldSet::of`]) and those of them whose value
/// differs from `old`'s (an element of a keyed list or set counts only
/// when `old` lacks it), in one walk of both.
pub fn of_and_changed(old: &Value, new: &Value, shape: &Shape<'_>) -> (FieldSet, FieldSet) {
    let mut w = Walk {
        all: BTreeSet::new(),
        changed: Some(BTreeSet::new()),
    };
    pair_object(new, Some(old), shape, &mut String::new(), &mut w);
    let mut changed = w.changed.unwrap_or_default();
    w.all.retain(|p| !ignored(p));
    changed.retain(|p| !ignored(p));
    (FieldSet(w.all), FieldSet(changed))
}

/// What an update removed (fields of `old` that `new` lacks) and changed
/// (fields of `new` added or with another value; as [`of_and_changed`]),
/// walking only where the two differ: a status write to a pod skips its
/// spec and metadata after one comparison each, instead of collecting
/// every field of both objects and taking set differences.
pub fn removed_and_changed(old: &Value, new: &Value, shape: &Shape<'_>) -> (FieldSet, FieldSet) {
    let mut d = Diff::default();
    d.object(old, new, shape, &mut String::new());
    d.removed.retain(|p| !ignored(p));
    d.changed.retain(|p| !ignored(p));
    (FieldSet(d.removed), FieldSet(d.changed))
}

#[derive(Default)]
struct Diff {
    removed: BTreeSet<Path>,
    changed: BTreeSet<Path>,
}

impl Diff {
    /// Two objects at `path` (the root, or a field that is a non-atomic
    /// object on both sides).
    fn object(&mut self, old: &Value, new: &Value, shape: &Shape<'_>, path: &mut String) {
        let (Some(o), Some(n)) = (old.as_object(), new.as_object()) else {
            return self.general(Some(old), Some(new), shape, path, pair_object);
        };
        for (k, nv) in n {
            let len = push_field(path, k);
            match o.get(k.as_str()) {
                Some(ov) if ov == nv => {}
                ov => self.value(ov, nv, &shape.field(k), path),
            }
            path.truncate(len);
        }
        for (k, ov) in o {
            if !n.contains_key(k.as_str()) {
                let len = push_field(path, k);
                self.general(Some(ov), None, &shape.field(k), path, pair_value);
                path.truncate(len);
            }
        }
    }

    /// A field present in `new` (and maybe in `old`) whose values differ.
    fn value(&mut self, old: Option<&Value>, new: &Value, shape: &Shape<'_>, path: &mut String) {
        match (old, new) {
            (Some(o @ Value::Object(om)), Value::Object(nm))
                if !om.is_empty() && !nm.is_empty() && !shape.atomic_object() =>
            {
                self.object(o, new, shape, path)
            }
            _ => self.general(old, Some(new), shape, path, pair_value),
        }
    }

    /// Lists, leaves, and values whose type changed: the general walk of
    /// this place on both sides.
    fn general(
        &mut self,
        old: Option<&Value>,
        new: Option<&Value>,
        shape: &Shape<'_>,
        path: &mut String,
        walk: fn(&Value, Option<&Value>, &Shape<'_>, &mut String, &mut Walk),
    ) {
        let mut n = Walk {
            all: BTreeSet::new(),
            changed: Some(BTreeSet::new()),
        };
        if let Some(new) = new {
            walk(new, old, shape, path, &mut n);
        }
        let mut o = Walk {
            all: BTreeSet::new(),
            changed: None,
        };
        if let Some(old) = old {
            walk(old, None, shape, path, &mut o);
        }
        self.changed.extend(n.changed.unwrap_or_default());
        self.removed.extend(o.all.difference(&n.all).cloned());
    }
}

/// Appends the field `k` to `path`; returns the length to truncate back to.
fn push_field(path: &mut String, k: &str) -> usize {
    let len = path.len();
    if !path.is_empty() {
        path.push(SEP);
    }
    path.push_str("f:");
    path.push_str(k);
    len
}

/// What a walk of an object collects: every field path, and (when asked)
/// those whose value differs from the old object's.
struct Walk {
    all: BTreeSet<Path>,
    changed: Option<BTreeSet<Path>>,
}

impl Walk {
    fn record(&mut self, path: &str, differs: bool) {
        self.all.insert(path.to_string());
        if let (true, Some(changed)) = (differs, self.changed.as_mut()) {
            changed.insert(path.to_string());
        }
    }
}

/// Walks `new`'s fields; `old` is the same place in the old object, if any.
fn pair_object(
    new: &Value,
    old: Option<&Value>,
    shape: &Shape<'_>,
    path: &mut String,
    w: &mut Walk,
) {
    let Some(m) = new.as_object() else { return };
    for (k, v) in m {
        let len = path.len();
        if !path.is_empty() {
            path.push(SEP);
        }
        path.push_str("f:");
        path.push_str(k);
        let before = old.and_then(|o| o.get(k.as_str()));
        pair_value(v, before, &shape.field(k), path, w);
        path.truncate(len);
    }
}

fn pair_value(
    new: &Value,
    old: Option<&Value>,
    shape: &Shape<'_>,
    path: &mut String,
    w: &mut Walk,
) {
    match new {
        Value::Object(m) if !m.is_empty() && !shape.atomic_object() => {
            pair_object(new, old, shape, path, w);
        }
        Value::Array(items) => match shape.list() {
            ListKind::Atomic => w.record(path, old != Some(new)),
            ListKind::Set => {
                let before = old.and_then(Value::as_array);
                for item in items {
                    let len = push(path, &format!("v:{item}"));
                    w.record(path, !before.is_some_and(|b| b.contains(item)));
                    path.truncate(len);
                }
            }
            ListKind::Map(keys) => {
                let element = shape.element();
                let before: Vec<(Option<String>, &Value)> = old
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(|i| (key_element(i, &keys, shape), i))
                    .collect();
                for item in items {
                    let Some(k) = key_element(item, &keys, shape) else {
                        continue;
                    };
                    let prior = before
                        .iter()
                        .find(|(bk, _)| bk.as_deref() == Some(k.as_str()))
                        .map(|(_, v)| *v);
                    let len = push(path, &k);
                    w.record(path, prior.is_none());
                    pair_object(item, prior, &element, path, w);
                    path.truncate(len);
                }
            }
        },
        _ => w.record(path, old != Some(new)),
    }
}

/// The value at `path` in `obj`.
pub fn get<'v>(obj: &'v Value, path: &str, shape: &Shape<'_>) -> Option<&'v Value> {
    let els: Vec<&str> = elements(path).collect();
    get_in(obj, &els, shape)
}

fn get_in<'v>(obj: &'v Value, path: &[&str], shape: &Shape<'_>) -> Option<&'v Value> {
    let Some((first, rest)) = path.split_first() else {
        return Some(obj);
    };
    if let Some(name) = first.strip_prefix("f:") {
        let child = obj.as_object()?.get(name)?;
        return get_in(child, rest, &shape.field(name));
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
            .find(|i| key_element(i, &keys, shape).as_deref() == Some(*first))?;
        return get_in(found, rest, &shape.element());
    }
    None
}

/// Removes the value at `path` from `obj` (if there).
pub fn remove(obj: &mut Value, path: &str, shape: &Shape<'_>) {
    let els: Vec<&str> = elements(path).collect();
    remove_in(obj, &els, shape);
}

fn remove_in(obj: &mut Value, path: &[&str], shape: &Shape<'_>) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    if let Some(name) = first.strip_prefix("f:") {
        let Some(m) = obj.as_object_mut() else { return };
        if rest.is_empty() {
            m.remove(name);
        } else if let Some(child) = m.get_mut(name) {
            remove_in(child, rest, &shape.field(name));
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
                == Some(*first)
        }
    });
    let Some(at) = at else { return };
    if rest.is_empty() {
        items.remove(at);
    } else {
        remove_in(&mut items[at], rest, &shape.element());
    }
}

/// `fieldpath.Path.String()`: `.spec.containers[name="web"].image`.
pub fn path_string(path: &str) -> String {
    let mut out = String::new();
    for el in elements(path) {
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
