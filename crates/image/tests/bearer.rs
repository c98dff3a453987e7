//! The bearer-token flow registries such as Docker Hub use: a fake
//! registry on a loopback port serving an OCI layout, answering 401 with a
//! `WWW-Authenticate: Bearer` challenge whose realm hands out tokens —
//! anonymously, for basic credentials, or not at all (a token given in the
//! pull secret is used as it is).
#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;
use std::sync::Arc;

use base64::Engine as _;
use common::Fixture;
use rkube_cri::{ImageService, RegistryAuth};
use rkube_image::test_support::{busybox_image, write_dir, Compress, Format};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[derive(Clone, Copy, PartialEq)]
enum TokenPolicy {
    Anonymous,
    NeedsBasic,
    None,
}

struct Fake {
    layout: PathBuf,
    policy: TokenPolicy,
    port: u16,
}

const TOKEN: &str = "tok-123";

async fn serve(fake: Arc<Fake>, listener: TcpListener) {
    loop {
        let Ok((mut conn, _)) = listener.accept().await else {
            return;
        };
        let fake = fake.clone();
        tokio::spawn(async move {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = conn.read(&mut chunk).await.unwrap_or(0);
                if n == 0 {
                    return;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            let head = String::from_utf8_lossy(&buf).into_owned();
            let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
            let auth = head
                .lines()
                .find_map(|l| {
                    l.strip_prefix("authorization: ")
                        .or_else(|| l.strip_prefix("Authorization: "))
                })
                .unwrap_or("")
                .to_string();
            let (status, headers, body) = answer(&fake, &path, &auth);
            let mut out = format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
                body.len()
            );
            for (k, v) in headers {
                out.push_str(&format!("{k}: {v}\r\n"));
            }
            out.push_str("\r\n");
            let _ = conn.write_all(out.as_bytes()).await;
            let _ = conn.write_all(&body).await;
            let _ = conn.shutdown().await;
        });
    }
}

fn answer(fake: &Fake, path: &str, auth: &str) -> (&'static str, Vec<(String, String)>, Vec<u8>) {
    if let Some(query) = path.strip_prefix("/token?") {
        assert!(
            query.contains("service=fake") && query.contains("scope=repository%3Aapp%3Apull"),
            "{query}"
        );
        let basic = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("user:pass")
        );
        let ok = match fake.policy {
            TokenPolicy::Anonymous => true,
            TokenPolicy::NeedsBasic => auth == basic,
            TokenPolicy::None => false,
        };
        return if ok {
            (
                "200 OK",
                vec![],
                format!("{{\"token\":\"{TOKEN}\"}}").into_bytes(),
            )
        } else {
            ("401 Unauthorized", vec![], b"{}".to_vec())
        };
    }
    if auth != format!("Bearer {TOKEN}") {
        let challenge = format!(
            "Bearer realm=\"http://127.0.0.1:{}/token\",service=\"fake\",scope=\"repository:app:pull\"",
            fake.port
        );
        return (
            "401 Unauthorized",
            vec![("WWW-Authenticate".into(), challenge)],
            b"{}".to_vec(),
        );
    }
    let blobs = fake.layout.join("blobs/sha256");
    let read = |digest: &str| std::fs::read(blobs.join(digest.trim_start_matches("sha256:"))).ok();
    if let Some(reference) = path.strip_prefix("/v2/app/manifests/") {
        let digest = if reference.starts_with("sha256:") {
            reference.to_string()
        } else {
            let index: serde_json::Value =
                serde_json::from_slice(&std::fs::read(fake.layout.join("index.json")).unwrap())
                    .unwrap();
            let found = index["manifests"]
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == reference);
            match found {
                Some(m) => m["digest"].as_str().unwrap().to_string(),
                None => return ("404 Not Found", vec![], b"{}".to_vec()),
            }
        };
        return match read(&digest) {
            Some(body) => (
                "200 OK",
                vec![(
                    "Content-Type".into(),
                    "application/vnd.oci.image.manifest.v1+json".into(),
                )],
                body,
            ),
            None => ("404 Not Found", vec![], b"{}".to_vec()),
        };
    }
    if let Some(digest) = path.strip_prefix("/v2/app/blobs/") {
        if let Some(body) = read(digest) {
            return ("200 OK", vec![], body);
        }
    }
    ("404 Not Found", vec![], b"{}".to_vec())
}

async fn start(policy: TokenPolicy, fx: &Fixture) -> (u16, rkube_image::test_support::TestImage) {
    let image = busybox_image("app:v1").unwrap();
    let layout = fx.path("layout");
    write_dir(
        std::slice::from_ref(&image),
        Format::OciTagOnly,
        Compress::Gzip,
        &layout,
    )
    .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(serve(
        Arc::new(Fake {
            layout,
            policy,
            port,
        }),
        listener,
    ));
    (port, image)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_token() {
    let fx = Fixture::new();
    let (port, image) = start(TokenPolicy::Anonymous, &fx).await;
    let info = fx
        .store
        .pull_image(&format!("127.0.0.1:{port}/app:v1"), &[])
        .await
        .unwrap();
    assert_eq!(info.id, image.id());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_for_basic_credentials() {
    let fx = Fixture::new();
    let (port, image) = start(TokenPolicy::NeedsBasic, &fx).await;
    let name = format!("localhost:{port}/app:v1");
    let err = fx
        .store
        .pull_image(&name, &[])
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("401"), "{err}");
    let auth = RegistryAuth {
        username: "user".into(),
        password: "pass".into(),
        registry_token: String::new(),
    };
    let info = fx.store.pull_image(&name, &[auth]).await.unwrap();
    assert_eq!(info.id, image.id());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_token_given_in_the_secret() {
    let fx = Fixture::new();
    let (port, image) = start(TokenPolicy::None, &fx).await;
    let auth = RegistryAuth {
        registry_token: TOKEN.into(),
        ..Default::default()
    };
    let info = fx
        .store
        .pull_image(&format!("127.0.0.1:{port}/app:v1"), &[auth])
        .await
        .unwrap();
    assert_eq!(info.id, image.id());
}
