//! Liveness, readiness and startup probes, as the kubelet's prober: one
//! task per running container with probes. The startup probe runs first
//! and gates the other two; liveness and readiness then run side by side.
//! Kubernetes' defaults: period 10 s, timeout 1 s, failureThreshold 3,
//! successThreshold 1, initialDelay 0. Each failure is an `Unhealthy`
//! event; results go to the worker's [`ProbeResults`], and the worker is
//! woken when they change.
//!
//! - `check.rs`: one exec, httpGet, tcpSocket or grpc check;
//! - `http.rs`: the HTTP GET (probes and hooks); `grpc.rs`: the health call.

pub mod check;
pub mod grpc;
pub mod http;

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, Pod, Probe};
use tokio::sync::Notify;

use crate::kubelet::pods::context::Context;
use crate::kubelet::pods::view::{ProbeResults, ProbeState};

/// A probe's timing, with Kubernetes' defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    pub initial_delay: Duration,
    pub period: Duration,
    pub timeout: Duration,
    pub failure_threshold: u32,
    pub success_threshold: u32,
}

fn secs(v: Option<i32>, default: u64, min: u64) -> Duration {
    Duration::from_secs(v.map(|v| v.max(0) as u64).unwrap_or(default).max(min))
}

impl Timing {
    pub fn of(p: &Probe) -> Self {
        Timing {
            initial_delay: secs(p.initial_delay_seconds, 0, 0),
            period: secs(p.period_seconds, 10, 1),
            timeout: secs(p.timeout_seconds, 1, 1),
            failure_threshold: p.failure_threshold.map(|v| v.max(1) as u32).unwrap_or(3),
            success_threshold: p.success_threshold.map(|v| v.max(1) as u32).unwrap_or(1),
        }
    }
}

/// Which probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Liveness,
    Readiness,
    Startup,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Liveness => "Liveness",
            Kind::Readiness => "Readiness",
            Kind::Startup => "Startup",
        }
    }
}

/// The probe results before the first probe ran.
pub fn initial_state(c: &Container) -> ProbeState {
    ProbeState {
        started: c.startup_probe.is_none(),
        ready: false,
        liveness_failed: false,
        startup_failed: false,
    }
}

/// Whether the container has any probe.
pub fn has_probes(c: &Container) -> bool {
    c.liveness_probe.is_some() || c.readiness_probe.is_some() || c.startup_probe.is_some()
}

/// One container's prober.
pub struct Prober {
    pub ctx: Arc<Context>,
    pub pod: Pod,
    pub container: Container,
    pub container_id: String,
    /// Where httpGet, tcpSocket and grpc probes go: the pod's IP, or the
    /// host's with `hostNetwork`.
    pub ip: IpAddr,
    pub results: Arc<Mutex<ProbeResults>>,
    pub wake: Arc<Notify>,
}

impl Prober {
    fn update(&self, f: impl FnOnce(&mut ProbeState)) {
        let changed = match self.results.lock() {
            Ok(mut r) => {
                let state = r
                    .entry(self.container_id.clone())
                    .or_insert_with(|| initial_state(&self.container));
                let before = state.clone();
                f(state);
                *state != before
            }
            Err(_) => false,
        };
        if changed {
            self.wake.notify_one();
        }
    }

    async fn check(&self, kind: Kind, probe: &Probe, timing: &Timing) -> Result<(), String> {
        let result = check::run(
            &self.ctx,
            &self.container,
            &self.container_id,
            probe,
            self.ip,
            timing.timeout,
        )
        .await;
        crate::server::stats::probes::record(
            kind.name(),
            result.is_ok(),
            &self.container.name,
            &self.pod,
        );
        if let Err(output) = &result {
            self.ctx.warning(
                &self.pod,
                "Unhealthy",
                &format!("{} probe failed: {output}", kind.name()),
            );
        }
        result
    }

    /// Run the probes until the container's prober is dropped (aborted).
    pub async fn run(self) {
        if let Some(probe) = self.container.startup_probe.clone() {
            let timing = Timing::of(&probe);
            tokio::time::sleep(timing.initial_delay).await;
            let mut failures = 0;
            loop {
                match self.check(Kind::Startup, &probe, &timing).await {
                    Ok(()) => {
                        self.update(|s| s.started = true);
                        break;
                    }
                    Err(_) => {
                        failures += 1;
                        if failures >= timing.failure_threshold {
                            self.update(|s| s.startup_failed = true);
                            return;
                        }
                    }
                }
                tokio::time::sleep(timing.period).await;
            }
        }
        let liveness = async {
            let Some(probe) = self.container.liveness_probe.clone() else {
                return;
            };
            let timing = Timing::of(&probe);
            tokio::time::sleep(timing.initial_delay).await;
            let mut failures = 0;
            loop {
                match self.check(Kind::Liveness, &probe, &timing).await {
                    Ok(()) => failures = 0,
                    Err(_) => {
                        failures += 1;
                        if failures >= timing.failure_threshold {
                            self.update(|s| s.liveness_failed = true);
                            return;
                        }
                    }
                }
                tokio::time::sleep(timing.period).await;
            }
        };
        let readiness = async {
            let Some(probe) = self.container.readiness_probe.clone() else {
                return;
            };
            let timing = Timing::of(&probe);
            tokio::time::sleep(timing.initial_delay).await;
            let (mut successes, mut failures) = (0, 0);
            loop {
                match self.check(Kind::Readiness, &probe, &timing).await {
                    Ok(()) => {
                        failures = 0;
                        successes += 1;
                        if successes >= timing.success_threshold {
                            self.update(|s| s.ready = true);
                        }
                    }
                    Err(_) => {
                        successes = 0;
                        failures += 1;
                        if failures >= timing.failure_threshold {
                            self.update(|s| s.ready = false);
                        }
                    }
                }
                tokio::time::sleep(timing.period).await;
            }
        };
        tokio::join!(liveness, readiness);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubernetes_defaults() {
        let t = Timing::of(&Probe::default());
        assert_eq!(
            t,
            Timing {
                initial_delay: Duration::ZERO,
                period: Duration::from_secs(10),
                timeout: Duration::from_secs(1),
                failure_threshold: 3,
                success_threshold: 1,
            }
        );
        let t = Timing::of(&Probe {
            period_seconds: Some(2),
            failure_threshold: Some(1),
            initial_delay_seconds: Some(5),
            ..Probe::default()
        });
        assert_eq!(t.period, Duration::from_secs(2));
        assert_eq!(t.failure_threshold, 1);
        assert_eq!(t.initial_delay, Duration::from_secs(5));
    }
}
