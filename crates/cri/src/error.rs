//! [`CriError`]: what the runtime, image, snapshot and network services
//! answer when they cannot do what was asked.

/// Why a runtime, image, snapshot or network call failed. The kubelet turns
/// these into pod conditions, container reasons and events; the message is
/// what a user reads (`kubectl describe pod`).
#[derive(Debug, thiserror::Error)]
pub enum CriError {
    /// No such sandbox, container or image.
    #[error("{0} not found")]
    NotFound(String),
    /// The image cannot be pulled (registry unreachable, unknown name or
    /// tag, refused credentials): the kubelet's `ErrImagePull`.
    #[error("{0}")]
    ImagePull(String),
    /// The request is not valid for this runtime (bad mount, unknown user,
    /// runAsNonRoot with a root image …): `CreateContainerConfigError`.
    #[error("{0}")]
    InvalidConfig(String),
    /// The runtime failed to create or start the container:
    /// `RunContainerError`.
    #[error("{0}")]
    Runtime(String),
    /// Setting up or tearing down the pod network failed.
    #[error("{0}")]
    Network(String),
    /// The runtime does not implement this call.
    #[error("{0}")]
    Unsupported(String),
    /// The call took longer than it was allowed to.
    #[error("timed out after {0:?}")]
    Timeout(std::time::Duration),
    /// A file or process operation failed.
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

impl CriError {
    /// An [`CriError::Io`] naming what was being done.
    pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> CriError {
        let what = what.into();
        move |source| CriError::Io { what, source }
    }
}
