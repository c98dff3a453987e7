//! The user a container runs as: `runAsUser`/`runAsGroup` or the image's
//! `user`, names resolved through the root filesystem's `/etc/passwd` and
//! `/etc/group`, as containerd does.

use std::path::Path;

use rkube_cri::{CriError, SecurityConfig};

/// The resolved identity of a container's process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ResolvedUser {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
}

/// One `/etc/passwd` entry.
struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
}

/// One `/etc/group` entry.
struct GroupEntry {
    name: String,
    gid: u32,
    members: Vec<String>,
}

/// Work out the container's uid, gid and extra groups. `rootfs` is read
/// for `/etc/passwd` and `/etc/group` (regular files only: a symlink there
/// could point at the host's).
pub(crate) fn resolve(
    rootfs: &Path,
    image_user: &str,
    security: &SecurityConfig,
) -> Result<ResolvedUser, CriError> {
    let passwd = parse_passwd(&read_etc(rootfs, "passwd"));
    let groups = parse_group(&read_etc(rootfs, "group"));
    resolve_with(&passwd, &groups, image_user, security)
}

fn resolve_with(
    passwd: &[PasswdEntry],
    groups: &[GroupEntry],
    image_user: &str,
    security: &SecurityConfig,
) -> Result<ResolvedUser, CriError> {
    let (user_part, group_part) = match image_user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (image_user, None),
    };
    let (uid, name, primary_gid) = match security.run_as_user {
        Some(uid) => {
            let entry = passwd.iter().find(|p| p.uid == uid);
            (uid, entry.map(|p| p.name.clone()), entry.map(|p| p.gid))
        }
        None if user_part.is_empty() => (0, Some("root".to_string()), Some(0)),
        None => match user_part.parse::<u32>() {
            Ok(uid) => {
                let entry = passwd.iter().find(|p| p.uid == uid);
                (uid, entry.map(|p| p.name.clone()), entry.map(|p| p.gid))
            }
            Err(_) => {
                let entry = passwd.iter().find(|p| p.name == user_part).ok_or_else(|| {
                    CriError::InvalidConfig(format!(
                        "unable to find user {user_part}: no matching entries in passwd file"
                    ))
                })?;
                (entry.uid, Some(entry.name.clone()), Some(entry.gid))
            }
        },
    };
    if security.run_as_non_root && uid == 0 {
        return Err(CriError::InvalidConfig(
            "container has runAsNonRoot and image will run as root".to_string(),
        ));
    }
    let gid = match (security.run_as_group, group_part, security.run_as_user) {
        (Some(gid), _, _) => gid,
        // The image's group applies only to the image's user.
        (None, Some(g), None) if !g.is_empty() => match g.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => groups
                .iter()
                .find(|e| e.name == g)
                .map(|e| e.gid)
                .ok_or_else(|| {
                    CriError::InvalidConfig(format!(
                        "unable to find group {g}: no matching entries in group file"
                    ))
                })?,
        },
        _ => primary_gid.unwrap_or(0),
    };
    let mut additional_gids = Vec::new();
    if let Some(name) = &name {
        for group in groups
            .iter()
            .filter(|g| g.members.iter().any(|m| m == name))
        {
            if group.gid != gid && !additional_gids.contains(&group.gid) {
                additional_gids.push(group.gid);
            }
        }
    }
    for g in &security.supplemental_groups {
        if !additional_gids.contains(g) {
            additional_gids.push(*g);
        }
    }
    Ok(ResolvedUser {
        uid,
        gid,
        additional_gids,
    })
}

/// `<rootfs>/etc/<name>` if it and `etc` are not symlinks; empty otherwise.
fn read_etc(rootfs: &Path, name: &str) -> String {
    let etc = rootfs.join("etc");
    let file = etc.join(name);
    let plain = |p: &Path| {
        std::fs::symlink_metadata(p)
            .map(|m| !m.file_type().is_symlink())
            .unwrap_or(false)
    };
    if !plain(&etc) || !plain(&file) {
        return String::new();
    }
    std::fs::read_to_string(file).unwrap_or_default()
}

fn parse_passwd(text: &str) -> Vec<PasswdEntry> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() < 4 {
                return None;
            }
            Some(PasswdEntry {
                name: f[0].to_string(),
                uid: f[2].parse().ok()?,
                gid: f[3].parse().ok()?,
            })
        })
        .collect()
}

fn parse_group(text: &str) -> Vec<GroupEntry> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() < 3 {
                return None;
            }
            Some(GroupEntry {
                name: f[0].to_string(),
                gid: f[2].parse().ok()?,
                members: f
                    .get(3)
                    .map(|m| {
                        m.split(',')
                            .filter(|s| !s.is_empty())
                            .map(String::from)
                            .collect()
                    })
                    .unwrap_or_default(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n";
    const GROUP: &str = "root:x:0:\nappgrp:x:1001:\nextra:x:2000:app,other\n";

    fn run(image_user: &str, security: &SecurityConfig) -> Result<ResolvedUser, CriError> {
        resolve_with(
            &parse_passwd(PASSWD),
            &parse_group(GROUP),
            image_user,
            security,
        )
    }

    #[test]
    fn image_user_by_name_gets_primary_and_member_groups() {
        let user = run("app", &SecurityConfig::default()).expect("test");
        assert_eq!(
            (user.uid, user.gid, user.additional_gids),
            (1000, 1001, vec![2000])
        );
    }

    #[test]
    fn run_as_user_overrides_the_image_and_groups_are_added() {
        let security = SecurityConfig {
            run_as_user: Some(1000),
            run_as_group: Some(5),
            supplemental_groups: vec![7],
            ..Default::default()
        };
        let user = run("root", &security).expect("test");
        assert_eq!(
            (user.uid, user.gid, user.additional_gids),
            (1000, 5, vec![2000, 7])
        );
    }

    #[test]
    fn numeric_user_and_group() {
        let user = run("42:43", &SecurityConfig::default()).expect("test");
        assert_eq!((user.uid, user.gid), (42, 43));
    }

    #[test]
    fn run_as_non_root_refuses_root() {
        let security = SecurityConfig {
            run_as_non_root: true,
            ..Default::default()
        };
        let err = run("", &security).expect_err("expected an error");
        assert_eq!(
            err.to_string(),
            "container has runAsNonRoot and image will run as root"
        );
        assert!(run("app", &security).is_ok());
    }

    #[test]
    fn unknown_names_are_config_errors() {
        assert!(matches!(
            run("nobody", &SecurityConfig::default()),
            Err(CriError::InvalidConfig(_))
        ));
    }
}
