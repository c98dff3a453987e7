//! The protobuf wire format: a reader over a byte slice that never reads
//! past its end and never panics on malformed input.

use super::error::DecodeError;

/// The wire type of a field (the low three bits of its key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireType {
    Varint,
    Fixed64,
    Len,
    Fixed32,
}

/// One field's raw value.
#[derive(Debug, Clone, Copy)]
pub enum Raw<'a> {
    Varint(u64),
    Fixed64(u64),
    Len(&'a [u8]),
    Fixed32,
}

/// Reads fields one by one.
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// A base-128 varint (at most ten bytes).
    pub fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut value = 0u64;
        for i in 0..10 {
            let (&b, rest) = self.buf.split_first().ok_or(DecodeError::Truncated)?;
            self.buf = rest;
            value |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(DecodeError::Malformed(
            "varint longer than ten bytes".into(),
        ))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.buf.len() {
            return Err(DecodeError::Truncated);
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    /// The next field: its number and raw value.
    pub fn field(&mut self) -> Result<(u32, Raw<'a>), DecodeError> {
        let key = self.varint()?;
        let number = u32::try_from(key >> 3)
            .map_err(|_| DecodeError::Malformed("field number too large".into()))?;
        if number == 0 {
            return Err(DecodeError::Malformed("field number 0".into()));
        }
        let raw = match key & 7 {
            0 => Raw::Varint(self.varint()?),
            1 => {
                let b = self.take(8)?;
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                Raw::Fixed64(u64::from_le_bytes(a))
            }
            2 => {
                let len = usize::try_from(self.varint()?).map_err(|_| DecodeError::Truncated)?;
                Raw::Len(self.take(len)?)
            }
            5 => {
                let b = self.take(4)?;
                let mut a = [0u8; 4];
                a.copy_from_slice(b);
                let _ = u32::from_le_bytes(a);
                Raw::Fixed32
            }
            t => return Err(DecodeError::Malformed(format!("wire type {t}"))),
        };
        Ok((number, raw))
    }
}

impl Raw<'_> {
    pub fn wire_type(&self) -> WireType {
        match self {
            Raw::Varint(_) => WireType::Varint,
            Raw::Fixed64(_) => WireType::Fixed64,
            Raw::Len(_) => WireType::Len,
            Raw::Fixed32 => WireType::Fixed32,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fields_and_refuses_truncation() {
        // field 1 varint 150; field 2 bytes "hi"
        let buf = [0x08, 0x96, 0x01, 0x12, 0x02, b'h', b'i'];
        let mut r = Reader::new(&buf);
        assert!(matches!(r.field(), Ok((1, Raw::Varint(150)))));
        assert!(matches!(r.field(), Ok((2, Raw::Len(b"hi")))));
        assert!(r.is_empty());
        for bad in [
            &[0x08][..],
            &[0x12, 0x05, b'a'],
            &[
                0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
            ],
            &[0x0b],
            &[0x00, 0x01],
        ] {
            assert!(Reader::new(bad).field().is_err(), "{bad:?}");
        }
    }
}
