//! The files of one container's log: the rotated ones
//! (`<name>.<YYYYMMDD-hhmmss>[-n]`, as the runtime's shim names them past
//! 10 MiB), oldest first, then the live `<n>.log` itself.

use std::path::{Path, PathBuf};

/// The rotation suffix's sort key: its time, then its counter.
fn rotation_key(suffix: &str) -> Option<(String, u64)> {
    let (time, counter) = match suffix.get(15..) {
        Some("") => (suffix, 0),
        Some(rest) => (suffix.get(..15)?, rest.strip_prefix('-')?.parse().ok()?),
        None => return None,
    };
    let b = time.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    (b.len() == 15 && b[8] == b'-' && digits(0..8) && digits(9..15))
        .then(|| (time.to_string(), counter))
}

/// The log's files, oldest first, ending with `live` (which may not exist
/// yet).
pub fn log_files(live: &Path) -> Vec<PathBuf> {
    let (Some(dir), Some(name)) = (live.parent(), live.file_name()) else {
        return vec![live.to_path_buf()];
    };
    let prefix = format!("{}.", name.to_string_lossy());
    let mut rotated: Vec<((String, u64), PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            let key = rotation_key(n.strip_prefix(&prefix)?)?;
            Some((key, e.path()))
        })
        .collect();
    rotated.sort();
    let mut files: Vec<PathBuf> = rotated.into_iter().map(|(_, p)| p).collect();
    files.push(live.to_path_buf());
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotated_files_come_first_in_time_order() {
        let dir = tempfile::tempdir().expect("test");
        for n in [
            "0.log",
            "0.log.20261207-150405-10",
            "0.log.20261207-150405",
            "0.log.20261207-150405-2",
            "0.log.20261206-000000",
            "10.log.20261207-150405",
            "0.log.tmp",
            "0.log.2026120-1504050",
        ] {
            std::fs::write(dir.path().join(n), "").expect("test");
        }
        let names: Vec<String> = log_files(&dir.path().join("0.log"))
            .iter()
            .map(|p| p.file_name().expect("test").to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "0.log.20261206-000000",
                "0.log.20261207-150405",
                "0.log.20261207-150405-2",
                "0.log.20261207-150405-10",
                "0.log"
            ]
        );
    }
}
