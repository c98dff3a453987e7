//! The host end of a pod's veth: its name, derived from the sandbox ID
//! (what the bridge plugin and the hostPort rules both name things after).

/// Prefix of the host ends of the pods' veths.
pub const VETH_PREFIX: &str = "rkv";

/// The host end's name for `sandbox_id`: `rkv` and 8 hex digits of its
/// FNV-1a hash (stable across runs and Rust versions).
pub fn veth_name(sandbox_id: &str) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for b in sandbox_id.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    format!("{VETH_PREFIX}{h:08x}")
}
