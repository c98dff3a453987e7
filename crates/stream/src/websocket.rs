//! RFC 6455 framing without I/O: [`Decoder`] turns received bytes into
//! [`Message`]s (unmasking in place, reassembling fragments, enforcing a
//! size limit), [`encode_header`] writes a frame's header. Both sides use
//! it: the server sends unmasked frames, a client (the tests') masked
//! ones.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::error::StreamError;

pub const OP_CONTINUATION: u8 = 0x0;
pub const OP_TEXT: u8 = 0x1;
pub const OP_BINARY: u8 = 0x2;
pub const OP_CLOSE: u8 = 0x8;
pub const OP_PING: u8 = 0x9;
pub const OP_PONG: u8 = 0xA;

/// Close code: normal closure.
pub const CLOSE_NORMAL: u16 = 1000;
/// Close code: protocol error.
pub const CLOSE_PROTOCOL_ERROR: u16 = 1002;
/// Close code: message too big.
pub const CLOSE_TOO_BIG: u16 = 1009;

/// One received message (or, without reassembly, one data frame).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// A text or binary message.
    Data {
        binary: bool,
        payload: Bytes,
    },
    Ping(Bytes),
    Pong(Bytes),
    /// The peer closes, with its close code if it gave one.
    Close(Option<u16>),
}

/// Decodes frames from a receive buffer.
#[derive(Debug)]
pub struct Decoder {
    max_message: usize,
    reassemble: bool,
    /// The message being reassembled: binary?, bytes so far.
    partial: Option<(bool, BytesMut)>,
    /// Without reassembly: a fragmented message is in progress.
    in_message: Option<bool>,
}

impl Decoder {
    /// A decoder accepting messages up to `max_message` bytes. Without
    /// `reassemble` each data frame is returned as it arrives (for a byte
    /// stream carried in messages, where boundaries do not matter).
    pub fn new(max_message: usize, reassemble: bool) -> Self {
        Decoder {
            max_message,
            reassemble,
            partial: None,
            in_message: None,
        }
    }

    /// The next complete message in `buf` (consuming its bytes), or
    /// `None` when more bytes are needed.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Message>, StreamError> {
        loop {
            if buf.len() < 2 {
                return Ok(None);
            }
            let (b0, b1) = (buf[0], buf[1]);
            let fin = b0 & 0x80 != 0;
            let opcode = b0 & 0x0F;
            if b0 & 0x70 != 0 {
                return Err(StreamError::WebSocket("reserved bits set".into()));
            }
            let masked = b1 & 0x80 != 0;
            let (len, mut header) = match b1 & 0x7F {
                126 => {
                    if buf.len() < 4 {
                        return Ok(None);
                    }
                    (u64::from(u16::from_be_bytes([buf[2], buf[3]])), 4)
                }
                127 => {
                    if buf.len() < 10 {
                        return Ok(None);
                    }
                    let mut b = [0u8; 8];
                    b.copy_from_slice(&buf[2..10]);
                    (u64::from_be_bytes(b), 10)
                }
                n => (u64::from(n), 2),
            };
            let control = opcode & 0x08 != 0;
            if control && (!fin || len > 125) {
                return Err(StreamError::WebSocket(
                    "fragmented or oversized control frame".into(),
                ));
            }
            let so_far = self.partial.as_ref().map_or(0, |p| p.1.len()) as u64;
            if len.saturating_add(so_far) > self.max_message as u64 {
                return Err(StreamError::TooLarge {
                    size: usize::try_from(len.saturating_add(so_far)).unwrap_or(usize::MAX),
                    limit: self.max_message,
                });
            }
            let len = len as usize;
            let mask = if masked {
                if buf.len() < header + 4 {
                    return Ok(None);
                }
                let m = [
                    buf[header],
                    buf[header + 1],
                    buf[header + 2],
                    buf[header + 3],
                ];
                header += 4;
                Some(m)
            } else {
                None
            };
            if buf.len() < header + len {
                buf.reserve(header + len - buf.len());
                return Ok(None);
            }
            buf.advance(header);
            let mut payload = buf.split_to(len);
            if let Some(m) = mask {
                apply_mask(&mut payload, m);
            }
            match opcode {
                OP_CLOSE => {
                    let code =
                        (payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]]));
                    return Ok(Some(Message::Close(code)));
                }
                OP_PING => return Ok(Some(Message::Ping(payload.freeze()))),
                OP_PONG => return Ok(Some(Message::Pong(payload.freeze()))),
                OP_TEXT | OP_BINARY | OP_CONTINUATION => {
                    if let Some(m) = self.data_frame(opcode, fin, payload)? {
                        return Ok(Some(m));
                    }
                }
                other => {
                    return Err(StreamError::WebSocket(format!("unknown opcode {other:#x}")));
                }
            }
        }
    }

    fn data_frame(
        &mut self,
        opcode: u8,
        fin: bool,
        payload: BytesMut,
    ) -> Result<Option<Message>, StreamError> {
        let first = opcode != OP_CONTINUATION;
        if !self.reassemble {
            let binary = match (first, self.in_message) {
                (true, None) => opcode == OP_BINARY,
                (false, Some(binary)) => binary,
                _ => return Err(StreamError::WebSocket("bad fragment sequence".into())),
            };
            self.in_message = (!fin).then_some(binary);
            return Ok(Some(Message::Data {
                binary,
                payload: payload.freeze(),
            }));
        }
        match (first, self.partial.take()) {
            (true, None) if fin => Ok(Some(Message::Data {
                binary: opcode == OP_BINARY,
                payload: payload.freeze(),
            })),
            (true, None) => {
                self.partial = Some((opcode == OP_BINARY, payload));
                Ok(None)
            }
            (false, Some((binary, mut so_far))) => {
                so_far.extend_from_slice(&payload);
                if fin {
                    Ok(Some(Message::Data {
                        binary,
                        payload: so_far.freeze(),
                    }))
                } else {
                    self.partial = Some((binary, so_far));
                    Ok(None)
                }
            }
            _ => Err(StreamError::WebSocket("bad fragment sequence".into())),
        }
    }
}

/// Write a final frame's header for a payload of `len` bytes; with a
/// mask (clients) the caller masks the payload with [`apply_mask`].
pub fn encode_header(dst: &mut BytesMut, opcode: u8, len: usize, mask: Option<[u8; 4]>) {
    dst.put_u8(0x80 | opcode);
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    if len < 126 {
        dst.put_u8(mask_bit | len as u8);
    } else if len <= usize::from(u16::MAX) {
        dst.put_u8(mask_bit | 126);
        dst.put_u16(len as u16);
    } else {
        dst.put_u8(mask_bit | 127);
        dst.put_u64(len as u64);
    }
    if let Some(m) = mask {
        dst.put_slice(&m);
    }
}

/// The largest header [`encode_header`] writes.
pub const MAX_HEADER: usize = 14;

/// A whole frame, unmasked (the server's).
pub fn frame(opcode: u8, payload: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(MAX_HEADER + payload.len());
    encode_header(&mut b, opcode, payload.len(), None);
    b.put_slice(payload);
    b.freeze()
}

/// A close frame with a code and a short reason.
pub fn close_frame(code: u16, reason: &str) -> Bytes {
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend(reason.bytes().take(120));
    frame(OP_CLOSE, &payload)
}

/// XOR `data` with the 4-byte `mask` (RFC 6455 5.3).
pub fn apply_mask(data: &mut [u8], mask: [u8; 4]) {
    let word = u64::from_ne_bytes([
        mask[0], mask[1], mask[2], mask[3], mask[0], mask[1], mask[2], mask[3],
    ]);
    let mut chunks = data.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut b = [0u8; 8];
        b.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u64::from_ne_bytes(b) ^ word).to_ne_bytes());
    }
    for (i, byte) in chunks.into_remainder().iter_mut().enumerate() {
        *byte ^= mask[i % 4];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masked(opcode: u8, fin: bool, payload: &[u8]) -> BytesMut {
        let mask = [1, 2, 3, 4];
        let mut b = BytesMut::new();
        encode_header(&mut b, opcode, payload.len(), Some(mask));
        if !fin {
            b[0] &= 0x7F;
        }
        let mut p = payload.to_vec();
        apply_mask(&mut p, mask);
        b.extend_from_slice(&p);
        b
    }

    #[test]
    fn decodes_masked_fragmented_messages_byte_by_byte() {
        let long: Vec<u8> = (0..70_000u32).map(|i| i as u8).collect();
        let mut wire = masked(OP_BINARY, false, b"ab");
        wire.extend_from_slice(&masked(OP_PING, true, b"p"));
        wire.extend_from_slice(&masked(OP_CONTINUATION, true, b"cd"));
        wire.extend_from_slice(&masked(OP_BINARY, true, &long));
        let mut d = Decoder::new(1 << 20, true);
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for b in wire.iter() {
            buf.put_u8(*b);
            while let Some(m) = d.decode(&mut buf).unwrap() {
                got.push(m);
            }
        }
        assert_eq!(got[0], Message::Ping(Bytes::from_static(b"p")));
        assert_eq!(
            got[1],
            Message::Data {
                binary: true,
                payload: Bytes::from_static(b"abcd")
            }
        );
        assert_eq!(
            got[2],
            Message::Data {
                binary: true,
                payload: Bytes::from(long)
            }
        );
    }

    #[test]
    fn rejects_garbage_and_oversized_frames() {
        let mut d = Decoder::new(100, true);
        let mut buf = BytesMut::from(&[0xFFu8, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0][..]);
        assert!(d.decode(&mut buf).is_err());
        let mut big = masked(OP_BINARY, true, &[0u8; 200]);
        assert!(matches!(
            Decoder::new(100, true).decode(&mut big),
            Err(StreamError::TooLarge { .. })
        ));
        let mut stray = masked(OP_CONTINUATION, true, b"x");
        assert!(Decoder::new(100, true).decode(&mut stray).is_err());
    }
}
