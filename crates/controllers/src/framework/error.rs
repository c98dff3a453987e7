//! What a reconcile can fail with.

/// A failed reconcile; the key is retried with backoff.
#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    /// An API call failed.
    #[error(transparent)]
    Kube(#[from] kube::Error),
    /// An object could not be built or read as its type.
    #[error("cannot encode or decode an object: {0}")]
    Serde(#[from] serde_json::Error),
}
