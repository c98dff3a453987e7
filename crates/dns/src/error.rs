//! [`DnsError`]: why the cluster DNS server cannot serve.

#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    /// A socket could not be bound or used.
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// The API could not be read or written.
    #[error("the API: {0}")]
    Api(#[from] kube::Error),
    /// An object of ours could not be made (a node name that is no valid
    /// object name, and the like).
    #[error("cannot build an object: {0}")]
    Object(String),
}
