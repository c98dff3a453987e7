//! The API server's metrics, under the names Kubernetes users already
//! query: `apiserver_request_total{verb,group,version,resource,subresource,scope,component,code}`,
//! `apiserver_request_duration_seconds{verb,group,version,resource,subresource,scope,component}`
//! (not for watches, as upstream), `apiserver_registered_watchers{group,version,kind}`
//! and `apiserver_storage_objects{resource}`.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry as MetricsRegistry;
use rkube_apimachinery::{Registry, ResourceInfo};
use rkube_store::{KeyRange, RangeRequest, Store};

type Labels = Vec<(String, String)>;

fn duration_histogram() -> Histogram {
    // kube-apiserver's buckets for apiserver_request_duration_seconds.
    Histogram::new(
        [
            0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0,
            8.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0,
        ]
        .into_iter(),
    )
}

/// The metric families; clones share them.
#[derive(Clone)]
pub struct ApiMetrics {
    requests: Family<Labels, Counter>,
    durations: Family<Labels, Histogram, fn() -> Histogram>,
    watchers: Family<Labels, Gauge>,
    objects: Family<Labels, Gauge>,
}

impl Default for ApiMetrics {
    fn default() -> Self {
        ApiMetrics {
            requests: Family::default(),
            durations: Family::new_with_constructor(duration_histogram),
            watchers: Family::default(),
            objects: Family::default(),
        }
    }
}

/// What one request was, for its labels.
pub struct RequestKind<'a> {
    pub verb: &'a str,
    pub info: &'a ResourceInfo,
    pub subresource: &'a str,
    pub scope: &'a str,
}

impl ApiMetrics {
    /// Register every family on `registry`.
    pub fn register(&self, registry: &mut MetricsRegistry) {
        registry.register("apiserver_request", "Counter of apiserver requests broken out for each verb, group, version, resource, scope, component, and HTTP response code", self.requests.clone());
        registry.register("apiserver_request_duration_seconds", "Response latency distribution in seconds for each verb, group, version, resource, subresource, scope and component", self.durations.clone());
        registry.register(
            "apiserver_registered_watchers",
            "Number of currently registered watchers for a given resources",
            self.watchers.clone(),
        );
        registry.register(
            "apiserver_storage_objects",
            "Number of stored objects at the time of last check split by kind",
            self.objects.clone(),
        );
    }

    fn base(kind: &RequestKind<'_>) -> Labels {
        vec![
            ("verb".into(), kind.verb.to_uppercase()),
            ("group".into(), kind.info.group.clone()),
            ("version".into(), kind.info.version.clone()),
            ("resource".into(), kind.info.plural.clone()),
            ("subresource".into(), kind.subresource.into()),
            ("scope".into(), kind.scope.into()),
            ("component".into(), "apiserver".into()),
        ]
    }

    /// Count a finished request.
    pub fn observe(&self, kind: &RequestKind<'_>, code: u16, elapsed: Duration) {
        let mut labels = Self::base(kind);
        if kind.verb != "watch" {
            self.durations
                .get_or_create(&labels)
                .observe(elapsed.as_secs_f64());
        }
        labels.push(("code".into(), code.to_string()));
        self.requests.get_or_create(&labels).inc();
    }

    /// The gauge of open watches of a kind.
    pub fn watchers(&self, info: &ResourceInfo) -> Gauge {
        self.watchers
            .get_or_create(&vec![
                ("group".into(), info.group.clone()),
                ("version".into(), info.version.clone()),
                ("kind".into(), info.kind.clone()),
            ])
            .clone()
    }

    /// Refresh `apiserver_storage_objects` every `every` (count-only reads).
    pub fn spawn_object_counter(
        &self,
        store: Arc<dyn Store>,
        registry: Arc<Registry>,
        every: Duration,
    ) {
        let objects = self.objects.clone();
        tokio::spawn(async move {
            loop {
                for info in registry.iter() {
                    let prefix = format!("{}/", info.storage_prefix());
                    if let Ok(r) = store
                        .range(RangeRequest::new(KeyRange::prefix(prefix)).count_only())
                        .await
                    {
                        let resource = if info.group.is_empty() {
                            info.plural.clone()
                        } else {
                            format!("{}.{}", info.plural, info.group)
                        };
                        objects
                            .get_or_create(&vec![("resource".into(), resource)])
                            .set(r.count);
                    }
                }
                tokio::time::sleep(every).await;
            }
        });
    }
}
