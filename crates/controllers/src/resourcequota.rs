//! The ResourceQuota controller: keeps every quota's `status` true to the
//! namespace's objects. The API server charges a quota when it admits a
//! create; this controller gives usage back when objects go away (or pods
//! finish), and recomputes everything every 30 s.
//!
//! - `status.hard` mirrors `spec.hard`; `status.used` has every resource
//!   of `spec.hard`, counted from the objects with the API server's own
//!   rules (`rkube_apimachinery::admission::quota`): `pods`, `count/<r>`,
//!   `requests.*`/`limits.*` of non-terminal pods, `services`,
//!   `services.nodeports`/`loadbalancers`, `configmaps`, `secrets`,
//!   `persistentvolumeclaims`, `requests.storage`, …;
//! - pods, services and claims are read from the informers; other kinds
//!   are listed when a quota tracks them.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::ResourceQuota;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::api::{Api, ApiResource, DynamicObject, ListParams, PostParams};
use kube::runtime::reflector::ObjectRef;
use kube::{Client, ResourceExt};
use rkube_apimachinery::admission::quota::{counts, usage_of, Usage};
use rkube_apimachinery::quantity::{format_milli, parse_milli};
use serde_json::Value;
use tokio::task::JoinHandle;
use tracing::debug;

use crate::framework::context::Context;
use crate::framework::informer::Change;
use crate::framework::queue::{Key, Queue};
use crate::framework::runner::{spawn_workers, Outcome};
use crate::pods::is_terminal;
use crate::ControllerError;

pub const NAME: &str = "resourcequota-controller";
const WORKERS: usize = 2;
/// Every quota is recomputed this often.
const RESYNC: Duration = Duration::from_secs(30);

struct Controller {
    ctx: Arc<Context>,
    queue: Queue,
}

pub fn start(ctx: &Arc<Context>) -> Vec<JoinHandle<()>> {
    let c = Arc::new(Controller {
        ctx: ctx.clone(),
        queue: Queue::default(),
    });
    let queue = c.queue.clone();
    ctx.informers
        .resourcequotas
        .on_change(move |change| match change {
            Change::Applied { new, .. } => queue.add(Key::of(*new)),
            Change::Deleted(_) => {}
        });
    // Usage goes down when pods go or finish, services or claims go.
    let me = c.clone();
    ctx.informers.pods.on_change(move |change| {
        let freed = match change {
            Change::Deleted(p) => Some(*p),
            Change::Applied {
                old: Some(old),
                new,
            } if !is_terminal(old) && is_terminal(new) => Some(*new),
            _ => None,
        };
        if let Some(p) = freed {
            me.namespace_changed(p.namespace());
        }
    });
    let me = c.clone();
    ctx.informers.services.on_change(move |change| {
        if let Change::Deleted(s) = change {
            me.namespace_changed(s.namespace());
        }
    });
    let me = c.clone();
    ctx.informers
        .persistentvolumeclaims
        .on_change(move |change| {
            if let Change::Deleted(s) = change {
                me.namespace_changed(s.namespace());
            }
        });
    let me = c.clone();
    let resync = tokio::spawn(async move {
        let mut tick = tokio::time::interval(RESYNC);
        tick.tick().await;
        loop {
            tick.tick().await;
            for q in me.ctx.informers.resourcequotas.store().state() {
                me.queue.add(Key::of(q.as_ref()));
            }
        }
    });
    let me = c.clone();
    let mut tasks = spawn_workers(NAME, c.queue.clone(), WORKERS, move |key| {
        let me = me.clone();
        async move { me.reconcile(key).await }
    });
    tasks.push(resync);
    tasks
}

impl Controller {
    fn namespace_changed(&self, ns: Option<String>) {
        for q in self.ctx.informers.resourcequotas.store().state() {
            if q.metadata.namespace == ns {
                self.queue.add(Key::of(q.as_ref()));
            }
        }
    }

    async fn reconcile(&self, key: Key) -> Outcome {
        let Some(quota) = self
            .ctx
            .informers
            .resourcequotas
            .store()
            .get(&ObjectRef::new(&key.name).within(&key.namespace))
        else {
            return Ok(None);
        };
        let hard = quota
            .spec
            .as_ref()
            .and_then(|s| s.hard.clone())
            .unwrap_or_default();
        let mut usage = Usage::new();
        for (group, plural) in kinds_for(hard.keys()) {
            for obj in self.objects(&key.namespace, &group, &plural).await? {
                if !counts(&group, &plural, &obj) {
                    continue;
                }
                for (k, v) in usage_of(&group, &plural, &obj) {
                    *usage.entry(k).or_insert(0) += v;
                }
                if matches!(
                    (group.as_str(), plural.as_str()),
                    ("", "persistentvolumeclaims")
                ) {
                    for (k, v) in claim_usage(&obj) {
                        *usage.entry(k).or_insert(0) += v;
                    }
                }
            }
        }
        let used = used_for(&hard, &usage);
        let cur = quota.status.clone().unwrap_or_default();
        let same = cur.hard.as_ref() == Some(&hard)
            && same_amounts(cur.used.as_ref().unwrap_or(&BTreeMap::new()), &used);
        if same {
            return Ok(None);
        }
        let mut new = (*quota).clone();
        let status = new.status.get_or_insert_with(Default::default);
        status.hard = Some(hard);
        status.used = Some(used);
        let api: Api<ResourceQuota> = Api::namespaced(self.ctx.client.clone(), &key.namespace);
        api.replace_status(&key.name, &PostParams::default(), &new)
            .await?;
        debug!(quota = %key, "status written");
        Ok(None)
    }

    /// The objects of a kind in `ns`, as JSON.
    async fn objects(
        &self,
        ns: &str,
        group: &str,
        plural: &str,
    ) -> Result<Vec<Value>, ControllerError> {
        let inf = &self.ctx.informers;
        let in_ns = |m: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| {
            m.namespace.as_deref() == Some(ns)
        };
        if group.is_empty() {
            let from_store = match plural {
                "pods" => Some(to_values(
                    inf.pods
                        .store()
                        .state()
                        .iter()
                        .filter(|p| in_ns(&p.metadata)),
                )?),
                "services" => Some(to_values(
                    inf.services
                        .store()
                        .state()
                        .iter()
                        .filter(|p| in_ns(&p.metadata)),
                )?),
                "persistentvolumeclaims" => Some(to_values(
                    inf.persistentvolumeclaims
                        .store()
                        .state()
                        .iter()
                        .filter(|p| in_ns(&p.metadata)),
                )?),
                _ => None,
            };
            if let Some(v) = from_store {
                return Ok(v);
            }
        }
        let Some(ar) = api_resource(&self.ctx.client, group, plural).await? else {
            return Ok(Vec::new());
        };
        let api: Api<DynamicObject> = Api::namespaced_with(self.ctx.client.clone(), ns, &ar);
        let list = api.list(&ListParams::default()).await?;
        list.items
            .into_iter()
            .map(|o| serde_json::to_value(&o).map_err(ControllerError::from))
            .collect()
    }
}

fn to_values<'a, K: serde::Serialize + 'a>(
    objs: impl Iterator<Item = &'a Arc<K>>,
) -> Result<Vec<Value>, ControllerError> {
    objs.map(|o| serde_json::to_value(o.as_ref()).map_err(ControllerError::from))
        .collect()
}

/// How to list `group`/`plural` (None: the server does not serve it).
async fn api_resource(
    client: &Client,
    group: &str,
    plural: &str,
) -> Result<Option<ApiResource>, ControllerError> {
    if group.is_empty() {
        return Ok(Some(ApiResource {
            group: String::new(),
            version: "v1".into(),
            api_version: "v1".into(),
            kind: String::new(),
            plural: plural.into(),
        }));
    }
    let g = match kube::discovery::group(client, group).await {
        Ok(g) => g,
        Err(kube::Error::Discovery(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    Ok(g.recommended_resources()
        .into_iter()
        .map(|(ar, _)| ar)
        .find(|ar| ar.plural == plural))
}

/// The kinds (group, plural) whose objects the resources `hard` names
/// are counted from.
pub fn kinds_for<'a>(hard: impl Iterator<Item = &'a String>) -> BTreeSet<(String, String)> {
    let core = |p: &str| (String::new(), p.to_string());
    let mut out = BTreeSet::new();
    for k in hard {
        let kind = match k.as_str() {
            "pods" | "cpu" | "memory" | "ephemeral-storage" => Some(core("pods")),
            "services" | "services.nodeports" | "services.loadbalancers" => Some(core("services")),
            "configmaps"
            | "secrets"
            | "persistentvolumeclaims"
            | "resourcequotas"
            | "replicationcontrollers" => Some(core(k)),
            "requests.storage" => Some(core("persistentvolumeclaims")),
            k if k.contains(".storageclass.storage.k8s.io/") => {
                Some(core("persistentvolumeclaims"))
            }
            k if k.starts_with("requests.") || k.starts_with("limits.") => Some(core("pods")),
            k => k.strip_prefix("count/").map(|r| match r.split_once('.') {
                Some((plural, group)) => (group.to_string(), plural.to_string()),
                None => core(r),
            }),
        };
        out.extend(kind);
    }
    out
}

/// What a claim adds beyond `usage_of`: `requests.storage` and its
/// storage class's `<class>.storageclass.storage.k8s.io/…` amounts.
fn claim_usage(pvc: &Value) -> Usage {
    let mut u = Usage::new();
    let storage = pvc
        .pointer("/spec/resources/requests/storage")
        .and_then(Value::as_str)
        .and_then(parse_milli)
        .unwrap_or(0);
    u.insert("requests.storage".into(), storage);
    if let Some(class) = pvc
        .pointer("/spec/storageClassName")
        .and_then(Value::as_str)
    {
        let prefix = format!("{class}.storageclass.storage.k8s.io");
        u.insert(format!("{prefix}/requests.storage"), storage);
        u.insert(format!("{prefix}/persistentvolumeclaims"), 1000);
    }
    u
}

/// `status.used`: every resource of `hard`, in the style of its limit
/// (binary units for a limit written with them).
pub fn used_for(hard: &BTreeMap<String, Quantity>, usage: &Usage) -> BTreeMap<String, Quantity> {
    hard.iter()
        .map(|(k, limit)| {
            let v = usage.get(k).copied().unwrap_or(0);
            (k.clone(), Quantity(format_like(v, &limit.0)))
        })
        .collect()
}

/// `v` (thousandths) written as a Kubernetes quantity, with the largest
/// binary unit dividing it when `like` uses binary units.
fn format_like(v: i128, like: &str) -> String {
    let binary = like.ends_with('i');
    if binary && v % 1000 == 0 && v != 0 {
        let bytes = v / 1000;
        for (suffix, unit) in [
            ("Ei", 1i128 << 60),
            ("Pi", 1 << 50),
            ("Ti", 1 << 40),
            ("Gi", 1 << 30),
            ("Mi", 1 << 20),
            ("Ki", 1 << 10),
        ] {
            if bytes % unit == 0 {
                return format!("{}{suffix}", bytes / unit);
            }
        }
    }
    format_milli(v)
}

/// Whether two `used` maps say the same amounts (however written).
fn same_amounts(a: &BTreeMap<String, Quantity>, b: &BTreeMap<String, Quantity>) -> bool {
    a.len() == b.len()
        && a.iter().all(|(k, q)| {
            b.get(k).is_some_and(|r| {
                parse_milli(&q.0).is_some() && parse_milli(&q.0) == parse_milli(&r.0)
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hard(v: Value) -> BTreeMap<String, Quantity> {
        serde_json::from_value(v).expect("hard")
    }

    #[test]
    fn resources_map_to_the_kinds_counted() {
        let h = hard(
            json!({"pods": "2", "requests.cpu": "1", "services.nodeports": "1",
            "count/deployments.apps": "3", "count/configmaps": "5", "secrets": "4",
            "requests.storage": "1Gi"}),
        );
        let kinds: Vec<(String, String)> = kinds_for(h.keys()).into_iter().collect();
        let s = |g: &str, p: &str| (g.to_string(), p.to_string());
        assert_eq!(
            kinds,
            [
                s("", "configmaps"),
                s("", "persistentvolumeclaims"),
                s("", "pods"),
                s("", "secrets"),
                s("", "services"),
                s("apps", "deployments"),
            ]
        );
    }

    #[test]
    fn used_lists_every_hard_resource_in_its_style() {
        let h = hard(
            json!({"pods": "2", "requests.memory": "1Gi", "requests.cpu": "2",
            "secrets": "3"}),
        );
        let mut u = Usage::new();
        for pod in [
            json!({"spec": {"containers": [{"resources": {"requests": {"memory": "128Mi", "cpu": "250m"}}}]}}),
            json!({"spec": {"containers": [{"resources": {"requests": {"memory": "128Mi", "cpu": "500m"}}}]}}),
        ] {
            for (k, v) in usage_of("", "pods", &pod) {
                *u.entry(k).or_insert(0) += v;
            }
        }
        let used = used_for(&h, &u);
        let get = |k: &str| used.get(k).map(|q| q.0.clone()).unwrap_or_default();
        assert_eq!(get("pods"), "2");
        assert_eq!(get("requests.memory"), "256Mi");
        assert_eq!(get("requests.cpu"), "750m");
        assert_eq!(get("secrets"), "0");
        let other = hard(json!({"pods": "2", "requests.memory": "268435456",
            "requests.cpu": "750m", "secrets": "0"}));
        assert!(same_amounts(&used, &other));
        assert!(!same_amounts(&used, &hard(json!({"pods": "1"}))));
    }

    #[test]
    fn finished_pods_do_not_count_and_claims_count_storage() {
        let done = json!({"status": {"phase": "Succeeded"}});
        assert!(!counts("", "pods", &done));
        let pvc = json!({"spec": {"storageClassName": "fast",
            "resources": {"requests": {"storage": "2Gi"}}}});
        let u = claim_usage(&pvc);
        assert_eq!(
            u.get("requests.storage"),
            Some(&(2i128 << 30).saturating_mul(1000))
        );
        assert_eq!(
            u.get("fast.storageclass.storage.k8s.io/persistentvolumeclaims"),
            Some(&1000)
        );
    }
}
