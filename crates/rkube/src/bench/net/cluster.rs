//! The cluster under test: `rkube up --real-node` in a child process with
//! the run's own bridge and ranges, the DNS upstream pointed at a socket
//! of this process on loopback that never answers (and counts what it
//! gets), the busybox image loaded; and its removal (`rkube reset`, then
//! any `rkube-*-<bridge>` nftables table still there).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use k8s_openapi::api::core::v1::{Node, ServiceAccount};
use kube::api::Api;
use rkube_image::test_support::{self, Compress, Format, TestImage};
use rkube_net::Ipv4Cidr;
use tokio::process::Command;
use tracing::warn;

use super::ranges::Net;
use crate::bench::api::server::{Backend, Server};

/// The image the pods run.
pub(super) const IMAGE: &str = "localhost/bench/busybox:1";
pub(super) const NODE_NAME: &str = "rkube-bench-net";

/// Root, runc, nft, dnsperf and busybox are needed; say which package is
/// missing.
pub(super) fn preflight() -> anyhow::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let uid = std::fs::metadata("/proc/self").map(|m| m.uid()).ok();
    anyhow::ensure!(
        uid == Some(0),
        "rkube bench net runs a real node: run it as root"
    );
    anyhow::ensure!(
        Path::new(test_support::BUSYBOX).exists(),
        "{} is missing: install the Debian package busybox-static",
        test_support::BUSYBOX
    );
    for (tool, arg, package) in [
        ("runc", "--version", "runc"),
        ("nft", "--version", "nftables"),
        ("dnsperf", "-h", "dnsperf"),
        ("unshare", "--version", "util-linux"),
    ] {
        let found = std::process::Command::new(tool)
            .arg(arg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok();
        anyhow::ensure!(
            found,
            "{tool} is missing: install the Debian package {package}"
        );
    }
    Ok(())
}

/// A UDP socket on loopback standing in for the DNS upstream: it never
/// answers, and counts the queries that reached it (a query rkube should
/// have answered itself).
pub(super) struct FakeUpstream {
    pub addr: SocketAddr,
    received: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeUpstream {
    pub async fn start() -> anyhow::Result<FakeUpstream> {
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
            .await
            .context("cannot bind a UDP socket on loopback")?;
        let addr = socket.local_addr()?;
        let received = Arc::new(AtomicU64::new(0));
        let count = received.clone();
        let task = tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            while socket.recv_from(&mut buf).await.is_ok() {
                count.fetch_add(1, Ordering::Relaxed);
            }
        });
        Ok(FakeUpstream {
            addr,
            received,
            task,
        })
    }

    /// Queries received so far.
    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }
}

impl Drop for FakeUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The running cluster and what the benchmark needs of it.
pub(super) struct Cluster {
    pub server: Server,
    pub client: kube::Client,
    /// The node's pod range (`spec.podCIDR`).
    pub pod_cidr: Ipv4Cidr,
}

/// Write the busybox image as a `docker save` tarball in `scratch`.
pub(super) async fn build_image(scratch: &Path) -> anyhow::Result<PathBuf> {
    let file = scratch.join("busybox.tar");
    let out = file.clone();
    tokio::task::spawn_blocking(move || {
        let layer = test_support::busybox_layer()?;
        let mut busybox = TestImage::new(IMAGE, vec![layer]);
        busybox.cmd = vec!["sleep".into(), "3600".into()];
        test_support::write_archive(
            &[busybox],
            Format::DockerLegacy,
            Compress::None,
            Compress::None,
            &out,
        )?;
        anyhow::Ok(())
    })
    .await
    .context("the image builder failed")?
    .context("cannot build the busybox image")?;
    Ok(file)
}

/// `rkube up --real-node`, then `rkube image load` of `file` into it;
/// waits until the node is Ready with a pod range and the default
/// service account exists.
pub(super) async fn start(
    data: &Path,
    image: &Path,
    net: &Net,
    upstream: SocketAddr,
) -> anyhow::Result<Cluster> {
    let extra: Vec<String> = [
        "--real-node",
        "--node-name",
        NODE_NAME,
        "--pod-bridge",
        &net.bridge,
        "--cluster-cidr",
        &net.cluster_cidr.to_string(),
        "--service-cluster-ip-range",
        &net.service_range.to_string(),
        "--dns-upstream",
        &upstream.to_string(),
        // This machine's disk is shared and often fuller than the
        // kubelet's defaults allow.
        "--eviction-hard",
        "nodefs.available<1%,imagefs.available<1%,nodefs.inodesFree<1%",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let (server, _) = Server::start_with(data, Backend::Embedded, None, "up", &extra)
        .await
        .context("cannot start rkube up --real-node")?;
    // Loaded into the running node, as the end-to-end tests do.
    crate::bench::node::image_load(image, data).await?;
    let client = server.client().await?;
    let pod_cidr = wait_node_ready(&client, Duration::from_secs(90)).await?;
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), "default");
    let deadline = Instant::now() + Duration::from_secs(30);
    while sas.get_opt("default").await?.is_none() {
        anyhow::ensure!(
            Instant::now() < deadline,
            "no default service account after 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(Cluster {
        server,
        client,
        pod_cidr,
    })
}

/// Waits until the node is Ready; its pod range.
async fn wait_node_ready(client: &kube::Client, timeout: Duration) -> anyhow::Result<Ipv4Cidr> {
    let nodes: Api<Node> = Api::all(client.clone());
    let deadline = Instant::now() + timeout;
    loop {
        let node = nodes.get_opt(NODE_NAME).await?;
        let ready = node
            .as_ref()
            .and_then(|n| n.status.as_ref())
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
        let cidr = node
            .as_ref()
            .and_then(|n| n.spec.as_ref())
            .and_then(|s| s.pod_cidr.as_deref())
            .and_then(|c| c.parse::<Ipv4Cidr>().ok());
        if let (true, Some(cidr)) = (ready, cidr) {
            return Ok(cidr);
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the node {NODE_NAME} is not Ready with a pod range after {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `rkube reset` of the node's data directory and network, then any
/// nftables table named after the run's bridge that is still there.
pub(super) async fn reset(data_dir: &Path, net: &Net) {
    if data_dir.exists() {
        if let Err(e) = run_reset(data_dir, net).await {
            warn!(error = %format!("{e:#}"), "rkube reset failed");
        }
    }
    remove_tables(&net.bridge).await;
}

async fn run_reset(data_dir: &Path, net: &Net) -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("cannot find the rkube binary")?;
    let out = Command::new(exe)
        .arg("reset")
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--pod-bridge")
        .arg(&net.bridge)
        .arg("--cluster-cidr")
        .arg(net.cluster_cidr.to_string())
        .arg("--service-cluster-ip-range")
        .arg(net.service_range.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .output()
        .await
        .context("cannot run rkube reset")?;
    anyhow::ensure!(
        out.status.success(),
        "rkube reset failed: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(())
}

/// Delete the tables `rkube-…-<bridge>` (this run's bridge name is
/// unique to it) that a reset left.
async fn remove_tables(bridge: &str) {
    let Ok(list) = rkube_net::cmd::run(rkube_net::cmd::NFT, &["list", "tables"], None).await else {
        return;
    };
    for line in list.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if let ["table", family, name] = words.as_slice() {
            if name.starts_with("rkube-") && name.ends_with(&format!("-{bridge}")) {
                warn!(table = %name, "a table of the bench's node was left: deleting it");
                let script = format!("delete table {family} {name}\n");
                if let Err(e) = rkube_net::cmd::nft(&script).await {
                    warn!(table = %name, error = %e, "cannot delete the table");
                }
            }
        }
    }
}
