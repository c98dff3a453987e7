//! Printers of apps/v1 and batch/v1 kinds.

use serde_json::{json, Value};

use super::{age, c, containers, labels, n, name, s, selector, since, Column};

pub const DEPLOYMENT: &[Column] = &[
    c("Name", "string", 0),
    c("Ready", "string", 0),
    c("Up-to-date", "string", 0),
    c("Available", "string", 0),
    c("Age", "string", 0),
    c("Containers", "string", 1),
    c("Images", "string", 1),
    c("Selector", "string", 1),
];

pub fn deployment(o: &Value, now: i64) -> Vec<Value> {
    let (cs, images) = containers(o, "/spec/template/spec");
    vec![
        name(o),
        json!(format!(
            "{}/{}",
            n(o, "/status/readyReplicas"),
            n(o, "/spec/replicas")
        )),
        json!(n(o, "/status/updatedReplicas")),
        json!(n(o, "/status/availableReplicas")),
        age(o, now),
        cs,
        images,
        json!(selector(o.pointer("/spec/selector"))),
    ]
}

pub const REPLICASET: &[Column] = &[
    c("Name", "string", 0),
    c("Desired", "integer", 0),
    c("Current", "integer", 0),
    c("Ready", "integer", 0),
    c("Age", "string", 0),
    c("Containers", "string", 1),
    c("Images", "string", 1),
    c("Selector", "string", 1),
];

pub fn replicaset(o: &Value, now: i64) -> Vec<Value> {
    let (cs, images) = containers(o, "/spec/template/spec");
    vec![
        name(o),
        json!(n(o, "/spec/replicas")),
        json!(n(o, "/status/replicas")),
        json!(n(o, "/status/readyReplicas")),
        age(o, now),
        cs,
        images,
        json!(selector(o.pointer("/spec/selector"))),
    ]
}

pub const STATEFULSET: &[Column] = &[
    c("Name", "string", 0),
    c("Ready", "string", 0),
    c("Age", "string", 0),
    c("Containers", "string", 1),
    c("Images", "string", 1),
];

pub fn statefulset(o: &Value, now: i64) -> Vec<Value> {
    let (cs, images) = containers(o, "/spec/template/spec");
    vec![
        name(o),
        json!(format!(
            "{}/{}",
            n(o, "/status/readyReplicas"),
            n(o, "/spec/replicas")
        )),
        age(o, now),
        cs,
        images,
    ]
}

pub const DAEMONSET: &[Column] = &[
    c("Name", "string", 0),
    c("Desired", "integer", 0),
    c("Current", "integer", 0),
    c("Ready", "integer", 0),
    c("Up-to-date", "integer", 0),
    c("Available", "integer", 0),
    c("Node Selector", "string", 0),
    c("Age", "string", 0),
    c("Containers", "string", 1),
    c("Images", "string", 1),
    c("Selector", "string", 1),
];

pub fn daemonset(o: &Value, now: i64) -> Vec<Value> {
    let (cs, images) = containers(o, "/spec/template/spec");
    vec![
        name(o),
        json!(n(o, "/status/desiredNumberScheduled")),
        json!(n(o, "/status/currentNumberScheduled")),
        json!(n(o, "/status/numberReady")),
        json!(n(o, "/status/updatedNumberScheduled")),
        json!(n(o, "/status/numberAvailable")),
        json!(labels(o.pointer("/spec/template/spec/nodeSelector"))),
        age(o, now),
        cs,
        images,
        json!(selector(o.pointer("/spec/selector"))),
    ]
}

pub const REVISION: &[Column] = &[
    c("Name", "string", 0),
    c("Controller", "string", 0),
    c("Revision", "string", 0),
    c("Age", "string", 0),
];

pub fn revision(o: &Value, now: i64) -> Vec<Value> {
    let controller = o
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .and_then(|refs| {
            refs.iter()
                .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true))
        })
        .map(|r| {
            let kind = s(r, "/kind").to_lowercase();
            match s(r, "/apiVersion").rsplit_once('/') {
                Some((group, _)) => format!("{kind}.{group}/{}", s(r, "/name")),
                None => format!("{kind}/{}", s(r, "/name")),
            }
        })
        .unwrap_or_else(|| "<none>".into());
    vec![
        name(o),
        json!(controller),
        json!(n(o, "/revision")),
        age(o, now),
    ]
}

fn has_condition(o: &Value, ty: &str) -> bool {
    o.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| s(c, "/type") == ty && s(c, "/status") == "True")
        })
}

pub const JOB: &[Column] = &[
    c("Name", "string", 0),
    c("Status", "string", 0),
    c("Completions", "string", 0),
    c("Duration", "string", 0),
    c("Age", "string", 0),
    c("Containers", "string", 1),
    c("Images", "string", 1),
    c("Selector", "string", 1),
];

pub fn job(o: &Value, now: i64) -> Vec<Value> {
    let status = if has_condition(o, "Complete") {
        "Complete"
    } else if has_condition(o, "Failed") {
        "Failed"
    } else if o
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|v| !v.is_null())
    {
        "Terminating"
    } else if has_condition(o, "Suspended") {
        "Suspended"
    } else if has_condition(o, "FailureTarget") {
        "FailureTarget"
    } else {
        "Running"
    };
    let succeeded = n(o, "/status/succeeded");
    let completions = if o.pointer("/spec/completions").is_some_and(|v| !v.is_null()) {
        format!("{succeeded}/{}", n(o, "/spec/completions"))
    } else if n(o, "/spec/parallelism") > 1 {
        format!("{succeeded}/1 of {}", n(o, "/spec/parallelism"))
    } else {
        format!("{succeeded}/1")
    };
    let start = o
        .pointer("/status/startTime")
        .and_then(Value::as_str)
        .and_then(super::parse_rfc3339);
    let end = o
        .pointer("/status/completionTime")
        .and_then(Value::as_str)
        .and_then(super::parse_rfc3339);
    let duration = match (start, end) {
        (None, _) => String::new(),
        (Some(s0), None) => super::human_duration(now - s0),
        (Some(s0), Some(e)) => super::human_duration(e - s0),
    };
    let (cs, images) = containers(o, "/spec/template/spec");
    vec![
        name(o),
        json!(status),
        json!(completions),
        json!(duration),
        age(o, now),
        cs,
        images,
        json!(selector(o.pointer("/spec/selector"))),
    ]
}

pub const CRONJOB: &[Column] = &[
    c("Name", "string", 0),
    c("Schedule", "string", 0),
    c("Timezone", "string", 0),
    c("Suspend", "boolean", 0),
    c("Active", "integer", 0),
    c("Last Schedule", "string", 0),
    c("Age", "string", 0),
    c("Containers", "string", 1),
    c("Images", "string", 1),
    c("Selector", "string", 1),
];

pub fn cronjob(o: &Value, now: i64) -> Vec<Value> {
    let suspend = match o.pointer("/spec/suspend").and_then(Value::as_bool) {
        Some(true) => "True",
        Some(false) => "False",
        None => "<unset>",
    };
    let last = if o
        .pointer("/status/lastScheduleTime")
        .is_some_and(|v| !v.is_null())
    {
        since(o, "/status/lastScheduleTime", now)
    } else {
        "<none>".into()
    };
    let (cs, images) = containers(o, "/spec/jobTemplate/spec/template/spec");
    let tz = s(o, "/spec/timeZone");
    vec![
        name(o),
        json!(s(o, "/spec/schedule")),
        json!(if tz.is_empty() { "<none>" } else { tz }),
        json!(suspend),
        json!(o
            .pointer("/status/active")
            .and_then(Value::as_array)
            .map_or(0, Vec::len)),
        json!(last),
        age(o, now),
        cs,
        images,
        json!(selector(o.pointer("/spec/jobTemplate/spec/selector"))),
    ]
}

/// ReplicationControllers: ReplicaSet's columns, the selector a plain map.
pub const REPLICATIONCONTROLLER: &[Column] = REPLICASET;

pub fn replicationcontroller(o: &Value, now: i64) -> Vec<Value> {
    let (cs, images) = containers(o, "/spec/template/spec");
    vec![
        name(o),
        json!(n(o, "/spec/replicas")),
        json!(n(o, "/status/replicas")),
        json!(n(o, "/status/readyReplicas")),
        age(o, now),
        cs,
        images,
        json!(labels(o.pointer("/spec/selector"))),
    ]
}
