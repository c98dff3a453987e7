//! Compression of archives and layers, detected by magic bytes: gzip,
//! zstd or none.

use std::io::{self, BufRead, Read};

/// How a stream is compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];

impl Compression {
    /// Look at the first bytes of `reader` (without consuming them).
    pub fn detect(reader: &mut impl BufRead) -> io::Result<Compression> {
        // A BufReader's first fill holds what one read gives: for files and
        // tar entries that is more than the 4 magic bytes unless at the end.
        let head = reader.fill_buf()?;
        Ok(if head.starts_with(GZIP_MAGIC) {
            Compression::Gzip
        } else if head.starts_with(ZSTD_MAGIC) {
            Compression::Zstd
        } else {
            Compression::None
        })
    }
}

/// `reader` decompressed as its magic bytes say.
pub fn decompress<'a, R: BufRead + 'a>(mut reader: R) -> io::Result<Box<dyn Read + 'a>> {
    Ok(match Compression::detect(&mut reader)? {
        Compression::None => Box::new(reader),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(reader)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(reader)?),
    })
}

/// Whether `head` (the first 512 bytes or more) is a tar header.
pub fn looks_like_tar(head: &[u8]) -> bool {
    head.len() >= 262 && &head[257..262] == b"ustar"
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn detects_and_decompresses_each_kind() {
        let data = b"hello layer".repeat(100);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&data).unwrap();
        let gz = gz.finish().unwrap();
        let zst = zstd::encode_all(&data[..], 1).unwrap();
        for (bytes, kind) in [
            (data.clone(), Compression::None),
            (gz, Compression::Gzip),
            (zst, Compression::Zstd),
        ] {
            let mut r = io::BufReader::new(&bytes[..]);
            assert_eq!(Compression::detect(&mut r).unwrap(), kind);
            let mut out = Vec::new();
            decompress(r).unwrap().read_to_end(&mut out).unwrap();
            assert_eq!(out, data);
        }
    }
}
