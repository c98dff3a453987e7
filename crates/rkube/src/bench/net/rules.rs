//! Rule programming: N Services without selectors, each with one
//! EndpointSlice of M made-up endpoints, then one change at a time —
//! create a Service, add an endpoint, remove it, delete the Service — each
//! timed from the request sent to its effect in the proxy's nftables table
//! as `nft monitor` reports it (the ClusterIP or the endpoint's address
//! appearing in, or leaving, the table's rules and elements).

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;
use tracing::info;

use super::monitor::Monitor;
use super::ranges::EndpointAddrs;
use crate::bench::stats::Percentiles;

/// Namespace of every object of the benchmark.
pub(super) const NAMESPACE: &str = "default";
/// The Services' named port (SRV `_http._tcp`).
pub(super) const PORT_NAME: &str = "http";
const LABEL_KEY: &str = "rkube-bench";
/// How long one change may take to show before it counts as missed.
const CHANGE_TIMEOUT: Duration = Duration::from_secs(10);
/// Creates in flight while loading the Services.
const LOAD_CONCURRENCY: usize = 32;

/// The kinds of change, in the order each cycle makes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Change {
    CreateService,
    AddEndpoint,
    RemoveEndpoint,
    DeleteService,
}

impl Change {
    pub const ALL: [Change; 4] = [
        Change::CreateService,
        Change::AddEndpoint,
        Change::RemoveEndpoint,
        Change::DeleteService,
    ];

    pub fn describe(self) -> &'static str {
        match self {
            Change::CreateService => "create a Service → its ClusterIP in the table",
            Change::AddEndpoint => "add an endpoint to a slice → its address in the table",
            Change::RemoveEndpoint => "remove an endpoint → its address gone",
            Change::DeleteService => "delete a Service → its ClusterIP gone",
        }
    }
}

/// What the rule phase measured.
#[derive(Debug, Default)]
pub(super) struct RulesOutcome {
    pub services: usize,
    pub endpoints: usize,
    /// First create sent → the last of the N ClusterIPs and N×M addresses
    /// seen in the table.
    pub load: Duration,
    /// Every timed change.
    pub all: Percentiles,
    /// Per kind, in [`Change::ALL`]'s order.
    pub by_kind: Vec<(Change, Percentiles)>,
    /// Changes not seen within [`CHANGE_TIMEOUT`].
    pub missed: usize,
    /// Lines of the table `nft monitor` reported.
    pub monitor_lines: u64,
}

/// One Service of the benchmark and its endpoints.
struct Svc {
    name: String,
    ip: Ipv4Addr,
    endpoints: Vec<Ipv4Addr>,
}

pub(super) fn service_name(i: usize) -> String {
    format!("svc-{i}")
}

/// Load `services` × `endpoints`, then make `changes` timed changes (a
/// multiple of four).
pub(super) async fn measure(
    client: &kube::Client,
    table: &str,
    addrs: &mut EndpointAddrs,
    services: usize,
    endpoints: usize,
    changes: usize,
) -> anyhow::Result<RulesOutcome> {
    let mut monitor = Monitor::start(table).await?;
    let result = measure_with(client, &mut monitor, addrs, services, endpoints, changes).await;
    let lines = monitor.with(|m| m.lines).unwrap_or(0);
    monitor.stop().await;
    result.map(|mut r| {
        r.monitor_lines = lines;
        r
    })
}

async fn measure_with(
    client: &kube::Client,
    monitor: &mut Monitor,
    addrs: &mut EndpointAddrs,
    services: usize,
    endpoints: usize,
    changes: usize,
) -> anyhow::Result<RulesOutcome> {
    let svcs: Api<Service> = Api::namespaced(client.clone(), NAMESPACE);
    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), NAMESPACE);

    let mut planned = Vec::with_capacity(services);
    for i in 0..services {
        let eps: Vec<Ipv4Addr> = addrs.by_ref().take(endpoints).collect();
        anyhow::ensure!(
            eps.len() == endpoints,
            "the cluster range has too few addresses for the endpoints"
        );
        planned.push((service_name(i), eps));
    }
    info!(
        services,
        endpoints, "bench net: loading Services and EndpointSlices"
    );
    let started = Instant::now();
    let creates = planned.into_iter().map(|(name, eps)| {
        let svcs = svcs.clone();
        let slices = slices.clone();
        async move {
            create_slice(&slices, &name, &eps).await?;
            let ip = create_service(&svcs, &name).await?;
            anyhow::Ok(Svc {
                name,
                ip,
                endpoints: eps,
            })
        }
    });
    let created: Vec<anyhow::Result<Svc>> = futures::stream::iter(creates)
        .buffer_unordered(LOAD_CONCURRENCY)
        .collect()
        .await;
    let mut loaded = Vec::with_capacity(services);
    for s in created {
        loaded.push(s?);
    }
    loaded.sort_by_key(|s| {
        s.name
            .trim_start_matches("svc-")
            .parse::<usize>()
            .unwrap_or(0)
    });
    let want: Vec<Ipv4Addr> = loaded
        .iter()
        .flat_map(|s| std::iter::once(s.ip).chain(s.endpoints.iter().copied()))
        .collect();
    let bound = Duration::from_secs(60) + Duration::from_millis(10 * want.len() as u64);
    let last = monitor
        .wait_all(&want, bound)
        .await
        .context("the Services' rules")?;
    let load = last.saturating_duration_since(started);
    info!(load = ?load, "bench net: all Services' rules in place");

    let cycles = changes.div_ceil(4).max(1);
    let mut samples: Vec<(Change, Duration)> = Vec::with_capacity(cycles * 4);
    let mut missed = 0;
    for c in 0..cycles {
        // Create a Service (its slice first: the Service's rules appear
        // with it).
        let name = format!("churn-{c}");
        let eps: Vec<Ipv4Addr> = addrs.by_ref().take(endpoints).collect();
        create_slice(&slices, &name, &eps).await?;
        let t0 = Instant::now();
        let ip = create_service(&svcs, &name).await?;
        record(
            &mut samples,
            &mut missed,
            Change::CreateService,
            t0,
            monitor.wait_for(ip, true, t0, CHANGE_TIMEOUT).await?,
        );

        // Add an endpoint to one of the N, then remove it.
        let target = &mut loaded[c % services];
        let extra = addrs.next().context("the cluster range is used up")?;
        target.endpoints.push(extra);
        let t0 = Instant::now();
        patch_endpoints(&slices, &target.name, &target.endpoints).await?;
        record(
            &mut samples,
            &mut missed,
            Change::AddEndpoint,
            t0,
            monitor.wait_for(extra, true, t0, CHANGE_TIMEOUT).await?,
        );
        target.endpoints.pop();
        let t0 = Instant::now();
        patch_endpoints(&slices, &target.name, &target.endpoints).await?;
        record(
            &mut samples,
            &mut missed,
            Change::RemoveEndpoint,
            t0,
            monitor.wait_for(extra, false, t0, CHANGE_TIMEOUT).await?,
        );

        // Delete the Service made above, then its slice (not timed).
        let t0 = Instant::now();
        svcs.delete(&name, &DeleteParams::default())
            .await
            .with_context(|| format!("cannot delete the Service {name}"))?;
        record(
            &mut samples,
            &mut missed,
            Change::DeleteService,
            t0,
            monitor.wait_for(ip, false, t0, CHANGE_TIMEOUT).await?,
        );
        slices
            .delete(&slice_name(&name), &DeleteParams::default())
            .await
            .with_context(|| format!("cannot delete the EndpointSlice of {name}"))?;
    }
    anyhow::ensure!(
        !samples.is_empty(),
        "no change showed in the table within {CHANGE_TIMEOUT:?}"
    );
    let by_kind = Change::ALL
        .iter()
        .map(|k| {
            let of: Vec<Duration> = samples
                .iter()
                .filter(|(kind, _)| kind == k)
                .map(|(_, d)| *d)
                .collect();
            (*k, Percentiles::of(of))
        })
        .collect();
    Ok(RulesOutcome {
        services,
        endpoints,
        load,
        all: Percentiles::of(samples.iter().map(|(_, d)| *d).collect()),
        by_kind,
        missed,
        monitor_lines: 0,
    })
}

fn record(
    samples: &mut Vec<(Change, Duration)>,
    missed: &mut usize,
    kind: Change,
    sent: Instant,
    seen: Option<Instant>,
) {
    match seen {
        Some(t) => samples.push((kind, t.saturating_duration_since(sent))),
        None => *missed += 1,
    }
}

fn slice_name(service: &str) -> String {
    format!("{service}-bench")
}

/// A Service without a selector, port 80 named `http` to 8080; its
/// ClusterIP.
async fn create_service(svcs: &Api<Service>, name: &str) -> anyhow::Result<Ipv4Addr> {
    let svc: Service = serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {LABEL_KEY: "net"}},
        "spec": {
            "ports": [{"name": PORT_NAME, "port": 80, "targetPort": 8080, "protocol": "TCP"}],
        },
    }))?;
    let created = svcs
        .create(&PostParams::default(), &svc)
        .await
        .with_context(|| format!("cannot create the Service {name}"))?;
    created
        .spec
        .as_ref()
        .and_then(|s| s.cluster_ip.as_deref())
        .and_then(|ip| ip.parse().ok())
        .with_context(|| format!("the Service {name} got no IPv4 ClusterIP"))
}

fn slice_body(service: &str, eps: &[Ipv4Addr]) -> serde_json::Value {
    let endpoints: Vec<serde_json::Value> = eps
        .iter()
        .map(|ip| {
            json!({
                "addresses": [ip.to_string()],
                "conditions": {"ready": true, "serving": true, "terminating": false},
            })
        })
        .collect();
    json!({
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": slice_name(service),
            "labels": {
                "kubernetes.io/service-name": service,
                "endpointslice.kubernetes.io/managed-by": "rkube-bench",
                LABEL_KEY: "net",
            },
        },
        "addressType": "IPv4",
        "ports": [{"name": PORT_NAME, "port": 8080, "protocol": "TCP"}],
        "endpoints": endpoints,
    })
}

async fn create_slice(
    slices: &Api<EndpointSlice>,
    service: &str,
    eps: &[Ipv4Addr],
) -> anyhow::Result<()> {
    let slice: EndpointSlice = serde_json::from_value(slice_body(service, eps))?;
    slices
        .create(&PostParams::default(), &slice)
        .await
        .with_context(|| format!("cannot create the EndpointSlice of {service}"))?;
    Ok(())
}

/// Replace the slice's endpoints (a merge patch replaces the list whole).
async fn patch_endpoints(
    slices: &Api<EndpointSlice>,
    service: &str,
    eps: &[Ipv4Addr],
) -> anyhow::Result<()> {
    let body = slice_body(service, eps);
    let patch = json!({"endpoints": body["endpoints"]});
    slices
        .patch(
            &slice_name(service),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
        .with_context(|| format!("cannot change the EndpointSlice of {service}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_name_their_service_and_every_endpoint() {
        let eps = [Ipv4Addr::new(10, 212, 1, 1), Ipv4Addr::new(10, 212, 1, 2)];
        let body = slice_body("svc-3", &eps);
        assert_eq!(
            body["metadata"]["labels"]["kubernetes.io/service-name"],
            "svc-3"
        );
        assert_eq!(body["endpoints"][1]["addresses"][0], "10.212.1.2");
        assert_eq!(body["ports"][0]["name"], PORT_NAME);
        let slice: EndpointSlice = serde_json::from_value(body).expect("a valid EndpointSlice");
        assert_eq!(slice.endpoints.map(|e| e.len()), Some(2));
    }
}
