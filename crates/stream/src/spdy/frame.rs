//! SPDY/3.1 frames without I/O: [`Codec::decode`] turns received bytes
//! into [`Frame`]s, [`Codec::encode`] writes them; header blocks go
//! through the connection's [`Deflater`]/[`Inflater`]. DATA frame headers
//! are written apart ([`encode_data_header`]) so payloads are not copied
//! twice.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::headers::{Deflater, HeaderList, Inflater};
use crate::error::StreamError;

pub const FLAG_FIN: u8 = 0x01;
pub const FLAG_UNIDIRECTIONAL: u8 = 0x02;

const TYPE_SYN_STREAM: u16 = 1;
const TYPE_SYN_REPLY: u16 = 2;
const TYPE_RST_STREAM: u16 = 3;
const TYPE_SETTINGS: u16 = 4;
const TYPE_PING: u16 = 6;
const TYPE_GOAWAY: u16 = 7;
const TYPE_HEADERS: u16 = 8;
const TYPE_WINDOW_UPDATE: u16 = 9;

/// RST_STREAM status: protocol error.
pub const RST_PROTOCOL_ERROR: u32 = 1;
/// RST_STREAM status: refused stream.
pub const RST_REFUSED_STREAM: u32 = 3;
/// RST_STREAM status: cancel.
pub const RST_CANCEL: u32 = 5;
/// GOAWAY status: OK.
pub const GOAWAY_OK: u32 = 0;
/// GOAWAY status: protocol error.
pub const GOAWAY_PROTOCOL_ERROR: u32 = 1;

/// SETTINGS id of the initial window size.
pub const SETTINGS_INITIAL_WINDOW_SIZE: u32 = 7;

/// The header of every frame.
pub const FRAME_HEADER: usize = 8;
/// The longest control frame accepted.
pub const MAX_CONTROL_FRAME: usize = 1 << 20;

/// One SPDY/3.1 frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    Data {
        stream_id: u32,
        fin: bool,
        data: Bytes,
    },
    SynStream {
        stream_id: u32,
        associated_to: u32,
        priority: u8,
        flags: u8,
        headers: HeaderList,
    },
    SynReply {
        stream_id: u32,
        flags: u8,
        headers: HeaderList,
    },
    RstStream {
        stream_id: u32,
        status: u32,
    },
    /// (flags, id, value) entries.
    Settings(Vec<(u8, u32, u32)>),
    Ping(u32),
    GoAway {
        last_good: u32,
        status: u32,
    },
    Headers {
        stream_id: u32,
        flags: u8,
        headers: HeaderList,
    },
    WindowUpdate {
        stream_id: u32,
        delta: u32,
    },
    /// A control frame of a type this codec does not know (ignored, as
    /// the protocol asks).
    Unknown(u16),
}

/// Frames of one connection, each direction with its zlib stream.
pub struct Codec {
    inflater: Inflater,
    deflater: Deflater,
    max_data: usize,
}

impl Codec {
    /// A codec accepting DATA frames of up to `max_data` bytes.
    pub fn new(max_data: usize) -> Self {
        Codec {
            inflater: Inflater::new(),
            deflater: Deflater::new(),
            max_data,
        }
    }

    /// The next complete frame in `buf` (consuming it), or `None` when
    /// more bytes are needed.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, StreamError> {
        if buf.len() < FRAME_HEADER {
            return Ok(None);
        }
        let control = buf[0] & 0x80 != 0;
        let flags = buf[4];
        let len = (usize::from(buf[5]) << 16) | (usize::from(buf[6]) << 8) | usize::from(buf[7]);
        let limit = if control {
            MAX_CONTROL_FRAME
        } else {
            self.max_data
        };
        if len > limit {
            return Err(StreamError::TooLarge { size: len, limit });
        }
        if buf.len() < FRAME_HEADER + len {
            buf.reserve(FRAME_HEADER + len - buf.len());
            return Ok(None);
        }
        let head = buf.split_to(FRAME_HEADER);
        let mut body = buf.split_to(len);
        if !control {
            let stream_id = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) & 0x7FFF_FFFF;
            return Ok(Some(Frame::Data {
                stream_id,
                fin: flags & FLAG_FIN != 0,
                data: body.freeze(),
            }));
        }
        let version = u16::from_be_bytes([head[0], head[1]]) & 0x7FFF;
        if version != 3 {
            return Err(StreamError::Spdy(format!(
                "unsupported SPDY version {version}"
            )));
        }
        let kind = u16::from_be_bytes([head[2], head[3]]);
        let need = |n: usize| {
            if len < n {
                Err(StreamError::Spdy(format!(
                    "control frame type {kind} too short"
                )))
            } else {
                Ok(())
            }
        };
        let id = |b: &mut BytesMut| b.get_u32() & 0x7FFF_FFFF;
        let frame = match kind {
            TYPE_SYN_STREAM => {
                need(10)?;
                let stream_id = id(&mut body);
                let associated_to = id(&mut body);
                let priority = body.get_u8() >> 5;
                let _slot = body.get_u8();
                Frame::SynStream {
                    stream_id,
                    associated_to,
                    priority,
                    flags,
                    headers: self.inflater.decompress(&body)?,
                }
            }
            TYPE_SYN_REPLY | TYPE_HEADERS => {
                need(4)?;
                let stream_id = id(&mut body);
                let headers = self.inflater.decompress(&body)?;
                if kind == TYPE_SYN_REPLY {
                    Frame::SynReply {
                        stream_id,
                        flags,
                        headers,
                    }
                } else {
                    Frame::Headers {
                        stream_id,
                        flags,
                        headers,
                    }
                }
            }
            TYPE_RST_STREAM => {
                need(8)?;
                Frame::RstStream {
                    stream_id: id(&mut body),
                    status: body.get_u32(),
                }
            }
            TYPE_SETTINGS => {
                need(4)?;
                let n = body.get_u32() as usize;
                if body.len() < n.saturating_mul(8) {
                    return Err(StreamError::Spdy("SETTINGS frame too short".into()));
                }
                let entries = (0..n)
                    .map(|_| {
                        let w = body.get_u32();
                        ((w >> 24) as u8, w & 0x00FF_FFFF, body.get_u32())
                    })
                    .collect();
                Frame::Settings(entries)
            }
            TYPE_PING => {
                need(4)?;
                Frame::Ping(body.get_u32())
            }
            TYPE_GOAWAY => {
                need(4)?;
                let last_good = id(&mut body);
                let status = if body.len() >= 4 { body.get_u32() } else { 0 };
                Frame::GoAway { last_good, status }
            }
            TYPE_WINDOW_UPDATE => {
                need(8)?;
                Frame::WindowUpdate {
                    stream_id: id(&mut body),
                    delta: body.get_u32() & 0x7FFF_FFFF,
                }
            }
            other => Frame::Unknown(other),
        };
        Ok(Some(frame))
    }

    /// Write `frame` to `dst` (header blocks compressed).
    pub fn encode(&mut self, frame: &Frame, dst: &mut BytesMut) -> Result<(), StreamError> {
        match frame {
            Frame::Data {
                stream_id,
                fin,
                data,
            } => {
                encode_data_header(dst, *stream_id, *fin, data.len());
                dst.put_slice(data);
            }
            Frame::SynStream {
                stream_id,
                associated_to,
                priority,
                flags,
                headers,
            } => {
                let block = self.deflater.compress(headers)?;
                control_header(dst, TYPE_SYN_STREAM, *flags, 10 + block.len());
                dst.put_u32(*stream_id);
                dst.put_u32(*associated_to);
                dst.put_u8(priority << 5);
                dst.put_u8(0);
                dst.put_slice(&block);
            }
            Frame::SynReply {
                stream_id,
                flags,
                headers,
            }
            | Frame::Headers {
                stream_id,
                flags,
                headers,
            } => {
                let kind = if matches!(frame, Frame::SynReply { .. }) {
                    TYPE_SYN_REPLY
                } else {
                    TYPE_HEADERS
                };
                let block = self.deflater.compress(headers)?;
                control_header(dst, kind, *flags, 4 + block.len());
                dst.put_u32(*stream_id);
                dst.put_slice(&block);
            }
            Frame::RstStream { stream_id, status } => {
                control_header(dst, TYPE_RST_STREAM, 0, 8);
                dst.put_u32(*stream_id);
                dst.put_u32(*status);
            }
            Frame::Settings(entries) => {
                control_header(dst, TYPE_SETTINGS, 0, 4 + 8 * entries.len());
                dst.put_u32(entries.len() as u32);
                for (flags, id, value) in entries {
                    dst.put_u32((u32::from(*flags) << 24) | (id & 0x00FF_FFFF));
                    dst.put_u32(*value);
                }
            }
            Frame::Ping(id) => {
                control_header(dst, TYPE_PING, 0, 4);
                dst.put_u32(*id);
            }
            Frame::GoAway { last_good, status } => {
                control_header(dst, TYPE_GOAWAY, 0, 8);
                dst.put_u32(*last_good);
                dst.put_u32(*status);
            }
            Frame::WindowUpdate { stream_id, delta } => {
                control_header(dst, TYPE_WINDOW_UPDATE, 0, 8);
                dst.put_u32(*stream_id);
                dst.put_u32(*delta);
            }
            Frame::Unknown(_) => {}
        }
        Ok(())
    }
}

fn control_header(dst: &mut BytesMut, kind: u16, flags: u8, len: usize) {
    dst.put_u16(0x8000 | 3);
    dst.put_u16(kind);
    dst.put_u8(flags);
    put_u24(dst, len);
}

fn put_u24(dst: &mut BytesMut, len: usize) {
    dst.put_u8((len >> 16) as u8);
    dst.put_u8((len >> 8) as u8);
    dst.put_u8(len as u8);
}

/// A DATA frame's header for a payload of `len` bytes (at most 2^24-1).
pub fn encode_data_header(dst: &mut BytesMut, stream_id: u32, fin: bool, len: usize) {
    dst.put_u32(stream_id & 0x7FFF_FFFF);
    dst.put_u8(if fin { FLAG_FIN } else { 0 });
    put_u24(dst, len);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let (mut client, mut server) = (Codec::new(1 << 20), Codec::new(1 << 20));
        let frames = vec![
            Frame::SynStream {
                stream_id: 1,
                associated_to: 0,
                priority: 0,
                flags: 0,
                headers: vec![("streamtype".into(), "error".into())],
            },
            Frame::Data {
                stream_id: 1,
                fin: true,
                data: Bytes::from_static(b"hello"),
            },
            Frame::Ping(1),
            Frame::WindowUpdate {
                stream_id: 1,
                delta: 4096,
            },
            Frame::Settings(vec![(0, SETTINGS_INITIAL_WINDOW_SIZE, 65536)]),
            Frame::RstStream {
                stream_id: 1,
                status: RST_CANCEL,
            },
            Frame::GoAway {
                last_good: 1,
                status: GOAWAY_OK,
            },
        ];
        let mut wire = BytesMut::new();
        for f in &frames {
            client.encode(f, &mut wire).unwrap();
        }
        for f in &frames {
            assert_eq!(server.decode(&mut wire).unwrap().as_ref(), Some(f));
        }
        assert!(server.decode(&mut wire).unwrap().is_none());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut c = Codec::new(1024);
        let mut bad_version = BytesMut::from(&[0x80u8, 9, 0, 1, 0, 0, 0, 0][..]);
        assert!(c.decode(&mut bad_version).is_err());
        let mut short = BytesMut::from(&[0x80u8, 3, 0, 1, 0, 0, 0, 2, 0, 0][..]);
        assert!(Codec::new(1024).decode(&mut short).is_err());
        let mut huge = BytesMut::from(&[0u8, 0, 0, 1, 0, 0xFF, 0xFF, 0xFF][..]);
        assert!(matches!(
            Codec::new(1024).decode(&mut huge),
            Err(StreamError::TooLarge { .. })
        ));
    }
}
