//! The shim's attach socket: every client connected to `attach.sock`
//! gets the container's output from then on (fanned out as frames, see
//! `attach_proto.rs`); a client's stdin goes to the container's stdin
//! when the container has one, and its resizes to the container's
//! terminal. With `stdinOnce` the container's stdin is closed when the
//! first client that attached with stdin ends it (on a terminal, by
//! sending end-of-file, Ctrl-D, since the terminal itself must stay).

use std::fs::File;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::super::attach_proto::{self, HELLO, RESIZE, STDIN, STDIN_CLOSE};
use super::super::locks::lock;

/// How long a client may block the container's output.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// The clients and what they may reach.
pub(crate) struct Hub {
    clients: Mutex<Vec<UnixStream>>,
    /// The container's stdin (a pipe, or its terminal): None without one
    /// or once closed.
    stdin: Mutex<Option<File>>,
    /// The container's terminal, for resizes.
    terminal: Option<OwnedFd>,
    stdin_once: bool,
}

impl Hub {
    pub fn new(stdin: Option<File>, terminal: Option<OwnedFd>, stdin_once: bool) -> Arc<Hub> {
        Arc::new(Hub {
            clients: Mutex::new(Vec::new()),
            stdin: Mutex::new(stdin),
            terminal,
            stdin_once,
        })
    }

    /// Send output to every client; clients that fail are dropped.
    pub fn broadcast(&self, kind: u8, data: &[u8]) {
        let mut clients = lock(&self.clients);
        if clients.is_empty() {
            return;
        }
        let frame = attach_proto::encode(kind, data);
        clients.retain_mut(|c| c.write_all(&frame).is_ok());
    }

    /// Accept clients on `listener` for as long as the shim lives.
    pub fn serve(self: &Arc<Self>, listener: UnixListener) {
        let hub = Arc::clone(self);
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let _ = conn.set_write_timeout(Some(WRITE_TIMEOUT));
                let Ok(reader) = conn.try_clone() else {
                    continue;
                };
                lock(&hub.clients).push(conn);
                let hub = Arc::clone(&hub);
                std::thread::spawn(move || hub.read_client(reader));
            }
        });
    }

    /// A client's frames until it ends.
    fn read_client(&self, mut conn: UnixStream) {
        let mut with_stdin = false;
        while let Ok(Some((kind, payload))) = attach_proto::read_frame(&mut conn) {
            match kind {
                HELLO => with_stdin = payload.first() == Some(&1),
                STDIN => {
                    let mut stdin = lock(&self.stdin);
                    let failed = stdin
                        .as_mut()
                        .is_some_and(|s| s.write_all(&payload).is_err());
                    if failed {
                        *stdin = None;
                    }
                }
                STDIN_CLOSE => {
                    self.stdin_ended(with_stdin);
                    with_stdin = false;
                }
                RESIZE => {
                    if let (Some(terminal), Some((width, height))) =
                        (&self.terminal, attach_proto::parse_resize(&payload))
                    {
                        let _ = rustix::termios::tcsetwinsize(
                            terminal,
                            rustix::termios::Winsize {
                                ws_row: height,
                                ws_col: width,
                                ws_xpixel: 0,
                                ws_ypixel: 0,
                            },
                        );
                    }
                }
                _ => {}
            }
        }
        self.stdin_ended(with_stdin);
    }

    /// A client's stdin ended: with `stdinOnce`, the container's too.
    fn stdin_ended(&self, with_stdin: bool) {
        if !(self.stdin_once && with_stdin) {
            return;
        }
        let mut stdin = lock(&self.stdin);
        if let Some(mut s) = stdin.take() {
            if self.terminal.is_some() {
                let _ = s.write_all(&[0x04]);
            }
        }
    }
}
