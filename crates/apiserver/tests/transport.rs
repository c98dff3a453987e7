//! The TLS transport and identity layer, driven by a raw rustls + hyper
//! client: who gets in, over which HTTP, and how the server stops.

mod common;

use std::time::{Duration, Instant};

use axum::http::{header, StatusCode, Version};
use common::{Alpn, TestServer, UNAUTHORIZED_BODY};
use rkube_apiserver::pki::Issued;
use rkube_apiserver::version::GIT_VERSION;
use rkube_apiserver::ServeOptions;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test]
async fn anonymous_clients_reach_only_public_info() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(dir.path()).await;
    let client = server.client();

    let version = client.get("/version").await.expect("/version");
    assert_eq!(version.status, StatusCode::OK);
    let info: serde_json::Value = serde_json::from_str(&version.body).expect("json");
    assert_eq!(info["gitVersion"], GIT_VERSION);
    assert_eq!(
        client.get("/healthz").await.expect("/healthz").status,
        StatusCode::OK
    );

    for path in ["/api", "/whoami", "/no/such/path"] {
        let reply = client.get(path).await.expect(path);
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(reply.body, UNAUTHORIZED_BODY, "{path}");
        assert_eq!(
            reply.headers[header::CONTENT_TYPE],
            "application/json",
            "{path}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn bearer_tokens_from_the_token_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A second, ordinary user next to the generated admin token.
    let first = TestServer::start(dir.path()).await;
    first.stop().await;
    let tokens_path = dir.path().join("pki/tokens.csv");
    let mut tokens = std::fs::read_to_string(&tokens_path).expect("tokens.csv");
    let admin_token = tokens.split(',').next().expect("token").to_owned();
    tokens.push_str("bob-token,bob,u-bob,\"dev,ops\"\n");
    std::fs::write(&tokens_path, tokens).expect("write tokens");

    let server = TestServer::start(dir.path()).await;
    assert_eq!(server.prepared.admin_token(), Some(admin_token.as_str()));
    let admin = server.client().token(&admin_token);
    let reply = admin.get("/api").await.expect("/api");
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let whoami: serde_json::Value =
        serde_json::from_str(&admin.get("/whoami").await.expect("whoami").body).expect("json");
    assert_eq!(whoami["name"], "kubernetes-admin");
    assert_eq!(
        whoami["groups"],
        serde_json::json!(["system:masters", "system:authenticated"])
    );

    let bob = server.client().token("bob-token");
    assert_eq!(bob.get("/api").await.expect("/api").status, StatusCode::OK);
    let reply = bob
        .get("/api/v1/namespaces/default/pods/p")
        .await
        .expect("pods");
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    let status: serde_json::Value = serde_json::from_str(&reply.body).expect("json");
    assert_eq!(status["reason"], "Forbidden");
    assert_eq!(status["code"], 403);
    assert_eq!(
        status["message"],
        r#"pods "p" is forbidden: User "bob" cannot get resource "pods" in API group "" in the namespace "default""#
    );
    assert_eq!(status["details"]["kind"], "pods");

    // An unknown token is refused everywhere, public paths included.
    let stranger = server.client().token("nope");
    for path in ["/api", "/version"] {
        let reply = stranger.get(path).await.expect(path);
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(reply.body, UNAUTHORIZED_BODY);
    }
    server.stop().await;
}

#[tokio::test]
async fn client_certificates_name_the_user() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(dir.path()).await;
    let admin = &server.prepared.pki.admin;
    let client = server.client().cert(&admin.cert_pem, &admin.key_pem);
    let reply = client.get("/whoami").await.expect("whoami");
    assert_eq!(reply.status, StatusCode::OK);
    let whoami: serde_json::Value = serde_json::from_str(&reply.body).expect("json");
    assert_eq!(whoami["name"], "kubernetes-admin");
    assert_eq!(
        whoami["groups"],
        serde_json::json!(["system:masters", "system:authenticated"])
    );
    // The certificate wins over a bogus token.
    let reply = client
        .clone()
        .token("bogus")
        .get("/api")
        .await
        .expect("api");
    assert_eq!(reply.status, StatusCode::OK);

    // A certificate from another CA fails the handshake; the server goes on.
    let other = tempfile::tempdir().expect("tempdir");
    let foreign = rkube_apiserver::pki::Pki::load_or_create(
        rkube_apiserver::pki::PkiPaths::new(other.path()),
        &[],
    )
    .expect("foreign pki");
    let stranger = server
        .client()
        .cert(&foreign.admin.cert_pem, &foreign.admin.key_pem);
    let refused = stranger.get("/whoami").await;
    assert!(refused.is_err(), "{refused:?}");
    assert_eq!(
        client.get("/api").await.expect("api").status,
        StatusCode::OK
    );
    server.stop().await;
}

#[tokio::test]
async fn http2_and_http1_on_one_port() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(dir.path()).await;
    let admin = &server.prepared.pki.admin;
    for (alpn, want) in [
        (Alpn::H2, Version::HTTP_2),
        (Alpn::Http1, Version::HTTP_11),
        (Alpn::None, Version::HTTP_11),
    ] {
        let client = server
            .client()
            .cert(&admin.cert_pem, &admin.key_pem)
            .alpn(alpn);
        let reply = client.get("/api").await.expect("api");
        assert_eq!(reply.status, StatusCode::OK, "{alpn:?}");
        assert_eq!(reply.version, want, "{alpn:?}");
        let reply = server.client().alpn(alpn).get("/api").await.expect("api");
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{alpn:?}");
        assert_eq!(reply.body, UNAUTHORIZED_BODY);
    }
    let tls = server.client().alpn(Alpn::H2).connect().await.expect("tls");
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    // The server names: IPs and DNS names clients use.
    for name in ["127.0.0.1", "localhost", "kubernetes.default.svc"] {
        let reply = server.client().server_name(name).get("/version").await;
        assert_eq!(reply.expect(name).status, StatusCode::OK, "{name}");
    }
    let seen = server.seen.lock().expect("seen").clone();
    assert!(seen.contains(&Version::HTTP_2) && seen.contains(&Version::HTTP_11));
    server.stop().await;
}

#[tokio::test]
async fn bad_and_stalled_handshakes_are_dropped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = ServeOptions {
        handshake_timeout: Duration::from_millis(300),
        ..ServeOptions::default()
    };
    let server = TestServer::start_with(dir.path(), options).await;

    // Plain HTTP on the TLS port, and noise.
    for junk in [
        &b"GET /version HTTP/1.1\r\nHost: x\r\n\r\n"[..],
        &[0x16, 0x03, 0x01, 0xff, 0xff, 0x01, 0x02][..],
        &[0u8; 1024][..],
    ] {
        let mut tcp = TcpStream::connect(server.addr).await.expect("connect");
        let _ = tcp.write_all(junk).await;
        let mut buf = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut buf)).await;
        assert!(read.is_ok(), "the server closes a connection it cannot use");
    }

    // A client that never speaks is closed after the handshake timeout.
    let mut silent = TcpStream::connect(server.addr).await.expect("connect");
    let started = Instant::now();
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(5), silent.read(&mut buf))
        .await
        .expect("closed in time");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    assert!(started.elapsed() >= Duration::from_millis(250));

    let reply = server
        .client()
        .get("/version")
        .await
        .expect("still serving");
    assert_eq!(reply.status, StatusCode::OK);
    server.stop().await;
}

#[tokio::test]
async fn shutdown_lets_requests_in_flight_finish() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut server = TestServer::start(dir.path()).await;
    let admin = server.prepared.pki.admin.clone();
    let slow_h1 = server.client().cert(&admin.cert_pem, &admin.key_pem);
    let slow_h2 = slow_h1.clone().alpn(Alpn::H2);
    let h1 = tokio::spawn(async move { slow_h1.get("/slow").await });
    let h2 = tokio::spawn(async move { slow_h2.get("/slow").await });
    tokio::time::sleep(Duration::from_millis(150)).await;
    let client = server.client();
    let task = server.take_task();
    server.begin_stop();

    for (name, request) in [("h1", h1), ("h2", h2)] {
        let reply = request.await.expect("join").expect(name);
        assert_eq!(reply.status, StatusCode::OK, "{name}");
        assert_eq!(reply.body, "slow", "{name}");
    }
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("serve returned")
        .expect("serve task");
    assert!(client.get("/version").await.is_err(), "no longer accepting");
}

#[tokio::test]
async fn shutdown_closes_what_outlives_the_grace_period() {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = ServeOptions {
        grace_period: Duration::from_millis(300),
        ..ServeOptions::default()
    };
    let mut server = TestServer::start_with(dir.path(), options).await;
    let admin = server.prepared.pki.admin.clone();
    let client = server.client().cert(&admin.cert_pem, &admin.key_pem);
    let hanging = tokio::spawn(async move { client.get("/hang").await });
    tokio::time::sleep(Duration::from_millis(150)).await;
    let task = server.take_task();
    let started = Instant::now();
    server.begin_stop();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("serve returned")
        .expect("serve task");
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(250), "{took:?}");
    let outcome = tokio::time::timeout(Duration::from_secs(5), hanging)
        .await
        .expect("the client saw the close")
        .expect("join");
    assert!(outcome.is_err(), "{outcome:?}");
}

#[tokio::test]
async fn restart_reuses_the_ca_and_credentials() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = TestServer::start(dir.path()).await;
    let issued = first.prepared.pki.issued;
    assert_eq!(
        issued,
        Issued {
            ca: true,
            serving: true,
            admin: true
        }
    );
    let ca = first.prepared.pki.ca_cert_pem.clone();
    let admin = first.prepared.pki.admin.clone();
    let token = first.prepared.admin_token().expect("token").to_owned();
    let kubeconfig_before =
        std::fs::read_to_string(dir.path().join("kubeconfig")).expect("kubeconfig");
    first.stop().await;

    let second = TestServer::start(dir.path()).await;
    assert_eq!(second.prepared.pki.issued, Issued::default());
    assert_eq!(second.prepared.pki.ca_cert_pem, ca);
    assert_eq!(second.prepared.admin_token(), Some(token.as_str()));
    // Old credentials work against the restarted server.
    let client = common::Client::new(&ca, second.addr).cert(&admin.cert_pem, &admin.key_pem);
    assert_eq!(
        client.get("/api").await.expect("api").status,
        StatusCode::OK
    );
    let client = common::Client::new(&ca, second.addr).token(&token);
    assert_eq!(
        client.get("/api").await.expect("api").status,
        StatusCode::OK
    );
    // The kubeconfig keeps its credentials and follows the new port.
    let kubeconfig_after =
        std::fs::read_to_string(dir.path().join("kubeconfig")).expect("kubeconfig");
    let credentials = |text: &str| {
        text.lines()
            .filter(|l| l.contains("-data:"))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        credentials(&kubeconfig_before),
        credentials(&kubeconfig_after)
    );
    assert!(kubeconfig_after.contains(&format!("server: \"https://{}\"", second.addr)));
    second.stop().await;
}

#[tokio::test]
async fn files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(dir.path()).await;
    for (file, want) in [
        ("kubeconfig", 0o600),
        ("pki/tokens.csv", 0o600),
        ("pki/ca.key", 0o600),
        ("pki/apiserver.key", 0o600),
        ("pki/admin.key", 0o600),
        ("pki/ca.crt", 0o644),
    ] {
        let mode = std::fs::metadata(dir.path().join(file))
            .expect(file)
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, want, "{file}");
    }
    server.stop().await;
}
