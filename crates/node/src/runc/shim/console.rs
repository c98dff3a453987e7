//! The console socket of a container with a terminal: runc (`create
//! --console-socket`) connects to it and sends the master of the
//! container's terminal as `SCM_RIGHTS`.

use std::io::IoSliceMut;
use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::{Duration, Instant};

use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};

/// How long runc has to connect once `runc create` has returned.
const ACCEPT_WAIT: Duration = Duration::from_secs(5);

/// Accept runc's connection on `listener` and take the terminal master
/// it sends.
pub(crate) fn receive_master(listener: &UnixListener) -> std::io::Result<OwnedFd> {
    listener.set_nonblocking(true)?;
    let deadline = Instant::now() + ACCEPT_WAIT;
    let conn = loop {
        match listener.accept() {
            Ok((conn, _)) => break conn,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => return Err(e),
        }
    };
    conn.set_nonblocking(false)?;
    receive_fd(&conn)
}

/// The first descriptor sent on `conn`.
fn receive_fd(conn: &UnixStream) -> std::io::Result<OwnedFd> {
    let mut data = [0u8; 4096];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let mut iov = [IoSliceMut::new(&mut data)];
    rustix::net::recvmsg(conn, &mut iov, &mut control, RecvFlags::CMSG_CLOEXEC)?;
    for message in control.drain() {
        if let RecvAncillaryMessage::ScmRights(mut fds) = message {
            if let Some(fd) = fds.next() {
                return Ok(fd);
            }
        }
    }
    Err(std::io::Error::other(
        "runc sent no terminal on the console socket",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn a_sent_descriptor_is_received() {
        let dir = tempfile::tempdir().expect("test");
        let path = dir.path().join("c.sock");
        let listener = UnixListener::bind(&path).expect("bind");
        let (r, _w) = std::io::pipe().expect("pipe");
        let client = UnixStream::connect(&path).expect("connect");
        let fds = [r.as_fd()];
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
        let mut control = rustix::net::SendAncillaryBuffer::new(&mut space);
        assert!(control.push(rustix::net::SendAncillaryMessage::ScmRights(&fds)));
        rustix::net::sendmsg(
            &client,
            &[std::io::IoSlice::new(b"x")],
            &mut control,
            rustix::net::SendFlags::empty(),
        )
        .expect("send");
        let fd = receive_master(&listener).expect("receive");
        let meta = std::fs::File::from(fd).metadata().expect("meta");
        assert!(std::os::unix::fs::FileTypeExt::is_fifo(&meta.file_type()));
    }
}
