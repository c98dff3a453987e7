//! The `default/kubernetes` Service and its Endpoints and EndpointSlice,
//! kept by the running API server as kube-apiserver's
//! `kubernetesservice` controller and endpoint reconciler keep them: the
//! Service (labels `component=apiserver`, `provider=kubernetes`) has the
//! first address of the service range and port 443 named `https`, whose
//! target is the API server's port; the Endpoints (labelled
//! `endpointslice.kubernetes.io/skip-mirror`, so no mirror is made) and
//! the EndpointSlice (labelled with the service name) point at the
//! advertised address and port.

use std::net::SocketAddr;

use rkube_apimachinery::ApiError;
use serde_json::{json, Value};

use super::super::state::ApiState;
use super::ensure::{ensure, info, Ensured, SystemObjectsConfig};

/// The Service's namespace and name.
const NAMESPACE: &str = "default";
const NAME: &str = "kubernetes";

/// The Service as kube-apiserver creates it.
pub fn service(advertise: SocketAddr) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": NAME,
            "namespace": NAMESPACE,
            "labels": {"component": "apiserver", "provider": "kubernetes"},
        },
        "spec": {
            "type": "ClusterIP",
            // The first address of the service range, which the allocator
            // keeps for this Service.
            "clusterIP": super::super::allocator::service_ip_range().first().to_string(),
            "sessionAffinity": "None",
            "ports": [{
                "name": "https",
                "port": 443,
                "protocol": "TCP",
                "targetPort": advertise.port(),
            }],
        },
    })
}

fn endpoint_ports(advertise: SocketAddr) -> Value {
    json!([{"name": "https", "port": advertise.port(), "protocol": "TCP"}])
}

/// The Endpoints: one subset with the advertised address.
pub fn endpoints(advertise: SocketAddr) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {
            "name": NAME,
            "namespace": NAMESPACE,
            "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"},
        },
        "subsets": [{
            "addresses": [{"ip": advertise.ip().to_string()}],
            "ports": endpoint_ports(advertise),
        }],
    })
}

/// The EndpointSlice: one ready endpoint at the advertised address.
pub fn endpoint_slice(advertise: SocketAddr) -> Value {
    let address_type = if advertise.is_ipv4() { "IPv4" } else { "IPv6" };
    json!({
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": NAME,
            "namespace": NAMESPACE,
            "labels": {"kubernetes.io/service-name": NAME},
        },
        "addressType": address_type,
        "endpoints": [{
            "addresses": [advertise.ip().to_string()],
            "conditions": {"ready": true},
        }],
        "ports": endpoint_ports(advertise),
    })
}

/// One pass: the Service, then its Endpoints and EndpointSlice.
async fn reconcile(state: &ApiState, advertise: SocketAddr) -> Result<(), ApiError> {
    let ns = Some(NAMESPACE);
    let services = info(state, "", "services")?;
    let svc = ensure(
        state,
        &services,
        ns,
        &service(advertise),
        &["/spec/ports", "/spec/type"],
        false,
    )
    .await?;
    let eps = ensure(
        state,
        &info(state, "", "endpoints")?,
        ns,
        &endpoints(advertise),
        &["/metadata/labels", "/subsets"],
        false,
    )
    .await?;
    let slice = ensure(
        state,
        &info(state, "discovery.k8s.io", "endpointslices")?,
        ns,
        &endpoint_slice(advertise),
        &["/metadata/labels", "/addressType", "/endpoints", "/ports"],
        false,
    )
    .await?;
    if [svc, eps, slice] != [Ensured::Unchanged; 3] {
        tracing::info!(
            service = ?svc,
            endpoints = ?eps,
            endpoint_slice = ?slice,
            advertise = %advertise,
            "reconciled the kubernetes service"
        );
    }
    Ok(())
}

/// Reconcile now and then every interval, forever.
pub(super) async fn run(state: &ApiState, config: &SystemObjectsConfig) {
    loop {
        if let Err(e) = reconcile(state, config.advertise).await {
            tracing::warn!(error = %e, "cannot reconcile the kubernetes service");
        }
        tokio::time::sleep(config.interval).await;
    }
}
