//! Test images, made here rather than downloaded (feature `test-support`):
//! a busybox image from Debian's `busybox-static` (`/bin/busybox`), layers
//! of any content (hostile ones too), written as `docker save` tarballs
//! (legacy and Docker 25+), OCI layout directories and tars, compressed
//! or not. Used by this crate's tests and the end-to-end tests.
//!
//! ```no_run
//! use rkube_image::test_support::{busybox_image, write_archive, Compress, Format};
//! let image = busybox_image("busybox:test").unwrap();
//! write_archive(&[image], Format::DockerLegacy, Compress::None, Compress::None,
//!     std::path::Path::new("/tmp/busybox.tar")).unwrap();
//! ```

#![allow(clippy::unwrap_used)]

use std::io::{self, Write};
use std::path::Path;

use serde_json::json;

use crate::digest::Digest;

/// Where Debian's busybox-static puts busybox.
pub const BUSYBOX: &str = "/bin/busybox";

/// The applets the busybox image links to busybox in `/bin`.
pub const APPLETS: &[&str] = &[
    "sh", "ash", "echo", "sleep", "cat", "ls", "true", "false", "env", "id", "mkdir", "rm", "test",
    "touch", "hostname", "ps", "kill", "wget", "nc", "grep", "sed", "head", "tail", "wc", "date",
    "pwd", "printf", "mount", "df", "du", "cp", "mv", "ln", "chmod", "stat", "readlink", "whoami",
    "uname", "ip", "ping", "httpd", "seq", "yes", "dd", "find", "xargs", "tr", "cut", "sort",
    "uniq", "expr", "timeout", "nslookup", "vi", "tee", "basename", "dirname",
];

/// One entry of a layer tar, written byte for byte as given (paths are
/// not checked: hostile layers are made with these too).
#[derive(Clone, Debug)]
pub enum Entry {
    Dir(String, u32),
    File(String, Vec<u8>, u32),
    Symlink(String, String),
    HardLink(String, String),
    /// A character device (major, minor).
    CharDevice(String, u32, u32),
    Fifo(String),
}

impl Entry {
    /// A whiteout hiding `dir/name` of lower layers.
    pub fn whiteout(dir: &str, name: &str) -> Entry {
        let prefix = if dir.is_empty() {
            String::new()
        } else {
            format!("{dir}/")
        };
        Entry::File(format!("{prefix}.wh.{name}"), Vec::new(), 0o644)
    }

    /// Marks `dir` opaque: lower layers' contents of it are hidden.
    pub fn opaque(dir: &str) -> Entry {
        Entry::File(format!("{dir}/.wh..wh..opq"), Vec::new(), 0o644)
    }
}

/// Type, path, link target, content, mode, device numbers.
type EntryParts<'a> = (
    tar::EntryType,
    &'a str,
    Option<&'a str>,
    &'a [u8],
    u32,
    (u32, u32),
);

/// An uncompressed layer tar of `entries`.
pub fn layer_tar(entries: &[Entry]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for entry in entries {
        let (kind, path, link, data, mode, dev): EntryParts<'_> = match entry {
            Entry::Dir(p, m) => (tar::EntryType::Directory, p, None, &[], *m, (0, 0)),
            Entry::File(p, d, m) => (tar::EntryType::Regular, p, None, d, *m, (0, 0)),
            Entry::Symlink(p, t) => (tar::EntryType::Symlink, p, Some(t), &[], 0o777, (0, 0)),
            Entry::HardLink(p, t) => (tar::EntryType::Link, p, Some(t), &[], 0o644, (0, 0)),
            Entry::CharDevice(p, a, b) => (tar::EntryType::Char, p, None, &[], 0o666, (*a, *b)),
            Entry::Fifo(p) => (tar::EntryType::Fifo, p, None, &[], 0o644, (0, 0)),
        };
        let mut header = tar::Header::new_ustar();
        header.set_entry_type(kind);
        header.set_size(data.len() as u64);
        header.set_mode(mode);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(1_700_000_000);
        if kind == tar::EntryType::Char {
            header.set_device_major(dev.0).unwrap();
            header.set_device_minor(dev.1).unwrap();
        }
        let raw = header.as_old_mut();
        raw.name = [0; 100];
        raw.name[..path.len()].copy_from_slice(path.as_bytes());
        if let Some(link) = link {
            raw.linkname = [0; 100];
            raw.linkname[..link.len()].copy_from_slice(link.as_bytes());
        }
        header.set_cksum();
        builder.append(&header, data).unwrap();
    }
    builder.into_inner().unwrap()
}

/// The busybox layer: `/bin/busybox`, its applets as symlinks, `/etc`
/// with root and nobody, `/tmp`.
pub fn busybox_layer() -> io::Result<Vec<u8>> {
    let busybox = std::fs::read(BUSYBOX).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("{BUSYBOX}: {e} (install the Debian package busybox-static)"),
        )
    })?;
    let mut entries = vec![
        Entry::Dir("bin/".into(), 0o755),
        Entry::File("bin/busybox".into(), busybox, 0o755),
    ];
    for applet in APPLETS {
        entries.push(Entry::Symlink(format!("bin/{applet}"), "busybox".into()));
    }
    entries.extend([
        Entry::Dir("etc/".into(), 0o755),
        Entry::File(
            "etc/passwd".into(),
            b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
                .to_vec(),
            0o644,
        ),
        Entry::File(
            "etc/group".into(),
            b"root:x:0:\nnogroup:x:65534:\n".to_vec(),
            0o644,
        ),
        Entry::Dir("tmp/".into(), 0o1777),
        Entry::Dir("root/".into(), 0o700),
    ]);
    Ok(layer_tar(&entries))
}

/// An image: its name, config and uncompressed layer tars.
#[derive(Clone, Debug)]
pub struct TestImage {
    /// As `docker save` records it (`busybox:test`, `localhost:5000/x:v1`).
    pub name: String,
    pub layers: Vec<Vec<u8>>,
    pub cmd: Vec<String>,
    pub entrypoint: Vec<String>,
    pub env: Vec<String>,
    pub architecture: String,
}

impl TestImage {
    pub fn new(name: &str, layers: Vec<Vec<u8>>) -> TestImage {
        TestImage {
            name: name.to_string(),
            layers,
            cmd: vec!["sh".into()],
            entrypoint: Vec::new(),
            env: vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()],
            architecture: crate::manifest::host_arch().to_string(),
        }
    }

    /// The image config's bytes (its digest is the image id).
    pub fn config(&self) -> Vec<u8> {
        let diff_ids: Vec<String> = self
            .layers
            .iter()
            .map(|l| Digest::of(l).to_string())
            .collect();
        serde_json::to_vec(&json!({
            "architecture": self.architecture,
            "os": "linux",
            "created": "2026-01-01T00:00:00Z",
            "config": {
                "Env": self.env,
                "Cmd": self.cmd,
                "Entrypoint": if self.entrypoint.is_empty() { serde_json::Value::Null } else { json!(self.entrypoint) },
                "WorkingDir": "/",
            },
            "rootfs": { "type": "layers", "diff_ids": diff_ids },
        }))
        .unwrap()
    }

    /// The image id, `sha256:<hex>` of the config.
    pub fn id(&self) -> String {
        Digest::of(&self.config()).to_string()
    }
}

/// The busybox image named `name`.
pub fn busybox_image(name: &str) -> io::Result<TestImage> {
    Ok(TestImage::new(name, vec![busybox_layer()?]))
}

/// How a file or layer is compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compress {
    None,
    Gzip,
    Zstd,
}

/// `data` compressed.
pub fn compress(data: &[u8], how: Compress) -> Vec<u8> {
    match how {
        Compress::None => data.to_vec(),
        Compress::Gzip => {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(data).unwrap();
            gz.finish().unwrap()
        }
        Compress::Zstd => zstd::encode_all(data, 1).unwrap(),
    }
}

/// The archive formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `docker save` before Docker 25: `<id>/layer.tar`, `<config>.json`,
    /// `manifest.json`, `repositories`.
    DockerLegacy,
    /// `docker save` of Docker 25+: an OCI layout plus `manifest.json`.
    DockerOci,
    /// An OCI image layout; `index.json` names each image fully
    /// (`io.containerd.image.name` and `org.opencontainers.image.ref.name`).
    Oci,
    /// An OCI image layout whose `index.json` gives only the tag as
    /// `org.opencontainers.image.ref.name` (as `skopeo copy oci:DIR:TAG`
    /// reads it).
    OciTagOnly,
}

/// The files of an archive, in the order `docker save` writes them.
pub fn archive_files(
    images: &[TestImage],
    format: Format,
    layer_compress: Compress,
) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let add = |files: &mut Vec<(String, Vec<u8>)>, path: String, data: Vec<u8>| {
        if !files.iter().any(|(p, _)| *p == path) {
            files.push((path, data));
        }
    };
    match format {
        Format::DockerLegacy => {
            let mut manifest = Vec::new();
            for image in images {
                let mut layer_paths = Vec::new();
                for layer in &image.layers {
                    let id = Digest::of(layer).hex().to_string();
                    add(&mut files, format!("{id}/VERSION"), b"1.0".to_vec());
                    add(
                        &mut files,
                        format!("{id}/json"),
                        format!("{{\"id\":\"{id}\"}}").into_bytes(),
                    );
                    add(
                        &mut files,
                        format!("{id}/layer.tar"),
                        compress(layer, layer_compress),
                    );
                    layer_paths.push(format!("{id}/layer.tar"));
                }
                let config = image.config();
                let config_path = format!("{}.json", Digest::of(&config).hex());
                add(&mut files, config_path.clone(), config);
                manifest.push(json!({ "Config": config_path, "RepoTags": [image.name], "Layers": layer_paths }));
            }
            files.push((
                "manifest.json".into(),
                serde_json::to_vec(&manifest).unwrap(),
            ));
        }
        Format::DockerOci | Format::Oci | Format::OciTagOnly => {
            let mut index = Vec::new();
            let mut manifest_json = Vec::new();
            for image in images {
                let (desc, blobs) = oci_manifest(image, layer_compress);
                for (digest, data) in blobs {
                    add(&mut files, format!("blobs/sha256/{}", digest.hex()), data);
                }
                let mut desc = desc;
                let full = crate::reference::normalize(&image.name).unwrap();
                let tag = image
                    .name
                    .rsplit_once(':')
                    .map(|(_, t)| t.to_string())
                    .unwrap_or("latest".into());
                desc["annotations"] = match format {
                    Format::OciTagOnly => json!({ "org.opencontainers.image.ref.name": tag }),
                    Format::DockerOci => json!({
                        "io.containerd.image.name": full,
                        "org.opencontainers.image.ref.name": tag,
                    }),
                    _ => json!({
                        "io.containerd.image.name": full,
                        "org.opencontainers.image.ref.name": full,
                    }),
                };
                index.push(desc);
                let config = image.config();
                manifest_json.push(json!({
                    "Config": format!("blobs/sha256/{}", Digest::of(&config).hex()),
                    "RepoTags": [image.name],
                    "Layers": image.layers.iter().map(|l| format!("blobs/sha256/{}", Digest::of(&compress(l, layer_compress)).hex())).collect::<Vec<_>>(),
                }));
            }
            files.push((
                "index.json".into(),
                serde_json::to_vec(&json!({
                    "schemaVersion": 2,
                    "mediaType": "application/vnd.oci.image.index.v1+json",
                    "manifests": index,
                }))
                .unwrap(),
            ));
            if format == Format::DockerOci {
                files.push((
                    "manifest.json".into(),
                    serde_json::to_vec(&manifest_json).unwrap(),
                ));
            }
            files.push((
                "oci-layout".into(),
                br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
            ));
        }
    }
    files
}

/// An image's OCI manifest descriptor (JSON) and its blobs (manifest,
/// config, layers).
pub fn oci_manifest(
    image: &TestImage,
    layer_compress: Compress,
) -> (serde_json::Value, Vec<(Digest, Vec<u8>)>) {
    let media = match layer_compress {
        Compress::None => "application/vnd.oci.image.layer.v1.tar",
        Compress::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
        Compress::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
    };
    let mut blobs = Vec::new();
    let mut layers = Vec::new();
    for layer in &image.layers {
        let data = compress(layer, layer_compress);
        let digest = Digest::of(&data);
        layers
            .push(json!({ "mediaType": media, "digest": digest.to_string(), "size": data.len() }));
        blobs.push((digest, data));
    }
    let config = image.config();
    let config_digest = Digest::of(&config);
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest.to_string(),
            "size": config.len(),
        },
        "layers": layers,
    }))
    .unwrap();
    let manifest_digest = Digest::of(&manifest);
    let desc = json!({
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": manifest_digest.to_string(),
        "size": manifest.len(),
        "platform": { "architecture": image.architecture, "os": "linux" },
    });
    blobs.push((config_digest, config));
    blobs.push((manifest_digest, manifest));
    (desc, blobs)
}

/// An OCI layout directory holding one multi-platform index (tag `tag`)
/// of the given per-platform images (set their `architecture`).
pub fn write_oci_index_dir(platforms: &[TestImage], tag: &str, dir: &Path) -> io::Result<()> {
    let mut manifests = Vec::new();
    std::fs::create_dir_all(dir.join("blobs/sha256"))?;
    for image in platforms {
        let (desc, blobs) = oci_manifest(image, Compress::Gzip);
        for (digest, data) in blobs {
            std::fs::write(dir.join("blobs/sha256").join(digest.hex()), data)?;
        }
        manifests.push(desc);
    }
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": manifests,
    }))
    .unwrap();
    let index_digest = Digest::of(&index);
    std::fs::write(dir.join("blobs/sha256").join(index_digest.hex()), &index)?;
    let top = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": index_digest.to_string(),
            "size": index.len(),
            "annotations": { "org.opencontainers.image.ref.name": tag },
        }],
    }))
    .unwrap();
    std::fs::write(dir.join("index.json"), top)?;
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    Ok(())
}

/// Write `images` as a tar archive at `path` (`outer`: the whole file's
/// compression; `layers`: each layer's).
pub fn write_archive(
    images: &[TestImage],
    format: Format,
    layers: Compress,
    outer: Compress,
    path: &Path,
) -> io::Result<()> {
    let files = archive_files(images, format, layers);
    let mut builder = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut header = tar::Header::new_ustar();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(1_700_000_000);
        header.set_entry_type(tar::EntryType::Regular);
        builder.append_data(&mut header, &name, &data[..])?;
    }
    let tar = builder.into_inner()?;
    std::fs::write(path, compress(&tar, outer))
}

/// Write `images` as a directory (an OCI layout, or an extracted
/// `docker save`).
pub fn write_dir(
    images: &[TestImage],
    format: Format,
    layers: Compress,
    dir: &Path,
) -> io::Result<()> {
    for (name, data) in archive_files(images, format, layers) {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, data)?;
    }
    Ok(())
}
