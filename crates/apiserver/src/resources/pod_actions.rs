//! The two pod subresources that act rather than store: `binding` (the
//! scheduler assigns a node; also the `bindings` resource) and `eviction`
//! (a delete that respects PodDisruptionBudgets: 429 when a budget allows
//! no disruption).

use rkube_apimachinery::{ApiError, Registry, ResourceInfo};
use rkube_store::Store;
use serde_json::{json, Value};

use super::delete::delete;
use super::get::list;
use super::object;
use super::options::{DeleteOptions, ListOptions, WriteOptions};
use super::store_access::{read, write_if_unchanged};
use super::update::update;

/// A resource the pod actions need, which the built-in registry always has.
fn resource(registry: &Registry, group: &str, plural: &str) -> Result<ResourceInfo, ApiError> {
    registry
        .get(group, "v1", plural)
        .cloned()
        .ok_or_else(|| ApiError::internal(format!("{plural} are not registered")))
}

/// `201 Success`, what both actions answer.
pub fn created() -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201})
}

/// Assigns pod `name` to the node in `binding.target` (once: a bound pod is
/// a 409), marks it scheduled.
pub async fn bind(
    store: &dyn Store,
    registry: &Registry,
    ns: &str,
    name: &str,
    binding: &Value,
    dry_run: bool,
) -> Result<Value, ApiError> {
    let info = resource(registry, "", "pods")?;
    let given = binding
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or(name);
    if given != name {
        return Err(ApiError::bad_request(format!(
            "the name of the binding ({given}) does not match the pod ({name})"
        )));
    }
    let node = binding
        .pointer("/target/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let kind = binding
        .pointer("/target/kind")
        .and_then(Value::as_str)
        .unwrap_or("Node");
    if node.is_empty() || !(kind.is_empty() || kind == "Node") {
        return Err(ApiError::invalid(
            "",
            "Binding",
            name,
            vec![rkube_apimachinery::Cause::required("target.name", "")],
        ));
    }
    // A write to the pod between the read and the binding (a status
    // update, say) is not a reason to fail: read again, as kube-apiserver's
    // retried update does; a pod bound meanwhile is the 409 below.
    let mut attempt = 0;
    loop {
        attempt += 1;
        match bind_once(store, &info, ns, name, node, binding, dry_run).await {
            Err(ApiError::Conflict { .. })
                if attempt < 5 && !already_bound(store, &info, ns, name).await =>
            {
                continue
            }
            other => return other,
        }
    }
}

async fn already_bound(store: &dyn Store, info: &ResourceInfo, ns: &str, name: &str) -> bool {
    match read(store, info, Some(ns), name).await {
        Ok((pod, _)) => {
            pod.pointer("/spec/nodeName")
                .and_then(Value::as_str)
                .is_some_and(|n| !n.is_empty())
                || object::is_deleting(&pod)
        }
        Err(_) => true,
    }
}

async fn bind_once(
    store: &dyn Store,
    info: &ResourceInfo,
    ns: &str,
    name: &str,
    node: &str,
    binding: &Value,
    dry_run: bool,
) -> Result<Value, ApiError> {
    let (mut pod, mod_rev) = read(store, info, Some(ns), name).await?;
    let conflict = |why: String| ApiError::conflict("", "pods/binding", name, &why);
    if object::is_deleting(&pod) {
        return Err(conflict(format!(
            "pod {name} is being deleted, cannot be assigned to a host"
        )));
    }
    if let Some(current) = pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
    {
        return Err(conflict(format!(
            "pod {name} is already assigned to node \"{current}\""
        )));
    }
    // As kube-apiserver's binding: one write of the node, the binding's
    // annotations and the PodScheduled condition, guarded by the version
    // read (two binders cannot both win); no admission, no managedFields.
    let mut conditions: Vec<Value> = pod
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    conditions.retain(|c| c.get("type").and_then(Value::as_str) != Some("PodScheduled"));
    conditions.push(json!({"type": "PodScheduled", "status": "True",
                           "lastProbeTime": null,
                           "lastTransitionTime": object::now_rfc3339()}));
    pod["spec"]["nodeName"] = json!(node);
    pod["status"]["conditions"] = Value::Array(conditions);
    if let Some(a) = binding
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
    {
        let meta = object::meta_mut(&mut pod)?;
        let annotations = meta.entry("annotations").or_insert_with(|| json!({}));
        if let Some(m) = annotations.as_object_mut() {
            for (k, v) in a {
                m.insert(k.clone(), v.clone());
            }
        }
    }
    if dry_run {
        return Ok(created());
    }
    write_if_unchanged(store, info, Some(ns), name, mod_rev, pod).await?;
    Ok(created())
}

/// Evicts pod `name`: refused with 429 while a matching
/// PodDisruptionBudget allows no disruption (pods not running may always
/// go), otherwise deleted with the eviction's delete options.
pub async fn evict(
    store: &dyn Store,
    registry: &Registry,
    ns: &str,
    name: &str,
    eviction: &Value,
    dry_run: bool,
) -> Result<Value, ApiError> {
    let info = resource(registry, "", "pods")?;
    let (pod, _) = read(store, &info, Some(ns), name).await?;
    let running = pod.pointer("/status/phase").and_then(Value::as_str) == Some("Running");
    if running {
        let pdbs = resource(registry, "policy", "poddisruptionbudgets")?;
        // A budget written meanwhile (another eviction took a disruption,
        // the disruption controller recounted) is read again.
        let mut attempt = 0;
        loop {
            attempt += 1;
            match charge_budget(store, &pdbs, ns, name, &pod, dry_run).await {
                Err(ApiError::Conflict { .. }) if attempt < 5 => continue,
                other => break other?,
            }
        }
    }
    let mut opts = DeleteOptions::from_body(eviction.get("deleteOptions").unwrap_or(&Value::Null));
    opts.dry_run |= dry_run;
    delete(store, &info, Some(ns), name, &opts).await?;
    Ok(created())
}

/// Takes one disruption from the budget covering `pod`, as kube-apiserver
/// does: 429 when it allows none; otherwise `disruptionsAllowed` goes down
/// by one and the pod is recorded in `disruptedPods` (the disruption
/// controller drops it once the pod is gone), written with the budget's
/// resourceVersion as a precondition so that two evictions cannot both
/// take the last disruption.
async fn charge_budget(
    store: &dyn Store,
    pdbs: &ResourceInfo,
    ns: &str,
    name: &str,
    pod: &Value,
    dry_run: bool,
) -> Result<(), ApiError> {
    let list = list(store, pdbs, Some(ns), &ListOptions::default()).await?;
    let labels = pod.pointer("/metadata/labels");
    let matching: Vec<&Value> = list
        .get("items")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|pdb| {
            pdb.pointer("/spec/selector")
                .filter(|s| s.is_object())
                .is_some_and(|sel| rkube_apimachinery::validate::selector_matches(sel, labels))
        })
        .collect();
    let pdb = match matching.as_slice() {
        [] => return Ok(()),
        [one] => *one,
        _ => {
            return Err(ApiError::internal(
                "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.",
            ))
        }
    };
    let allowed = pdb
        .pointer("/status/disruptionsAllowed")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    if allowed < 1 {
        return Err(ApiError::too_many_requests(
            "Cannot evict pod as it would violate the pod's disruption budget.",
            // As kube-apiserver: no Retry-After (clients decide).
            0,
        ));
    }
    let mut charged = pdb.clone();
    charged["status"]["disruptionsAllowed"] = json!(allowed - 1);
    if !charged["status"]["disruptedPods"].is_object() {
        charged["status"]["disruptedPods"] = json!({});
    }
    charged["status"]["disruptedPods"][name] = json!(object::now_rfc3339());
    let pdb_name = pdb
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let opts = WriteOptions {
        dry_run,
        ..WriteOptions::internal("eviction")
    };
    update(store, pdbs, Some(ns), pdb_name, charged, true, &opts).await?;
    Ok(())
}
