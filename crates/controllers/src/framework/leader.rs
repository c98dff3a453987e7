//! Leader election through a `coordination.k8s.io/v1` Lease, as client-go's
//! leaderelection: a candidate takes the Lease when it is free or its
//! holder stopped renewing it for `lease_duration`, then renews it every
//! `retry_period`; a leader that cannot renew for `renew_deadline` stops
//! leading. Every write carries the Lease's resourceVersion, so two
//! candidates never both win.

use std::future::Future;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};
use kube::Client;
use serde_json::json;
use tracing::{debug, info, warn};

/// Where the Lease is and how long leadership lasts.
#[derive(Clone, Debug)]
pub struct LeaderConfig {
    pub namespace: String,
    pub name: String,
    /// This candidate's name (unique: host and pid, say).
    pub identity: String,
    pub lease_duration: Duration,
    pub renew_deadline: Duration,
    pub retry_period: Duration,
}

impl LeaderConfig {
    /// kube-controller-manager's Lease and timings (15 s / 10 s / 2 s).
    pub fn controller_manager(identity: String) -> Self {
        LeaderConfig {
            namespace: "kube-system".into(),
            name: "kube-controller-manager".into(),
            identity,
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

/// Why leading stopped.
#[derive(Debug, thiserror::Error)]
pub enum LeaderError {
    #[error("lost the lease {0}: it could not be renewed in time")]
    Lost(String),
}

enum Attempt {
    Won,
    Held(String),
}

fn now() -> MicroTime {
    MicroTime(Timestamp::now())
}

async fn try_acquire(api: &Api<Lease>, cfg: &LeaderConfig) -> Result<Attempt, kube::Error> {
    let existing = api.get_opt(&cfg.name).await?;
    let Some(mut lease) = existing else {
        let lease: Lease = serde_json::from_value(json!({
            "metadata": {"name": cfg.name, "namespace": cfg.namespace},
            "spec": {
                "holderIdentity": cfg.identity,
                "leaseDurationSeconds": cfg.lease_duration.as_secs(),
                "acquireTime": now(),
                "renewTime": now(),
                "leaseTransitions": 0,
            },
        }))
        .map_err(kube::Error::SerdeError)?;
        return api
            .create(&PostParams::default(), &lease)
            .await
            .map(|_| Attempt::Won);
    };
    let spec = lease.spec.clone().unwrap_or_default();
    let holder = spec.holder_identity.clone().unwrap_or_default();
    let duration = i64::from(spec.lease_duration_seconds.unwrap_or(15));
    let renewed = spec
        .renew_time
        .as_ref()
        .map(|t| t.0.as_second())
        .unwrap_or(0);
    let expired = Timestamp::now().as_second() > renewed + duration;
    if holder != cfg.identity && !holder.is_empty() && !expired {
        return Ok(Attempt::Held(holder));
    }
    let mut new_spec = spec;
    if holder != cfg.identity {
        new_spec.acquire_time = Some(now());
        new_spec.lease_transitions = Some(new_spec.lease_transitions.unwrap_or(0) + 1);
    }
    new_spec.holder_identity = Some(cfg.identity.clone());
    new_spec.lease_duration_seconds = Some(cfg.lease_duration.as_secs() as i32);
    new_spec.renew_time = Some(now());
    lease.spec = Some(new_spec);
    api.replace(&cfg.name, &PostParams::default(), &lease)
        .await
        .map(|_| Attempt::Won)
}

/// Waits to become leader, then runs `work` while leading. Returns what
/// `work` returns, or `Lost` as soon as the lease could not be renewed
/// (`work` is dropped then; it must not leave tasks behind).
pub async fn run_while_leader<F: Future>(
    client: Client,
    cfg: LeaderConfig,
    work: F,
) -> Result<F::Output, LeaderError> {
    let api: Api<Lease> = Api::namespaced(client, &cfg.namespace);
    let mut announced = false;
    loop {
        match try_acquire(&api, &cfg).await {
            Ok(Attempt::Won) => break,
            Ok(Attempt::Held(holder)) => {
                if !announced {
                    info!(lease = %cfg.name, %holder, identity = %cfg.identity, "another candidate leads; waiting");
                    announced = true;
                }
            }
            Err(error) => debug!(lease = %cfg.name, %error, "cannot take the lease yet"),
        }
        tokio::time::sleep(cfg.retry_period).await;
    }
    info!(lease = %cfg.name, identity = %cfg.identity, "became leader");
    let renew = async {
        let mut last_ok = Instant::now();
        loop {
            tokio::time::sleep(cfg.retry_period).await;
            match try_acquire(&api, &cfg).await {
                Ok(Attempt::Won) => last_ok = Instant::now(),
                Ok(Attempt::Held(holder)) => {
                    warn!(lease = %cfg.name, %holder, "the lease was taken over");
                    return;
                }
                Err(error) => debug!(lease = %cfg.name, %error, "renewal failed"),
            }
            if last_ok.elapsed() > cfg.renew_deadline {
                return;
            }
        }
    };
    tokio::select! {
        out = work => Ok(out),
        _ = renew => Err(LeaderError::Lost(cfg.name.clone())),
    }
}
