//! Segment files: `log-<first revision, 20 digits>.seg`, a 24-byte header
//! then framed records. Scanning a segment on recovery tells a torn tail
//! (a half-written last write, cut off) from corruption (refuse to start).

use super::record::{read_frame, Frame};
use crate::types::Revision;

/// Current log format version, in every segment and snapshot header and in
/// the data directory's `FORMAT` file.
pub const FORMAT_VERSION: u32 = 1;

const MAGIC: &[u8; 8] = b"RKUBELOG";

/// Bytes of a segment header: magic, version u32, first revision u64, crc32c u32.
pub const HEADER_LEN: usize = 24;

/// The file name of the segment whose first revision is `first`.
pub fn name(first: Revision) -> String {
    format!("log-{first:020}.seg")
}

/// The first revision of a segment file name, if it is one.
pub fn parse_name(name: &str) -> Option<Revision> {
    name.strip_prefix("log-")?
        .strip_suffix(".seg")?
        .parse()
        .ok()
}

/// A segment header.
pub fn header(first: Revision) -> Vec<u8> {
    let mut h = Vec::with_capacity(HEADER_LEN);
    h.extend_from_slice(MAGIC);
    h.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    h.extend_from_slice(&(first as u64).to_le_bytes());
    let crc = crc32c::crc32c(&h);
    h.extend_from_slice(&crc.to_le_bytes());
    h
}

/// What a header says.
#[derive(Debug, PartialEq, Eq)]
pub enum Header {
    /// A valid header of this format.
    Ok { first: Revision },
    /// Shorter than a header (a segment whose creation was cut off).
    Short,
    /// Magic and checksum fine, but another format version.
    Version(u32),
    /// Not a header at all.
    Bad(&'static str),
}

/// Check the header at the start of `buf`.
pub fn read_header(buf: &[u8]) -> Header {
    let Some(h) = buf.get(..HEADER_LEN) else {
        return Header::Short;
    };
    if &h[..8] != MAGIC {
        return Header::Bad("not an rkube log segment (bad magic)");
    }
    let crc = u32::from_le_bytes([h[20], h[21], h[22], h[23]]);
    if crc32c::crc32c(&h[..20]) != crc {
        return Header::Bad("segment header checksum mismatch");
    }
    let version = u32::from_le_bytes([h[8], h[9], h[10], h[11]]);
    if version != FORMAT_VERSION {
        return Header::Version(version);
    }
    let mut first = [0u8; 8];
    first.copy_from_slice(&h[12..20]);
    Header::Ok {
        first: u64::from_le_bytes(first) as Revision,
    }
}

/// Where scanning the frames of a segment stopped.
#[derive(Debug, PartialEq, Eq)]
pub enum Tail {
    /// Every byte belongs to a valid frame.
    Clean,
    /// The last write was cut off at `offset`: everything from there is an
    /// incomplete frame or zeros. Safe to truncate (only in the last segment).
    Torn { offset: usize },
    /// A damaged frame at `offset` that a cut-off write cannot explain.
    Corrupt { offset: usize, reason: String },
}

/// Walk the frames of `buf` from `start`, calling `each(offset, payload)`
/// for each valid one, and classify how the data ends.
pub fn scan(
    buf: &[u8],
    start: usize,
    mut each: impl FnMut(usize, &[u8]) -> Result<(), String>,
) -> Tail {
    let mut offset = start;
    loop {
        if offset == buf.len() {
            return Tail::Clean;
        }
        let rest_is_zero = || buf[offset..].iter().all(|b| *b == 0);
        match read_frame(buf, offset) {
            Frame::Ok { payload, next } => {
                if let Err(reason) = each(offset, payload) {
                    return Tail::Corrupt { offset, reason };
                }
                offset = next;
            }
            // A frame that runs past the end: its write never finished.
            Frame::Truncated => return Tail::Torn { offset },
            Frame::BadHeader if rest_is_zero() => return Tail::Torn { offset },
            Frame::BadHeader => {
                return Tail::Corrupt {
                    offset,
                    reason: "frame length check failed".into(),
                }
            }
            // The final frame, or one followed only by zeros (blocks allocated
            // but never written): a write cut off mid-way.
            Frame::BadChecksum { end }
                if end == buf.len() || buf[end..].iter().all(|b| *b == 0) =>
            {
                return Tail::Torn { offset }
            }
            Frame::BadChecksum { .. } => {
                return Tail::Corrupt {
                    offset,
                    reason: "record checksum mismatch".into(),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::record::{encode_txn, LogOp};
    use super::*;
    use bytes::Bytes;

    fn log(n: i64) -> Vec<u8> {
        let mut buf = header(2);
        for rev in 2..2 + n {
            let ops = [LogOp::Put {
                key: Bytes::from(format!("k{rev}")),
                value: Bytes::from_static(b"v"),
            }];
            encode_txn(&mut buf, rev, &ops);
        }
        buf
    }

    fn count(buf: &[u8]) -> (usize, Tail) {
        let mut n = 0;
        let tail = scan(buf, HEADER_LEN, |_, _| {
            n += 1;
            Ok(())
        });
        (n, tail)
    }

    #[test]
    fn names_round_trip() {
        assert_eq!(parse_name(&name(12345)), Some(12345));
        assert_eq!(parse_name("snap-1.snap"), None);
    }

    #[test]
    fn header_checks() {
        assert_eq!(read_header(&header(7)), Header::Ok { first: 7 });
        assert_eq!(read_header(&header(7)[..10]), Header::Short);
        let mut other = header(7);
        other[8] = 9;
        let crc = crc32c::crc32c(&other[..20]);
        other[20..24].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(read_header(&other), Header::Version(9));
    }

    #[test]
    fn torn_tail_versus_corruption() {
        let buf = log(10);
        assert_eq!(count(&buf), (10, Tail::Clean));
        // Cut anywhere inside the last frame: torn, nine records intact.
        let (n, tail) = count(&buf[..buf.len() - 3]);
        assert_eq!(n, 9);
        assert!(matches!(tail, Tail::Torn { .. }));
        // Zeros after the data (file grown, data never written): torn.
        let mut zeros = buf.clone();
        zeros.extend_from_slice(&[0; 100]);
        assert!(matches!(count(&zeros), (10, Tail::Torn { .. })));
        // A flipped byte in the middle: corrupt, at the damaged frame.
        let mut flipped = buf.clone();
        flipped[HEADER_LEN + 40] ^= 0x10;
        assert!(matches!(count(&flipped).1, Tail::Corrupt { .. }));
    }
}
