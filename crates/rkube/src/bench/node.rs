//! `rkube bench node`: one real node against its floor, bare runc.
//!
//! In one scratch directory (removed at the end):
//! - a busybox image (`localhost/bench/busybox:1`, from Debian's
//!   busybox-static) and a ~100 MiB image (busybox plus 100 MiB of random
//!   bytes in a second layer), written as `docker save` tarballs; the time
//!   `rkube image load` takes for the big one;
//! - `rkube up --real-node` in a child process, with a pod bridge, a pod
//!   range and a service range of its own (a free /24 in 10.200.0.0/16 and
//!   10.201.0.0/16); N busybox pods created at once, watched until all are
//!   Running and Ready (startup: create sent → Running seen by a watch),
//!   RSS and CPU of `rkube up`, total RSS of the containers' shims, then
//!   all N deleted and timed until gone; then port-forward throughput
//!   and exec round trips through the API server (`node_streams.rs`);
//! - the floor: the same container started N times at once with bare
//!   `runc run -d` (a bundle each, one read-only busybox rootfs, a runc
//!   root of its own), then killed and deleted.
//!
//! Everything is removed at the end, also on failure: the child killed by
//! pid, `rkube reset` for what the node left, the bare containers deleted.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, Pod, ServiceAccount};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::runtime::watcher;
use rand::{Rng, RngCore};
use rkube_image::test_support::{self, Compress, Entry, Format, TestImage};
use serde_json::json;
use tokio::process::Command;
use tracing::{info, warn};

use super::api::server::{Backend, Server};
use super::duration::human_seconds;
use super::node_streams::{self, StreamsOutcome};
use super::proc_status::{human_bytes, read_rss};
use super::stats::Percentiles;
use crate::bench::args::NodeBenchArgs;

/// The image every pod and bare container runs.
const IMAGE: &str = "localhost/bench/busybox:1";
/// The ~100 MiB image whose load is timed.
const BIG_IMAGE: &str = "localhost/bench/big:1";
const BIG_BYTES: usize = 100 * 1024 * 1024;
const NODE_NAME: &str = "rkube-bench-node";
const LABEL: &str = "rkube-bench=node";
/// Upper bound on one `runc run -d`.
const RUNC_TIMEOUT: Duration = Duration::from_secs(60);

/// Names and ranges of one run, unique to it.
#[derive(Clone, Debug)]
struct Net {
    bridge: String,
    cluster_cidr: String,
    service_range: String,
}

/// What the real node measured.
#[derive(Debug, Default)]
struct NodeOutcome {
    pods: usize,
    all_running: Duration,
    startup: Percentiles,
    ready: Percentiles,
    /// Create sent → `status.startTime` (whole seconds).
    accepted: Percentiles,
    /// Create sent → the container's `startedAt` (whole seconds).
    container_started: Percentiles,
    delete_all: Duration,
    rss: u64,
    peak_rss: u64,
    cpu_start_s: f64,
    cpu_delete_s: f64,
    shims: usize,
    shim_rss: u64,
    shim_pss: u64,
}

/// What bare runc measured.
#[derive(Debug, Default)]
struct RuncOutcome {
    containers: usize,
    all_started: Duration,
    startup: Percentiles,
    delete_all: Duration,
}

pub async fn run_node(args: NodeBenchArgs) -> anyhow::Result<()> {
    let pods = args.pods.unwrap_or(if args.quick { 10 } else { 100 });
    anyhow::ensure!(pods > 0, "--pods must be at least 1");
    preflight()?;
    std::fs::create_dir_all(&args.dir)?;
    let dir = args
        .dir
        .canonicalize()
        .with_context(|| format!("cannot resolve {}", args.dir.display()))?;
    let base = tempfile::Builder::new()
        .prefix(".rkube-bench-node-")
        .tempdir_in(&dir)
        .context("cannot create a scratch directory")?;
    let scratch = base.path().to_path_buf();
    let net = pick_net()?;
    info!(dir = %scratch.display(), bridge = %net.bridge, cluster_cidr = %net.cluster_cidr, service_range = %net.service_range, pods, "bench node");

    let images = build_images(&scratch).await;
    let load = match &images {
        Ok(_) => time_load(&scratch.join("big.tar"), &scratch.join("load")).await,
        Err(e) => Err(anyhow::anyhow!("{e:#}")),
    };
    let (stream_bytes, stream_rounds) = if args.quick {
        (8 << 20, 20)
    } else {
        (128 << 20, 200)
    };
    let (node, streams) = match &images {
        Ok(_) => real_node(&scratch, &net, pods, stream_bytes, stream_rounds).await,
        Err(e) => (Err(anyhow::anyhow!("{e:#}")), Err(anyhow::anyhow!("{e:#}"))),
    };
    if let Err(e) = reset(&scratch.join("node"), &net).await {
        warn!(error = %format!("{e:#}"), "rkube reset failed");
    }
    let runc_root = scratch.join("runc-root");
    let bare = match &images {
        Ok(_) => bare_runc(&scratch, &runc_root, pods).await,
        Err(e) => Err(anyhow::anyhow!("{e:#}")),
    };
    remove_bare(&runc_root).await;

    print!("{}", render(pods, &load, &node, &bare));
    print!("\n{}", render_streams(&streams));
    let failed = [
        load.as_ref().err(),
        node.as_ref().err(),
        bare.as_ref().err(),
        streams.as_ref().err(),
    ]
    .iter()
    .flatten()
    .count();
    drop(base);
    images?;
    anyhow::ensure!(failed == 0, "{failed} part(s) of the benchmark failed");
    Ok(())
}

/// Root, runc and busybox are needed; say which package is missing.
fn preflight() -> anyhow::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let uid = std::fs::metadata("/proc/self").map(|m| m.uid()).ok();
    anyhow::ensure!(
        uid == Some(0),
        "rkube bench node runs a real node: run it as root"
    );
    anyhow::ensure!(
        Path::new(test_support::BUSYBOX).exists(),
        "{} is missing: install the Debian package busybox-static",
        test_support::BUSYBOX
    );
    let runc = std::process::Command::new("runc")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    anyhow::ensure!(
        runc.is_ok_and(|s| s.success()),
        "runc is missing: install the Debian package runc"
    );
    Ok(())
}

/// A /24 free in both 10.200.0.0/16 and 10.201.0.0/16 (no route of any
/// table mentions it), and a bridge name of this run.
fn pick_net() -> anyhow::Result<Net> {
    let out = std::process::Command::new("ip")
        .args(["-4", "route", "show", "table", "all"])
        .output()
        .context("cannot run ip (install the Debian package iproute2)")?;
    anyhow::ensure!(out.status.success(), "ip route show failed");
    let routes = String::from_utf8_lossy(&out.stdout);
    let mut rng = rand::thread_rng();
    for _ in 0..1000 {
        let x: u8 = rng.gen_range(1..=254);
        let used = routes.contains(&format!("10.200.{x}."))
            || routes.contains(&format!("10.201.{x}."))
            || routes.contains("10.200.0.0/16")
            || routes.contains("10.201.0.0/16");
        if !used {
            return Ok(Net {
                bridge: format!("rkbn{:06x}", rng.gen::<u32>() & 0xff_ffff),
                cluster_cidr: format!("10.200.{x}.0/24"),
                service_range: format!("10.201.{x}.0/24"),
            });
        }
    }
    anyhow::bail!("no free /24 in 10.200.0.0/16 and 10.201.0.0/16")
}

/// Writes `busybox.tar` (the pods' image), `big.tar` (~100 MiB) and the
/// unpacked busybox rootfs `rootfs/` for bare runc.
async fn build_images(scratch: &Path) -> anyhow::Result<()> {
    let scratch = scratch.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let layer = test_support::busybox_layer()?;
        let mut busybox = TestImage::new(IMAGE, vec![layer.clone()]);
        busybox.cmd = vec!["sleep".into(), "3600".into()];
        test_support::write_archive(
            &[busybox],
            Format::DockerLegacy,
            Compress::None,
            Compress::None,
            &scratch.join("busybox.tar"),
        )?;

        let mut random = vec![0u8; BIG_BYTES];
        rand::thread_rng().fill_bytes(&mut random);
        let big_layer = test_support::layer_tar(&[
            Entry::Dir("data/".into(), 0o755),
            Entry::File("data/random".into(), random, 0o644),
        ]);
        let big = TestImage::new(BIG_IMAGE, vec![layer.clone(), big_layer]);
        test_support::write_archive(
            &[big],
            Format::DockerLegacy,
            Compress::None,
            Compress::None,
            &scratch.join("big.tar"),
        )?;

        let rootfs = scratch.join("rootfs");
        std::fs::create_dir_all(&rootfs)?;
        let layer_file = scratch.join("busybox-layer.tar");
        std::fs::write(&layer_file, &layer)?;
        let status = std::process::Command::new("tar")
            .arg("-C")
            .arg(&rootfs)
            .arg("-xf")
            .arg(&layer_file)
            .status()
            .context("cannot run tar")?;
        anyhow::ensure!(status.success(), "tar -xf of the busybox layer failed");
        for d in ["proc", "sys", "dev", "etc"] {
            std::fs::create_dir_all(rootfs.join(d))?;
        }
        anyhow::Ok(())
    })
    .await
    .context("the image builder failed")?
    .context("cannot build the bench images")
}

/// `rkube image load FILE` into `data_dir`, timed (the whole process).
async fn time_load(file: &Path, data_dir: &Path) -> anyhow::Result<Duration> {
    let started = Instant::now();
    image_load(file, data_dir).await?;
    Ok(started.elapsed())
}

/// `rkube image load FILE` into `data_dir` (also `bench net`'s).
pub(crate) async fn image_load(file: &Path, data_dir: &Path) -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("cannot find the rkube binary")?;
    let out = Command::new(exe)
        .arg("image")
        .arg("--data-dir")
        .arg(data_dir)
        .arg("load")
        .arg(file)
        .stdin(Stdio::null())
        .output()
        .await
        .context("cannot run rkube image load")?;
    anyhow::ensure!(
        out.status.success(),
        "rkube image load {} failed: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(())
}

/// `rkube reset` of the node's data directory and network.
async fn reset(data_dir: &Path, net: &Net) -> anyhow::Result<()> {
    if !data_dir.exists() {
        return Ok(());
    }
    let exe = std::env::current_exe().context("cannot find the rkube binary")?;
    let out = Command::new(exe)
        .arg("reset")
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--pod-bridge")
        .arg(&net.bridge)
        .arg("--cluster-cidr")
        .arg(&net.cluster_cidr)
        .arg("--service-cluster-ip-range")
        .arg(&net.service_range)
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

/// The real node: start it, run the pods, then the streams, stop it (by
/// pid).
async fn real_node(
    scratch: &Path,
    net: &Net,
    pods: usize,
    stream_bytes: usize,
    stream_rounds: usize,
) -> (anyhow::Result<NodeOutcome>, anyhow::Result<StreamsOutcome>) {
    let data = scratch.join("node");
    if let Err(e) = image_load(&scratch.join("busybox.tar"), &data).await {
        let e = format!("{e:#}");
        return (Err(anyhow::anyhow!("{e}")), Err(anyhow::anyhow!("{e}")));
    }
    let extra: Vec<String> = [
        "--real-node",
        "--node-name",
        NODE_NAME,
        "--pod-bridge",
        &net.bridge,
        "--cluster-cidr",
        &net.cluster_cidr,
        "--service-cluster-ip-range",
        &net.service_range,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let server = match Server::start_with(&data, Backend::Embedded, None, "up", &extra)
        .await
        .context("cannot start rkube up --real-node")
    {
        Ok((server, _)) => server,
        Err(e) => {
            let e = format!("{e:#}");
            return (Err(anyhow::anyhow!("{e}")), Err(anyhow::anyhow!("{e}")));
        }
    };
    let result = pods_on_node(&server, &data, pods).await;
    let streams = match server.client().await {
        Ok(client) => node_streams::measure(&client, IMAGE, stream_bytes, stream_rounds).await,
        Err(e) => Err(e),
    };
    server.stop().await;
    (result, streams)
}

async fn pods_on_node(server: &Server, data: &Path, total: usize) -> anyhow::Result<NodeOutcome> {
    let client = server.client().await?;
    wait_node_ready(&client, Duration::from_secs(60)).await?;
    // Pods are refused until the namespace's default service account exists.
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), "default");
    let deadline = Instant::now() + Duration::from_secs(30);
    while sas.get_opt("default").await?.is_none() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let timeout = Duration::from_secs(60 + total as u64);
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let cpu_before = server.cpu_seconds().unwrap_or(0.0);

    // Watch first, so every pod is seen from its creation.
    let watch = tokio::spawn(observe(pods.clone(), total, timeout));
    let started = Instant::now();
    let creates = (0..total).map(|i| {
        let pods = pods.clone();
        async move {
            let name = format!("bench-{i}");
            let pod: Pod = serde_json::from_value(json!({
                "metadata": {"name": name, "labels": {"rkube-bench": "node"}},
                "spec": {
                    "terminationGracePeriodSeconds": 1,
                    "containers": [{"name": "c", "image": IMAGE, "command": ["sleep", "3600"]}],
                },
            }))?;
            let sent = Instant::now();
            let sent_ms = epoch_ms();
            pods.create(&PostParams::default(), &pod).await?;
            anyhow::Ok((name, (sent, sent_ms)))
        }
    });
    let sent: Vec<anyhow::Result<(String, (Instant, i64))>> = futures::stream::iter(creates)
        .buffer_unordered(total)
        .collect()
        .await;
    let mut sent_at = HashMap::new();
    for r in sent {
        let (name, at) = r.context("cannot create a pod")?;
        sent_at.insert(name, at);
    }
    let seen = watch.await.context("the pod watch failed")??;
    let all_running = started.elapsed();
    let rss = server.rss()?;
    let cpu_started = server.cpu_seconds().unwrap_or(0.0);
    let (shims, shim_rss, shim_pss) = shim_memory(data);

    let since = |f: fn(&Seen) -> Option<Instant>| -> Vec<Duration> {
        seen.iter()
            .filter_map(|(name, s)| Some(f(s)? - sent_at.get(name)?.0))
            .collect()
    };
    // Wall clock, whole seconds as the API gives them: the sent time is
    // truncated to the second too, so each sample is within ±1 s.
    let since_ms = |f: fn(&Seen) -> Option<i64>| -> Vec<Duration> {
        seen.iter()
            .filter_map(|(name, s)| {
                let sent = sent_at.get(name)?.1 / 1000 * 1000;
                Some(Duration::from_millis(
                    f(s)?.saturating_sub(sent).max(0) as u64
                ))
            })
            .collect()
    };
    let accepted = Percentiles::of(since_ms(|s| s.accepted_ms));
    let container_started = Percentiles::of(since_ms(|s| s.started_ms));
    let startup = Percentiles::of(since(|s| s.running));
    let ready = Percentiles::of(since(|s| s.ready));

    info!(total, "bench node: deleting all pods");
    let deleting = Instant::now();
    let deletes = (0..total).map(|i| {
        let pods = pods.clone();
        async move {
            pods.delete(&format!("bench-{i}"), &DeleteParams::default())
                .await
                .map(|_| ())
        }
    });
    let results: Vec<_> = futures::stream::iter(deletes)
        .buffer_unordered(total)
        .collect()
        .await;
    for r in results {
        r.context("cannot delete a pod")?;
    }
    let lp = ListParams::default().labels(LABEL);
    loop {
        if pods.list_metadata(&lp).await?.items.is_empty() {
            break;
        }
        anyhow::ensure!(
            deleting.elapsed() < timeout,
            "pods still there {} after deleting them",
            human_seconds(timeout.as_secs_f64())
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let delete_all = deleting.elapsed();
    let cpu_deleted = server.cpu_seconds().unwrap_or(0.0);
    Ok(NodeOutcome {
        pods: seen.len(),
        all_running,
        startup,
        ready,
        accepted,
        container_started,
        delete_all,
        rss: rss.current,
        peak_rss: rss.peak,
        cpu_start_s: cpu_started - cpu_before,
        cpu_delete_s: cpu_deleted - cpu_started,
        shims,
        shim_rss,
        shim_pss,
    })
}

async fn wait_node_ready(client: &kube::Client, timeout: Duration) -> anyhow::Result<()> {
    let nodes: Api<Node> = Api::all(client.clone());
    let deadline = Instant::now() + timeout;
    loop {
        let node = nodes.get_opt(NODE_NAME).await?;
        let ready = node
            .as_ref()
            .and_then(|n| n.status.as_ref())
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
        if ready {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the node {NODE_NAME} is not Ready after {}",
            human_seconds(timeout.as_secs_f64())
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[derive(Default)]
struct Seen {
    running: Option<Instant>,
    ready: Option<Instant>,
    /// `status.startTime` (the kubelet took the pod), ms since the epoch.
    accepted_ms: Option<i64>,
    /// The container's `state.running.startedAt`, ms since the epoch.
    started_ms: Option<i64>,
}

fn is_ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// Now, in ms since the epoch.
fn epoch_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Watches the bench pods until `total` are Running and Ready; when each
/// was seen Running and seen Ready, by name.
async fn observe(
    pods: Api<Pod>,
    total: usize,
    timeout: Duration,
) -> anyhow::Result<HashMap<String, Seen>> {
    let mut seen: HashMap<String, Seen> = HashMap::new();
    let mut done = 0;
    let config = watcher::Config::default().labels(LABEL);
    let mut events = watcher(pods, config).boxed();
    let deadline = tokio::time::sleep(timeout);
    tokio::pin!(deadline);
    while done < total {
        let event = tokio::select! {
            e = events.next() => e,
            _ = &mut deadline => anyhow::bail!("only {done} of {total} pods Running and Ready in {}", human_seconds(timeout.as_secs_f64())),
        };
        let Some(event) = event else {
            anyhow::bail!("the pod watch ended");
        };
        let pod = match event? {
            watcher::Event::Apply(p) | watcher::Event::InitApply(p) => p,
            _ => continue,
        };
        let now = Instant::now();
        let name = pod.metadata.name.clone().unwrap_or_default();
        let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
        anyhow::ensure!(
            !matches!(phase, Some("Failed") | Some("Succeeded")),
            "pod {name} ended ({phase:?}): {:?}",
            pod.status
        );
        let entry = seen.entry(name).or_default();
        if entry.running.is_none() && phase == Some("Running") {
            entry.running = Some(now);
        }
        let status = pod.status.as_ref();
        if let Some(t) = status.and_then(|s| s.start_time.as_ref()) {
            entry.accepted_ms = Some(t.0.as_millisecond());
        }
        let started = status
            .and_then(|s| s.container_statuses.as_ref())
            .and_then(|cs| cs.first())
            .and_then(|c| c.state.as_ref())
            .and_then(|st| st.running.as_ref())
            .and_then(|r| r.started_at.as_ref());
        if let Some(t) = started {
            entry.started_ms = Some(t.0.as_millisecond());
        }
        if entry.ready.is_none() && is_ready(&pod) {
            entry.ready = Some(now);
        }
        done = seen
            .values()
            .filter(|s| s.running.is_some() && s.ready.is_some())
            .count();
    }
    Ok(seen)
}

/// The shims of the node's containers (`rkube shim` processes naming
/// a path under `data`): how many, total RSS, total PSS (shared pages
/// split between the processes sharing them).
fn shim_memory(data: &Path) -> (usize, u64, u64) {
    let data = data.to_string_lossy().to_string();
    let (mut n, mut rss, mut pss) = (0, 0, 0);
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return (0, 0, 0);
    };
    for entry in procs.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).to_string())
            .collect();
        let is_shim =
            args.get(1).is_some_and(|a| a == "shim") && args.iter().any(|a| a.starts_with(&data));
        if !is_shim {
            continue;
        }
        if let Ok(r) = read_rss(Some(pid)) {
            n += 1;
            rss += r.current;
            pss += read_pss(pid).unwrap_or(0);
        }
    }
    (n, rss, pss)
}

/// `Pss` of `/proc/<pid>/smaps_rollup`, in bytes.
fn read_pss(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    let line = text.lines().find(|l| l.starts_with("Pss:"))?;
    let kib: u64 = line["Pss:".len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// The floor: `runc run -d` of the same busybox container, `n` at once.
async fn bare_runc(scratch: &Path, root: &Path, n: usize) -> anyhow::Result<RuncOutcome> {
    let rootfs = scratch.join("rootfs");
    let bundles = scratch.join("bundles");
    let suffix = format!(
        "{}-{:06x}",
        std::process::id(),
        rand::random::<u32>() & 0xff_ffff
    );
    std::fs::create_dir_all(root)?;
    for i in 0..n {
        let bundle = bundles.join(format!("c{i}"));
        std::fs::create_dir_all(&bundle)?;
        let spec = bundle_spec(&rootfs, &format!("/rkube-bench-node-{suffix}/c{i}"));
        std::fs::write(
            bundle.join("config.json"),
            serde_json::to_vec_pretty(&spec)?,
        )?;
    }
    info!(n, "bench node: starting bare runc containers");
    let started = Instant::now();
    let starts = (0..n).map(|i| {
        let bundle = bundles.join(format!("c{i}"));
        let root = root.to_path_buf();
        let id = format!("rkube-bench-{suffix}-c{i}");
        async move {
            // The container inherits runc's stdio: a file, not a pipe
            // (a pipe would stay open as long as the container runs).
            let log = bundle.join("runc.log");
            let stderr = std::fs::File::create(&log)?;
            let t0 = Instant::now();
            let run = Command::new("runc")
                .arg("--root")
                .arg(&root)
                .args(["run", "-d", "--bundle"])
                .arg(&bundle)
                .arg(&id)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(stderr)
                .kill_on_drop(true)
                .status();
            let status = tokio::time::timeout(RUNC_TIMEOUT, run)
                .await
                .with_context(|| format!("runc run -d {id} took longer than {RUNC_TIMEOUT:?}"))??;
            anyhow::ensure!(
                status.success(),
                "runc run -d {id} failed: {}",
                std::fs::read_to_string(&log).unwrap_or_default().trim()
            );
            anyhow::Ok(t0.elapsed())
        }
    });
    let results: Vec<_> = futures::stream::iter(starts)
        .buffer_unordered(n)
        .collect()
        .await;
    let all_started = started.elapsed();
    let mut times = Vec::new();
    for r in results {
        times.push(r?);
    }
    let deleting = Instant::now();
    remove_bare(root).await;
    let delete_all = deleting.elapsed();
    let cgroup = format!("rkube-bench-node-{suffix}");
    remove_cgroups(&cgroup);
    Ok(RuncOutcome {
        containers: times.len(),
        all_started,
        startup: Percentiles::of(times),
        delete_all,
    })
}

/// A minimal OCI config, as `runc spec` writes it, running `sleep 3600`
/// on a read-only `rootfs` in cgroup `cgroup`.
fn bundle_spec(rootfs: &Path, cgroup: &str) -> serde_json::Value {
    let caps = json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": ["sleep", "3600"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "cwd": "/",
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true,
        },
        "root": {"path": rootfs, "readonly": true},
        "hostname": "bench",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
                "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
                "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
                "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
                "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
                "options": ["nosuid", "noexec", "nodev", "ro"]},
        ],
        "linux": {
            "cgroupsPath": cgroup,
            "namespaces": [
                {"type": "pid"}, {"type": "network"}, {"type": "ipc"},
                {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"},
            ],
            "maskedPaths": ["/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
                "/proc/scsi"],
            "readonlyPaths": ["/proc/asound", "/proc/bus", "/proc/fs", "/proc/irq",
                "/proc/sys", "/proc/sysrq-trigger"],
        },
    })
}

/// Kill and delete every container under runc root `root` (all at once).
async fn remove_bare(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    let ids: Vec<String> = entries
        .flatten()
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .collect();
    let n = ids.len().max(1);
    let deletes = ids.into_iter().map(|id| {
        let root = root.to_path_buf();
        async move {
            let out = Command::new("runc")
                .arg("--root")
                .arg(&root)
                .args(["delete", "-f", &id])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .output()
                .await;
            match out {
                Ok(o) if o.status.success() => {}
                Ok(o) => {
                    warn!(id, error = %String::from_utf8_lossy(&o.stderr).trim(), "runc delete failed")
                }
                Err(e) => warn!(id, error = %e, "cannot run runc delete"),
            }
        }
    });
    futures::stream::iter(deletes)
        .buffer_unordered(n)
        .collect::<Vec<()>>()
        .await;
}

/// Remove the (empty) parent cgroup of the bare containers, in every
/// hierarchy it was made in.
fn remove_cgroups(name: &str) {
    let mut dirs: Vec<PathBuf> = vec![Path::new("/sys/fs/cgroup").join(name)];
    if let Ok(hierarchies) = std::fs::read_dir("/sys/fs/cgroup") {
        dirs.extend(hierarchies.flatten().map(|h| h.path().join(name)));
    }
    for dir in dirs {
        if dir.is_dir() {
            if let Err(e) = std::fs::remove_dir(&dir) {
                warn!(dir = %dir.display(), error = %e, "cannot remove a cgroup");
            }
        }
    }
}

fn render(
    n: usize,
    load: &anyhow::Result<Duration>,
    node: &anyhow::Result<NodeOutcome>,
    bare: &anyhow::Result<RuncOutcome>,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "rkube bench node: {n} busybox pods on one real node (rkube up --real-node, runc) against {n} bare `runc run -d`\n"
    );
    let _ = writeln!(
        out,
        "| measurement | rkube (real node) | bare runc | rkube / runc | target |"
    );
    let _ = writeln!(out, "| --- | --- | --- | --- | --- |");
    let secs = |d: Duration| human_seconds(d.as_secs_f64());
    let cell = |r: Result<String, String>| r.unwrap_or_else(|e| format!("failed: {e}"));
    let node_cell = |f: &dyn Fn(&NodeOutcome) -> String| {
        cell(node.as_ref().map(f).map_err(|e| format!("{e:#}")))
    };
    let bare_cell = |f: &dyn Fn(&RuncOutcome) -> String| {
        cell(bare.as_ref().map(f).map_err(|e| format!("{e:#}")))
    };
    let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.1}×", a / b),
        _ => "-".to_string(),
    };
    let nv = |f: &dyn Fn(&NodeOutcome) -> f64| node.as_ref().ok().map(f);
    let bv = |f: &dyn Fn(&RuncOutcome) -> f64| bare.as_ref().ok().map(f);

    let _ = writeln!(
        out,
        "| started (Running and Ready / runc run -d returned) | {} | {} | | {n} |",
        node_cell(&|o| o.pods.to_string()),
        bare_cell(&|o| o.containers.to_string()),
    );
    let _ = writeln!(
        out,
        "| time to all started | {} | {} | {} | ≤ 10 s (100 pods) |",
        node_cell(&|o| secs(o.all_running)),
        bare_cell(&|o| secs(o.all_started)),
        ratio(
            nv(&|o| o.all_running.as_secs_f64()),
            bv(&|o| o.all_started.as_secs_f64())
        ),
    );
    let _ = writeln!(
        out,
        "| startup p50 (create → Running seen / runc run -d) | {} | {} | {} | ≤ 2× bare runc |",
        node_cell(&|o| human_seconds(o.startup.p50)),
        bare_cell(&|o| human_seconds(o.startup.p50)),
        ratio(nv(&|o| o.startup.p50), bv(&|o| o.startup.p50)),
    );
    let _ = writeln!(
        out,
        "| startup p99 | {} | {} | {} | |",
        node_cell(&|o| human_seconds(o.startup.p99)),
        bare_cell(&|o| human_seconds(o.startup.p99)),
        ratio(nv(&|o| o.startup.p99), bv(&|o| o.startup.p99)),
    );
    let _ = writeln!(
        out,
        "| create → Ready seen, p50 / p99 | {} | | | |",
        node_cell(&|o| format!(
            "{} / {}",
            human_seconds(o.ready.p50),
            human_seconds(o.ready.p99)
        )),
    );
    let _ = writeln!(
        out,
        "|   create → status.startTime (kubelet took it), p50 / p99, ±1 s | {} | | | |",
        node_cell(&|o| format!("{:.0} s / {:.0} s", o.accepted.p50, o.accepted.p99)),
    );
    let _ = writeln!(
        out,
        "|   create → container startedAt, p50 / p99, ±1 s | {} | | | |",
        node_cell(&|o| format!(
            "{:.0} s / {:.0} s",
            o.container_started.p50, o.container_started.p99
        )),
    );
    let _ = writeln!(
        out,
        "| delete all (until gone / runc delete -f) | {} | {} | {} | |",
        node_cell(&|o| secs(o.delete_all)),
        bare_cell(&|o| secs(o.delete_all)),
        ratio(
            nv(&|o| o.delete_all.as_secs_f64()),
            bv(&|o| o.delete_all.as_secs_f64())
        ),
    );
    let _ = writeln!(
        out,
        "| RSS of rkube up, {n} pods running (peak) | {} | | | ≤ 150 MiB |",
        node_cell(&|o| format!(
            "{} ({})",
            human_bytes(o.rss as f64),
            human_bytes(o.peak_rss as f64)
        )),
    );
    let _ = writeln!(
        out,
        "| shims (one process per container): total RSS / PSS | {} | | | |",
        node_cell(&|o| format!(
            "{} shims: {} / {}",
            o.shims,
            human_bytes(o.shim_rss as f64),
            human_bytes(o.shim_pss as f64)
        )),
    );
    let _ = writeln!(
        out,
        "| CPU time of rkube up: start all / delete all | {} | | | |",
        node_cell(&|o| format!("{:.1} s / {:.1} s", o.cpu_start_s, o.cpu_delete_s)),
    );
    let _ = writeln!(
        out,
        "| `rkube image load` of a {} MiB image (docker save tar) | {} | | | ≤ 2 s |",
        BIG_BYTES / (1024 * 1024),
        cell(
            load.as_ref()
                .map(|d| secs(*d))
                .map_err(|e| format!("{e:#}"))
        ),
    );
    out
}

fn render_streams(streams: &anyhow::Result<StreamsOutcome>) -> String {
    let mut out = String::new();
    let s = match streams {
        Ok(s) => s,
        Err(e) => return format!("streams through the API server: failed: {e:#}\n"),
    };
    let mib = |rate: f64| format!("{:.0} MiB/s", rate / (1024.0 * 1024.0));
    let ms = |secs: f64| format!("{:.2} ms", secs * 1000.0);
    let _ = writeln!(
        out,
        "streams through the API server to the real node (kube-rs, WebSocket)\n"
    );
    let _ = writeln!(
        out,
        "| measurement | through rkube | floor | ratio | target |"
    );
    let _ = writeln!(out, "| --- | --- | --- | --- | --- |");
    let _ = writeln!(
        out,
        "| port-forward, one GET of {} MiB (floor: loopback TCP) | {} | {} | {:.1} % | ≥ 10 % |",
        s.bytes >> 20,
        mib(s.port_forward_rate()),
        mib(s.loopback_rate()),
        100.0 * s.port_forward_rate() / s.loopback_rate().max(1e-9),
    );
    let _ = writeln!(
        out,
        "| exec round trip: a line through `cat`, p50 / p99 ({} rounds) | {} / {} | | | p50 ≤ 5 ms |",
        s.exec_echo.count,
        ms(s.exec_echo.p50),
        ms(s.exec_echo.p99),
    );
    let _ = writeln!(
        out,
        "| exec `true`: request → status, p50 / p99 | {} / {} | | | |",
        ms(s.exec_start.p50),
        ms(s.exec_start.p99),
    );
    out
}
