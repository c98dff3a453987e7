//! The `kube-system/kube-dns` Service, kept by the running API server
//! beside `default/kubernetes`: rkube's cluster DNS runs in every real
//! node (no Deployment creates the Service, as kubeadm's CoreDNS addon
//! would), so the server makes it at start. Its ClusterIP is the tenth
//! address of the service range (kubeadm's choice, which the kubelet
//! writes into pods' resolv.conf; the allocator never picks it for
//! another Service); labels as kubeadm's (`k8s-app: kube-dns`,
//! `kubernetes.io/name: CoreDNS`, `kubernetes.io/cluster-service`); no
//! selector — each node's `rkube-dns` registers its own EndpointSlice —
//! and `internalTrafficPolicy: Local`, so a pod's queries stay on its
//! node.

use rkube_apimachinery::ApiError;
use serde_json::{json, Value};

use super::super::state::ApiState;
use super::ensure::{ensure, info, Ensured, SystemObjectsConfig};

/// The Service's namespace and name.
const NAMESPACE: &str = "kube-system";
const NAME: &str = "kube-dns";

/// The Service as rkube keeps it.
pub fn service() -> Value {
    let ip = super::super::allocator::service_ip_range()
        .tenth()
        .to_string();
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": NAME,
            "namespace": NAMESPACE,
            "labels": {
                "k8s-app": "kube-dns",
                "kubernetes.io/name": "CoreDNS",
                "kubernetes.io/cluster-service": "true",
            },
        },
        "spec": {
            "type": "ClusterIP",
            "clusterIP": ip,
            "clusterIPs": [ip],
            "sessionAffinity": "None",
            "internalTrafficPolicy": "Local",
            "ports": [
                {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
                {"name": "metrics", "port": 9153, "protocol": "TCP", "targetPort": 9153},
            ],
        },
    })
}

/// One pass: the Service (its ports, type and traffic policy put back if
/// changed).
async fn reconcile(state: &ApiState) -> Result<(), ApiError> {
    let ensured = ensure(
        state,
        &info(state, "", "services")?,
        Some(NAMESPACE),
        &service(),
        &[
            "/spec/ports",
            "/spec/type",
            "/spec/internalTrafficPolicy",
            "/metadata/labels",
        ],
        false,
    )
    .await?;
    if ensured != Ensured::Unchanged {
        tracing::info!(service = ?ensured, "reconciled the kube-dns service");
    }
    Ok(())
}

/// Reconcile now and then every interval, forever.
pub(super) async fn run(state: &ApiState, config: &SystemObjectsConfig) {
    loop {
        if let Err(e) = reconcile(state).await {
            tracing::warn!(error = %e, "cannot reconcile the kube-dns service");
        }
        tokio::time::sleep(config.interval).await;
    }
}
