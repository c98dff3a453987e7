//! Reading a CRI log file entry by entry (`<RFC3339Nano> <stdout|stderr>
//! <P|F> <content>\n`) without holding an entry in memory: the header is
//! parsed, the content handed on in the pieces the file is read in, so a
//! line of any length streams. Lines that do not parse are skipped, as
//! the kubelet skips them.

use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::str::FromStr;

use jiff::Timestamp;

/// Read size.
const CHUNK: usize = 64 * 1024;
/// A header longer than this is not one (the line is skipped).
const MAX_HEADER: usize = 128;

/// Which stream an entry came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// An entry's header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub time: Timestamp,
    pub stream: Stream,
    /// `F`: the entry ends a line; `P`: the line goes on in the next.
    pub full: bool,
}

/// Parse `<time> <stream> <tag>` (no trailing space).
pub fn parse_header(raw: &[u8]) -> Option<Header> {
    let text = std::str::from_utf8(raw).ok()?;
    let mut parts = text.split(' ');
    let (time, stream, tag) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let stream = match stream {
        "stdout" => Stream::Stdout,
        "stderr" => Stream::Stderr,
        _ => return None,
    };
    let full = match tag {
        "F" => true,
        "P" => false,
        _ => return None,
    };
    Some(Header {
        time: Timestamp::from_str(time).ok()?,
        stream,
        full,
    })
}

/// What is done with the entries read.
pub trait Handler {
    /// An entry starts at byte `at`; true: hand on its content.
    fn header(&mut self, at: u64, header: &Header) -> bool;
    /// A piece of the content of an entry whose header answered true.
    fn content(&mut self, bytes: &[u8]);
    /// The entry (whose header answered `emitted`) ended.
    fn end(&mut self, header: &Header, emitted: bool);
    /// Stop reading (the output is full or gone).
    fn stopped(&self) -> bool;
}

enum State {
    LineStart,
    Content {
        header: Header,
        emit: bool,
    },
    /// Skipping a line that does not parse, up to its newline.
    Skip,
}

/// A position in one log file.
pub struct Cursor {
    reader: BufReader<File>,
    pos: u64,
    state: State,
    header: Vec<u8>,
    inode: u64,
}

impl Cursor {
    /// Open `path` at byte `offset`.
    pub fn open(path: &Path, offset: u64) -> std::io::Result<Cursor> {
        let mut file = File::open(path)?;
        let inode = file.metadata()?.ino();
        if offset > 0 {
            file.seek(SeekFrom::Start(offset))?;
        }
        Ok(Cursor {
            reader: BufReader::with_capacity(CHUNK, file),
            pos: offset,
            state: State::LineStart,
            header: Vec::new(),
            inode,
        })
    }

    /// The inode of the open file (a rotation renames it away).
    pub fn inode(&self) -> u64 {
        self.inode
    }

    /// Read entries until the end of the file (or `handler` stops). With
    /// `wait_for_more`, an entry whose header is cut by the end of the
    /// file is read again next time (the writer is mid-line); without,
    /// it is dropped.
    pub fn pump(&mut self, handler: &mut dyn Handler, wait_for_more: bool) -> std::io::Result<()> {
        while !handler.stopped() {
            match self.state {
                State::LineStart => {
                    if !self.read_header(handler, wait_for_more)? {
                        return Ok(());
                    }
                }
                State::Content { header, emit } => {
                    let buf = self.reader.fill_buf()?;
                    if buf.is_empty() {
                        return Ok(());
                    }
                    let (used, ended) = match memchr::memchr(b'\n', buf) {
                        Some(i) => {
                            if emit {
                                handler.content(&buf[..i]);
                            }
                            (i + 1, true)
                        }
                        None => {
                            if emit {
                                handler.content(buf);
                            }
                            (buf.len(), false)
                        }
                    };
                    self.reader.consume(used);
                    self.pos += used as u64;
                    if ended {
                        handler.end(&header, emit);
                        self.state = State::LineStart;
                    }
                }
                State::Skip => {
                    let buf = self.reader.fill_buf()?;
                    if buf.is_empty() {
                        return Ok(());
                    }
                    let (used, ended) = match memchr::memchr(b'\n', buf) {
                        Some(i) => (i + 1, true),
                        None => (buf.len(), false),
                    };
                    self.reader.consume(used);
                    self.pos += used as u64;
                    if ended {
                        self.state = State::LineStart;
                    }
                }
            }
        }
        Ok(())
    }

    /// Read the next header; false at the end of the file.
    fn read_header(
        &mut self,
        handler: &mut dyn Handler,
        wait_for_more: bool,
    ) -> std::io::Result<bool> {
        let start = self.pos - self.header.len() as u64;
        loop {
            let buf = self.reader.fill_buf()?;
            if buf.is_empty() {
                if wait_for_more && !self.header.is_empty() {
                    self.reader.seek(SeekFrom::Start(start))?;
                    self.pos = start;
                }
                self.header.clear();
                return Ok(false);
            }
            let mut used = 0;
            let mut newline = false;
            let mut complete = false;
            for &b in buf {
                used += 1;
                if b == b'\n' {
                    newline = true;
                    break;
                }
                if b == b' ' && self.header.iter().filter(|c| **c == b' ').count() == 2 {
                    complete = true;
                    break;
                }
                self.header.push(b);
                if self.header.len() > MAX_HEADER {
                    break;
                }
            }
            self.reader.consume(used);
            self.pos += used as u64;
            if !(newline || complete || self.header.len() > MAX_HEADER) {
                continue;
            }
            let parsed = parse_header(&self.header);
            self.header.clear();
            self.state = match (parsed, newline) {
                (Some(header), true) => {
                    // An entry with nothing after its tag: an empty line.
                    let emit = handler.header(start, &header);
                    handler.end(&header, emit);
                    State::LineStart
                }
                (Some(header), false) => State::Content {
                    emit: handler.header(start, &header),
                    header,
                },
                (None, true) => State::LineStart,
                (None, false) => State::Skip,
            };
            return Ok(true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_parse() {
        let h = parse_header(b"2026-12-07T15:04:05.000000005Z stderr P").expect("header");
        assert_eq!(h.stream, Stream::Stderr);
        assert!(!h.full);
        assert_eq!(h.time.to_string(), "2026-12-07T15:04:05.000000005Z");
        assert!(parse_header(b"2026-12-07T15:04:05Z stdin F").is_none());
        assert!(parse_header(b"yesterday stdout F").is_none());
        assert!(parse_header(b"2026-12-07T15:04:05Z stdout X").is_none());
    }
}
