//! [`PolicyError`]: why NetworkPolicy rules could not be programmed.

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// `nft` or `conntrack` failed or is missing.
    #[error(transparent)]
    Net(#[from] rkube_net::NetError),
    /// The API could not be read.
    #[error("reading the API: {0}")]
    Api(#[from] kube::Error),
    /// A reflector stopped before its first list arrived.
    #[error("a watch of policies, pods or namespaces stopped before it listed")]
    Stopped,
}
