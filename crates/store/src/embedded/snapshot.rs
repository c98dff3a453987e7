//! Snapshots: the whole index (every key's retained history) at one durable
//! revision, in `snap-<revision, 20 digits>.snap`. Written to a `.tmp` file,
//! synced, then renamed, so a snapshot on disk is always complete; any damage
//! in one is corruption, never a torn tail.

use bytes::Bytes;

use super::index::Ver;
use super::record::{begin_frame, end_frame, read_frame, write_frame, Frame, Reader};
use super::segment::FORMAT_VERSION;
use crate::backend::{Dir, LogFile};
use crate::error::{Result, StoreError};
use crate::types::Revision;

const MAGIC: &[u8; 8] = b"RKUBESNP";
const HEADER_LEN: usize = 36;
const KIND_KEYS: u8 = 1;
const KIND_END: u8 = 2;
const KIND_ORDER: u8 = 3;

/// The file name of the snapshot at `rev`.
pub fn name(rev: Revision) -> String {
    format!("snap-{rev:020}.snap")
}

/// The revision of a snapshot file name, if it is one.
pub fn parse_name(name: &str) -> Option<Revision> {
    name.strip_prefix("snap-")?
        .strip_suffix(".snap")?
        .parse()
        .ok()
}

/// Writes a snapshot chunk by chunk; [`Writer::finish`] makes it durable
/// and visible.
pub struct Writer<'a> {
    dir: &'a dyn Dir,
    rev: Revision,
    file: Box<dyn LogFile>,
    keys: u64,
    bytes: u64,
}

impl<'a> Writer<'a> {
    /// Start the snapshot of revision `rev` with compacted revision `compacted`.
    pub fn create(dir: &'a dyn Dir, rev: Revision, compacted: Revision) -> Result<Self> {
        let mut file = dir.create(&format!("{}.tmp", name(rev)))?;
        let mut h = Vec::with_capacity(HEADER_LEN);
        h.extend_from_slice(MAGIC);
        h.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        h.extend_from_slice(&(rev as u64).to_le_bytes());
        h.extend_from_slice(&(compacted as u64).to_le_bytes());
        h.extend_from_slice(&[0; 4]);
        let crc = crc32c::crc32c(&h);
        h.extend_from_slice(&crc.to_le_bytes());
        file.append(&h)?;
        Ok(Writer {
            dir,
            rev,
            file,
            keys: 0,
            bytes: h.len() as u64,
        })
    }

    /// Add keys (in key order, continuing the previous chunk).
    pub fn add(&mut self, keys: &[(Bytes, Vec<Ver>)]) -> Result<()> {
        if keys.is_empty() {
            return Ok(());
        }
        let mut payload = Vec::new();
        let start = begin_frame(&mut payload);
        payload.push(KIND_KEYS);
        payload.extend_from_slice(&(keys.len() as u32).to_le_bytes());
        for (k, history) in keys {
            put_bytes(&mut payload, k);
            payload.extend_from_slice(&(history.len() as u32).to_le_bytes());
            for v in history {
                payload.extend_from_slice(&(v.mod_revision as u64).to_le_bytes());
                payload.extend_from_slice(&(v.create_revision as u64).to_le_bytes());
                payload.extend_from_slice(&(v.version as u64).to_le_bytes());
                match &v.value {
                    Some(value) => {
                        payload.push(1);
                        put_bytes(&mut payload, value);
                    }
                    None => payload.push(0),
                }
            }
        }
        end_frame(&mut payload, start);
        self.file.append(&payload)?;
        self.keys += keys.len() as u64;
        self.bytes += payload.len() as u64;
        Ok(())
    }

    /// Record the order of changes within multi-key revisions.
    pub fn add_orders(&mut self, orders: &[(Revision, Vec<Bytes>)]) -> Result<()> {
        if orders.is_empty() {
            return Ok(());
        }
        let mut payload = vec![KIND_ORDER];
        payload.extend_from_slice(&(orders.len() as u32).to_le_bytes());
        for (rev, keys) in orders {
            payload.extend_from_slice(&(*rev as u64).to_le_bytes());
            payload.extend_from_slice(&(keys.len() as u32).to_le_bytes());
            for k in keys {
                put_bytes(&mut payload, k);
            }
        }
        let mut frame = Vec::with_capacity(payload.len() + 12);
        write_frame(&mut frame, &payload);
        self.file.append(&frame)?;
        self.bytes += frame.len() as u64;
        Ok(())
    }

    /// Write the end record, sync, rename into place; returns the size.
    pub fn finish(mut self) -> Result<u64> {
        let mut payload = vec![KIND_END];
        payload.extend_from_slice(&self.keys.to_le_bytes());
        let mut frame = Vec::new();
        write_frame(&mut frame, &payload);
        self.file.append(&frame)?;
        self.file.sync()?;
        let tmp = format!("{}.tmp", name(self.rev));
        self.dir.rename(&tmp, &name(self.rev))?;
        self.dir.sync_dir()?;
        Ok(self.bytes + frame.len() as u64)
    }
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_le_bytes());
    out.extend_from_slice(b);
}

/// A loaded snapshot.
pub struct Loaded {
    pub revision: Revision,
    pub compacted: Revision,
    pub keys: Vec<(Bytes, Vec<Ver>)>,
    /// Order of changes within multi-key revisions, by revision.
    pub orders: Vec<(Revision, Vec<Bytes>)>,
    pub size: u64,
}

/// Read and verify the snapshot file `file_name`.
pub fn load(dir: &dyn Dir, file_name: &str) -> Result<Loaded> {
    let path = dir.display_path(file_name);
    let corrupt = |offset: usize, reason: String| StoreError::Corrupt {
        file: path.clone(),
        offset: offset as u64,
        reason,
    };
    let buf = dir.open(file_name)?.read_all()?;
    let h = buf
        .get(..HEADER_LEN)
        .ok_or_else(|| corrupt(0, "snapshot header is short".into()))?;
    if &h[..8] != MAGIC || crc32c::crc32c(&h[..32]).to_le_bytes() != h[32..36] {
        return Err(corrupt(0, "bad snapshot header".into()));
    }
    let version = u32::from_le_bytes([h[8], h[9], h[10], h[11]]);
    if version != FORMAT_VERSION {
        return Err(StoreError::UnsupportedFormat {
            dir: path.clone(),
            found: version.to_string(),
            supported: FORMAT_VERSION,
        });
    }
    let mut r = Reader { buf: h, pos: 12 };
    let revision = r.i64().map_err(|e| corrupt(12, e))?;
    let compacted = r.i64().map_err(|e| corrupt(20, e))?;
    let mut keys: Vec<(Bytes, Vec<Ver>)> = Vec::new();
    let mut orders: Vec<(Revision, Vec<Bytes>)> = Vec::new();
    let mut offset = HEADER_LEN;
    loop {
        let (payload, next) = match read_frame(&buf, offset) {
            Frame::Ok { payload, next } => (payload, next),
            Frame::Truncated => {
                return Err(corrupt(
                    offset,
                    "snapshot ends before its end record".into(),
                ))
            }
            Frame::BadHeader => return Err(corrupt(offset, "frame length check failed".into())),
            Frame::BadChecksum { .. } => {
                return Err(corrupt(offset, "record checksum mismatch".into()))
            }
        };
        let mut r = Reader {
            buf: payload,
            pos: 0,
        };
        match r.u8().map_err(|e| corrupt(offset, e))? {
            KIND_KEYS => decode_keys(&mut r, &mut keys).map_err(|e| corrupt(offset, e))?,
            KIND_ORDER => decode_orders(&mut r, &mut orders).map_err(|e| corrupt(offset, e))?,
            KIND_END => {
                let n = r.i64().map_err(|e| corrupt(offset, e))?;
                if n as usize != keys.len() || next != buf.len() {
                    return Err(corrupt(
                        offset,
                        "snapshot end record does not match its contents".into(),
                    ));
                }
                orders.sort_by_key(|(r, _)| *r);
                return Ok(Loaded {
                    revision,
                    compacted,
                    keys,
                    orders,
                    size: buf.len() as u64,
                });
            }
            other => {
                return Err(corrupt(
                    offset,
                    format!("unknown snapshot record kind {other}"),
                ))
            }
        }
        offset = next;
    }
}

fn decode_orders(
    r: &mut Reader<'_>,
    orders: &mut Vec<(Revision, Vec<Bytes>)>,
) -> Result<(), String> {
    let n = r.u32()?;
    for _ in 0..n {
        let rev = r.i64()?;
        let count = r.u32()? as usize;
        let mut keys = Vec::with_capacity(count.min(1 << 16));
        for _ in 0..count {
            keys.push(r.bytes()?);
        }
        orders.push((rev, keys));
    }
    r.finish()
}

fn decode_keys(r: &mut Reader<'_>, keys: &mut Vec<(Bytes, Vec<Ver>)>) -> Result<(), String> {
    let n = r.u32()?;
    for _ in 0..n {
        let key = r.bytes()?;
        if keys.last().is_some_and(|(last, _)| *last >= key) {
            return Err("snapshot keys out of order".into());
        }
        let versions = r.u32()? as usize;
        let mut history = Vec::with_capacity(versions.min(1024));
        for _ in 0..versions {
            let mod_revision = r.i64()?;
            let create_revision = r.i64()?;
            let version = r.i64()?;
            let value = match r.u8()? {
                0 => None,
                1 => Some(r.bytes()?),
                other => return Err(format!("bad value marker {other}")),
            };
            history.push(Ver {
                mod_revision,
                create_revision,
                version,
                value,
            });
        }
        keys.push((key, history));
    }
    r.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::MemDir;

    #[test]
    fn round_trip_and_damage() {
        let dir = MemDir::new();
        let keys = vec![
            (
                Bytes::from_static(b"a"),
                vec![Ver {
                    mod_revision: 2,
                    create_revision: 2,
                    version: 1,
                    value: Some(Bytes::from_static(b"x")),
                }],
            ),
            (
                Bytes::from_static(b"b"),
                vec![Ver {
                    mod_revision: 3,
                    create_revision: 0,
                    version: 0,
                    value: None,
                }],
            ),
        ];
        let mut w = Writer::create(&dir, 3, 1).expect("create");
        w.add(&keys[..1]).expect("add");
        w.add(&keys[1..]).expect("add");
        w.finish().expect("finish");
        let loaded = load(&dir, &name(3)).expect("load");
        assert_eq!((loaded.revision, loaded.compacted), (3, 1));
        assert_eq!(loaded.keys, keys);

        let mut bytes = dir.file_bytes(&name(3)).expect("file");
        bytes[HEADER_LEN + 20] ^= 1;
        dir.set_file_bytes(&name(3), bytes);
        match load(&dir, &name(3)) {
            Err(StoreError::Corrupt { offset, .. }) => assert_eq!(offset, HEADER_LEN as u64),
            other => panic!("expected corruption, got {:?}", other.map(|l| l.revision)),
        }
    }
}
