//! One pass over one Deployment and the ReplicaSets it owns
//! (kube-controller-manager's `sync.go`, `rolling.go`, `recreate.go`,
//! `progress.go`): find or create the new ReplicaSet, scale it and the old
//! ones by the strategy, delete old ones beyond the history limit, write
//! the status.
//!
//! Every write goes through a resourceVersion precondition (replace, not
//! patch) and the object the server returns replaces the local copy, so
//! a pass never writes over something it has not seen; a conflict ends
//! the pass and the key is retried.

use k8s_openapi::api::apps::v1::{Deployment, DeploymentStatus, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::ResourceExt;
use rkube_apimachinery::matching::label_selector_matches;
use rkube_events::Recorder;
use serde_json::json;
use tracing::{debug, info};

use super::status::{self, condition, has_progress_deadline, PROGRESSING};
use super::util::{
    available, by_creation, compute_hash, desired, desired_annotation, equal_ignore_hash,
    history_victims, is_recreate, is_saturated, max_surge, max_unavailable, new_rs_new_replicas,
    proportional_sizes, replicas, replicas_annotations_differ, revision, set_new_rs_annotations,
    set_replicas_annotations, status_replicas, HASH_LABEL, REVISION,
};
use crate::framework::context::Context;
use crate::framework::owner::owner_ref;
use crate::framework::runner::Outcome;
use crate::pods::controller_of;
use crate::ControllerError;

type Result<T> = std::result::Result<T, ControllerError>;

pub struct Pass<'a> {
    ctx: &'a Context,
    recorder: &'a Recorder,
    /// The Deployment as last read or written.
    d: Deployment,
    /// The ReplicaSets it owns, as last read or written.
    rss: Vec<ReplicaSet>,
    d_api: Api<Deployment>,
    rs_api: Api<ReplicaSet>,
}

impl<'a> Pass<'a> {
    pub fn new(
        ctx: &'a Context,
        recorder: &'a Recorder,
        d: Deployment,
        rss: Vec<ReplicaSet>,
    ) -> Self {
        let ns = d.namespace().unwrap_or_default();
        Pass {
            ctx,
            recorder,
            d,
            rss,
            d_api: Api::namespaced(ctx.client.clone(), &ns),
            rs_api: Api::namespaced(ctx.client.clone(), &ns),
        }
    }

    /// `syncDeployment` after the ReplicaSets are claimed.
    pub async fn run(mut self) -> Outcome {
        if self.d.metadata.deletion_timestamp.is_some() {
            let new = self.new_and_old(false).await?;
            return self.sync_status(new).await;
        }
        if let Some(s) = status::paused_update(&self.d, status::now()) {
            self.write_status(s).await?;
        }
        if self.d.spec.paused == Some(true) || self.is_scaling_event().await? {
            return self.sync_scale().await;
        }
        if is_recreate(&self.d) {
            self.rollout_recreate().await
        } else {
            self.rollout_rolling().await
        }
    }

    fn old(&self, new: Option<usize>) -> Vec<usize> {
        (0..self.rss.len()).filter(|&i| Some(i) != new).collect()
    }

    fn active(&self, idx: &[usize]) -> Vec<usize> {
        idx.iter()
            .copied()
            .filter(|&i| replicas(&self.rss[i]) > 0)
            .collect()
    }

    fn sum(&self, idx: &[usize], f: fn(&ReplicaSet) -> i32) -> i32 {
        idx.iter().map(|&i| f(&self.rss[i])).sum()
    }

    fn name(&self) -> String {
        self.d.name_any()
    }

    /// Pods of the Deployment's ReplicaSets (from the informer).
    fn owned_pods(&self) -> Vec<(String, std::sync::Arc<Pod>)> {
        self.rss
            .iter()
            .filter_map(|rs| rs.uid())
            .flat_map(|uid| {
                self.ctx
                    .pods_controlled_by(&uid)
                    .into_iter()
                    .map(move |p| (uid.clone(), p))
            })
            .collect()
    }

    fn terminating(&self) -> i32 {
        self.rss
            .iter()
            .filter_map(|rs| rs.uid())
            .map(|uid| self.ctx.terminating_pods_of(&uid))
            .sum::<usize>() as i32
    }

    async fn write_status(&mut self, s: DeploymentStatus) -> Result<()> {
        let mut d = self.d.clone();
        d.status = Some(s);
        self.d = self
            .d_api
            .replace_status(&self.name(), &PostParams::default(), &d)
            .await?;
        Ok(())
    }

    /// Copies the new ReplicaSet's revision to the Deployment.
    async fn set_revision(&mut self, rev: &str) -> Result<()> {
        let cur = self
            .d
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(REVISION));
        if cur.map(String::as_str) == Some(rev) {
            return Ok(());
        }
        let patch = json!({"metadata": {
            "annotations": {REVISION: rev},
            "resourceVersion": self.d.resource_version(),
        }});
        self.d = self
            .d_api
            .patch(&self.name(), &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
        Ok(())
    }

    /// Finds the new ReplicaSet (its template is the Deployment's) and
    /// brings its annotations and the Deployment's revision up to date;
    /// creates it if `create` (`getNewReplicaSet`). The old ones are the
    /// rest.
    async fn new_and_old(&mut self, create: bool) -> Result<Option<usize>> {
        let mut order: Vec<usize> = (0..self.rss.len()).collect();
        order.sort_by(|&a, &b| by_creation(&self.rss[a], &self.rss[b]));
        let found = order.into_iter().find(|&i| {
            self.rss[i]
                .spec
                .template
                .as_ref()
                .is_some_and(|t| equal_ignore_hash(t, &self.d.spec.template))
        });
        let max_old = self
            .old(found)
            .iter()
            .map(|&i| revision(&self.rss[i]))
            .max()
            .unwrap_or(0);
        let new_revision = max_old + 1;
        if let Some(i) = found {
            self.update_existing_new(i, new_revision).await?;
            return Ok(Some(i));
        }
        if !create {
            return Ok(None);
        }
        self.create_new(new_revision).await
    }

    async fn update_existing_new(&mut self, i: usize, new_revision: i64) -> Result<()> {
        let mut rs = self.rss[i].clone();
        let annotations = set_new_rs_annotations(&self.d, &mut rs, new_revision, true);
        let min_ready =
            rs.spec.min_ready_seconds.unwrap_or(0) != self.d.spec.min_ready_seconds.unwrap_or(0);
        if annotations || min_ready {
            rs.spec.min_ready_seconds = self.d.spec.min_ready_seconds;
            self.rss[i] = self
                .rs_api
                .replace(&rs.name_any(), &PostParams::default(), &rs)
                .await?;
        }
        let rev = self.rss[i]
            .annotations()
            .get(REVISION)
            .cloned()
            .unwrap_or_default();
        self.set_revision(&rev).await?;
        let cur = self.d.status.clone().unwrap_or_default();
        if has_progress_deadline(&self.d) && status::get_condition(&cur, PROGRESSING).is_none() {
            let mut s = cur;
            let msg = format!("Found new replica set {:?}", self.rss[i].name_any());
            status::set_condition(
                &mut s,
                condition(
                    PROGRESSING,
                    "True",
                    status::FOUND_NEW_RS,
                    msg,
                    status::now(),
                ),
            );
            self.write_status(s).await?;
        }
        Ok(())
    }

    async fn create_new(&mut self, new_revision: i64) -> Result<Option<usize>> {
        let d = &self.d;
        let hash = compute_hash(
            &d.spec.template,
            d.status.as_ref().and_then(|s| s.collision_count),
        );
        let mut template = d.spec.template.clone();
        let meta = template.metadata.get_or_insert_with(Default::default);
        meta.labels
            .get_or_insert_with(Default::default)
            .insert(HASH_LABEL.to_string(), hash.clone());
        let labels = meta.labels.clone();
        let mut selector = d.spec.selector.clone();
        selector
            .match_labels
            .get_or_insert_with(Default::default)
            .insert(HASH_LABEL.to_string(), hash.clone());
        let name = format!("{}-{}", d.name_any(), hash);
        let all: Vec<usize> = (0..self.rss.len()).collect();
        let count = new_rs_new_replicas(d, self.sum(&all, replicas), 0);
        let mut rs = ReplicaSet::default();
        rs.metadata.name = Some(name.clone());
        rs.metadata.namespace = d.namespace();
        rs.metadata.labels = labels;
        rs.metadata.owner_references = Some(vec![owner_ref(d)]);
        rs.spec.replicas = Some(count);
        rs.spec.min_ready_seconds = d.spec.min_ready_seconds;
        rs.spec.selector = selector;
        rs.spec.template = Some(template);
        set_new_rs_annotations(d, &mut rs, new_revision, false);

        let (created, already) = match self.rs_api.create(&PostParams::default(), &rs).await {
            Ok(rs) => (rs, false),
            Err(kube::Error::Api(e)) if e.reason == "AlreadyExists" => {
                let existing = self.rs_api.get(&name).await?;
                let ours = controller_of(&existing.metadata)
                    .is_some_and(|o| Some(&o.uid) == self.d.metadata.uid.as_ref());
                let same = existing
                    .spec
                    .template
                    .as_ref()
                    .is_some_and(|t| equal_ignore_hash(t, &self.d.spec.template));
                if !(ours && same) {
                    // A hash collision: try again with another hash.
                    let mut s = self.d.status.clone().unwrap_or_default();
                    s.collision_count = Some(s.collision_count.unwrap_or(0) + 1);
                    info!(deployment = %self.name(), collision_count = s.collision_count, "hash collision; bumping collisionCount");
                    self.write_status(s).await?;
                    return Err(kube::Error::Api(e).into());
                }
                (existing, true)
            }
            Err(e) => {
                if has_progress_deadline(&self.d) {
                    let mut s = self.d.status.clone().unwrap_or_default();
                    let msg = format!("Failed to create new replica set {name:?}: {e}");
                    status::set_condition(
                        &mut s,
                        condition(
                            PROGRESSING,
                            "False",
                            status::FAILED_RS_CREATE,
                            msg,
                            status::now(),
                        ),
                    );
                    let _ = self.write_status(s).await;
                }
                return Err(e.into());
            }
        };
        if !already && count > 0 {
            self.recorder.normal(
                &self.d,
                "ScalingReplicaSet",
                &format!("Scaled up replica set {name} from 0 to {count}"),
            );
        }
        let i = match self.rss.iter().position(|r| r.uid() == created.uid()) {
            Some(i) => {
                self.rss[i] = created;
                i
            }
            None => {
                self.rss.push(created);
                self.rss.len() - 1
            }
        };
        self.set_revision(&new_revision.to_string()).await?;
        if !already && has_progress_deadline(&self.d) {
            let mut s = self.d.status.clone().unwrap_or_default();
            let msg = format!("Created new replica set {name:?}");
            status::set_condition(
                &mut s,
                condition(
                    PROGRESSING,
                    "True",
                    status::NEW_RS_CREATED,
                    msg,
                    status::now(),
                ),
            );
            self.write_status(s).await?;
        }
        debug!(deployment = %self.name(), replicaset = %name, replicas = count, "created new replica set");
        Ok(Some(i))
    }

    /// Sets the size of `rss[i]` and the replicas annotations
    /// (`scaleReplicaSet`); true if the size changed.
    async fn scale_rs(&mut self, i: usize, size: i32, op: &str) -> Result<bool> {
        let want = desired(&self.d);
        let max = want + max_surge(&self.d);
        let rs = &self.rss[i];
        let resize = replicas(rs) != size;
        if !resize && !replicas_annotations_differ(rs, want, max) {
            return Ok(false);
        }
        let from = replicas(rs);
        let mut copy = rs.clone();
        copy.spec.replicas = Some(size);
        set_replicas_annotations(&mut copy, want, max);
        let name = copy.name_any();
        self.rss[i] = self
            .rs_api
            .replace(&name, &PostParams::default(), &copy)
            .await?;
        if resize {
            self.recorder.normal(
                &self.d,
                "ScalingReplicaSet",
                &format!("Scaled {op} replica set {name} from {from} to {size}"),
            );
            debug!(deployment = %self.name(), replicaset = %name, from, to = size, "scaled replica set");
        }
        Ok(resize)
    }

    async fn scale_rs_and_record(&mut self, i: usize, size: i32) -> Result<bool> {
        let cur = replicas(&self.rss[i]);
        if cur == size {
            return Ok(false);
        }
        let op = if cur < size { "up" } else { "down" };
        self.scale_rs(i, size, op).await
    }

    /// An active ReplicaSet's desired-replicas annotation differs from the
    /// Deployment's size (`isScalingEvent`).
    async fn is_scaling_event(&mut self) -> Result<bool> {
        self.new_and_old(false).await?;
        let want = desired(&self.d);
        Ok(self
            .rss
            .iter()
            .filter(|rs| replicas(rs) > 0)
            .any(|rs| desired_annotation(rs).is_some_and(|d| d != want)))
    }

    /// Scaling (and, paused, history cleanup) without a rollout (`sync`).
    async fn sync_scale(&mut self) -> Outcome {
        let new = self.new_and_old(false).await?;
        self.scale(new).await?;
        if self.d.spec.paused == Some(true) {
            self.cleanup(new).await?;
        }
        self.sync_status(new).await
    }

    /// The one active ReplicaSet, or if none is active the newest
    /// (`FindActiveOrLatest`).
    fn active_or_latest(&self, new: Option<usize>) -> Option<usize> {
        let mut old = self.old(new);
        if new.is_none() && old.is_empty() {
            return None;
        }
        old.sort_by(|&a, &b| by_creation(&self.rss[b], &self.rss[a]));
        let mut all = old.clone();
        all.extend(new);
        let active = self.active(&all);
        match active.len() {
            0 => new.or(old.first().copied()),
            1 => Some(active[0]),
            _ => None,
        }
    }

    async fn scale(&mut self, new: Option<usize>) -> Result<()> {
        let want = desired(&self.d);
        if let Some(i) = self.active_or_latest(new) {
            if replicas(&self.rss[i]) != want {
                self.scale_rs_and_record(i, want).await?;
            }
            return Ok(());
        }
        if new.is_some_and(|n| is_saturated(&self.d, &self.rss[n])) {
            for i in self.active(&self.old(new)) {
                self.scale_rs_and_record(i, 0).await?;
            }
            return Ok(());
        }
        if is_recreate(&self.d) {
            return Ok(());
        }
        let mut all = self.old(new);
        all.extend(new);
        let active = self.active(&all);
        let refs: Vec<&ReplicaSet> = active.iter().map(|&i| &self.rss[i]).collect();
        let (sizes, op) = proportional_sizes(&self.d, &refs);
        for (k, size) in sizes {
            self.scale_rs(active[k], size, op).await?;
        }
        Ok(())
    }

    async fn rollout_rolling(&mut self) -> Outcome {
        let new = self.new_and_old(true).await?;
        let Some(n) = new else {
            return self.sync_rollout_status(None).await;
        };
        if self.reconcile_new(n).await? || self.reconcile_old(n).await? {
            return self.sync_rollout_status(new).await;
        }
        if self
            .d
            .status
            .as_ref()
            .is_some_and(|s| status::complete(&self.d, s))
        {
            self.cleanup(new).await?;
        }
        self.sync_rollout_status(new).await
    }

    /// Grows the new ReplicaSet as far as maxSurge lets it, or shrinks it
    /// to the Deployment's size (`reconcileNewReplicaSet`).
    async fn reconcile_new(&mut self, n: usize) -> Result<bool> {
        let want = desired(&self.d);
        let cur = replicas(&self.rss[n]);
        if cur == want {
            return Ok(false);
        }
        if cur > want {
            return self.scale_rs_and_record(n, want).await;
        }
        let all: Vec<usize> = (0..self.rss.len()).collect();
        let size = new_rs_new_replicas(&self.d, self.sum(&all, replicas), cur);
        self.scale_rs_and_record(n, size).await
    }

    /// Shrinks the old ReplicaSets as far as maxUnavailable lets them:
    /// unhealthy replicas first, then available ones
    /// (`reconcileOldReplicaSets`).
    async fn reconcile_old(&mut self, n: usize) -> Result<bool> {
        let old = self.active(&self.old(Some(n)));
        if self.sum(&old, replicas) == 0 {
            return Ok(false);
        }
        let all: Vec<usize> = (0..self.rss.len()).collect();
        let min_available = desired(&self.d) - max_unavailable(&self.d);
        let new_unavailable = replicas(&self.rss[n]) - available(&self.rss[n]);
        let max_down = self.sum(&all, replicas) - min_available - new_unavailable;
        if max_down <= 0 {
            return Ok(false);
        }
        let mut old = old;
        old.sort_by(|&a, &b| by_creation(&self.rss[a], &self.rss[b]));
        // cleanupUnhealthyReplicas
        let mut cleaned = 0;
        for &i in &old {
            if cleaned >= max_down {
                break;
            }
            let (r, a) = (replicas(&self.rss[i]), available(&self.rss[i]));
            if r == 0 || a >= r {
                continue;
            }
            let down = (max_down - cleaned).min(r - a);
            self.scale_rs_and_record(i, r - down).await?;
            cleaned += down;
        }
        // scaleDownOldReplicaSetsForRollingUpdate
        let mut with_new = old.clone();
        with_new.push(n);
        let avail = self.sum(&with_new, available);
        let mut scaled = 0;
        if avail > min_available {
            let total = avail - min_available;
            for &i in &old {
                if scaled >= total {
                    break;
                }
                let r = replicas(&self.rss[i]);
                if r == 0 {
                    continue;
                }
                let down = r.min(total - scaled);
                self.scale_rs_and_record(i, r - down).await?;
                scaled += down;
            }
        }
        Ok(cleaned + scaled > 0)
    }

    async fn rollout_recreate(&mut self) -> Outcome {
        // No new ReplicaSet before the old pods are gone.
        let mut new = self.new_and_old(false).await?;
        let mut scaled = false;
        for i in self.active(&self.old(new)) {
            scaled |= self.scale_rs_and_record(i, 0).await?;
        }
        if scaled || self.old_pods_running(new) {
            return self.sync_rollout_status(new).await;
        }
        if new.is_none() {
            new = self.new_and_old(true).await?;
        }
        if let Some(n) = new {
            let want = desired(&self.d);
            self.scale_rs_and_record(n, want).await?;
        }
        if self
            .d
            .status
            .as_ref()
            .is_some_and(|s| status::complete(&self.d, s))
        {
            self.cleanup(new).await?;
        }
        self.sync_rollout_status(new).await
    }

    /// Some pod of an old ReplicaSet is not finished (`oldPodsRunning`).
    fn old_pods_running(&self, new: Option<usize>) -> bool {
        if self.sum(&self.old(new), status_replicas) > 0 {
            return true;
        }
        let new_uid = new.and_then(|n| self.rss[n].uid());
        let selector = Some(&self.d.spec.selector);
        self.owned_pods().iter().any(|(uid, p)| {
            let phase = p.status.as_ref().and_then(|s| s.phase.as_deref());
            Some(uid) != new_uid.as_ref()
                && label_selector_matches(selector, p.metadata.labels.as_ref())
                && !matches!(phase, Some("Succeeded" | "Failed"))
        })
    }

    /// Deletes old ReplicaSets beyond revisionHistoryLimit
    /// (`cleanupDeployment`).
    async fn cleanup(&mut self, new: Option<usize>) -> Result<()> {
        let Some(limit) = self.d.spec.revision_history_limit else {
            return Ok(());
        };
        let old = self.old(new);
        let refs: Vec<&ReplicaSet> = old.iter().map(|&i| &self.rss[i]).collect();
        for k in history_victims(&refs, limit) {
            let rs = &self.rss[old[k]];
            let name = rs.name_any();
            debug!(deployment = %self.name(), replicaset = %name, "deleting old replica set");
            match self.rs_api.delete(&name, &DeleteParams::default()).await {
                Ok(_) => {}
                Err(kube::Error::Api(e)) if e.code == 404 => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Writes the status the ReplicaSets give (`syncDeploymentStatus`).
    async fn sync_status(&mut self, new: Option<usize>) -> Outcome {
        let all: Vec<&ReplicaSet> = self.rss.iter().collect();
        let s = status::calculate(
            &self.d,
            &all,
            new.map(|n| &self.rss[n]),
            self.terminating(),
            status::now(),
        );
        if self.d.status.as_ref() != Some(&s) {
            self.write_status(s).await?;
        }
        Ok(None)
    }

    /// Writes the status after a rollout step, with Progressing
    /// (`syncRolloutStatus`); if nothing changed, asks to be run again
    /// when the progress deadline would pass.
    async fn sync_rollout_status(&mut self, new: Option<usize>) -> Outcome {
        let now = status::now();
        let all: Vec<&ReplicaSet> = self.rss.iter().collect();
        let s = status::rollout(
            &self.d,
            &all,
            new.map(|n| &self.rss[n]),
            self.terminating(),
            now,
        );
        if self.d.status.as_ref() == Some(&s) {
            return Ok(status::recheck_after(&self.d, &s, now));
        }
        self.write_status(s).await?;
        Ok(None)
    }
}
