//! The strategy of a built-in kind with nothing special: every hook's
//! default (Kubernetes' validation of the kind, unconditional updates
//! allowed, no allocations, deleted at once).

use super::hooks::Strategy;

/// The default strategy.
pub struct DefaultStrategy;

impl Strategy for DefaultStrategy {}
