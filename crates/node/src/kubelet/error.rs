//! [`KubeletError`]: what stops the kubelet. Failures of one pod never do:
//! they become that pod's status and events.

/// What stops the kubelet.
#[derive(Debug, thiserror::Error)]
pub enum KubeletError {
    /// A call to the API server failed where the kubelet cannot go on.
    #[error("{what}: {source}")]
    Api {
        what: String,
        #[source]
        source: kube::Error,
    },
    /// The runtime failed where the kubelet cannot go on (listing it).
    #[error("{what}: {source}")]
    Runtime {
        what: String,
        #[source]
        source: rkube_cri::CriError,
    },
    /// A file of the kubelet's own could not be read or written.
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}
