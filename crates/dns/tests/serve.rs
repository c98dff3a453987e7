//! The server on 127.0.0.1 with a random port, fed by the resource API in
//! process: Services and EndpointSlices made through the API answer over
//! UDP and TCP, the node registers (and re-registers) its kube-dns
//! EndpointSlice, other names go to a fake upstream on loopback (TCP when
//! it truncates, SERVFAIL when it is gone), in-cluster names never do,
//! and UDP answers too large for a client without EDNS0 come back
//! truncated while TCP carries them whole.

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::*;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, DeleteParams, PostParams};
use rkube_dns::{DnsConfig, Server};
use serde_json::json;

struct Running {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn start(client: kube::Client, upstreams: Vec<SocketAddr>) -> Running {
    let server = Server::bind("127.0.0.1:0".parse().expect("addr"), 2)
        .await
        .expect("bind");
    let addr = server.local_addr();
    let config = DnsConfig {
        node_name: "test-node".into(),
        address: IpAddr::V4(Ipv4Addr::LOCALHOST),
        port: addr.port(),
        cluster_domain: "cluster.local".into(),
        upstreams,
    };
    let task = tokio::spawn(async move {
        if let Err(e) = rkube_dns::run_on(client, config, server).await {
            panic!("the DNS server stopped: {e}");
        }
    });
    Running { addr, task }
}

async fn create_service(client: &kube::Client, ns: &str, v: serde_json::Value) -> Service {
    let api: Api<Service> = Api::namespaced(client.clone(), ns);
    api.create(
        &PostParams::default(),
        &serde_json::from_value(v).expect("svc"),
    )
    .await
    .expect("create service")
}

async fn create_slice(client: &kube::Client, ns: &str, v: serde_json::Value) {
    let api: Api<EndpointSlice> = Api::namespaced(client.clone(), ns);
    api.create(
        &PostParams::default(),
        &serde_json::from_value(v).expect("slice"),
    )
    .await
    .expect("create slice");
}

/// Ask until `check` holds (the watch is asynchronous).
async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_and_endpoints_from_the_api_answer_over_udp_and_tcp() {
    let client = api_client().await;
    let upstream = FakeUpstream::start().await;
    let dns = start(client.clone(), vec![upstream.addr]).await;

    let web = create_service(
        &client,
        "default",
        json!({"metadata": {"name": "web"},
               "spec": {"ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}}),
    )
    .await;
    let web_ip: Ipv4Addr = web
        .spec
        .and_then(|s| s.cluster_ip)
        .expect("a cluster IP")
        .parse()
        .expect("ip");
    create_service(
        &client,
        "default",
        json!({"metadata": {"name": "db"}, "spec": {"clusterIP": "None",
               "ports": [{"name": "pg", "port": 5432}]}}),
    )
    .await;
    create_slice(
        &client,
        "default",
        json!({"metadata": {"name": "db-1", "labels": {"kubernetes.io/service-name": "db"}},
               "addressType": "IPv4",
               "endpoints": [
                   {"addresses": ["10.244.9.5"], "hostname": "db-0", "conditions": {"ready": true}},
                   {"addresses": ["10.244.9.6"], "hostname": "db-1", "conditions": {"ready": false}}],
               "ports": [{"name": "pg", "port": 5432, "protocol": "TCP"}]}),
    )
    .await;

    eventually("web resolves over UDP", async || {
        a_records(
            &udp(
                dns.addr,
                &query("web.default.svc.cluster.local.", RecordType::A, false),
            )
            .await,
        ) == vec![web_ip]
    })
    .await;
    let m = tcp(
        dns.addr,
        &query("WEB.default.svc.cluster.local.", RecordType::A, false),
    )
    .await;
    assert_eq!(a_records(&m), vec![web_ip], "over TCP, any case");
    assert_eq!(m.answers()[0].ttl(), 5);

    eventually(
        "the headless service's ready endpoint resolves",
        async || {
            a_records(
                &udp(
                    dns.addr,
                    &query("db.default.svc.cluster.local.", RecordType::A, true),
                )
                .await,
            ) == vec![Ipv4Addr::new(10, 244, 9, 5)]
        },
    )
    .await;
    let m = udp(
        dns.addr,
        &query("db-0.db.default.svc.cluster.local.", RecordType::A, false),
    )
    .await;
    assert_eq!(a_records(&m), vec![Ipv4Addr::new(10, 244, 9, 5)]);
    let m = udp(
        dns.addr,
        &query(
            "_pg._tcp.db.default.svc.cluster.local.",
            RecordType::SRV,
            false,
        ),
    )
    .await;
    assert_eq!(m.answers().len(), 1);

    // NXDOMAIN and NODATA, as CoreDNS.
    let m = udp(
        dns.addr,
        &query("nope.default.svc.cluster.local.", RecordType::A, false),
    )
    .await;
    assert_eq!(m.response_code(), ResponseCode::NXDomain);
    let m = udp(
        dns.addr,
        &query("web.default.svc.cluster.local.", RecordType::AAAA, false),
    )
    .await;
    assert_eq!(m.response_code(), ResponseCode::NoError);
    assert!(m.answers().is_empty() && !m.name_servers().is_empty());

    // A Service deleted goes from DNS.
    Api::<Service>::namespaced(client.clone(), "default")
        .delete("web", &DeleteParams::default())
        .await
        .expect("delete");
    eventually("a deleted service answers NXDOMAIN", async || {
        udp(
            dns.addr,
            &query("web.default.svc.cluster.local.", RecordType::A, false),
        )
        .await
        .response_code()
            == ResponseCode::NXDomain
    })
    .await;

    // In-cluster names never reached the upstream.
    assert!(
        upstream
            .asked
            .all()
            .iter()
            .all(|n| !n.contains("cluster.local")),
        "{:?}",
        upstream.asked.all()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_registers_its_kube_dns_endpoint_and_puts_it_back() {
    let client = api_client().await;
    let dns = start(client.clone(), vec![]).await;
    let api: Api<EndpointSlice> = Api::namespaced(client.clone(), "kube-system");
    let mut slice = None;
    for _ in 0..100 {
        slice = api.get_opt("kube-dns-test-node").await.expect("get");
        if slice.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let slice = slice.expect("the node's kube-dns EndpointSlice");
    let labels = slice.metadata.labels.clone().unwrap_or_default();
    assert_eq!(
        labels.get("kubernetes.io/service-name").map(String::as_str),
        Some("kube-dns")
    );
    assert_eq!(
        labels
            .get("endpointslice.kubernetes.io/managed-by")
            .map(String::as_str),
        Some("rkube-dns")
    );
    let ep = &slice.endpoints.as_ref().expect("endpoints")[0];
    assert_eq!(ep.addresses, vec!["127.0.0.1".to_string()]);
    assert_eq!(ep.node_name.as_deref(), Some("test-node"));
    let ports: Vec<(String, i32, String)> = slice
        .ports
        .iter()
        .flatten()
        .map(|p| {
            (
                p.name.clone().unwrap_or_default(),
                p.port.unwrap_or_default(),
                p.protocol.clone().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        ports,
        vec![
            ("dns".into(), dns.addr.port() as i32, "UDP".into()),
            ("dns-tcp".into(), dns.addr.port() as i32, "TCP".into()),
            ("metrics".into(), 9153, "TCP".into()),
        ]
    );
    api.delete("kube-dns-test-node", &DeleteParams::default())
        .await
        .expect("delete");
    let mut back = false;
    for _ in 0..150 {
        if api
            .get_opt("kube-dns-test-node")
            .await
            .expect("get")
            .is_some()
        {
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(back, "the deleted EndpointSlice came back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_names_are_forwarded_tcp_on_truncation_servfail_without_upstream() {
    let client = api_client().await;
    let upstream = FakeUpstream::start().await;
    let dns = start(client.clone(), vec![upstream.addr]).await;

    let m = udp(dns.addr, &query("www.example.test.", RecordType::A, false)).await;
    assert_eq!(a_records(&m), vec![Ipv4Addr::new(192, 0, 2, 53)]);
    let m = tcp(dns.addr, &query("nxdomain.test.", RecordType::A, false)).await;
    assert_eq!(m.response_code(), ResponseCode::NXDomain);

    // The upstream truncates big.test over UDP: the server asks again
    // over TCP, and hands the whole answer to a TCP client, a truncated
    // one to a UDP client without EDNS0.
    let before = UPSTREAM_TCP_QUERIES.load(Ordering::SeqCst);
    let m = tcp(dns.addr, &query("big.test.", RecordType::A, false)).await;
    assert_eq!(m.answers().len(), 40);
    assert!(UPSTREAM_TCP_QUERIES.load(Ordering::SeqCst) > before);
    let m = udp(dns.addr, &query("big.test.", RecordType::A, false)).await;
    assert!(m.truncated());
    let m = udp(dns.addr, &query("big.test.", RecordType::A, true)).await;
    assert!(!m.truncated());
    assert_eq!(m.answers().len(), 40);

    // Search-path expansions of outside names stay here (once the server
    // has listed the cluster: until then it answers SERVFAIL, as CoreDNS
    // does before its kubernetes plugin has synced).
    let expansion = query(
        "www.example.test.default.svc.cluster.local.",
        RecordType::A,
        false,
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let m = loop {
        let m = udp(dns.addr, &expansion).await;
        if m.response_code() != ResponseCode::ServFail || std::time::Instant::now() > deadline {
            break m;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(m.response_code(), ResponseCode::NXDomain);
    assert!(upstream
        .asked
        .all()
        .iter()
        .all(|n| !n.contains("cluster.local")));

    // An ExternalName Service: the CNAME, and its target's address from
    // the upstream.
    create_service(
        &client,
        "default",
        json!({"metadata": {"name": "ext"},
               "spec": {"type": "ExternalName", "externalName": "db.example.test"}}),
    )
    .await;
    eventually(
        "the ExternalName answers its CNAME and the target's address",
        async || {
            let m = udp(
                dns.addr,
                &query("ext.default.svc.cluster.local.", RecordType::A, false),
            )
            .await;
            m.answers().first().map(|r| r.record_type()) == Some(RecordType::CNAME)
                && a_records(&m) == vec![Ipv4Addr::new(192, 0, 2, 53)]
        },
    )
    .await;

    // No upstream that answers: SERVFAIL.
    let dead = {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        s.local_addr().expect("addr")
    };
    let lonely = start(client.clone(), vec![dead]).await;
    let m = udp(
        lonely.addr,
        &query("www.example.test.", RecordType::A, false),
    )
    .await;
    assert_eq!(m.response_code(), ResponseCode::ServFail);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_cluster_answers_truncate_over_udp_without_edns() {
    let client = api_client().await;
    let dns = start(client.clone(), vec![]).await;
    create_service(
        &client,
        "default",
        json!({"metadata": {"name": "many"}, "spec": {"clusterIP": "None"}}),
    )
    .await;
    let endpoints: Vec<serde_json::Value> = (1..=60)
        .map(|i| json!({"addresses": [format!("10.244.8.{i}")], "conditions": {"ready": true}}))
        .collect();
    create_slice(
        &client,
        "default",
        json!({"metadata": {"name": "many-1", "labels": {"kubernetes.io/service-name": "many"}},
               "addressType": "IPv4", "endpoints": endpoints}),
    )
    .await;
    eventually("all 60 endpoints answer over TCP", async || {
        tcp(
            dns.addr,
            &query("many.default.svc.cluster.local.", RecordType::A, false),
        )
        .await
        .answers()
        .len()
            == 60
    })
    .await;
    let m = udp(
        dns.addr,
        &query("many.default.svc.cluster.local.", RecordType::A, false),
    )
    .await;
    assert!(m.truncated(), "over 512 bytes without EDNS0: TC");
    assert!(m.answers().is_empty());
    let m = udp(
        dns.addr,
        &query("many.default.svc.cluster.local.", RecordType::A, true),
    )
    .await;
    assert!(!m.truncated());
    assert_eq!(m.answers().len(), 60);
}
