//! The `runc` command line, run through `tokio::process` (one process per
//! call, never a fork from the async runtime's threads by hand).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use rkube_cri::{CriError, ExecResult};
use tokio::process::Command;

/// runc with its `--root`.
#[derive(Clone, Debug)]
pub(crate) struct Runc {
    pub binary: PathBuf,
    pub root: PathBuf,
}

impl Runc {
    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.binary);
        cmd.arg("--root").arg(&self.root);
        cmd.stdin(Stdio::null());
        cmd
    }

    /// Run `runc --root … <args>`; its stderr becomes the error.
    async fn run(&self, args: &[&str]) -> Result<Vec<u8>, CriError> {
        let output = self
            .command()
            .args(args)
            .output()
            .await
            .map_err(|e| spawn_error(&self.binary, e))?;
        if output.status.success() {
            Ok(output.stdout)
        } else {
            Err(CriError::Runtime(format!(
                "runc {}: {}",
                args.first().copied().unwrap_or_default(),
                String::from_utf8_lossy(&output.stderr).trim()
            )))
        }
    }

    /// `runc start`.
    pub async fn start(&self, id: &str) -> Result<(), CriError> {
        self.run(&["start", id]).await.map(drop)
    }

    /// `runc kill <id> <signal>` (to the init process only).
    pub async fn kill(&self, id: &str, signal: &str) -> Result<(), CriError> {
        self.run(&["kill", id, signal]).await.map(drop)
    }

    /// `runc delete --force`: kills a running container and removes runc's
    /// state; nothing if runc does not know the container.
    pub async fn delete(&self, id: &str) -> Result<(), CriError> {
        match self.run(&["delete", "--force", id]).await {
            Ok(_) => Ok(()),
            Err(CriError::Runtime(msg))
                if msg.contains("does not exist") || msg.contains("not exist") =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// `runc state`'s `status` (`created`, `running`, `stopped`).
    pub async fn status(&self, id: &str) -> Result<String, CriError> {
        let out = self.run(&["state", id]).await?;
        let state: serde_json::Value = serde_json::from_slice(&out)
            .map_err(|e| CriError::Runtime(format!("runc state: {e}")))?;
        Ok(state["status"].as_str().unwrap_or_default().to_string())
    }

    /// `runc --version`'s version (`1.1.5+ds1`).
    pub async fn version(&self) -> Result<String, CriError> {
        let output = Command::new(&self.binary)
            .arg("--version")
            .output()
            .await
            .map_err(|e| spawn_error(&self.binary, e))?;
        let text = String::from_utf8_lossy(&output.stdout);
        text.lines()
            .find_map(|l| l.strip_prefix("runc version "))
            .map(|v| v.trim().to_string())
            .ok_or_else(|| CriError::Runtime(format!("unexpected `runc --version`: {text}")))
    }

    /// `runc exec`: run `cmd` in the container, capture its output, give
    /// up (killing it) after `timeout`.
    pub async fn exec(
        &self,
        id: &str,
        cmd: &[String],
        pid_file: &Path,
        timeout: Duration,
    ) -> Result<ExecResult, CriError> {
        let mut command = self.command();
        command
            .arg("exec")
            .arg("--pid-file")
            .arg(pid_file)
            .arg(id)
            .args(cmd)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let child = command.spawn().map_err(|e| spawn_error(&self.binary, e))?;
        match tokio::time::timeout(timeout, child.wait_with_output()).await {
            Ok(Ok(output)) => Ok(ExecResult {
                exit_code: exit_code(output.status),
                stdout: output.stdout,
                stderr: output.stderr,
            }),
            Ok(Err(e)) => Err(CriError::io("waiting for runc exec")(e)),
            Err(_) => {
                // The process runs inside the container: end it by its pid.
                if let Ok(text) = std::fs::read_to_string(pid_file) {
                    if let Ok(pid) = text.trim().parse::<i32>() {
                        let _ = nix::sys::signal::kill(
                            nix::unistd::Pid::from_raw(pid),
                            nix::sys::signal::Signal::SIGKILL,
                        );
                    }
                }
                Err(CriError::Timeout(timeout))
            }
        }
    }
}

/// The code of an ended process, 128 + n for a signal.
pub(crate) fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

/// A program that could not be started, naming its Debian package.
pub(crate) fn spawn_error(binary: &Path, e: std::io::Error) -> CriError {
    if e.kind() == std::io::ErrorKind::NotFound {
        CriError::Runtime(format!(
            "{} not found: install runc (Debian package `runc`)",
            binary.display()
        ))
    } else {
        CriError::io(format!("running {}", binary.display()))(e)
    }
}
