//! [`Usage`]: the CPU and memory figures of a container, a pod or a node,
//! and how the Metrics API writes them — CPU in cores as a decimal
//! quantity (`12345n`, `250m`, `2`), memory in bytes as a binary one
//! (`65536Ki`, `64Mi`, or plain bytes when no power of 1024 divides it),
//! the canonical forms metrics-server's `resource.Quantity`s take.

use std::ops::Add;

use rkube_apimachinery::quantity::parse_milli;
use serde_json::{json, Value};

/// CPU (nanocores) and memory (working-set bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub cpu_nanos: u64,
    pub memory_bytes: u64,
}

impl Add for Usage {
    type Output = Usage;
    fn add(self, o: Usage) -> Usage {
        Usage {
            cpu_nanos: self.cpu_nanos.saturating_add(o.cpu_nanos),
            memory_bytes: self.memory_bytes.saturating_add(o.memory_bytes),
        }
    }
}

impl Usage {
    /// The `usage` map of a metrics object.
    pub fn to_json(self) -> Value {
        json!({"cpu": cpu_quantity(self.cpu_nanos), "memory": memory_quantity(self.memory_bytes)})
    }
}

/// A CPU quantity (`"250m"`, `"1.5"`) in nanocores; `None` when it is not
/// a quantity or is negative.
pub fn parse_cpu_nanos(s: &str) -> Option<u64> {
    let milli = parse_milli(s)?;
    u64::try_from(milli.checked_mul(1_000_000)?).ok()
}

/// A memory quantity (`"64Mi"`, `"1G"`) in bytes (rounded up); `None`
/// when it is not a quantity or is negative.
pub fn parse_bytes(s: &str) -> Option<u64> {
    let milli = parse_milli(s)?;
    u64::try_from((milli + 999).div_euclid(1000)).ok()
}

/// Nanocores as the decimal quantity in canonical form: the largest
/// SI suffix (a power of 1000) that keeps the number whole.
pub fn cpu_quantity(nanos: u64) -> String {
    if nanos == 0 {
        return "0".into();
    }
    const SUFFIXES: [&str; 7] = ["n", "u", "m", "", "k", "M", "G"];
    let (mut v, mut i) = (nanos, 0);
    while v % 1000 == 0 && i + 1 < SUFFIXES.len() {
        v /= 1000;
        i += 1;
    }
    format!("{v}{}", SUFFIXES[i])
}

/// Bytes as the binary quantity in canonical form: the largest power of
/// 1024 that divides it exactly (`Ki`, `Mi`, ...); values below 1024 or
/// that no power divides are plain bytes.
pub fn memory_quantity(bytes: u64) -> String {
    if bytes < 1024 {
        return bytes.to_string();
    }
    const SUFFIXES: [&str; 7] = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];
    let (mut v, mut i) = (bytes, 0);
    while v % 1024 == 0 && i + 1 < SUFFIXES.len() {
        v /= 1024;
        i += 1;
    }
    format!("{v}{}", SUFFIXES[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_is_written_in_the_largest_whole_unit() {
        assert_eq!(cpu_quantity(0), "0");
        assert_eq!(cpu_quantity(12_345), "12345n");
        assert_eq!(cpu_quantity(12_345_000), "12345u");
        assert_eq!(cpu_quantity(250_000_000), "250m");
        assert_eq!(cpu_quantity(2_000_000_000), "2");
        assert_eq!(cpu_quantity(1_500_000_001), "1500000001n");
    }

    #[test]
    fn memory_is_written_in_the_largest_dividing_power_of_1024() {
        assert_eq!(memory_quantity(0), "0");
        assert_eq!(memory_quantity(1000), "1000");
        assert_eq!(memory_quantity(1536), "1536");
        assert_eq!(memory_quantity(7_340_032), "7Mi");
        assert_eq!(memory_quantity(7_188 * 1024), "7188Ki");
        assert_eq!(memory_quantity(1_000_000), "1000000");
    }

    #[test]
    fn quantities_parse_to_nanocores_and_bytes() {
        assert_eq!(parse_cpu_nanos("250m"), Some(250_000_000));
        assert_eq!(parse_cpu_nanos("1.5"), Some(1_500_000_000));
        assert_eq!(parse_cpu_nanos("-1"), None);
        assert_eq!(parse_cpu_nanos("lots"), None);
        assert_eq!(parse_bytes("64Mi"), Some(64 << 20));
        assert_eq!(parse_bytes("1G"), Some(1_000_000_000));
        assert_eq!(parse_bytes("1.5"), Some(2));
    }
}
