//! Where a simulated node is on the network: its `InternalIP` and the
//! range its pods' IPs come from.

/// `InternalIP` of node `i`.
pub(crate) fn node_ip(i: u32) -> String {
    format!("10.0.{}.{}", i / 250, i % 250 + 2)
}

/// The pod CIDR of node `i`: a /24 out of 10.64.0.0/10.
pub(crate) fn pod_cidr_base(i: u32) -> (u32, u32) {
    (64 + i / 256, i % 256)
}
