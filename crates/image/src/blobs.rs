//! Content-addressed blobs under `blobs/sha256/<hex>`: written to a
//! temporary file while hashed, then renamed to their digest.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::PathBuf;

use crate::digest::{Digest, HashWriter};
use crate::error::{ImageError, Result};
use crate::layout::Layout;
use crate::space::SpaceCheck;

/// Check free space every this many bytes written.
const SPACE_CHECK_EVERY: u64 = 8 << 20;

/// A blob being written: hashed as it is written; [`BlobWriter::commit`]
/// moves it to its digest's path.
pub struct BlobWriter {
    tmp: PathBuf,
    out: HashWriter<BufWriter<File>>,
    space: SpaceCheck,
    next_check: u64,
    failed: Option<ImageError>,
}

impl BlobWriter {
    /// A new blob in `layout`; `expected_size` (when known) is checked
    /// against the free space first.
    pub fn create(layout: &Layout, expected_size: Option<u64>) -> Result<BlobWriter> {
        let space = SpaceCheck::new(layout.root());
        if let Some(size) = expected_size {
            space.ensure(size)?;
        }
        let tmp = layout.tmp_path("blob");
        let file = File::create(&tmp).map_err(ImageError::io("create", &tmp))?;
        Ok(BlobWriter {
            tmp,
            out: HashWriter::new(BufWriter::with_capacity(1 << 20, file)),
            space,
            next_check: SPACE_CHECK_EVERY,
            failed: None,
        })
    }

    /// Write `buf`, checking the free space every few MiB.
    pub fn put(&mut self, buf: &[u8]) -> Result<()> {
        let tmp = &self.tmp;
        self.out
            .write_all(buf)
            .map_err(|e| self.space.write_error("write", tmp, e))?;
        let written = self.out.written();
        if written >= self.next_check {
            self.next_check = written + SPACE_CHECK_EVERY;
            self.space.ensure(SPACE_CHECK_EVERY)?;
        }
        Ok(())
    }

    /// The error that failed a write through a [`TeeReader`] (a reader's
    /// caller sees only an `io::Error`).
    pub fn take_failure(&mut self) -> Option<ImageError> {
        self.failed.take()
    }

    /// Finish: flush, and move the blob to its digest's path (if a blob
    /// with that digest exists already, this one is dropped). When
    /// `expected` is given, a different digest is an error.
    pub fn commit(self, layout: &Layout, expected: Option<&Digest>) -> Result<(Digest, u64)> {
        let BlobWriter {
            tmp, out, space, ..
        } = self;
        let (buf, digest, size) = out.finish();
        let result = buf
            .into_inner()
            .map_err(|e| space.write_error("write", &tmp, e.into_error()))
            // No fsync: the index, renamed last, is what commits an image.
            .map(drop);
        if let Err(err) = result {
            let _ = std::fs::remove_file(&tmp);
            return Err(err);
        }
        if let Some(expected) = expected {
            if *expected != digest {
                let _ = std::fs::remove_file(&tmp);
                return Err(ImageError::DigestMismatch {
                    what: "blob".to_string(),
                    expected: expected.to_string(),
                    actual: digest.to_string(),
                });
            }
        }
        let dest = layout.blob(&digest);
        if dest.exists() {
            let _ = std::fs::remove_file(&tmp);
        } else {
            std::fs::rename(&tmp, &dest).map_err(ImageError::io("rename", &dest))?;
        }
        Ok((digest, size))
    }

    /// Drop the partial blob.
    pub fn abort(self) {
        let _ = std::fs::remove_file(&self.tmp);
    }
}

/// A reader that copies everything read through it into a blob.
pub struct TeeReader<'a, R> {
    pub inner: R,
    pub blob: &'a mut BlobWriter,
}

impl<R: Read> Read for TeeReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n > 0 {
            if let Err(err) = self.blob.put(&buf[..n]) {
                let message = err.to_string();
                self.blob.failed = Some(err);
                return Err(io::Error::other(message));
            }
        }
        Ok(n)
    }
}

/// Write `bytes` as a blob (a config or manifest), unless present.
pub fn write_bytes(layout: &Layout, bytes: &[u8]) -> Result<Digest> {
    let digest = Digest::of(bytes);
    let dest = layout.blob(&digest);
    if !dest.exists() {
        let mut w = BlobWriter::create(layout, Some(bytes.len() as u64))?;
        w.put(bytes)?;
        w.commit(layout, Some(&digest))?;
    }
    Ok(digest)
}
