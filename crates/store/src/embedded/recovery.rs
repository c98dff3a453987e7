//! Opening a data directory: check its format, load the newest snapshot,
//! replay the log after it, cut a torn tail, and hand the last segment to the
//! committer.

use super::index::Index;
use super::record::{decode, Record};
use super::segment::{self, Header, Tail, FORMAT_VERSION};
use super::snapshot;
use crate::backend::{Dir, LogFile};
use crate::error::{Result, StoreError};
use crate::types::Revision;

/// Name of the file that records the data directory's format.
pub const FORMAT_FILE: &str = "FORMAT";

fn format_line() -> String {
    format!("rkube-store {FORMAT_VERSION}\n")
}

/// What recovery found.
pub struct Recovered {
    pub index: Index,
    /// The segment new records are appended to.
    pub segment: Box<dyn LogFile>,
    /// Its length.
    pub segment_len: u64,
    /// Log bytes written after the newest snapshot's revision.
    pub log_bytes_since_snapshot: u64,
    /// Size of the newest snapshot (0 if none).
    pub snapshot_bytes: u64,
}

/// Recover the store in `dir` (creating it when empty).
pub fn recover(dir: &dyn Dir, window: usize) -> Result<Recovered> {
    let mut names = dir.list()?;
    // Half-written files from an interrupted snapshot or set-up: never valid.
    for tmp in names.iter().filter(|n| n.ends_with(".tmp")) {
        dir.remove(tmp)?;
    }
    names.retain(|n| !n.ends_with(".tmp"));
    check_format(dir, &names)?;

    let newest_snapshot = names.iter().filter_map(|n| snapshot::parse_name(n)).max();
    let (mut index, snapshot_bytes) = match newest_snapshot {
        Some(rev) => {
            let loaded = snapshot::load(dir, &snapshot::name(rev))?;
            let size = loaded.size;
            (
                Index::restore(
                    loaded.keys,
                    loaded.revision,
                    loaded.compacted,
                    &loaded.orders,
                    window,
                ),
                size,
            )
        }
        None => (Index::with_window(window), 0),
    };
    let snapshot_rev = index.current();

    let mut segments: Vec<(Revision, String)> = names
        .iter()
        .filter_map(|n| segment::parse_name(n).map(|r| (r, n.clone())))
        .collect();
    segments.sort();

    let mut log_bytes_since_snapshot = 0u64;
    let mut last: Option<(Box<dyn LogFile>, u64)> = None;
    let count = segments.len();
    for (i, (first, name)) in segments.iter().enumerate() {
        let is_last = i + 1 == count;
        let path = dir.display_path(name);
        let corrupt = |offset: usize, reason: String| StoreError::Corrupt {
            file: path.clone(),
            offset: offset as u64,
            reason,
        };
        let mut file = dir.open(name)?;
        let buf = file.read_all()?;
        match segment::read_header(&buf) {
            Header::Ok { first: f } if f == *first => {}
            Header::Ok { first: f } => {
                return Err(corrupt(
                    0,
                    format!("header says first revision {f}, name says {first}"),
                ))
            }
            // The segment's creation was cut off before its header was synced.
            Header::Short if is_last && buf.iter().all(|b| *b == 0) => {
                tracing::warn!(file = %path.display(), "removing segment whose creation was cut off");
                drop(file);
                dir.remove(name)?;
                dir.sync_dir()?;
                continue;
            }
            Header::Short => return Err(corrupt(0, "segment header is short".into())),
            Header::Version(v) => {
                return Err(StoreError::UnsupportedFormat {
                    dir: path.clone(),
                    found: v.to_string(),
                    supported: FORMAT_VERSION,
                })
            }
            Header::Bad(reason) => return Err(corrupt(0, reason.into())),
        }
        if *first > index.current() + 1 {
            return Err(corrupt(
                0,
                format!(
                    "log starts at revision {first} but revision {} is the last recovered: revisions are missing",
                    index.current()
                ),
            ));
        }
        let tail = segment::scan(&buf, segment::HEADER_LEN, |_, payload| {
            match decode(payload)? {
                Record::Txn { revision, ops } => {
                    if revision <= index.current() {
                        if revision <= snapshot_rev {
                            return Ok(()); // covered by the snapshot
                        }
                        return Err(format!(
                            "revision {revision} follows revision {}",
                            index.current()
                        ));
                    }
                    if revision != index.current() + 1 {
                        return Err(format!(
                            "revision {revision} follows revision {}: revisions are missing",
                            index.current()
                        ));
                    }
                    log_bytes_since_snapshot += payload.len() as u64 + 12;
                    index.apply(revision, &ops);
                }
                Record::Compact { revision } => {
                    if revision > index.current() {
                        return Err(format!("compaction to future revision {revision}"));
                    }
                    if revision > index.compacted() {
                        compact_all(&mut index, revision);
                    }
                }
            }
            Ok(())
        });
        match tail {
            Tail::Clean => {}
            Tail::Torn { offset } if is_last => {
                tracing::warn!(
                    file = %path.display(),
                    offset,
                    dropped_bytes = buf.len() - offset,
                    "truncating torn tail of the log (a write that was never acknowledged)"
                );
                file.truncate(offset as u64)?;
            }
            Tail::Torn { offset } => {
                return Err(corrupt(
                    offset,
                    "incomplete record before the last segment".into(),
                ))
            }
            Tail::Corrupt { offset, reason } => return Err(corrupt(offset, reason)),
        }
        if is_last {
            // What we replayed may still be only in the page cache (a process
            // that died before its fsync): make it durable before serving it,
            // so a later power loss cannot take back what was read.
            file.sync()?;
            let len = file.len()?;
            last = Some((file, len));
        }
    }

    let (segment, segment_len) = match last {
        Some(last) => last,
        None => {
            let first = index.current() + 1;
            let mut file = dir.create(&segment::name(first))?;
            let header = segment::header(first);
            file.append(&header)?;
            file.sync()?;
            dir.sync_dir()?;
            (file, header.len() as u64)
        }
    };
    Ok(Recovered {
        index,
        segment,
        segment_len,
        log_bytes_since_snapshot,
        snapshot_bytes,
    })
}

/// Compact the whole index at once (recovery has the index to itself).
pub fn compact_all(index: &mut Index, revision: Revision) {
    index.begin_compaction(revision);
    let mut from = bytes::Bytes::new();
    while let Some(next) = index.compact_keys(revision, &from, usize::MAX) {
        from = next;
    }
}

fn check_format(dir: &dyn Dir, names: &[String]) -> Result<()> {
    let path = dir.display_path(FORMAT_FILE);
    if names.iter().any(|n| n == FORMAT_FILE) {
        let bytes = dir.open(FORMAT_FILE)?.read_all()?;
        let found = String::from_utf8_lossy(&bytes).to_string();
        if found != format_line() {
            return Err(StoreError::UnsupportedFormat {
                dir: path,
                found: found.trim().to_string(),
                supported: FORMAT_VERSION,
            });
        }
        return Ok(());
    }
    let ours = |n: &String| segment::parse_name(n).is_some() || snapshot::parse_name(n).is_some();
    if names.iter().any(ours) {
        return Err(StoreError::UnsupportedFormat {
            dir: path,
            found: "no FORMAT file beside the log".into(),
            supported: FORMAT_VERSION,
        });
    }
    let tmp = format!("{FORMAT_FILE}.tmp");
    let mut f = dir.create(&tmp)?;
    f.append(format_line().as_bytes())?;
    f.sync()?;
    dir.rename(&tmp, FORMAT_FILE)?;
    dir.sync_dir()?;
    Ok(())
}
