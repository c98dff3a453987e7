//! [`ImageError`]: why loading, unpacking, pulling or removing an image
//! failed. Each variant's message is what a user reads.

use std::path::PathBuf;

use rkube_cri::CriError;

/// Why an image store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// A file or directory operation failed.
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The archive or layout is not an image this store understands.
    #[error("{0}")]
    Format(String),
    /// A layer tries to write outside its directory, holds a device node,
    /// or is otherwise refused; nothing of it is kept.
    #[error("refused layer entry {entry:?}: {reason}")]
    Hostile { entry: String, reason: String },
    /// The filesystem of the store has not enough room.
    #[error("not enough disk space in {path}: {needed} bytes needed, {free} free")]
    NoSpace {
        path: PathBuf,
        needed: u64,
        free: u64,
    },
    /// Content does not match the digest it was named by.
    #[error("digest mismatch for {what}: expected {expected}, got {actual}")]
    DigestMismatch {
        what: String,
        expected: String,
        actual: String,
    },
    /// An image name that is not a valid reference.
    #[error("invalid image reference {0:?}: {1}")]
    InvalidReference(String, String),
    /// No image by this name or id.
    #[error("image {0:?} not found")]
    NotFound(String),
    /// The image is used by a container and cannot be removed.
    #[error("image {0} is in use")]
    InUse(String),
    /// The registry could not be reached or refused the request.
    #[error("pulling {image}: {message}")]
    Registry { image: String, message: String },
    /// Mounting or unmounting a root filesystem failed.
    #[error("{what} {path}: {source}")]
    Mount {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: nix::Error,
    },
}

impl ImageError {
    /// A closure turning an `io::Error` into [`ImageError::Io`] for `path`.
    pub(crate) fn io(
        what: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> ImageError {
        let path = path.into();
        move |source| ImageError::Io { what, path, source }
    }

    pub(crate) fn format(message: impl Into<String>) -> ImageError {
        ImageError::Format(message.into())
    }

    pub(crate) fn hostile(entry: impl Into<String>, reason: impl Into<String>) -> ImageError {
        ImageError::Hostile {
            entry: entry.into(),
            reason: reason.into(),
        }
    }
}

impl From<ImageError> for CriError {
    fn from(err: ImageError) -> CriError {
        match err {
            ImageError::NotFound(name) => CriError::NotFound(format!("image {name:?}")),
            ImageError::Registry { .. } | ImageError::InvalidReference(..) => {
                CriError::ImagePull(err.to_string())
            }
            ImageError::Io { what, path, source } => CriError::Io {
                what: format!("{what} {}", path.display()),
                source,
            },
            other => CriError::Runtime(other.to_string()),
        }
    }
}

/// Result of an image store operation.
pub type Result<T, E = ImageError> = std::result::Result<T, E>;
