//! The store conformance suite against a real etcd: one throw-away etcd
//! server, one [`EtcdStore`] under a unique prefix, every case in order.

use rkube_store::conformance;
use rkube_store::etcd::EtcdStore;
use rkube_store::testing::EtcdServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_store_passes_the_conformance_suite() {
    let server = EtcdServer::start_async().await.expect("start etcd");
    let prefix = format!("/rkube-conformance-{:016x}", rand_nonce());
    let store = EtcdStore::connect(&server.endpoints(), prefix)
        .await
        .expect("connect to etcd");
    conformance::empty_store_starts_at_revision_one(&store).await;
    conformance::run_all(&store).await;
}

fn rand_nonce() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}
