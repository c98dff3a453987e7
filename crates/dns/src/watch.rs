//! The watch: kube-rs reflectors on Services and EndpointSlices in every
//! namespace, and a task that rebuilds the [`Snapshot`] after changes
//! (coalescing bursts for a few milliseconds) and publishes it whole on
//! a `watch` channel the server reads per query.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::Api;
use tokio::sync::{watch, Notify};

use crate::snapshot::Snapshot;

/// How long changes are gathered before a rebuild.
const COALESCE: Duration = Duration::from_millis(20);

/// Drive one reflector, poking `changed` after every event.
async fn reflect<K>(api: Api<K>, mut writer: reflector::store::Writer<K>, changed: Arc<Notify>)
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let mut events = watcher(api, watcher::Config::default())
        .default_backoff()
        .boxed();
    while let Some(event) = events.next().await {
        match event {
            Ok(mut event) => {
                strip(&mut event);
                writer.apply_watcher_event(&event);
                changed.notify_one();
            }
            Err(error) => tracing::warn!(%error, "cluster DNS watch failed; retrying"),
        }
    }
}

/// Managed fields are not read here.
fn strip<K: kube::Resource>(event: &mut watcher::Event<K>) {
    match event {
        watcher::Event::Apply(o) | watcher::Event::InitApply(o) | watcher::Event::Delete(o) => {
            o.meta_mut().managed_fields = None;
        }
        _ => {}
    }
}

fn now_serial() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as u32)
        .unwrap_or_default()
}

fn build(zone: &str, services: &Store<Service>, slices: &Store<EndpointSlice>) -> Snapshot {
    let services = services.state();
    let slices = slices.state();
    Snapshot::build(
        zone,
        services.iter().map(|s| s.as_ref()),
        slices.iter().map(|s| s.as_ref()),
        now_serial(),
    )
}

/// Watch and publish snapshots on `tx` until the task is dropped.
pub async fn run(client: kube::Client, zone: String, tx: watch::Sender<Arc<Snapshot>>) {
    let (services, services_writer) = reflector::store::<Service>();
    let (slices, slices_writer) = reflector::store::<EndpointSlice>();
    let changed = Arc::new(Notify::new());
    let svc_task = reflect(Api::all(client.clone()), services_writer, changed.clone());
    let slice_task = reflect(Api::all(client), slices_writer, changed.clone());
    let publish = async {
        let _ = services.wait_until_ready().await;
        let _ = slices.wait_until_ready().await;
        loop {
            let snap = build(&zone, &services, &slices);
            tracing::debug!(names = snap.names.len(), "cluster DNS snapshot");
            tx.send_replace(Arc::new(snap));
            changed.notified().await;
            tokio::time::sleep(COALESCE).await;
        }
    };
    tokio::join!(svc_task, slice_task, publish);
}
