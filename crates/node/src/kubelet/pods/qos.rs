//! The pod's QoS class from its containers' requests and limits, as
//! Kubernetes computes it: Guaranteed when every container has CPU and
//! memory limits equal to its requests, BestEffort when none has any,
//! Burstable otherwise.

use k8s_openapi::api::core::v1::{Container, Pod};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use crate::kubelet::pods::spec;

const TRACKED: [&str; 2] = ["cpu", "memory"];

fn get<'a>(
    map: Option<&'a std::collections::BTreeMap<String, Quantity>>,
    key: &str,
) -> Option<&'a Quantity> {
    map.and_then(|m| m.get(key)).filter(|q| !is_zero(q))
}

fn is_zero(q: &Quantity) -> bool {
    let num: String =
        q.0.chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
    num.parse::<f64>().is_ok_and(|v| v == 0.0)
}

/// `Guaranteed`, `Burstable` or `BestEffort`.
pub fn qos_class(pod: &Pod) -> &'static str {
    let all: Vec<&Container> = spec::init_containers(pod)
        .iter()
        .chain(spec::containers(pod))
        .collect();
    let mut any = false;
    let mut guaranteed = true;
    for c in all {
        let res = c.resources.as_ref();
        let requests = res.and_then(|r| r.requests.as_ref());
        let limits = res.and_then(|r| r.limits.as_ref());
        for key in TRACKED {
            let req = get(requests, key);
            let lim = get(limits, key);
            if req.is_some() || lim.is_some() {
                any = true;
            }
            // A missing request defaults to the limit.
            match (req, lim) {
                (_, None) => guaranteed = false,
                (Some(r), Some(l)) if r != l => guaranteed = false,
                _ => {}
            }
        }
    }
    if !any {
        "BestEffort"
    } else if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::kubelet::pods::testutil::pod;

    #[test]
    fn classes() {
        assert_eq!(
            qos_class(&pod(json!({"containers": [{"name": "a"}]}))),
            "BestEffort"
        );
        let g = pod(json!({"containers": [{"name": "a", "resources": {
            "limits": {"cpu": "1", "memory": "1Gi"}}}]}));
        assert_eq!(qos_class(&g), "Guaranteed");
        let b = pod(json!({"containers": [{"name": "a", "resources": {
            "requests": {"cpu": "100m"}}}]}));
        assert_eq!(qos_class(&b), "Burstable");
        let b2 = pod(json!({"containers": [
            {"name": "a", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}},
            {"name": "b"}]}));
        assert_eq!(qos_class(&b2), "Burstable");
    }
}
