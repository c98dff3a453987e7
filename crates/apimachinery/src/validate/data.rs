//! Config maps and secrets: key names, size, and `immutable: true`.

use serde_json::Value;

use crate::cause::Cause;

fn valid_key(k: &str) -> Vec<String> {
    let ok = !k.is_empty()
        && k.len() <= 253
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && k != "."
        && k != ".."
        && !k.starts_with("..");
    if ok {
        Vec::new()
    } else {
        vec!["a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')".into()]
    }
}

/// Key names of `data`, `binaryData` (config maps) and `data`,
/// `stringData` (secrets); a key may not be in both maps of a config map.
pub fn keys(kind: &str, obj: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let maps: &[&str] = if kind == "Secret" {
        &["data", "stringData"]
    } else {
        &["data", "binaryData"]
    };
    let mut seen = std::collections::HashSet::new();
    let mut total = 0usize;
    for m in maps {
        for (k, v) in obj.get(*m).and_then(Value::as_object).into_iter().flatten() {
            for msg in valid_key(k) {
                causes.push(Cause::invalid(format!("{m}[{k}]"), k.as_str(), &msg));
            }
            if kind == "ConfigMap" && !seen.insert(k.clone()) {
                causes.push(Cause::invalid(
                    format!("{m}[{k}]"),
                    k.as_str(),
                    "duplicate of key present in data",
                ));
            }
            total += k.len() + v.as_str().map_or(0, str::len);
        }
    }
    if total > 1024 * 1024 {
        let field = if kind == "Secret" { "data" } else { "" };
        causes.push(Cause::too_long(field, 1024 * 1024));
    }
    causes
}

/// With `immutable: true` stored, the data may not change and
/// `immutable` may not be unset.
pub fn update(kind: &str, old: &Value, new: &Value) -> Vec<Cause> {
    if old.get("immutable").and_then(Value::as_bool) != Some(true) {
        return Vec::new();
    }
    const WHY: &str = "field is immutable when `immutable` is set";
    let mut causes = Vec::new();
    if new.get("immutable").and_then(Value::as_bool) != Some(true) {
        causes.push(Cause::forbidden("immutable", WHY));
    }
    let maps: &[&str] = if kind == "Secret" {
        &["data"]
    } else {
        &["data", "binaryData"]
    };
    for m in maps {
        let norm = |v: Option<&Value>| {
            v.filter(|v| v.as_object().is_some_and(|o| !o.is_empty()))
                .cloned()
        };
        if norm(old.get(*m)) != norm(new.get(*m)) {
            causes.push(Cause::forbidden(*m, WHY));
        }
    }
    if kind == "Secret" && old.get("type") != new.get("type") {
        causes.push(Cause::invalid(
            "type",
            new.get("type").cloned().unwrap_or(Value::Null),
            "field is immutable",
        ));
    }
    causes
}
