//! What the pod subresources that reach a node share: the pod, the
//! container a request names (or the pod's only one), and the pod's
//! node, as kube-apiserver's pod strategy finds them.

use rkube_apimachinery::ApiError;
use serde_json::Value;

use super::super::get::get;
use super::super::state::ApiState;

/// Reads an object of a core/v1 resource.
pub async fn read_core(
    state: &ApiState,
    plural: &str,
    ns: Option<&str>,
    name: &str,
) -> Result<Value, ApiError> {
    let registry = state.registry();
    let info = registry
        .get("", "v1", plural)
        .ok_or_else(|| ApiError::internal(format!("{plural} are not registered")))?;
    Ok(get(state.store.as_ref(), info, ns, name).await?.0)
}

/// The names of every container of the pod: init containers, containers,
/// ephemeral containers (kube's `VisitContainers` order).
pub fn container_names(pod: &Value) -> Vec<&str> {
    ["initContainers", "containers", "ephemeralContainers"]
        .iter()
        .flat_map(|list| pod["spec"][*list].as_array().into_iter().flatten())
        .filter_map(|c| c["name"].as_str())
        .collect()
}

/// The container a request is for: `given`, which must be one of the
/// pod's, or else the pod's only container (kube's `validateContainer`).
pub fn choose_container(pod: &Value, given: Option<&str>) -> Result<String, ApiError> {
    let name = pod["metadata"]["name"].as_str().unwrap_or_default();
    match given.filter(|g| !g.is_empty()) {
        Some(c) if container_names(pod).contains(&c) => Ok(c.to_string()),
        Some(c) => Err(ApiError::bad_request(format!(
            "container {c} is not valid for pod {name}"
        ))),
        None => {
            let main = pod["spec"]["containers"].as_array();
            match main.map(Vec::as_slice).unwrap_or_default() {
                [only] => Ok(only["name"].as_str().unwrap_or_default().to_string()),
                [] => Err(ApiError::bad_request(format!(
                    "a container name must be specified for pod {name}"
                ))),
                _ => Err(ApiError::bad_request(format!(
                    "a container name must be specified for pod {name}, choose one of: [{}]",
                    container_names(pod).join(" ")
                ))),
            }
        }
    }
}

/// The node the pod is assigned to; `None` when it is not scheduled.
pub async fn node_of(state: &ApiState, pod: &Value) -> Result<Option<Value>, ApiError> {
    match pod["spec"]["nodeName"].as_str().filter(|n| !n.is_empty()) {
        Some(node) => Ok(Some(read_core(state, "nodes", None, node).await?)),
        None => Ok(None),
    }
}

/// The node of a pod that must have one (exec, attach, port-forward):
/// 400 otherwise, as kube-apiserver.
pub async fn assigned_node(state: &ApiState, pod: &Value) -> Result<Value, ApiError> {
    node_of(state, pod).await?.ok_or_else(|| {
        ApiError::bad_request(format!(
            "pod {} does not have a host assigned",
            pod["metadata"]["name"].as_str().unwrap_or_default()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn containers_are_chosen_as_kube_apiserver_chooses_them() {
        let one = json!({"metadata": {"name": "p"}, "spec": {
            "initContainers": [{"name": "init"}], "containers": [{"name": "a"}]}});
        assert_eq!(choose_container(&one, None).expect("only"), "a");
        assert_eq!(choose_container(&one, Some("init")).expect("init"), "init");
        let two = json!({"metadata": {"name": "p"}, "spec": {
            "containers": [{"name": "a"}, {"name": "b"}],
            "ephemeralContainers": [{"name": "debugger"}]}});
        let e = choose_container(&two, None).expect_err("several");
        assert_eq!(e.code(), 400);
        assert_eq!(
            e.message(),
            "a container name must be specified for pod p, choose one of: [a b debugger]"
        );
        assert_eq!(
            choose_container(&two, Some("debugger")).expect("eph"),
            "debugger"
        );
        let e = choose_container(&two, Some("x")).expect_err("unknown");
        assert_eq!(e.message(), "container x is not valid for pod p");
    }
}
