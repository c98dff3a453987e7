//! `pods/ephemeralcontainers` (GET, PUT, PATCH; what `kubectl debug`
//! uses): the pod, of which only `spec.ephemeralContainers` may change —
//! entries may be added, never changed or removed — each checked as
//! kube-apiserver checks an ephemeral container (a unique name, an image,
//! no ports, probes, lifecycle, resources or restart policy, a
//! `targetContainerName` that names one of the pod's containers). Every
//! other change the request carries is ignored, as kube-apiserver's
//! ephemeral-containers strategy does. 422 `Invalid` otherwise.
//!
//! The write goes through the pipeline as an update of the pod; its
//! managedFields entry names no subresource (kube-apiserver's names
//! `ephemeralcontainers`).

use rkube_apimachinery::validation::is_dns1123_label;
use rkube_apimachinery::{ApiError, Cause, ResourceInfo};
use rkube_store::Store;
use serde_json::Value;

use super::options::{PatchType, WriteOptions, Written};
use super::patch::apply_patch;
use super::pipeline::{self, Managed};
use super::store_access::read;

/// Fields an ephemeral container may not set.
const FORBIDDEN: &[&str] = &[
    "ports",
    "livenessProbe",
    "readinessProbe",
    "startupProbe",
    "lifecycle",
    "resources",
    "resizePolicy",
    "restartPolicy",
];

fn names<'a>(pod: &'a Value, list: &str) -> Vec<&'a str> {
    pod["spec"][list]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str())
        .collect()
}

/// What is wrong with `new`'s ephemeral containers, given the stored
/// `old` pod (both defaulted).
pub fn validate(old: &Value, new: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let path = "spec.ephemeralContainers";
    let empty = Vec::new();
    let list = match &new["spec"]["ephemeralContainers"] {
        Value::Null => &empty,
        Value::Array(a) => a,
        other => {
            causes.push(Cause::invalid(path, other.clone(), "must be a list"));
            return causes;
        }
    };
    let others: Vec<&str> = names(old, "initContainers")
        .into_iter()
        .chain(names(old, "containers"))
        .collect();
    let mut seen: Vec<&str> = others.clone();
    for (i, c) in list.iter().enumerate() {
        let at = format!("{path}[{i}]");
        let name = c["name"].as_str().unwrap_or_default();
        if name.is_empty() {
            causes.push(Cause::required(format!("{at}.name"), ""));
        } else {
            for why in is_dns1123_label(name) {
                causes.push(Cause::invalid(format!("{at}.name"), name, &why));
            }
            if seen.contains(&name) {
                causes.push(Cause::duplicate(format!("{at}.name"), name));
            }
            seen.push(name);
        }
        if c["image"].as_str().unwrap_or_default().is_empty() {
            causes.push(Cause::required(format!("{at}.image"), ""));
        }
        for field in FORBIDDEN {
            let set = match &c[*field] {
                Value::Null => false,
                Value::Object(m) => !m.is_empty(),
                Value::Array(a) => !a.is_empty(),
                _ => true,
            };
            if set {
                causes.push(Cause::forbidden(
                    format!("{at}.{field}"),
                    "cannot be set for an Ephemeral Container",
                ));
            }
        }
        if let Some(target) = c["targetContainerName"].as_str().filter(|t| !t.is_empty()) {
            if !others.contains(&target) {
                causes.push(Cause::not_found(
                    format!("{at}.targetContainerName"),
                    target,
                ));
            }
        }
    }
    for existing in old["spec"]["ephemeralContainers"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let name = existing["name"].as_str().unwrap_or_default();
        match list.iter().find(|c| c["name"].as_str() == Some(name)) {
            None => causes.push(Cause::forbidden(
                path,
                &format!("existing ephemeral containers {name:?} may not be removed\n"),
            )),
            Some(c) if c != existing => causes.push(Cause::forbidden(
                format!("{path}[{name}]"),
                &format!("existing ephemeral containers {name:?} may not be changed\n"),
            )),
            Some(_) => {}
        }
    }
    causes
}

/// How the new ephemeral containers are given.
pub enum Change<'a> {
    /// PUT: the pod sent.
    Replace(&'a Value),
    /// PATCH: a patch of the pod.
    Patch(PatchType, &'a Value),
}

/// Writes the pod's new ephemeral containers (retried when the pod
/// changed meanwhile, unless the request names a resourceVersion).
pub async fn write(
    store: &dyn Store,
    info: &ResourceInfo,
    ns: &str,
    name: &str,
    change: Change<'_>,
    opts: &WriteOptions,
) -> Result<Written, ApiError> {
    for _ in 0..8 {
        let (old, mod_rev) = read(store, info, Some(ns), name).await?;
        let given = match &change {
            Change::Replace(pod) => (*pod).clone(),
            Change::Patch(PatchType::Apply, _) => {
                return Err(ApiError::unsupported_media_type(&[
                    "application/json-patch+json",
                    "application/merge-patch+json",
                    "application/strategic-merge-patch+json",
                ]))
            }
            Change::Patch(kind, patch) => {
                let mut doc = old.clone();
                apply_patch(*kind, &mut doc, patch)?;
                doc
            }
        };
        let wanted_rv = given["metadata"]["resourceVersion"]
            .as_str()
            .filter(|r| !r.is_empty())
            .map(str::to_string);
        let pinned = wanted_rv
            .as_deref()
            .is_some_and(|r| r != mod_rev.to_string());
        let mut new = old.clone();
        new["spec"]["ephemeralContainers"] = given["spec"]["ephemeralContainers"].clone();
        if let Some(rv) = &wanted_rv {
            new["metadata"]["resourceVersion"] = Value::from(rv.as_str());
        }
        pipeline::default(info, &mut new);
        let causes = validate(&old, &new);
        if !causes.is_empty() {
            return Err(ApiError::invalid("", "Pod", name, causes));
        }
        let written = pipeline::update(
            store,
            info,
            Some(ns),
            name,
            (&old, mod_rev),
            new,
            false,
            opts,
            Managed::Update,
        )
        .await;
        match written {
            Err(ApiError::Conflict { .. }) if !pinned => continue,
            other => return other,
        }
    }
    Err(ApiError::conflict_modified("", "pods", name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(ephemeral: Value) -> Value {
        json!({"metadata": {"name": "p"}, "spec": {
            "containers": [{"name": "app", "image": "busybox"}],
            "ephemeralContainers": ephemeral}})
    }

    fn fields(causes: &[Cause]) -> Vec<String> {
        causes.iter().map(|c| c.field.clone()).collect()
    }

    #[test]
    fn ephemeral_containers_may_be_added_only() {
        let old = pod(json!([{"name": "dbg", "image": "busybox"}]));
        let added = pod(json!([{"name": "dbg", "image": "busybox"},
                               {"name": "dbg2", "image": "busybox", "targetContainerName": "app"}]));
        assert!(validate(&old, &added).is_empty());
        let removed = pod(json!([]));
        assert_eq!(
            fields(&validate(&old, &removed)),
            ["spec.ephemeralContainers"]
        );
        let changed = pod(json!([{"name": "dbg", "image": "alpine"}]));
        let c = validate(&old, &changed);
        assert_eq!(c.len(), 1);
        assert!(c[0].message.contains("may not be changed"), "{:?}", c[0]);
    }

    #[test]
    fn each_ephemeral_container_is_checked() {
        let old = pod(json!(null));
        let bad = pod(json!([
            {"name": "app", "image": "busybox"},
            {"name": "x", "image": "busybox", "ports": [{"containerPort": 80}],
             "resources": {"limits": {"cpu": "1"}}},
            {"name": "y", "targetContainerName": "nope"}
        ]));
        assert_eq!(
            fields(&validate(&old, &bad)),
            [
                "spec.ephemeralContainers[0].name",
                "spec.ephemeralContainers[1].ports",
                "spec.ephemeralContainers[1].resources",
                "spec.ephemeralContainers[2].image",
                "spec.ephemeralContainers[2].targetContainerName",
            ]
        );
    }
}
