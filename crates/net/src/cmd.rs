//! Running the tools made for the job (`ip`, `nft`, `nsenter`,
//! `iptables`): one process per batch, its standard input fed the batch,
//! its standard error turned into the error's message.

use std::path::Path;
use std::process::Stdio;

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use crate::error::NetError;

/// A tool and the Debian package that ships it.
#[derive(Clone, Copy, Debug)]
pub struct Tool {
    pub name: &'static str,
    pub package: &'static str,
}

pub const IP: Tool = Tool {
    name: "ip",
    package: "iproute2",
};
pub const NFT: Tool = Tool {
    name: "nft",
    package: "nftables",
};
pub const NSENTER: Tool = Tool {
    name: "nsenter",
    package: "util-linux",
};

/// Runs `tool args…` with `stdin` on its standard input; its standard
/// output on success.
pub async fn run(tool: Tool, args: &[&str], stdin: Option<&str>) -> Result<String, NetError> {
    let mut cmd = Command::new(tool.name);
    cmd.args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().map_err(|e| spawn_error(tool, e))?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(input.as_bytes())
            .await
            .map_err(NetError::io(format!("writing to {}", tool.name)))?;
        drop(pipe);
    }
    let out = child
        .wait_with_output()
        .await
        .map_err(NetError::io(format!("waiting for {}", tool.name)))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(NetError::Command {
            what: format!("{} {}", tool.name, args.join(" ")),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

/// `ip -batch -` with `batch` (one command a line); nothing if empty.
pub async fn ip_batch(batch: &str) -> Result<(), NetError> {
    if batch.is_empty() {
        return Ok(());
    }
    run(IP, &["-batch", "-"], Some(batch)).await.map(drop)
}

/// `ip -batch -` inside the network namespace at `netns`.
pub async fn ip_batch_in(netns: &Path, batch: &str) -> Result<(), NetError> {
    let net = format!("--net={}", netns.display());
    // nsenter execs `ip` in the namespace: one process, as `ip -n` would
    // be, but for any namespace path (not only those under /run/netns).
    match run(NSENTER, &[&net, "--", "ip", "-batch", "-"], Some(batch)).await {
        Err(NetError::Command { stderr, .. }) if stderr.contains("failed to execute ip") => {
            Err(NetError::ToolMissing {
                tool: IP.name,
                package: IP.package,
            })
        }
        other => other.map(drop),
    }
}

/// `nft -f -` with `script`: one atomic transaction.
pub async fn nft(script: &str) -> Result<(), NetError> {
    run(NFT, &["-f", "-"], Some(script)).await.map(drop)
}

fn spawn_error(tool: Tool, e: std::io::Error) -> NetError {
    if e.kind() == std::io::ErrorKind::NotFound {
        NetError::ToolMissing {
            tool: tool.name,
            package: tool.package,
        }
    } else {
        NetError::Io {
            what: format!("starting {}", tool.name),
            source: e,
        }
    }
}
