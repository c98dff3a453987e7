//! The proxy's loop: kube-runtime watchers of Services, EndpointSlices and
//! Nodes (metadata only: which are simulated) feed the change tracker, and
//! syncs follow changes — at once when the last sync started at least
//! [`MIN_SYNC_INTERVAL`] ago, else when it has passed (kube-proxy's
//! `minSyncPeriod`, smaller), so a burst of changes becomes one
//! transaction. Nothing is written before all three watches have listed
//! once, nor while one lists again (a half-listed state would drop rules).

use std::collections::{HashMap, HashSet};
use std::pin::pin;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::Api;
use kube::core::PartialObjectMeta;
use kube::runtime::watcher::{self, watcher, Event};
use kube::runtime::WatchStreamExt;
use kube::ResourceExt;
use tokio::time::{sleep_until, Instant};
use tracing::{info, warn};

use crate::proxier::Proxier;

/// The least time between the starts of two syncs.
pub const MIN_SYNC_INTERVAL: Duration = Duration::from_millis(5);
/// How often the host's addresses are read again.
const ADDRESS_REFRESH: Duration = Duration::from_secs(30);
/// The first wait after a failed sync (doubling up to 30 s).
const RETRY_FIRST: Duration = Duration::from_millis(500);
const RETRY_MAX: Duration = Duration::from_secs(30);

/// The annotation of simulated nodes.
pub const SIMULATED_ANNOTATION: &str = "rkube.io/sim";

/// Runs until the task is dropped (or every watch ends).
pub async fn run_loop(client: kube::Client, mut proxier: Proxier) {
    let services = watcher(
        Api::<Service>::all(client.clone()),
        watcher::Config::default(),
    )
    .default_backoff();
    let slices = watcher(
        Api::<EndpointSlice>::all(client.clone()),
        watcher::Config::default(),
    )
    .default_backoff();
    let nodes = watcher(
        Api::<PartialObjectMeta<Node>>::all(client),
        watcher::Config::default(),
    )
    .default_backoff();
    let mut services = pin!(services);
    let mut slices = pin!(slices);
    let mut nodes = pin!(nodes);

    // Listed once; listing again.
    let mut listed = [false; 3];
    let mut relisting = [false; 3];
    let mut simulated: HashMap<String, bool> = HashMap::new();
    let mut node_buffer: Option<HashMap<String, bool>> = None;
    let mut last_sync = Instant::now() - MIN_SYNC_INTERVAL;
    let mut retry_after: Option<(Instant, Duration)> = None;
    let mut refresh = tokio::time::interval(ADDRESS_REFRESH);
    let far = || Instant::now() + Duration::from_secs(3600);

    loop {
        let ready = listed.iter().all(|l| *l) && !relisting.iter().any(|r| *r);
        let pending = ready && proxier.tracker_ref().pending();
        let next_sync = match retry_after {
            Some((at, _)) => at,
            None => last_sync + MIN_SYNC_INTERVAL,
        };
        let stale_at = proxier.next_stale_deadline();
        tokio::select! {
            biased;
            ev = services.next() => match ev {
                Some(Ok(ev)) => match ev {
                    Event::Init => { relisting[0] = true; proxier.tracker().forget_services(); }
                    Event::InitApply(s) | Event::Apply(s) => proxier.tracker().update_service(&s),
                    Event::Delete(s) => proxier.tracker().delete_service(
                        s.namespace().as_deref().unwrap_or_default(), &s.name_any()),
                    Event::InitDone => { relisting[0] = false; listed[0] = true; }
                },
                Some(Err(e)) => warn!(error = %e, "watching Services"),
                None => break,
            },
            ev = slices.next() => match ev {
                Some(Ok(ev)) => match ev {
                    Event::Init => { relisting[1] = true; proxier.tracker().forget_slices(); }
                    Event::InitApply(s) | Event::Apply(s) => proxier.tracker().update_slice(&s),
                    Event::Delete(s) => proxier.tracker().delete_slice(
                        s.namespace().as_deref().unwrap_or_default(), &s.name_any()),
                    Event::InitDone => { relisting[1] = false; listed[1] = true; }
                },
                Some(Err(e)) => warn!(error = %e, "watching EndpointSlices"),
                None => break,
            },
            ev = nodes.next() => match ev {
                Some(Ok(ev)) => {
                    // Node status changes come often; the simulated set is
                    // rebuilt only when a node comes, goes or changes kind.
                    let changed = match ev {
                        Event::Init => { relisting[2] = true; node_buffer = Some(HashMap::new()); false }
                        Event::InitApply(n) => {
                            let sim = is_simulated(n.annotations());
                            node_buffer.get_or_insert_with(HashMap::new).insert(n.name_any(), sim);
                            false
                        }
                        Event::Apply(n) => {
                            let sim = is_simulated(n.annotations());
                            simulated.insert(n.name_any(), sim) != Some(sim)
                        }
                        Event::Delete(n) => simulated.remove(&n.name_any()).is_some(),
                        Event::InitDone => {
                            simulated = node_buffer.take().unwrap_or_default();
                            relisting[2] = false;
                            listed[2] = true;
                            true
                        }
                    };
                    if changed {
                        let names: HashSet<String> = simulated.iter().filter(|(_, s)| **s).map(|(n, _)| n.clone()).collect();
                        proxier.tracker().set_simulated_nodes(names);
                    }
                }
                Some(Err(e)) => warn!(error = %e, "watching Nodes"),
                None => break,
            },
            _ = sleep_until(next_sync), if pending => {
                last_sync = Instant::now();
                match proxier.sync().await {
                    Ok(_) => retry_after = None,
                    Err(e) => {
                        let wait = retry_after.map(|(_, w)| (w * 2).min(RETRY_MAX)).unwrap_or(RETRY_FIRST);
                        warn!(error = %e, retry_in = ?wait, "cannot program the Service rules");
                        retry_after = Some((Instant::now() + wait, wait));
                    }
                }
            },
            _ = sleep_until(stale_at.map(Instant::from_std).unwrap_or_else(far)), if stale_at.is_some() && ready => {
                match proxier.delete_stale_chains().await {
                    Ok(n) if n > 0 => tracing::debug!(chains = n, "stale Service chains deleted"),
                    Ok(_) => {}
                    Err(e) => warn!(error = %e, "cannot delete stale Service chains (the next sync rebuilds the table)"),
                }
            },
            _ = refresh.tick() => {
                if let Err(e) = proxier.refresh_local_addresses().await {
                    warn!(error = %e, "cannot read the host's addresses");
                }
            },
        }
    }
    info!("the Service proxy's watches ended");
}

fn is_simulated(annotations: &std::collections::BTreeMap<String, String>) -> bool {
    annotations
        .get(SIMULATED_ANNOTATION)
        .is_some_and(|v| v == "true")
}
