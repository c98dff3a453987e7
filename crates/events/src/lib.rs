//! The event recorder the scheduler and the controllers share (the node
//! agent records no events yet): `core/v1` Events about an object, written
//! in the background so recording never slows the caller. As in
//! client-go's broadcaster and sink:
//! - recorded events wait in a queue of 1,000 and are dropped when it is
//!   full (`DropIfChannelFull`);
//! - one writer per recorder correlates them (`correlator.rs`): repeats
//!   bump `count`, many similar messages are combined, and a source that
//!   floods one object is held to 25 events and then one per five minutes;
//! - writes are paced by the client's rate limit (`pacer.rs`; QPS 50,
//!   burst 100, kube-scheduler's and the kubelet's event defaults), one at
//!   a time.
//!
//! So a component recording thousands of events a second (the scheduler
//! binding 10,000 pods) writes the first hundred and a steady 50/s, and
//! drops what does not fit the queue, as kube-scheduler does.
//!
//! Owns nothing but Events; a failed write is logged and dropped (Events
//! are best effort in Kubernetes too).

mod correlator;
mod pacer;

use k8s_openapi::api::core::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::{Client, Resource, ResourceExt};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tracing::debug;

use pacer::Pacer;

/// Events waiting to be written (client-go's `maxQueuedEvents`).
const QUEUE: usize = 1000;
/// Event writes per second after the burst, and the burst.
const QPS: f64 = 50.0;
const BURST: u32 = 100;

/// Now, as a `metav1.Time`.
pub fn now() -> String {
    match serde_json::to_value(Time(Timestamp::now())) {
        Ok(Value::String(s)) => s,
        _ => String::new(),
    }
}

/// Records Events as one component (`default-scheduler`,
/// `deployment-controller`, …). Clones share the queue and the writer.
#[derive(Clone)]
pub struct Recorder {
    queue: mpsc::Sender<Recorded>,
}

/// One event as recorded, before correlation.
struct Recorded {
    kind: String,
    api_version: String,
    /// None for a cluster-scoped object.
    namespace: Option<String>,
    name: String,
    uid: String,
    resource_version: Option<String>,
    type_: &'static str,
    reason: String,
    message: String,
}

impl Recorder {
    /// A recorder and its writer task (on the current tokio runtime; with
    /// none, every event is dropped).
    pub fn new(client: Client, component: &str) -> Self {
        let (queue, recorded) = mpsc::channel(QUEUE);
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(write_all(client, component.to_string(), recorded));
        }
        Recorder { queue }
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
        type_: &'static str,
        reason: &str,
        message: &str,
    ) {
        let event = Recorded {
            kind: K::kind(&()).into_owned(),
            api_version: K::api_version(&()).into_owned(),
            namespace: obj.namespace(),
            name: obj.name_any(),
            uid: obj.uid().unwrap_or_default(),
            resource_version: obj.resource_version(),
            type_,
            reason: reason.to_string(),
            message: message.to_string(),
        };
        if let Err(e) = self.queue.try_send(event) {
            let (event, why) = match &e {
                mpsc::error::TrySendError::Full(ev) => (ev, "the queue is full"),
                mpsc::error::TrySendError::Closed(ev) => (ev, "no writer"),
            };
            debug!(object = %event.name, reason = %event.reason, why, "event dropped");
        }
    }
}

/// The writer: correlates each queued event and writes it, paced.
async fn write_all(client: Client, component: String, mut recorded: mpsc::Receiver<Recorded>) {
    let mut correlator = correlator::Correlator::default();
    // tokio's clock (the same as std's, except in tests that pause it).
    let clock = || tokio::time::Instant::now().into_std();
    let mut pacer = Pacer::new(QPS, BURST, clock());
    while let Some(ev) = recorded.recv().await {
        // The Event's namespace: the object's, or `default` for a
        // cluster-scoped one.
        let ns = ev.namespace.as_deref().unwrap_or("default");
        let decision = correlator.correlate(
            &correlator::Event {
                object: (&ev.kind, ns, &ev.name, &ev.uid),
                type_: ev.type_,
                reason: &ev.reason,
                message: &ev.message,
            },
            clock(),
            || format!("{}.{:x}", ev.name, Timestamp::now().as_nanosecond() as u64),
        );
        let (name, count, repeat, message) = match decision {
            correlator::Decision::Skip => {
                debug!(object = %ev.name, reason = %ev.reason, "event dropped by the spam filter");
                continue;
            }
            correlator::Decision::Create { name, message } => (name, 1, false, message),
            correlator::Decision::Patch {
                name,
                count,
                message,
            } => (name, count, true, message),
        };
        let wait = pacer.take(clock());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        let api: Api<Event> = Api::namespaced(client.clone(), ns);
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
                "involvedObject": {
                    "apiVersion": ev.api_version,
                    "kind": ev.kind,
                    "name": ev.name,
                    "namespace": ev.namespace,
                    "uid": ev.uid,
                    "resourceVersion": ev.resource_version,
                },
                "reason": ev.reason,
                "message": message,
                "type": ev.type_,
                "count": count,
                "firstTimestamp": at,
                "lastTimestamp": at,
                "source": {"component": component},
                "reportingComponent": component,
                "reportingInstance": component,
            });
            match serde_json::from_value::<Event>(event) {
                Ok(e) => api.create(&PostParams::default(), &e).await.map(|_| ()),
                Err(e) => Err(kube::Error::SerdeError(e)),
            }
        };
        if let Err(error) = result {
            debug!(event = %name, %error, "cannot write an event");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use bytes::Bytes;
    use http_body_util::Full;
    use k8s_openapi::api::core::v1::Pod;

    use super::*;

    fn pod(i: usize) -> Pod {
        serde_json::from_value(json!({"metadata": {
            "name": format!("p{i}"), "namespace": "default", "uid": format!("u{i}")}}))
        .expect("pod")
    }

    /// A recorder whose client answers every request 201 and counts the
    /// event creates.
    fn counting_recorder() -> (Recorder, Arc<AtomicUsize>) {
        let creates = Arc::new(AtomicUsize::new(0));
        let seen = creates.clone();
        let service = tower::service_fn(move |req: http::Request<kube::client::Body>| {
            if req.method() == http::Method::POST && req.uri().path().ends_with("/events") {
                seen.fetch_add(1, Ordering::SeqCst);
            }
            async {
                let event = br#"{"apiVersion":"v1","kind":"Event","metadata":{"name":"e"},"involvedObject":{}}"#;
                Ok::<_, Infallible>(
                    http::Response::builder()
                        .status(201)
                        .body(Full::new(Bytes::from_static(event)))
                        .expect("response"),
                )
            }
        });
        let recorder = Recorder::new(Client::new(service, "default"), "test-controller");
        (recorder, creates)
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_is_written_then_50_a_second_and_what_overflows_the_queue_is_dropped() {
        let (recorder, creates) = counting_recorder();
        // 1,200 events about distinct pods, recorded without yielding: the
        // queue takes 1,000; 200 are dropped.
        for i in 0..1200 {
            recorder.normal(&pod(i), "Scheduled", "Successfully assigned");
        }
        let start = tokio::time::Instant::now();
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert_eq!(creates.load(Ordering::SeqCst), 100, "the burst at once");
        tokio::time::sleep_until(start + Duration::from_secs(1)).await;
        let after_1s = creates.load(Ordering::SeqCst);
        assert!((149..=151).contains(&after_1s), "then 50/s: {after_1s}");
        tokio::time::sleep_until(start + Duration::from_secs(60)).await;
        assert_eq!(creates.load(Ordering::SeqCst), 1000, "the queue, no more");
    }
}
