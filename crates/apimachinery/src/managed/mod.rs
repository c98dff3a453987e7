//! Field management (`metadata.managedFields`) and server-side apply, as
//! kube-apiserver records them (see `shared/reference/patch-metadata.md`
//! §3): who owns which field, `Apply` and `Update` entries, conflicts.
//!
//! - `shape.rs`: list and object topology (keyed lists, sets, atomic values);
//! - `fieldset.rs`: owned-field sets and their `fieldsV1` encoding;
//! - `merge.rs`: merging an applied configuration into the live object;
//! - this file: the entries, [`apply`] and [`update`], and the 409.
//!
//! Pure: objects in, objects out.

pub mod fieldset;
pub mod merge;
pub mod shape;

use serde_json::{json, Value};

use crate::cause::go_quote;
use crate::status::{ApiError, StatusCause};
use fieldset::{path_string, FieldSet};
pub use shape::Shape;

/// One `managedFields` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub manager: String,
    /// `Apply` or `Update`.
    pub operation: String,
    pub api_version: String,
    pub time: String,
    pub subresource: String,
    pub fields: FieldSet,
    /// The entry as read, while it is unchanged (written back as is).
    pub raw: Option<Value>,
}

impl Entry {
    fn is_apply(&self) -> bool {
        self.operation == "Apply"
    }

    /// The same entry: apply entries by (manager, subresource); update
    /// entries by their apiVersion as well.
    fn same(&self, manager: &str, apply: bool, api_version: &str, subresource: &str) -> bool {
        self.manager == manager
            && self.is_apply() == apply
            && self.subresource == subresource
            && (apply || self.api_version == api_version)
    }

    /// How a conflict names this manager.
    fn describe(&self) -> String {
        let mut s = go_quote(&self.manager);
        if !self.subresource.is_empty() {
            s.push_str(&format!(
                " with subresource {}",
                go_quote(&self.subresource)
            ));
        }
        if !self.is_apply() {
            s.push_str(&format!(" using {}", self.api_version));
        }
        s
    }

    fn to_value(&self) -> Value {
        if let Some(raw) = &self.raw {
            return raw.clone();
        }
        let mut v = json!({
            "manager": self.manager,
            "operation": self.operation,
            "apiVersion": self.api_version,
            "time": self.time,
            "fieldsType": "FieldsV1",
            "fieldsV1": self.fields.to_fields_v1(),
        });
        if !self.subresource.is_empty() {
            v["subresource"] = json!(self.subresource);
        }
        v
    }
}

/// The entries of `obj`'s `metadata.managedFields` (undecodable ones skipped).
pub fn read(obj: &Value) -> Vec<Entry> {
    obj.pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(decode)
        .collect()
}

fn decode(v: &Value) -> Option<Entry> {
    let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let operation = s("operation");
    if !matches!(operation.as_str(), "Apply" | "Update")
        || s("apiVersion").is_empty()
        || s("fieldsType") != "FieldsV1"
    {
        return None;
    }
    Some(Entry {
        manager: s("manager"),
        operation,
        api_version: s("apiVersion"),
        time: s("time"),
        subresource: s("subresource"),
        fields: FieldSet::from_fields_v1(v.get("fieldsV1").unwrap_or(&Value::Null)),
        raw: Some(v.clone()),
    })
}

/// Which entries an update body asks for: `[{}]` resets them, a decodable
/// non-empty list replaces them, anything else keeps `live`.
pub fn requested(body: &Value, live: Vec<Entry>) -> Vec<Entry> {
    match body
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
    {
        Some(list) if list.len() == 1 && list[0].as_object().is_some_and(|m| m.is_empty()) => {
            Vec::new()
        }
        Some(list) if !list.is_empty() => {
            let decoded: Vec<Entry> = list.iter().filter_map(decode).collect();
            if decoded.len() == list.len() {
                decoded
            } else {
                live
            }
        }
        _ => live,
    }
}

/// Writes `entries` into `obj` (sorted as kube-apiserver sorts them).
pub fn write(obj: &mut Value, mut entries: Vec<Entry>) {
    entries.retain(|e| !e.fields.is_empty() || e.raw.is_some());
    entries.sort_by(|a, b| {
        b.is_apply()
            .cmp(&a.is_apply())
            .then_with(|| a.time.cmp(&b.time))
            .then_with(|| a.manager.cmp(&b.manager))
            .then_with(|| a.api_version.cmp(&b.api_version))
            .then_with(|| a.subresource.cmp(&b.subresource))
    });
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        if entries.is_empty() {
            meta.remove("managedFields");
        } else {
            meta.insert(
                "managedFields".into(),
                Value::Array(entries.iter().map(Entry::to_value).collect()),
            );
        }
    }
}

/// Who is writing.
#[derive(Debug, Clone)]
pub struct Writer<'a> {
    pub manager: &'a str,
    pub api_version: &'a str,
    /// `""`, or `status` for the status subresource.
    pub subresource: &'a str,
    /// Whether the kind has a status subresource (then main-resource
    /// writers own no status fields, and status writers nothing else).
    pub has_status: bool,
    pub now: &'a str,
}

impl Writer<'_> {
    fn scope(&self, set: FieldSet) -> FieldSet {
        let (status, rest) = set.split("f:status");
        match (self.subresource == "status", self.has_status) {
            (true, _) => status,
            (false, true) => rest,
            (false, false) => status.union(&rest),
        }
    }
}

/// Field management for a write that is not an apply (create, update,
/// non-apply patch): the writer's `Update` entry gains the fields it added
/// or changed, which every other manager loses; removed fields leave every
/// entry. `old` is `None` for a create.
pub fn update(
    old: Option<&Value>,
    new: &Value,
    shape: &Shape<'_>,
    w: &Writer<'_>,
    mut entries: Vec<Entry>,
) -> Vec<Entry> {
    let empty = json!({});
    let old = old.unwrap_or(&empty);
    let (removed, changed) = fieldset::removed_and_changed(old, new, shape);
    let (removed, changed) = (w.scope(removed), w.scope(changed));
    for e in entries.iter_mut() {
        let kept = e.fields.difference(&removed).difference(&changed);
        if kept != e.fields {
            e.fields = kept;
            e.raw = None;
        }
    }
    if !changed.is_empty() {
        match entries
            .iter_mut()
            .find(|e| e.same(w.manager, false, w.api_version, w.subresource))
        {
            Some(e) => {
                e.fields = e.fields.union(&changed);
                e.time = w.now.to_string();
                e.raw = None;
            }
            None => entries.push(Entry {
                manager: w.manager.to_string(),
                operation: "Update".into(),
                api_version: w.api_version.to_string(),
                time: w.now.to_string(),
                subresource: w.subresource.to_string(),
                fields: changed,
                raw: None,
            }),
        }
    }
    entries.retain(|e| !e.fields.is_empty());
    entries
}

/// The entries of a new object: its creator (an `Update`) owns every
/// field. Same result as [`update`] from nothing, in one walk.
pub fn created(new: &Value, shape: &Shape<'_>, w: &Writer<'_>) -> Vec<Entry> {
    let fields_v1 = fieldset::fields_v1_of(new, shape, w.has_status);
    if fields_v1.as_object().is_none_or(|m| m.is_empty()) {
        return Vec::new();
    }
    let mut entry = Entry {
        manager: w.manager.to_string(),
        operation: "Update".into(),
        api_version: w.api_version.to_string(),
        time: w.now.to_string(),
        subresource: w.subresource.to_string(),
        fields: FieldSet::default(),
        raw: None,
    };
    let mut raw = entry.to_value();
    raw["fieldsV1"] = fields_v1;
    entry.raw = Some(raw);
    vec![entry]
}

/// Server-side apply of `config` onto `live` (`None`: the object does not
/// exist yet). Returns the merged object (managedFields not yet written)
/// and the new entries; conflicts with other managers are a 409 unless
/// `force`.
pub fn apply(
    live: Option<&Value>,
    config: &Value,
    shape: &Shape<'_>,
    w: &Writer<'_>,
    entries: Vec<Entry>,
    force: bool,
) -> Result<(Value, Vec<Entry>), ApiError> {
    let empty = json!({});
    let live = live.unwrap_or(&empty);
    let mut merged = merge::merge(live, config, shape);
    let new_set = w.scope(FieldSet::of(config, shape));
    let (mut mine, mut others): (Vec<Entry>, Vec<Entry>) = entries
        .into_iter()
        .partition(|e| e.same(w.manager, true, w.api_version, w.subresource));
    let previous = mine.first().map(|e| e.fields.clone()).unwrap_or_default();
    // Fields this manager stopped applying go, unless someone else owns them.
    let owned_by_others = others
        .iter()
        .fold(FieldSet::default(), |acc, e| acc.union(&e.fields));
    let mut removed = FieldSet::default();
    for p in previous.difference(&new_set).difference(&owned_by_others).0 {
        fieldset::remove(&mut merged, &p, shape);
        removed.0.insert(p);
    }
    let changed = fieldset::of_and_changed(live, &merged, shape)
        .1
        .intersection(&new_set);
    let conflicts: Vec<(String, FieldSet)> = others
        .iter()
        .map(|e| (e.describe(), e.fields.intersection(&changed)))
        .filter(|(_, c)| !c.is_empty())
        .collect();
    if !conflicts.is_empty() && !force {
        return Err(conflict_error(conflicts));
    }
    for e in others.iter_mut() {
        let kept = e.fields.difference(&changed).difference(&removed);
        if kept != e.fields {
            e.fields = kept;
            e.raw = None;
        }
    }
    let time = match mine.pop() {
        Some(e) if merged == *live => e.time,
        _ => w.now.to_string(),
    };
    others.push(Entry {
        manager: w.manager.to_string(),
        operation: "Apply".into(),
        api_version: w.api_version.to_string(),
        time,
        subresource: w.subresource.to_string(),
        fields: new_set,
        raw: None,
    });
    others.retain(|e| !e.fields.is_empty());
    Ok((merged, others))
}

/// The 409 of an apply that conflicts (kube-apiserver's wording).
fn conflict_error(mut conflicts: Vec<(String, FieldSet)>) -> ApiError {
    conflicts.sort_by(|a, b| a.0.cmp(&b.0));
    let total: usize = conflicts.iter().map(|(_, c)| c.0.len()).sum();
    let mut causes = Vec::new();
    let mut lines = Vec::new();
    for (who, set) in &conflicts {
        lines.push(format!("conflicts with {who}:"));
        for p in &set.0 {
            let field = path_string(p);
            lines.push(format!("- {field}"));
            causes.push(StatusCause {
                reason: "FieldManagerConflict".into(),
                field,
                message: format!("conflict with {who}"),
            });
        }
    }
    let message = if total == 1 {
        format!(
            "Apply failed with 1 conflict: {}: {}",
            causes[0].message, causes[0].field
        )
    } else {
        format!("Apply failed with {total} conflicts: {}", lines.join("\n"))
    };
    ApiError::ApplyConflict { message, causes }
}

#[cfg(test)]
mod tests;
