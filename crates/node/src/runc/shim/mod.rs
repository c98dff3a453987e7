//! The shim: `rkube shim …`, one small synchronous process per container
//! (no async runtime, no logging to stdout). The runtime starts it; it
//!
//! 1. leaves the agent's session (`setsid`) and becomes a child subreaper,
//!    so it survives a `kill -9` of the agent and the container's init
//!    process becomes its child once `runc create` has exited;
//! 2. runs `runc create` with pipes as the container's stdout and stderr,
//!    writes `shim.json` (its pid and the init's) and answers the runtime
//!    on its own stdout with one line, `ok` or `error: <why>`;
//! 3. copies the output into the CRI-format log file (`cri_log.rs`) while
//!    waiting for the init process (the runtime runs `runc start`);
//! 4. records the exit in `exit.json` (code, or 128 + signal, finishing
//!    time, whether the OOM killer acted in the container's cgroup) and
//!    exits.

mod cri_log;
mod timefmt;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, SystemTime};

use nix::errno::Errno;
use nix::sys::signal::{SigSet, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;

pub use cri_log::{rotated_files, CriLog, Rotation, Stream, MAX_LINE};
pub use timefmt::rfc3339_nano;

use super::cgroups;
use super::fsutil::{boot_id, to_nanos, write_json, write_json_durable};
use super::records::{ExitRecord, ShimRecord};

/// What the shim is told on its command line.
#[derive(Clone, Debug)]
pub struct ShimOptions {
    /// The container's id (runc's too).
    pub id: String,
    /// The OCI bundle directory (holding `config.json`).
    pub bundle: PathBuf,
    /// The runc binary and its `--root`.
    pub runc: PathBuf,
    pub runc_root: PathBuf,
    /// The container's CRI log file.
    pub log_path: PathBuf,
    /// The container's state directory (`shim.json`, `exit.json`).
    pub state_dir: PathBuf,
    /// The container's cgroup (for the OOM check).
    pub cgroups_path: String,
}

/// Why the container could not be created.
#[derive(Debug, thiserror::Error)]
enum ShimError {
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("runc create failed: {0}")]
    Create(String),
}

fn io(what: &str) -> impl FnOnce(std::io::Error) -> ShimError + '_ {
    move |source| ShimError::Io {
        what: what.to_string(),
        source,
    }
}

/// A created container: its init process and its output pipes.
struct Created {
    init: Pid,
    stdout: std::io::PipeReader,
    stderr: std::io::PipeReader,
}

/// Run the shim to the container's end; returns the shim's exit code.
pub fn run_shim(opts: &ShimOptions) -> i32 {
    // Not a process-group leader (the runtime does not make it one), so
    // this succeeds: no controlling terminal, no signals from the agent's
    // terminal or process group.
    let _ = nix::unistd::setsid();
    let _ = nix::sys::prctl::set_child_subreaper(true);
    // Only SIGKILL ends the shim; children get an empty mask back (std's
    // spawn resets it).
    let mut blocked = SigSet::empty();
    for sig in [
        Signal::SIGHUP,
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGQUIT,
    ] {
        blocked.add(sig);
    }
    let _ = blocked.thread_block();

    let created = match create(opts) {
        Ok(created) => created,
        Err(err) => {
            answer(&format!("error: {err}"));
            return 1;
        }
    };
    let record = ShimRecord {
        shim_pid: std::process::id() as i32,
        init_pid: created.init.as_raw(),
        boot_id: boot_id(),
    };
    if let Err(e) = write_json(&opts.state_dir.join("shim.json"), &record) {
        answer(&format!("error: writing shim.json: {e}"));
        let _ = nix::sys::signal::kill(created.init, Signal::SIGKILL);
        return 1;
    }
    let log = match CriLog::open(&opts.log_path, Rotation::default()) {
        Ok(log) => Arc::new(Mutex::new(log)),
        Err(e) => {
            answer(&format!(
                "error: opening the log file {}: {e}",
                opts.log_path.display()
            ));
            let _ = nix::sys::signal::kill(created.init, Signal::SIGKILL);
            return 1;
        }
    };
    answer("ok");

    let (done_tx, done_rx) = mpsc::channel::<()>();
    for (reader, stream) in [
        (created.stdout, Stream::Stdout),
        (created.stderr, Stream::Stderr),
    ] {
        let log = Arc::clone(&log);
        let done = done_tx.clone();
        std::thread::spawn(move || {
            cri_log::copy_stream(reader, stream, &log);
            let _ = done.send(());
        });
    }
    drop(done_tx);

    let (exit_code, signal) = wait_for(created.init);
    let finished_at = SystemTime::now();
    // Every process of the container's pid namespace is gone with its
    // init, so the pipes end now; wait a little for the last lines.
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    for _ in 0..2 {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if done_rx.recv_timeout(left).is_err() {
            break;
        }
    }
    let exit = ExitRecord {
        exit_code,
        signal,
        finished_at: to_nanos(finished_at),
        oom_killed: cgroups::oom_kills(&opts.cgroups_path) > 0,
        lost: None,
    };
    match write_json_durable(&opts.state_dir.join("exit.json"), &exit) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("rkube shim {}: writing exit.json: {e}", opts.id);
            1
        }
    }
}

/// One line to the runtime on stdout.
fn answer(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", line.replace('\n', " "));
    let _ = out.flush();
}

/// `runc create` with pipes for the container's output.
fn create(opts: &ShimOptions) -> Result<Created, ShimError> {
    let (stdout_r, stdout_w) = std::io::pipe().map_err(io("making a pipe"))?;
    let (stderr_r, stderr_w) = std::io::pipe().map_err(io("making a pipe"))?;
    let pid_file = opts.state_dir.join("init.pid");
    let runc_log = opts.state_dir.join("runc.log");
    let mut cmd = Command::new(&opts.runc);
    cmd.arg("--root")
        .arg(&opts.runc_root)
        .arg("--log")
        .arg(&runc_log)
        .arg("--log-format")
        .arg("json")
        .arg("create")
        .arg("--bundle")
        .arg(&opts.bundle)
        .arg("--pid-file")
        .arg(&pid_file)
        .arg(&opts.id)
        .stdin(Stdio::null())
        .stdout(stdout_w)
        .stderr(stderr_w);
    let mut child = cmd.spawn().map_err(io("running runc"))?;
    // The command holds our copies of the pipes' write ends: drop them so
    // the pipes end with the container.
    drop(cmd);
    let status = child.wait().map_err(io("waiting for runc create"))?;
    if !status.success() {
        return Err(ShimError::Create(
            last_runc_error(&runc_log).unwrap_or_else(|| status.to_string()),
        ));
    }
    let text = std::fs::read_to_string(&pid_file).map_err(io("reading runc's pid file"))?;
    let pid: i32 = text
        .trim()
        .parse()
        .map_err(|_| ShimError::Create(format!("bad pid file {text:?}")))?;
    Ok(Created {
        init: Pid::from_raw(pid),
        stdout: stdout_r,
        stderr: stderr_r,
    })
}

/// The last `error`-level message in runc's JSON log.
fn last_runc_error(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines().rev().find_map(|line| {
        let v: serde_json::Value = serde_json::from_str(line).ok()?;
        (v["level"] == "error" || v["level"] == "fatal")
            .then(|| v["msg"].as_str().map(String::from))
            .flatten()
    })
}

/// Reap children until the init process ends: its exit code, or 128 + the
/// signal (and the signal).
fn wait_for(init: Pid) -> (i32, Option<i32>) {
    loop {
        match waitpid(Pid::from_raw(-1), None) {
            Ok(WaitStatus::Exited(pid, code)) if pid == init => return (code, None),
            Ok(WaitStatus::Signaled(pid, sig, _)) if pid == init => {
                return (128 + sig as i32, Some(sig as i32))
            }
            Ok(_) | Err(Errno::EINTR) => continue,
            Err(_) => {
                // Not our child after all: watch it until it is gone.
                while nix::sys::signal::kill(init, None).is_ok() {
                    std::thread::sleep(Duration::from_millis(100));
                }
                return (255, None);
            }
        }
    }
}
