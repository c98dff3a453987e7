//! The container's log file in the CRI format the kubelet reads:
//! `<RFC3339Nano> <stdout|stderr> <P|F> <content>`, lines longer than
//! 16 KiB split into partial (`P`) pieces ended by a full (`F`) one, and
//! rotated as the kubelet's log manager does: past 10 MiB the file is
//! renamed `<name>.<YYYYMMDD-hhmmss>` and at most 5 files are kept.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use super::timefmt::{rfc3339_nano, rotation_suffix};

/// The longest piece of a line written as one log entry.
pub const MAX_LINE: usize = 16 * 1024;

/// Which stream a line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// When to rotate.
#[derive(Clone, Copy, Debug)]
pub struct Rotation {
    pub max_size: u64,
    pub max_files: usize,
}

impl Default for Rotation {
    /// The kubelet's `containerLogMaxSize` 10Mi and `containerLogMaxFiles` 5.
    fn default() -> Self {
        Rotation {
            max_size: 10 * 1024 * 1024,
            max_files: 5,
        }
    }
}

/// One log file, shared by the stdout and stderr copiers.
pub struct CriLog {
    path: PathBuf,
    file: File,
    size: u64,
    rotation: Rotation,
}

impl CriLog {
    /// Open (append to) the log file, making its directory.
    pub fn open(path: &Path, rotation: Rotation) -> std::io::Result<CriLog> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let size = file.metadata()?.len();
        Ok(CriLog {
            path: path.to_path_buf(),
            file,
            size,
            rotation,
        })
    }

    /// Write one entry.
    pub fn write_entry(
        &mut self,
        stream: Stream,
        partial: bool,
        content: &[u8],
    ) -> std::io::Result<()> {
        let mut line = Vec::with_capacity(content.len() + 48);
        line.extend_from_slice(rfc3339_nano(SystemTime::now()).as_bytes());
        line.push(b' ');
        line.extend_from_slice(stream.name().as_bytes());
        line.extend_from_slice(if partial { b" P " } else { b" F " });
        line.extend_from_slice(content);
        line.push(b'\n');
        if self.size > 0 && self.size + line.len() as u64 > self.rotation.max_size {
            self.rotate()?;
        }
        self.file.write_all(&line)?;
        self.size += line.len() as u64;
        Ok(())
    }

    /// Rename the current file aside, drop the oldest rotated ones, start
    /// a new file.
    fn rotate(&mut self) -> std::io::Result<()> {
        let base = self.path.display().to_string();
        let mut target = PathBuf::from(format!("{base}.{}", rotation_suffix(SystemTime::now())));
        let mut n = 1;
        while target.exists() {
            target = PathBuf::from(format!("{base}.{}-{n}", rotation_suffix(SystemTime::now())));
            n += 1;
        }
        std::fs::rename(&self.path, &target)?;
        let mut rotated = rotated_files(&self.path);
        rotated.sort();
        let keep = self.rotation.max_files.saturating_sub(1);
        while rotated.len() > keep {
            let oldest = rotated.remove(0);
            let _ = std::fs::remove_file(oldest);
        }
        self.file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

/// The rotated siblings of `path` (`<name>.<YYYYMMDD-hhmmss>…`).
pub fn rotated_files(path: &Path) -> Vec<PathBuf> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Vec::new();
    };
    let prefix = format!("{}.", name.to_string_lossy());
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            let rest = n.strip_prefix(&prefix)?;
            (rest.len() >= 15
                && rest.as_bytes()[8] == b'-'
                && rest[..8].bytes().all(|b| b.is_ascii_digit()))
            .then(|| e.path())
        })
        .collect()
}

/// Copy one stream into the log until end of file (or a read error: a
/// terminal's end), line by line; every chunk read is also given to
/// `tee` (the attached clients).
pub fn copy_stream(
    mut input: impl Read,
    stream: Stream,
    log: &Arc<Mutex<CriLog>>,
    tee: &dyn Fn(&[u8]),
) {
    let mut pending: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 32 * 1024];
    let write = |partial: bool, content: &[u8]| {
        if let Ok(mut log) = log.lock() {
            let _ = log.write_entry(stream, partial, content);
        }
    };
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        tee(&buf[..n]);
        pending.extend_from_slice(&buf[..n]);
        let mut start = 0;
        loop {
            let rest = &pending[start..];
            match rest.iter().position(|b| *b == b'\n') {
                Some(i) if i <= MAX_LINE => {
                    write(false, &rest[..i]);
                    start += i + 1;
                }
                _ if rest.len() >= MAX_LINE => {
                    write(true, &rest[..MAX_LINE]);
                    start += MAX_LINE;
                }
                _ => break,
            }
        }
        pending.drain(..start);
    }
    if !pending.is_empty() {
        write(false, &pending);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(path: &Path) -> Vec<String> {
        std::fs::read_to_string(path)
            .expect("test")
            .lines()
            .map(String::from)
            .collect()
    }

    #[test]
    fn full_and_partial_lines() {
        let dir = tempfile::tempdir().expect("test");
        let path = dir.path().join("0.log");
        let log = Arc::new(Mutex::new(
            CriLog::open(&path, Rotation::default()).expect("test"),
        ));
        let long = "x".repeat(MAX_LINE + 10);
        let input = format!("hello\n{long}\nlast");
        let teed = Mutex::new(Vec::new());
        copy_stream(input.as_bytes(), Stream::Stderr, &log, &|chunk| {
            teed.lock().expect("test").extend_from_slice(chunk)
        });
        assert_eq!(teed.lock().expect("test").as_slice(), input.as_bytes());
        let got = lines(&path);
        assert_eq!(got.len(), 4);
        assert!(got[0].ends_with(" stderr F hello"), "{}", got[0]);
        assert!(got[1].contains(" stderr P ") && got[1].ends_with(&"x".repeat(100)));
        assert!(got[2].ends_with(" stderr F xxxxxxxxxx"));
        assert!(got[3].ends_with(" stderr F last"));
        let ts = got[0].split(' ').next().expect("test");
        assert_eq!(ts.len(), "2026-12-07T15:04:05.000000005Z".len());
    }

    #[test]
    fn rotation_keeps_at_most_max_files() {
        let dir = tempfile::tempdir().expect("test");
        let path = dir.path().join("0.log");
        let rotation = Rotation {
            max_size: 200,
            max_files: 3,
        };
        let mut log = CriLog::open(&path, rotation).expect("test");
        for i in 0..40 {
            log.write_entry(
                Stream::Stdout,
                false,
                format!("line {i:04} {}", "y".repeat(60)).as_bytes(),
            )
            .expect("test");
        }
        let rotated = rotated_files(&path);
        assert_eq!(rotated.len(), 2, "{rotated:?}");
        assert!(std::fs::metadata(&path).expect("test").len() <= 200);
        assert!(lines(&path).last().expect("test").contains("line 0039"));
    }
}
