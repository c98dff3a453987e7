//! SPDY/3 header blocks: the name/value list, compressed with zlib over
//! the whole connection (one stream of each direction, sync-flushed per
//! block) with SPDY/3's preset dictionary.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use crate::error::StreamError;

/// Headers of a SYN_STREAM, SYN_REPLY or HEADERS frame, names in lower
/// case; several values of one name are joined by NUL.
pub type HeaderList = Vec<(String, String)>;

/// The most bytes one header block may inflate to.
const MAX_INFLATED: usize = 256 * 1024;

/// The words of SPDY/3's dictionary (draft 3, section 2.6.10.1), each
/// preceded on the wire by its length as 4 bytes big-endian.
const DICTIONARY_WORDS: &[&str] = &[
    "options",
    "head",
    "post",
    "put",
    "delete",
    "trace",
    "accept",
    "accept-charset",
    "accept-encoding",
    "accept-language",
    "accept-ranges",
    "age",
    "allow",
    "authorization",
    "cache-control",
    "connection",
    "content-base",
    "content-encoding",
    "content-language",
    "content-length",
    "content-location",
    "content-md5",
    "content-range",
    "content-type",
    "date",
    "etag",
    "expect",
    "expires",
    "from",
    "host",
    "if-match",
    "if-modified-since",
    "if-none-match",
    "if-range",
    "if-unmodified-since",
    "last-modified",
    "location",
    "max-forwards",
    "pragma",
    "proxy-authenticate",
    "proxy-authorization",
    "range",
    "referer",
    "retry-after",
    "server",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "user-agent",
    "vary",
    "via",
    "warning",
    "www-authenticate",
    "method",
    "get",
    "status",
    "200 OK",
    "version",
    "HTTP/1.1",
    "url",
    "public",
    "set-cookie",
    "keep-alive",
    "origin",
];

/// The dictionary's tail, appended without lengths.
const DICTIONARY_TAIL: &str = concat!(
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505",
    "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request",
    "401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented",
    "503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 ",
    "Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,",
    "application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age=",
    "gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.",
);

/// SPDY/3's zlib dictionary.
pub fn dictionary() -> Vec<u8> {
    let mut d = Vec::with_capacity(1500);
    for w in DICTIONARY_WORDS {
        d.extend_from_slice(&(w.len() as u32).to_be_bytes());
        d.extend_from_slice(w.as_bytes());
    }
    d.extend_from_slice(DICTIONARY_TAIL.as_bytes());
    d
}

/// Compresses the header blocks one side sends.
pub struct Deflater {
    z: Compress,
}

impl Deflater {
    pub fn new() -> Self {
        let mut z = Compress::new(Compression::default(), true);
        // Compressing without the dictionary is valid too; with it the
        // blocks are smaller and match what spdystream sends.
        let _ = z.set_dictionary(&dictionary());
        Deflater { z }
    }

    /// The compressed block of `headers`.
    pub fn compress(&mut self, headers: &[(String, String)]) -> Result<Vec<u8>, StreamError> {
        let mut raw = Vec::with_capacity(64);
        raw.extend_from_slice(&(headers.len() as u32).to_be_bytes());
        for (name, value) in headers {
            raw.extend_from_slice(&(name.len() as u32).to_be_bytes());
            raw.extend_from_slice(name.as_bytes());
            raw.extend_from_slice(&(value.len() as u32).to_be_bytes());
            raw.extend_from_slice(value.as_bytes());
        }
        let mut out = Vec::with_capacity(raw.len() + 64);
        let mut input = &raw[..];
        loop {
            let before = self.z.total_in();
            self.z
                .compress_vec(input, &mut out, FlushCompress::Sync)
                .map_err(|e| StreamError::Spdy(format!("compressing headers: {e}")))?;
            input = &input[(self.z.total_in() - before) as usize..];
            if input.is_empty() && out.len() < out.capacity() {
                return Ok(out);
            }
            out.reserve(out.capacity().max(64));
        }
    }
}

impl Default for Deflater {
    fn default() -> Self {
        Self::new()
    }
}

/// Inflates the header blocks one side receives.
pub struct Inflater {
    z: Decompress,
}

impl Inflater {
    pub fn new() -> Self {
        Inflater {
            z: Decompress::new(true),
        }
    }

    /// The headers of one compressed block.
    pub fn decompress(&mut self, block: &[u8]) -> Result<HeaderList, StreamError> {
        let mut out = Vec::with_capacity(256);
        let mut input = block;
        loop {
            let (in_before, out_before) = (self.z.total_in(), out.len());
            let status = match self
                .z
                .decompress_vec(input, &mut out, FlushDecompress::Sync)
            {
                Ok(s) => s,
                Err(e) if e.needs_dictionary().is_some() => {
                    self.z
                        .set_dictionary(&dictionary())
                        .map_err(|e| StreamError::Spdy(format!("header dictionary: {e}")))?;
                    Status::Ok
                }
                Err(e) => return Err(StreamError::Spdy(format!("inflating headers: {e}"))),
            };
            input = &input[(self.z.total_in() - in_before) as usize..];
            let progressed = self.z.total_in() != in_before || out.len() != out_before;
            if status == Status::StreamEnd || (input.is_empty() && out.len() < out.capacity()) {
                break;
            }
            if out.len() >= MAX_INFLATED {
                return Err(StreamError::TooLarge {
                    size: out.len(),
                    limit: MAX_INFLATED,
                });
            }
            if out.len() == out.capacity() {
                out.reserve(out.capacity());
            } else if !progressed {
                if input.is_empty() {
                    break;
                }
                return Err(StreamError::Spdy("truncated header block".into()));
            }
        }
        parse_block(&out)
    }
}

impl Default for Inflater {
    fn default() -> Self {
        Self::new()
    }
}

fn parse_block(raw: &[u8]) -> Result<HeaderList, StreamError> {
    let mut rest = raw;
    let take_u32 = |rest: &mut &[u8]| -> Result<u32, StreamError> {
        if rest.len() < 4 {
            return Err(StreamError::Spdy("short header block".into()));
        }
        let v = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]);
        *rest = &rest[4..];
        Ok(v)
    };
    let count = take_u32(&mut rest)? as usize;
    if count > raw.len() / 8 {
        return Err(StreamError::Spdy(
            "header count larger than the block".into(),
        ));
    }
    let mut headers = Vec::with_capacity(count);
    for _ in 0..count {
        let mut pair = [String::new(), String::new()];
        for part in &mut pair {
            let len = take_u32(&mut rest)? as usize;
            if rest.len() < len {
                return Err(StreamError::Spdy("short header block".into()));
            }
            *part = String::from_utf8_lossy(&rest[..len]).into_owned();
            rest = &rest[len..];
        }
        let [name, value] = pair;
        headers.push((name.to_ascii_lowercase(), value));
    }
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dictionary_is_spdy3s() {
        use sha2::Digest;
        let sum = sha2::Sha256::digest(dictionary());
        let hex: String = sum.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "51d27341373f923f3cd88e1eb7162aeaa3723d7585ff2399201dc06498407f02"
        );
    }

    #[test]
    fn blocks_round_trip_over_one_zlib_stream() {
        let (mut d, mut i) = (Deflater::new(), Inflater::new());
        for n in 0..5 {
            let h = vec![
                ("streamtype".to_string(), "data".to_string()),
                ("port".to_string(), format!("80{n}")),
            ];
            assert_eq!(i.decompress(&d.compress(&h).unwrap()).unwrap(), h);
        }
        assert!(Inflater::new().decompress(b"\x78\xbbgarbage").is_err());
    }
}
