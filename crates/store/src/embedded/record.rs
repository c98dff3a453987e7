//! Log records: how one transaction or one compaction is encoded, and the
//! frame (length, its complement, CRC-32C) around every record in segments
//! and snapshots. Byte layout: `crates/store/FORMAT.md`.

use bytes::Bytes;

use crate::types::Revision;

/// Bytes of a frame header: `len u32 | !len u32 | crc32c u32`.
pub const FRAME_HEADER: usize = 12;

/// Largest payload a frame may carry (a sanity bound for decoding).
pub const MAX_PAYLOAD: u32 = 1 << 30;

const TYPE_TXN: u8 = 1;
const TYPE_COMPACT: u8 = 2;
const OP_PUT: u8 = 1;
const OP_DELETE: u8 = 2;

/// One write of a transaction, as logged (delete ranges are resolved to keys).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogOp {
    Put { key: Bytes, value: Bytes },
    Delete { key: Bytes },
}

impl LogOp {
    pub fn key(&self) -> &Bytes {
        match self {
            LogOp::Put { key, .. } | LogOp::Delete { key } => key,
        }
    }
}

/// A decoded log record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    /// The writes of one revision.
    Txn { revision: Revision, ops: Vec<LogOp> },
    /// Compaction to `revision`.
    Compact { revision: Revision },
}

/// Append `payload` to `out` inside a frame.
pub fn write_frame(out: &mut Vec<u8>, payload: &[u8]) {
    let len = payload.len() as u32;
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&(!len).to_le_bytes());
    out.extend_from_slice(&crc32c::crc32c(payload).to_le_bytes());
    out.extend_from_slice(payload);
}

/// Start a frame at the end of `out`: reserves its header. Append the
/// payload to `out`, then call [`end_frame`] with the returned start.
pub fn begin_frame(out: &mut Vec<u8>) -> usize {
    let start = out.len();
    out.extend_from_slice(&[0; FRAME_HEADER]);
    start
}

/// Fill in the header of the frame begun at `start` (see [`begin_frame`]).
pub fn end_frame(out: &mut [u8], start: usize) {
    let len = (out.len() - start - FRAME_HEADER) as u32;
    let crc = crc32c::crc32c(&out[start + FRAME_HEADER..]);
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&(!len).to_le_bytes());
    out[start + 8..start + 12].copy_from_slice(&crc.to_le_bytes());
}

/// What is found at some offset of a buffer of frames.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A whole, valid frame; `next` is the offset after it.
    Ok { payload: &'a [u8], next: usize },
    /// Fewer bytes than a frame header, or than the length the header gives.
    Truncated,
    /// The length and its complement disagree.
    BadHeader,
    /// The payload does not match its checksum; `end` is where the frame ends.
    BadChecksum { end: usize },
}

/// Read the frame at `offset` of `buf`.
pub fn read_frame(buf: &[u8], offset: usize) -> Frame<'_> {
    let Some(header) = buf.get(offset..offset + FRAME_HEADER) else {
        return Frame::Truncated;
    };
    let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
    let inv = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    let crc = u32::from_le_bytes([header[8], header[9], header[10], header[11]]);
    if len != !inv || len > MAX_PAYLOAD {
        return Frame::BadHeader;
    }
    let start = offset + FRAME_HEADER;
    let end = start + len as usize;
    let Some(payload) = buf.get(start..end) else {
        return Frame::Truncated;
    };
    if crc32c::crc32c(payload) != crc {
        return Frame::BadChecksum { end };
    }
    Frame::Ok { payload, next: end }
}

/// Encode a transaction's writes as a framed record, appended to `out`.
pub fn encode_txn(out: &mut Vec<u8>, revision: Revision, ops: &[LogOp]) {
    out.reserve(
        FRAME_HEADER
            + 13
            + ops
                .iter()
                .map(|op| 9 + op.key().len() + op_value_len(op))
                .sum::<usize>(),
    );
    let start = begin_frame(out);
    out.push(TYPE_TXN);
    out.extend_from_slice(&(revision as u64).to_le_bytes());
    out.extend_from_slice(&(ops.len() as u32).to_le_bytes());
    for op in ops {
        match op {
            LogOp::Put { key, value } => {
                out.push(OP_PUT);
                put_bytes(out, key);
                put_bytes(out, value);
            }
            LogOp::Delete { key } => {
                out.push(OP_DELETE);
                put_bytes(out, key);
            }
        }
    }
    end_frame(out, start);
}

/// Encode a compaction as a framed record, appended to `out`.
pub fn encode_compact(out: &mut Vec<u8>, revision: Revision) {
    let mut payload = Vec::with_capacity(9);
    payload.push(TYPE_COMPACT);
    payload.extend_from_slice(&(revision as u64).to_le_bytes());
    write_frame(out, &payload);
}

fn op_value_len(op: &LogOp) -> usize {
    match op {
        LogOp::Put { value, .. } => value.len(),
        LogOp::Delete { .. } => 0,
    }
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_le_bytes());
    out.extend_from_slice(b);
}

/// Decode a record payload (already checked by its frame). Returns a reason
/// on malformed content.
pub fn decode(payload: &[u8]) -> Result<Record, String> {
    let mut r = Reader {
        buf: payload,
        pos: 0,
    };
    match r.u8()? {
        TYPE_TXN => {
            let revision = r.i64()?;
            let n = r.u32()? as usize;
            let mut ops = Vec::with_capacity(n.min(1 << 16));
            for _ in 0..n {
                match r.u8()? {
                    OP_PUT => {
                        let key = r.bytes()?;
                        let value = r.bytes()?;
                        ops.push(LogOp::Put { key, value });
                    }
                    OP_DELETE => ops.push(LogOp::Delete { key: r.bytes()? }),
                    other => return Err(format!("unknown operation type {other}")),
                }
            }
            r.finish()?;
            Ok(Record::Txn { revision, ops })
        }
        TYPE_COMPACT => {
            let revision = r.i64()?;
            r.finish()?;
            Ok(Record::Compact { revision })
        }
        other => Err(format!("unknown record type {other}")),
    }
}

/// A bounds-checked little-endian reader over a payload.
pub struct Reader<'a> {
    pub buf: &'a [u8],
    pub pos: usize,
}

impl<'a> Reader<'a> {
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.pos.checked_add(n).ok_or("length overflow")?;
        let s = self.buf.get(self.pos..end).ok_or_else(|| {
            format!(
                "record ends early: needs {n} bytes at {} of {}",
                self.pos,
                self.buf.len()
            )
        })?;
        self.pos = end;
        Ok(s)
    }
    pub fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    pub fn u32(&mut self) -> Result<u32, String> {
        let s = self.take(4)?;
        Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }
    pub fn i64(&mut self) -> Result<i64, String> {
        let s = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Ok(u64::from_le_bytes(a) as i64)
    }
    /// A length-prefixed byte string, copied out (so it does not pin the buffer).
    pub fn bytes(&mut self) -> Result<Bytes, String> {
        let n = self.u32()? as usize;
        Ok(Bytes::copy_from_slice(self.take(n)?))
    }
    pub fn finish(&self) -> Result<(), String> {
        if self.pos == self.buf.len() {
            Ok(())
        } else {
            Err(format!(
                "{} unexpected trailing bytes",
                self.buf.len() - self.pos
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn txn_round_trips() {
        let ops = vec![
            LogOp::Put {
                key: Bytes::from_static(b"/a"),
                value: Bytes::from_static(b"1"),
            },
            LogOp::Delete {
                key: Bytes::from_static(b"/b"),
            },
        ];
        let mut buf = Vec::new();
        encode_txn(&mut buf, 42, &ops);
        encode_compact(&mut buf, 7);
        let Frame::Ok { payload, next } = read_frame(&buf, 0) else {
            panic!("first frame")
        };
        assert_eq!(decode(payload), Ok(Record::Txn { revision: 42, ops }));
        let Frame::Ok { payload, next } = read_frame(&buf, next) else {
            panic!("second frame")
        };
        assert_eq!(decode(payload), Ok(Record::Compact { revision: 7 }));
        assert_eq!(next, buf.len());
        assert_eq!(read_frame(&buf, next), Frame::Truncated);
    }

    #[test]
    fn damage_is_detected() {
        let mut buf = Vec::new();
        encode_txn(
            &mut buf,
            2,
            &[LogOp::Delete {
                key: Bytes::from_static(b"k"),
            }],
        );
        let mut flipped = buf.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert!(matches!(read_frame(&flipped, 0), Frame::BadChecksum { .. }));
        let mut bad_len = buf.clone();
        bad_len[0] ^= 4;
        assert_eq!(read_frame(&bad_len, 0), Frame::BadHeader);
        assert_eq!(read_frame(&buf[..buf.len() - 1], 0), Frame::Truncated);
    }

    #[test]
    fn malformed_payloads_are_errors_not_panics() {
        for payload in [
            &[][..],
            &[1, 0, 0],
            &[1, 2, 0, 0, 0, 0, 0, 0, 0, 255, 255, 255, 255],
            &[9],
        ] {
            assert!(decode(payload).is_err());
        }
    }
}
