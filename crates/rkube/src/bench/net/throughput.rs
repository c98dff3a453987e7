//! TCP throughput with the same tools three ways, in the same run: two
//! busybox pods on the real node — a server (`nc -ll -p 5001 -e sh -c
//! 'cat > /dev/null'`, one fork per connection) and a client that pipes
//! `dd if=/dev/zero` into `nc` — to the server's pod IP (pod to pod) and to
//! a ClusterIP Service selecting it (pod to Service); and host loopback:
//! the same busybox commands from /bin/busybox on the host, in a network
//! namespace of their own (`unshare -n`, so the listener is reachable from
//! nowhere but itself). Each transfer is timed where it runs (from
//! `/proc/uptime`, 10 ms steps); the best of a few rounds, interleaved.

use std::net::Ipv4Addr;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context;
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::api::{Api, AttachParams, DeleteParams, PostParams};
use serde_json::json;
use tokio::io::AsyncReadExt;
use tokio::process::Command;

use super::cluster::IMAGE;
use super::rules::NAMESPACE;

const SERVER: &str = "bench-net-server";
const CLIENT: &str = "bench-net-client";
const PORT: u16 = 5001;
/// dd's block size.
const BLOCK: usize = 64 * 1024;
/// Transfers of each kind (the best counts).
const ROUNDS: usize = 3;

/// Bytes per second of one path, or why it could not be measured.
pub(super) type Rate = Result<f64, String>;

/// What the throughput phase measured.
#[derive(Debug)]
pub(super) struct ThroughputOutcome {
    pub bytes: usize,
    pub pod_to_pod: Rate,
    pub pod_to_service: Rate,
    pub loopback: Rate,
}

/// Create the pods and the Service (early: containers that use the image
/// keep the kubelet's image GC off it); their Service's ClusterIP.
pub(super) async fn create(client: &kube::Client) -> anyhow::Result<Ipv4Addr> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), NAMESPACE);
    let svcs: Api<Service> = Api::namespaced(client.clone(), NAMESPACE);
    let server: Pod = serde_json::from_value(json!({
        "metadata": {"name": SERVER, "labels": {"app": SERVER}},
        "spec": {
            "terminationGracePeriodSeconds": 1,
            "containers": [{
                "name": "nc",
                "image": IMAGE,
                "command": ["nc", "-ll", "-p", PORT.to_string(), "-e", "sh", "-c", "cat > /dev/null"],
            }],
        },
    }))?;
    let client_pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": CLIENT},
        "spec": {
            "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "c", "image": IMAGE, "command": ["sleep", "3600"]}],
        },
    }))?;
    let svc: Service = serde_json::from_value(json!({
        "metadata": {"name": SERVER},
        "spec": {
            "selector": {"app": SERVER},
            "ports": [{"name": "nc", "port": PORT, "targetPort": PORT, "protocol": "TCP"}],
        },
    }))?;
    pods.create(&PostParams::default(), &server)
        .await
        .context("cannot create the server pod")?;
    pods.create(&PostParams::default(), &client_pod)
        .await
        .context("cannot create the client pod")?;
    let svc = svcs
        .create(&PostParams::default(), &svc)
        .await
        .context("cannot create the server's Service")?;
    svc.spec
        .as_ref()
        .and_then(|s| s.cluster_ip.as_deref())
        .and_then(|ip| ip.parse().ok())
        .context("the server's Service got no ClusterIP")
}

/// Measure through the pods and Service [`create`] made, delete them.
pub(super) async fn measure(
    client: &kube::Client,
    created: anyhow::Result<Ipv4Addr>,
    bytes: usize,
) -> anyhow::Result<ThroughputOutcome> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), NAMESPACE);
    let svcs: Api<Service> = Api::namespaced(client.clone(), NAMESPACE);
    let result = match created {
        Ok(cluster_ip) => measure_on(&pods, cluster_ip, bytes).await,
        Err(e) => Err(e),
    };
    for name in [SERVER, CLIENT] {
        let _ = pods.delete(name, &DeleteParams::default()).await;
    }
    let _ = svcs.delete(SERVER, &DeleteParams::default()).await;
    result
}

async fn measure_on(
    pods: &Api<Pod>,
    cluster_ip: Ipv4Addr,
    bytes: usize,
) -> anyhow::Result<ThroughputOutcome> {
    let server_ip = wait_running(pods, SERVER).await?;
    wait_running(pods, CLIENT).await?;

    let count = bytes.div_ceil(BLOCK);
    let bytes = count * BLOCK;
    // The listener is up once a connection goes through.
    wait_connects(pods, server_ip, Duration::from_secs(30))
        .await
        .context("the server pod does not accept connections")?;
    let service_ready = wait_connects(pods, cluster_ip, Duration::from_secs(30))
        .await
        .map_err(|e| {
            format!("through the ClusterIP {cluster_ip}: {e:#} (is the Service proxy running?)")
        });

    let mut pod_to_pod: Rate = Err("not run".into());
    let mut pod_to_service: Rate = service_ready.map(|_| 0.0);
    let mut loopback: Rate = Err("not run".into());
    for _ in 0..ROUNDS {
        pod_to_pod = best(pod_to_pod, in_pod(pods, server_ip, count).await, bytes);
        if pod_to_service.is_ok() {
            pod_to_service = best(pod_to_service, in_pod(pods, cluster_ip, count).await, bytes);
        }
        loopback = best(loopback, on_host(count).await, bytes);
    }
    Ok(ThroughputOutcome {
        bytes,
        pod_to_pod,
        pod_to_service,
        loopback,
    })
}

/// The better of a rate so far and one more transfer of `bytes` that
/// took `took` (an error of the transfer wins over nothing measured).
fn best(so_far: Rate, took: anyhow::Result<Duration>, bytes: usize) -> Rate {
    match (so_far, took) {
        (Ok(r), Ok(d)) => Ok(r.max(bytes as f64 / d.as_secs_f64().max(0.01))),
        (Err(_), Ok(d)) => Ok(bytes as f64 / d.as_secs_f64().max(0.01)),
        (Ok(r), Err(_)) if r > 0.0 => Ok(r),
        (_, Err(e)) => Err(format!("{e:#}")),
    }
}

/// The shell script timing one transfer of `count` blocks to `addr`;
/// prints `rkube-bench RC START END` (uptime seconds).
fn script(nc: &str, addr: Ipv4Addr, count: usize) -> String {
    format!(
        "read a _ < /proc/uptime; {nc} dd if=/dev/zero bs={BLOCK} count={count} 2>/dev/null | {nc} nc {addr} {PORT}; r=$?; read b _ < /proc/uptime; echo \"rkube-bench $r $a $b\""
    )
}

/// The transfer's duration from the script's last line.
pub(super) fn parse_timing(out: &str) -> anyhow::Result<Duration> {
    let line = out
        .lines()
        .rev()
        .find(|l| l.starts_with("rkube-bench "))
        .with_context(|| format!("no timing in the output: {:?}", out.trim()))?;
    let f: Vec<&str> = line.split_whitespace().collect();
    let [_, rc, a, b] = f.as_slice() else {
        anyhow::bail!("a malformed timing line: {line:?}");
    };
    anyhow::ensure!(*rc == "0", "nc failed (exit status {rc})");
    let a: f64 = a.parse().context("start time")?;
    let b: f64 = b.parse().context("end time")?;
    anyhow::ensure!(b >= a, "the clock went backwards");
    Ok(Duration::from_secs_f64(b - a))
}

/// One transfer from the client pod to `addr`.
async fn in_pod(pods: &Api<Pod>, addr: Ipv4Addr, count: usize) -> anyhow::Result<Duration> {
    let out = exec(
        pods,
        &["sh", "-c", &script("", addr, count)],
        Duration::from_secs(300),
    )
    .await?;
    parse_timing(&out)
}

/// One transfer on the host's loopback, busybox for every tool, in a
/// network namespace of its own.
async fn on_host(count: usize) -> anyhow::Result<Duration> {
    let bb = rkube_image::test_support::BUSYBOX;
    let inner = script(bb, Ipv4Addr::LOCALHOST, count);
    let full = format!(
        "ip link set lo up || exit 1; {bb} nc -ll -p {PORT} -e {bb} sh -c '{bb} cat > /dev/null' & s=$!; \
         i=0; until {bb} nc 127.0.0.1 {PORT} < /dev/null; do i=$((i+1)); [ $i -gt 50 ] && exit 1; {bb} sleep 0.1; done; \
         {inner}; kill $s"
    );
    let run = Command::new("unshare")
        .args(["-n", bb, "sh", "-c", &full])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(300), run)
        .await
        .context("the loopback transfer took longer than 300 s")?
        .context("cannot run unshare (install the Debian package util-linux)")?;
    let text = String::from_utf8_lossy(&out.stdout);
    parse_timing(&text)
        .with_context(|| format!("loopback: {}", String::from_utf8_lossy(&out.stderr).trim()))
}

/// Retry an empty connection from the client pod to `addr` until it
/// goes through.
async fn wait_connects(pods: &Api<Pod>, addr: Ipv4Addr, timeout: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    let probe = format!("nc {addr} {PORT} < /dev/null && echo connected");
    loop {
        let out = exec(pods, &["sh", "-c", &probe], Duration::from_secs(10)).await;
        match out {
            Ok(o) if o.contains("connected") => return Ok(()),
            other => {
                let why = match other {
                    Ok(o) => o.trim().to_string(),
                    Err(e) => format!("{e:#}"),
                };
                anyhow::ensure!(
                    Instant::now() < deadline,
                    "no connection to {addr}:{PORT} in {timeout:?} (last: {why})"
                );
            }
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Run `cmd` in the client pod; its standard output.
async fn exec(pods: &Api<Pod>, cmd: &[&str], timeout: Duration) -> anyhow::Result<String> {
    let run = async {
        let mut p = pods
            .exec(CLIENT, cmd.to_vec(), &AttachParams::default().stderr(false))
            .await
            .context("exec in the client pod")?;
        let mut stdout = p.stdout().context("no stdout")?;
        let mut out = String::new();
        stdout.read_to_string(&mut out).await?;
        p.join().await.context("the exec did not end")?;
        anyhow::Ok(out)
    };
    tokio::time::timeout(timeout, run)
        .await
        .with_context(|| format!("exec ran longer than {timeout:?}"))?
}

/// Waits until pod `name` is Running; its IP.
async fn wait_running(pods: &Api<Pod>, name: &str) -> anyhow::Result<Ipv4Addr> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let p = pods.get(name).await?;
        let status = p.status.as_ref();
        let running = status.and_then(|s| s.phase.as_deref()) == Some("Running");
        let ip = status
            .and_then(|s| s.pod_ip.as_deref())
            .and_then(|ip| ip.parse().ok());
        if let (true, Some(ip)) = (running, ip) {
            return Ok(ip);
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the pod {name} is not Running with an IP after 60 s (phase {:?}, podIP {:?}, containers {:?})",
            status.and_then(|s| s.phase.clone()),
            status.and_then(|s| s.pod_ip.clone()),
            status
                .and_then(|s| s.container_statuses.as_ref())
                .map(|cs| cs.iter().map(|c| format!("{:?}", c.state)).collect::<Vec<_>>())
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timing_lines() {
        let d = parse_timing("junk\nrkube-bench 0 100.25 101.50\n").expect("parses");
        assert!((d.as_secs_f64() - 1.25).abs() < 1e-9);
        assert!(parse_timing("rkube-bench 1 1.0 2.0").is_err());
        assert!(parse_timing("nothing").is_err());
    }

    #[test]
    fn best_keeps_the_fastest() {
        let r = best(Err("not run".into()), Ok(Duration::from_secs(2)), 100);
        assert_eq!(r, Ok(50.0));
        let r = best(r, Ok(Duration::from_secs(1)), 100);
        assert_eq!(r, Ok(100.0));
        let r = best(r, Err(anyhow::anyhow!("boom")), 100);
        assert_eq!(r, Ok(100.0));
        assert!(best(Err("x".into()), Err(anyhow::anyhow!("boom")), 1).is_err());
    }

    /// The host side for real: busybox nc over loopback in a namespace of
    /// its own (root, util-linux, busybox-static).
    #[tokio::test]
    async fn loopback_transfer_runs() {
        let d = on_host(64).await.expect("a loopback transfer of 4 MiB");
        assert!(d < Duration::from_secs(60));
    }
}
