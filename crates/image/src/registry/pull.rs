//! [`ImageStore::pull`]: fetch an image's manifest (choosing linux and this
//! machine's architecture from an index), its config and layers, each
//! verified against its digest, then unpack and record it.

use http::StatusCode;
use http_body_util::BodyExt;
use rkube_cri::{ImageInfo, RegistryAuth};

use super::client::{read_limited, RegistryClient, MAX_DOCUMENT};
use crate::blobs::BlobWriter;
use crate::commit::{commit, Pending};
use crate::digest::Digest;
use crate::error::{ImageError, Result};
use crate::index::StagingLock;
use crate::ingest::{unpack_blob, StagedLayer};
use crate::load::Leftovers;
use crate::manifest::{self, choose_platform, ImageConfig, ManifestOrIndex};
use crate::reference::Reference;
use crate::store::{info, ImageStore};

const ACCEPT_MANIFESTS: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.v2+json";

impl ImageStore {
    /// Pull `image` from its registry; `auth` holds credentials for it,
    /// tried in order (empty: anonymous).
    pub async fn pull(&self, image: &str, auth: &[RegistryAuth]) -> Result<ImageInfo> {
        let reference = Reference::parse(image)?;
        let name = reference.to_string();
        let fail = |message: String| ImageError::Registry {
            image: name.clone(),
            message,
        };
        let started = std::time::Instant::now();
        let mut client = RegistryClient::new(reference.registry_host(), auth).map_err(fail)?;
        let repo = &reference.path;

        let (manifest_digest, bytes) =
            fetch_manifest(&mut client, repo, reference.manifest_reference())
                .await
                .map_err(fail)?;
        if let Some(pinned) = &reference.digest {
            if manifest_digest.as_str() != pinned {
                return Err(fail(format!(
                    "the registry sent manifest {manifest_digest}, not {pinned}"
                )));
            }
        }
        let mut doc: ManifestOrIndex = manifest::parse("manifest", &bytes)?;
        let mut manifest_digest = manifest_digest;
        if doc.is_index() {
            let chosen = choose_platform(&doc.manifests).ok_or_else(|| {
                fail(format!(
                    "no image for linux/{} in the index",
                    manifest::host_arch()
                ))
            })?;
            let (digest, bytes) = fetch_manifest(&mut client, repo, &chosen.digest)
                .await
                .map_err(fail)?;
            if digest.as_str() != chosen.digest {
                return Err(fail(format!(
                    "manifest {} arrived with digest {digest}",
                    chosen.digest
                )));
            }
            manifest_digest = digest;
            doc = manifest::parse("manifest", &bytes)?;
        }
        let config_desc = doc
            .config
            .clone()
            .ok_or_else(|| fail("the manifest names no config".into()))?;
        let config_digest = Digest::parse(&config_desc.digest)?;
        let config = fetch_document(&mut client, &format!("/v2/{repo}/blobs/{config_digest}"))
            .await
            .map_err(fail)?;
        let actual = Digest::of(&config);
        if actual != config_digest {
            return Err(ImageError::DigestMismatch {
                what: "config".to_string(),
                expected: config_digest.to_string(),
                actual: actual.to_string(),
            });
        }
        let parsed: ImageConfig = manifest::parse("image config", &config)?;
        if parsed.rootfs.diff_ids.len() != doc.layers.len() {
            return Err(ImageError::format(
                "the config and the manifest list different layers",
            ));
        }

        let staging = StagingLock::acquire(&self.layout)?;
        let mut leftovers = Leftovers::default();
        let mut blobs = Vec::new();
        for layer in &doc.layers {
            let digest = Digest::parse(&layer.digest)?;
            if !self.layout.blob(&digest).exists() {
                let result = self.download(&mut client, repo, &digest, layer.size).await;
                if let Err(err) = result {
                    let _ = commit(&self.layout, &staging, Vec::new(), leftovers);
                    return Err(match err {
                        ImageError::Format(m) => fail(m),
                        other => other,
                    });
                }
                leftovers.blobs.push(digest.clone());
            }
            blobs.push(digest);
        }

        let store = self.clone();
        let diff_ids = parsed.rootfs.diff_ids.clone();
        let names = reference.tagged().into_iter().collect::<Vec<_>>();
        let repo_digests = vec![format!("{}@{manifest_digest}", reference.repository())];
        let record = tokio::task::spawn_blocking(move || {
            let mut layers = Vec::new();
            for (blob, diff) in blobs.iter().zip(&diff_ids) {
                let diff = Digest::parse(diff)?;
                let size = std::fs::metadata(store.layout.blob(blob))
                    .map(|m| m.len())
                    .unwrap_or(0);
                if store.layout.layer(&diff).is_dir() {
                    layers.push(StagedLayer {
                        blob: blob.clone(),
                        size,
                        diff_id: diff,
                        dir: store.layout.tmp_path("unused"),
                    });
                    continue;
                }
                match unpack_blob(&store.layout, blob) {
                    Ok(staged) => {
                        leftovers.dirs.push(staged.dir.clone());
                        layers.push(staged);
                    }
                    Err(err) => {
                        let _ = commit(&store.layout, &staging, Vec::new(), leftovers);
                        return Err(err);
                    }
                }
            }
            let pending = Pending {
                names,
                repo_digests,
                manifest: Some(manifest_digest),
                config,
                layers,
                loaded: false,
            };
            commit(&store.layout, &staging, vec![pending], leftovers)
        })
        .await
        .map_err(|e| ImageError::format(format!("pull task failed: {e}")))??;
        let record = record
            .into_iter()
            .next()
            .ok_or_else(|| ImageError::format("nothing stored"))?;
        tracing::info!(image = %name, id = %record.id, elapsed_ms = started.elapsed().as_millis() as u64, "pulled image");
        Ok(info(&record))
    }

    /// Stream one blob into the store, checking its digest.
    async fn download(
        &self,
        client: &mut RegistryClient,
        repo: &str,
        digest: &Digest,
        size: u64,
    ) -> Result<()> {
        let response = client
            .get(&format!("/v2/{repo}/blobs/{digest}"), "*/*")
            .await
            .map_err(ImageError::Format)?;
        if response.status() != StatusCode::OK {
            return Err(ImageError::Format(format!(
                "blob {digest}: {}",
                response.status()
            )));
        }
        // The network side stays async; hashing and writing run on the
        // blocking pool, fed through a small channel.
        let (tx, mut rx) = tokio::sync::mpsc::channel::<bytes::Bytes>(16);
        let layout = self.layout.clone();
        let expected = digest.clone();
        let writer = tokio::task::spawn_blocking(move || -> Result<()> {
            let mut writer = BlobWriter::create(&layout, Some(size))?;
            while let Some(chunk) = rx.blocking_recv() {
                if let Err(err) = writer.put(&chunk) {
                    writer.abort();
                    return Err(err);
                }
            }
            writer.commit(&layout, Some(&expected)).map(drop)
        });
        let mut body = response.into_body();
        let mut failed = None;
        while let Some(frame) = body.frame().await {
            match frame {
                Ok(frame) => {
                    if let Ok(data) = frame.into_data() {
                        if tx.send(data).await.is_err() {
                            break; // the writer failed: its error is below
                        }
                    }
                }
                Err(e) => {
                    failed = Some(ImageError::Format(format!("blob {digest}: {e}")));
                    break;
                }
            }
        }
        drop(tx);
        let written = writer
            .await
            .map_err(|e| ImageError::format(format!("blob writer failed: {e}")));
        if let Some(err) = failed {
            // A cut-off download: the partial blob fails its digest check
            // and is not kept.
            return Err(err);
        }
        written?
    }
}

/// GET a manifest; its digest (of the bytes as sent) and bytes.
async fn fetch_manifest(
    client: &mut RegistryClient,
    repo: &str,
    reference: &str,
) -> Result<(Digest, Vec<u8>), String> {
    let response = client
        .get(
            &format!("/v2/{repo}/manifests/{reference}"),
            ACCEPT_MANIFESTS,
        )
        .await?;
    match response.status() {
        StatusCode::OK => {}
        StatusCode::NOT_FOUND => {
            return Err(format!(
                "manifest {reference} not found (no such image or tag)"
            ))
        }
        other => return Err(format!("manifest {reference}: {other}")),
    }
    let bytes = read_limited(response, MAX_DOCUMENT).await?;
    Ok((Digest::of(&bytes), bytes))
}

async fn fetch_document(client: &mut RegistryClient, path: &str) -> Result<Vec<u8>, String> {
    let response = client.get(path, "*/*").await?;
    if response.status() != StatusCode::OK {
        return Err(format!("{path}: {}", response.status()));
    }
    read_limited(response, MAX_DOCUMENT).await
}
