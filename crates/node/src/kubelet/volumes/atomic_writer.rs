//! Writing a volume's files as the kubelet's atomic writer does: the files
//! go into a new timestamped directory (`..2026_12_07_15_04_05.123456789`),
//! a `..data` symlink is pointed at it with one `rename` (so readers see
//! the old set or the new one, never a mix), and each user-visible name is
//! a symlink through `..data`. An unchanged payload writes nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Component, Path};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::kubelet::volumes::ownership::chown_group;

/// The link every user-visible name goes through.
pub const DATA_DIR_NAME: &str = "..data";
const DATA_DIR_TMP_NAME: &str = "..data_tmp";

/// One file of a payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileProjection {
    pub data: Vec<u8>,
    pub mode: u32,
}

/// A volume's files by relative path.
pub type Payload = BTreeMap<String, FileProjection>;

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

/// A payload path must be relative, stay inside the volume and not start
/// with `..` (the writer's own names).
fn validate(path: &str) -> io::Result<()> {
    let p = Path::new(path);
    if path.is_empty() || p.is_absolute() || path.starts_with("..") {
        return Err(invalid(format!("invalid path {path:?}")));
    }
    if !p.components().all(|c| matches!(c, Component::Normal(_))) {
        return Err(invalid(format!(
            "invalid path {path:?}: must not contain '..'"
        )));
    }
    Ok(())
}

/// `YYYY_MM_DD_hh_mm_ss.nanos` in UTC.
fn timestamp() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}_{m:02}_{d:02}_{:02}_{:02}_{:02}.{:09}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        now.subsec_nanos()
    )
}

/// The mode a file gets: its own, plus group read when `fs_group` owns it.
fn effective_mode(mode: u32, fs_group: Option<u32>) -> u32 {
    match fs_group {
        Some(_) => mode | 0o440,
        None => mode,
    }
}

/// Whether `dir` holds exactly `payload` (contents and modes).
fn same(dir: &Path, payload: &Payload, fs_group: Option<u32>) -> bool {
    let mut files = BTreeSet::new();
    if collect_files(dir, dir, &mut files).is_err() {
        return false;
    }
    if files.len() != payload.len() {
        return false;
    }
    payload.iter().all(|(p, f)| {
        let path = dir.join(p);
        files.contains(p)
            && fs::read(&path).is_ok_and(|d| d == f.data)
            && fs::metadata(&path)
                .is_ok_and(|m| m.permissions().mode() & 0o7777 == effective_mode(f.mode, fs_group))
    })
}

fn collect_files(root: &Path, dir: &Path, out: &mut BTreeSet<String>) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let t = entry.file_type()?;
        if t.is_dir() {
            collect_files(root, &entry.path(), out)?;
        } else {
            let rel = entry.path();
            let rel = rel.strip_prefix(root).map_err(|e| invalid(e.to_string()))?;
            out.insert(rel.to_string_lossy().into_owned());
        }
    }
    Ok(())
}

/// Write `payload` into `dir`; returns whether anything changed. Files are
/// group-owned by `fs_group` when given.
pub fn write(dir: &Path, payload: &Payload, fs_group: Option<u32>) -> io::Result<bool> {
    for p in payload.keys() {
        validate(p)?;
    }
    fs::create_dir_all(dir)?;
    let data_link = dir.join(DATA_DIR_NAME);
    let old = fs::read_link(&data_link).ok();
    if let Some(old) = &old {
        if same(&dir.join(old), payload, fs_group) {
            return Ok(false);
        }
    }
    let ts_name = format!("..{}", timestamp());
    let ts_dir = dir.join(&ts_name);
    fs::create_dir(&ts_dir)?;
    fs::set_permissions(&ts_dir, fs::Permissions::from_mode(0o755))?;
    for (p, f) in payload {
        let path = ts_dir.join(p);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
            if let Some(g) = fs_group {
                chown_group(parent, g)?;
            }
        }
        fs::write(&path, &f.data)?;
        fs::set_permissions(
            &path,
            fs::Permissions::from_mode(effective_mode(f.mode, fs_group)),
        )?;
        if let Some(g) = fs_group {
            chown_group(&path, g)?;
        }
    }
    if let Some(g) = fs_group {
        chown_group(&ts_dir, g)?;
    }
    let tmp = dir.join(DATA_DIR_TMP_NAME);
    if fs::symlink_metadata(&tmp).is_ok() {
        fs::remove_file(&tmp)?;
    }
    symlink(&ts_name, &tmp)?;
    fs::rename(&tmp, &data_link)?;
    // User-visible names: one symlink per top-level entry.
    let top: BTreeSet<String> = payload
        .keys()
        .filter_map(|p| p.split('/').next().map(str::to_string))
        .collect();
    for name in &top {
        let link = dir.join(name);
        if fs::symlink_metadata(&link).is_err() {
            symlink(Path::new(DATA_DIR_NAME).join(name), &link)?;
        }
    }
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("..") || top.contains(&name) {
            continue;
        }
        if entry.file_type()?.is_symlink() {
            fs::remove_file(entry.path())?;
        }
    }
    if let Some(old) = old {
        let old_dir = dir.join(&old);
        if old.to_string_lossy().starts_with("..") && old_dir != ts_dir {
            fs::remove_dir_all(old_dir)?;
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(data: &str, mode: u32) -> FileProjection {
        FileProjection {
            data: data.as_bytes().to_vec(),
            mode,
        }
    }

    #[test]
    fn writes_swaps_and_cleans_up() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("vol");
        let mut payload = Payload::new();
        payload.insert("a".into(), file("one", 0o644));
        payload.insert("sub/b".into(), file("two", 0o400));
        assert!(write(&dir, &payload, None).expect("write"));
        let target = fs::read_link(dir.join("..data")).expect("..data");
        assert!(target.to_string_lossy().starts_with("..20"));
        assert_eq!(
            fs::read_link(dir.join("a")).expect("link"),
            Path::new("..data/a")
        );
        assert_eq!(fs::read_to_string(dir.join("a")).expect("a"), "one");
        assert_eq!(fs::read_to_string(dir.join("sub/b")).expect("b"), "two");
        let mode = fs::metadata(dir.join("sub/b"))
            .expect("meta")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o400);
        // The same payload again: nothing written.
        assert!(!write(&dir, &payload, None).expect("write"));
        assert_eq!(fs::read_link(dir.join("..data")).expect("..data"), target);
        // A change: a new directory, the old one gone, stale names removed.
        payload.remove("sub/b");
        payload.insert("a".into(), file("uno", 0o644));
        assert!(write(&dir, &payload, None).expect("write"));
        let new_target = fs::read_link(dir.join("..data")).expect("..data");
        assert_ne!(new_target, target);
        assert!(!dir.join(&target).exists());
        assert_eq!(fs::read_to_string(dir.join("a")).expect("a"), "uno");
        assert!(fs::symlink_metadata(dir.join("sub")).is_err());
        let entries: Vec<String> = fs::read_dir(&dir)
            .expect("dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(entries.len(), 3, "{entries:?}");
    }

    #[test]
    fn refuses_paths_out_of_the_volume() {
        let tmp = tempfile::tempdir().expect("tempdir");
        for bad in ["../x", "/etc/passwd", "a/../../x", "..data"] {
            let payload = Payload::from([(bad.to_string(), file("x", 0o644))]);
            assert!(write(tmp.path(), &payload, None).is_err(), "{bad}");
        }
    }

    #[test]
    fn fs_group_owns_the_files() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let payload = Payload::from([("k".to_string(), file("v", 0o600))]);
        write(tmp.path(), &payload, Some(4321)).expect("write");
        use std::os::unix::fs::MetadataExt;
        let m = fs::metadata(tmp.path().join("k")).expect("meta");
        assert_eq!(m.gid(), 4321);
        assert_eq!(m.mode() & 0o777, 0o640);
    }
}
