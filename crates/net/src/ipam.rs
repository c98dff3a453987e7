//! [`Ipam`]: the node's pod addresses, as CNI's host-local plugin keeps
//! them: one file per address taken (named for the address, holding the
//! sandbox id), handed out round-robin from `.2` to `.254` after the last
//! one given, so a released address is not reused at once.
//!
//! The files are the truth: a restarted agent reads them back, so a sandbox
//! keeps its address and no address is given twice; records of sandboxes
//! that are gone are released by [`Ipam::release`] (through the plugin's
//! `gc`). A file is created with `O_EXCL`, so even two processes sharing the
//! directory cannot take the same address.

use std::collections::{BTreeMap, HashMap};
use std::io::ErrorKind;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tracing::{debug, warn};

use crate::cidr::Ipv4Cidr;
use crate::error::NetError;

const LAST_RESERVED: &str = "last_reserved_ip";

pub struct Ipam {
    dir: PathBuf,
    range: Ipv4Cidr,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    by_sandbox: HashMap<String, Ipv4Addr>,
    by_ip: BTreeMap<Ipv4Addr, String>,
    last: Option<Ipv4Addr>,
}

impl Ipam {
    /// Opens (creating it if needed) the records under `dir` for `range`.
    /// Records of addresses outside `range` (the node's range changed) and
    /// second records of one sandbox are removed.
    pub fn open(dir: &Path, range: Ipv4Cidr) -> Result<Ipam, NetError> {
        std::fs::create_dir_all(dir)
            .map_err(NetError::io(format!("creating {}", dir.display())))?;
        let mut state = State::default();
        let entries =
            std::fs::read_dir(dir).map_err(NetError::io(format!("reading {}", dir.display())))?;
        for entry in entries {
            let entry = entry.map_err(NetError::io(format!("reading {}", dir.display())))?;
            let name = entry.file_name();
            let Some(ip) = name.to_str().and_then(|n| n.parse::<Ipv4Addr>().ok()) else {
                continue;
            };
            let path = entry.path();
            let sandbox = std::fs::read_to_string(&path)
                .map_err(NetError::io(format!("reading {}", path.display())))?;
            let sandbox = sandbox.lines().next().unwrap_or("").trim().to_string();
            let usable = range.is_pod_address(ip) && !sandbox.is_empty();
            if !usable || state.by_sandbox.contains_key(&sandbox) {
                warn!(%ip, %sandbox, range = %range, "removing a stale address record");
                remove(&path)?;
                continue;
            }
            state.by_sandbox.insert(sandbox.clone(), ip);
            state.by_ip.insert(ip, sandbox);
        }
        state.last = std::fs::read_to_string(dir.join(LAST_RESERVED))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .filter(|ip| range.contains(*ip));
        Ok(Ipam {
            dir: dir.to_path_buf(),
            range,
            state: Mutex::new(state),
        })
    }

    /// The address of `sandbox`, taking the next free one if it has none.
    pub fn allocate(&self, sandbox: &str) -> Result<Ipv4Addr, NetError> {
        let mut state = self.lock();
        if let Some(ip) = state.by_sandbox.get(sandbox) {
            return Ok(*ip);
        }
        let all: Vec<Ipv4Addr> = self.range.pod_addresses().collect();
        let start = state
            .last
            .and_then(|last| all.iter().position(|ip| *ip == last))
            .map_or(0, |i| i + 1);
        for i in 0..all.len() {
            let ip = all[(start + i) % all.len()];
            if state.by_ip.contains_key(&ip) {
                continue;
            }
            let path = self.dir.join(ip.to_string());
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut f) => {
                    use std::io::Write;
                    f.write_all(format!("{sandbox}\n").as_bytes())
                        .map_err(NetError::io(format!("writing {}", path.display())))?;
                }
                // Taken by someone outside this process: leave it.
                Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(NetError::io(format!("creating {}", path.display()))(e)),
            }
            state.by_sandbox.insert(sandbox.to_string(), ip);
            state.by_ip.insert(ip, sandbox.to_string());
            state.last = Some(ip);
            let last = self.dir.join(LAST_RESERVED);
            if let Err(e) = std::fs::write(&last, ip.to_string()) {
                warn!(error = %e, path = %last.display(), "cannot record the last address given");
            }
            debug!(%ip, sandbox, "address allocated");
            return Ok(ip);
        }
        Err(NetError::Exhausted(self.range.to_string()))
    }

    /// Releases the address of `sandbox`; `None` if it had none.
    pub fn release(&self, sandbox: &str) -> Result<Option<Ipv4Addr>, NetError> {
        let mut state = self.lock();
        let Some(ip) = state.by_sandbox.get(sandbox).copied() else {
            return Ok(None);
        };
        remove(&self.dir.join(ip.to_string()))?;
        state.by_sandbox.remove(sandbox);
        state.by_ip.remove(&ip);
        debug!(%ip, sandbox, "address released");
        Ok(Some(ip))
    }

    /// The address of `sandbox`, if it has one.
    pub fn get(&self, sandbox: &str) -> Option<Ipv4Addr> {
        self.lock().by_sandbox.get(sandbox).copied()
    }

    /// Every sandbox holding an address, with it.
    pub fn allocations(&self) -> Vec<(String, Ipv4Addr)> {
        let state = self.lock();
        state
            .by_ip
            .iter()
            .map(|(ip, sandbox)| (sandbox.clone(), *ip))
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn remove(path: &Path) -> Result<(), NetError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != ErrorKind::NotFound => {
            Err(NetError::io(format!("removing {}", path.display()))(e))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range() -> Ipv4Cidr {
        "10.200.7.0/24".parse().expect("test")
    }

    #[test]
    fn same_sandbox_same_address_and_distinct_sandboxes_distinct() {
        let dir = tempfile::tempdir().expect("test");
        let ipam = Ipam::open(dir.path(), range()).expect("test");
        let a = ipam.allocate("a").expect("test");
        let b = ipam.allocate("b").expect("test");
        assert_eq!(a, Ipv4Addr::new(10, 200, 7, 2));
        assert_eq!(b, Ipv4Addr::new(10, 200, 7, 3));
        assert_eq!(ipam.allocate("a").expect("test"), a);
    }

    #[test]
    fn reopened_records_keep_addresses_and_round_robin_continues() {
        let dir = tempfile::tempdir().expect("test");
        let ipam = Ipam::open(dir.path(), range()).expect("test");
        let a = ipam.allocate("a").expect("test");
        let b = ipam.allocate("b").expect("test");
        ipam.release("b").expect("test");
        drop(ipam);
        let ipam = Ipam::open(dir.path(), range()).expect("test");
        assert_eq!(ipam.get("a"), Some(a));
        assert_eq!(ipam.get("b"), None);
        // The released .3 is not handed out again at once.
        let c = ipam.allocate("c").expect("test");
        assert_ne!(c, b);
        assert_ne!(c, a);
    }

    #[test]
    fn exhausts_and_wraps_around() {
        let dir = tempfile::tempdir().expect("test");
        let small: Ipv4Cidr = "10.200.7.0/29".parse().expect("test");
        let ipam = Ipam::open(dir.path(), small).expect("test");
        let got: Vec<_> = (0..5)
            .map(|i| ipam.allocate(&i.to_string()).expect("test"))
            .collect();
        assert_eq!(got.last(), Some(&Ipv4Addr::new(10, 200, 7, 6)));
        assert!(matches!(ipam.allocate("x"), Err(NetError::Exhausted(_))));
        ipam.release("1").expect("test");
        assert_eq!(
            ipam.allocate("x").expect("test"),
            Ipv4Addr::new(10, 200, 7, 3)
        );
    }

    #[test]
    fn records_outside_the_range_or_duplicated_are_dropped() {
        let dir = tempfile::tempdir().expect("test");
        std::fs::write(dir.path().join("10.99.0.5"), "old\n").expect("test");
        std::fs::write(dir.path().join("10.200.7.9"), "dup\n").expect("test");
        std::fs::write(dir.path().join("10.200.7.10"), "dup\n").expect("test");
        std::fs::write(dir.path().join("10.200.7.1"), "gw\n").expect("test");
        let ipam = Ipam::open(dir.path(), range()).expect("test");
        assert_eq!(ipam.allocations().len(), 1);
        assert!(ipam.get("dup").is_some());
        assert!(!dir.path().join("10.99.0.5").exists());
        assert!(!dir.path().join("10.200.7.1").exists());
    }
}
