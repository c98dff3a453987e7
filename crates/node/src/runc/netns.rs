//! A sandbox's namespaces: the network namespace (`ip netns`, so it is
//! found under `/var/run/netns` by the network plugin and by people), and
//! the IPC and UTS namespaces kept by bind mounts onto files in the
//! sandbox directory (`unshare --ipc=FILE --uts=FILE hostname NAME`), which
//! every container of the pod joins: what containerd's pause container
//! gives, without a process.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use rkube_cri::CriError;
use tokio::process::Command;

/// Where `ip netns add NAME` puts the namespace.
pub(crate) fn netns_path(name: &str) -> PathBuf {
    Path::new("/var/run/netns").join(name)
}

async fn run(program: &str, args: &[&str], package: &str) -> Result<(), CriError> {
    let output = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                CriError::Runtime(format!(
                    "{program} not found: install Debian package `{package}`"
                ))
            } else {
                CriError::io(format!("running {program}"))(e)
            }
        })?;
    if output.status.success() {
        Ok(())
    } else {
        Err(CriError::Runtime(format!(
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        )))
    }
}

/// `ip netns add NAME` with its loopback up.
pub(crate) async fn add_netns(name: &str) -> Result<PathBuf, CriError> {
    run("ip", &["netns", "add", name], "iproute2")
        .await
        .map_err(|e| CriError::Network(e.to_string()))?;
    if let Err(e) = run("ip", &["-n", name, "link", "set", "lo", "up"], "iproute2").await {
        let _ = delete_netns(name).await;
        return Err(CriError::Network(e.to_string()));
    }
    Ok(netns_path(name))
}

/// `ip netns delete NAME`; nothing if it is gone.
pub(crate) async fn delete_netns(name: &str) -> Result<(), CriError> {
    if !netns_path(name).exists() {
        return Ok(());
    }
    run("ip", &["netns", "delete", name], "iproute2")
        .await
        .map_err(|e| CriError::Network(e.to_string()))
}

/// New IPC (and, unless `uts` is None, UTS) namespaces bound onto the
/// given files, with `hostname` set in the UTS one.
pub(crate) async fn add_ipc_uts(
    ipc: &Path,
    uts: Option<&Path>,
    hostname: &str,
) -> Result<(), CriError> {
    for file in std::iter::once(ipc).chain(uts) {
        std::fs::File::create(file)
            .map_err(CriError::io(format!("creating {}", file.display())))?;
    }
    let ipc_arg = format!("--ipc={}", ipc.display());
    let mut args = vec![ipc_arg.as_str()];
    let uts_arg;
    if let Some(uts) = uts {
        uts_arg = format!("--uts={}", uts.display());
        args.push(&uts_arg);
        args.extend(["hostname", hostname]);
    } else {
        args.push("true");
    }
    run("unshare", &args, "util-linux").await
}

/// Unmount and remove a namespace file; nothing if absent.
pub(crate) fn remove_ns_file(file: &Path) {
    let _ = nix::mount::umount2(file, nix::mount::MntFlags::MNT_DETACH);
    let _ = std::fs::remove_file(file);
}

/// Run `f` on a new thread of its own inside the network namespace at
/// `path` (`setns` on that thread only; it ends with `f`, so no other
/// thread — least of all an async worker — ever changes namespace).
/// Sockets made by `f` stay in that namespace.
pub(crate) async fn in_netns<T, F>(path: &Path, f: F) -> Result<T, CriError>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let path = path.to_path_buf();
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("rkube-netns".to_string())
        .spawn(move || {
            let result = std::fs::File::open(&path)
                .map_err(CriError::io(format!("opening {}", path.display())))
                .and_then(|file| {
                    nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET).map_err(|e| {
                        CriError::Network(format!(
                            "entering the network namespace {}: {e}",
                            path.display()
                        ))
                    })
                })
                .map(|()| f());
            let _ = tx.send(result);
        })
        .map_err(CriError::io("starting a thread"))?;
    rx.await
        .map_err(|_| CriError::Runtime("the network-namespace thread failed".to_string()))?
}
