//! `exec` with its streams connected (`kubectl exec`): `runc exec` in the
//! foreground, so runc waits for the command (its exit code is runc's)
//! and takes the container's process settings (environment, working
//! directory, user, capabilities) from the container's spec, as containerd
//! does. Without a terminal, pipes; with one, runc's standard streams are
//! the slave of a terminal pair of ours (`pty.rs`) and a resize is that
//! pair's size plus `SIGWINCH` to runc, which copies it onto the command's
//! terminal. One task per command owns the runc process and reaps it
//! whatever the client does; dropping the streams does not stop it.

use std::process::Stdio;

use rkube_cri::ExitFuture;
use rkube_cri::{ContainerState, CriError, ExecRequest, StreamIo, TermSize};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, oneshot};

use super::pty;
use super::runc_cli::{exit_code, spawn_error};
use super::runtime::RuncRuntime;

type Reader = Box<dyn AsyncRead + Send + Unpin>;
type Writer = Box<dyn AsyncWrite + Send + Unpin>;

fn piped_if(wanted: bool) -> Stdio {
    if wanted {
        Stdio::piped()
    } else {
        Stdio::null()
    }
}

/// The next size asked for; never once the sender is gone.
async fn next_size(rx: &mut Option<mpsc::Receiver<TermSize>>) -> Option<TermSize> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Own `child` until it ends: apply resizes (onto `master`, then
/// `SIGWINCH` to runc) while it runs, reap it, send its exit code.
fn supervise(
    mut child: Child,
    container_id: String,
    mut master: Option<std::os::fd::OwnedFd>,
    mut resize: Option<mpsc::Receiver<TermSize>>,
) -> ExitFuture {
    let (tx, rx) = oneshot::channel();
    tokio::spawn(async move {
        let status = loop {
            tokio::select! {
                status = child.wait() => break status,
                size = next_size(&mut resize) => match size {
                    Some(size) => {
                        // Not reaped yet (this task reaps it): the pid is runc's.
                        if let (Some(m), Some(pid)) = (&master, child.id()) {
                            if let Err(e) = pty::resize(m, size) {
                                tracing::debug!(container = %container_id, error = %e, "resize failed");
                            }
                            let _ = nix::sys::signal::kill(
                                nix::unistd::Pid::from_raw(pid as i32),
                                nix::sys::signal::Signal::SIGWINCH,
                            );
                        }
                    }
                    None => {
                        resize = None;
                        master = None;
                    }
                },
            }
        };
        let result = status
            .map(exit_code)
            .map_err(|e| CriError::io("waiting for runc exec")(e));
        tracing::debug!(container = %container_id, result = ?result, "exec ended");
        let _ = tx.send(result);
    });
    Box::pin(async move {
        rx.await
            .map_err(|_| CriError::Runtime("the exec was abandoned".to_string()))?
    })
}

impl RuncRuntime {
    pub(crate) async fn exec_streaming(&self, request: &ExecRequest) -> Result<StreamIo, CriError> {
        let id = &request.container_id;
        let entry = self.container(id)?;
        let state = self.observe(&entry).state;
        if state != ContainerState::Running {
            return Err(CriError::Runtime(format!(
                "cannot exec in container {id} ({}): it is not running (state {state:?})",
                entry.record.name
            )));
        }
        if request.cmd.is_empty() {
            return Err(CriError::InvalidConfig("exec: no command".to_string()));
        }
        let mut cmd = Command::new(&self.runc.binary);
        cmd.arg("--root").arg(&self.runc.root).arg("exec");
        if request.tty {
            cmd.arg("--tty");
        }
        cmd.arg(id).args(&request.cmd);
        tracing::debug!(container = %id, cmd = ?request.cmd, tty = request.tty, "exec");
        if request.tty {
            self.exec_tty(cmd, request)
        } else {
            exec_pipes(&self.runc.binary, cmd, request)
        }
    }

    fn exec_tty(&self, mut cmd: Command, request: &ExecRequest) -> Result<StreamIo, CriError> {
        let pair = pty::open()?;
        let copy = |fd: &std::os::fd::OwnedFd| {
            fd.try_clone()
                .map_err(CriError::io("duplicating the terminal"))
        };
        cmd.stdin(Stdio::from(copy(&pair.slave)?))
            .stdout(Stdio::from(copy(&pair.slave)?))
            .stderr(Stdio::from(pair.slave));
        let child = cmd.spawn().map_err(|e| spawn_error(&self.runc.binary, e))?;
        // The command holds the slave's copies: gone, so the master reads
        // end with runc.
        drop(cmd);
        let (reader, writer) =
            pty::async_halves(&pair.master).map_err(CriError::io("setting up the terminal"))?;
        let stdout: Option<Reader> = if request.stdout {
            Some(Box::new(reader))
        } else {
            // Nobody reads: drain, so the command never blocks on output.
            let mut reader = reader;
            tokio::spawn(async move {
                let _ = tokio::io::copy(&mut reader, &mut tokio::io::sink()).await;
            });
            None
        };
        let stdin: Option<Writer> = request.stdin.then(|| Box::new(writer) as Writer);
        let (resize_tx, resize_rx) = mpsc::channel(8);
        let exit = supervise(
            child,
            request.container_id.clone(),
            Some(pair.master),
            Some(resize_rx),
        );
        Ok(StreamIo {
            stdin,
            stdout,
            stderr: None,
            resize: Some(resize_tx),
            exit,
        })
    }
}

fn exec_pipes(
    binary: &std::path::Path,
    mut cmd: Command,
    request: &ExecRequest,
) -> Result<StreamIo, CriError> {
    cmd.stdin(piped_if(request.stdin))
        .stdout(piped_if(request.stdout))
        .stderr(piped_if(request.stderr));
    let mut child = cmd.spawn().map_err(|e| spawn_error(binary, e))?;
    let stdin = child.stdin.take().map(|s| Box::new(s) as Writer);
    let stdout = child.stdout.take().map(|s| Box::new(s) as Reader);
    let stderr = child.stderr.take().map(|s| Box::new(s) as Reader);
    let exit = supervise(child, request.container_id.clone(), None, None);
    Ok(StreamIo {
        stdin,
        stdout,
        stderr,
        resize: None,
        exit,
    })
}
