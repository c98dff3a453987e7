//! The event recorder the scheduler, the controllers and the node agent
//! share: `core/v1` Events about an object, written in the background so
//! recording never slows the caller, and aggregated as client-go's
//! recorder does — the same reason and message about the same object
//! again bumps `count` and `lastTimestamp` of the one Event instead of
//! writing another.
//!
//! Owns nothing but Events; a failed write is logged and dropped (Events
//! are best effort in Kubernetes too).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::{Client, Resource, ResourceExt};
use serde_json::{json, Value};
use tokio::sync::Semaphore;
use tracing::debug;

/// Event writes in flight at once; beyond that, events wait.
const CONCURRENCY: usize = 16;
/// Aggregation keys kept; the oldest half is forgotten beyond this.
const REMEMBERED: usize = 4096;

/// Now, as a `metav1.Time`.
pub fn now() -> String {
    match serde_json::to_value(Time(Timestamp::now())) {
        Ok(Value::String(s)) => s,
        _ => String::new(),
    }
}

type Key = (String, String, String, String);

/// Records Events as one component (`default-scheduler`,
/// `deployment-controller`, …).
#[derive(Clone)]
pub struct Recorder {
    client: Client,
    component: String,
    seen: Arc<Mutex<HashMap<Key, (String, i32)>>>,
    writes: Arc<Semaphore>,
}

impl Recorder {
    pub fn new(client: Client, component: &str) -> Self {
        Recorder {
            client,
            component: component.to_string(),
            seen: Arc::default(),
            writes: Arc::new(Semaphore::new(CONCURRENCY)),
        }
    }

    pub fn normal<K: Resource<DynamicType = ()>>(&self, obj: &K, reason: &str, message: &str) {
        self.record(obj, "Normal", reason, message);
    }

    pub fn warning<K: Resource<DynamicType = ()>>(&self, obj: &K, reason: &str, message: &str) {
        self.record(obj, "Warning", reason, message);
    }

    fn record<K: Resource<DynamicType = ()>>(
        &self,
        obj: &K,
        type_: &str,
        reason: &str,
        message: &str,
    ) {
        let ns = obj.namespace().unwrap_or_else(|| "default".to_string());
        let uid = obj.uid().unwrap_or_default();
        let key = (
            ns.clone(),
            uid.clone(),
            reason.to_string(),
            message.to_string(),
        );
        let involved = json!({
            "apiVersion": K::api_version(&()),
            "kind": K::kind(&()),
            "name": obj.name_any(),
            "namespace": obj.namespace(),
            "uid": uid,
            "resourceVersion": obj.resource_version(),
        });
        let previous = {
            let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
            if seen.len() > REMEMBERED {
                let drop: Vec<Key> = seen.keys().take(REMEMBERED / 2).cloned().collect();
                for k in drop {
                    seen.remove(&k);
                }
            }
            let entry = seen.get(&key).cloned();
            let name = entry.as_ref().map(|(n, _)| n.clone()).unwrap_or_else(|| {
                format!(
                    "{}.{:x}",
                    obj.name_any(),
                    Timestamp::now().as_nanosecond() as u64
                )
            });
            let count = entry.as_ref().map_or(1, |(_, c)| c + 1);
            seen.insert(key, (name.clone(), count));
            (name, count, entry.is_some())
        };
        let (name, count, repeat) = previous;
        let me = self.clone();
        let type_ = type_.to_string();
        let reason = reason.to_string();
        let message = message.to_string();
        tokio::spawn(async move {
            let Ok(_permit) = me.writes.acquire().await else {
                return;
            };
            let api: Api<Event> = Api::namespaced(me.client.clone(), &ns);
            let at = now();
            let result = if repeat {
                api.patch(
                    &name,
                    &PatchParams::default(),
                    &Patch::Merge(json!({"count": count, "lastTimestamp": at})),
                )
                .await
                .map(|_| ())
            } else {
                let event = json!({
                    "metadata": {"name": name, "namespace": ns},
                    "involvedObject": involved,
                    "reason": reason,
                    "message": message,
                    "type": type_,
                    "count": count,
                    "firstTimestamp": at,
                    "lastTimestamp": at,
                    "source": {"component": me.component},
                    "reportingComponent": me.component,
                    "reportingInstance": me.component,
                });
                match serde_json::from_value::<Event>(event) {
                    Ok(e) => api.create(&PostParams::default(), &e).await.map(|_| ()),
                    Err(e) => Err(kube::Error::SerdeError(e)),
                }
            };
            if let Err(error) = result {
                debug!(event = %name, %error, "cannot write an event");
            }
        });
    }
}
