//! Loading images from files: `docker save` tarballs (the legacy layout
//! with one directory per layer, and Docker 25+'s OCI layout plus
//! `manifest.json`), OCI image layout directories and tars; the file
//! gzip- or zstd-compressed or not.
//!
//! A tar is read once, front to back: each entry that looks like a layer
//! is stored and unpacked as it streams by ([`crate::ingest`]); small
//! files (JSON) are kept in memory; `manifest.json` / `index.json`, read
//! last, say which of them make which image.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Cursor, Read};
use std::path::{Component, Path, PathBuf};

use crate::commit::Pending;
use crate::compression::{decompress, looks_like_tar, Compression};
use crate::digest::Digest;
use crate::error::{ImageError, Result};
use crate::ingest::{ingest, Ingested, StagedLayer};
use crate::layout::Layout;
use crate::manifest::{self, choose_platform, DockerSaveEntry, ManifestOrIndex};
use crate::reference::normalize;

/// Files up to this size that do not look like layers are kept in memory.
const SMALL_FILE: u64 = 16 << 20;

/// One file of an archive, as read.
enum Staged {
    Memory(Vec<u8>),
    Layer(StagedLayer),
    Blob(Digest),
    Link(String),
}

/// Where the files of an image archive or directory come from.
trait Source {
    /// The bytes of a small file; None when absent.
    fn read(&mut self, layout: &Layout, path: &str) -> Result<Option<Vec<u8>>>;
    /// The layer at `path`, stored and unpacked.
    fn layer(&mut self, layout: &Layout, path: &str) -> Result<StagedLayer>;
}

pub use crate::commit::Leftovers;

/// Read the images of `path` (a file or an OCI layout directory) into
/// staging; [`crate::commit`] makes them part of the store.
pub fn read_images(
    layout: &Layout,
    path: &Path,
    leftovers: &mut Leftovers,
) -> Result<Vec<Pending>> {
    let meta = std::fs::metadata(path).map_err(ImageError::io("stat", path))?;
    if meta.is_dir() {
        let mut source = DirSource {
            dir: path.to_path_buf(),
            layers: HashMap::new(),
        };
        let result = pendings(layout, &mut source);
        for layer in source.layers.into_values() {
            leftovers.dirs.push(layer.dir);
            leftovers.blobs.push(layer.blob);
        }
        return result;
    }
    let file = File::open(path).map_err(ImageError::io("open", path))?;
    let mut buffered = BufReader::with_capacity(1 << 20, file);
    let compression = Compression::detect(&mut buffered).map_err(ImageError::io("read", path))?;
    tracing::debug!(path = %path.display(), ?compression, "loading image archive");
    let plain = decompress(buffered).map_err(ImageError::io("read", path))?;
    let mut source = TarSource::read(layout, plain, path, leftovers)?;
    pendings(layout, &mut source)
}

/// The images a source describes.
fn pendings(layout: &Layout, source: &mut dyn Source) -> Result<Vec<Pending>> {
    if let Some(bytes) = source.read(layout, "manifest.json")? {
        let entries: Vec<DockerSaveEntry> = manifest::parse("manifest.json", &bytes)?;
        let mut out = Vec::new();
        for entry in entries {
            let config = source.read(layout, &entry.config)?.ok_or_else(|| {
                ImageError::format(format!("config {} missing from the archive", entry.config))
            })?;
            let mut layers = Vec::new();
            for path in &entry.layers {
                layers.push(source.layer(layout, path)?);
            }
            let mut names = Vec::new();
            for tag in entry.repo_tags.unwrap_or_default() {
                names.push(normalize(&tag)?);
            }
            out.push(Pending {
                names,
                repo_digests: Vec::new(),
                manifest: None,
                config,
                layers,
                loaded: true,
            });
        }
        return Ok(out);
    }
    if let Some(bytes) = source.read(layout, "index.json")? {
        let index: ManifestOrIndex = manifest::parse("index.json", &bytes)?;
        let mut out = Vec::new();
        for desc in &index.manifests {
            let names = oci_names(&desc.annotations)?;
            if let Some(pending) = oci_image(layout, source, desc, names, 0)? {
                out.push(pending);
            }
        }
        if out.is_empty() {
            return Err(ImageError::format(
                "index.json lists no image for this platform",
            ));
        }
        return Ok(out);
    }
    Err(ImageError::format(
        "not an image archive: neither manifest.json (docker save) nor index.json (OCI layout) found",
    ))
}

/// The names an OCI index entry gives its image.
fn oci_names(annotations: &std::collections::BTreeMap<String, String>) -> Result<Vec<String>> {
    if let Some(name) = annotations.get("io.containerd.image.name") {
        return Ok(vec![normalize(name)?]);
    }
    match annotations.get("org.opencontainers.image.ref.name") {
        // A bare tag (`v1`) names no repository: the image is loaded
        // nameless, reachable by its id.
        Some(name) if name.contains(['/', ':']) => Ok(vec![normalize(name)?]),
        _ => Ok(Vec::new()),
    }
}

fn blob_path(digest: &str) -> Result<String> {
    let d = Digest::parse(digest)?;
    Ok(format!("blobs/sha256/{}", d.hex()))
}

/// Read a small blob and check its digest.
fn verified(layout: &Layout, source: &mut dyn Source, digest: &str) -> Result<Vec<u8>> {
    let path = blob_path(digest)?;
    let bytes = source
        .read(layout, &path)?
        .ok_or_else(|| ImageError::format(format!("blob {digest} missing")))?;
    let actual = Digest::of(&bytes);
    if actual.as_str() != digest {
        return Err(ImageError::DigestMismatch {
            what: path,
            expected: digest.to_string(),
            actual: actual.to_string(),
        });
    }
    Ok(bytes)
}

fn oci_image(
    layout: &Layout,
    source: &mut dyn Source,
    desc: &manifest::Descriptor,
    names: Vec<String>,
    depth: usize,
) -> Result<Option<Pending>> {
    if depth > 2 {
        return Err(ImageError::format("indexes nested too deep"));
    }
    let bytes = verified(layout, source, &desc.digest)?;
    let doc: ManifestOrIndex = manifest::parse(&desc.digest, &bytes)?;
    if doc.is_index() {
        return match choose_platform(&doc.manifests) {
            Some(child) => oci_image(layout, source, child, names, depth + 1),
            None => Ok(None),
        };
    }
    let config_desc = doc
        .config
        .ok_or_else(|| ImageError::format(format!("manifest {} has no config", desc.digest)))?;
    let config = verified(layout, source, &config_desc.digest)?;
    let mut layers = Vec::new();
    for layer in &doc.layers {
        let staged = source.layer(layout, &blob_path(&layer.digest)?)?;
        if staged.blob.as_str() != layer.digest {
            return Err(ImageError::DigestMismatch {
                what: "layer".to_string(),
                expected: layer.digest.clone(),
                actual: staged.blob.to_string(),
            });
        }
        layers.push(staged);
    }
    let repo_digests = names
        .iter()
        .filter_map(|n| crate::reference::Reference::parse(n).ok())
        .map(|r| format!("{}@{}", r.repository(), desc.digest))
        .collect();
    Ok(Some(Pending {
        names,
        repo_digests,
        manifest: Some(Digest::parse(&desc.digest)?),
        config,
        layers,
        loaded: true,
    }))
}

/// A path inside an archive, without `./`, leading `/` or `..`.
fn clean(path: &str) -> Result<String> {
    let mut parts: Vec<String> = Vec::new();
    for c in Path::new(path).components() {
        match c {
            Component::Normal(p) => parts.push(p.to_string_lossy().into_owned()),
            Component::ParentDir if parts.pop().is_none() => {
                return Err(ImageError::format(format!(
                    "path {path:?} leads out of the archive"
                )));
            }
            _ => {}
        }
    }
    Ok(parts.join("/"))
}

/// A tar read front to back into [`Staged`] files.
struct TarSource {
    files: HashMap<String, Staged>,
}

impl TarSource {
    fn read(
        layout: &Layout,
        plain: impl Read,
        path: &Path,
        leftovers: &mut Leftovers,
    ) -> Result<TarSource> {
        let not_archive = |e: std::io::Error| {
            ImageError::format(format!(
                "{}: not an image archive (tar): {e}",
                path.display()
            ))
        };
        let mut archive = tar::Archive::new(plain);
        let mut files = HashMap::new();
        for entry in archive.entries().map_err(not_archive)? {
            let mut entry = entry.map_err(not_archive)?;
            let name = clean(&String::from_utf8_lossy(&entry.path_bytes()))?;
            let kind = entry.header().entry_type();
            if kind.is_symlink() || kind.is_hard_link() {
                if let Some(target) = entry.link_name_bytes() {
                    let target = String::from_utf8_lossy(&target).into_owned();
                    let joined = if kind.is_symlink() {
                        match name.rsplit_once('/') {
                            Some((dir, _)) => format!("{dir}/{target}"),
                            None => target,
                        }
                    } else {
                        target
                    };
                    files.insert(name, Staged::Link(clean(&joined)?));
                }
                continue;
            }
            if !kind.is_file() {
                continue;
            }
            let size = entry.size();
            let mut head = Vec::with_capacity(512);
            (&mut entry)
                .take(512)
                .read_to_end(&mut head)
                .map_err(not_archive)?;
            let compressed =
                head.starts_with(&[0x1f, 0x8b]) || head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]);
            let staged = if compressed || looks_like_tar(&head) {
                match ingest(layout, Cursor::new(head).chain(&mut entry), Some(size))? {
                    Ingested::Layer(layer) => {
                        leftovers.dirs.push(layer.dir.clone());
                        leftovers.blobs.push(layer.blob.clone());
                        Staged::Layer(layer)
                    }
                    Ingested::Blob { blob, .. } => {
                        leftovers.blobs.push(blob.clone());
                        Staged::Blob(blob)
                    }
                }
            } else if size <= SMALL_FILE {
                let mut bytes = head;
                entry.read_to_end(&mut bytes).map_err(not_archive)?;
                Staged::Memory(bytes)
            } else {
                match ingest(layout, Cursor::new(head).chain(&mut entry), Some(size))? {
                    Ingested::Layer(layer) => {
                        leftovers.dirs.push(layer.dir.clone());
                        leftovers.blobs.push(layer.blob.clone());
                        Staged::Layer(layer)
                    }
                    Ingested::Blob { blob, .. } => {
                        leftovers.blobs.push(blob.clone());
                        Staged::Blob(blob)
                    }
                }
            };
            files.insert(name, staged);
        }
        Ok(TarSource { files })
    }

    /// The file at `path`, following links (a few levels).
    fn get(&self, path: &str) -> Result<Option<&Staged>> {
        let mut path = clean(path)?;
        for _ in 0..8 {
            match self.files.get(&path) {
                Some(Staged::Link(target)) => path = target.clone(),
                other => return Ok(other),
            }
        }
        Err(ImageError::format(format!("{path}: too many links")))
    }
}

impl Source for TarSource {
    fn read(&mut self, layout: &Layout, path: &str) -> Result<Option<Vec<u8>>> {
        Ok(match self.get(path)? {
            None | Some(Staged::Link(_)) => None,
            Some(Staged::Memory(bytes)) => Some(bytes.clone()),
            Some(Staged::Layer(StagedLayer { blob, .. })) | Some(Staged::Blob(blob)) => {
                let p = layout.blob(blob);
                Some(std::fs::read(&p).map_err(ImageError::io("read", &p))?)
            }
        })
    }

    fn layer(&mut self, layout: &Layout, path: &str) -> Result<StagedLayer> {
        let key = clean(path)?;
        match self.get(&key)? {
            Some(Staged::Layer(layer)) => Ok(layer.clone()),
            Some(Staged::Memory(bytes)) => {
                // A small or empty layer (an empty tar has no "ustar").
                let bytes = bytes.clone();
                match ingest(layout, Cursor::new(bytes), None)? {
                    Ingested::Layer(layer) => {
                        self.files.insert(key, Staged::Layer(layer.clone()));
                        Ok(layer)
                    }
                    Ingested::Blob { .. } => {
                        Err(ImageError::format(format!("layer {path} is not a tar")))
                    }
                }
            }
            Some(_) => Err(ImageError::format(format!("layer {path} is not a tar"))),
            None => Err(ImageError::format(format!(
                "layer {path} missing from the archive"
            ))),
        }
    }
}

/// An unpacked directory (OCI layout, or an extracted `docker save`).
struct DirSource {
    dir: PathBuf,
    layers: HashMap<String, StagedLayer>,
}

impl Source for DirSource {
    fn read(&mut self, _layout: &Layout, path: &str) -> Result<Option<Vec<u8>>> {
        let p = self.dir.join(clean(path)?);
        match std::fs::read(&p) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(ImageError::io("read", p)(e)),
        }
    }

    fn layer(&mut self, layout: &Layout, path: &str) -> Result<StagedLayer> {
        let key = clean(path)?;
        if let Some(layer) = self.layers.get(&key) {
            return Ok(layer.clone());
        }
        let p = self.dir.join(&key);
        let file = File::open(&p).map_err(ImageError::io("open", &p))?;
        let size = file.metadata().ok().map(|m| m.len());
        match ingest(layout, file, size)? {
            Ingested::Layer(layer) => {
                self.layers.insert(key, layer.clone());
                Ok(layer)
            }
            Ingested::Blob { .. } => Err(ImageError::format(format!("layer {path} is not a tar"))),
        }
    }
}
