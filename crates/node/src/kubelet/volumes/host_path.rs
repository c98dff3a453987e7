//! hostPath volumes: the host's path itself, checked against `type` as the
//! kubelet checks it (`DirectoryOrCreate` and `FileOrCreate` make what is
//! missing; the others require it to be there and of that kind). The
//! host's data is never removed.

use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;

/// Check (or create) `path` for hostPath type `kind` (empty: no check).
pub fn check(path: &Path, kind: &str) -> Result<(), String> {
    let shown = path.display();
    let fail = |what: &str| format!("hostPath type check failed: {shown} is not {what}");
    let meta = fs::metadata(path);
    match kind {
        "" => Ok(()),
        "DirectoryOrCreate" => match meta {
            Ok(m) if m.is_dir() => Ok(()),
            Ok(_) => Err(fail("a directory")),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir_all(path).map_err(|e| format!("cannot create {shown}: {e}"))?;
                fs::set_permissions(path, fs::Permissions::from_mode(0o755))
                    .map_err(|e| format!("cannot chmod {shown}: {e}"))
            }
            Err(e) => Err(format!("cannot stat {shown}: {e}")),
        },
        "FileOrCreate" => match meta {
            Ok(m) if m.is_file() => Ok(()),
            Ok(_) => Err(fail("a file")),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                // As the kubelet: the parent directory is not created.
                fs::OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .open(path)
                    .map_err(|e| format!("cannot create {shown}: {e}"))?;
                fs::set_permissions(path, fs::Permissions::from_mode(0o644))
                    .map_err(|e| format!("cannot chmod {shown}: {e}"))
            }
            Err(e) => Err(format!("cannot stat {shown}: {e}")),
        },
        "Directory" | "File" | "Socket" | "CharDevice" | "BlockDevice" => {
            let (ok, what): (fn(&fs::Metadata) -> bool, &str) = match kind {
                "Directory" => (|m| m.is_dir(), "a directory"),
                "File" => (|m| m.is_file(), "a file"),
                "Socket" => (|m| m.file_type().is_socket(), "a socket file"),
                "CharDevice" => (|m| m.file_type().is_char_device(), "a character device"),
                _ => (|m| m.file_type().is_block_device(), "a block device"),
            };
            match meta {
                Ok(m) if ok(&m) => Ok(()),
                _ => Err(fail(what)),
            }
        }
        other => Err(format!("invalid hostPath type {other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_checks() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let d = tmp.path().join("made/dir");
        check(&d, "DirectoryOrCreate").expect("created");
        assert!(d.is_dir());
        check(&d, "Directory").expect("a directory");
        let f = tmp.path().join("made/file");
        check(&f, "FileOrCreate").expect("created");
        assert!(f.is_file());
        check(&f, "File").expect("a file");
        assert!(check(&tmp.path().join("no/parent/f"), "FileOrCreate").is_err());
        assert_eq!(
            check(&f, "Directory").expect_err("not a dir"),
            format!(
                "hostPath type check failed: {} is not a directory",
                f.display()
            )
        );
        assert!(check(&d, "File").is_err());
        assert!(check(&tmp.path().join("missing"), "Directory").is_err());
        assert!(check(&d, "FileOrCreate").is_err());
        assert!(check(&f, "Socket")
            .expect_err("no")
            .ends_with("is not a socket file"));
        check(Path::new("/dev/null"), "CharDevice").expect("char device");
        assert!(check(Path::new("/dev/null"), "BlockDevice").is_err());
        check(&tmp.path().join("whatever"), "").expect("no check");
        let sock = tmp.path().join("s.sock");
        let _l = std::os::unix::net::UnixListener::bind(&sock).expect("bind");
        check(&sock, "Socket").expect("socket");
    }
}
