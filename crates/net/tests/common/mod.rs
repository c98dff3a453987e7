//! A test's own pod network: unique bridge, dummy, table and namespace
//! names, a free /24 inside 10.200.0.0/16, and a guard that removes all of
//! it (with plain `ip`/`nft` commands, not the code under test) even when
//! the test fails.

#![allow(dead_code)]

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

use rkube_cri::NetworkAttachment;
use rkube_net::NetConfig;

static COUNTER: AtomicU32 = AtomicU32::new(0);
/// Tests of one binary pick their ranges one at a time.
static PICK: Mutex<()> = Mutex::new(());

/// Fails (never skips) when a tool is missing, naming its Debian package.
pub fn require(tool: &str, package: &str) {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "{tool} is missing: install the Debian package {package}"
    );
}

pub fn require_all() {
    require("ip", "iproute2");
    require("nft", "nftables");
    require("nsenter", "util-linux");
    require("busybox", "busybox-static");
}

pub fn sh(args: &[&str]) -> Output {
    Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

pub fn stdout(args: &[&str]) -> String {
    let out = sh(args);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub struct TestNet {
    pub config: NetConfig,
    pub suffix: String,
    pub namespaces: Vec<String>,
    _state: tempfile::TempDir,
    _ranges: Vec<RangeClaim>,
}

/// A claim on `10.200.<n>` across every test process on the host (tests
/// run side by side under cargo-nextest): an abstract Unix socket named
/// after it, which one process at a time can bind and which goes with the
/// process. The end-to-end tests' real clusters claim theirs the same way.
pub struct RangeClaim(#[allow(dead_code)] std::os::unix::net::UnixListener);

impl RangeClaim {
    fn take(third: u32) -> Option<RangeClaim> {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("rkube-test-range-10.200.{third}");
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).ok()?;
        std::os::unix::net::UnixListener::bind_addr(&addr)
            .ok()
            .map(RangeClaim)
    }
}

fn unique_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("test")
        .subsec_nanos();
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let mixed = (std::process::id().wrapping_mul(2_654_435_761)) ^ nanos ^ (n << 24);
    format!("{:08x}", mixed)
}

/// Whether any route of the host mentions `10.200.<third>.`.
fn third_octet_used(routes: &str, third: u32) -> bool {
    let p = format!("10.200.{third}.");
    routes.contains(&p)
}

impl TestNet {
    /// Names and ranges for one test: pod range `10.200.X.0/24`, cluster
    /// range `10.200.X.0/23`, service range another free /24.
    pub fn new() -> TestNet {
        require_all();
        let _pick = PICK.lock().unwrap_or_else(|e| e.into_inner());
        let suffix = unique_suffix();
        let routes = stdout(&["ip", "route", "show", "table", "all"]);
        assert!(
            !routes.contains("10.200.0.0/16")
                && !routes
                    .lines()
                    .any(|l| l.starts_with("default") && l.contains("10.200.")),
            "10.200.0.0/16 is routed on this host: the tests' ranges would clash\n{routes}"
        );
        let seed = u32::from_str_radix(&suffix, 16).expect("test");
        let mut chosen = None;
        for i in 0..64u32 {
            let x = ((seed.wrapping_add(i.wrapping_mul(37))) % 127) * 2; // even: the /23 is X, X+1
            let y = (x + 2 + (seed >> 8) % 100 * 2) % 254;
            if [x, x + 1, y].iter().any(|t| third_octet_used(&routes, *t)) || y == x {
                continue;
            }
            let claims: Option<Vec<RangeClaim>> =
                [x, x + 1, y].iter().map(|t| RangeClaim::take(*t)).collect();
            if let Some(claims) = claims {
                chosen = Some((x, y, claims));
                break;
            }
        }
        let (x, y, claims) = chosen.expect("no free /24 left in 10.200.0.0/16");
        let state = tempfile::tempdir().expect("test");
        let config = NetConfig {
            bridge: format!("rkb{suffix}"),
            pod_cidr: format!("10.200.{x}.0/24").parse().expect("test"),
            cluster_cidr: format!("10.200.{x}.0/23").parse().expect("test"),
            service_cidr: format!("10.200.{y}.0/24").parse().expect("test"),
            state_dir: state.path().join("net"),
            nft_table: format!("rkube-test-{suffix}"),
            dummy: format!("rkd{suffix}"),
        };
        // Claim the ranges at once (the bridge and dummy routes), so a
        // parallel test sees them taken.
        let net = TestNet {
            config,
            suffix,
            namespaces: Vec::new(),
            _state: state,
            _ranges: claims,
        };
        let c = &net.config;
        // No dummy driver in some kernels (this host's): an ifb then.
        if !sh(&["ip", "link", "add", &c.dummy, "type", "dummy"])
            .status
            .success()
        {
            let out = sh(&["ip", "link", "add", &c.dummy, "type", "ifb"]);
            assert!(
                out.status.success(),
                "ip link add {} type ifb: {out:?}",
                c.dummy
            );
        }
        let claim = format!(
            "link set {} up\nroute add {} dev {}\nroute add {} dev {}\n",
            c.dummy, c.cluster_cidr, c.dummy, c.service_cidr, c.dummy
        );
        let mut child = Command::new("ip")
            .args(["-batch", "-"])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .expect("test");
        {
            use std::io::Write;
            child
                .stdin
                .take()
                .expect("test")
                .write_all(claim.as_bytes())
                .expect("test");
        }
        assert!(
            child.wait().expect("test").success(),
            "claiming the test's ranges"
        );
        net
    }

    /// A new network namespace of this test (`/run/netns/<name>`).
    pub fn netns(&mut self) -> String {
        let name = format!("rkube-t{}-{}", self.suffix, self.namespaces.len());
        let out = sh(&["ip", "netns", "add", &name]);
        assert!(out.status.success(), "ip netns add: {out:?}");
        self.namespaces.push(name.clone());
        name
    }

    /// `n` namespaces made by one `ip -batch`.
    pub fn netns_many(&mut self, n: usize) -> Vec<String> {
        let start = self.namespaces.len();
        let names: Vec<String> = (start..start + n)
            .map(|i| format!("rkube-t{}-{i}", self.suffix))
            .collect();
        let batch: String = names.iter().map(|n| format!("netns add {n}\n")).collect();
        self.namespaces.extend(names.iter().cloned());
        let mut child = Command::new("ip")
            .args(["-batch", "-"])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .expect("test");
        {
            use std::io::Write;
            child
                .stdin
                .take()
                .expect("test")
                .write_all(batch.as_bytes())
                .expect("test");
        }
        assert!(
            child.wait().expect("test").success(),
            "ip netns add (batch)"
        );
        names
    }

    pub fn attachment(&self, sandbox: &str, netns: &str) -> NetworkAttachment {
        NetworkAttachment {
            sandbox_id: sandbox.to_string(),
            pod_namespace: "default".to_string(),
            pod_name: format!("pod-{sandbox}"),
            pod_uid: format!("uid-{sandbox}"),
            netns_path: PathBuf::from(format!("/run/netns/{netns}")),
            port_mappings: Vec::new(),
        }
    }

    /// A sandbox id unique to this test.
    pub fn sandbox(&self, name: &str) -> String {
        format!("{}-{name}", self.suffix)
    }

    pub fn ipam_dir(&self) -> PathBuf {
        self.config.state_dir.join("ipam")
    }

    /// An address of the cluster range outside the node's pod range.
    pub fn other_node_ip(&self) -> Ipv4Addr {
        let n = u32::from(self.config.pod_cidr.network());
        Ipv4Addr::from(n + 256 + 7)
    }

    pub fn cluster_ip(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.config.service_cidr.network()) + 10)
    }
}

impl Drop for TestNet {
    fn drop(&mut self) {
        let c = &self.config;
        let mut batch = String::new();
        if let Ok(ports) = std::fs::read_dir(format!("/sys/class/net/{}/brif", c.bridge)) {
            for p in ports.flatten() {
                batch.push_str(&format!("link del {}\n", p.file_name().to_string_lossy()));
            }
        }
        for link in [&c.bridge, &c.dummy] {
            if std::path::Path::new("/sys/class/net").join(link).exists() {
                batch.push_str(&format!("link del {link}\n"));
            }
        }
        for ns in &self.namespaces {
            batch.push_str(&format!("netns del {ns}\n"));
        }
        if !batch.is_empty() {
            if let Ok(mut child) = Command::new("ip")
                .args(["-force", "-batch", "-"])
                .stdin(std::process::Stdio::piped())
                .stderr(std::process::Stdio::null())
                .spawn()
            {
                if let Some(mut stdin) = child.stdin.take() {
                    use std::io::Write;
                    let _ = stdin.write_all(batch.as_bytes());
                }
                let _ = child.wait();
            }
        }
        // The pod network's table and the hostPorts' (`portmap`).
        for t in [c.nft_table.clone(), format!("{}-hostport", c.nft_table)] {
            let _ = Command::new("nft")
                .args(["delete", "table", "ip", &t])
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
}

/// `ip netns exec NS busybox ping -c1 -W1 IP` succeeded.
pub fn ping(ns: &str, ip: &str) -> bool {
    sh(&[
        "ip", "netns", "exec", ns, "busybox", "ping", "-c1", "-W1", ip,
    ])
    .status
    .success()
}
