//! [`EvictionThresholds`]: the hard eviction thresholds (the kubelet's
//! `--eviction-hard`), with the kubelet's defaults.

use std::fmt;
use std::str::FromStr;

/// When the node is under pressure: below these, pods are evicted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EvictionThresholds {
    /// `memory.available`, in bytes.
    pub memory_available: u64,
    /// `nodefs.available`, percent of the node filesystem.
    pub nodefs_available_percent: u64,
    /// `nodefs.inodesFree`, percent of its inodes.
    pub nodefs_inodes_free_percent: u64,
    /// `imagefs.available`, percent of the image filesystem.
    pub imagefs_available_percent: u64,
}

impl Default for EvictionThresholds {
    /// `memory.available<100Mi,nodefs.available<10%,nodefs.inodesFree<5%,imagefs.available<15%`.
    fn default() -> Self {
        EvictionThresholds {
            memory_available: 100 << 20,
            nodefs_available_percent: 10,
            nodefs_inodes_free_percent: 5,
            imagefs_available_percent: 15,
        }
    }
}

impl fmt::Display for EvictionThresholds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "memory.available<{}Mi,nodefs.available<{}%,nodefs.inodesFree<{}%,imagefs.available<{}%",
            self.memory_available >> 20,
            self.nodefs_available_percent,
            self.nodefs_inodes_free_percent,
            self.imagefs_available_percent
        )
    }
}

fn percent(signal: &str, value: &str) -> Result<u64, String> {
    value
        .strip_suffix('%')
        .and_then(|n| n.parse::<u64>().ok())
        .filter(|n| *n <= 100)
        .ok_or_else(|| format!("{signal}: {value:?} is not a percentage (like 10%)"))
}

fn bytes(signal: &str, value: &str) -> Result<u64, String> {
    let (digits, unit) = value
        .find(|c: char| !c.is_ascii_digit())
        .map_or((value, ""), |i| value.split_at(i));
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{signal}: {value:?} is not a quantity (like 100Mi)"))?;
    let scale: u64 = match unit {
        "" => 1,
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        "k" => 1_000,
        "M" => 1_000_000,
        "G" => 1_000_000_000,
        _ => {
            return Err(format!(
                "{signal}: {value:?} is not a quantity (like 100Mi)"
            ))
        }
    };
    n.checked_mul(scale)
        .ok_or_else(|| format!("{signal}: {value:?} is too large"))
}

impl FromStr for EvictionThresholds {
    type Err = String;

    /// The kubelet's syntax, `signal<value` separated by commas; signals
    /// not named keep their defaults.
    fn from_str(s: &str) -> Result<Self, String> {
        let mut t = EvictionThresholds::default();
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (signal, value) = item.split_once('<').ok_or_else(|| {
                format!("{item:?}: expected SIGNAL<VALUE (like nodefs.available<10%)")
            })?;
            match signal {
                "memory.available" => t.memory_available = bytes(signal, value)?,
                "nodefs.available" => t.nodefs_available_percent = percent(signal, value)?,
                "nodefs.inodesFree" => t.nodefs_inodes_free_percent = percent(signal, value)?,
                "imagefs.available" => t.imagefs_available_percent = percent(signal, value)?,
                other => {
                    return Err(format!(
                        "{other:?} is not a supported eviction signal (memory.available, nodefs.available, nodefs.inodesFree, imagefs.available)"
                    ))
                }
            }
        }
        Ok(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kubelet_syntax_parses_and_keeps_defaults() {
        let t: EvictionThresholds = "nodefs.available<1%, imagefs.available<2%"
            .parse()
            .expect("parses");
        assert_eq!(t.nodefs_available_percent, 1);
        assert_eq!(t.imagefs_available_percent, 2);
        assert_eq!(t.memory_available, 100 << 20);
        assert_eq!(
            "memory.available<1Gi"
                .parse::<EvictionThresholds>()
                .expect("parses")
                .memory_available,
            1 << 30
        );
        assert_eq!(
            EvictionThresholds::default()
                .to_string()
                .parse::<EvictionThresholds>(),
            Ok(EvictionThresholds::default())
        );
        for bad in [
            "nodefs.available=10%",
            "nodefs.available<ten",
            "memory.available<5%",
            "cpu<1",
        ] {
            assert!(bad.parse::<EvictionThresholds>().is_err(), "{bad}");
        }
    }
}
