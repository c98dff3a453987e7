//! CPU and memory for the runtime as the kubelet converts them: shares
//! from the CPU request (`milliCPU × 1024 / 1000`, at least 2), a CFS
//! quota from the CPU limit over a 100 ms period (at least 1 ms), the
//! memory limit in bytes, and the OOM score adjustment of the QoS class.

use k8s_openapi::api::core::v1::{Container, Pod};
use rkube_cri::Resources;

use crate::kubelet::container::qos::oom_score_adj;
use crate::kubelet::container::quantity::{container_milli, container_value, Limit};

/// The CFS period the kubelet uses (µs).
pub const CPU_PERIOD: u64 = 100_000;
const MIN_SHARES: u64 = 2;
const MAX_SHARES: u64 = 262_144;
const MIN_QUOTA: i64 = 1000;

/// `cpu.shares` for a CPU request in thousandths.
pub fn cpu_shares(request_milli: i128) -> u64 {
    if request_milli <= 0 {
        return MIN_SHARES;
    }
    let shares = (request_milli * 1024 / 1000) as u64;
    shares.clamp(MIN_SHARES, MAX_SHARES)
}

/// The CFS quota for a CPU limit in thousandths (0: none).
pub fn cpu_quota(limit_milli: i128) -> i64 {
    if limit_milli <= 0 {
        return 0;
    }
    let quota = (limit_milli * CPU_PERIOD as i128 / 1000) as i64;
    quota.max(MIN_QUOTA)
}

/// The container's resources; `memory_capacity` is the node's memory in
/// bytes (for the OOM score of Burstable pods).
pub fn resources(pod: &Pod, c: &Container, memory_capacity: i128) -> Resources {
    // The API defaults a missing request to the limit.
    let cpu_limit = container_milli(c, Limit::Limit, "cpu").unwrap_or(0);
    let cpu_request = container_milli(c, Limit::Request, "cpu").unwrap_or(cpu_limit);
    let quota = cpu_quota(cpu_limit);
    Resources {
        cpu_shares: cpu_shares(cpu_request),
        cpu_quota: quota,
        cpu_period: if quota > 0 { CPU_PERIOD } else { 0 },
        memory_limit: container_value(c, Limit::Limit, "memory")
            .and_then(|v| i64::try_from(v).ok())
            .unwrap_or(0),
        oom_score_adj: oom_score_adj(pod, c, memory_capacity),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn conversions() {
        assert_eq!(cpu_shares(0), 2);
        assert_eq!(cpu_shares(1), 2);
        assert_eq!(cpu_shares(100), 102);
        assert_eq!(cpu_shares(1000), 1024);
        assert_eq!(cpu_quota(0), 0);
        assert_eq!(cpu_quota(1), 1000);
        assert_eq!(cpu_quota(250), 25_000);
        assert_eq!(cpu_quota(2000), 200_000);
    }

    #[test]
    fn container_resources() {
        let p: Pod = serde_json::from_value(json!({
            "metadata": {"name": "p", "uid": "u"},
            "spec": {"containers": [{"name": "c", "resources": {
                "requests": {"cpu": "500m", "memory": "64Mi"},
                "limits": {"cpu": "1", "memory": "128Mi"}}}]},
        }))
        .expect("test input");
        let r = resources(
            &p,
            &p.spec.as_ref().expect("test input").containers[0],
            1 << 30,
        );
        assert_eq!(r.cpu_shares, 512);
        assert_eq!(r.cpu_quota, 100_000);
        assert_eq!(r.cpu_period, 100_000);
        assert_eq!(r.memory_limit, 128 << 20);
        assert_eq!(r.oom_score_adj, 938);
    }
}
