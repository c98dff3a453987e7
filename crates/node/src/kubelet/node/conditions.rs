//! The node's conditions from measurements, as the kubelet's eviction
//! manager and status setters report them: MemoryPressure
//! (`memory.available<100Mi`), DiskPressure (`nodefs.available<10%`,
//! `nodefs.inodesFree<5%`, `imagefs.available<15%`), PIDPressure, Ready.
//! A pressure condition stays True for the transition period (5 min) after
//! the last time the threshold was crossed, as the kubelet's does.

use std::time::{Duration, Instant};

use crate::kubelet::node::thresholds::EvictionThresholds;

/// `evictionPressureTransitionPeriod`.
pub const PRESSURE_TRANSITION: Duration = Duration::from_secs(300);

/// What the node measured, injectable for tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Measurements {
    pub memory_available: u64,
    pub memory_capacity: u64,
    pub nodefs_available: u64,
    pub nodefs_capacity: u64,
    pub nodefs_inodes_free: u64,
    pub nodefs_inodes: u64,
    pub imagefs_available: u64,
    pub imagefs_capacity: u64,
    pub pids_running: u64,
    pub pids_max: u64,
}

/// A crossed hard eviction threshold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    MemoryAvailable,
    NodeFsAvailable,
    NodeFsInodesFree,
    ImageFsAvailable,
    PidAvailable,
}

impl Signal {
    /// The resource the kubelet names in its eviction message.
    pub fn resource(self) -> &'static str {
        match self {
            Signal::MemoryAvailable => "memory",
            Signal::NodeFsAvailable | Signal::ImageFsAvailable => "ephemeral-storage",
            Signal::NodeFsInodesFree => "inodes",
            Signal::PidAvailable => "pids",
        }
    }
}

fn below_percent(available: u64, capacity: u64, percent: u64) -> bool {
    capacity > 0 && (available as u128) * 100 < (capacity as u128) * percent as u128
}

/// The thresholds crossed now, with the threshold's quantity and what is
/// available (in the signal's unit).
pub fn crossed(m: &Measurements, t: &EvictionThresholds) -> Vec<(Signal, u64, u64)> {
    let mut out = Vec::new();
    if m.memory_capacity > 0 && m.memory_available < t.memory_available {
        out.push((
            Signal::MemoryAvailable,
            t.memory_available,
            m.memory_available,
        ));
    }
    if below_percent(
        m.nodefs_available,
        m.nodefs_capacity,
        t.nodefs_available_percent,
    ) {
        out.push((
            Signal::NodeFsAvailable,
            m.nodefs_capacity * t.nodefs_available_percent / 100,
            m.nodefs_available,
        ));
    }
    if below_percent(
        m.nodefs_inodes_free,
        m.nodefs_inodes,
        t.nodefs_inodes_free_percent,
    ) {
        out.push((
            Signal::NodeFsInodesFree,
            m.nodefs_inodes * t.nodefs_inodes_free_percent / 100,
            m.nodefs_inodes_free,
        ));
    }
    if below_percent(
        m.imagefs_available,
        m.imagefs_capacity,
        t.imagefs_available_percent,
    ) {
        out.push((
            Signal::ImageFsAvailable,
            m.imagefs_capacity * t.imagefs_available_percent / 100,
            m.imagefs_available,
        ));
    }
    // Not a default kubelet threshold: PIDPressure only, no eviction.
    let pids_free = m.pids_max.saturating_sub(m.pids_running);
    if below_percent(pids_free, m.pids_max, 5) {
        out.push((Signal::PidAvailable, m.pids_max / 20, pids_free));
    }
    out
}

/// One node condition as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Condition {
    pub type_: &'static str,
    pub status: &'static str,
    pub reason: &'static str,
    pub message: &'static str,
}

/// When each pressure was last observed.
#[derive(Clone, Debug, Default)]
pub struct PressureState {
    memory: Option<Instant>,
    disk: Option<Instant>,
    pid: Option<Instant>,
}

impl PressureState {
    /// Record the signals crossed at `now`, and return the conditions.
    pub fn observe(&mut self, signals: &[Signal], now: Instant) -> Vec<Condition> {
        for s in signals {
            match s {
                Signal::MemoryAvailable => self.memory = Some(now),
                Signal::NodeFsAvailable | Signal::NodeFsInodesFree | Signal::ImageFsAvailable => {
                    self.disk = Some(now)
                }
                Signal::PidAvailable => self.pid = Some(now),
            }
        }
        let on = |t: Option<Instant>| {
            t.is_some_and(|t| now.saturating_duration_since(t) < PRESSURE_TRANSITION)
        };
        vec![
            if on(self.memory) {
                Condition {
                    type_: "MemoryPressure",
                    status: "True",
                    reason: "KubeletHasInsufficientMemory",
                    message: "kubelet has insufficient memory available",
                }
            } else {
                Condition {
                    type_: "MemoryPressure",
                    status: "False",
                    reason: "KubeletHasSufficientMemory",
                    message: "kubelet has sufficient memory available",
                }
            },
            if on(self.disk) {
                Condition {
                    type_: "DiskPressure",
                    status: "True",
                    reason: "KubeletHasDiskPressure",
                    message: "kubelet has disk pressure",
                }
            } else {
                Condition {
                    type_: "DiskPressure",
                    status: "False",
                    reason: "KubeletHasNoDiskPressure",
                    message: "kubelet has no disk pressure",
                }
            },
            if on(self.pid) {
                Condition {
                    type_: "PIDPressure",
                    status: "True",
                    reason: "KubeletHasInsufficientPID",
                    message: "kubelet has insufficient PID available",
                }
            } else {
                Condition {
                    type_: "PIDPressure",
                    status: "False",
                    reason: "KubeletHasSufficientPID",
                    message: "kubelet has sufficient PID available",
                }
            },
            Condition {
                type_: "Ready",
                status: "True",
                reason: "KubeletReady",
                message: "kubelet is posting ready status",
            },
        ]
    }
}

/// The Ready condition when the runtime does not answer: NotReady, as the
/// kubelet reports a runtime that is down.
pub fn not_ready() -> Condition {
    Condition {
        type_: "Ready",
        status: "False",
        reason: "KubeletNotReady",
        message: "container runtime is down",
    }
}

/// `conds` with Ready replaced by [`not_ready`] when `runtime_up` is false.
pub fn with_runtime(mut conds: Vec<Condition>, runtime_up: bool) -> Vec<Condition> {
    if !runtime_up {
        for c in conds.iter_mut().filter(|c| c.type_ == "Ready") {
            *c = not_ready();
        }
    }
    conds
}

#[cfg(test)]
mod tests {
    use super::*;

    fn healthy() -> Measurements {
        Measurements {
            memory_available: 2 << 30,
            memory_capacity: 4 << 30,
            nodefs_available: 50,
            nodefs_capacity: 100,
            nodefs_inodes_free: 500,
            nodefs_inodes: 1000,
            imagefs_available: 50,
            imagefs_capacity: 100,
            pids_running: 100,
            pids_max: 32768,
        }
    }

    #[test]
    fn thresholds() {
        assert!(crossed(&healthy(), &EvictionThresholds::default()).is_empty());
        let m = Measurements {
            memory_available: 50 << 20,
            ..healthy()
        };
        assert_eq!(
            crossed(&m, &EvictionThresholds::default()),
            vec![(Signal::MemoryAvailable, 100 << 20, 50 << 20)]
        );
        let m = Measurements {
            nodefs_available: 9,
            ..healthy()
        };
        assert_eq!(
            crossed(&m, &EvictionThresholds::default())[0].0,
            Signal::NodeFsAvailable
        );
        let m = Measurements {
            nodefs_available: 10,
            ..healthy()
        };
        assert!(crossed(&m, &EvictionThresholds::default()).is_empty());
        let m = Measurements {
            nodefs_inodes_free: 49,
            ..healthy()
        };
        assert_eq!(
            crossed(&m, &EvictionThresholds::default())[0].0,
            Signal::NodeFsInodesFree
        );
        let m = Measurements {
            imagefs_available: 14,
            ..healthy()
        };
        assert_eq!(
            crossed(&m, &EvictionThresholds::default())[0].0,
            Signal::ImageFsAvailable
        );
        let m = Measurements {
            pids_running: 32000,
            ..healthy()
        };
        assert_eq!(
            crossed(&m, &EvictionThresholds::default())[0].0,
            Signal::PidAvailable
        );
    }

    #[test]
    fn conditions_hold_for_the_transition_period() {
        let mut s = PressureState::default();
        let t0 = Instant::now();
        let c = s.observe(&[], t0);
        assert!(c
            .iter()
            .all(|c| c.status == if c.type_ == "Ready" { "True" } else { "False" }));
        let c = s.observe(&[Signal::MemoryAvailable, Signal::NodeFsAvailable], t0);
        assert_eq!(c[0].status, "True");
        assert_eq!(c[0].reason, "KubeletHasInsufficientMemory");
        assert_eq!(c[1].status, "True");
        assert_eq!(c[2].status, "False");
        let c = s.observe(&[], t0 + Duration::from_secs(299));
        assert_eq!(c[0].status, "True");
        let down = with_runtime(s.observe(&[], t0), false);
        assert_eq!(down[3].status, "False");
        assert_eq!(down[3].reason, "KubeletNotReady");
        let c = s.observe(&[], t0 + Duration::from_secs(301));
        assert_eq!(c[0].status, "False");
        assert_eq!(c[1].status, "False");
    }
}
