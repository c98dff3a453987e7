//! A container's status from its record and what was observed of it:
//! state, times, exit code and the reason the kubelet shows (`OOMKilled`,
//! `Completed`, `Error`), and the termination message.

use std::path::Path;

use rkube_cri::{ContainerState, ContainerStatus};

use super::fsutil::from_nanos;
use super::records::{ContainerRecord, ExitRecord};

/// The longest termination message the kubelet keeps.
pub(crate) const MAX_MESSAGE: usize = 4096;

/// The reason for an exit: `OOMKilled` when the OOM killer acted, else
/// `Completed` for code 0, else `Error` (and `Unknown` when the exit was
/// not seen).
pub(crate) fn reason(exit: &ExitRecord) -> &'static str {
    if exit.lost.is_some() {
        "Unknown"
    } else if exit.oom_killed {
        "OOMKilled"
    } else if exit.exit_code == 0 {
        "Completed"
    } else {
        "Error"
    }
}

/// At most [`MAX_MESSAGE`] bytes of the termination-message file.
pub(crate) fn read_message(path: &Path) -> String {
    use std::io::Read;
    let Ok(file) = std::fs::File::open(path) else {
        return String::new();
    };
    let mut buf = Vec::with_capacity(256);
    let _ = file.take(MAX_MESSAGE as u64).read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

/// The status the kubelet reads.
pub(crate) fn status(
    record: &ContainerRecord,
    state: ContainerState,
    started_at: Option<u64>,
    exit: Option<&ExitRecord>,
    message: &str,
) -> ContainerStatus {
    let (exit_code, reason, message) = match exit {
        Some(exit) => (
            exit.exit_code,
            reason(exit).to_string(),
            match &exit.lost {
                Some(lost) if message.is_empty() => lost.clone(),
                _ => message.to_string(),
            },
        ),
        None => (0, String::new(), String::new()),
    };
    ContainerStatus {
        id: record.id.clone(),
        sandbox_id: record.sandbox_id.clone(),
        name: record.name.clone(),
        attempt: record.attempt,
        state,
        created_at: from_nanos(record.created_at),
        started_at: started_at.map(from_nanos),
        finished_at: exit.map(|e| from_nanos(e.finished_at)),
        exit_code,
        reason,
        message,
        image: record.image.clone(),
        image_id: record.image_id.clone(),
        log_path: record.log_path.clone(),
        labels: record.labels.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exit(code: i32, oom: bool) -> ExitRecord {
        ExitRecord {
            exit_code: code,
            signal: None,
            finished_at: 1,
            oom_killed: oom,
            lost: None,
        }
    }

    #[test]
    fn reasons() {
        assert_eq!(reason(&exit(0, false)), "Completed");
        assert_eq!(reason(&exit(3, false)), "Error");
        assert_eq!(reason(&exit(137, true)), "OOMKilled");
        let lost = ExitRecord {
            lost: Some("gone".into()),
            ..exit(255, false)
        };
        assert_eq!(reason(&lost), "Unknown");
    }

    #[test]
    fn message_is_capped() {
        let dir = tempfile::tempdir().expect("test");
        let file = dir.path().join("t");
        std::fs::write(&file, "m".repeat(5000)).expect("test");
        assert_eq!(read_message(&file).len(), MAX_MESSAGE);
        assert_eq!(read_message(&dir.path().join("none")), "");
    }
}
