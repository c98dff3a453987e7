//! Taking in one layer in one pass: the bytes are stored as a blob and,
//! as they stream by, decompressed, hashed (the diff id) and unpacked into
//! a staging directory — no second read of a layer.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::PathBuf;

use crate::blobs::{BlobWriter, TeeReader};
use crate::compression::decompress;
use crate::digest::{Digest, HashReader};
use crate::error::{ImageError, Result};
use crate::layout::Layout;
use crate::space::SpaceCheck;
use crate::unpack::unpack_layer;

/// A layer stored as a blob and unpacked into a staging directory.
#[derive(Clone, Debug)]
pub struct StagedLayer {
    pub blob: Digest,
    pub size: u64,
    /// The uncompressed tar's digest.
    pub diff_id: Digest,
    /// The staging directory (moved to `layers/<diff hex>` on commit).
    pub dir: PathBuf,
}

/// What came of a stream that looked like a layer.
pub enum Ingested {
    Layer(StagedLayer),
    /// Stored as a blob, but not a tar.
    Blob {
        blob: Digest,
    },
}

/// Store `reader` as a blob and unpack it. `size` is the stream's length
/// when known (checked against the free disk first). Hostile content and
/// lack of space fail; content that is no tar is stored as a plain blob.
pub fn ingest(layout: &Layout, reader: impl Read, size: Option<u64>) -> Result<Ingested> {
    let mut blob = BlobWriter::create(layout, size)?;
    let dir = layout.tmp_path("layer");
    let outcome = stage(layout, &mut blob, reader, &dir);
    let outcome = match outcome {
        Ok(o) => o,
        Err(err) => {
            blob.abort();
            remove_dir(&dir);
            return Err(err);
        }
    };
    let (digest, size) = match blob.commit(layout, None) {
        Ok(d) => d,
        Err(err) => {
            remove_dir(&dir);
            return Err(err);
        }
    };
    Ok(match outcome {
        Some(diff_id) => Ingested::Layer(StagedLayer {
            blob: digest,
            size,
            diff_id,
            dir,
        }),
        None => {
            remove_dir(&dir);
            Ingested::Blob { blob: digest }
        }
    })
}

/// Unpack a blob already in the store (a pulled layer) into staging.
pub fn unpack_blob(layout: &Layout, blob: &Digest) -> Result<StagedLayer> {
    let path = layout.blob(blob);
    let file = File::open(&path).map_err(ImageError::io("open", &path))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let dir = layout.tmp_path("layer");
    let result = (|| {
        std::fs::create_dir(&dir).map_err(ImageError::io("mkdir", &dir))?;
        let space = SpaceCheck::new(layout.root());
        let mut hashed = HashReader::new(
            decompress(BufReader::with_capacity(1 << 20, file))
                .map_err(ImageError::io("read", &path))?,
        );
        unpack_layer(&mut hashed, &dir, &space)?;
        let (diff_id, _) = hashed.finish().map_err(ImageError::io("read", &path))?;
        Ok(diff_id)
    })();
    match result {
        Ok(diff_id) => Ok(StagedLayer {
            blob: blob.clone(),
            size,
            diff_id,
            dir,
        }),
        Err(err) => {
            remove_dir(&dir);
            Err(err)
        }
    }
}

/// Tee into the blob, unpack; Some(diff id) when the stream was a tar.
fn stage(
    layout: &Layout,
    blob: &mut BlobWriter,
    reader: impl Read,
    dir: &PathBuf,
) -> Result<Option<Digest>> {
    std::fs::create_dir(dir).map_err(ImageError::io("mkdir", dir))?;
    let space = SpaceCheck::new(layout.root());
    let mut tee = TeeReader {
        inner: reader,
        blob,
    };
    let unpacked = {
        let buffered = BufReader::with_capacity(1 << 20, &mut tee);
        match decompress(buffered) {
            Ok(plain) => {
                let mut hashed = HashReader::new(plain);
                match unpack_layer(&mut hashed, dir, &space) {
                    Ok(()) => hashed
                        .finish()
                        .map(|(d, _)| Some(d))
                        .map_err(|e| e.to_string()),
                    Err(err @ (ImageError::Hostile { .. } | ImageError::NoSpace { .. })) => {
                        return Err(err)
                    }
                    Err(other) => Err(other.to_string()),
                }
            }
            Err(e) => Err(e.to_string()),
        }
    };
    if let Some(err) = tee.blob.take_failure() {
        return Err(err);
    }
    // The rest of the stream (a compressed stream's trailer, or all of it
    // when it was no tar) still goes into the blob.
    let drained = io::copy(&mut tee, &mut io::sink());
    if let Some(err) = tee.blob.take_failure() {
        return Err(err);
    }
    drained.map_err(|e| ImageError::format(format!("reading layer: {e}")))?;
    Ok(match unpacked {
        Ok(diff) => diff,
        Err(why) => {
            tracing::debug!(%why, "blob is not a layer tar");
            None
        }
    })
}

/// Remove a staging directory, ignoring errors (it is in `tmp/`).
pub fn remove_dir(dir: &std::path::Path) {
    if let Err(err) = std::fs::remove_dir_all(dir) {
        if err.kind() != io::ErrorKind::NotFound {
            tracing::warn!(dir = %dir.display(), %err, "cannot remove staging directory");
        }
    }
}
