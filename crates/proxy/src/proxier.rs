//! [`Proxier`]: the change tracker and the host together — a sync plans
//! one transaction, applies it with one `nft -f -`, and on success records
//! it, deletes stale UDP conntrack entries and updates the health checks.
//! Fed Service and EndpointSlice objects by the watchers ([`crate::run`])
//! or directly (tests without an API server).

use std::net::IpAddr;
use std::time::{Duration, Instant, SystemTime};

use tracing::{debug, info, warn};

use crate::base::BaseConfig;
use crate::endpoints::Admission;
use crate::error::ProxyError;
use crate::healthcheck::HealthServers;
use crate::host::Host;
use crate::metrics::metrics;
use crate::tracker::Tracker;
use crate::transaction::delete_chains_script;
use crate::ProxyConfig;

/// How long a flushed chain waits before it is deleted (kube-proxy's: the
/// kernel may still see it referenced for a moment after its map element
/// went).
pub const STALE_CHAIN_AGE: Duration = Duration::from_secs(1);

/// What one sync did.
#[derive(Clone, Debug)]
pub struct SyncReport {
    /// The whole table was rebuilt.
    pub full: bool,
    /// The transaction applied (empty: nothing changed).
    pub script: String,
    /// The whole sync.
    pub duration: Duration,
    /// Computing the transaction.
    pub plan_duration: Duration,
    /// `nft -f` alone.
    pub apply_duration: Duration,
}

/// See the module's docs.
pub struct Proxier {
    table: String,
    bridge: String,
    host: Host,
    tracker: Tracker,
    health: HealthServers,
}

impl Proxier {
    /// A proxier for `config` programming `host`, serving health checks on
    /// `health_bind`.
    pub fn new(config: &ProxyConfig, host: Host, health_bind: IpAddr) -> Proxier {
        let base = BaseConfig {
            table: config.table.clone(),
            bridge: config.bridge.clone(),
            cluster_cidr: config.cluster_cidr,
        };
        let node_ip = match config.node_ip {
            IpAddr::V4(ip) => Some(ip),
            IpAddr::V6(_) => None,
        };
        let admission = Admission::new(&config.node_name, config.cluster_cidr, node_ip);
        Proxier {
            table: config.table.clone(),
            bridge: config.bridge.clone(),
            host,
            tracker: Tracker::new(base, admission),
            health: HealthServers::new(health_bind),
        }
    }

    /// The change tracker, to feed it objects.
    pub fn tracker(&mut self) -> &mut Tracker {
        &mut self.tracker
    }

    /// The tracker, to read it.
    pub fn tracker_ref(&self) -> &Tracker {
        &self.tracker
    }

    /// The health check servers (tests).
    pub fn health(&self) -> &HealthServers {
        &self.health
    }

    /// Lets the pods' bridge carry traffic DNATed to loopback (the
    /// `kubernetes` Service's endpoint is 127.0.0.1 by default):
    /// `route_localnet=1` on that bridge alone; the table drops loopback
    /// destinations from it that no Service rule DNATed.
    pub async fn prepare(&self) -> Result<(), ProxyError> {
        self.host.route_localnet(&self.bridge).await?;
        Ok(())
    }

    /// Reads the host's addresses again (endpoints at one of them are
    /// admitted).
    pub async fn refresh_local_addresses(&mut self) -> Result<(), ProxyError> {
        let addrs = self.host.local_addresses().await?;
        self.tracker.set_local_addresses(addrs);
        Ok(())
    }

    /// Applies what changed since the last sync (everything on the first
    /// and after a failure) as one transaction.
    pub async fn sync(&mut self) -> Result<SyncReport, ProxyError> {
        let start = Instant::now();
        let plan = self.tracker.plan();
        let plan_duration = start.elapsed();
        let full = plan.full;
        let script = plan.script.clone();
        if !script.is_empty() {
            if let Err(e) = self.host.nft(&script).await {
                self.tracker.force_full();
                metrics().failures.inc();
                return Err(e.into());
            }
        }
        let apply_duration = start.elapsed() - plan_duration;
        let flushes = plan.flushes.clone();
        let triggers = plan.triggers.clone();
        self.tracker.commit(plan, Instant::now());
        let duration = start.elapsed();
        metrics().observe_sync(full, duration);
        let now = SystemTime::now();
        for t in triggers {
            if let Ok(d) = now.duration_since(t) {
                metrics().network_programming.observe(d.as_secs_f64());
            }
        }
        if full {
            info!(table = %self.table, bytes = script.len(), ?duration, "Service rules rebuilt");
        } else if !script.is_empty() {
            debug!(table = %self.table, bytes = script.len(), ?duration, "Service rules updated");
        }
        for f in flushes {
            let args = f.args();
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            if let Err(e) = self.host.conntrack(&args).await {
                warn!(error = %e, ?args, "cannot delete stale UDP conntrack entries");
            }
        }
        let checks = self.tracker.health_checks();
        self.health.sync(&checks).await;
        Ok(SyncReport {
            full,
            script,
            duration,
            plan_duration,
            apply_duration,
        })
    }

    /// When the next stale chain may be deleted.
    pub fn next_stale_deadline(&self) -> Option<Instant> {
        self.tracker.oldest_stale().map(|t| t + STALE_CHAIN_AGE)
    }

    /// Deletes chains flushed long enough ago, in a transaction of their
    /// own (a failure there does not hold up rule changes).
    pub async fn delete_stale_chains(&mut self) -> Result<usize, ProxyError> {
        let chains = self.tracker.stale_chains(Instant::now(), STALE_CHAIN_AGE);
        if chains.is_empty() {
            return Ok(0);
        }
        match self
            .host
            .nft(&delete_chains_script(&self.table, &chains))
            .await
        {
            Ok(()) => {
                self.tracker.chains_deleted(&chains);
                Ok(chains.len())
            }
            Err(e) => {
                // A full sync makes the table again from scratch.
                self.tracker.force_full();
                Err(e.into())
            }
        }
    }
}
