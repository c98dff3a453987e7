//! `/exec/...`, `/attach/...`, `/portForward/...` and `/run/...`: the
//! kubelet's streaming paths. Each finds the pod's container or sandbox
//! through the runtime's labels (`lookup.rs`), refuses with a `Status`
//! before any upgrade when it is missing or not running, negotiates the
//! protocol and upgrades (framing by `rkube-stream`), then runs the
//! command (`RuntimeService::exec`/`attach`) or connects to the pod's
//! ports (`RuntimeService::port_forward`) and pipes the bytes.
//!
//! Query parameters, as the kubelet reads them (and as the API server's
//! `PodExecOptions` names them): `command` (repeated), `input`/`stdin`,
//! `output`/`stdout`, `error`/`stderr`, `tty`; `port`/`ports` (repeated
//! or comma-separated) for port-forward; `cmd` for `/run`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use hyper_util::rt::TokioIo;
use rkube_cri::{AttachRequest, ExecRequest, RuntimeService, StreamIo};
use rkube_stream::{
    negotiate, ExecOptions, ExecOutcome, ExecSession, ForwardRequest, ForwardStream,
    PortForwardSession, SessionKind, Upgrade,
};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::task::JoinSet;

use super::error::NodeApiError;
use super::{lookup, ServerState};
use crate::kubelet::container::sandbox::LABEL_POD_UID;

/// How long `/run` lets a command run.
const RUN_TIMEOUT: Duration = Duration::from_secs(300);
/// Buffer of each direction of a forwarded connection.
const FORWARD_BUFFER: usize = 64 * 1024;

/// This file's routes.
pub fn routes() -> Router<Arc<ServerState>> {
    Router::new()
        .route("/exec/:namespace/:pod/:container", get(exec).post(exec))
        .route(
            "/exec/:namespace/:pod/:uid/:container",
            get(exec).post(exec),
        )
        .route(
            "/attach/:namespace/:pod/:container",
            get(attach).post(attach),
        )
        .route(
            "/attach/:namespace/:pod/:uid/:container",
            get(attach).post(attach),
        )
        .route(
            "/portForward/:namespace/:pod",
            get(port_forward).post(port_forward),
        )
        .route(
            "/portForward/:namespace/:pod/:uid",
            get(port_forward).post(port_forward),
        )
        .route("/run/:namespace/:pod/:container", post(run))
        .route("/run/:namespace/:pod/:uid/:container", post(run))
}

type Params = HashMap<String, String>;

/// The path's `namespace`, `pod`, optional `uid`, optional `container`.
struct Target {
    namespace: String,
    pod: String,
    uid: Option<String>,
    container: String,
}

impl Target {
    fn from(mut p: Params) -> Target {
        Target {
            namespace: p.remove("namespace").unwrap_or_default(),
            pod: p.remove("pod").unwrap_or_default(),
            uid: p.remove("uid"),
            container: p.remove("container").unwrap_or_default(),
        }
    }

    /// The running container, checked against the path's uid.
    async fn running_container(
        &self,
        runtime: &dyn RuntimeService,
    ) -> Result<rkube_cri::ContainerStatus, NodeApiError> {
        let c =
            lookup::running_container(runtime, &self.namespace, &self.pod, &self.container).await?;
        if let (Some(uid), Some(label)) = (&self.uid, c.labels.get(LABEL_POD_UID)) {
            if uid != label {
                return Err(NodeApiError::NotFound(format!(
                    "pod {}/{} with uid {uid} is not running on this node",
                    self.namespace, self.pod
                )));
            }
        }
        Ok(c)
    }
}

/// The decoded query, keys in order, repeated keys kept.
fn query_pairs(req: &Request) -> Vec<(String, String)> {
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(&s.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    };
    req.uri()
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(kv), String::new()),
        })
        .collect()
}

/// A boolean query parameter under any of `names` (Go's `ParseBool`
/// spellings of true).
fn query_flag(q: &[(String, String)], names: &[&str]) -> bool {
    q.iter().any(|(k, v)| {
        names.contains(&k.as_str())
            && matches!(v.as_str(), "1" | "t" | "T" | "true" | "TRUE" | "True")
    })
}

fn query_all<'a>(q: &'a [(String, String)], name: &'a str) -> impl Iterator<Item = &'a str> {
    q.iter()
        .filter(move |(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn exec_options(q: &[(String, String)]) -> Result<ExecOptions, NodeApiError> {
    let options = ExecOptions {
        stdin: query_flag(q, &["input", "stdin"]),
        stdout: query_flag(q, &["output", "stdout"]),
        stderr: query_flag(q, &["error", "stderr"]),
        tty: query_flag(q, &["tty"]),
    };
    if !(options.stdin || options.stdout || options.stderr) {
        return Err(NodeApiError::BadRequest(
            "you must specify at least 1 of stdin, stdout, stderr".into(),
        ));
    }
    Ok(options)
}

/// The `101 Switching Protocols` answer, the connection handed to
/// `session` once hyper has upgraded it.
fn switch<F, Fut>(mut req: Request, upgrade: &Upgrade, session: F) -> Response
where
    F: FnOnce(TokioIo<hyper::upgrade::Upgraded>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => session(TokioIo::new(upgraded)).await,
            Err(e) => tracing::debug!(error = %e, "streaming upgrade failed"),
        }
    });
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    *response.headers_mut() = upgrade.response_headers.clone();
    response
}

fn rejection(r: rkube_stream::Rejection) -> Response {
    (
        r.code,
        [(header::CONTENT_TYPE, "application/json")],
        r.status_json(),
    )
        .into_response()
}

async fn exec(
    State(state): State<Arc<ServerState>>,
    Path(params): Path<Params>,
    req: Request,
) -> Response {
    remote_command(state, Target::from(params), req, false).await
}

async fn attach(
    State(state): State<Arc<ServerState>>,
    Path(params): Path<Params>,
    req: Request,
) -> Response {
    remote_command(state, Target::from(params), req, true).await
}

async fn remote_command(
    state: Arc<ServerState>,
    target: Target,
    req: Request,
    attach: bool,
) -> Response {
    let q = query_pairs(&req);
    let options = match exec_options(&q) {
        Ok(o) => o,
        Err(e) => return e.into_response(),
    };
    let command: Vec<String> = query_all(&q, "command").map(str::to_string).collect();
    if !attach && command.is_empty() {
        return NodeApiError::BadRequest("no command given (query parameter command)".into())
            .into_response();
    }
    let upgrade = match negotiate(SessionKind::RemoteCommand, req.headers()) {
        Ok(u) => u,
        Err(r) => return rejection(r),
    };
    let container = match target.running_container(state.runtime.as_ref()).await {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let runtime = state.runtime.clone();
    let what = if attach { "attach" } else { "exec" };
    tracing::info!(
        namespace = %target.namespace, pod = %target.pod, container = %target.container,
        protocol = %upgrade.protocol, tty = options.tty, what, "streaming session"
    );
    let up = upgrade.clone();
    switch(req, &upgrade, move |io| async move {
        let session = match ExecSession::accept(io, &up, options).await {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!(error = %e, what, "streaming session not set up");
                return;
            }
        };
        let wants_stderr = options.stderr && !options.tty;
        let streams = if attach {
            runtime
                .attach(&AttachRequest {
                    container_id: container.id.clone(),
                    stdin: options.stdin,
                    stdout: options.stdout,
                    stderr: wants_stderr,
                })
                .await
        } else {
            runtime
                .exec(&ExecRequest {
                    container_id: container.id.clone(),
                    cmd: command,
                    tty: options.tty,
                    stdin: options.stdin,
                    stdout: options.stdout,
                    stderr: wants_stderr,
                })
                .await
        };
        match streams {
            Ok(streams) => pipe(session, streams, attach).await,
            Err(e) => session.finish(ExecOutcome::Failed(e.to_string())).await,
        }
    })
}

/// Connect the session's streams to the process's until it ends and its
/// output is written (or the client leaves), then report how it ended.
async fn pipe(mut session: ExecSession, streams: StreamIo, attach: bool) {
    let StreamIo {
        stdin,
        stdout,
        stderr,
        resize,
        exit,
    } = streams;
    let mut helpers = JoinSet::new();
    if let (Some(mut from), Some(mut to)) = (session.stdin.take(), stdin) {
        helpers.spawn(async move {
            let _ = tokio::io::copy_buf(&mut from, &mut to).await;
            let _ = to.shutdown().await;
        });
    }
    if let (Some(mut sizes), Some(to)) = (session.resize.take(), resize) {
        helpers.spawn(async move {
            while let Some(size) = sizes.recv().await {
                if to.send(size).await.is_err() {
                    break;
                }
            }
        });
    }
    let out = copy_output(stdout, session.stdout.take());
    let err = copy_output(stderr, session.stderr.take());
    let gone = session.client_gone();
    let outcome = tokio::select! {
        (code, _, _) = async { tokio::join!(exit, out, err) } => match code {
            Ok(code) if !attach => ExecOutcome::Exited(code),
            Ok(_) => ExecOutcome::Exited(0),
            Err(e) => ExecOutcome::Failed(e.to_string()),
        },
        _ = gone => {
            tracing::debug!("streaming client went away");
            ExecOutcome::Failed("the client went away".into())
        }
    };
    drop(helpers);
    session.finish(outcome).await;
}

/// Copy a process's output to the client (or drain it when the client
/// did not ask for it).
async fn copy_output<R, W>(from: Option<R>, to: Option<W>)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let Some(mut from) = from else { return };
    match to {
        Some(mut to) => {
            let _ = tokio::io::copy(&mut from, &mut to).await;
            let _ = to.shutdown().await;
        }
        None => {
            let _ = tokio::io::copy(&mut from, &mut tokio::io::sink()).await;
        }
    }
}

async fn port_forward(
    State(state): State<Arc<ServerState>>,
    Path(params): Path<Params>,
    req: Request,
) -> Response {
    let target = Target::from(params);
    let q = query_pairs(&req);
    let mut ports = Vec::new();
    for value in query_all(&q, "port").chain(query_all(&q, "ports")) {
        for p in value.split(',').map(str::trim) {
            match p.parse::<u16>() {
                Ok(port) if port > 0 => ports.push(port),
                _ => {
                    return NodeApiError::BadRequest(format!(
                        "invalid port {p:?}: ports are 1-65535"
                    ))
                    .into_response()
                }
            }
        }
    }
    let upgrade = match negotiate(SessionKind::PortForward, req.headers()) {
        Ok(u) => u,
        Err(r) => return rejection(r),
    };
    if upgrade.transport == rkube_stream::Transport::WebSocket && ports.is_empty() {
        return NodeApiError::BadRequest("query parameter \"port\" is required".into())
            .into_response();
    }
    let sandbox =
        match lookup::sandbox(state.runtime.as_ref(), &target.namespace, &target.pod).await {
            Ok(s) => s,
            Err(e) => return e.into_response(),
        };
    if target
        .uid
        .as_ref()
        .is_some_and(|uid| *uid != sandbox.pod_uid)
    {
        return NodeApiError::NotFound(format!(
            "pod {}/{} with this uid is not running on this node",
            target.namespace, target.pod
        ))
        .into_response();
    }
    let runtime = state.runtime.clone();
    let pod = format!("{}/{}", target.namespace, target.pod);
    tracing::info!(pod = %pod, protocol = %upgrade.protocol, ?ports, "port-forward session");
    let up = upgrade.clone();
    switch(req, &upgrade, move |io| async move {
        let mut session = match PortForwardSession::accept(io, &up, &ports) {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!(error = %e, "port-forward session not set up");
                return;
            }
        };
        let mut connections = JoinSet::new();
        loop {
            tokio::select! {
                request = session.next() => match request {
                    Some(request) => {
                        let (runtime, sandbox_id, pod) = (runtime.clone(), sandbox.id.clone(), pod.clone());
                        connections.spawn(forward(runtime, sandbox_id, pod, request));
                    }
                    None => break,
                },
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
    })
}

/// One forwarded connection: to the pod's port, until the pod's side
/// ends (as the kubelet: the client's half-close is passed on and the
/// pod's answer still comes back); a failure goes to the client's error
/// stream.
async fn forward(
    runtime: Arc<dyn RuntimeService>,
    sandbox_id: String,
    pod: String,
    request: ForwardRequest,
) {
    let ForwardRequest {
        port,
        stream: ForwardStream {
            mut reader,
            mut writer,
        },
        error,
    } = request;
    let tcp = match runtime.port_forward(&sandbox_id, port).await {
        Ok(tcp) => tcp,
        Err(e) => {
            tracing::debug!(error = %e, port, pod = %pod, "port-forward connect failed");
            error.send(&format!("error forwarding port {port} to pod {pod}: {e}"));
            return;
        }
    };
    let _ = tcp.set_nodelay(true);
    let (from_pod, mut to_pod) = tcp.into_split();
    let up = async move {
        let _ = tokio::io::copy_buf(&mut reader, &mut to_pod).await;
        let _ = to_pod.shutdown().await;
    };
    let down = async move {
        let mut from_pod = tokio::io::BufReader::with_capacity(FORWARD_BUFFER, from_pod);
        if let Err(e) = tokio::io::copy_buf(&mut from_pod, &mut writer).await {
            tracing::debug!(error = %e, port, "forwarded connection ended");
        }
        let _ = writer.shutdown().await;
    };
    tokio::pin!(up, down);
    let mut up_done = false;
    loop {
        tokio::select! {
            _ = &mut down => break,
            _ = &mut up, if !up_done => up_done = true,
        }
    }
    drop(error);
}

async fn run(
    State(state): State<Arc<ServerState>>,
    Path(params): Path<Params>,
    req: Request,
) -> Response {
    let target = Target::from(params);
    let q = query_pairs(&req);
    let cmd: Vec<String> = query_all(&q, "cmd")
        .flat_map(str::split_whitespace)
        .map(str::to_string)
        .collect();
    if cmd.is_empty() {
        return NodeApiError::BadRequest("no command given (query parameter cmd)".into())
            .into_response();
    }
    let container = match target.running_container(state.runtime.as_ref()).await {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    match state
        .runtime
        .exec_sync(&container.id, &cmd, RUN_TIMEOUT)
        .await
    {
        Ok(result) => {
            let mut output = result.stdout;
            output.extend_from_slice(&result.stderr);
            if result.exit_code == 0 {
                ([(header::CONTENT_TYPE, "text/plain")], output).into_response()
            } else {
                NodeApiError::Runtime(rkube_cri::CriError::Runtime(format!(
                    "command {:?} exited with code {}: {}",
                    cmd.join(" "),
                    result.exit_code,
                    String::from_utf8_lossy(&output)
                )))
                .into_response()
            }
        }
        Err(e) => NodeApiError::from(e).into_response(),
    }
}
