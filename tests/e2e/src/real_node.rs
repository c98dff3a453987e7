//! A cluster with a real node: `rkube up --real-node` with a network of its
//! own — a bridge, pod range and service range no other test uses — so
//! tests can run side by side, and a Drop that kills rkube (by pid), runs
//! `rkube reset` and checks that nothing is left on the host: no bridge,
//! no mount under the test's directory, no network namespace of its pods.
//!
//! Real nodes need root and runc: without them the test fails with a
//! message saying so (it never skips).

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::image::{busybox_image, BUSYBOX};
use crate::Cluster;

/// A `rkube up --real-node` and what it owns on the host.
pub struct RealCluster {
    pub cluster: Cluster,
    /// The pod bridge (the service range's dummy interface is named after
    /// it).
    pub bridge: String,
    /// The cluster's pod range (one /24: one node).
    pub cluster_cidr: String,
    pub service_range: String,
    /// Holds `10.200.N` and `10.201.N` for this cluster while it lives.
    _range: RangeClaim,
}

/// A claim on the test range `10.200.<n>` across every test process on
/// the host: an abstract Unix socket named after it, which only one process
/// can bind and which goes with the process (nothing to clean up). The
/// pod-network tests of `crates/net` claim their ranges the same way.
struct RangeClaim(#[allow(dead_code)] std::os::unix::net::UnixListener);

impl RangeClaim {
    fn take(n: u8) -> Option<RangeClaim> {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("rkube-test-range-10.200.{n}");
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).ok()?;
        std::os::unix::net::UnixListener::bind_addr(&addr)
            .ok()
            .map(RangeClaim)
    }
}

fn random_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.finish() as u32
}

fn routes() -> String {
    let out = Command::new("ip")
        .args(["-4", "route", "show", "table", "all"])
        .output()
        .expect("ip (iproute2) runs");
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn preflight() {
    let uid = Command::new("id").arg("-u").output().expect("id runs");
    assert_eq!(
        String::from_utf8_lossy(&uid.stdout).trim(),
        "0",
        "real-node tests run as root (as CI does)"
    );
    for (tool, package) in [("runc", "runc"), ("ip", "iproute2"), ("nft", "nftables")] {
        assert!(
            Command::new(tool).arg("--version").output().is_ok(),
            "{tool} is missing: install Debian's {package} (scripts/setup.sh does)"
        );
    }
}

impl RealCluster {
    /// Start a cluster with a real node and wait until the node is Ready
    /// and the busybox test image ([`BUSYBOX`]) is loaded.
    pub fn up() -> RealCluster {
        Self::up_with(&[])
    }

    /// [`RealCluster::up`] with more `rkube up` arguments.
    pub fn up_with(extra: &[&str]) -> RealCluster {
        preflight();
        let taken = routes();
        let (n, range) = (0..250)
            .map(|i| (random_u32().wrapping_add(i) % 250) as u8)
            .filter(|n| {
                !taken.contains(&format!("10.200.{n}.")) && !taken.contains(&format!("10.201.{n}."))
            })
            .find_map(|n| RangeClaim::take(n).map(|claim| (n, claim)))
            .expect("a free test range in 10.200.0.0/16");
        let bridge = format!("rk{:06x}", random_u32() & 0xff_ffff);
        let cluster_cidr = format!("10.200.{n}.0/24");
        let service_range = format!("10.201.{n}.0/24");
        let mut args = vec![
            "--real-node",
            "--pod-bridge",
            &bridge,
            "--cluster-cidr",
            &cluster_cidr,
            "--service-cluster-ip-range",
            &service_range,
            // This machine's disk is shared and often fuller than the
            // kubelet's defaults allow: only the tests of eviction want it.
            "--eviction-hard",
            "nodefs.available<1%,imagefs.available<1%,nodefs.inodesFree<1%",
        ];
        args.extend_from_slice(extra);
        let cluster = Cluster::up_with(&args);
        let real = RealCluster {
            cluster,
            bridge: bridge.clone(),
            cluster_cidr: cluster_cidr.clone(),
            service_range: service_range.clone(),
            _range: range,
        };
        let image = busybox_image(real.cluster.dir.path(), BUSYBOX);
        real.image_load(&image);
        real.cluster
            .wait_until("the real node is Ready", Duration::from_secs(60), || {
                let out = real.cluster.kubectl(&[
                    "get",
                    "nodes",
                    "-o",
                    "jsonpath={.items[*].status.conditions[?(@.type==\"Ready\")].status}",
                ]);
                String::from_utf8_lossy(&out.stdout).trim() == "True"
            });
        real
    }

    /// The data directory of the cluster.
    pub fn data_dir(&self) -> PathBuf {
        self.cluster.dir.path().join("data")
    }

    /// `rkube image load FILE --data-dir <this cluster's>`.
    pub fn image_load(&self, file: &std::path::Path) -> String {
        let out = Command::new(crate::rkube_bin())
            .args(["image", "load"])
            .arg(file)
            .arg("--data-dir")
            .arg(self.data_dir())
            .output()
            .expect("run rkube image load");
        assert!(
            out.status.success(),
            "rkube image load failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    /// Wait until `kubectl get <what> -o jsonpath=<path>` prints `want`.
    pub fn wait_for(&self, what: &[&str], path: &str, want: &str, timeout: Duration) {
        let jsonpath = format!("jsonpath={path}");
        let mut args = vec!["get"];
        args.extend_from_slice(what);
        args.extend_from_slice(&["-o", &jsonpath]);
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let out = self.cluster.kubectl(&args);
            let last = String::from_utf8_lossy(&out.stdout).to_string();
            if last == want {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "timed out waiting until {what:?} {path} is {want:?} (last: {last:?}, {})\nserver log:\n{}",
                String::from_utf8_lossy(&out.stderr),
                self.cluster.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// `kubectl apply -f` of `yaml`.
    pub fn apply(&self, name: &str, yaml: &str) {
        let f = self.cluster.file(&format!("{name}.yaml"), yaml);
        self.cluster
            .ok(&["apply", "-f", f.to_str().expect("utf-8 path")]);
    }

    /// `rkube reset` for this cluster's data directory and bridge.
    fn reset(&self) -> std::process::Output {
        Command::new(crate::rkube_bin())
            .arg("reset")
            .arg("--data-dir")
            .arg(self.data_dir())
            .args(["--pod-bridge", &self.bridge])
            .output()
            .expect("run rkube reset")
    }

    /// Mount points under this cluster's directory.
    fn mounts(&self) -> Vec<String> {
        let dir = self.cluster.dir.path().to_string_lossy().to_string();
        std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_whitespace().nth(4))
            .filter(|m| m.starts_with(&dir))
            .map(str::to_string)
            .collect()
    }
}

impl Drop for RealCluster {
    fn drop(&mut self) {
        self.cluster.kill();
        let out = self.reset();
        let link = Command::new("ip")
            .args(["link", "show", &self.bridge])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        let mounts = self.mounts();
        let routes_left = routes().contains(&self.service_range);
        if !std::thread::panicking() {
            assert!(
                out.status.success(),
                "rkube reset failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(!link, "bridge {} left behind", self.bridge);
            assert!(mounts.is_empty(), "mounts left behind: {mounts:?}");
            assert!(!routes_left, "route of {} left behind", self.service_range);
        }
    }
}
