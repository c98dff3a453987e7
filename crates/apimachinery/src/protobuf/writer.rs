//! Writing the protobuf wire format: tags, varints, fixed 64-bit values
//! and length-delimited fields (strings, bytes, nested messages). Proto3
//! scalars at their zero value are left out, as every encoder does; the
//! `*_always` forms write them anyway (a member of a `oneof`).

/// A message being written.
#[derive(Debug, Default, Clone)]
pub struct Writer {
    buf: Vec<u8>,
}

const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LEN: u8 = 2;

impl Writer {
    pub fn new() -> Self {
        Writer::default()
    }

    /// The bytes written.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.buf.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
    }

    fn tag(&mut self, field: u32, wire: u8) {
        self.varint((u64::from(field) << 3) | u64::from(wire));
    }

    /// A length-delimited field holding `bytes`.
    pub fn bytes(&mut self, field: u32, bytes: &[u8]) {
        self.tag(field, LEN);
        self.varint(bytes.len() as u64);
        self.buf.extend_from_slice(bytes);
    }

    /// A string field (left out when empty).
    pub fn string(&mut self, field: u32, s: &str) {
        if !s.is_empty() {
            self.bytes(field, s.as_bytes());
        }
    }

    /// A bool field (left out when false).
    pub fn bool(&mut self, field: u32, b: bool) {
        if b {
            self.bool_always(field, b);
        }
    }

    /// A bool field, written even when false.
    pub fn bool_always(&mut self, field: u32, b: bool) {
        self.tag(field, VARINT);
        self.varint(u64::from(b));
    }

    /// An int64 field (left out when zero).
    pub fn int64(&mut self, field: u32, v: i64) {
        if v != 0 {
            self.tag(field, VARINT);
            self.varint(v as u64);
        }
    }

    /// A double field (left out when zero).
    pub fn double(&mut self, field: u32, v: f64) {
        if v != 0.0 {
            self.tag(field, FIXED64);
            self.buf.extend_from_slice(&v.to_le_bytes());
        }
    }

    /// A nested message, written by `f` (written even when empty).
    pub fn message(&mut self, field: u32, f: impl FnOnce(&mut Writer)) {
        let mut inner = Writer::new();
        f(&mut inner);
        self.bytes(field, &inner.buf);
    }
}

#[cfg(test)]
mod tests {
    use super::Writer;
    use crate::protobuf::wire::Reader;

    #[test]
    fn written_fields_read_back() {
        let mut w = Writer::new();
        w.string(1, "swagger");
        w.int64(2, 300);
        w.bool(3, false);
        w.bool_always(4, false);
        w.message(5, |m| m.string(1, "x"));
        let bytes = w.into_bytes();
        let mut r = Reader::new(&bytes);
        let mut fields = Vec::new();
        while !r.is_empty() {
            fields.push(r.field().map(|(n, _)| n).unwrap_or(0));
        }
        assert_eq!(fields, [1, 2, 4, 5]);
    }
}
