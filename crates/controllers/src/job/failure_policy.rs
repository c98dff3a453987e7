//! `spec.podFailurePolicy`: the first rule matching a failed pod decides
//! what its failure means (rules in order; no match counts the failure).

use k8s_openapi::api::batch::v1::{
    PodFailurePolicy, PodFailurePolicyOnExitCodesRequirement,
    PodFailurePolicyOnPodConditionsPattern,
};
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};

/// What a failed pod does to its Job.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    /// Counts towards backoffLimit (no rule matched, or `Count`).
    Count,
    /// Not counted at all.
    Ignore,
    /// Fails the Job at once, with this message.
    FailJob(String),
    /// Fails the pod's index at once (with backoffLimitPerIndex).
    FailIndex,
}

/// The action for `pod` (in phase Failed) under `policy`.
pub fn action(policy: Option<&PodFailurePolicy>, pod: &Pod) -> Action {
    let Some(policy) = policy else {
        return Action::Count;
    };
    let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    for (index, rule) in policy.rules.iter().enumerate() {
        let reason = if let Some(req) = &rule.on_exit_codes {
            match exit_code_match(pod, req) {
                Some(c) => format!(
                    "Container {} for pod {ns}/{name} failed with exit code {} matching {} rule at index {index}",
                    c.name,
                    exit_code(c).unwrap_or_default(),
                    rule.action
                ),
                None => continue,
            }
        } else if let Some(patterns) = &rule.on_pod_conditions {
            match condition_match(pod, patterns) {
                Some(t) => format!(
                    "Pod {ns}/{name} has condition {t} matching {} rule at index {index}",
                    rule.action
                ),
                None => continue,
            }
        } else {
            continue;
        };
        match rule.action.as_str() {
            "Ignore" => return Action::Ignore,
            "FailJob" => return Action::FailJob(reason),
            "FailIndex" => return Action::FailIndex,
            _ => return Action::Count,
        }
    }
    Action::Count
}

fn exit_code(c: &ContainerStatus) -> Option<i32> {
    Some(c.state.as_ref()?.terminated.as_ref()?.exit_code)
}

/// The first container (init containers first) that exited non-zero with
/// a code the requirement matches.
fn exit_code_match<'a>(
    pod: &'a Pod,
    req: &PodFailurePolicyOnExitCodesRequirement,
) -> Option<&'a ContainerStatus> {
    let status = pod.status.as_ref()?;
    status
        .init_container_statuses
        .iter()
        .flatten()
        .chain(status.container_statuses.iter().flatten())
        .find(|c| {
            if req.container_name.as_ref().is_some_and(|n| *n != c.name) {
                return false;
            }
            match exit_code(c) {
                None | Some(0) => false,
                Some(code) => match req.operator.as_str() {
                    "In" => req.values.contains(&code),
                    "NotIn" => !req.values.contains(&code),
                    _ => false,
                },
            }
        })
}

/// The type of the first pod condition a pattern matches.
fn condition_match(
    pod: &Pod,
    patterns: &[PodFailurePolicyOnPodConditionsPattern],
) -> Option<String> {
    let conditions = pod.status.as_ref()?.conditions.as_ref()?;
    patterns.iter().find_map(|p| {
        let want = p.status.as_deref().unwrap_or("True");
        conditions
            .iter()
            .find(|c| c.type_ == p.type_ && c.status == want)
            .map(|c| c.type_.clone())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn failed_pod(code: i32, conditions: serde_json::Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "ns"},
            "status": {"phase": "Failed", "conditions": conditions, "containerStatuses": [
                {"name": "main", "image": "i", "imageID": "", "ready": false, "restartCount": 0,
                 "state": {"terminated": {"exitCode": code}}}]}
        }))
        .expect("pod")
    }

    fn policy(rules: serde_json::Value) -> PodFailurePolicy {
        serde_json::from_value(json!({ "rules": rules })).expect("policy")
    }

    #[test]
    fn first_matching_rule_wins() {
        let p = policy(json!([
            {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]},
            {"action": "FailJob", "onExitCodes": {"containerName": "main", "operator": "In", "values": [42]}},
            {"action": "Count", "onExitCodes": {"operator": "NotIn", "values": [1]}},
        ]));
        assert_eq!(
            action(Some(&p), &failed_pod(42, json!([]))),
            Action::FailJob(
                "Container main for pod ns/p failed with exit code 42 matching FailJob rule at index 1"
                    .into()
            )
        );
        assert_eq!(
            action(
                Some(&p),
                &failed_pod(42, json!([{"type": "DisruptionTarget", "status": "True"}]))
            ),
            Action::Ignore
        );
        assert_eq!(action(Some(&p), &failed_pod(1, json!([]))), Action::Count);
        assert_eq!(action(None, &failed_pod(42, json!([]))), Action::Count);
        let on_condition = policy(json!([
            {"action": "FailJob", "onPodConditions": [{"type": "ConfigIssue", "status": "True"}]},
        ]));
        assert_eq!(
            action(
                Some(&on_condition),
                &failed_pod(1, json!([{"type": "ConfigIssue", "status": "True"}]))
            ),
            Action::FailJob(
                "Pod ns/p has condition ConfigIssue matching FailJob rule at index 0".into()
            )
        );
    }
}
