//! Objects the API server keeps in the store itself, as kube-apiserver's
//! own controllers do: the `default/kubernetes` Service with its
//! Endpoints and EndpointSlice (`kubernetes_service.rs`), the
//! `kube-system/kube-dns` Service (`kube_dns_service.rs`), one APIService
//! per served group/version (`apiservices.rs`) and the ComponentStatuses
//! (`component_statuses.rs`). Each is reconciled at start and then
//! periodically, so an object a user deleted or changed comes back. The
//! `local-path` StorageClass and its CSIDriver (`local_path.rs`) are only
//! created at start when missing. What they share is in `ensure.rs`; this
//! file runs the loops.

mod apiservices;
mod component_statuses;
mod ensure;
mod kube_dns_service;
mod kubernetes_service;
mod local_path;

use std::sync::Arc;

pub use ensure::SystemObjectsConfig;

use super::state::ApiState;

/// Run the API server's own reconcilers until the task is aborted.
pub fn spawn(state: Arc<ApiState>, config: SystemObjectsConfig) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let service = kubernetes_service::run(&state, &config);
        let apiservices = apiservices::run(&state, &config);
        let statuses = component_statuses::run(&state, &config);
        let dns = kube_dns_service::run(&state, &config);
        let storage = local_path::run(&state, &config);
        tokio::join!(service, apiservices, statuses, dns, storage);
    })
}
