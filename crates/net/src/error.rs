//! [`NetError`]: why setting up the node's or a pod's network failed.

use rkube_cri::CriError;

#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// The configuration cannot be used (a malformed CIDR, a pod range
    /// outside the cluster range, a name too long for an interface).
    #[error("pod network configuration: {0}")]
    Config(String),
    /// A tool (`ip`, `nft`, `nsenter`, `iptables`) is not installed.
    #[error("{tool} not found: install the Debian package {package}")]
    ToolMissing {
        tool: &'static str,
        package: &'static str,
    },
    /// A tool ran and failed; `stderr` is what it said.
    #[error("{what} failed ({status}): {stderr}")]
    Command {
        what: String,
        status: String,
        stderr: String,
    },
    /// Every address of the node's pod range is taken.
    #[error("no free address left in the pod range {0}")]
    Exhausted(String),
    /// A file of the address records or a sysctl could not be read or
    /// written.
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

impl NetError {
    /// A [`NetError::Io`] naming what was being done.
    pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> NetError {
        let what = what.into();
        move |source| NetError::Io { what, source }
    }
}

impl From<NetError> for CriError {
    fn from(e: NetError) -> CriError {
        match e {
            NetError::Io { what, source } => CriError::Io { what, source },
            other => CriError::Network(other.to_string()),
        }
    }
}
