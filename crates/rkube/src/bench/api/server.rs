//! The server under test: `rkube server` started by the benchmark as a
//! child process (this same binary) on a free loopback port, on the
//! embedded store or on an etcd the benchmark started, and stopped by pid.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::process::{Child, Command};

use super::super::proc_status::{read_rss, Rss};

/// Where the server keeps its data.
#[derive(Clone, Debug)]
pub enum Backend {
    Embedded,
    /// etcd client URLs.
    Etcd(Vec<String>),
}

/// A running `rkube server`.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    backend: Backend,
}

fn free_addr() -> anyhow::Result<SocketAddr> {
    let l = TcpListener::bind("127.0.0.1:0").context("cannot find a free port")?;
    Ok(l.local_addr()?)
}

/// A client that only asks `/readyz` (anonymous, any certificate).
fn probe_client(addr: SocketAddr) -> anyhow::Result<kube::Client> {
    let url = format!("https://{addr}")
        .parse()
        .context("server address as URL")?;
    let mut config = kube::Config::new(url);
    config.accept_invalid_certs = true;
    config.connect_timeout = Some(Duration::from_millis(200));
    Ok(kube::Client::try_from(config)?)
}

impl Server {
    /// Start a server and wait for `/readyz`; returns it and the time from
    /// spawning the process to the first `ok`.
    pub async fn start(
        data_dir: &Path,
        backend: Backend,
        addr: Option<SocketAddr>,
    ) -> anyhow::Result<(Server, Duration)> {
        Self::start_with(data_dir, backend, addr, "server", &[]).await
    }

    /// [`Server::start`] for another serving subcommand (`up`) with more
    /// arguments.
    pub async fn start_with(
        data_dir: &Path,
        backend: Backend,
        addr: Option<SocketAddr>,
        subcommand: &str,
        extra: &[String],
    ) -> anyhow::Result<(Server, Duration)> {
        let addr = match addr {
            Some(a) => a,
            None => free_addr()?,
        };
        let exe = std::env::current_exe().context("cannot find the rkube binary")?;
        let mut cmd = Command::new(exe);
        cmd.arg(subcommand)
            .args(extra)
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--listen")
            .arg(addr.to_string())
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        if let Backend::Etcd(endpoints) = &backend {
            cmd.arg("--store")
                .arg("etcd")
                .arg("--etcd-endpoints")
                .arg(endpoints.join(","));
        }
        let probe = probe_client(addr)?;
        let started = Instant::now();
        let mut child = cmd.spawn().context("cannot start rkube server")?;
        let deadline = started + Duration::from_secs(120);
        loop {
            if let Some(status) = child.try_wait()? {
                anyhow::bail!("rkube server exited before it was ready ({status})");
            }
            let req = http::Request::get("/readyz").body(Vec::new())?;
            if let Ok(text) = probe.request_text(req).await {
                if text.trim() == "ok" {
                    break;
                }
            }
            anyhow::ensure!(Instant::now() < deadline, "rkube server not ready in 120 s");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let ready = started.elapsed();
        Ok((
            Server {
                child,
                addr,
                data_dir: data_dir.to_path_buf(),
                backend,
            },
            ready,
        ))
    }

    /// A fresh kube-rs client (its own connection pool) with the admin kubeconfig.
    pub async fn client(&self) -> anyhow::Result<kube::Client> {
        let path = self.data_dir.join("kubeconfig");
        let kubeconfig = kube::config::Kubeconfig::read_from(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let config = kube::Config::from_custom_kubeconfig(
            kubeconfig,
            &kube::config::KubeConfigOptions::default(),
        )
        .await?;
        Ok(kube::Client::try_from(config)?)
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// CPU seconds the server has used so far (user + system).
    pub fn cpu_seconds(&self) -> Option<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid()?)).ok()?;
        // Fields after the command's closing parenthesis; utime and stime
        // are the 12th and 13th of those, in clock ticks (100 per second).
        let rest = stat.rsplit_once(')')?.1;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks: f64 =
            fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
        Some(ticks / 100.0)
    }

    /// Waits until the server is idle (under 5 % of a core over half a
    /// second), at most `max`; returns how long that took. Background work
    /// a phase leaves behind (the store's snapshot after a bulk load) then
    /// does not land in the next phase's numbers.
    pub async fn wait_idle(&self, max: Duration) -> Duration {
        let started = std::time::Instant::now();
        let window = Duration::from_millis(500);
        let mut last = self.cpu_seconds();
        while started.elapsed() < max {
            tokio::time::sleep(window).await;
            let now = self.cpu_seconds();
            match (last, now) {
                (Some(a), Some(b)) if (b - a) / window.as_secs_f64() < 0.05 => break,
                (_, None) => break,
                _ => {}
            }
            last = now;
        }
        started.elapsed()
    }

    /// The server's resident memory now and at its peak.
    pub fn rss(&self) -> anyhow::Result<Rss> {
        let pid = self.pid().context("the server has exited")?;
        Ok(read_rss(Some(pid))?)
    }

    /// Kill the server (SIGKILL, by pid) and start it again on the same
    /// data and address; returns the time to `/readyz`.
    pub async fn restart(self) -> anyhow::Result<(Server, Duration)> {
        let Server {
            mut child,
            addr,
            data_dir,
            backend,
        } = self;
        child.kill().await.context("cannot stop rkube server")?;
        // The port is free once the process is gone.
        Server::start(&data_dir, backend, Some(addr)).await
    }

    /// Stop the server (SIGKILL, by pid).
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}
