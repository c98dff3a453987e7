//! Pseudo-terminals on the agent's side: a pair whose slave becomes the
//! standard streams of a foreground `runc exec --tty` (runc copies between
//! it and the container's own terminal, and applies its size on
//! `SIGWINCH`), async halves of the master, and resizing.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::pin::Pin;
use std::task::{Context, Poll};

use rkube_cri::{CriError, TermSize};
use tokio::io::{AsyncRead, ReadBuf};
use tokio::net::unix::pipe;

/// A terminal pair.
pub(crate) struct Pty {
    pub master: OwnedFd,
    pub slave: OwnedFd,
}

/// A new terminal pair, 80x24 until resized.
pub(crate) fn open() -> Result<Pty, CriError> {
    let size = nix::pty::Winsize {
        ws_row: 24,
        ws_col: 80,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let pair = nix::pty::openpty(Some(&size), None)
        .map_err(|e| CriError::Runtime(format!("opening a pseudo-terminal: {e}")))?;
    Ok(Pty {
        master: pair.master,
        slave: pair.slave,
    })
}

/// Set the size of the terminal behind `fd` (master or slave).
pub(crate) fn resize(fd: impl AsFd, size: TermSize) -> io::Result<()> {
    rustix::termios::tcsetwinsize(
        fd,
        rustix::termios::Winsize {
            ws_row: size.height,
            ws_col: size.width,
            ws_xpixel: 0,
            ws_ypixel: 0,
        },
    )
    .map_err(io::Error::from)
}

/// Make `fd` non-blocking (its open file description: every copy).
fn nonblocking(fd: &OwnedFd) -> io::Result<()> {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    let flags = fcntl(fd, FcntlArg::F_GETFL).map_err(io::Error::from)?;
    let flags = OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK;
    fcntl(fd, FcntlArg::F_SETFL(flags)).map_err(io::Error::from)?;
    Ok(())
}

/// The master's output: reading ends (EOF) once every slave is closed
/// (the kernel answers `EIO` then).
pub(crate) struct MasterReader(pipe::Receiver);

impl AsyncRead for MasterReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match Pin::new(&mut self.0).poll_read(cx, buf) {
            Poll::Ready(Err(e)) if e.raw_os_error() == Some(nix::errno::Errno::EIO as i32) => {
                Poll::Ready(Ok(()))
            }
            other => other,
        }
    }
}

/// Async reading and writing halves of a master (each its own copy of
/// the descriptor; the master is set non-blocking). Must run inside the
/// tokio runtime.
pub(crate) fn async_halves(master: &OwnedFd) -> io::Result<(MasterReader, pipe::Sender)> {
    nonblocking(master)?;
    let reader = pipe::Receiver::from_owned_fd_unchecked(master.try_clone()?)?;
    let writer = pipe::Sender::from_owned_fd_unchecked(master.try_clone()?)?;
    Ok((MasterReader(reader), writer))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn bytes_cross_and_the_size_is_set() {
        let pty = open().expect("pty");
        resize(
            &pty.master,
            TermSize {
                width: 132,
                height: 40,
            },
        )
        .expect("resize");
        let size = rustix::termios::tcgetwinsize(&pty.slave).expect("size");
        assert_eq!((size.ws_col, size.ws_row), (132, 40));
        let (mut reader, mut writer) = async_halves(&pty.master).expect("halves");
        drop(pty.master);
        // Raw slave: what is written to the master is read back from it
        // only through the slave; write to the slave, read the master.
        let mut slave = std::fs::File::from(pty.slave);
        std::io::Write::write_all(&mut slave, b"hi").expect("write");
        let mut buf = [0u8; 2];
        reader.read_exact(&mut buf).await.expect("read");
        assert_eq!(&buf, b"hi");
        writer.write_all(b"x").await.expect("write");
        drop(slave);
        // Every slave closed: the reader ends instead of failing.
        let mut rest = Vec::new();
        let read = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            reader.read_to_end(&mut rest),
        )
        .await
        .expect("ends");
        assert!(read.is_ok(), "{read:?}");
    }
}
