//! [`EtcdServer`]: start a real, single-member `etcd` on free loopback ports
//! with a fresh data directory, wait until it serves, and kill it (by pid)
//! when dropped.
//!
//! The binary is `$RKUBE_ETCD_BIN` if set, else `etcd` on `PATH`. etcd keeps
//! its durability defaults (every write is fsynced), because benchmarks
//! compare durable writes. Its logs go to `etcd.log` beside the data
//! directory and are quoted in the error when it fails to start.

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How to start an [`EtcdServer`]. `Default` gives the usual test setup.
#[derive(Clone, Debug, Default)]
pub struct EtcdServerOptions {
    /// The etcd binary. Default: `$RKUBE_ETCD_BIN`, else `etcd` on `PATH`.
    pub bin: Option<PathBuf>,
    /// Where to create the temporary directory (data dir and log). Default:
    /// the system temp dir. Benchmarks point this at the same filesystem as
    /// the store they compare with.
    pub temp_parent: Option<PathBuf>,
    /// Extra command-line flags appended after rkube's own.
    pub extra_args: Vec<String>,
    /// How long to wait for etcd to serve. Default 10 s.
    pub startup_timeout: Option<Duration>,
}

/// A running etcd process owned by this handle. Dropping it kills the
/// process (SIGKILL, by pid), waits for it and removes its directory.
#[derive(Debug)]
pub struct EtcdServer {
    child: Child,
    client_url: String,
    dir: tempfile::TempDir,
}

/// Attempts at finding free ports before giving up (another process may
/// take a port between our probe and etcd's bind).
const PORT_ATTEMPTS: usize = 3;

impl EtcdServer {
    /// Start etcd with default options and wait until it serves.
    ///
    /// This blocks the calling thread for up to the startup timeout; from
    /// async code prefer [`EtcdServer::start_async`].
    pub fn start() -> io::Result<EtcdServer> {
        Self::start_with(EtcdServerOptions::default())
    }

    /// [`EtcdServer::start`] on a blocking thread, for async callers.
    pub async fn start_async() -> io::Result<EtcdServer> {
        Self::start_with_async(EtcdServerOptions::default()).await
    }

    /// [`EtcdServer::start_with`] on a blocking thread, for async callers.
    pub async fn start_with_async(opts: EtcdServerOptions) -> io::Result<EtcdServer> {
        tokio::task::spawn_blocking(move || Self::start_with(opts))
            .await
            .map_err(|e| io::Error::other(format!("etcd start task failed: {e}")))?
    }

    /// Start etcd with `opts` and wait until it serves.
    pub fn start_with(opts: EtcdServerOptions) -> io::Result<EtcdServer> {
        let mut last_err = None;
        for _ in 0..PORT_ATTEMPTS {
            match Self::try_start(&opts) {
                Ok(server) => return Ok(server),
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err.unwrap_or_else(|| io::Error::other("etcd did not start")))
    }

    fn try_start(opts: &EtcdServerOptions) -> io::Result<EtcdServer> {
        let bin = opts
            .bin
            .clone()
            .or_else(|| std::env::var_os("RKUBE_ETCD_BIN").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("etcd"));
        let dir = match &opts.temp_parent {
            Some(parent) => tempfile::Builder::new()
                .prefix("rkube-etcd-")
                .tempdir_in(parent)?,
            None => tempfile::Builder::new().prefix("rkube-etcd-").tempdir()?,
        };
        let data_dir = dir.path().join("data");
        let log_path = dir.path().join("etcd.log");
        let client_port = free_port()?;
        let mut peer_port = free_port()?;
        while peer_port == client_port {
            peer_port = free_port()?;
        }
        let client_url = format!("http://127.0.0.1:{client_port}");
        let peer_url = format!("http://127.0.0.1:{peer_port}");
        let log = File::create(&log_path)?;

        let mut cmd = Command::new(&bin);
        cmd.arg("--name")
            .arg("rkube-test")
            .arg("--data-dir")
            .arg(&data_dir)
            .arg("--listen-client-urls")
            .arg(&client_url)
            .arg("--advertise-client-urls")
            .arg(&client_url)
            .arg("--listen-peer-urls")
            .arg(&peer_url)
            .arg("--initial-advertise-peer-urls")
            .arg(&peer_url)
            .arg("--initial-cluster")
            .arg(format!("rkube-test={peer_url}"))
            .arg("--initial-cluster-state")
            .arg("new")
            .arg("--logger")
            .arg("zap")
            .arg("--log-outputs")
            .arg("stderr")
            .arg("--log-level")
            .arg("error")
            .args(&opts.extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log));
        let child = cmd.spawn().map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot run etcd binary {}: {e}", bin.display()),
            )
        })?;
        let mut server = EtcdServer {
            child,
            client_url,
            dir,
        };

        let timeout = opts.startup_timeout.unwrap_or(Duration::from_secs(10));
        let addr = SocketAddr::from(([127, 0, 0, 1], client_port));
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = server.child.try_wait()? {
                return Err(io::Error::other(format!(
                    "etcd exited during startup ({status}); log:\n{}",
                    tail(&log_path)
                )));
            }
            if is_healthy(addr) {
                return Ok(server);
            }
            if Instant::now() >= deadline {
                // Drop kills it and removes the directory; read the log first.
                let log = tail(&log_path);
                drop(server);
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("etcd did not serve within {timeout:?}; log:\n{log}"),
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Client URLs, ready for [`crate::etcd::EtcdStore::connect`].
    pub fn endpoints(&self) -> Vec<String> {
        vec![self.client_url.clone()]
    }

    /// The etcd process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The temporary directory holding `data/` (etcd's data dir) and `etcd.log`.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for EtcdServer {
    fn drop(&mut self) {
        // `Child::kill` sends SIGKILL to this child's pid only.
        let _ = self.child.kill();
        let _ = self.child.wait();
        // `self.dir` (a TempDir) removes the directory when dropped after this.
    }
}

/// A loopback port nobody listens on right now.
fn free_port() -> io::Result<u16> {
    let listener = TcpListener::bind(("127.0.0.1", 0))?;
    Ok(listener.local_addr()?.port())
}

/// Whether etcd answers `GET /health` with `"health":"true"` (it does once
/// it has a leader and can serve a read).
fn is_healthy(addr: SocketAddr) -> bool {
    let probe = || -> io::Result<bool> {
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(200))?;
        stream.set_read_timeout(Some(Duration::from_secs(2)))?;
        stream.set_write_timeout(Some(Duration::from_secs(2)))?;
        stream.write_all(b"GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
        let mut body = String::new();
        stream.read_to_string(&mut body)?;
        Ok(body.contains("\"health\":\"true\""))
    };
    probe().unwrap_or(false)
}

/// The last few KiB of the log, for error messages.
fn tail(path: &Path) -> String {
    let text = std::fs::read(path).unwrap_or_default();
    let start = text.len().saturating_sub(4096);
    String::from_utf8_lossy(&text[start..]).into_owned()
}
