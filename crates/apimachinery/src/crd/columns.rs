//! `additionalPrinterColumns`: the simple JSONPath they use (`.spec.x`,
//! `.items[0]`, `[*]`, `['a.b']`, `[?(@.type=="Ready")]`) and the Table
//! kube-apiserver builds from them for a custom resource (NAME, then each
//! column; `Age` from the creation time when a version declares none).

use serde_json::{json, Value};

use crate::table::{human_duration, parse_rfc3339, TableOptions};

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Field(String),
    Index(usize),
    All,
    /// `[?(@.a.b == "v")]` (or `!=`).
    Filter {
        path: Vec<String>,
        equal: bool,
        value: Value,
    },
}

/// A parsed printer column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub type_: String,
    pub format: String,
    pub description: String,
    pub priority: i64,
    steps: Vec<Step>,
}

impl Column {
    /// From a CRD's `additionalPrinterColumns[i]`; `Err` says what is wrong
    /// with its `jsonPath`.
    pub fn parse(c: &Value) -> Result<Column, String> {
        let get = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        Ok(Column {
            name: get("name"),
            type_: get("type"),
            format: get("format"),
            description: get("description"),
            priority: c.get("priority").and_then(Value::as_i64).unwrap_or(0),
            steps: parse_path(&get("jsonPath"))?,
        })
    }

    fn age() -> Column {
        Column {
            name: "Age".into(),
            type_: "date".into(),
            format: String::new(),
            description: "CreationTimestamp is a timestamp representing the server time when this object was created.".into(),
            priority: 0,
            steps: vec![
                Step::Field("metadata".into()),
                Step::Field("creationTimestamp".into()),
            ],
        }
    }

    /// The cell of this column for object `o`.
    fn cell(&self, o: &Value, now: i64) -> Value {
        let found = eval(&self.steps, o);
        match found.as_slice() {
            [] => Value::Null,
            [one] => self.typed(one, now),
            many => Value::String(many.iter().map(|v| plain(v)).collect::<Vec<_>>().join(",")),
        }
    }

    fn typed(&self, v: &Value, now: i64) -> Value {
        match self.type_.as_str() {
            "date" => match v.as_str().and_then(parse_rfc3339) {
                Some(t) => json!(human_duration(now - t)),
                None => json!(plain(v)),
            },
            "integer" if v.is_i64() || v.is_u64() => v.clone(),
            "number" if v.is_number() => v.clone(),
            "boolean" if v.is_boolean() => v.clone(),
            _ => json!(plain(v)),
        }
    }
}

/// A value as Go's `%v` prints it in a cell (strings bare, JSON otherwise).
fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn parse_path(p: &str) -> Result<Vec<Step>, String> {
    let p = p.trim();
    let p = p
        .strip_prefix('{')
        .and_then(|x| x.strip_suffix('}'))
        .unwrap_or(p);
    if !p.starts_with('.') && !p.starts_with('[') {
        return Err("must be a simple json path starting with .".into());
    }
    let mut steps = Vec::new();
    let b = p.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'.' => {
                let start = i + 1;
                let mut end = start;
                while end < b.len() && b[end] != b'.' && b[end] != b'[' {
                    end += 1;
                }
                if end == start {
                    return Err(format!("empty field name at {start}"));
                }
                steps.push(Step::Field(p[start..end].to_string()));
                i = end;
            }
            b'[' => {
                let close = matching_bracket(p, i).ok_or("unterminated [")?;
                steps.push(bracket(&p[i + 1..close])?);
                i = close + 1;
            }
            _ => return Err(format!("unexpected {:?} at {i}", b[i] as char)),
        }
    }
    Ok(steps)
}

fn matching_bracket(p: &str, open: usize) -> Option<usize> {
    let mut quote: Option<char> = None;
    for (i, c) in p[open..].char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, ']') => return Some(open + i),
            _ => {}
        }
    }
    None
}

fn unquote(s: &str) -> Option<&str> {
    let s = s.trim();
    s.strip_prefix('\'')
        .and_then(|x| x.strip_suffix('\''))
        .or_else(|| s.strip_prefix('"').and_then(|x| x.strip_suffix('"')))
}

fn bracket(inner: &str) -> Result<Step, String> {
    let inner = inner.trim();
    if inner == "*" {
        return Ok(Step::All);
    }
    if let Ok(n) = inner.parse::<usize>() {
        return Ok(Step::Index(n));
    }
    if let Some(name) = unquote(inner) {
        return Ok(Step::Field(name.to_string()));
    }
    let cond = inner
        .strip_prefix("?(")
        .and_then(|x| x.strip_suffix(')'))
        .ok_or_else(|| format!("unsupported [{inner}]"))?;
    let (lhs, rhs, equal) = match (cond.split_once("=="), cond.split_once("!=")) {
        (Some((l, r)), _) => (l, r, true),
        (None, Some((l, r))) => (l, r, false),
        _ => return Err(format!("unsupported filter {cond}")),
    };
    let lhs = lhs
        .trim()
        .strip_prefix("@.")
        .ok_or_else(|| format!("a filter must start with @.: {cond}"))?;
    let value = match unquote(rhs) {
        Some(s) => Value::String(s.to_string()),
        None => serde_json::from_str(rhs.trim()).map_err(|_| format!("bad value in {cond}"))?,
    };
    Ok(Step::Filter {
        path: lhs.split('.').map(str::to_string).collect(),
        equal,
        value,
    })
}

fn eval<'a>(steps: &[Step], root: &'a Value) -> Vec<&'a Value> {
    let mut cur = vec![root];
    for step in steps {
        let mut next = Vec::new();
        for v in cur {
            match step {
                Step::Field(f) => next.extend(v.get(f.as_str())),
                Step::Index(n) => next.extend(v.get(*n)),
                Step::All => match v {
                    Value::Array(a) => next.extend(a.iter()),
                    Value::Object(m) => next.extend(m.values()),
                    _ => {}
                },
                Step::Filter { path, equal, value } => {
                    for item in v.as_array().into_iter().flatten() {
                        let got = path.iter().try_fold(item, |x, k| x.get(k.as_str()));
                        if (got == Some(value)) == *equal {
                            next.push(item);
                        }
                    }
                }
            }
        }
        cur = next;
    }
    cur
}

/// The Table of custom resources `items` for a version with `columns`.
pub fn table(columns: &[Column], items: &[Value], metadata: Value, opts: &TableOptions) -> Value {
    let age = [Column::age()];
    let cols: &[Column] = if columns.is_empty() { &age } else { columns };
    let mut defs = vec![json!({
        "name": "Name", "type": "string", "format": "name",
        "description": "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names",
        "priority": 0,
    })];
    for c in cols {
        defs.push(json!({
            "name": c.name, "type": c.type_, "format": c.format,
            "description": c.description, "priority": c.priority,
        }));
    }
    let rows: Vec<Value> = items
        .iter()
        .map(|o| {
            let mut cells = vec![json!(o
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or(""))];
            cells.extend(cols.iter().map(|c| c.cell(o, opts.now)));
            json!({"cells": cells, "object": crate::table::row_object(o, opts)})
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": opts.api_version,
        "metadata": metadata,
        "columnDefinitions": if opts.headers { defs } else { Vec::new() },
        "rows": rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(path: &str, ty: &str) -> Column {
        Column::parse(&json!({"name": "X", "type": ty, "jsonPath": path})).expect("column")
    }

    #[test]
    fn paths_select_fields_indexes_and_filtered_items() {
        let o = json!({
            "metadata": {"name": "a", "labels": {"app.kubernetes.io/name": "web"}},
            "spec": {"replicas": 3, "image": "nginx", "ports": [{"port": 80}, {"port": 443}]},
            "status": {"conditions": [
                {"type": "Ready", "status": "True"}, {"type": "Synced", "status": "False"}]}
        });
        assert_eq!(col(".spec.replicas", "integer").cell(&o, 0), json!(3));
        assert_eq!(col(".spec.image", "string").cell(&o, 0), json!("nginx"));
        assert_eq!(
            col(".spec.ports[1].port", "integer").cell(&o, 0),
            json!(443)
        );
        assert_eq!(
            col(".spec.ports[*].port", "string").cell(&o, 0),
            json!("80,443")
        );
        assert_eq!(
            col(r#".status.conditions[?(@.type=="Ready")].status"#, "string").cell(&o, 0),
            json!("True")
        );
        assert_eq!(
            col(".metadata.labels['app.kubernetes.io/name']", "string").cell(&o, 0),
            json!("web")
        );
        assert_eq!(col(".spec.missing", "string").cell(&o, 0), Value::Null);
        assert_eq!(col(".spec.replicas", "string").cell(&o, 0), json!("3"));
    }

    #[test]
    fn bad_paths_are_refused() {
        for p in ["spec.x", ".spec[", ".a[?(@.b)]", ".."] {
            assert!(
                Column::parse(&json!({"name": "X", "type": "string", "jsonPath": p})).is_err(),
                "{p}"
            );
        }
    }

    #[test]
    fn dates_are_ages_and_versions_without_columns_get_age() {
        let now = parse_rfc3339("2026-01-01T01:00:00Z").expect("time");
        let o = json!({"metadata": {"name": "a", "creationTimestamp": "2026-01-01T00:00:00Z"}});
        let opts = TableOptions {
            api_version: "meta.k8s.io/v1",
            include: crate::table::IncludeObject::None,
            headers: true,
            now,
        };
        let t = table(&[], std::slice::from_ref(&o), json!({}), &opts);
        let names: Vec<&str> = t["columnDefinitions"]
            .as_array()
            .expect("defs")
            .iter()
            .filter_map(|d| d["name"].as_str())
            .collect();
        assert_eq!(names, vec!["Name", "Age"]);
        assert_eq!(t["rows"][0]["cells"], json!(["a", "60m"]));
    }
}
