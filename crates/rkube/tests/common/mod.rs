//! Helpers for tests that run the real `rkube` binary.

#![allow(dead_code)]

use std::ffi::OsString;
use std::fs::File;

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// The binary under test.
pub fn rkube() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rkube"));
    cmd.env_remove("RKUBE_DATA_DIR").env("RUST_LOG", "info");
    cmd
}

/// Run `rkube ARGS` to completion.
pub fn run(args: &[&str]) -> Output {
    rkube()
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run rkube")
}

/// A loopback address with a port that was free a moment ago. The port is
/// drawn at random below the kernel's ephemeral range (32768 and up), so the
/// outgoing connections of tests running alongside, which take ephemeral
/// ports, cannot take it before the server binds it.
pub fn free_addr() -> SocketAddr {
    use std::hash::{BuildHasher, Hasher};
    for _ in 0..200 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        let port = 20_000 + (h.finish() % 12_000) as u16;
        if let Ok(l) = TcpListener::bind(("127.0.0.1", port)) {
            return l.local_addr().expect("local addr");
        }
    }
    let l = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    l.local_addr().expect("local addr")
}

/// A running `rkube` process, killed (SIGKILL) if still running when dropped.
/// Its stderr goes to `log` so a failing test can show it.
pub struct Running {
    pub child: Child,
    pub addr: SocketAddr,
    log: std::path::PathBuf,
}

impl Running {
    /// Start `rkube ARGS` (listening on `addr`) with stderr to a file in
    /// `dir`. If the port was taken between [`free_addr`] and the server's
    /// bind, the command runs again on another port: use `Running::addr`,
    /// not `addr`, afterwards.
    pub fn start(cmd: Command, addr: SocketAddr, dir: &Path) -> Running {
        let log = dir.join("rkube.log");
        let program = cmd.get_program().to_owned();
        let mut args: Vec<OsString> = cmd.get_args().map(|a| a.to_owned()).collect();
        let envs: Vec<(OsString, Option<OsString>)> = cmd
            .get_envs()
            .map(|(k, v)| (k.to_owned(), v.map(|v| v.to_owned())))
            .collect();
        let mut addr = addr;
        for _ in 0..5 {
            let mut c = Command::new(&program);
            c.args(&args);
            for (k, v) in &envs {
                match v {
                    Some(v) => c.env(k, v),
                    None => c.env_remove(k),
                };
            }
            let mut child = c
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(File::create(&log).expect("create log file"))
                .spawn()
                .expect("spawn rkube");
            // A taken port ends the process at once; give it a moment.
            std::thread::sleep(Duration::from_millis(200));
            let taken = matches!(child.try_wait(), Ok(Some(_)))
                && std::fs::read_to_string(&log)
                    .unwrap_or_default()
                    .contains("Address already in use");
            if !taken {
                return Running { child, addr, log };
            }
            let _ = child.wait();
            let (old, next) = (addr.to_string(), free_addr());
            for a in &mut args {
                if a.to_str() == Some(old.as_str()) {
                    *a = OsString::from(next.to_string());
                }
            }
            addr = next;
        }
        panic!("no free port for rkube after 5 attempts")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the process logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Poll `GET path` until it answers 200 with `body`, or panic after `timeout`.
    pub fn wait_for(&mut self, path: &str, body: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                panic!("rkube exited early ({status}); log:\n{}", self.log());
            }
            if let Ok((200, got)) = http_get(self.addr, path) {
                if got == body {
                    return;
                }
            }
            if Instant::now() >= deadline {
                panic!(
                    "{path} did not answer {body:?} within {timeout:?}; log:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Send a signal by pid (with the `kill` command: tests have no unsafe).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} failed");
    }

    /// Wait for the process to exit, or panic after `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            if Instant::now() >= deadline {
                panic!(
                    "rkube did not exit within {timeout:?}; log:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// An anonymous HTTPS GET (rkube serves only HTTPS; its certificate is
/// signed by the cluster CA, which this check does not pin): status and body.
pub fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    curl_get(addr, path, &[])
}

/// An HTTPS GET as the cluster admin, with the client certificate from
/// `DATA_DIR/pki`, verifying the server against the cluster CA.
pub fn admin_get(addr: SocketAddr, data_dir: &Path, path: &str) -> std::io::Result<(u16, String)> {
    let pki = data_dir.join("pki");
    let arg = |f: &str| pki.join(f).display().to_string();
    curl_get(
        addr,
        path,
        &[
            "--cacert".into(),
            arg("ca.crt"),
            "--cert".into(),
            arg("admin.crt"),
            "--key".into(),
            arg("admin.key"),
        ],
    )
}

fn curl_get(addr: SocketAddr, path: &str, extra: &[String]) -> std::io::Result<(u16, String)> {
    let insecure = if extra.is_empty() {
        vec!["-k".to_string()]
    } else {
        vec![]
    };
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "5", "-w", "\n%{http_code}"])
        .args(insecure)
        .args(extra)
        .arg(format!("https://{addr}{path}"))
        .output()?;
    if !out.status.success() {
        return Err(std::io::Error::other(
            String::from_utf8_lossy(&out.stderr).to_string(),
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    let code = code
        .trim()
        .parse()
        .map_err(|_| std::io::Error::other(format!("bad curl output: {text}")))?;
    Ok((code, body.to_string()))
}
