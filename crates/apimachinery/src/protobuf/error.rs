//! [`DecodeError`]: why a protobuf body could not be decoded, from the
//! wire format up to the envelope.

/// Why a protobuf body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The body lacks the `k8s\0` envelope.
    #[error("the body does not start with the protobuf magic number k8s\\x00")]
    NoMagic,
    /// The envelope's type meta has no kind.
    #[error("the envelope names no kind")]
    NoKind,
    /// A field's length or varint runs past the end of the body.
    #[error("the body ends in the middle of a field")]
    Truncated,
    /// Bytes that are not protobuf (a bad wire type, an overlong varint, …).
    #[error("malformed protobuf: {0}")]
    Malformed(String),
    /// A message the schema does not know.
    #[error("no protobuf schema for {0}")]
    UnknownMessage(String),
    /// Valid protobuf rkube does not decode (a content encoding, a field
    /// type).
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// Messages nested deeper than the limit (the number), which no
    /// Kubernetes object reaches.
    #[error("nested more than {0} messages deep")]
    TooDeep(usize),
}
