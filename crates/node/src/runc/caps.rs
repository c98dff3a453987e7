//! A container's capability set: containerd's 14 defaults, every
//! capability for privileged containers, then the pod spec's `drop` and
//! `add` (`ALL` allowed in both), as containerd applies them.

use oci_spec::runtime::{Capabilities, Capability};
use rkube_cri::{CriError, SecurityConfig};

/// containerd's default set (`pkg/oci/spec.go`).
const DEFAULTS: [&str; 14] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "FSETID",
    "FOWNER",
    "MKNOD",
    "NET_RAW",
    "SETGID",
    "SETUID",
    "SETFCAP",
    "SETPCAP",
    "NET_BIND_SERVICE",
    "SYS_CHROOT",
    "KILL",
    "AUDIT_WRITE",
];

/// Every capability the kernel knows (through CAP_CHECKPOINT_RESTORE).
const ALL: [&str; 41] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

/// The capabilities this process may hand on (its bounding set): `ALL`
/// and privileged mean these, as containerd's "all current capabilities"
/// (asking runc for more fails).
fn current() -> Vec<&'static str> {
    let bounding = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status.lines().find_map(|l| {
                l.strip_prefix("CapBnd:")
                    .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
            })
        })
        .unwrap_or(u64::MAX);
    ALL.iter()
        .enumerate()
        .filter(|(bit, _)| bounding & (1u64 << bit) != 0)
        .map(|(_, name)| *name)
        .collect()
}

/// Parse `NET_ADMIN` or `CAP_NET_ADMIN` (any case).
fn parse(name: &str) -> Result<Capability, CriError> {
    serde_json::from_value(serde_json::Value::String(name.to_string()))
        .map_err(|_| CriError::InvalidConfig(format!("unknown capability {name:?}")))
}

fn is_all(name: &str) -> bool {
    name.eq_ignore_ascii_case("ALL")
}

/// The effective, bounding and permitted set of the container.
pub(crate) fn capabilities(security: &SecurityConfig) -> Result<Capabilities, CriError> {
    let mut set = Capabilities::new();
    let all = current();
    let base: &[&str] = if security.privileged { &all } else { &DEFAULTS };
    for name in base {
        set.insert(parse(name)?);
    }
    if security.privileged {
        return Ok(set);
    }
    let add = &security.capabilities.add;
    let drop = &security.capabilities.drop;
    if add.iter().any(|c| is_all(c)) {
        for name in &all {
            set.insert(parse(name)?);
        }
    }
    if drop.iter().any(|c| is_all(c)) {
        set.clear();
    }
    for name in drop.iter().filter(|c| !is_all(c)) {
        set.remove(&parse(name)?);
    }
    for name in add.iter().filter(|c| !is_all(c)) {
        set.insert(parse(name)?);
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rkube_cri::Capabilities as CriCaps;

    fn with(add: &[&str], drop: &[&str]) -> SecurityConfig {
        SecurityConfig {
            capabilities: CriCaps {
                add: add.iter().map(|s| s.to_string()).collect(),
                drop: drop.iter().map(|s| s.to_string()).collect(),
            },
            ..Default::default()
        }
    }

    #[test]
    fn defaults_then_add_and_drop() {
        assert_eq!(capabilities(&with(&[], &[])).expect("test").len(), 14);
        let set = capabilities(&with(&["NET_ADMIN"], &["KILL", "CAP_CHOWN"])).expect("test");
        assert_eq!(set.len(), 13);
        assert!(set.contains(&Capability::NetAdmin));
        assert!(!set.contains(&Capability::Kill));
        assert!(!set.contains(&Capability::Chown));
    }

    #[test]
    fn drop_all_keeps_only_added() {
        let set = capabilities(&with(&["NET_BIND_SERVICE"], &["ALL"])).expect("test");
        assert_eq!(
            set.into_iter().collect::<Vec<_>>(),
            vec![Capability::NetBindService]
        );
    }

    #[test]
    fn add_all_and_privileged_give_every_current_capability() {
        let all = current().len();
        assert!(all > 14);
        assert_eq!(capabilities(&with(&["ALL"], &[])).expect("test").len(), all);
        let privileged = SecurityConfig {
            privileged: true,
            ..Default::default()
        };
        assert_eq!(capabilities(&privileged).expect("test").len(), all);
    }

    #[test]
    fn unknown_names_are_refused() {
        assert!(capabilities(&with(&["NOPE"], &[])).is_err());
    }
}
