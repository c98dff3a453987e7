//! `terminationMessagePolicy: FallbackToLogsOnError`: the end of a failed
//! container's log (at most 80 lines and 2048 bytes) as its termination
//! message when it wrote none. Log files are in the CRI format
//! (`<time> <stream> <P|F> <content>`).

use std::io::SeekFrom;
use std::path::Path;

use tokio::io::{AsyncReadExt, AsyncSeekExt};

/// Lines kept.
pub const MAX_LINES: usize = 80;
/// Bytes kept.
pub const MAX_BYTES: usize = 2048;
/// How much of the file's end is read.
const READ_TAIL: u64 = 64 * 1024;

/// The content of CRI log lines, partial lines (`P`) joined to the next.
pub fn parse(raw: &str) -> String {
    let mut out = String::new();
    for line in raw.lines() {
        let mut parts = line.splitn(4, ' ');
        let (Some(_time), Some(_stream), Some(tag)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let content = parts.next().unwrap_or_default();
        out.push_str(content);
        if tag != "P" {
            out.push('\n');
        }
    }
    out
}

/// The last `MAX_LINES` lines, then the last `MAX_BYTES` bytes of them
/// (cut at a character boundary).
pub fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(MAX_LINES);
    let joined = lines[start..].join("\n");
    if joined.len() <= MAX_BYTES {
        return joined;
    }
    let mut cut = joined.len() - MAX_BYTES;
    while !joined.is_char_boundary(cut) {
        cut += 1;
    }
    joined[cut..].to_string()
}

/// The message for a failed container from its log file; empty if the
/// file cannot be read.
pub async fn fallback_message(path: &Path) -> String {
    let Ok(mut file) = tokio::fs::File::open(path).await else {
        return String::new();
    };
    let len = file.metadata().await.map(|m| m.len()).unwrap_or(0);
    if len > READ_TAIL && file.seek(SeekFrom::Start(len - READ_TAIL)).await.is_err() {
        return String::new();
    }
    let mut buf = Vec::new();
    if file.read_to_end(&mut buf).await.is_err() {
        return String::new();
    }
    let raw = String::from_utf8_lossy(&buf);
    // After a seek the first line is cut: drop it.
    let raw = if len > READ_TAIL {
        raw.split_once('\n').map(|(_, r)| r).unwrap_or_default()
    } else {
        &raw
    };
    tail(&parse(raw))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cri_lines_partial_lines_joined() {
        let raw = "2026-01-01T00:00:00Z stdout F hello\n\
                   2026-01-01T00:00:00Z stderr P par\n\
                   2026-01-01T00:00:00Z stderr F tial\n";
        assert_eq!(parse(raw), "hello\npartial\n");
    }

    #[test]
    fn keeps_80_lines_and_2048_bytes() {
        let many: String = (0..200).map(|i| format!("line {i}\n")).collect();
        let t = tail(&many);
        assert!(t.starts_with("line 120\n"));
        assert!(t.ends_with("line 199"));
        let long = "x".repeat(5000);
        assert_eq!(tail(&long).len(), 2048);
    }

    #[tokio::test]
    async fn reads_the_end_of_a_log_file() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("0.log");
        let mut raw = String::new();
        for i in 0..5000 {
            raw.push_str(&format!("2026-01-01T00:00:00Z stdout F line {i}\n"));
        }
        std::fs::write(&path, raw).unwrap_or_else(|e| panic!("{e}"));
        let m = fallback_message(&path).await;
        assert!(m.ends_with("line 4999"), "{m}");
        assert!(m.len() <= MAX_BYTES);
        assert_eq!(fallback_message(&dir.path().join("none")).await, "");
    }
}
