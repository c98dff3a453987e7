//! [`ProxyError`]: why the Service proxy could not program its rules.

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// `nft`, `ip` or `conntrack` failed or is missing.
    #[error(transparent)]
    Net(#[from] rkube_net::NetError),
    /// The API could not be read.
    #[error("reading the API: {0}")]
    Api(#[from] kube::Error),
}
