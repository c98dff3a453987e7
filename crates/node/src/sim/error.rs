//! [`SimError`]: what stops the agent.

/// What stops the agent.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// A call to the API server failed where the agent cannot go on.
    #[error("{what}: {source}")]
    Api {
        what: String,
        #[source]
        source: kube::Error,
    },
}

pub(crate) fn api_error(what: impl Into<String>) -> impl FnOnce(kube::Error) -> SimError {
    let what = what.into();
    move |source| SimError::Api { what, source }
}
