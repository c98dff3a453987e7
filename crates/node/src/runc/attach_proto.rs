//! The frames spoken on a container's attach socket (`attach.sock` in its
//! state directory, served by its shim): `[kind: u8][length: u32 BE]
//! [payload]`. The shim sends output (`STDOUT`, `STDERR`); a client sends
//! `HELLO` (payload `[1]` when it attaches with stdin) first, then
//! `STDIN` data, `STDIN_CLOSE` when its stdin ends, and `RESIZE`
//! (`[width: u16 BE][height: u16 BE]`).

use std::io::{self, Read};

pub(crate) const STDIN: u8 = 0;
pub(crate) const STDOUT: u8 = 1;
pub(crate) const STDERR: u8 = 2;
pub(crate) const STDIN_CLOSE: u8 = 3;
pub(crate) const RESIZE: u8 = 4;
pub(crate) const HELLO: u8 = 5;

/// The largest payload a peer accepts.
pub(crate) const MAX_PAYLOAD: usize = 64 * 1024;

/// One frame, encoded.
pub(crate) fn encode(kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 5);
    out.push(kind);
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// A `RESIZE` payload.
pub(crate) fn resize_payload(width: u16, height: u16) -> [u8; 4] {
    let w = width.to_be_bytes();
    let h = height.to_be_bytes();
    [w[0], w[1], h[0], h[1]]
}

/// Width and height of a `RESIZE` payload.
pub(crate) fn parse_resize(payload: &[u8]) -> Option<(u16, u16)> {
    match payload {
        [w0, w1, h0, h1] => Some((
            u16::from_be_bytes([*w0, *w1]),
            u16::from_be_bytes([*h0, *h1]),
        )),
        _ => None,
    }
}

fn check_len(header: [u8; 5]) -> io::Result<(u8, usize)> {
    let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
    if len > MAX_PAYLOAD {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("attach frame of {len} bytes"),
        ));
    }
    Ok((header[0], len))
}

/// The next frame; None at a clean end of the stream.
pub(crate) fn read_frame(r: &mut impl Read) -> io::Result<Option<(u8, Vec<u8>)>> {
    let mut header = [0u8; 5];
    match r.read_exact(&mut header) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let (kind, len) = check_len(header)?;
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload)?;
    Ok(Some((kind, payload)))
}

/// The next frame, read asynchronously; None at a clean end.
pub(crate) async fn read_frame_async(
    r: &mut (impl tokio::io::AsyncRead + Unpin),
) -> io::Result<Option<(u8, Vec<u8>)>> {
    use tokio::io::AsyncReadExt;
    let mut header = [0u8; 5];
    match r.read_exact(&mut header).await {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let (kind, len) = check_len(header)?;
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload).await?;
    Ok(Some((kind, payload)))
}

/// A path for a unix socket named `name` in the directory open as `dir`
/// of process `pid` (`/proc/<pid>/fd/<n>/<name>`): short whatever the
/// directory's own path (socket paths are limited to 107 bytes).
pub(crate) fn socket_path(pid: u32, dir: &std::fs::File, name: &str) -> std::path::PathBuf {
    use std::os::fd::AsRawFd;
    std::path::PathBuf::from(format!("/proc/{pid}/fd/{}/{name}", dir.as_raw_fd()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let mut bytes = encode(STDOUT, b"hello");
        bytes.extend(encode(RESIZE, &resize_payload(132, 40)));
        let mut r = &bytes[..];
        assert_eq!(
            read_frame(&mut r).expect("frame"),
            Some((STDOUT, b"hello".to_vec()))
        );
        let (kind, payload) = read_frame(&mut r).expect("frame").expect("some");
        assert_eq!((kind, parse_resize(&payload)), (RESIZE, Some((132, 40))));
        assert_eq!(read_frame(&mut r).expect("end"), None);
        let huge = [STDIN, 0xff, 0xff, 0xff, 0xff];
        assert!(read_frame(&mut &huge[..]).is_err());
    }
}
