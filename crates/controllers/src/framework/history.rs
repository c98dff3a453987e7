//! ControllerRevisions, as the StatefulSet and DaemonSet controllers keep
//! them (`pkg/controller/history`): an immutable snapshot of a pod
//! template, named `<owner>-<hash>`, numbered by `revision`, owned by its
//! StatefulSet or DaemonSet through a controller reference.
//!
//! The snapshot (`data`) is the strategic merge patch kubectl applies on
//! `rollout undo`: `{"spec":{"template":{…,"$patch":"replace"}}}`. The
//! hash is FNV-1 (32 bit) of the data's bytes and of the collision count,
//! printed in decimal and encoded with Kubernetes' "safe" alphabet, as
//! `controller.HashControllerRevision` does (our JSON bytes differ from
//! Go's, so the hashes differ from a real cluster's).

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use k8s_openapi::api::apps::v1::ControllerRevision;
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::runtime::RawExtension;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::{Resource, ResourceExt};
use serde_json::{json, Value};
use tracing::debug;

use crate::framework::context::Context;
use crate::framework::error::ControllerError;
use crate::framework::owner::owner_ref;
use crate::framework::status::merge_status;
use crate::pods::controller_of;

/// The label naming a pod's (and a revision's) revision.
pub const REVISION_HASH_LABEL: &str = "controller-revision-hash";

/// Longest owner-name prefix of a revision name (`ControllerRevisionName`).
const MAX_PREFIX: usize = 223;

/// The revision data of a pod template.
pub fn revision_data(template: &PodTemplateSpec) -> Result<Value, serde_json::Error> {
    let mut t = serde_json::to_value(template)?;
    if let Value::Object(m) = &mut t {
        m.insert("$patch".to_string(), json!("replace"));
    }
    Ok(json!({"spec": {"template": t}}))
}

/// The pod template a revision holds.
pub fn template_of(rev: &ControllerRevision) -> Option<PodTemplateSpec> {
    let mut t = rev.data.0.get("spec")?.get("template")?.clone();
    t.as_object_mut()?.remove("$patch");
    serde_json::from_value(t).ok()
}

/// FNV-1, 32 bit (Go's `hash/fnv.New32`).
fn fnv1_32(bytes: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in bytes {
        h = h.wrapping_mul(0x0100_0193);
        h ^= u32::from(*b);
    }
    h
}

/// `rand.SafeEncodeString`: every byte mapped to an alphabet without
/// vowels and look-alike characters.
fn safe_encode(s: &str) -> String {
    const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    s.bytes()
        .map(|b| char::from(ALPHANUMS[usize::from(b) % ALPHANUMS.len()]))
        .collect()
}

/// The hash of revision data with a collision count.
pub fn hash(data: &Value, collision_count: i32) -> String {
    let mut bytes = data.to_string().into_bytes();
    if collision_count != 0 {
        bytes.extend_from_slice(collision_count.to_string().as_bytes());
    }
    safe_encode(&fnv1_32(&bytes).to_string())
}

/// `<prefix>-<hash>`, the prefix cut to 223 characters.
pub fn revision_name(prefix: &str, hash: &str) -> String {
    let mut end = prefix.len().min(MAX_PREFIX);
    while !prefix.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}-{}", &prefix[..end], hash)
}

/// The hash a revision carries in its label (or, failing that, its name's
/// last part).
pub fn hash_of(rev: &ControllerRevision) -> String {
    rev.labels()
        .get(REVISION_HASH_LABEL)
        .cloned()
        .unwrap_or_else(|| {
            rev.name_any()
                .rsplit('-')
                .next()
                .unwrap_or_default()
                .to_string()
        })
}

/// A revision of `parent` (not yet created) for its template.
pub fn new_revision<K: Resource<DynamicType = ()>>(
    parent: &K,
    template: &PodTemplateSpec,
    revision: i64,
    collision_count: i32,
) -> Result<ControllerRevision, serde_json::Error> {
    let data = revision_data(template)?;
    let h = hash(&data, collision_count);
    let mut labels: BTreeMap<String, String> = template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    labels.insert(REVISION_HASH_LABEL.to_string(), h.clone());
    let mut rev = ControllerRevision {
        data: RawExtension(data),
        revision: Some(revision),
        ..ControllerRevision::default()
    };
    rev.metadata.name = Some(revision_name(&parent.name_any(), &h));
    rev.metadata.namespace = parent.namespace();
    rev.metadata.labels = Some(labels);
    rev.metadata.owner_references = Some(vec![owner_ref(parent)]);
    Ok(rev)
}

/// Same snapshot.
pub fn equal(a: &ControllerRevision, b: &ControllerRevision) -> bool {
    a.data == b.data
}

/// The revisions `uid` controls in `namespace`, oldest (lowest
/// `revision`) first.
pub fn owned(ctx: &Context, namespace: &str, uid: &str) -> Vec<Arc<ControllerRevision>> {
    let mut revs: Vec<Arc<ControllerRevision>> = ctx
        .informers
        .controllerrevisions
        .store()
        .state()
        .into_iter()
        .filter(|r| {
            r.metadata.namespace.as_deref() == Some(namespace)
                && r.metadata.deletion_timestamp.is_none()
                && controller_of(&r.metadata).is_some_and(|o| o.uid == uid)
        })
        .collect();
    sort(&mut revs);
    revs
}

/// Oldest first; by name among equal numbers.
pub fn sort(revs: &mut [Arc<ControllerRevision>]) {
    revs.sort_by(|a, b| {
        a.revision
            .unwrap_or(0)
            .cmp(&b.revision.unwrap_or(0))
            .then_with(|| a.name_any().cmp(&b.name_any()))
    });
}

/// The number the next revision gets.
pub fn next_number(revs: &[Arc<ControllerRevision>]) -> i64 {
    revs.iter().filter_map(|r| r.revision).max().unwrap_or(0) + 1
}

/// Creates `rev`; on a name clash with different data, bumps
/// `collision_count` and tries the next name. Returns the revision that
/// holds the data (created or already there).
pub async fn create(
    api: &Api<ControllerRevision>,
    parent_prefix: &str,
    rev: &ControllerRevision,
    collision_count: &mut i32,
) -> Result<ControllerRevision, ControllerError> {
    loop {
        let mut candidate = rev.clone();
        let h = hash(&rev.data.0, *collision_count);
        candidate.metadata.name = Some(revision_name(parent_prefix, &h));
        candidate
            .metadata
            .labels
            .get_or_insert_with(BTreeMap::new)
            .insert(REVISION_HASH_LABEL.to_string(), h);
        match api.create(&PostParams::default(), &candidate).await {
            Ok(created) => return Ok(created),
            Err(kube::Error::Api(s)) if s.code == 409 => {
                let existing = api.get(&candidate.name_any()).await?;
                if equal(&existing, &candidate) {
                    return Ok(existing);
                }
                *collision_count += 1;
                debug!(revision = %candidate.name_any(), collision_count = *collision_count, "revision hash collision");
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Gives an existing revision a new number (a template rolled back to).
pub async fn renumber(
    api: &Api<ControllerRevision>,
    rev: &ControllerRevision,
    revision: i64,
) -> Result<ControllerRevision, ControllerError> {
    if rev.revision == Some(revision) {
        return Ok(rev.clone());
    }
    Ok(api
        .patch(
            &rev.name_any(),
            &PatchParams::default(),
            &Patch::Merge(json!({"revision": revision})),
        )
        .await?)
}

/// Deletes the oldest revisions not in `live` (names) beyond `limit`.
pub async fn truncate(
    api: &Api<ControllerRevision>,
    revs: &[Arc<ControllerRevision>],
    live: &HashSet<String>,
    limit: i32,
) -> Result<(), ControllerError> {
    let old: Vec<&Arc<ControllerRevision>> = revs
        .iter()
        .filter(|r| !live.contains(&r.name_any()))
        .collect();
    let limit = usize::try_from(limit.max(0)).unwrap_or(0);
    if old.len() <= limit {
        return Ok(());
    }
    for r in &old[..old.len() - limit] {
        match api.delete(&r.name_any(), &DeleteParams::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// The current revision to use for `template` among `revs` (oldest
/// first): an existing equal revision (renumbered to be the newest if it
/// is not), or a new one.
pub async fn current_for<K: Resource<DynamicType = ()>>(
    api: &Api<ControllerRevision>,
    parent: &K,
    template: &PodTemplateSpec,
    revs: &[Arc<ControllerRevision>],
    collision_count: &mut i32,
) -> Result<ControllerRevision, ControllerError> {
    let next = next_number(revs);
    let candidate = new_revision(parent, template, next, *collision_count)?;
    if let Some(found) = revs.iter().rev().find(|r| equal(r, &candidate)) {
        let is_last = revs
            .last()
            .is_some_and(|l| l.name_any() == found.name_any());
        if is_last {
            return Ok(found.as_ref().clone());
        }
        return renumber(api, found, next).await;
    }
    create(api, &parent.name_any(), &candidate, collision_count).await
}

/// [`current_for`] with the collision count the parent's status holds
/// (`stored`). When it fails after counting new hash collisions, the new
/// count is written to the parent's `status.collisionCount` first, so the
/// next sync starts from it (as the DaemonSet and StatefulSet controllers
/// of Kubernetes do). Returns the revision and the count to report.
pub async fn current_recording_collisions<K>(
    api: &Api<ControllerRevision>,
    parent_api: &Api<K>,
    parent: &K,
    template: &PodTemplateSpec,
    revs: &[Arc<ControllerRevision>],
    stored: Option<i32>,
) -> Result<(ControllerRevision, i32), ControllerError>
where
    K: Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let stored = stored.unwrap_or(0);
    let mut collision_count = stored;
    match current_for(api, parent, template, revs, &mut collision_count).await {
        Ok(rev) => Ok((rev, collision_count)),
        Err(e) => {
            if collision_count != stored {
                merge_status(
                    parent_api,
                    &parent.name_any(),
                    json!({"collisionCount": collision_count}),
                )
                .await?;
            }
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1_matches_go() {
        // Go: fnv.New32() of "" and "a".
        assert_eq!(fnv1_32(b""), 0x811c_9dc5);
        assert_eq!(fnv1_32(b"a"), 0x050c_5d7e);
    }

    #[test]
    fn safe_encoding_uses_kubernetes_alphabet() {
        assert_eq!(safe_encode("0123"), "4567");
        let h = hash(&json!({"a": 1}), 0);
        assert!(h.chars().all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c)));
        assert_ne!(h, hash(&json!({"a": 1}), 1));
    }

    #[test]
    fn revision_data_round_trips_the_template() {
        let t: PodTemplateSpec = serde_json::from_value(json!({
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": "nginx:1"}]}
        }))
        .expect("template");
        let data = revision_data(&t).expect("data");
        assert_eq!(data["spec"]["template"]["$patch"], "replace");
        let rev = ControllerRevision {
            data: RawExtension(data),
            ..ControllerRevision::default()
        };
        assert_eq!(template_of(&rev), Some(t));
        assert_eq!(revision_name("web", "abc"), "web-abc");
        assert_eq!(revision_name(&"x".repeat(300), "h").len(), 225);
    }
}
