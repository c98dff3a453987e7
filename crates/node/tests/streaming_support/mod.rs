//! The streaming tests' node: the node's API on 127.0.0.1 (a real hyper
//! server with upgrades) over a fake runtime whose `exec` runs local
//! processes and whose `port_forward` reaches loopback servers of the
//! test (pod port 80: echo; 82: answers one line and closes; any other
//! port: closed).

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use rkube_cri::{
    AttachRequest, ContainerConfig, ContainerState, ContainerStatus, CriError, ExecRequest,
    ExecResult, PodSandboxConfig, RuntimeService, SandboxInfo, SandboxState, StreamIo, TermSize,
};
use rkube_node::kubelet::KubeletConfig;
use rkube_node::server::{router, ServerState};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

pub const POD: &str = "/default/web";

struct FakeRuntime {
    echo: SocketAddr,
    /// Pod port 82: answers one line and closes, as an HTTP/1.0 server.
    http: SocketAddr,
    /// An address where nothing listens.
    closed: SocketAddr,
    sizes: Arc<Mutex<Vec<TermSize>>>,
}

fn container(id: &str, name: &str, state: ContainerState) -> ContainerStatus {
    let labels: BTreeMap<String, String> = [
        ("io.kubernetes.pod.namespace", "default"),
        ("io.kubernetes.pod.name", "web"),
        ("io.kubernetes.pod.uid", "uid-1"),
        ("io.kubernetes.container.name", name),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    ContainerStatus {
        id: id.into(),
        sandbox_id: "sb1".into(),
        name: name.into(),
        attempt: 0,
        state,
        created_at: SystemTime::now(),
        started_at: None,
        finished_at: None,
        exit_code: 0,
        reason: String::new(),
        message: String::new(),
        image: "busybox".into(),
        image_id: "busybox".into(),
        log_path: Default::default(),
        labels,
    }
}

impl FakeRuntime {
    fn spawn(
        &self,
        cmd: &[String],
        stdin: bool,
        stdout: bool,
        stderr: bool,
    ) -> Result<StreamIo, CriError> {
        let pipe = |on: bool| if on { Stdio::piped() } else { Stdio::null() };
        let mut child = tokio::process::Command::new(&cmd[0])
            .args(&cmd[1..])
            .stdin(pipe(stdin))
            .stdout(pipe(stdout))
            .stderr(pipe(stderr))
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| CriError::Runtime(format!("starting {:?}: {e}", cmd[0])))?;
        let (resize_tx, mut resize_rx) = mpsc::channel(4);
        let sizes = self.sizes.clone();
        tokio::spawn(async move {
            while let Some(s) = resize_rx.recv().await {
                sizes.lock().unwrap().push(s);
            }
        });
        Ok(StreamIo {
            stdin: child.stdin.take().map(|s| Box::new(s) as _),
            stdout: child.stdout.take().map(|s| Box::new(s) as _),
            stderr: child.stderr.take().map(|s| Box::new(s) as _),
            resize: Some(resize_tx),
            exit: Box::pin(async move {
                let status = child
                    .wait()
                    .await
                    .map_err(|e| CriError::Runtime(e.to_string()))?;
                Ok(status.code().unwrap_or(128))
            }),
        })
    }
}

#[async_trait]
impl RuntimeService for FakeRuntime {
    async fn version(&self) -> Result<String, CriError> {
        Ok("fake://1".into())
    }
    async fn run_pod_sandbox(&self, _: &PodSandboxConfig) -> Result<SandboxInfo, CriError> {
        Err(CriError::Runtime("not in this test".into()))
    }
    async fn stop_pod_sandbox(&self, _: &str) -> Result<(), CriError> {
        Ok(())
    }
    async fn remove_pod_sandbox(&self, _: &str) -> Result<(), CriError> {
        Ok(())
    }
    async fn list_pod_sandboxes(&self) -> Result<Vec<SandboxInfo>, CriError> {
        Ok(vec![SandboxInfo {
            id: "sb1".into(),
            pod_uid: "uid-1".into(),
            pod_name: "web".into(),
            pod_namespace: "default".into(),
            attempt: 0,
            state: SandboxState::Ready,
            ip: None,
            created_at: SystemTime::now(),
        }])
    }
    async fn create_container(&self, _: &str, _: &ContainerConfig) -> Result<String, CriError> {
        Err(CriError::Runtime("not in this test".into()))
    }
    async fn start_container(&self, _: &str) -> Result<(), CriError> {
        Ok(())
    }
    async fn stop_container(&self, _: &str, _: Duration) -> Result<(), CriError> {
        Ok(())
    }
    async fn remove_container(&self, _: &str) -> Result<(), CriError> {
        Ok(())
    }
    async fn list_containers(&self) -> Result<Vec<ContainerStatus>, CriError> {
        Ok(vec![
            container("c-app", "app", ContainerState::Running),
            container("c-done", "done", ContainerState::Exited),
        ])
    }
    async fn container_status(&self, id: &str) -> Result<ContainerStatus, CriError> {
        Err(CriError::NotFound(id.into()))
    }
    async fn exec_sync(
        &self,
        _: &str,
        cmd: &[String],
        _: Duration,
    ) -> Result<ExecResult, CriError> {
        let out = tokio::process::Command::new(&cmd[0])
            .args(&cmd[1..])
            .output()
            .await
            .map_err(|e| CriError::Runtime(e.to_string()))?;
        Ok(ExecResult {
            exit_code: out.status.code().unwrap_or(128),
            stdout: out.stdout,
            stderr: out.stderr,
        })
    }
    async fn exec(&self, r: &ExecRequest) -> Result<StreamIo, CriError> {
        assert_eq!(r.container_id, "c-app");
        self.spawn(&r.cmd, r.stdin, r.stdout, r.stderr)
    }
    async fn attach(&self, r: &AttachRequest) -> Result<StreamIo, CriError> {
        // The container's main process: cat.
        self.spawn(&["cat".to_string()], r.stdin, r.stdout, r.stderr)
    }
    async fn port_forward(&self, sandbox_id: &str, port: u16) -> Result<TcpStream, CriError> {
        assert_eq!(sandbox_id, "sb1");
        let addr = match port {
            80 => self.echo,
            82 => self.http,
            _ => self.closed,
        };
        TcpStream::connect(addr).await.map_err(|e| {
            CriError::Runtime(format!(
                "failed to connect to localhost:{port} inside the pod: {e}"
            ))
        })
    }
}

pub struct Node {
    pub addr: SocketAddr,
    pub sizes: Arc<Mutex<Vec<TermSize>>>,
    _tasks: Vec<tokio::task::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl Drop for Node {
    fn drop(&mut self) {
        for t in &self._tasks {
            t.abort();
        }
    }
}

impl Node {
    pub async fn connect(&self) -> TcpStream {
        TcpStream::connect(self.addr).await.unwrap()
    }
}

pub async fn node() -> Node {
    let echo = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let echo_addr = echo.local_addr().unwrap();
    let echo_task = tokio::spawn(async move {
        while let Ok((mut c, _)) = echo.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = c.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    let http = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http_addr = http.local_addr().unwrap();
    let http_task = tokio::spawn(async move {
        while let Ok((mut c, _)) = http.accept().await {
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut buf = [0u8; 1024];
                let _ = c.read(&mut buf).await;
                let _ = c
                    .write_all(b"HTTP/1.0 200 OK\r\n\r\nhello from the pod\n")
                    .await;
            });
        }
    });
    // A port that was free a moment ago: nothing listens there.
    let closed = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let sizes = Arc::new(Mutex::new(Vec::new()));
    let dir = tempfile::tempdir().unwrap();
    let state = Arc::new(ServerState {
        config: Arc::new(KubeletConfig::new(
            "n1".into(),
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            dir.path(),
        )),
        runtime: Arc::new(FakeRuntime {
            echo: echo_addr,
            http: http_addr,
            closed,
            sizes: sizes.clone(),
        }),
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = router(state);
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Node {
        addr,
        sizes,
        _tasks: vec![echo_task, http_task, server],
        _dir: dir,
    }
}
