//! The container half of the CRI calls: create (bundle, shim), start,
//! stop, remove, exec and status, and [`ContainerEntry`], one container in
//! the runtime's table with what has been observed of it.
//!
//! Status is cheap on purpose (the kubelet relists every second): the exit
//! file is read once it exists, otherwise the shim's liveness is checked
//! with `kill(pid, 0)`; runc is never asked.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use rkube_cri::{ContainerConfig, ContainerState, ContainerStatus, CriError, ExecResult};
use tokio::io::AsyncBufReadExt;

use super::bundle::BundleJob;
use super::container_entry::{ContainerEntry, Live};
use super::fsutil::{new_id, read_json, to_nanos, write_atomic, write_json};
use super::locks::{lock, write};
use super::records::{ContainerRecord, ExitRecord, ShimRecord};
use super::runtime::RuncRuntime;
use super::status;

/// How long the shim may take to answer after `runc create`.
const CREATE_TIMEOUT: Duration = Duration::from_secs(120);
/// How often a waiting call looks for the exit file.
const POLL: Duration = Duration::from_millis(20);
/// How long to wait for the exit after SIGKILL.
const KILL_WAIT: Duration = Duration::from_secs(30);

/// Whether a process of this boot still exists.
fn alive(shim: &ShimRecord, boot_id: &str) -> bool {
    if shim.boot_id != boot_id {
        return false;
    }
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(shim.shim_pid), None) {
        Ok(()) => true,
        Err(nix::errno::Errno::EPERM) => true,
        Err(_) => false,
    }
}

impl RuncRuntime {
    /// The container's status now; notices (once) a shim that died
    /// without recording an exit, records that, and kills what may be left
    /// of the container.
    pub(crate) fn observe(&self, entry: &Arc<ContainerEntry>) -> ContainerStatus {
        let mut lost = false;
        let (state, started_at, exit, message) = {
            let mut live = lock(&entry.live);
            if live.exit.is_none() {
                live.exit = read_json(&entry.dir.join("exit.json")).ok().flatten();
                if live.exit.is_none() {
                    let shim_alive = live.shim.as_ref().is_some_and(|s| alive(s, &self.boot_id));
                    if !shim_alive {
                        // It may have written the exit just before ending.
                        live.exit = read_json(&entry.dir.join("exit.json")).ok().flatten();
                    }
                    if !shim_alive && live.exit.is_none() {
                        let why = if live.shim.is_none() {
                            "the container's creation did not complete"
                        } else {
                            "the container's shim ended without recording an exit (host reboot, or the shim was killed)"
                        };
                        let exit = ExitRecord {
                            exit_code: 255,
                            signal: None,
                            finished_at: to_nanos(SystemTime::now()),
                            oom_killed: false,
                            lost: Some(why.to_string()),
                        };
                        let _ = write_json(&entry.dir.join("exit.json"), &exit);
                        tracing::warn!(container = %entry.record.id, reason = why, "container exit lost");
                        live.exit = Some(exit);
                        lost = true;
                    }
                }
                if live.exit.is_some() {
                    if let Some(path) = &entry.record.termination_log {
                        live.message = status::read_message(path);
                    }
                }
            }
            let state = match (&live.exit, live.started_at) {
                (Some(_), _) => ContainerState::Exited,
                (None, Some(_)) => ContainerState::Running,
                (None, None) => ContainerState::Created,
            };
            (
                state,
                live.started_at,
                live.exit.clone(),
                live.message.clone(),
            )
        };
        if lost {
            // Without a shim nobody waits for the container: end it, so the
            // kubelet's restart cannot make a second copy.
            let runc = self.runc.clone();
            let id = entry.record.id.clone();
            if let Ok(handle) = tokio::runtime::Handle::try_current() {
                handle.spawn(async move {
                    let _ = runc.kill(&id, "KILL").await;
                });
            }
        }
        status::status(&entry.record, state, started_at, exit.as_ref(), &message)
    }

    pub(crate) async fn create(
        &self,
        sandbox_id: &str,
        config: &ContainerConfig,
    ) -> Result<String, CriError> {
        let sandbox = self.sandbox(sandbox_id)?;
        let (sandbox_record, sandbox_dir) = {
            let r = lock(&sandbox.record);
            (r.clone(), sandbox.dir.clone())
        };
        if !sandbox_record.ready {
            return Err(CriError::Runtime(format!(
                "sandbox {sandbox_id} is not ready"
            )));
        }
        let pid_ns = match &config.target_container_id {
            Some(target) => Some(self.target_pid_ns(sandbox_id, target)?),
            None => None,
        };
        let id = new_id();
        let dir = self.container_dir(&id);
        match self
            .create_in(&id, &dir, &sandbox_record, &sandbox_dir, config, pid_ns)
            .await
        {
            Ok(entry) => {
                write(&self.containers).insert(id.clone(), Arc::new(entry));
                tracing::info!(container = %id, name = %config.name, sandbox = %sandbox_id, "container created");
                Ok(id)
            }
            Err(err) => {
                tracing::warn!(name = %config.name, sandbox = %sandbox_id, error = %err, "container creation failed");
                let _ = self.runc.delete(&id).await;
                if let Err(e) = self.snapshotter.remove(&id).await {
                    tracing::warn!(container = %id, error = %e, "removing the root filesystem failed");
                }
                let _ = std::fs::remove_dir_all(&dir);
                Err(err)
            }
        }
    }

    async fn create_in(
        &self,
        id: &str,
        dir: &Path,
        sandbox: &super::records::SandboxRecord,
        sandbox_dir: &Path,
        config: &ContainerConfig,
        pid_ns: Option<PathBuf>,
    ) -> Result<ContainerEntry, CriError> {
        let rootfs = self.snapshotter.prepare(id, &config.image_id).await?;
        let job = BundleJob {
            id: id.to_string(),
            dir: dir.to_path_buf(),
            sandbox: sandbox.clone(),
            sandbox_dir: sandbox_dir.to_path_buf(),
            config: config.clone(),
            rootfs: rootfs.path,
            cgroup_root: self.config.cgroup_root.clone(),
            pid_ns,
        };
        // File work off the async threads: a hundred creations at once
        // must not queue behind each other's writes.
        let record = tokio::task::spawn_blocking(move || job.write())
            .await
            .map_err(|e| CriError::Runtime(format!("writing the bundle: {e}")))??;
        let bundle = dir.join("bundle");
        let shim = self.spawn_shim(&record, dir, &bundle).await?;
        Ok(ContainerEntry {
            dir: dir.to_path_buf(),
            record,
            live: Mutex::new(Live {
                shim: Some(shim),
                ..Live::default()
            }),
        })
    }

    /// The pid namespace of a running container of the same sandbox, for
    /// an ephemeral container that targets it (`kubectl debug --target`).
    fn target_pid_ns(&self, sandbox_id: &str, target: &str) -> Result<PathBuf, CriError> {
        let entry = self.container(target)?;
        if entry.record.sandbox_id != sandbox_id {
            return Err(CriError::InvalidConfig(format!(
                "target container {target} is not in sandbox {sandbox_id}"
            )));
        }
        if self.observe(&entry).state != ContainerState::Running {
            return Err(CriError::Runtime(format!(
                "target container {target} ({}) is not running",
                entry.record.name
            )));
        }
        let pid = lock(&entry.live)
            .shim
            .as_ref()
            .map(|s| s.init_pid)
            .ok_or_else(|| {
                CriError::Runtime(format!("target container {target} has no process"))
            })?;
        Ok(PathBuf::from(format!("/proc/{pid}/ns/pid")))
    }

    /// Start `rkube shim` for the container and wait for its answer.
    async fn spawn_shim(
        &self,
        record: &ContainerRecord,
        dir: &Path,
        bundle: &Path,
    ) -> Result<ShimRecord, CriError> {
        let shim_log = std::fs::File::create(dir.join("shim.log"))
            .map_err(CriError::io("creating shim.log"))?;
        let mut cmd = tokio::process::Command::new(&self.config.shim_program);
        cmd.arg("shim")
            .arg("--id")
            .arg(&record.id)
            .arg("--bundle")
            .arg(bundle)
            .arg("--runc")
            .arg(&self.config.runc)
            .arg("--runc-root")
            .arg(&self.config.runc_root)
            .arg("--log-path")
            .arg(&record.log_path)
            .arg("--state-dir")
            .arg(dir)
            .arg("--cgroup")
            .arg(&record.cgroups_path)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(shim_log));
        let mut child = cmd.spawn().map_err(|e| {
            CriError::Runtime(format!(
                "starting the shim {}: {e}",
                self.config.shim_program.display()
            ))
        })?;
        let stdout = child.stdout.take();
        // The shim outlives this call; reap it when it ends.
        tokio::spawn(async move {
            let _ = child.wait().await;
        });
        let Some(stdout) = stdout else {
            return Err(CriError::Runtime("the shim has no stdout".to_string()));
        };
        let mut line = String::new();
        let mut reader = tokio::io::BufReader::new(stdout);
        match tokio::time::timeout(CREATE_TIMEOUT, reader.read_line(&mut line)).await {
            Err(_) => return Err(CriError::Timeout(CREATE_TIMEOUT)),
            Ok(Err(e)) => return Err(CriError::io("reading the shim's answer")(e)),
            Ok(Ok(_)) => {}
        }
        let line = line.trim();
        if line != "ok" {
            let why = line.strip_prefix("error: ").unwrap_or(line);
            let why = if why.is_empty() {
                std::fs::read_to_string(dir.join("shim.log")).unwrap_or_default()
            } else {
                why.to_string()
            };
            return Err(CriError::Runtime(why.trim().to_string()));
        }
        read_json::<ShimRecord>(&dir.join("shim.json"))
            .map_err(CriError::io("reading shim.json"))?
            .ok_or_else(|| CriError::Runtime("the shim wrote no shim.json".to_string()))
    }

    pub(crate) async fn start(&self, id: &str) -> Result<(), CriError> {
        let entry = self.container(id)?;
        if let Err(err) = self.runc.start(id).await {
            // Started already (by an agent that died before recording it)?
            if self.runc.status(id).await.ok().as_deref() != Some("running") {
                return Err(err);
            }
        }
        let now = to_nanos(SystemTime::now());
        write_atomic(&entry.dir.join("started"), now.to_string().as_bytes())
            .map_err(CriError::io("writing the start time"))?;
        lock(&entry.live).started_at = Some(now);
        tracing::debug!(container = %id, "container started");
        Ok(())
    }

    /// Wait until the container has exited, at most `timeout`.
    async fn wait_exit(&self, entry: &Arc<ContainerEntry>, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.observe(entry).state == ContainerState::Exited {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    pub(crate) async fn stop(&self, id: &str, timeout: Duration) -> Result<(), CriError> {
        let entry = self.container(id)?;
        if self.observe(&entry).state == ContainerState::Exited {
            return Ok(());
        }
        if !timeout.is_zero() {
            if let Err(e) = self.runc.kill(id, "TERM").await {
                tracing::debug!(container = %id, error = %e, "SIGTERM failed");
            }
            if self.wait_exit(&entry, timeout).await {
                return Ok(());
            }
        }
        if let Err(e) = self.runc.kill(id, "KILL").await {
            tracing::debug!(container = %id, error = %e, "SIGKILL failed");
        }
        if self.wait_exit(&entry, KILL_WAIT).await {
            Ok(())
        } else {
            Err(CriError::Timeout(KILL_WAIT))
        }
    }

    pub(crate) async fn remove(&self, id: &str) -> Result<(), CriError> {
        let Ok(entry) = self.container(id) else {
            return Ok(());
        };
        self.runc.delete(id).await?;
        // The shim writes the exit and the last log lines, then ends.
        self.wait_exit(&entry, Duration::from_secs(5)).await;
        self.snapshotter.remove(id).await?;
        std::fs::remove_dir_all(&entry.dir)
            .or_else(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    Ok(())
                } else {
                    Err(e)
                }
            })
            .map_err(CriError::io(format!("removing {}", entry.dir.display())))?;
        write(&self.containers).remove(id);
        tracing::debug!(container = %id, "container removed");
        Ok(())
    }

    pub(crate) async fn exec(
        &self,
        id: &str,
        cmd: &[String],
        timeout: Duration,
    ) -> Result<ExecResult, CriError> {
        let entry = self.container(id)?;
        if self.observe(&entry).state != ContainerState::Running {
            return Err(CriError::Runtime(format!("container {id} is not running")));
        }
        if cmd.is_empty() {
            return Err(CriError::InvalidConfig("exec: no command".to_string()));
        }
        let pid_file = entry.dir.join(format!("exec-{}.pid", &new_id()[..16]));
        let result = self.runc.exec(id, cmd, &pid_file, timeout).await;
        let _ = std::fs::remove_file(&pid_file);
        result
    }
}
