//! The deployment controller's arithmetic, with no I/O (kube-controller-
//! manager's `deployment/util`): the pod-template hash, maxSurge and
//! maxUnavailable, how far the new ReplicaSet may grow, proportional
//! scaling, the ReplicaSets' annotations and orders, and which old
//! ReplicaSets the revision history limit removes.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// The revision of a ReplicaSet (and, copied, of its Deployment).
pub const REVISION: &str = "deployment.kubernetes.io/revision";
/// Earlier revisions of a ReplicaSet that became new again (rollbacks).
pub const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";
/// `spec.replicas` of the Deployment when the ReplicaSet was last scaled.
pub const DESIRED_REPLICAS: &str = "deployment.kubernetes.io/desired-replicas";
/// `spec.replicas + maxSurge` of the Deployment at that time.
pub const MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";
/// The label telling the ReplicaSets (and their pods) of a Deployment apart.
pub const HASH_LABEL: &str = "pod-template-hash";

/// Deployment annotations never copied to its ReplicaSets.
const NOT_COPIED: [&str; 6] = [
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    REVISION_HISTORY,
    DESIRED_REPLICAS,
    MAX_REPLICAS,
    "deprecated.deployment.rollback.to",
];
/// Longest `revision-history` annotation kept.
const REVISION_HISTORY_CHARS: usize = 2000;
/// Kubernetes' alphabet for names made of hashes (no vowels, no 0, 1, 3).
const SAFE_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// `spec.replicas` of a ReplicaSet (1 if unset, as defaulted).
pub fn replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.replicas.unwrap_or(1)
}

/// `spec.replicas` of a Deployment.
pub fn desired(d: &Deployment) -> i32 {
    d.spec.replicas.unwrap_or(1)
}

pub fn status_replicas(rs: &ReplicaSet) -> i32 {
    rs.status.as_ref().map_or(0, |s| s.replicas)
}

pub fn available(rs: &ReplicaSet) -> i32 {
    rs.status
        .as_ref()
        .and_then(|s| s.available_replicas)
        .unwrap_or(0)
}

pub fn ready(rs: &ReplicaSet) -> i32 {
    rs.status
        .as_ref()
        .and_then(|s| s.ready_replicas)
        .unwrap_or(0)
}

fn annotation<'a>(rs: &'a ReplicaSet, key: &str) -> Option<&'a str> {
    rs.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(key))
        .map(String::as_str)
}

/// The ReplicaSet's revision (0 if missing or not a number).
pub fn revision(rs: &ReplicaSet) -> i64 {
    annotation(rs, REVISION)
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

/// The `desired-replicas` annotation, if it is a number.
pub fn desired_annotation(rs: &ReplicaSet) -> Option<i32> {
    annotation(rs, DESIRED_REPLICAS).and_then(|v| v.parse().ok())
}

fn max_replicas_annotation(rs: &ReplicaSet) -> Option<i32> {
    annotation(rs, MAX_REPLICAS).and_then(|v| v.parse().ok())
}

/// The template's hash: FNV-32a of its JSON (and of the collision count,
/// when there is one), its decimal digits written in the safe alphabet,
/// as `controller.ComputeHash` does with Go's object dump.
pub fn compute_hash(template: &PodTemplateSpec, collision_count: Option<i32>) -> String {
    let mut t = template.clone();
    strip_hash_label(&mut t);
    let bytes = serde_json::to_vec(&t).unwrap_or_default();
    let mut h: u32 = 0x811c_9dc5;
    let mut feed = |b: u8| {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    };
    bytes.iter().for_each(|b| feed(*b));
    if let Some(c) = collision_count {
        let mut tail = [0u8; 8];
        tail[..4].copy_from_slice(&(c as u32).to_le_bytes());
        tail.iter().for_each(|b| feed(*b));
    }
    h.to_string()
        .bytes()
        .map(|b| SAFE_ALPHABET[usize::from(b) % SAFE_ALPHABET.len()] as char)
        .collect()
}

fn strip_hash_label(t: &mut PodTemplateSpec) {
    if let Some(meta) = t.metadata.as_mut() {
        if let Some(labels) = meta.labels.as_mut() {
            labels.remove(HASH_LABEL);
            if labels.is_empty() {
                meta.labels = None;
            }
        }
    }
}

/// The two templates are equal but for the `pod-template-hash` label.
pub fn equal_ignore_hash(a: &PodTemplateSpec, b: &PodTemplateSpec) -> bool {
    let (mut a, mut b) = (a.clone(), b.clone());
    strip_hash_label(&mut a);
    strip_hash_label(&mut b);
    a == b
}

/// An int, or a percentage of `total` rounded up or down; 0 if malformed.
pub fn scaled_value(v: &IntOrString, total: i32, round_up: bool) -> i32 {
    match v {
        IntOrString::Int(i) => *i,
        IntOrString::String(s) => {
            let Some(p) = s.strip_suffix('%').and_then(|p| p.parse::<i64>().ok()) else {
                return s.parse().unwrap_or(0);
            };
            let n = p * i64::from(total);
            let v = if round_up {
                n.div_euclid(100) + i64::from(n.rem_euclid(100) != 0)
            } else {
                n.div_euclid(100)
            };
            v.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
        }
    }
}

/// maxSurge (rounded up) and maxUnavailable (rounded down) for `desired`
/// replicas; both 0 makes maxUnavailable 1.
pub fn resolve_fenceposts(
    surge: Option<&IntOrString>,
    unavailable: Option<&IntOrString>,
    desired: i32,
) -> (i32, i32) {
    let surge = surge.map_or(0, |v| scaled_value(v, desired, true));
    let unavailable = unavailable.map_or(0, |v| scaled_value(v, desired, false));
    if surge == 0 && unavailable == 0 {
        return (0, 1);
    }
    (surge, unavailable)
}

pub fn is_recreate(d: &Deployment) -> bool {
    d.spec.strategy.as_ref().and_then(|s| s.type_.as_deref()) == Some("Recreate")
}

fn fenceposts(d: &Deployment) -> (i32, i32) {
    let ru = d
        .spec
        .strategy
        .as_ref()
        .and_then(|s| s.rolling_update.as_ref());
    resolve_fenceposts(
        ru.and_then(|r| r.max_surge.as_ref()),
        ru.and_then(|r| r.max_unavailable.as_ref()),
        desired(d),
    )
}

/// How many pods above `spec.replicas` a rolling update may run.
pub fn max_surge(d: &Deployment) -> i32 {
    if is_recreate(d) {
        return 0;
    }
    fenceposts(d).0
}

/// How many of `spec.replicas` may be unavailable during a rolling update.
pub fn max_unavailable(d: &Deployment) -> i32 {
    if is_recreate(d) || desired(d) == 0 {
        return 0;
    }
    fenceposts(d).1.min(desired(d))
}

/// The size the new ReplicaSet may grow to now, given the replicas of all
/// ReplicaSets together (`NewRSNewReplicas`).
pub fn new_rs_new_replicas(d: &Deployment, all_replicas: i32, new_replicas: i32) -> i32 {
    let want = desired(d);
    if is_recreate(d) {
        return want;
    }
    let surge = d
        .spec
        .strategy
        .as_ref()
        .and_then(|s| s.rolling_update.as_ref())
        .and_then(|r| r.max_surge.as_ref())
        .map_or(0, |v| scaled_value(v, want, true));
    let max_total = want + surge;
    if all_replicas >= max_total {
        return new_replicas;
    }
    new_replicas + (max_total - all_replicas).min(want - new_replicas)
}

/// The new ReplicaSet runs all it should and all of it is available.
pub fn is_saturated(d: &Deployment, rs: &ReplicaSet) -> bool {
    let want = desired(d);
    desired_annotation(rs) == Some(want) && replicas(rs) == want && available(rs) == want
}

/// Older first; equal times by name.
pub fn by_creation(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    let t = |rs: &ReplicaSet| rs.metadata.creation_timestamp.as_ref().map(|t| t.0);
    t(a).cmp(&t(b))
        .then_with(|| a.metadata.name.cmp(&b.metadata.name))
}

/// Larger first; equal sizes newer first (where scaling up goes first).
pub fn by_size_newer(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    replicas(b)
        .cmp(&replicas(a))
        .then_with(|| by_creation(b, a))
}

/// Larger first; equal sizes older first (where scaling down goes first).
pub fn by_size_older(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    replicas(b)
        .cmp(&replicas(a))
        .then_with(|| by_creation(a, b))
}

/// Lower revision first; equal revisions older first.
pub fn by_revision(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    revision(a)
        .cmp(&revision(b))
        .then_with(|| by_creation(a, b))
}

/// The ReplicaSet's share of the replicas added (or removed, if negative)
/// by scaling the Deployment from its `max-replicas` annotation to
/// `spec.replicas + maxSurge` (`getReplicaSetFraction`).
fn fraction(rs: &ReplicaSet, d: &Deployment) -> i32 {
    let want = desired(d);
    if want == 0 {
        return -replicas(rs);
    }
    let max_now = want + max_surge(d);
    let before = match max_replicas_annotation(rs) {
        Some(v) if v != 0 => v,
        _ => {
            let r = d.status.as_ref().and_then(|s| s.replicas).unwrap_or(0);
            if r == 0 {
                return 0;
            }
            r
        }
    };
    let size = f64::from(replicas(rs)) * f64::from(max_now) / f64::from(before);
    size.round() as i32 - replicas(rs)
}

fn proportion(rs: &ReplicaSet, d: &Deployment, to_add: i32, added: i32) -> i32 {
    if replicas(rs) == 0 || to_add == 0 || to_add == added {
        return 0;
    }
    let f = fraction(rs, d);
    let allowed = to_add - added;
    if to_add > 0 {
        f.min(allowed)
    } else {
        f.max(allowed)
    }
}

/// Proportional scaling of the active ReplicaSets when the Deployment's
/// size changes mid-rollout (`scale`): the new size of each (by index into
/// `active`), in the order to apply them, and "up", "down" or "".
pub fn proportional_sizes(
    d: &Deployment,
    active: &[&ReplicaSet],
) -> (Vec<(usize, i32)>, &'static str) {
    let want = desired(d);
    let total: i32 = active.iter().map(|rs| replicas(rs)).sum();
    let allowed = if want > 0 { want + max_surge(d) } else { 0 };
    let to_add = allowed - total;
    let mut order: Vec<usize> = (0..active.len()).collect();
    let op = match to_add.cmp(&0) {
        Ordering::Greater => {
            order.sort_by(|&a, &b| by_size_newer(active[a], active[b]));
            "up"
        }
        Ordering::Less => {
            order.sort_by(|&a, &b| by_size_older(active[a], active[b]));
            "down"
        }
        Ordering::Equal => "",
    };
    let mut added = 0;
    let mut sizes: Vec<(usize, i32)> = Vec::with_capacity(order.len());
    for i in order {
        let rs = active[i];
        let p = proportion(rs, d, to_add, added);
        added += p;
        sizes.push((i, replicas(rs) + p));
    }
    if to_add != 0 {
        // Leftovers go to (or come from) the largest.
        if let Some(first) = sizes.first_mut() {
            first.1 = (first.1 + to_add - added).max(0);
        }
    }
    (sizes, op)
}

/// Whether the replicas annotations differ from `desired` and `max`.
pub fn replicas_annotations_differ(rs: &ReplicaSet, desired: i32, max: i32) -> bool {
    annotation(rs, DESIRED_REPLICAS) != Some(desired.to_string().as_str())
        || annotation(rs, MAX_REPLICAS) != Some(max.to_string().as_str())
}

/// Sets the replicas annotations; true if they changed.
pub fn set_replicas_annotations(rs: &mut ReplicaSet, desired: i32, max: i32) -> bool {
    if !replicas_annotations_differ(rs, desired, max) {
        return false;
    }
    let a = rs.metadata.annotations.get_or_insert_with(BTreeMap::new);
    a.insert(DESIRED_REPLICAS.to_string(), desired.to_string());
    a.insert(MAX_REPLICAS.to_string(), max.to_string());
    true
}

/// The new ReplicaSet's annotations (`SetNewReplicaSetAnnotations`): the
/// Deployment's own (but for the controller's), the revision if it grew
/// (the one it had going to `revision-history`), and for a ReplicaSet
/// about to be created the replicas annotations. True if any changed.
pub fn set_new_rs_annotations(
    d: &Deployment,
    rs: &mut ReplicaSet,
    new_revision: i64,
    exists: bool,
) -> bool {
    let mut changed = false;
    let a = rs.metadata.annotations.get_or_insert_with(BTreeMap::new);
    for (k, v) in d.metadata.annotations.iter().flatten() {
        if NOT_COPIED.contains(&k.as_str()) || a.get(k) == Some(v) {
            continue;
        }
        a.insert(k.clone(), v.clone());
        changed = true;
    }
    let old = a.get(REVISION).cloned();
    let old_revision = match old.as_deref() {
        None | Some("") => 0,
        Some(r) => match r.parse::<i64>() {
            Ok(r) => r,
            Err(_) => return false,
        },
    };
    if old_revision < new_revision {
        a.insert(REVISION.to_string(), new_revision.to_string());
        changed = true;
        if let Some(old) = old {
            let history = a.get(REVISION_HISTORY).cloned().unwrap_or_default();
            if let Some(h) = extend_history(&history, &old) {
                a.insert(REVISION_HISTORY.to_string(), h);
            }
        }
    }
    if !exists {
        let want = desired(d);
        changed |= set_replicas_annotations(rs, want, want + max_surge(d));
    }
    changed
}

/// `history` with `old` appended, oldest entries dropped to stay within
/// the length limit (None if even that cannot fit).
fn extend_history(history: &str, old: &str) -> Option<String> {
    if history.is_empty() {
        return Some(old.to_string());
    }
    let mut entries: Vec<&str> = history.split(',').collect();
    let mut total = history.len() + old.len() + 1;
    let mut start = 0;
    while total > REVISION_HISTORY_CHARS && start < entries.len() {
        total -= entries[start].len() + 1;
        start += 1;
    }
    if total > REVISION_HISTORY_CHARS {
        return None;
    }
    entries.drain(..start);
    entries.push(old);
    Some(entries.join(","))
}

/// Which old ReplicaSets (indices into `old`) go beyond the revision
/// history limit: the lowest revisions beyond `limit`, skipping any that
/// still has replicas or whose status is behind (`cleanupDeployment`).
pub fn history_victims(old: &[&ReplicaSet], limit: i32) -> Vec<usize> {
    let mut alive: Vec<usize> = (0..old.len())
        .filter(|&i| old[i].metadata.deletion_timestamp.is_none())
        .collect();
    let excess = alive.len() as i64 - i64::from(limit);
    if excess <= 0 {
        return Vec::new();
    }
    alive.sort_by(|&a, &b| by_revision(old[a], old[b]));
    alive
        .into_iter()
        .take(excess as usize)
        .filter(|&i| {
            let rs = old[i];
            let observed = rs.status.as_ref().and_then(|s| s.observed_generation);
            status_replicas(rs) == 0
                && replicas(rs) == 0
                && rs.metadata.generation.unwrap_or(0) <= observed.unwrap_or(0)
        })
        .collect()
}

#[cfg(test)]
#[path = "util_test.rs"]
mod tests;
