//! Name and metadata validation, with kube-apiserver's messages.
//!
//! The string checks (`is_*`) return the list of problems as plain
//! messages, like apimachinery's `IsDNS1123Subdomain` and friends; the
//! `validate_*` functions turn them into [`Cause`]s on the right field
//! (`metadata.name`, `metadata.labels`, ...). The regular expressions are
//! implemented with character checks but quoted verbatim in the messages.
//!
//! Two details that are easy to get wrong and are kept on purpose:
//! - object names (`is_dns1123_*`, `is_dns1035_label`) say "characters" in
//!   their length message, label keys and values say "bytes" (apimachinery
//!   moved the label rules to its `content` package, the name rules not);
//! - a `generateName` prefix is checked with its trailing dash masked the
//!   way apimachinery's `maskTrailingDash` does (which drops two characters
//!   and appends `a`).
//!
//! Which rule a resource's names follow is [`name_rule`]; the
//! `generateName` suffix is [`generate_name`].

use serde_json::Value;

use crate::cause::Cause;

/// Longest DNS-1123 label.
pub const DNS1123_LABEL_MAX_LENGTH: usize = 63;
/// Longest DNS-1123 subdomain.
pub const DNS1123_SUBDOMAIN_MAX_LENGTH: usize = 253;
/// Longest DNS-1035 label.
pub const DNS1035_LABEL_MAX_LENGTH: usize = 63;
/// Longest label value, and longest name part of a label key.
pub const LABEL_VALUE_MAX_LENGTH: usize = 63;
/// Total size of all annotation keys and values (256 KiB).
pub const TOTAL_ANNOTATION_SIZE_LIMIT: usize = 256 * 1024;
/// Characters of the random `generateName` suffix (no vowels, no 0/1/3).
pub const GENERATE_NAME_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
/// Length of the random `generateName` suffix.
pub const GENERATE_NAME_RANDOM_LENGTH: usize = 5;
/// `generateName` prefixes are cut to this many bytes before the suffix.
pub const MAX_GENERATE_NAME_PREFIX_LENGTH: usize = 63 - GENERATE_NAME_RANDOM_LENGTH;
/// Longest CronJob name (its Jobs append an 11-character suffix).
pub const CRONJOB_NAME_MAX_LENGTH: usize = 52;

const DNS1123_LABEL_FMT: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const DNS1123_LABEL_ERR: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character";
const DNS1123_SUBDOMAIN_FMT: &str =
    "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
const DNS1123_SUBDOMAIN_ERR: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";
const DNS1035_LABEL_FMT: &str = "[a-z]([-a-z0-9]*[a-z0-9])?";
const DNS1035_LABEL_ERR: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character";
const LABEL_KEY_FMT: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const LABEL_KEY_ERR: &str =
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const LABEL_VALUE_FMT: &str = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
const LABEL_VALUE_ERR: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";

/// apimachinery's `RegexError`: `<msg> (e.g. 'a',  or 'b', regex used for
/// validation is '<re>')` — the doubled space after each comma is theirs.
fn regex_error(msg: &str, re: &str, examples: &[&str]) -> String {
    if examples.is_empty() {
        return format!("{msg} (regex used for validation is '{re}')");
    }
    let mut out = format!("{msg} (e.g. ");
    for (i, ex) in examples.iter().enumerate() {
        if i > 0 {
            out.push_str(" or ");
        }
        out.push('\'');
        out.push_str(ex);
        out.push_str("', ");
    }
    out.push_str("regex used for validation is '");
    out.push_str(re);
    out.push_str("')");
    out
}

fn max_len_characters(n: usize) -> String {
    format!("must be no more than {n} characters")
}

fn max_len_bytes(n: usize) -> String {
    format!("must be no more than {n} bytes")
}

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`
fn matches_dns1123_label(s: &str) -> bool {
    let b = s.as_bytes();
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    match (b.first(), b.last()) {
        (Some(&f), Some(&l)) => alnum(f) && alnum(l) && b.iter().all(|&c| alnum(c) || c == b'-'),
        _ => false,
    }
}

/// `label(\.label)*`
fn matches_dns1123_subdomain(s: &str) -> bool {
    s.split('.').all(matches_dns1123_label)
}

/// `[a-z]([-a-z0-9]*[a-z0-9])?`
fn matches_dns1035_label(s: &str) -> bool {
    matches_dns1123_label(s) && s.as_bytes().first().is_some_and(|c| c.is_ascii_lowercase())
}

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`
fn matches_label_name(s: &str) -> bool {
    let b = s.as_bytes();
    match (b.first(), b.last()) {
        (Some(f), Some(l)) => {
            f.is_ascii_alphanumeric()
                && l.is_ascii_alphanumeric()
                && b.iter()
                    .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        }
        _ => false,
    }
}

/// Problems with `value` as a DNS-1123 label (namespace names).
pub fn is_dns1123_label(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > DNS1123_LABEL_MAX_LENGTH {
        errs.push(max_len_characters(DNS1123_LABEL_MAX_LENGTH));
    }
    if !matches_dns1123_label(value) {
        if matches_dns1123_subdomain(value) {
            errs.push("must not contain dots".to_string());
        } else {
            errs.push(regex_error(
                DNS1123_LABEL_ERR,
                DNS1123_LABEL_FMT,
                &["my-name", "123-abc"],
            ));
        }
    }
    errs
}

/// Problems with `value` as a DNS-1123 subdomain (most object names).
pub fn is_dns1123_subdomain(value: &str) -> Vec<String> {
    subdomain_errors(value, max_len_characters)
}

fn subdomain_errors(value: &str, max_len: fn(usize) -> String) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > DNS1123_SUBDOMAIN_MAX_LENGTH {
        errs.push(max_len(DNS1123_SUBDOMAIN_MAX_LENGTH));
    }
    if !matches_dns1123_subdomain(value) {
        errs.push(regex_error(
            DNS1123_SUBDOMAIN_ERR,
            DNS1123_SUBDOMAIN_FMT,
            &["example.com"],
        ));
    }
    errs
}

/// Problems with `value` as a DNS-1035 label (service names).
pub fn is_dns1035_label(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > DNS1035_LABEL_MAX_LENGTH {
        errs.push(max_len_characters(DNS1035_LABEL_MAX_LENGTH));
    }
    if !matches_dns1035_label(value) {
        errs.push(regex_error(
            DNS1035_LABEL_ERR,
            DNS1035_LABEL_FMT,
            &["my-name", "abc-123"],
        ));
    }
    errs
}

/// Problems with `value` as a qualified name: a label key, annotation key
/// or finalizer (`[prefix/]name`, prefix a DNS subdomain, name ≤ 63 bytes).
pub fn is_qualified_name(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    let parts: Vec<&str> = value.split('/').collect();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                errs.push("prefix part must be non-empty".to_string());
            } else {
                for msg in subdomain_errors(prefix, max_len_bytes) {
                    errs.push(format!("prefix part {msg}"));
                }
            }
            *name
        }
        _ => {
            errs.push(format!(
                "a valid label key {} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
                regex_error(LABEL_KEY_ERR, LABEL_KEY_FMT, &["MyName", "my.name", "123-abc"])
            ));
            return errs;
        }
    };
    if name.is_empty() {
        errs.push("name part must be non-empty".to_string());
    } else if name.len() > LABEL_VALUE_MAX_LENGTH {
        errs.push(format!(
            "name part {}",
            max_len_bytes(LABEL_VALUE_MAX_LENGTH)
        ));
    }
    if !matches_label_name(name) {
        errs.push(format!(
            "name part {}",
            regex_error(
                LABEL_KEY_ERR,
                LABEL_KEY_FMT,
                &["MyName", "my.name", "123-abc"]
            )
        ));
    }
    errs
}

/// Problems with `value` as a label value (empty is fine).
pub fn is_label_value(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > LABEL_VALUE_MAX_LENGTH {
        errs.push(max_len_bytes(LABEL_VALUE_MAX_LENGTH));
    }
    if !value.is_empty() && !matches_label_name(value) {
        errs.push(regex_error(
            LABEL_VALUE_ERR,
            LABEL_VALUE_FMT,
            &["MyValue", "my_value", "12345"],
        ));
    }
    errs
}

/// Problems with `value` as a URL path segment (RBAC object names): not
/// `.` or `..`, no `/` or `%`. Like upstream, empty and long names pass.
pub fn is_path_segment_name(value: &str) -> Vec<String> {
    for bad in [".", ".."] {
        if value == bad {
            return vec![format!("may not be '{bad}'")];
        }
    }
    is_path_segment_prefix(value)
}

/// [`is_path_segment_name`] for a prefix: only the `/` and `%` checks.
pub fn is_path_segment_prefix(value: &str) -> Vec<String> {
    ["/", "%"]
        .iter()
        .filter(|bad| value.contains(**bad))
        .map(|bad| format!("may not contain '{bad}'"))
        .collect()
}

/// The rule an object name must follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameRule {
    /// DNS-1123 subdomain: most resources.
    Dns1123Subdomain,
    /// DNS-1123 label: namespaces, statefulsets.
    Dns1123Label,
    /// DNS-1035 label: services.
    Dns1035Label,
    /// Any path segment: RBAC roles and bindings.
    PathSegment,
}

impl NameRule {
    /// Problems with `name`; with `prefix` the name is a `generateName`
    /// prefix (a trailing dash is allowed).
    pub fn check(self, name: &str, prefix: bool) -> Vec<String> {
        let masked;
        let name = if prefix && self != NameRule::PathSegment {
            masked = mask_trailing_dash(name);
            masked.as_str()
        } else {
            name
        };
        match self {
            NameRule::Dns1123Subdomain => is_dns1123_subdomain(name),
            NameRule::Dns1123Label => is_dns1123_label(name),
            NameRule::Dns1035Label => is_dns1035_label(name),
            NameRule::PathSegment if prefix => is_path_segment_prefix(name),
            NameRule::PathSegment => is_path_segment_name(name),
        }
    }
}

/// apimachinery's `maskTrailingDash`: for a name longer than one byte that
/// ends in `-`, drops the last *two* bytes and appends `a`.
fn mask_trailing_dash(name: &str) -> String {
    if name.len() > 1 && name.ends_with('-') {
        let cut = name.len() - 2;
        if name.is_char_boundary(cut) {
            return format!("{}a", &name[..cut]);
        }
        // A multi-byte character before the dash: it cannot be valid anyway.
        return format!("{}a", &name[..name.len() - 1]);
    }
    name.to_string()
}

/// The name rule kube-apiserver applies to objects of `group`/`resource`
/// (plural). Resources it does not know (CRDs) use DNS-1123 subdomains,
/// like custom resources do upstream.
pub fn name_rule(group: &str, resource: &str) -> NameRule {
    match (group, resource) {
        ("", "namespaces") => NameRule::Dns1123Label,
        ("", "services") => NameRule::Dns1035Label,
        ("apps", "statefulsets") => NameRule::Dns1123Label,
        (
            "rbac.authorization.k8s.io",
            "roles" | "rolebindings" | "clusterroles" | "clusterrolebindings",
        ) => NameRule::PathSegment,
        _ => NameRule::Dns1123Subdomain,
    }
}

/// Builds a name from a `generateName` prefix the way kube-apiserver does:
/// the prefix cut to [`MAX_GENERATE_NAME_PREFIX_LENGTH`] bytes, then
/// [`GENERATE_NAME_RANDOM_LENGTH`] characters of [`GENERATE_NAME_ALPHABET`].
/// `pick(n)` must return a random index below `n` (taken modulo `n`).
pub fn generate_name(prefix: &str, mut pick: impl FnMut(usize) -> usize) -> String {
    let mut cut = prefix.len().min(MAX_GENERATE_NAME_PREFIX_LENGTH);
    while !prefix.is_char_boundary(cut) {
        cut -= 1;
    }
    let mut name = String::with_capacity(cut + GENERATE_NAME_RANDOM_LENGTH);
    name.push_str(&prefix[..cut]);
    let n = GENERATE_NAME_ALPHABET.len();
    for _ in 0..GENERATE_NAME_RANDOM_LENGTH {
        name.push(char::from(GENERATE_NAME_ALPHABET[pick(n) % n]));
    }
    name
}

/// If `metadata.name` is empty and `metadata.generateName` is set, fills in
/// a generated name and returns it.
pub fn apply_generate_name(
    metadata: &mut Value,
    pick: impl FnMut(usize) -> usize,
) -> Option<String> {
    let obj = metadata.as_object_mut()?;
    let has_name = obj
        .get("name")
        .and_then(Value::as_str)
        .is_some_and(|n| !n.is_empty());
    if has_name {
        return None;
    }
    let prefix = obj
        .get("generateName")
        .and_then(Value::as_str)
        .filter(|g| !g.is_empty())?;
    let name = generate_name(prefix, pick);
    obj.insert("name".into(), Value::String(name.clone()));
    Some(name)
}

fn str_field<'a>(meta: &'a Value, key: &str) -> &'a str {
    meta.get(key).and_then(Value::as_str).unwrap_or("")
}

/// Iterates a string map sorted by key; non-string values are reported.
fn string_map<'a>(
    map: Option<&'a Value>,
    field: &str,
    causes: &mut Vec<Cause>,
) -> Vec<(&'a str, &'a str)> {
    let Some(v) = map else { return Vec::new() };
    if v.is_null() {
        return Vec::new();
    }
    let Some(obj) = v.as_object() else {
        causes.push(Cause::new(
            crate::CauseType::TypeInvalid,
            field,
            Some(v),
            "must be a map of strings",
        ));
        return Vec::new();
    };
    let mut out: Vec<(&str, &str)> = Vec::with_capacity(obj.len());
    for (k, val) in obj {
        match val.as_str() {
            Some(s) => out.push((k.as_str(), s)),
            None => causes.push(Cause::new(
                crate::CauseType::TypeInvalid,
                format!("{field}[{k}]"),
                Some(val),
                "must be a string",
            )),
        }
    }
    out.sort();
    out
}

/// `metadata.labels`: every key a qualified name, every value a label value.
pub fn validate_labels(labels: Option<&Value>, field: &str) -> Vec<Cause> {
    let mut causes = Vec::new();
    for (k, v) in string_map(labels, field, &mut causes) {
        for msg in is_qualified_name(k) {
            causes.push(Cause::invalid(field, k, &msg));
        }
        for msg in is_label_value(v) {
            causes.push(Cause::invalid(field, v, &msg));
        }
    }
    causes
}

/// `metadata.annotations`: keys are qualified names (case-insensitively),
/// and keys plus values total at most [`TOTAL_ANNOTATION_SIZE_LIMIT`] bytes.
pub fn validate_annotations(annotations: Option<&Value>, field: &str) -> Vec<Cause> {
    let mut causes = Vec::new();
    let entries = string_map(annotations, field, &mut causes);
    let mut total = 0usize;
    for (k, v) in entries {
        for msg in is_qualified_name(&k.to_ascii_lowercase()) {
            causes.push(Cause::invalid(field, k, &msg));
        }
        total += k.len() + v.len();
    }
    if total > TOTAL_ANNOTATION_SIZE_LIMIT {
        causes.push(Cause::too_long(field, TOTAL_ANNOTATION_SIZE_LIMIT));
    }
    causes
}

/// `metadata.finalizers`: qualified names, and not both `orphan` and
/// `foregroundDeletion`.
pub fn validate_finalizers(finalizers: Option<&Value>, field: &str) -> Vec<Cause> {
    let mut causes = Vec::new();
    let Some(list) = finalizers.and_then(Value::as_array) else {
        return causes;
    };
    for f in list {
        let s = f.as_str().unwrap_or("");
        for msg in is_qualified_name(s) {
            causes.push(Cause::invalid(field, s, &msg));
        }
    }
    let has = |name: &str| list.iter().any(|f| f.as_str() == Some(name));
    if has("orphan") && has("foregroundDeletion") {
        causes.push(Cause::invalid(
            field,
            Value::Array(list.clone()),
            "finalizer orphan and foregroundDeletion cannot be both set",
        ));
    }
    causes
}

/// `metadata.ownerReferences`: apiVersion, kind, name and uid present, and
/// at most one controller.
pub fn validate_owner_references(refs: Option<&Value>, field: &str) -> Vec<Cause> {
    let mut causes = Vec::new();
    let Some(list) = refs.and_then(Value::as_array) else {
        return causes;
    };
    let mut first_controller: Option<String> = None;
    for (i, r) in list.iter().enumerate() {
        let path = format!("{field}[{i}]");
        let api_version = str_field(r, "apiVersion");
        if api_version.is_empty() {
            causes.push(Cause::required(
                format!("{path}.apiVersion"),
                "must not be empty",
            ));
        } else if !valid_api_version(api_version) {
            causes.push(Cause::invalid(
                format!("{path}.apiVersion"),
                api_version,
                "must be <group>/<version> or <version>",
            ));
        }
        for key in ["kind", "name", "uid"] {
            if str_field(r, key).is_empty() {
                causes.push(Cause::required(
                    format!("{path}.{key}"),
                    "must not be empty",
                ));
            }
        }
        if api_version == "v1" && str_field(r, "kind") == "Event" {
            causes.push(Cause::invalid(
                path.clone(),
                r.clone(),
                "/v1, Kind=Event is disallowed from being an owner",
            ));
        }
        if r.get("controller").and_then(Value::as_bool) == Some(true) {
            let this = format!("{}/{}", str_field(r, "kind"), str_field(r, "name"));
            match &first_controller {
                Some(first) => causes.push(Cause::invalid(
                    field,
                    Value::Array(list.clone()),
                    &format!(
                        "Only one reference can have Controller set to true. Found \"true\" in references for {first} and {this}"
                    ),
                )),
                None => first_controller = Some(this),
            }
        }
    }
    causes
}

fn valid_api_version(v: &str) -> bool {
    match v.split('/').collect::<Vec<_>>().as_slice() {
        [version] => !version.is_empty(),
        [_group, version] => !version.is_empty(),
        _ => false,
    }
}

/// `ObjectMeta` validation on create (after any `generateName` was turned
/// into a name), in kube-apiserver's order: generateName, name, namespace,
/// generation, labels, annotations, ownerReferences, finalizers.
/// `metadata` is the object's `metadata` value.
pub fn validate_object_meta(metadata: &Value, namespaced: bool, rule: NameRule) -> Vec<Cause> {
    let mut causes = Vec::new();
    let generate_name = str_field(metadata, "generateName");
    if !generate_name.is_empty() {
        for msg in rule.check(generate_name, true) {
            causes.push(Cause::invalid("metadata.generateName", generate_name, &msg));
        }
    }
    let name = str_field(metadata, "name");
    if name.is_empty() {
        causes.push(Cause::required(
            "metadata.name",
            "name or generateName is required",
        ));
    } else {
        for msg in rule.check(name, false) {
            causes.push(Cause::invalid("metadata.name", name, &msg));
        }
    }
    let namespace = str_field(metadata, "namespace");
    if namespaced {
        if namespace.is_empty() {
            causes.push(Cause::required("metadata.namespace", ""));
        } else {
            for msg in is_dns1123_label(namespace) {
                causes.push(Cause::invalid("metadata.namespace", namespace, &msg));
            }
        }
    } else if !namespace.is_empty() {
        causes.push(Cause::forbidden(
            "metadata.namespace",
            "not allowed on this type",
        ));
    }
    if let Some(g) = metadata.get("generation").and_then(Value::as_i64) {
        if g < 0 {
            causes.push(Cause::invalid(
                "metadata.generation",
                g,
                "must be greater than or equal to 0",
            ));
        }
    }
    causes.extend(validate_labels(metadata.get("labels"), "metadata.labels"));
    causes.extend(validate_annotations(
        metadata.get("annotations"),
        "metadata.annotations",
    ));
    causes.extend(validate_owner_references(
        metadata.get("ownerReferences"),
        "metadata.ownerReferences",
    ));
    causes.extend(validate_finalizers(
        metadata.get("finalizers"),
        "metadata.finalizers",
    ));
    causes
}

/// [`validate_object_meta`] with the name rule of `group`/`resource`, plus
/// the resource-specific name limits kube-apiserver adds on create
/// (CronJob names ≤ 52 characters).
pub fn validate_create_meta(
    group: &str,
    resource: &str,
    namespaced: bool,
    metadata: &Value,
) -> Vec<Cause> {
    let mut causes = validate_object_meta(metadata, namespaced, name_rule(group, resource));
    let name = str_field(metadata, "name");
    if group == "batch" && resource == "cronjobs" && name.len() > CRONJOB_NAME_MAX_LENGTH {
        causes.push(Cause::invalid(
            "metadata.name",
            name,
            "must be no more than 52 characters",
        ));
    }
    causes
}

/// `ObjectMeta` validation on update. The caller is expected to have
/// carried the system fields over from `old` first, as kube-apiserver's
/// `BeforeUpdate` does (uid when empty, creationTimestamp,
/// deletionTimestamp, deletionGracePeriodSeconds, generation).
pub fn validate_object_meta_update(new: &Value, old: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let absent = |v: Option<&Value>| v.is_none_or(Value::is_null);
    if !absent(old.get("deletionTimestamp")) {
        let old_f: Vec<&str> = old
            .get("finalizers")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let mut added: Vec<&str> = new
            .get("finalizers")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .filter(|f| !old_f.contains(f))
                    .collect()
            })
            .unwrap_or_default();
        added.sort();
        added.dedup();
        if !added.is_empty() {
            let list: Vec<String> = added.iter().map(|f| crate::cause::go_quote(f)).collect();
            causes.push(Cause::forbidden(
                "metadata.finalizers",
                &format!(
                    "no new finalizers can be added if the object is being deleted, found new finalizers []string{{{}}}",
                    list.join(", ")
                ),
            ));
        }
    }
    if str_field(new, "resourceVersion").is_empty() {
        causes.push(Cause::invalid(
            "metadata.resourceVersion",
            "",
            "must be specified for an update",
        ));
    }
    let new_gen = new.get("generation").and_then(Value::as_i64).unwrap_or(0);
    let old_gen = old.get("generation").and_then(Value::as_i64).unwrap_or(0);
    if new_gen < 0 {
        causes.push(Cause::invalid(
            "metadata.generation",
            new_gen,
            "must be greater than or equal to 0",
        ));
    }
    if new_gen < old_gen {
        causes.push(Cause::invalid(
            "metadata.generation",
            new_gen,
            "must not be decremented",
        ));
    }
    for key in [
        "name",
        "namespace",
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
    ] {
        let norm = |v: Option<&Value>| match v {
            None | Some(Value::Null) => match key {
                "deletionTimestamp" | "deletionGracePeriodSeconds" | "creationTimestamp" => {
                    Value::Null
                }
                _ => Value::String(String::new()),
            },
            Some(v) => v.clone(),
        };
        let (n, o) = (norm(new.get(key)), norm(old.get(key)));
        if n != o {
            causes.push(Cause::invalid(
                format!("metadata.{key}"),
                n,
                "field is immutable",
            ));
        }
    }
    causes.extend(validate_labels(new.get("labels"), "metadata.labels"));
    causes.extend(validate_annotations(
        new.get("annotations"),
        "metadata.annotations",
    ));
    causes.extend(validate_owner_references(
        new.get("ownerReferences"),
        "metadata.ownerReferences",
    ));
    causes
}

#[cfg(test)]
#[path = "validation_test.rs"]
mod tests;
