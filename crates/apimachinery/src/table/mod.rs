//! Server-side printing: the `meta.k8s.io/v1` `Table` kubectl asks for
//! (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`), with the
//! columns and cells kube-apiserver's printers produce for each built-in
//! kind (see `shared/reference/tables.md`). Pure: objects in, JSON out.
//!
//! - `age.rs`: HumanDuration and timestamps;
//! - `core.rs`, `workloads.rs`, `other.rs`, `autoscaling.rs`,
//!   `storage.rs`: one printer per kind;
//! - this file: the Table document, rows, objects per `includeObject`,
//!   the default convertor (NAME, CREATED AT) and shared cell helpers.

mod age;
mod autoscaling;
mod core;
mod other;
mod storage;
mod workloads;

use serde_json::{json, Map, Value};

pub use age::{human_duration, parse_rfc3339};

/// A column: name (as on the wire), OpenAPI type, priority (1 = wide only).
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    pub ty: &'static str,
    pub priority: u8,
}

const fn c(name: &'static str, ty: &'static str, priority: u8) -> Column {
    Column { name, ty, priority }
}

/// What `rows[].object` holds (`includeObject`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IncludeObject {
    None,
    #[default]
    Metadata,
    Object,
}

impl IncludeObject {
    /// Parses the query value; `Err` with kube-apiserver's message otherwise.
    pub fn parse(v: Option<&str>) -> Result<Self, String> {
        match v.unwrap_or("") {
            "" | "Metadata" => Ok(IncludeObject::Metadata),
            "None" => Ok(IncludeObject::None),
            "Object" => Ok(IncludeObject::Object),
            other => Err(format!(
                "Unable to convert to Table as requested: includeObject: {other} must be 'Metadata', 'Object', 'None', or empty"
            )),
        }
    }
}

/// How to build a table.
#[derive(Debug, Clone, Copy)]
pub struct TableOptions {
    /// `meta.k8s.io/v1` or `meta.k8s.io/v1beta1`.
    pub api_version: &'static str,
    pub include: IncludeObject,
    /// Column definitions present (watch events after the first omit them).
    pub headers: bool,
    /// Seconds since the epoch, for ages.
    pub now: i64,
}

type Printer = fn(&Value, i64) -> Vec<Value>;

/// The columns and printer of `group`/`kind` (the default convertor's
/// otherwise).
fn printer(group: &str, kind: &str) -> (&'static [Column], Printer) {
    match (group, kind) {
        ("", "Pod") => (core::POD, core::pod),
        ("", "Service") => (core::SERVICE, core::service),
        ("", "Endpoints") => (core::ENDPOINTS, core::endpoints),
        ("", "Node") => (core::NODE, core::node),
        ("", "Namespace") => (core::NAMESPACE, core::namespace),
        ("", "ConfigMap") => (core::CONFIGMAP, core::configmap),
        ("", "Secret") => (core::SECRET, core::secret),
        ("", "ServiceAccount") => (core::SERVICEACCOUNT, core::serviceaccount),
        ("", "Event") | ("events.k8s.io", "Event") => (core::EVENT, core::event),
        ("", "PersistentVolume") => (core::PV, core::pv),
        ("", "PersistentVolumeClaim") => (core::PVC, core::pvc),
        ("", "ResourceQuota") => (core::QUOTA, core::quota),
        ("", "PodTemplate") => (core::PODTEMPLATE, core::podtemplate),
        ("", "ComponentStatus") => (core::COMPONENTSTATUS, core::componentstatus),
        ("", "ReplicationController") => (
            workloads::REPLICATIONCONTROLLER,
            workloads::replicationcontroller,
        ),
        ("apps", "Deployment") => (workloads::DEPLOYMENT, workloads::deployment),
        ("apps", "ReplicaSet") => (workloads::REPLICASET, workloads::replicaset),
        ("apps", "StatefulSet") => (workloads::STATEFULSET, workloads::statefulset),
        ("apps", "DaemonSet") => (workloads::DAEMONSET, workloads::daemonset),
        ("apps", "ControllerRevision") => (workloads::REVISION, workloads::revision),
        ("batch", "Job") => (workloads::JOB, workloads::job),
        ("batch", "CronJob") => (workloads::CRONJOB, workloads::cronjob),
        ("autoscaling", "HorizontalPodAutoscaler") => (autoscaling::HPA, autoscaling::hpa),
        ("coordination.k8s.io", "Lease") => (other::LEASE, other::lease),
        ("discovery.k8s.io", "EndpointSlice") => (other::SLICE, other::slice),
        ("networking.k8s.io", "Ingress") => (other::INGRESS, other::ingress),
        ("networking.k8s.io", "IngressClass") => (other::INGRESSCLASS, other::ingressclass),
        ("networking.k8s.io", "NetworkPolicy") => (other::NETPOL, other::netpol),
        ("policy", "PodDisruptionBudget") => (other::PDB, other::pdb),
        ("scheduling.k8s.io", "PriorityClass") => (other::PRIORITYCLASS, other::priorityclass),
        ("node.k8s.io", "RuntimeClass") => (other::RUNTIMECLASS, other::runtimeclass),
        ("apiregistration.k8s.io", "APIService") => (other::APISERVICE, other::apiservice),
        ("storage.k8s.io", "StorageClass") => (storage::STORAGECLASS, storage::storageclass),
        ("storage.k8s.io", "CSIDriver") => (storage::CSIDRIVER, storage::csidriver),
        ("storage.k8s.io", "CSINode") => (storage::CSINODE, storage::csinode),
        ("storage.k8s.io", "CSIStorageCapacity") => {
            (storage::CSISTORAGECAPACITY, storage::csistoragecapacity)
        }
        ("storage.k8s.io", "VolumeAttachment") => {
            (storage::VOLUMEATTACHMENT, storage::volumeattachment)
        }
        ("storage.k8s.io", "VolumeAttributesClass") => (
            storage::VOLUMEATTRIBUTESCLASS,
            storage::volumeattributesclass,
        ),
        ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding") => {
            (other::BINDING, other::binding)
        }
        _ => (DEFAULT, default_row),
    }
}

const DEFAULT: &[Column] = &[c("Name", "string", 0), c("Created At", "date", 0)];

fn default_row(o: &Value, _now: i64) -> Vec<Value> {
    vec![name(o), json!(s(o, "/metadata/creationTimestamp"))]
}

fn definitions(cols: &[Column]) -> Vec<Value> {
    cols.iter()
        .map(|col| {
            json!({
                "name": col.name, "type": col.ty,
                "format": if col.name == "Name" { "name" } else { "" },
                "description": "", "priority": col.priority,
            })
        })
        .collect()
}

pub(crate) fn row_object(o: &Value, opts: &TableOptions) -> Value {
    match opts.include {
        IncludeObject::None => Value::Null,
        IncludeObject::Object => o.clone(),
        IncludeObject::Metadata => json!({
            "kind": "PartialObjectMetadata",
            "apiVersion": opts.api_version,
            "metadata": o.get("metadata").cloned().unwrap_or_else(|| json!({})),
        }),
    }
}

/// One row for object `o` of `group`/`kind`.
pub fn row(group: &str, kind: &str, o: &Value, opts: &TableOptions) -> Value {
    let (_, print) = printer(group, kind);
    let mut r = Map::new();
    r.insert("cells".into(), Value::Array(print(o, opts.now)));
    if kind == "Pod" && group.is_empty() {
        let condition = match s(o, "/status/phase") {
            "Succeeded" => Some(("Succeeded", "The pod has completed successfully.")),
            "Failed" => Some(("Failed", "The pod failed.")),
            _ => None,
        };
        if let Some((reason, message)) = condition {
            r.insert(
                "conditions".into(),
                json!([{"type": "Completed", "status": "True", "reason": reason, "message": message}]),
            );
        }
    }
    r.insert("object".into(), row_object(o, opts));
    Value::Object(r)
}

/// A Table of `items` with list metadata `metadata`.
pub fn table(
    group: &str,
    kind: &str,
    items: &[Value],
    metadata: Value,
    opts: &TableOptions,
) -> Value {
    let (cols, _) = printer(group, kind);
    json!({
        "kind": "Table",
        "apiVersion": opts.api_version,
        "metadata": metadata,
        "columnDefinitions": if opts.headers { definitions(cols) } else { Vec::new() },
        "rows": items.iter().map(|o| row(group, kind, o, opts)).collect::<Vec<_>>(),
    })
}

// Cell helpers.

pub(crate) fn s<'a>(o: &'a Value, ptr: &str) -> &'a str {
    o.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

/// The array at `ptr`, or an empty slice.
pub(crate) fn arr<'a>(o: &'a Value, ptr: &str) -> &'a [Value] {
    o.pointer(ptr)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

pub(crate) fn n(o: &Value, ptr: &str) -> i64 {
    o.pointer(ptr).and_then(Value::as_i64).unwrap_or(0)
}

pub(crate) fn name(o: &Value) -> Value {
    json!(s(o, "/metadata/name"))
}

pub(crate) fn age(o: &Value, now: i64) -> Value {
    json!(age::since(
        o.pointer("/metadata/creationTimestamp")
            .and_then(Value::as_str),
        now
    ))
}

pub(crate) fn since(o: &Value, ptr: &str, now: i64) -> String {
    age::since(o.pointer(ptr).and_then(Value::as_str), now)
}

pub(crate) fn or_none(v: &str) -> Value {
    json!(if v.is_empty() { "<none>" } else { v })
}

/// `k=v,k2=v2` sorted by key, `<none>` when empty.
pub(crate) fn labels(m: Option<&Value>) -> String {
    let Some(m) = m.and_then(Value::as_object).filter(|m| !m.is_empty()) else {
        return "<none>".into();
    };
    let mut pairs: Vec<String> = m
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
        .collect();
    pairs.sort();
    pairs.join(",")
}

/// A LabelSelector as requirements sorted by key; `<none>` when empty.
pub(crate) fn selector(sel: Option<&Value>) -> String {
    let Some(sel) = sel.filter(|v| v.is_object()) else {
        return "<none>".into();
    };
    let mut reqs: Vec<(String, String)> = Vec::new();
    for (k, v) in sel
        .get("matchLabels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        reqs.push((k.clone(), format!("{k}={}", v.as_str().unwrap_or(""))));
    }
    for e in sel
        .get("matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = s(e, "/key").to_string();
        let mut values: Vec<&str> = e
            .get("values")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        values.sort();
        let text = match s(e, "/operator") {
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "Exists" => key.clone(),
            "DoesNotExist" => format!("!{key}"),
            _ => return "<error>".into(),
        };
        reqs.push((key, text));
    }
    if reqs.is_empty() {
        return "<none>".into();
    }
    reqs.sort();
    reqs.into_iter()
        .map(|(_, t)| t)
        .collect::<Vec<_>>()
        .join(",")
}

/// Names and images of the containers of the pod spec at `ptr`.
pub(crate) fn containers(o: &Value, ptr: &str) -> (Value, Value) {
    let cs: Vec<&Value> = o
        .pointer(&format!("{ptr}/containers"))
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let names: Vec<&str> = cs.iter().map(|c| s(c, "/name")).collect();
    let images: Vec<&str> = cs.iter().map(|c| s(c, "/image")).collect();
    (json!(names.join(",")), json!(images.join(",")))
}

/// The first three joined by `,`, then ` + N more...`.
pub(crate) fn first_three(items: &[String]) -> String {
    let mut out = items.iter().take(3).cloned().collect::<Vec<_>>().join(",");
    if items.len() > 3 {
        out.push_str(&format!(" + {} more...", items.len() - 3));
    }
    out
}

#[cfg(test)]
mod tests;
