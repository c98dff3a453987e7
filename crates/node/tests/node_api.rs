//! The node's API over real HTTPS on 127.0.0.1 with a fake runtime:
//! container logs with every option (follow across a rotation, previous,
//! limitBytes on a huge line), client certificates, the summary and the
//! metrics endpoints, and the port fallback.

#[path = "node_api/fixture.rs"]
mod fixture;

use std::time::{Duration, SystemTime};

use fixture::{cri, Node};
use http_body_util::BodyExt;
use hyper::StatusCode;
use rkube_cri::{ContainerState, ContainerStats, PodSandboxStats};

const POD: (&str, &str, &str) = ("shop", "web-0", "u1");

/// A pod with container `app` (instances 0 exited and 1 running) whose
/// logs are under the node's directory.
fn pod_with_logs(node: &Node, first: &str, second: &str) -> (String, String) {
    let dir = node.path("pods/shop_web-0_u1/app");
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("0.log"), first).expect("write");
    std::fs::write(dir.join("1.log"), second).expect("write");
    let sb = node.runtime.add_pod(POD.0, POD.1, POD.2);
    let old = node.runtime.add_container(
        &sb,
        POD,
        "app",
        0,
        ContainerState::Exited,
        &dir.join("0.log"),
    );
    let new = node.runtime.add_container(
        &sb,
        POD,
        "app",
        1,
        ContainerState::Running,
        &dir.join("1.log"),
    );
    (old, new)
}

const T1: &str = "2026-12-07T10:00:00.100000000Z";
const T2: &str = "2026-12-07T10:00:01.000000000Z";
const T3: &str = "2026-12-07T10:00:02.250000000Z";

fn current_log() -> String {
    [
        cri(T1, "stdout", "F", "one"),
        cri(T1, "stderr", "F", "err one"),
        cri(T2, "stdout", "P", "two-"),
        cri(T2, "stdout", "P", "and-"),
        cri(T2, "stdout", "F", "more"),
        "garbage that is not a CRI line\n".to_string(),
        cri(T3, "stdout", "F", "three"),
        cri(T3, "stderr", "F", ""),
    ]
    .concat()
}

#[tokio::test]
async fn logs_answer_every_option() {
    let node = Node::start().await;
    pod_with_logs(
        &node,
        &cri(T1, "stdout", "F", "previous run"),
        &current_log(),
    );
    let base = "/containerLogs/shop/web-0/app";
    let get = |q: &str| {
        let path = format!("{base}{q}");
        let node = &node;
        async move { node.get_text(&path).await }
    };

    let (status, text) = get("").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(text, "one\nerr one\ntwo-and-more\nthree\n\n");

    let (_, text) = get("?timestamps=true").await;
    assert_eq!(
        text,
        "2026-12-07T10:00:00.1Z one\n2026-12-07T10:00:00.1Z err one\n\
         2026-12-07T10:00:01Z two-and-more\n2026-12-07T10:00:02.25Z three\n\
         2026-12-07T10:00:02.25Z \n"
    );

    let (_, text) = get("?tailLines=3").await;
    assert_eq!(text, "two-and-more\nthree\n\n");
    let (_, text) = get("?tailLines=0").await;
    assert_eq!(text, "");
    let (_, text) = get("?tailLines=100").await;
    assert_eq!(text, "one\nerr one\ntwo-and-more\nthree\n\n");

    let (_, text) = get("?sinceTime=2026-12-07T10:00:01Z").await;
    assert_eq!(text, "two-and-more\nthree\n\n");
    let (_, text) = get("?sinceTime=2026-12-07T11:00:01%2B01:00").await;
    assert_eq!(text, "two-and-more\nthree\n\n");
    // These lines are old: nothing in the last minute.
    let (_, text) = get("?sinceSeconds=60").await;
    assert_eq!(text, "");

    let (_, text) = get("?limitBytes=6").await;
    assert_eq!(text, "one\ner");
    let (_, text) = get("?stream=Stderr").await;
    assert_eq!(text, "err one\n\n");
    let (_, text) = get("?stream=Stdout&timestamps=1&limitBytes=30").await;
    assert_eq!(text, "2026-12-07T10:00:00.1Z one\n202");

    let (status, text) = get("?previous=true").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(text, "previous run\n");

    // Bad options: 400 with the kubelet's words.
    for (q, words) in [
        ("?tailLines=-1", "must be greater than or equal to 0"),
        ("?limitBytes=0", "must be greater than 0"),
        ("?sinceTime=yesterday", "sinceTime"),
        (
            "?sinceSeconds=5&sinceTime=2026-12-07T10:00:01Z",
            "at most one of",
        ),
    ] {
        let (status, text) = get(q).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{q}: {text}");
        assert!(text.contains(words), "{q}: {text}");
        assert!(text.contains("\"kind\":\"Status\""), "{text}");
    }

    // A pod that is not here, a container without a previous instance.
    let (status, text) = node.get_text("/containerLogs/shop/nope/app").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{text}");
    node.runtime
        .with(|f| f.containers.retain(|c| c.attempt == 1));
    let (status, text) = get("?previous=true").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        text.contains(r#"previous terminated container \"app\" in pod \"web-0\" not found"#),
        "{text}"
    );
}

#[tokio::test]
async fn rotated_files_are_read_in_order() {
    let node = Node::start().await;
    pod_with_logs(&node, "", &cri(T3, "stdout", "F", "live"));
    let dir = node.path("pods/shop_web-0_u1/app");
    std::fs::write(
        dir.join("1.log.20261207-100000"),
        cri(T1, "stdout", "F", "oldest"),
    )
    .expect("write");
    std::fs::write(
        dir.join("1.log.20261207-100001"),
        cri(T2, "stdout", "F", "older"),
    )
    .expect("write");
    let (_, text) = node.get_text("/containerLogs/shop/web-0/app").await;
    assert_eq!(text, "oldest\nolder\nlive\n");
    let (_, text) = node
        .get_text("/containerLogs/shop/web-0/app?tailLines=2")
        .await;
    assert_eq!(text, "older\nlive\n");
}

/// Read the body until `want` has been seen (or time runs out).
async fn read_until(body: &mut hyper::body::Incoming, got: &mut String, want: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !got.contains(want) {
        let frame = tokio::time::timeout_at(deadline, body.frame())
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for {want:?}; got {got:?}"))
            .expect("body open")
            .expect("frame");
        if let Ok(data) = frame.into_data() {
            got.push_str(&String::from_utf8_lossy(&data));
        }
    }
}

fn append(path: &std::path::Path, text: &str) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .expect("open");
    f.write_all(text.as_bytes()).expect("append");
}

#[tokio::test]
async fn follow_survives_rotation_and_ends_with_the_container() {
    let node = Node::start().await;
    let (_, running) = pod_with_logs(&node, "", &cri(T1, "stdout", "F", "first"));
    let live = node.path("pods/shop_web-0_u1/app/1.log");
    let (status, _, mut body) = node.get("/containerLogs/shop/web-0/app?follow=true").await;
    assert_eq!(status, StatusCode::OK);
    let mut got = String::new();
    read_until(&mut body, &mut got, "first\n").await;

    append(&live, &cri(T2, "stdout", "F", "second"));
    read_until(&mut body, &mut got, "second\n").await;

    // Half a line now, the rest later: it comes out whole.
    append(&live, &T2[..10]);
    tokio::time::sleep(Duration::from_millis(250)).await;
    append(&live, &cri(T2, "stdout", "F", "third")[10..]);
    // The shim rotates: written to the old file just before, then a new
    // one.
    append(&live, &cri(T2, "stdout", "F", "last before rotation"));
    std::fs::rename(
        &live,
        node.path("pods/shop_web-0_u1/app/1.log.20261207-100002"),
    )
    .expect("rotate");
    append(&live, &cri(T3, "stderr", "F", "after rotation"));
    read_until(&mut body, &mut got, "after rotation\n").await;

    node.runtime.set_state(&running, ContainerState::Exited);
    append(&live, &cri(T3, "stdout", "F", "dying words"));
    let rest = tokio::time::timeout(Duration::from_secs(10), body.collect())
        .await
        .expect("the stream ends once the container has exited")
        .expect("body")
        .to_bytes();
    got.push_str(&String::from_utf8_lossy(&rest));
    assert_eq!(
        got,
        "first\nsecond\nthird\nlast before rotation\nafter rotation\ndying words\n"
    );
}

#[tokio::test]
async fn a_huge_line_streams_and_limit_bytes_cuts_it() {
    let node = Node::start().await;
    let (_, _) = pod_with_logs(&node, "", "");
    let live = node.path("pods/shop_web-0_u1/app/1.log");
    // 100 MiB in one line: as the shim writes it, 16 KiB pieces, and one
    // more entry of 4 MiB that nobody split.
    {
        use std::io::Write;
        let mut f = std::io::BufWriter::new(std::fs::File::create(&live).expect("create"));
        let piece = "x".repeat(16 * 1024);
        for _ in 0..(96 * 64) {
            writeln!(f, "{T1} stdout P {piece}").expect("write");
        }
        writeln!(f, "{T1} stdout F {}", "y".repeat(4 * 1024 * 1024)).expect("write");
        writeln!(f, "{T2} stdout F end").expect("write");
    }
    let (status, headers, mut body) = node.get("/containerLogs/shop/web-0/app").await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers.get("content-length").is_none(), "{headers:?}");
    let (mut total, mut largest, mut frames) = (0usize, 0usize, 0usize);
    let mut tail = Vec::new();
    while let Some(frame) = body.frame().await {
        let data = frame.expect("frame").into_data().expect("data");
        total += data.len();
        largest = largest.max(data.len());
        frames += 1;
        tail.extend_from_slice(&data);
        let keep = tail.len().saturating_sub(16);
        tail.drain(..keep);
    }
    assert_eq!(total, 100 * 1024 * 1024 + 1 + 4);
    assert!(tail.ends_with(b"y\nend\n"));
    assert!(
        largest <= 256 * 1024 && frames > 100,
        "streamed in pieces: {frames} frames, largest {largest}"
    );

    let (_, text) = node
        .get_text("/containerLogs/shop/web-0/app?limitBytes=1000000")
        .await;
    assert_eq!(text.len(), 1_000_000);
    assert!(text.bytes().all(|b| b == b'x'));
}

#[tokio::test]
async fn only_clients_of_the_cluster_ca_are_served() {
    let node = Node::start().await;
    let (status, _, body) = node.get_as("/healthz", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let text = body.collect().await.expect("body").to_bytes();
    assert_eq!(&text[..], b"Unauthorized\n");

    let stranger = fixture::Ca::new().client();
    let (status, _, _) = node.get_as("/stats/summary", Some(&stranger)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // A bearer token is not enough (no TokenReview yet).
    let (status, _) = node.get_text("/healthz").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_taken_port_moves_the_node_to_the_next() {
    let held = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let taken = held.local_addr().expect("addr").port();
    let node = Node::start_on(taken).await;
    assert!(node.port > taken, "{} after {taken}", node.port);
    let (status, _) = node.get_text("/healthz").await;
    assert_eq!(status, StatusCode::OK);
}

fn stats_fixture(node: &Node, at: SystemTime, cpu_ns: u64) -> String {
    let id = node.runtime.with(|f| {
        f.containers
            .iter()
            .find(|c| c.state == ContainerState::Running)
            .map(|c| c.id.clone())
            .expect("running container")
    });
    node.runtime.with(|f| {
        f.stats = vec![ContainerStats {
            container_id: id.clone(),
            timestamp: at,
            cpu_usage_core_nanoseconds: cpu_ns,
            memory_working_set_bytes: 16_000_000,
            memory_usage_bytes: 20_000_000,
            memory_rss_bytes: 12_000_000,
            writable_layer_bytes: Some(4096),
        }];
        f.sandbox_stats = vec![PodSandboxStats {
            sandbox_id: "sb-u1".into(),
            timestamp: at,
            cpu_usage_core_nanoseconds: cpu_ns + 1_000_000,
            memory_working_set_bytes: 17_000_000,
            memory_usage_bytes: 21_000_000,
            memory_rss_bytes: 13_000_000,
            network_rx_bytes: 1000,
            network_tx_bytes: 2000,
        }];
    });
    id
}

#[tokio::test]
async fn summary_and_metrics_report_usage() {
    let node = Node::start().await;
    pod_with_logs(&node, "", &cri(T1, "stdout", "F", "hello"));
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    stats_fixture(&node, t0, 2_000_000_000);

    let (status, text) = node.get_text("/stats/summary").await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let s: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert_eq!(s["node"]["nodeName"], "test-node");
    assert!(s["node"]["cpu"]["usageCoreNanoSeconds"]
        .as_u64()
        .is_some_and(|v| v > 0));
    for field in [
        "workingSetBytes",
        "usageBytes",
        "rssBytes",
        "availableBytes",
    ] {
        assert!(
            s["node"]["memory"][field].as_u64().is_some_and(|v| v > 0),
            "{field}"
        );
    }
    assert!(s["node"]["fs"]["capacityBytes"]
        .as_u64()
        .is_some_and(|v| v > 0));
    let pod = &s["pods"][0];
    assert_eq!(
        pod["podRef"],
        serde_json::json!({"name": "web-0", "namespace": "shop", "uid": "u1"})
    );
    let c = &pod["containers"][0];
    assert_eq!(c["name"], "app");
    assert_eq!(c["cpu"]["usageCoreNanoSeconds"], 2_000_000_000u64);
    assert!(
        c["cpu"].get("usageNanoCores").is_none(),
        "one sample: no rate yet"
    );
    assert_eq!(c["memory"]["workingSetBytes"], 16_000_000);
    assert_eq!(c["memory"]["usageBytes"], 20_000_000);
    assert_eq!(c["memory"]["rssBytes"], 12_000_000);
    assert_eq!(c["cpu"]["time"], "2027-01-15T08:00:00Z");
    assert_eq!(c["rootfs"]["usedBytes"], 4096);
    assert!(c["logs"]["usedBytes"].as_u64().is_some_and(|v| v > 0));
    assert_eq!(pod["memory"]["workingSetBytes"], 17_000_000);
    assert_eq!(pod["network"]["rxBytes"], 1000);
    assert_eq!(pod["network"]["txBytes"], 2000);

    // A second sample two seconds later with one CPU-second more: half a
    // core.
    stats_fixture(&node, t0 + Duration::from_secs(2), 3_000_000_000);
    let (_, text) = node.get_text("/stats/summary").await;
    let s: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert_eq!(
        s["pods"][0]["containers"][0]["cpu"]["usageNanoCores"],
        500_000_000u64
    );
    assert_eq!(s["pods"][0]["cpu"]["usageNanoCores"], 500_000_000u64);
    assert!(s["node"]["cpu"]["usageNanoCores"].as_u64().is_some());

    let (status, text) = node.get_text("/metrics/resource").await;
    assert_eq!(status, StatusCode::OK);
    let ms = 1_800_000_002_000u64;
    for line in [
        "# HELP container_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the container in core-seconds".to_string(),
        "# TYPE container_cpu_usage_seconds_total counter".to_string(),
        format!("container_cpu_usage_seconds_total{{container=\"app\",namespace=\"shop\",pod=\"web-0\"}} 3 {ms}"),
        format!("container_memory_working_set_bytes{{container=\"app\",namespace=\"shop\",pod=\"web-0\"}} 1.6e+07 {ms}"),
        "container_start_time_seconds{container=\"app\",namespace=\"shop\",pod=\"web-0\"} 1.7000000015e+09".to_string(),
        format!("pod_cpu_usage_seconds_total{{namespace=\"shop\",pod=\"web-0\"}} 3.001 {ms}"),
        format!("pod_memory_working_set_bytes{{namespace=\"shop\",pod=\"web-0\"}} 1.7e+07 {ms}"),
        "scrape_error 0".to_string(),
        "resource_scrape_error 0".to_string(),
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
    }
    assert!(
        text.lines()
            .any(|l| l.starts_with("node_cpu_usage_seconds_total ")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("node_memory_working_set_bytes ")),
        "{text}"
    );

    let (status, text) = node.get_text("/metrics/cadvisor").await;
    assert_eq!(status, StatusCode::OK);
    let id = node.runtime.with(|f| f.stats[0].container_id.clone());
    let cpu_labels = format!(
        "container=\"app\",cpu=\"total\",id=\"/kubepods/podu1/{id}\",image=\"docker.io/library/busybox:latest\",name=\"{id}\",namespace=\"shop\",pod=\"web-0\""
    );
    let labels = format!(
        "container=\"app\",id=\"/kubepods/podu1/{id}\",image=\"docker.io/library/busybox:latest\",name=\"{id}\",namespace=\"shop\",pod=\"web-0\""
    );
    for line in [
        format!("container_cpu_usage_seconds_total{{{cpu_labels}}} 3 {ms}"),
        format!("container_memory_working_set_bytes{{{labels}}} 1.6e+07 {ms}"),
        format!("container_memory_usage_bytes{{{labels}}} 2e+07 {ms}"),
        format!("container_memory_rss{{{labels}}} 1.2e+07 {ms}"),
        format!("container_network_receive_bytes_total{{container=\"\",id=\"/kubepods/podu1\",image=\"\",interface=\"eth0\",name=\"\",namespace=\"shop\",pod=\"web-0\"}} 1000 {ms}"),
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
    }
    assert!(
        text.contains("container_network_transmit_bytes_total{"),
        "{text}"
    );
    assert!(text.contains("container_start_time_seconds{"), "{text}");
    assert!(text.contains("id=\"/\""), "the node's root cgroup: {text}");

    let pod: k8s_openapi::api::core::v1::Pod = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "web-0", "namespace": "shop", "uid": "u-probes"}
    }))
    .expect("pod");
    rkube_node::server::stats::probes::record("Readiness", true, "app", &pod);
    rkube_node::server::stats::probes::record("Readiness", true, "app", &pod);
    rkube_node::server::stats::probes::record("Liveness", false, "app", &pod);
    let (_, text) = node.get_text("/metrics/probes").await;
    for line in [
        "# TYPE prober_probe_total counter",
        "prober_probe_total{container=\"app\",namespace=\"shop\",pod=\"web-0\",pod_uid=\"u-probes\",probe_type=\"Readiness\",result=\"successful\"} 2",
        "prober_probe_total{container=\"app\",namespace=\"shop\",pod=\"web-0\",pod_uid=\"u-probes\",probe_type=\"Liveness\",result=\"failed\"} 1",
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
    }

    let (_, text) = node.get_text("/metrics").await;
    for line in [
        "kubelet_node_name{node=\"test-node\"} 1",
        "kubelet_running_pods 1",
        "kubelet_running_containers{container_state=\"running\"} 1",
        "kubelet_running_containers{container_state=\"exited\"} 1",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
}

#[tokio::test]
async fn pods_without_sandbox_stats_sum_their_containers() {
    let node = Node::start().await;
    pod_with_logs(&node, "", "");
    stats_fixture(&node, SystemTime::now(), 1_000);
    node.runtime.with(|f| f.sandbox_stats.clear());
    let (_, text) = node.get_text("/stats/summary").await;
    let s: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert_eq!(s["pods"][0]["cpu"]["usageCoreNanoSeconds"], 1_000);
    assert_eq!(s["pods"][0]["memory"]["workingSetBytes"], 16_000_000);
}

#[tokio::test]
async fn a_failing_runtime_gives_scrape_error() {
    let node = Node::start().await;
    pod_with_logs(&node, "", "");
    node.runtime.with(|f| f.stats_fail = true);
    let (status, text) = node.get_text("/metrics/resource").await;
    assert_eq!(status, StatusCode::OK);
    assert!(text.lines().any(|l| l == "scrape_error 1"), "{text}");
    assert!(
        text.lines().any(|l| l == "resource_scrape_error 1"),
        "{text}"
    );
    assert!(
        !text.contains("container_cpu_usage_seconds_total{"),
        "{text}"
    );
    let (status, text) = node.get_text("/stats/summary").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(text.contains("cgroup unreadable"), "{text}");
}

#[tokio::test]
async fn the_nodes_own_logs_are_served_without_escaping_their_directory() {
    let node = Node::start().await;
    let root = node.path("varlog");
    std::fs::create_dir_all(root.join("pods")).expect("dir");
    std::fs::write(root.join("syslog"), "boot\nready\n").expect("write");
    std::fs::write(root.join("a b.log"), "spaced").expect("write");
    let (status, text) = node.get_text("/logs/").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        text,
        "<pre>\n<a href=\"a%20b.log\">a b.log</a>\n<a href=\"pods/\">pods/</a>\n<a href=\"syslog\">syslog</a>\n</pre>\n"
    );
    let (status, text) = node.get_text("/logs/syslog").await;
    assert_eq!((status, text.as_str()), (StatusCode::OK, "boot\nready\n"));
    let (status, _) = node.get_text("/logs/pods/").await;
    assert_eq!(status, StatusCode::OK);
    for bad in [
        "/logs/../../etc/passwd",
        "/logs/%2e%2e/%2e%2e/etc/passwd",
        "/logs/nope",
    ] {
        let (status, text) = node.get_text(bad).await;
        assert!(
            status == StatusCode::BAD_REQUEST || status == StatusCode::NOT_FOUND,
            "{bad}: {status} {text}"
        );
        assert!(!text.contains("root:"), "{bad}: {text}");
    }
}
