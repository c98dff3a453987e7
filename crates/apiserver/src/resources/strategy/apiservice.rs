//! APIServices (apiregistration.k8s.io): kube-aggregator's strategy
//! refuses an update that does not name the version it replaces.

use super::hooks::Strategy;

pub struct ApiServiceStrategy;

impl Strategy for ApiServiceStrategy {
    /// kube-aggregator's APIService strategy requires a resourceVersion on
    /// update.
    fn allow_unconditional_update(&self) -> bool {
        false
    }
}
