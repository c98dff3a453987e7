//! The event recorder the scheduler, the controllers and the node agent
//! share: `core/v1` Events about an object, written in the background so
//! recording never slows the caller, and correlated as client-go's
//! recorder does (`correlator.rs`): repeats bump `count`, many similar
//! messages are combined, and a source that floods one object is held to
//! 25 events and then one per five minutes.
//!
//! Owns nothing but Events; a failed write is logged and dropped (Events
//! are best effort in Kubernetes too).

mod correlator;

use std::sync::{Arc, Mutex};
use std::time::Instant;

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

/// Now, as a `metav1.Time`.
pub fn now() -> String {
    match serde_json::to_value(Time(Timestamp::now())) {
        Ok(Value::String(s)) => s,
        _ => String::new(),
    }
}

/// Records Events as one component (`default-scheduler`,
/// `deployment-controller`, …).
#[derive(Clone)]
pub struct Recorder {
    client: Client,
    component: String,
    correlator: Arc<Mutex<correlator::Correlator>>,
    writes: Arc<Semaphore>,
}

impl Recorder {
    pub fn new(client: Client, component: &str) -> Self {
        Recorder {
            client,
            component: component.to_string(),
            correlator: Arc::default(),
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
        let object_name = obj.name_any();
        let decision = {
            let mut c = self.correlator.lock().unwrap_or_else(|e| e.into_inner());
            c.correlate(
                &correlator::Event {
                    object: (&K::kind(&()), &ns, &object_name, &uid),
                    type_,
                    reason,
                    message,
                },
                Instant::now(),
                || {
                    format!(
                        "{object_name}.{:x}",
                        Timestamp::now().as_nanosecond() as u64
                    )
                },
            )
        };
        let (name, count, repeat, message) = match decision {
            correlator::Decision::Skip => {
                debug!(object = %object_name, reason, "event dropped by the spam filter");
                return;
            }
            correlator::Decision::Create { name, message } => (name, 1, false, message),
            correlator::Decision::Patch {
                name,
                count,
                message,
            } => (name, count, true, message),
        };
        let involved = json!({
            "apiVersion": K::api_version(&()),
            "kind": K::kind(&()),
            "name": object_name,
            "namespace": obj.namespace(),
            "uid": uid,
            "resourceVersion": obj.resource_version(),
        });
        let me = self.clone();
        let type_ = type_.to_string();
        let reason = reason.to_string();
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
                    &Patch::Merge(json!({"count": count, "lastTimestamp": at, "message": message})),
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
