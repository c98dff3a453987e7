//! Resident memory of a process, from `/proc/<pid>/status` (Linux).

/// `VmRSS` (resident now) and `VmHWM` (peak resident) in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rss {
    pub current: u64,
    pub peak: u64,
}

/// Read the RSS of a process (`None`: this process).
pub fn read_rss(pid: Option<u32>) -> std::io::Result<Rss> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/status"),
        None => "/proc/self/status".to_string(),
    };
    let status = std::fs::read_to_string(&path)?;
    parse_status(&status).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("no VmRSS/VmHWM in {path}"),
        )
    })
}

fn parse_status(status: &str) -> Option<Rss> {
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        let kib: u64 = line[name.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(kib * 1024)
    };
    Some(Rss {
        current: field("VmRSS:")?,
        peak: field("VmHWM:")?,
    })
}

/// Bytes for the table: `812.3 MiB`.
pub fn human_bytes(bytes: f64) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    if bytes >= 1024.0 * MIB {
        format!("{:.2} GiB", bytes / (1024.0 * MIB))
    } else {
        format!("{:.1} MiB", bytes / MIB)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status() {
        let status = "Name:\tx\nVmHWM:\t   2048 kB\nVmRSS:\t    1024 kB\n";
        assert_eq!(
            parse_status(status),
            Some(Rss {
                current: 1024 * 1024,
                peak: 2048 * 1024
            })
        );
        assert_eq!(parse_status("Name: x\n"), None);
    }

    #[test]
    fn reads_own_status() {
        let rss = read_rss(None).expect("own /proc status");
        assert!(rss.peak >= rss.current && rss.current > 0);
    }
}
