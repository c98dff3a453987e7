//! A Deployment's status and conditions, with no I/O (kube-controller-
//! manager's `calculateStatus`, `syncRolloutStatus` and the condition
//! helpers of `deployment/util`): replica counts from its ReplicaSets,
//! Available from maxUnavailable, Progressing from what moved since the
//! last status and from progressDeadlineSeconds.

use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentCondition, DeploymentStatus, ReplicaSet};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

use super::util::{available, desired, max_unavailable, ready, replicas, status_replicas};

pub const AVAILABLE: &str = "Available";
pub const PROGRESSING: &str = "Progressing";
pub const REPLICA_FAILURE: &str = "ReplicaFailure";

pub const MINIMUM_REPLICAS_AVAILABLE: &str = "MinimumReplicasAvailable";
pub const MINIMUM_REPLICAS_UNAVAILABLE: &str = "MinimumReplicasUnavailable";
pub const NEW_RS_CREATED: &str = "NewReplicaSetCreated";
pub const FOUND_NEW_RS: &str = "FoundNewReplicaSet";
pub const RS_UPDATED: &str = "ReplicaSetUpdated";
pub const NEW_RS_AVAILABLE: &str = "NewReplicaSetAvailable";
pub const TIMED_OUT: &str = "ProgressDeadlineExceeded";
pub const PAUSED: &str = "DeploymentPaused";
pub const RESUMED: &str = "DeploymentResumed";
pub const FAILED_RS_CREATE: &str = "ReplicaSetCreateError";

/// Now, to the second (as `metav1.Time` is written), so a status read back
/// equals the one written.
pub fn now() -> Timestamp {
    Timestamp::from_second(Timestamp::now().as_second()).unwrap_or(Timestamp::UNIX_EPOCH)
}

pub fn condition(
    type_: &str,
    status: &str,
    reason: &str,
    message: String,
    now: Timestamp,
) -> DeploymentCondition {
    DeploymentCondition {
        type_: Some(type_.to_string()),
        status: Some(status.to_string()),
        reason: Some(reason.to_string()),
        message: Some(message),
        last_update_time: Some(Time(now)),
        last_transition_time: Some(Time(now)),
    }
}

pub fn get_condition<'a>(
    status: &'a DeploymentStatus,
    type_: &str,
) -> Option<&'a DeploymentCondition> {
    status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_.as_deref() == Some(type_))
}

/// Sets `c` unless a condition of its type has its status and reason
/// already; keeps lastTransitionTime if the status is unchanged. A changed
/// condition moves to the end, as in Kubernetes.
pub fn set_condition(status: &mut DeploymentStatus, mut c: DeploymentCondition) {
    if let Some(cur) = get_condition(status, c.type_.as_deref().unwrap_or_default()) {
        if cur.status == c.status && cur.reason == c.reason {
            return;
        }
        if cur.status == c.status {
            c.last_transition_time = cur.last_transition_time.clone();
        }
    }
    remove_condition(status, c.type_.as_deref().unwrap_or_default());
    status.conditions.get_or_insert_with(Vec::new).push(c);
}

pub fn remove_condition(status: &mut DeploymentStatus, type_: &str) {
    if let Some(cs) = status.conditions.as_mut() {
        cs.retain(|c| c.type_.as_deref() != Some(type_));
    }
}

/// progressDeadlineSeconds is set (and not "forever").
pub fn has_progress_deadline(d: &Deployment) -> bool {
    d.spec
        .progress_deadline_seconds
        .is_some_and(|s| s != i32::MAX)
}

fn n(v: Option<i32>) -> i32 {
    v.unwrap_or(0)
}

/// Zero counts are left out, as Kubernetes' `omitempty` leaves them out.
fn nz(v: i32) -> Option<i32> {
    (v != 0).then_some(v)
}

/// The status the ReplicaSets give (`calculateStatus`): counts, the
/// Available condition, the other conditions as they were.
pub fn calculate(
    d: &Deployment,
    all: &[&ReplicaSet],
    new: Option<&ReplicaSet>,
    terminating: i32,
    now: Timestamp,
) -> DeploymentStatus {
    let avail: i32 = all.iter().map(|rs| available(rs)).sum();
    let total: i32 = all.iter().map(|rs| replicas(rs)).sum();
    let cur = d.status.clone().unwrap_or_default();
    let mut status = DeploymentStatus {
        observed_generation: d.metadata.generation.filter(|g| *g != 0),
        replicas: nz(all.iter().map(|rs| status_replicas(rs)).sum()),
        updated_replicas: nz(new.map_or(0, status_replicas)),
        ready_replicas: nz(all.iter().map(|rs| ready(rs)).sum()),
        available_replicas: nz(avail),
        unavailable_replicas: nz((total - avail).max(0)),
        terminating_replicas: Some(terminating),
        collision_count: cur.collision_count,
        conditions: cur.conditions,
    };
    let c = if avail >= desired(d) - max_unavailable(d) {
        condition(
            AVAILABLE,
            "True",
            MINIMUM_REPLICAS_AVAILABLE,
            "Deployment has minimum availability.".into(),
            now,
        )
    } else {
        condition(
            AVAILABLE,
            "False",
            MINIMUM_REPLICAS_UNAVAILABLE,
            "Deployment does not have minimum availability.".into(),
            now,
        )
    };
    set_condition(&mut status, c);
    status
}

/// Every replica is updated and available, and the spec was seen.
pub fn complete(d: &Deployment, s: &DeploymentStatus) -> bool {
    let want = desired(d);
    n(s.updated_replicas) == want
        && n(s.replicas) == want
        && n(s.available_replicas) == want
        && s.observed_generation.unwrap_or(0) >= d.metadata.generation.unwrap_or(0)
}

/// Something moved since the status `d` has (`DeploymentProgressing`).
pub fn progressing(d: &Deployment, new: &DeploymentStatus) -> bool {
    let old = d.status.clone().unwrap_or_default();
    let old_old = n(old.replicas) - n(old.updated_replicas);
    let new_old = n(new.replicas) - n(new.updated_replicas);
    n(new.updated_replicas) > n(old.updated_replicas)
        || new_old < old_old
        || n(new.ready_replicas) > n(old.ready_replicas)
        || n(new.available_replicas) > n(old.available_replicas)
}

/// No progress for progressDeadlineSeconds since the Progressing
/// condition last changed (`DeploymentTimedOut`).
pub fn timed_out(d: &Deployment, new: &DeploymentStatus, now: Timestamp) -> bool {
    let Some(deadline) = d
        .spec
        .progress_deadline_seconds
        .filter(|_| has_progress_deadline(d))
    else {
        return false;
    };
    let Some(c) = get_condition(new, PROGRESSING) else {
        return false;
    };
    match c.reason.as_deref() {
        Some(NEW_RS_AVAILABLE) => false,
        Some(TIMED_OUT) => true,
        _ => {
            let from = c.last_update_time.as_ref().map_or(0, |t| t.0.as_second());
            from + i64::from(deadline) < now.as_second()
        }
    }
}

/// The status after a rollout step (`syncRolloutStatus`): `calculate`,
/// then Progressing (complete, progressing, or timed out) and
/// ReplicaFailure from the new ReplicaSet.
pub fn rollout(
    d: &Deployment,
    all: &[&ReplicaSet],
    new: Option<&ReplicaSet>,
    terminating: i32,
    now: Timestamp,
) -> DeploymentStatus {
    let mut status = calculate(d, all, new, terminating, now);
    if !has_progress_deadline(d) {
        remove_condition(&mut status, PROGRESSING);
    }
    let cur = d
        .status
        .as_ref()
        .and_then(|s| get_condition(s, PROGRESSING));
    let complete_before = n(status.replicas) == n(status.updated_replicas)
        && cur.is_some_and(|c| c.reason.as_deref() == Some(NEW_RS_AVAILABLE));
    // Messages name the new ReplicaSet, or the Deployment if there is none.
    let subject = match new {
        Some(rs) => format!(
            "ReplicaSet {:?}",
            rs.metadata.name.as_deref().unwrap_or_default()
        ),
        None => format!(
            "Deployment {:?}",
            d.metadata.name.as_deref().unwrap_or_default()
        ),
    };
    if has_progress_deadline(d) && !complete_before {
        if complete(d, &status) {
            let msg = format!("{subject} has successfully progressed.");
            set_condition(
                &mut status,
                condition(PROGRESSING, "True", NEW_RS_AVAILABLE, msg, now),
            );
        } else if progressing(d, &status) {
            let msg = format!("{subject} is progressing.");
            let mut c = condition(PROGRESSING, "True", RS_UPDATED, msg, now);
            // Progress moves lastUpdateTime even with the same reason.
            if let Some(cur) = cur {
                if cur.status.as_deref() == Some("True") {
                    c.last_transition_time = cur.last_transition_time.clone();
                }
                remove_condition(&mut status, PROGRESSING);
            }
            set_condition(&mut status, c);
        } else if timed_out(d, &status, now) {
            let msg = format!("{subject} has timed out progressing.");
            set_condition(
                &mut status,
                condition(PROGRESSING, "False", TIMED_OUT, msg, now),
            );
        }
    }
    let failure = new
        .and_then(|rs| rs.status.as_ref())
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| {
            cs.iter()
                .find(|c| c.type_.as_deref() == Some(REPLICA_FAILURE))
        });
    match failure {
        Some(f) => set_condition(
            &mut status,
            DeploymentCondition {
                type_: Some(REPLICA_FAILURE.to_string()),
                status: f.status.clone(),
                reason: f.reason.clone(),
                message: f.message.clone(),
                last_update_time: f.last_transition_time.clone(),
                last_transition_time: f.last_transition_time.clone(),
            },
        ),
        None => remove_condition(&mut status, REPLICA_FAILURE),
    }
    status
}

/// When to look again for a deadline (`requeueStuckDeployment`), if the
/// status did not change: never if there is no deadline, the rollout is
/// complete or already timed out.
pub fn recheck_after(d: &Deployment, new: &DeploymentStatus, now: Timestamp) -> Option<Duration> {
    let deadline = d
        .spec
        .progress_deadline_seconds
        .filter(|_| has_progress_deadline(d))?;
    let cur = d
        .status
        .as_ref()
        .and_then(|s| get_condition(s, PROGRESSING))?;
    if complete(d, new) || cur.reason.as_deref() == Some(TIMED_OUT) {
        return None;
    }
    let from = cur.last_update_time.as_ref().map_or(0, |t| t.0.as_second());
    let after = from + i64::from(deadline) - now.as_second();
    if after < 1 {
        return Some(Duration::from_millis(500));
    }
    // A second more, against clock skew.
    Some(Duration::from_secs(after as u64 + 1))
}

/// The Progressing condition for pausing or resuming
/// (`checkPausedConditions`), if it must change.
pub fn paused_update(d: &Deployment, now: Timestamp) -> Option<DeploymentStatus> {
    if !has_progress_deadline(d) {
        return None;
    }
    let mut status = d.status.clone().unwrap_or_default();
    let reason = get_condition(&status, PROGRESSING).and_then(|c| c.reason.clone());
    if reason.as_deref() == Some(TIMED_OUT) {
        return None;
    }
    let paused = d.spec.paused == Some(true);
    let paused_cond = reason.as_deref() == Some(PAUSED);
    let c = if paused && !paused_cond {
        condition(
            PROGRESSING,
            "Unknown",
            PAUSED,
            "Deployment is paused".into(),
            now,
        )
    } else if !paused && paused_cond {
        condition(
            PROGRESSING,
            "Unknown",
            RESUMED,
            "Deployment is resumed".into(),
            now,
        )
    } else {
        return None;
    };
    set_condition(&mut status, c);
    Some(status)
}

#[cfg(test)]
#[path = "status_test.rs"]
mod tests;
