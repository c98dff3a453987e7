//! Printers of coordination, discovery, networking, policy, scheduling and
//! RBAC kinds.

use serde_json::{json, Value};

use super::{age, arr, c, first_three, n, name, s, selector, Column};

pub const LEASE: &[Column] = &[
    c("Name", "string", 0),
    c("Holder", "string", 0),
    c("Age", "string", 0),
];

pub fn lease(o: &Value, now: i64) -> Vec<Value> {
    vec![name(o), json!(s(o, "/spec/holderIdentity")), age(o, now)]
}

pub const SLICE: &[Column] = &[
    c("Name", "string", 0),
    c("AddressType", "string", 0),
    c("Ports", "string", 0),
    c("Endpoints", "string", 0),
    c("Age", "string", 0),
];

pub fn slice(o: &Value, now: i64) -> Vec<Value> {
    let ports: Vec<String> = arr(o, "/ports")
        .iter()
        .map(|p| match p.get("port").and_then(Value::as_i64) {
            Some(v) => v.to_string(),
            None if !s(p, "/name").is_empty() => s(p, "/name").to_string(),
            None => "*".into(),
        })
        .collect();
    let addrs: Vec<String> = arr(o, "/endpoints")
        .iter()
        .flat_map(|e| {
            arr(e, "/addresses")
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
        })
        .collect();
    let unset = |v: Vec<String>| {
        if v.is_empty() {
            "<unset>".to_string()
        } else {
            first_three(&v)
        }
    };
    vec![
        name(o),
        json!(s(o, "/addressType")),
        json!(unset(ports)),
        json!(unset(addrs)),
        age(o, now),
    ]
}

pub const INGRESS: &[Column] = &[
    c("Name", "string", 0),
    c("Class", "string", 0),
    c("Hosts", "string", 0),
    c("Address", "string", 0),
    c("Ports", "string", 0),
    c("Age", "string", 0),
];

pub fn ingress(o: &Value, now: i64) -> Vec<Value> {
    let rules = arr(o, "/spec/rules");
    let hosts: Vec<String> = rules
        .iter()
        .map(|r| s(r, "/host").to_string())
        .filter(|h| !h.is_empty())
        .collect();
    let hosts_cell = if hosts.is_empty() {
        "*".to_string()
    } else {
        let mut out = hosts.iter().take(3).cloned().collect::<Vec<_>>().join(",");
        if hosts.len() >= 3 && rules.len() > 3 {
            out.push_str(&format!(" + {} more...", rules.len() - 3));
        }
        out
    };
    let mut addrs: Vec<String> = arr(o, "/status/loadBalancer/ingress")
        .iter()
        .map(|i| {
            if s(i, "/ip").is_empty() {
                s(i, "/hostname")
            } else {
                s(i, "/ip")
            }
            .to_string()
        })
        .collect();
    addrs.sort();
    addrs.dedup();
    let class = s(o, "/spec/ingressClassName");
    vec![
        name(o),
        json!(if class.is_empty() { "<none>" } else { class }),
        json!(hosts_cell),
        json!(addrs.join(",")),
        json!(if arr(o, "/spec/tls").is_empty() {
            "80"
        } else {
            "80, 443"
        }),
        age(o, now),
    ]
}

pub const INGRESSCLASS: &[Column] = &[
    c("Name", "string", 0),
    c("Controller", "string", 0),
    c("Parameters", "string", 0),
    c("Age", "string", 0),
];

pub fn ingressclass(o: &Value, now: i64) -> Vec<Value> {
    let params = match o.pointer("/spec/parameters") {
        Some(p) if p.is_object() => match s(p, "/apiGroup") {
            "" => format!("{}/{}", s(p, "/kind"), s(p, "/name")),
            g => format!("{}.{g}/{}", s(p, "/kind"), s(p, "/name")),
        },
        _ => "<none>".into(),
    };
    vec![
        name(o),
        json!(s(o, "/spec/controller")),
        json!(params),
        age(o, now),
    ]
}

pub const NETPOL: &[Column] = &[
    c("Name", "string", 0),
    c("Pod-Selector", "string", 0),
    c("Age", "string", 0),
];

pub fn netpol(o: &Value, now: i64) -> Vec<Value> {
    vec![
        name(o),
        json!(selector(o.pointer("/spec/podSelector"))),
        age(o, now),
    ]
}

pub const PDB: &[Column] = &[
    c("Name", "string", 0),
    c("Min Available", "string", 0),
    c("Max Unavailable", "string", 0),
    c("Allowed Disruptions", "integer", 0),
    c("Age", "string", 0),
];

pub fn pdb(o: &Value, now: i64) -> Vec<Value> {
    let int_or_string = |ptr: &str| match o.pointer(ptr) {
        Some(Value::String(v)) => v.clone(),
        Some(Value::Number(v)) => v.to_string(),
        _ => "N/A".into(),
    };
    vec![
        name(o),
        json!(int_or_string("/spec/minAvailable")),
        json!(int_or_string("/spec/maxUnavailable")),
        json!(n(o, "/status/disruptionsAllowed")),
        age(o, now),
    ]
}

pub const PRIORITYCLASS: &[Column] = &[
    c("Name", "string", 0),
    c("Value", "integer", 0),
    c("Global-Default", "boolean", 0),
    c("Age", "string", 0),
    c("PreemptionPolicy", "string", 0),
];

pub fn priorityclass(o: &Value, now: i64) -> Vec<Value> {
    vec![
        name(o),
        json!(n(o, "/value")),
        json!(o
            .get("globalDefault")
            .and_then(Value::as_bool)
            .unwrap_or(false)),
        age(o, now),
        json!(s(o, "/preemptionPolicy")),
    ]
}

pub const BINDING: &[Column] = &[
    c("Name", "string", 0),
    c("Role", "string", 0),
    c("Age", "string", 0),
    c("Users", "string", 1),
    c("Groups", "string", 1),
    c("ServiceAccounts", "string", 1),
];

pub fn binding(o: &Value, now: i64) -> Vec<Value> {
    let subjects = arr(o, "/subjects");
    let of = |kind: &str| {
        subjects
            .iter()
            .filter(|s0| s(s0, "/kind") == kind)
            .map(|s0| {
                if kind == "ServiceAccount" {
                    format!("{}/{}", s(s0, "/namespace"), s(s0, "/name"))
                } else {
                    s(s0, "/name").to_string()
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    vec![
        name(o),
        json!(format!(
            "{}/{}",
            s(o, "/roleRef/kind"),
            s(o, "/roleRef/name")
        )),
        age(o, now),
        json!(of("User")),
        json!(of("Group")),
        json!(of("ServiceAccount")),
    ]
}

pub const RUNTIMECLASS: &[Column] = &[
    c("Name", "string", 0),
    c("Handler", "string", 0),
    c("Age", "string", 0),
];

pub fn runtimeclass(o: &Value, now: i64) -> Vec<Value> {
    vec![name(o), json!(s(o, "/handler")), age(o, now)]
}

pub const APISERVICE: &[Column] = &[
    c("Name", "string", 0),
    c("Service", "string", 0),
    c("Available", "string", 0),
    c("Age", "string", 0),
];

/// Service is `Local` or `<namespace>/<name>`; Available the condition's
/// status, with its reason when not `True` (kube-aggregator's printer).
pub fn apiservice(o: &Value, now: i64) -> Vec<Value> {
    let service = match o.pointer("/spec/service").filter(|v| v.is_object()) {
        None => "Local".to_string(),
        Some(svc) => format!("{}/{}", s(svc, "/namespace"), s(svc, "/name")),
    };
    let available = arr(o, "/status/conditions")
        .iter()
        .find(|c| s(c, "/type") == "Available")
        .map(|c| match s(c, "/status") {
            "True" => "True".to_string(),
            status => format!("{status} ({})", s(c, "/reason")),
        })
        .unwrap_or_else(|| "Unknown".to_string());
    vec![name(o), json!(service), json!(available), age(o, now)]
}
