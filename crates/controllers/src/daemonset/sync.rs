//! The DaemonSet controller's pass over one DaemonSet: reads its
//! revisions, pods and nodes from the informers, asks `plan` what to do,
//! and applies it (creates and deletes pods, truncates history, writes
//! status).

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet};
use k8s_openapi::api::core::v1::{Pod, PodSpec};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, PostParams, Preconditions};
use kube::runtime::reflector::ObjectRef;
use kube::ResourceExt;
use rkube_apimachinery::matching::label_selector_matches;
use serde_json::{json, Value};
use tracing::debug;

use super::plan::{plan, scaled, NodeView, PodView, Strategy};
use super::pods::{add_daemon_tolerations, new_pod, node_should_run, target_node};
use super::Controller;
use crate::framework::claim::Claimer;
use crate::framework::error::ControllerError;
use crate::framework::history::{self, REVISION_HASH_LABEL};
use crate::framework::owner::owner_ref;
use crate::framework::queue::Key;
use crate::framework::runner::Outcome;
use crate::framework::status::merge_status;
use crate::pods::{is_available, is_failed, is_ready};

impl Controller {
    pub(super) async fn reconcile(&self, key: Key) -> Outcome {
        // Decide only on full caches (a pod not listed yet is not missing).
        self.ctx.informers.pods.synced().await;
        self.ctx.informers.controllerrevisions.synced().await;
        self.ctx.informers.nodes.synced().await;
        let Some(ds) = self
            .ctx
            .informers
            .daemonsets
            .store()
            .get(&ObjectRef::new(&key.name).within(&key.namespace))
        else {
            self.expectations.forget(&key);
            return Ok(None);
        };
        if ds.metadata.deletion_timestamp.is_some() {
            return Ok(None);
        }
        // Before reading the pods: a creation seen after this point is in
        // the cache we read (checked later, a pod seen between the read
        // and the check would be created twice).
        let needs_sync = self.expectations.satisfied(&key);
        let uid = ds.uid().unwrap_or_default();
        let spec = ds.spec.clone();
        let pods_api: Api<Pod> = Api::namespaced(self.ctx.client.clone(), &key.namespace);
        let revs_api: Api<ControllerRevision> =
            Api::namespaced(self.ctx.client.clone(), &key.namespace);

        // Revisions: the current one (created, or found and renumbered).
        let revs = history::owned(&self.ctx, &key.namespace, &uid);
        let status = ds.status.clone().unwrap_or_default();
        let ds_api: Api<DaemonSet> = Api::namespaced(self.ctx.client.clone(), &key.namespace);
        let (current, collision_count) = history::current_recording_collisions(
            &revs_api,
            &ds_api,
            ds.as_ref(),
            &spec.template,
            &revs,
            status.collision_count,
        )
        .await?;
        let hash = history::hash_of(&current);

        // Pods: owned, plus adopted orphans that match.
        let candidates = self
            .ctx
            .pods_controlled_by(&uid)
            .into_iter()
            .chain(self.ctx.orphan_pods_in(&key.namespace));
        let claimer = Claimer {
            owner: owner_ref(ds.as_ref()),
            owner_deleting: false,
            namespace: &key.namespace,
        };
        let mut owned = claimer
            .claim(&pods_api, candidates, |p| {
                label_selector_matches(Some(&spec.selector), p.metadata.labels.as_ref())
            })
            .await?;
        owned.sort_by_key(|p| {
            (
                p.metadata.creation_timestamp.clone().map(|t| t.0),
                p.name_any(),
            )
        });

        let mut template_spec = spec.template.spec.clone().unwrap_or_default();
        add_daemon_tolerations(&mut template_spec);
        let min_ready = spec.min_ready_seconds.unwrap_or(0);
        let now = Timestamp::now();
        let node_objs = self.ctx.informers.nodes.store().state();
        let known: HashSet<String> = node_objs.iter().map(|n| n.name_any()).collect();
        let mut by_node: BTreeMap<String, Vec<Arc<Pod>>> = BTreeMap::new();
        let mut orphaned: Vec<Arc<Pod>> = Vec::new();
        for p in &owned {
            if p.metadata.deletion_timestamp.is_some() {
                continue;
            }
            match target_node(p) {
                Some(n) if known.contains(&n) => by_node.entry(n).or_default().push(p.clone()),
                Some(_) if p.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_some() => {
                    orphaned.push(p.clone())
                }
                _ => {}
            }
        }
        let mut nodes: Vec<NodeView> = node_objs
            .iter()
            .map(|n| {
                let (should_run, should_continue) = node_should_run(&template_spec, n);
                let name = n.name_any();
                let pods = by_node
                    .get(&name)
                    .into_iter()
                    .flatten()
                    .map(|p| PodView {
                        name: p.name_any(),
                        updated: p.labels().get(REVISION_HASH_LABEL) == Some(&hash),
                        failed: is_failed(p),
                        available: is_ready(p) && is_available(p, min_ready, now),
                    })
                    .collect();
                NodeView {
                    name,
                    should_run,
                    should_continue,
                    pods,
                }
            })
            .collect();
        nodes.sort_by(|a, b| a.name.cmp(&b.name));

        let waiting = self
            .write_status(&ds, &key, &nodes, &by_node, collision_count)
            .await?;

        if needs_sync {
            let strategy = spec.update_strategy.clone().unwrap_or_default();
            let strategy = if strategy.type_.as_deref() == Some("OnDelete") {
                Strategy::OnDelete
            } else {
                let ru = strategy.rolling_update.unwrap_or_default();
                let desired = nodes.iter().filter(|n| n.should_run).count() as i32;
                let max_surge = scaled(ru.max_surge.as_ref(), desired, 0);
                let mut max_unavailable = scaled(ru.max_unavailable.as_ref(), desired, 1);
                if max_surge == 0 && max_unavailable == 0 {
                    max_unavailable = 1;
                }
                Strategy::Rolling {
                    max_surge,
                    max_unavailable,
                }
            };
            let mut todo = plan(&nodes, strategy);
            let by_name: BTreeMap<String, &Arc<Pod>> =
                owned.iter().map(|p| (p.name_any(), p)).collect();
            let mut victims: Vec<&Arc<Pod>> = todo
                .delete
                .iter()
                .filter_map(|n| by_name.get(n).copied())
                .collect();
            victims.extend(orphaned.iter());
            todo.create.sort();
            todo.create.dedup();
            self.sync(
                &ds,
                &key,
                &pods_api,
                &template_spec,
                &hash,
                &todo.create,
                &victims,
            )
            .await?;
        }

        let mut live: HashSet<String> = owned
            .iter()
            .filter_map(|p| p.labels().get(REVISION_HASH_LABEL).cloned())
            .map(|h| history::revision_name(&key.name, &h))
            .collect();
        live.insert(current.name_any());
        history::truncate(
            &revs_api,
            &revs,
            &live,
            spec.revision_history_limit.unwrap_or(10),
        )
        .await?;
        Ok(waiting.then(|| Duration::from_secs(min_ready.max(1) as u64)))
    }

    #[allow(clippy::too_many_arguments)]
    async fn sync(
        &self,
        ds: &DaemonSet,
        key: &Key,
        api: &Api<Pod>,
        template_spec: &PodSpec,
        hash: &str,
        create: &[String],
        delete: &[&Arc<Pod>],
    ) -> Result<(), ControllerError> {
        if create.is_empty() && delete.is_empty() {
            return Ok(());
        }
        self.expectations.expect(
            key,
            create.len() as i64,
            delete.iter().map(|p| p.uid().unwrap_or_default()),
        );
        let pp = PostParams::default();
        let mut first_error = None;
        let pods: Vec<Pod> = create
            .iter()
            .map(|n| new_pod(ds, template_spec, hash, n))
            .collect::<Result<_, _>>()?;
        let created = join_all(pods.iter().map(|p| api.create(&pp, p))).await;
        for r in created {
            match r {
                Ok(p) => self.recorder.normal(
                    ds,
                    "SuccessfulCreate",
                    &format!("Created pod: {}", p.name_any()),
                ),
                Err(e) => {
                    self.expectations.creation_observed(key);
                    self.recorder
                        .warning(ds, "FailedCreate", &format!("Error creating: {e}"));
                    first_error.get_or_insert(e);
                }
            }
        }
        let deleted = join_all(delete.iter().map(|p| {
            let dp = DeleteParams {
                preconditions: Some(Preconditions {
                    uid: p.uid(),
                    resource_version: None,
                }),
                ..DeleteParams::default()
            };
            let name = p.name_any();
            async move { (name.clone(), api.delete(&name, &dp).await) }
        }))
        .await;
        for ((name, r), p) in deleted.into_iter().zip(delete) {
            match r {
                Ok(_) => {
                    self.recorder
                        .normal(ds, "SuccessfulDelete", &format!("Deleted pod: {name}"))
                }
                Err(e) => {
                    self.expectations
                        .deletion_observed(key, &p.uid().unwrap_or_default());
                    match e {
                        kube::Error::Api(s) if s.code == 404 || s.code == 409 => {}
                        e => {
                            self.recorder.warning(
                                ds,
                                "FailedDelete",
                                &format!("Error deleting: {e}"),
                            );
                            first_error.get_or_insert(e);
                        }
                    }
                }
            }
        }
        debug!(daemonset = %key, created = create.len(), deleted = delete.len(), "synced nodes");
        match first_error {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    }

    async fn patch_status(&self, key: &Key, status: Value) -> Result<(), ControllerError> {
        let api: Api<DaemonSet> = Api::namespaced(self.ctx.client.clone(), &key.namespace);
        merge_status(&api, &key.name, status).await
    }

    /// Writes status if it changed; true if a pod is ready but not yet
    /// available.
    async fn write_status(
        &self,
        ds: &DaemonSet,
        key: &Key,
        nodes: &[NodeView],
        by_node: &BTreeMap<String, Vec<Arc<Pod>>>,
        collision_count: i32,
    ) -> Result<bool, ControllerError> {
        let (mut desired, mut current, mut ready, mut available, mut updated, mut mis) =
            (0, 0, 0, 0, 0, 0);
        for n in nodes {
            let scheduled = by_node.get(&n.name).is_some_and(|p| !p.is_empty());
            if n.should_run {
                desired += 1;
                if !scheduled {
                    continue;
                }
                current += 1;
                // The oldest pod counts.
                let Some(p) = n.pods.first() else { continue };
                if by_node
                    .get(&n.name)
                    .and_then(|ps| ps.first())
                    .is_some_and(|p| is_ready(p))
                {
                    ready += 1;
                    if p.available {
                        available += 1;
                    }
                }
                if n.pods.iter().any(|p| p.updated) {
                    updated += 1;
                }
            } else if scheduled {
                mis += 1;
            }
        }
        let want = json!({
            "desiredNumberScheduled": desired,
            "currentNumberScheduled": current,
            "numberReady": ready,
            "numberAvailable": available,
            "numberUnavailable": desired - available,
            "updatedNumberScheduled": updated,
            "numberMisscheduled": mis,
            "observedGeneration": ds.metadata.generation,
            "collisionCount": collision_count,
        });
        let cur = serde_json::to_value(ds.status.clone().unwrap_or_default())?;
        let differs = want.as_object().into_iter().flatten().any(|(k, v)| {
            let have = cur.get(k).unwrap_or(&Value::Null);
            have != v && !(v == &json!(0) && have.is_null())
        });
        if differs {
            self.patch_status(key, want).await?;
        }
        Ok(ready > available)
    }
}
