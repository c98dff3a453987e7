//! One log request read through: the container's files in order (from
//! the `tailLines` start), entries filtered by `sinceTime` and `stream`,
//! partial lines joined, `timestamps` prefixed, cut at `limitBytes`; with
//! `follow`, the live file is watched — through its rotations — until the
//! container has exited. Blocking file I/O: run it on a blocking thread.

use std::collections::VecDeque;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::{Bytes, BytesMut};

use super::cri::{Cursor, Handler, Header, Stream};
use super::files::log_files;
use super::options::{LogOptions, StreamFilter};

/// Output is sent on in pieces of about this size.
const SEND_SIZE: usize = 32 * 1024;

/// How a followed log checks for more.
#[derive(Clone, Copy, Debug)]
pub struct FollowTiming {
    /// How often the file is looked at when it has nothing new.
    pub poll: Duration,
}

impl Default for FollowTiming {
    fn default() -> Self {
        FollowTiming {
            poll: Duration::from_millis(100),
        }
    }
}

/// Where the output goes: false when the client is gone.
pub type SendFn<'a> = &'a mut dyn FnMut(Bytes) -> bool;

struct Output<'a> {
    send: SendFn<'a>,
    buf: BytesMut,
    remaining: Option<u64>,
    gone: bool,
}

impl Output<'_> {
    fn put(&mut self, data: &[u8]) {
        if self.done() {
            return;
        }
        let take = match self.remaining {
            Some(r) => data.len().min(usize::try_from(r).unwrap_or(usize::MAX)),
            None => data.len(),
        };
        self.buf.extend_from_slice(&data[..take]);
        if let Some(r) = self.remaining.as_mut() {
            *r -= take as u64;
        }
        if self.buf.len() >= SEND_SIZE || self.remaining == Some(0) {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if !self.buf.is_empty() && !self.gone && !(self.send)(self.buf.split().freeze()) {
            self.gone = true;
        }
    }

    fn done(&self) -> bool {
        self.gone || self.remaining == Some(0)
    }
}

/// Writes the entries a request wants.
struct Emit<'a, 'o> {
    options: &'a LogOptions,
    out: Output<'o>,
    /// The next content starts a line (gets a timestamp).
    line_start: bool,
}

impl Handler for Emit<'_, '_> {
    fn header(&mut self, _at: u64, header: &Header) -> bool {
        let stream_ok = match self.options.stream {
            StreamFilter::All => true,
            StreamFilter::Stdout => header.stream == Stream::Stdout,
            StreamFilter::Stderr => header.stream == Stream::Stderr,
        };
        let wanted = stream_ok && self.options.since.is_none_or(|s| header.time >= s);
        if wanted && self.line_start && self.options.timestamps {
            self.out.put(format!("{} ", header.time).as_bytes());
        }
        wanted
    }

    fn content(&mut self, bytes: &[u8]) {
        self.out.put(bytes);
    }

    fn end(&mut self, header: &Header, emitted: bool) {
        if emitted {
            if header.full {
                self.out.put(b"\n");
            }
            self.line_start = header.full;
        }
    }

    fn stopped(&self) -> bool {
        self.out.done()
    }
}

/// Finds where the last `n` lines start.
struct Tail {
    n: usize,
    file: usize,
    starts: VecDeque<(usize, u64)>,
    next_starts_line: bool,
}

impl Handler for Tail {
    fn header(&mut self, at: u64, _header: &Header) -> bool {
        if self.next_starts_line {
            self.starts.push_back((self.file, at));
            if self.starts.len() > self.n {
                self.starts.pop_front();
            }
        }
        false
    }
    fn content(&mut self, _bytes: &[u8]) {}
    fn end(&mut self, header: &Header, _emitted: bool) {
        self.next_starts_line = header.full;
    }
    fn stopped(&self) -> bool {
        false
    }
}

/// The file and offset the last `n` lines of `files` start at.
fn tail_start(files: &[PathBuf], n: u64) -> (usize, u64) {
    let last = files.len().saturating_sub(1);
    if n == 0 {
        let len = files
            .last()
            .and_then(|f| std::fs::metadata(f).ok())
            .map(|m| m.len())
            .unwrap_or(0);
        return (last, len);
    }
    let mut tail = Tail {
        n: usize::try_from(n).unwrap_or(usize::MAX),
        file: 0,
        starts: VecDeque::new(),
        next_starts_line: true,
    };
    for (i, f) in files.iter().enumerate() {
        tail.file = i;
        if let Ok(mut c) = Cursor::open(f, 0) {
            let _ = c.pump(&mut tail, false);
        }
    }
    if tail.starts.len() < tail.n {
        return (0, 0);
    }
    tail.starts.front().copied().unwrap_or((0, 0))
}

/// Read the log whose live file is `live` as `options` ask, sending the
/// output to `send`; `running` tells whether the container still runs
/// (asked while following).
pub fn read_log(
    live: &Path,
    options: &LogOptions,
    running: &mut dyn FnMut() -> bool,
    send: SendFn<'_>,
    timing: FollowTiming,
) {
    let files = log_files(live);
    let (first, offset) = match options.tail_lines {
        Some(n) => tail_start(&files, n),
        None => (0, 0),
    };
    let mut emit = Emit {
        options,
        out: Output {
            send,
            buf: BytesMut::new(),
            remaining: options.limit_bytes,
            gone: false,
        },
        line_start: true,
    };
    let last = files.len() - 1;
    let mut live_cursor = None;
    for (i, path) in files.iter().enumerate().skip(first) {
        let at = if i == first { offset } else { 0 };
        let Ok(mut cursor) = Cursor::open(path, at) else {
            continue;
        };
        let _ = cursor.pump(&mut emit, options.follow && i == last);
        if emit.out.done() {
            emit.out.flush();
            return;
        }
        if i == last {
            live_cursor = Some(cursor);
        }
    }
    emit.out.flush();
    if options.follow {
        follow(live, live_cursor, &mut emit, running, timing);
    }
}

fn inode_of(path: &Path) -> Option<u64> {
    std::fs::metadata(path).ok().map(|m| m.ino())
}

/// Follow the live file until the container has exited (and its last
/// output is read) or the client is gone.
fn follow(
    live: &Path,
    mut cursor: Option<Cursor>,
    emit: &mut Emit<'_, '_>,
    running: &mut dyn FnMut() -> bool,
    timing: FollowTiming,
) {
    let mut exited = false;
    loop {
        if let Some(c) = cursor.as_mut() {
            let _ = c.pump(emit, true);
        }
        // Rotated: the old file is complete once renamed; read its rest,
        // then go on with the new one.
        let current = inode_of(live);
        if current.is_some() && current != cursor.as_ref().map(Cursor::inode) {
            if let Some(c) = cursor.as_mut() {
                let _ = c.pump(emit, false);
            }
            cursor = Cursor::open(live, 0).ok();
            if cursor.is_none() {
                std::thread::sleep(timing.poll);
            }
            continue;
        }
        emit.out.flush();
        if emit.out.done() || exited {
            return;
        }
        if !running() {
            // One more look after a pause: output written as it ended.
            exited = true;
        }
        std::thread::sleep(timing.poll);
    }
}
