//! The shim: `rkube shim …`, one small synchronous process per container
//! (no async runtime, no logging to stdout). The runtime starts it; it
//!
//! 1. leaves the agent's session (`setsid`) and becomes a child subreaper,
//!    so it survives a `kill -9` of the agent and the container's init
//!    process becomes its child once `runc create` has exited;
//! 2. runs `runc create` with pipes as the container's stdout and stderr,
//!    writes `shim.json` (its pid and the init's) and answers the runtime
//!    on its own stdout with one line, `ok` or `error: <why>`;
//!    With `tty: true` (in `io.json`) the container gets a terminal
//!    instead: runc sends its master over a console socket
//!    (`console.rs`); with `stdin: true` its stdin is a pipe the shim
//!    keeps open;
//! 3. copies the output into the CRI-format log file (`cri_log.rs`; with
//!    a terminal everything is `stdout`) and to the clients attached on
//!    `attach.sock` (`attach_server.rs`), whose input it feeds to the
//!    container's stdin, while waiting for the init process (the runtime
//!    runs `runc start`);
//! 4. records the exit in `exit.json` (code, or 128 + signal, finishing
//!    time, whether the OOM killer acted in the container's cgroup) and
//!    exits.

mod attach_server;
mod console;
mod cri_log;
mod timefmt;

use std::io::{Read, Write};
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

use super::attach_proto::{self, STDERR, STDOUT};
use super::cgroups;
use super::fsutil::{boot_id, read_json, to_nanos, write_json, write_json_durable};
use super::records::{ExitRecord, IoRecord, ShimRecord};
use attach_server::Hub;

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

fn io_err(what: &str) -> impl FnOnce(std::io::Error) -> ShimError + '_ {
    move |source| ShimError::Io {
        what: what.to_string(),
        source,
    }
}

/// A created container: its init process, its output and its stdin.
struct Created {
    init: Pid,
    output: Output,
    /// The writing end of its stdin pipe (without a terminal, with
    /// `stdin: true`).
    stdin: Option<std::io::PipeWriter>,
}

/// One output stream to copy: its source, its name in the log, its
/// attach frame kind.
type Copier = (Box<dyn Read + Send>, Stream, u8);

/// Where the container's output comes from.
enum Output {
    Pipes {
        stdout: std::io::PipeReader,
        stderr: std::io::PipeReader,
    },
    /// The master of its terminal.
    Terminal(std::os::fd::OwnedFd),
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

    // Paths made short by going through an open descriptor of the state
    // directory (socket paths are limited to 107 bytes).
    let state_dir = match std::fs::File::open(&opts.state_dir) {
        Ok(dir) => dir,
        Err(e) => {
            answer(&format!("error: opening {}: {e}", opts.state_dir.display()));
            return 1;
        }
    };
    let io_record: IoRecord = read_json(&opts.state_dir.join("io.json"))
        .ok()
        .flatten()
        .unwrap_or_default();
    let created = match create(opts, &state_dir, &io_record) {
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
    let (readers, terminal): (Vec<Copier>, _) = match created.output {
        Output::Pipes { stdout, stderr } => (
            vec![
                (Box::new(stdout), Stream::Stdout, STDOUT),
                (Box::new(stderr), Stream::Stderr, STDERR),
            ],
            None,
        ),
        Output::Terminal(master) => {
            let reader = match master.try_clone() {
                Ok(fd) => std::fs::File::from(fd),
                Err(e) => {
                    answer(&format!("error: duplicating the terminal: {e}"));
                    let _ = nix::sys::signal::kill(created.init, Signal::SIGKILL);
                    return 1;
                }
            };
            (
                vec![(Box::new(reader), Stream::Stdout, STDOUT)],
                Some(master),
            )
        }
    };
    let stdin: Option<std::fs::File> = match (&terminal, created.stdin) {
        (Some(master), _) if io_record.stdin => master.try_clone().ok().map(std::fs::File::from),
        (None, Some(pipe)) => Some(std::fs::File::from(std::os::fd::OwnedFd::from(pipe))),
        _ => None,
    };
    let hub = Hub::new(stdin, terminal, io_record.stdin_once);
    let attach_path = attach_proto::socket_path(std::process::id(), &state_dir, "attach.sock");
    match std::os::unix::net::UnixListener::bind(&attach_path) {
        Ok(listener) => hub.serve(listener),
        Err(e) => {
            answer(&format!("error: listening on attach.sock: {e}"));
            let _ = nix::sys::signal::kill(created.init, Signal::SIGKILL);
            return 1;
        }
    }
    answer("ok");

    let (done_tx, done_rx) = mpsc::channel::<()>();
    let copiers = readers.len();
    for (reader, stream, kind) in readers {
        let log = Arc::clone(&log);
        let done = done_tx.clone();
        let hub = Arc::clone(&hub);
        std::thread::spawn(move || {
            cri_log::copy_stream(reader, stream, &log, &|chunk| hub.broadcast(kind, chunk));
            let _ = done.send(());
        });
    }
    drop(done_tx);

    let (exit_code, signal) = wait_for(created.init);
    let finished_at = SystemTime::now();
    // Every process of the container's pid namespace is gone with its
    // init, so the pipes end now; wait a little for the last lines.
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    for _ in 0..copiers {
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

/// `runc create` with pipes for the container's output (and stdin), or
/// with a terminal received on a console socket.
fn create(
    opts: &ShimOptions,
    state_dir: &std::fs::File,
    io: &IoRecord,
) -> Result<Created, ShimError> {
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
        .arg(&pid_file);
    let mut pipes = None;
    let mut stdin_w = None;
    let mut console = None;
    if io.tty {
        // runc connects through this process's descriptor of the state
        // directory.
        let path = attach_proto::socket_path(std::process::id(), state_dir, "console.sock");
        let listener = std::os::unix::net::UnixListener::bind(&path)
            .map_err(io_err("listening on the console socket"))?;
        cmd.arg("--console-socket").arg(&path);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        console = Some(listener);
    } else {
        let (stdout_r, stdout_w) = std::io::pipe().map_err(io_err("making a pipe"))?;
        let (stderr_r, stderr_w) = std::io::pipe().map_err(io_err("making a pipe"))?;
        if io.stdin {
            let (r, w) = std::io::pipe().map_err(io_err("making a pipe"))?;
            cmd.stdin(r);
            stdin_w = Some(w);
        } else {
            cmd.stdin(Stdio::null());
        }
        cmd.stdout(stdout_w).stderr(stderr_w);
        pipes = Some((stdout_r, stderr_r));
    }
    cmd.arg(&opts.id);
    let mut child = cmd.spawn().map_err(io_err("running runc"))?;
    // The command holds our copies of the pipes' other ends: drop them so
    // the pipes end with the container.
    drop(cmd);
    let status = child.wait().map_err(io_err("waiting for runc create"))?;
    let _ = std::fs::remove_file(opts.state_dir.join("console.sock"));
    if !status.success() {
        return Err(ShimError::Create(
            last_runc_error(&runc_log).unwrap_or_else(|| status.to_string()),
        ));
    }
    let output = match (pipes, console) {
        (Some((stdout, stderr)), _) => Output::Pipes { stdout, stderr },
        (None, Some(listener)) => {
            let master = console::receive_master(&listener)
                .map_err(io_err("receiving the container's terminal"))?;
            let _ = rustix::termios::tcsetwinsize(
                &master,
                rustix::termios::Winsize {
                    ws_row: 24,
                    ws_col: 80,
                    ws_xpixel: 0,
                    ws_ypixel: 0,
                },
            );
            Output::Terminal(master)
        }
        (None, None) => return Err(ShimError::Create("no output set up".to_string())),
    };
    let text = std::fs::read_to_string(&pid_file).map_err(io_err("reading runc's pid file"))?;
    let pid: i32 = text
        .trim()
        .parse()
        .map_err(|_| ShimError::Create(format!("bad pid file {text:?}")))?;
    Ok(Created {
        init: Pid::from_raw(pid),
        output,
        stdin: stdin_w,
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
