//! The real node's Node object, Lease, status loop and evictions against a
//! real API server (in process).

mod common;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Event, Node, Pod};
use kube::api::{Api, ListParams, Patch, PatchParams};
use rkube_cri::{CriError, ImageInfo, ImageService};
use rkube_node::kubelet::node::eviction::Eviction;
use rkube_node::kubelet::node::{register, run_status, status, wait_for_pod_cidr};
use serde_json::json;

struct Images;

#[async_trait]
impl ImageService for Images {
    async fn image_status(&self, _: &str) -> Result<Option<ImageInfo>, CriError> {
        Ok(None)
    }
    async fn pull_image(
        &self,
        image: &str,
        _: &[rkube_cri::RegistryAuth],
    ) -> Result<ImageInfo, CriError> {
        Err(CriError::ImagePull(image.to_string()))
    }
    async fn list_images(&self) -> Result<Vec<ImageInfo>, CriError> {
        Ok(vec![ImageInfo {
            repo_tags: vec!["docker.io/library/busybox:latest".into()],
            size: 1234,
            ..Default::default()
        }])
    }
    async fn remove_image(&self, _: &str) -> Result<(), CriError> {
        Ok(())
    }
}

#[tokio::test]
async fn registers_once_with_host_facts_and_keeps_lease_and_status() {
    let client = common::api_client().await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut config = common::config(tmp.path());
    config.lease_renew = Duration::from_millis(300);
    register(&client, &config, "runc://1.1.5")
        .await
        .expect("register");
    register(&client, &config, "runc://1.1.5")
        .await
        .expect("register again");
    let nodes: Api<Node> = Api::all(client.clone());
    assert_eq!(
        nodes
            .list(&ListParams::default())
            .await
            .expect("list")
            .items
            .len(),
        1
    );
    let node = nodes.get("test-node").await.expect("node");
    let labels = node.metadata.labels.clone().expect("labels");
    assert_eq!(labels["kubernetes.io/hostname"], "test-node");
    assert_eq!(labels["kubernetes.io/os"], "linux");
    assert!(labels.contains_key("beta.kubernetes.io/arch"));
    let status = node.status.clone().expect("status");
    let cap = status.capacity.clone().expect("capacity");
    assert_eq!(cap["pods"].0, "110");
    assert!(
        cap.contains_key("cpu")
            && cap.contains_key("memory")
            && cap.contains_key("ephemeral-storage")
    );
    let alloc = status.allocatable.clone().expect("allocatable");
    assert_ne!(
        alloc["memory"], cap["memory"],
        "allocatable leaves the 100Mi eviction threshold"
    );
    let info = status.node_info.clone().expect("nodeInfo");
    assert_eq!(info.container_runtime_version, "runc://1.1.5");
    assert_eq!(info.kubelet_version, "v1.37.0-rkube");
    assert!(!info.kernel_version.is_empty());
    assert!(!info.os_image.is_empty());
    let addrs = status.addresses.clone().expect("addresses");
    assert!(addrs
        .iter()
        .any(|a| a.type_ == "InternalIP" && a.address == "127.0.0.1"));
    assert!(addrs
        .iter()
        .any(|a| a.type_ == "Hostname" && a.address == "test-node"));
    assert_eq!(
        status
            .daemon_endpoints
            .expect("endpoints")
            .kubelet_endpoint
            .expect("kubelet")
            .port,
        10250
    );
    let conds = status.conditions.expect("conditions");
    assert!(conds.iter().any(|c| c.type_ == "Ready"
        && c.status == "True"
        && c.reason.as_deref() == Some("KubeletReady")));

    // The pod range, once the node-IPAM controller writes it.
    let waiter = tokio::spawn({
        let client = client.clone();
        async move { wait_for_pod_cidr(&client, "test-node").await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    nodes
        .patch(
            "test-node",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"podCIDR": "10.244.3.0/24"}})),
        )
        .await
        .expect("patch");
    let cidr = tokio::time::timeout(Duration::from_secs(10), waiter)
        .await
        .expect("in time")
        .expect("task");
    assert_eq!(cidr.expect("cidr"), "10.244.3.0/24");

    // The status loop: a Lease owned by the Node, renewed; images written.
    let runtime: Arc<dyn rkube_cri::RuntimeService> = Arc::new(common::NoRuntime);
    let task = tokio::spawn(run_status(
        client.clone(),
        Arc::new(config),
        runtime,
        Arc::new(Images),
    ));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
    let lease = leases.get("test-node").await.expect("lease");
    let owner = &lease.metadata.owner_references.clone().expect("owner")[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str()),
        ("Node", "test-node")
    );
    let first = lease
        .spec
        .clone()
        .expect("spec")
        .renew_time
        .expect("renewTime");
    tokio::time::sleep(Duration::from_millis(800)).await;
    let second = leases
        .get("test-node")
        .await
        .expect("lease")
        .spec
        .expect("spec")
        .renew_time
        .expect("renewTime");
    assert!(second.0 > first.0, "the lease is renewed");
    let node = nodes.get("test-node").await.expect("node");
    let images = node.status.expect("status").images.expect("images");
    assert_eq!(images[0].size_bytes, Some(1234));
    task.abort();
}

#[tokio::test]
async fn eviction_marks_the_pod_failed_and_records_an_event() {
    let client = common::api_client().await;
    let _: Pod = common::create(
        &client,
        None,
        json!({
            "metadata": {"name": "hog"},
            "spec": {"nodeName": "test-node", "containers": [{"name": "c", "image": "busybox"}]},
        }),
    )
    .await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let pod = pods.get("hog").await.expect("pod");
    let e = Eviction {
        namespace: "default".into(),
        name: "hog".into(),
        uid: pod.metadata.uid.clone().expect("uid"),
        message:
            "The node was low on resource: memory. Threshold quantity: 100Mi, available: 50Mi. "
                .into(),
    };
    status::evict(&client, "test-node", &e)
        .await
        .expect("evict");
    let pod = pods.get("hog").await.expect("pod");
    let st = pod.status.expect("status");
    assert_eq!(st.phase.as_deref(), Some("Failed"));
    assert_eq!(st.reason.as_deref(), Some("Evicted"));
    assert_eq!(st.message.as_deref(), Some(e.message.as_str()));
    assert!(st
        .conditions
        .expect("conditions")
        .iter()
        .any(|c| c.type_ == "DisruptionTarget"));
    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    let list = events.list(&ListParams::default()).await.expect("events");
    assert!(list
        .items
        .iter()
        .any(|ev| ev.reason.as_deref() == Some("Evicted")
            && ev.involved_object.name.as_deref() == Some("hog")
            && ev.type_.as_deref() == Some("Warning")));
}
