//! The node's own endpoint of `kube-system/kube-dns`: an EndpointSlice
//! `kube-dns-<node>` (labelled with the service name and managed by
//! `rkube-dns`, so the EndpointSlice controller leaves it alone) with the
//! server's address, ready, on this node, with the Service's ports (dns
//! 53/UDP, dns-tcp 53/TCP, metrics 9153/TCP). Checked every few seconds
//! and put back when deleted or changed.

use std::net::IpAddr;
use std::time::Duration;

use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, PostParams};
use serde_json::json;

use crate::error::DnsError;
use crate::snapshot::SERVICE_NAME_LABEL;

/// The Service's namespace and name.
pub const NAMESPACE: &str = "kube-system";
pub const SERVICE: &str = "kube-dns";
/// Who manages the slice.
pub const MANAGED_BY: &str = "rkube-dns";
/// How often the slice is checked.
const INTERVAL: Duration = Duration::from_secs(5);

/// The slice's name for `node`.
pub fn slice_name(node: &str) -> String {
    format!("kube-dns-{node}")
}

/// The slice as it should be.
pub fn desired(node: &str, address: IpAddr, port: u16) -> Result<EndpointSlice, DnsError> {
    let address_type = if address.is_ipv4() { "IPv4" } else { "IPv6" };
    let value = json!({
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": slice_name(node),
            "namespace": NAMESPACE,
            "labels": {
                SERVICE_NAME_LABEL: SERVICE,
                "endpointslice.kubernetes.io/managed-by": MANAGED_BY,
            },
        },
        "addressType": address_type,
        "endpoints": [{
            "addresses": [address.to_string()],
            "conditions": {"ready": true, "serving": true, "terminating": false},
            "nodeName": node,
        }],
        "ports": [
            {"name": "dns", "port": port, "protocol": "UDP"},
            {"name": "dns-tcp", "port": port, "protocol": "TCP"},
            {"name": "metrics", "port": 9153, "protocol": "TCP"},
        ],
    });
    serde_json::from_value(value).map_err(|e| DnsError::Object(e.to_string()))
}

fn same(current: &EndpointSlice, want: &EndpointSlice) -> bool {
    let labels_kept = want
        .metadata
        .labels
        .iter()
        .flatten()
        .all(|(k, v)| current.metadata.labels.as_ref().and_then(|l| l.get(k)) == Some(v));
    labels_kept
        && current.address_type == want.address_type
        && current.endpoints == want.endpoints
        && current.ports == want.ports
}

/// One pass: create the slice, or put back what was changed.
pub async fn reconcile(api: &Api<EndpointSlice>, want: &EndpointSlice) -> Result<(), DnsError> {
    let name = want.metadata.name.clone().unwrap_or_default();
    match api.get_opt(&name).await? {
        None => {
            api.create(&PostParams::default(), want).await?;
            tracing::info!(slice = %name, "registered the node's cluster DNS endpoint");
        }
        Some(current) if !same(&current, want) => {
            let mut next = want.clone();
            let mut labels = current.metadata.labels.clone().unwrap_or_default();
            labels.extend(want.metadata.labels.clone().unwrap_or_default());
            next.metadata.labels = Some(labels);
            next.metadata.resource_version = current.metadata.resource_version.clone();
            api.replace(&name, &PostParams::default(), &next).await?;
            tracing::info!(slice = %name, "restored the node's cluster DNS endpoint");
        }
        Some(_) => {}
    }
    Ok(())
}

/// Keep the slice until the task is dropped.
pub async fn run(client: kube::Client, want: EndpointSlice) {
    let api: Api<EndpointSlice> = Api::namespaced(client, NAMESPACE);
    loop {
        if let Err(error) = reconcile(&api, &want).await {
            tracing::warn!(%error, "cannot register the node's cluster DNS endpoint");
        }
        tokio::time::sleep(INTERVAL).await;
    }
}
