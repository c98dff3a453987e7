//! The measured phases of `rkube bench api`, each through kube-rs clients
//! over HTTPS, as a user's program would talk to the server.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use http_body_util::BodyExt;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client};
use serde::Deserialize;

use super::super::stats::Percentiles;

/// The annotation carrying a watched event's send time (µs since the epoch).
const SENT_ANNOTATION: &str = "bench.rkube.dev/sent-us";
/// How that annotation appears in an event line.
const SENT_KEY: &str = r#""bench.rkube.dev/sent-us":""#;

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// Creates that completed, how long they took, and their latencies.
pub struct Creates {
    pub count: usize,
    pub elapsed: Duration,
    pub latency: Percentiles,
}

impl Creates {
    pub fn rate(&self) -> f64 {
        self.count as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Create a namespace (ignoring AlreadyExists).
pub async fn namespace(client: &Client, name: &str) -> anyhow::Result<()> {
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        ..Default::default()
    };
    match Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

fn configmap(name: String) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name),
            labels: Some([("app".to_string(), "bench".to_string())].into()),
            ..Default::default()
        },
        data: Some(
            [(
                "config".to_string(),
                "x".repeat(200), // a small, typical config map
            )]
            .into(),
        ),
        ..Default::default()
    }
}

fn pod(name: String) -> anyhow::Result<Pod> {
    Ok(serde_json::from_value(serde_json::json!({
        "metadata": {"name": name, "labels": {"app": "bench", "tier": "web"}},
        "spec": {"containers": [{
            "name": "web", "image": "registry.k8s.io/pause:3.10",
            "ports": [{"containerPort": 8080}],
            "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}
        }]}
    }))?)
}

/// `clients` clients (each with its own connection) create config maps in
/// `ns` for `duration`.
pub async fn create_configmaps(
    clients: &[Client],
    ns: &str,
    duration: Duration,
) -> anyhow::Result<Creates> {
    let ns = ns.to_string();
    super::writes::drive(clients, duration, move |client, i, n| {
        let api: Api<ConfigMap> = Api::namespaced(client, &ns);
        async move {
            api.create(&PostParams::default(), &configmap(format!("cm-{i}-{n}")))
                .await?;
            Ok(())
        }
    })
    .await
}

/// Create `count` pods in `ns`, spread over the clients.
pub async fn create_pods(clients: &[Client], ns: &str, count: usize) -> anyhow::Result<Creates> {
    let started = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for client in clients {
        let api: Api<Pod> = Api::namespaced(client.clone(), ns);
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= count {
                    break;
                }
                let t = Instant::now();
                api.create(&PostParams::default(), &pod(format!("pod-{n:06}"))?)
                    .await?;
                latencies.push(t.elapsed());
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.context("a create task panicked")??);
    }
    Ok(Creates {
        count: all.len(),
        elapsed: started.elapsed(),
        latency: Percentiles::of(all),
    })
}

#[derive(Deserialize)]
struct ListHead {
    metadata: ListMeta,
    items: Vec<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
struct ListMeta {
    #[serde(rename = "continue", default)]
    continue_token: Option<String>,
}

/// A list: how long until its whole body arrived, and the item count.
pub struct Listed {
    pub elapsed: Duration,
    pub items: usize,
    pub bytes: usize,
}

/// One GET of every pod in `ns` (the time until the last byte arrived; the
/// items are counted afterwards, outside the timing).
pub async fn list_full(client: &Client, ns: &str) -> anyhow::Result<Listed> {
    let req = http::Request::get(format!("/api/v1/namespaces/{ns}/pods")).body(Vec::new())?;
    let started = Instant::now();
    let text = client.request_text(req).await?;
    let elapsed = started.elapsed();
    let head: ListHead = serde_json::from_str(&text)?;
    Ok(Listed {
        elapsed,
        items: head.items.len(),
        bytes: text.len(),
    })
}

/// Every pod in `ns`, `page` at a time, following `continue`.
pub async fn list_paged(client: &Client, ns: &str, page: usize) -> anyhow::Result<Listed> {
    let started = Instant::now();
    let (mut items, mut bytes) = (0, 0);
    let mut token: Option<String> = None;
    loop {
        let mut uri = format!("/api/v1/namespaces/{ns}/pods?limit={page}");
        if let Some(t) = &token {
            uri.push_str("&continue=");
            uri.push_str(t);
        }
        let text = client
            .request_text(http::Request::get(uri).body(Vec::new())?)
            .await?;
        let head: ListHead = serde_json::from_str(&text)?;
        items += head.items.len();
        bytes += text.len();
        match head.metadata.continue_token.filter(|t| !t.is_empty()) {
            Some(t) => token = Some(t),
            None => break,
        }
    }
    Ok(Listed {
        elapsed: started.elapsed(),
        items,
        bytes,
    })
}

/// The send time carried by an `ADDED` event line, found without parsing
/// the whole event: 1,000 watchers × 10,000 events would otherwise spend
/// the benchmark's CPU in this process's JSON parser rather than the server.
fn sent_us(line: &[u8], key: &memchr::memmem::Finder<'_>) -> Option<u64> {
    if !line.starts_with(br#"{"type":"ADDED""#) {
        return None;
    }
    let start = key.find(line)? + SENT_KEY.len();
    let len = memchr::memchr(b'"', &line[start..])?;
    std::str::from_utf8(&line[start..start + len])
        .ok()?
        .parse()
        .ok()
}

/// What the watchers saw.
pub struct Watched {
    pub expected: usize,
    pub delivered: usize,
    /// From the create being sent to the event arriving at a watcher.
    pub latency: Percentiles,
    pub write_elapsed: Duration,
}

/// `watchers` watches on `ns` (over a few shared clients); then `events`
/// config maps are created at `rate` per second; every watcher should see
/// every one. Latency is taken per delivered event.
pub async fn watch_fanout(
    clients: &[Client],
    ns: &str,
    watchers: usize,
    events: usize,
    rate: f64,
    timeout: Duration,
) -> anyhow::Result<Watched> {
    let first = clients.first().context("no clients")?;
    let list = first
        .request_text(
            http::Request::get(format!("/api/v1/namespaces/{ns}/configmaps?limit=1"))
                .body(Vec::new())?,
        )
        .await?;
    let rv = serde_json::from_str::<serde_json::Value>(&list)?
        .pointer("/metadata/resourceVersion")
        .and_then(|v| v.as_str())
        .context("list without resourceVersion")?
        .to_string();
    let connected = Arc::new(tokio::sync::Semaphore::new(0));
    let mut tasks = Vec::new();
    for w in 0..watchers {
        let client = clients[w % clients.len()].clone();
        let uri = format!("/api/v1/namespaces/{ns}/configmaps?watch=true&resourceVersion={rv}");
        let connected = connected.clone();
        tasks.push(tokio::spawn(async move {
            let response = client
                .send(http::Request::get(uri).body(kube::client::Body::from(Vec::new()))?)
                .await;
            connected.add_permits(1);
            let response = response?;
            anyhow::ensure!(
                response.status().is_success(),
                "watch answered {}",
                response.status()
            );
            let mut body = response.into_body();
            let finder = memchr::memmem::Finder::new(SENT_KEY.as_bytes());
            let mut latencies = Vec::with_capacity(events);
            // The start of a line whose end has not arrived yet.
            let mut partial: Vec<u8> = Vec::new();
            let deadline = tokio::time::Instant::now() + timeout;
            while latencies.len() < events {
                let data = match tokio::time::timeout_at(deadline, body.frame()).await {
                    Ok(Some(frame)) => match frame?.into_data() {
                        Ok(data) => data,
                        Err(_) => continue,
                    },
                    Ok(None) | Err(_) => break,
                };
                let mut rest: &[u8] = &data;
                while let Some(end) = memchr::memchr(b'\n', rest) {
                    let line: &[u8] = if partial.is_empty() {
                        &rest[..end]
                    } else {
                        partial.extend_from_slice(&rest[..end]);
                        &partial
                    };
                    if line.starts_with(br#"{"type":"ERROR""#) {
                        anyhow::bail!(
                            "the watch ended with an error: {}",
                            String::from_utf8_lossy(line)
                        );
                    }
                    if let Some(sent) = sent_us(line, &finder) {
                        latencies.push(Duration::from_micros(now_us().saturating_sub(sent)));
                    }
                    partial.clear();
                    rest = &rest[end + 1..];
                }
                partial.extend_from_slice(rest);
            }
            anyhow::Ok(latencies)
        }));
    }
    // Every watch is open before the first event is written.
    let _all = connected
        .acquire_many(watchers as u32)
        .await
        .context("watch setup")?;
    let write_started = Instant::now();
    let interval = Duration::from_secs_f64(1.0 / rate.max(1.0));
    let writer_api: Api<ConfigMap> = Api::namespaced(first.clone(), ns);
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    // Each write is its own task, so it is sent the moment its tick comes
    // (an unpolled future would stamp its send time and then wait).
    let in_flight = Arc::new(tokio::sync::Semaphore::new(64));
    let mut writes = Vec::with_capacity(events);
    for n in 0..events {
        ticker.tick().await;
        let api = writer_api.clone();
        let permit = in_flight.clone().acquire_owned().await?;
        writes.push(tokio::spawn(async move {
            let _permit = permit;
            let mut cm = configmap(format!("ev-{n:06}"));
            cm.metadata.annotations =
                Some([(SENT_ANNOTATION.to_string(), now_us().to_string())].into());
            api.create(&PostParams::default(), &cm).await
        }));
    }
    for w in writes {
        w.await.context("a write task panicked")??;
    }
    let write_elapsed = write_started.elapsed();
    let mut all = Vec::new();
    let mut failed = None;
    for t in tasks {
        match t.await.context("a watch task panicked")? {
            Ok(l) => all.extend(l),
            Err(e) => failed = Some(e),
        }
    }
    if let Some(e) = failed {
        tracing::warn!(error = %e, "a watcher failed");
    }
    Ok(Watched {
        expected: watchers * events,
        delivered: all.len(),
        latency: Percentiles::of(all),
        write_elapsed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_time_is_read_from_added_lines_only() {
        let line = format!(
            r#"{{"type":"ADDED","object":{{"metadata":{{"annotations":{{"{SENT_ANNOTATION}":"1234"}},"name":"x"}}}}}}"#
        );
        assert!(SENT_KEY.contains(SENT_ANNOTATION));
        let key = memchr::memmem::Finder::new(SENT_KEY.as_bytes());
        assert_eq!(sent_us(line.as_bytes(), &key), Some(1234));
        assert_eq!(
            sent_us(line.replace("ADDED", "MODIFIED").as_bytes(), &key),
            None
        );
        assert_eq!(sent_us(br#"{"type":"ADDED","object":{}}"#, &key), None);
    }
}
