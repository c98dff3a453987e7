//! kube-rs against `rkube up`: typed CRUD on ConfigMaps and Namespaces, and
//! a reflector that stays equal to a fresh list under concurrent writes —
//! across a server restart (SIGKILL) and across compaction (its watch gets
//! 410 Gone and it re-lists).

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta, PostParams, WatchEvent, WatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::{reflector, watcher, WatchStreamExt};
use kube::{Client, Config, ResourceExt};
use rkube_e2e::Cluster;

async fn client(c: &Cluster) -> Client {
    let kc = Kubeconfig::read_from(c.kubeconfig()).expect("read kubeconfig");
    let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .expect("config");
    Client::try_from(config).expect("client")
}

fn cm(name: &str, value: &str) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        data: Some(BTreeMap::from([("v".to_string(), value.to_string())])),
        ..Default::default()
    }
}

/// name → (resourceVersion, data) of every ConfigMap, by a fresh list.
async fn fresh(
    api: &Api<ConfigMap>,
) -> BTreeMap<String, (String, Option<BTreeMap<String, String>>)> {
    let list = api.list(&ListParams::default()).await.expect("list");
    list.items
        .into_iter()
        .map(|o| {
            (
                o.name_any(),
                (o.resource_version().unwrap_or_default(), o.data),
            )
        })
        .collect()
}

async fn converge(reader: &reflector::Store<ConfigMap>, api: &Api<ConfigMap>, when: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let want = fresh(api).await;
        let got: BTreeMap<_, _> = reader
            .state()
            .iter()
            .map(|o| {
                (
                    o.name_any(),
                    (o.resource_version().unwrap_or_default(), o.data.clone()),
                )
            })
            .collect();
        if got == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{when}: reflector never matched a fresh list\nreflector: {got:?}\nlist: {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn churn(api: &Api<ConfigMap>, round: usize) {
    let mut tasks = Vec::new();
    for w in 0..4 {
        let api = api.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..15 {
                let name = format!("r{round}-w{w}-{i}");
                api.create(&PostParams::default(), &cm(&name, "1"))
                    .await
                    .expect("create");
                if i % 3 == 0 {
                    api.replace(&name, &PostParams::default(), &{
                        let mut o = api.get(&name).await.expect("get");
                        o.data = Some(BTreeMap::from([("v".into(), "2".into())]));
                        o
                    })
                    .await
                    .expect("replace");
                }
                if i % 5 == 0 {
                    api.delete(&name, &DeleteParams::default())
                        .await
                        .expect("delete");
                }
            }
        }));
    }
    for t in tasks {
        t.await.expect("writer");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_crud_and_a_reflector_across_restart_and_compaction() {
    let mut c = Cluster::up_with(&["--compaction-interval", "1s"]);
    let client = client(&c).await;

    // Typed CRUD on a cluster-scoped and a namespaced kind.
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some("kube-rs".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    let created = namespaces
        .create(&PostParams::default(), &ns)
        .await
        .expect("create namespace");
    assert_eq!(
        created.status.and_then(|s| s.phase).as_deref(),
        Some("Active")
    );
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "kube-rs");
    let made = api
        .create(&PostParams::default(), &cm("one", "1"))
        .await
        .expect("create");
    assert!(made.uid().is_some() && made.creation_timestamp().is_some());
    let err = api
        .create(&PostParams::default(), &cm("one", "1"))
        .await
        .expect_err("twice");
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 409 && s.reason == "AlreadyExists"),
        "{err:?}"
    );
    let mut stale = made.clone();
    stale.data = Some(BTreeMap::from([("v".into(), "x".into())]));
    api.replace("one", &PostParams::default(), &stale)
        .await
        .expect("replace");
    let err = api
        .replace("one", &PostParams::default(), &stale)
        .await
        .expect_err("stale");
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 409 && s.reason == "Conflict"),
        "{err:?}"
    );
    api.delete("one", &DeleteParams::default())
        .await
        .expect("delete");
    let err = api.get("one").await.expect_err("gone");
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 404),
        "{err:?}"
    );

    // The reflector.
    let (reader, writer) = reflector::store();
    let stream =
        reflector(writer, watcher(api.clone(), watcher::Config::default())).applied_objects();
    let driver = tokio::spawn(async move {
        futures::pin_mut!(stream);
        // Errors (a connection lost in the restart, 410 Gone) are retried by
        // the watcher's own backoff; keep polling.
        while let Some(_item) = stream.next().await {}
    });
    reader.wait_until_ready().await.expect("reflector ready");

    churn(&api, 0).await;
    converge(&reader, &api, "under concurrent writes").await;

    // The server dies and comes back on the same data: nothing acknowledged is lost.
    let before = fresh(&api).await;
    c.restart();
    assert_eq!(
        fresh(&api).await,
        before,
        "the same objects after a restart"
    );
    churn(&api, 1).await;
    converge(&reader, &api, "after a restart").await;

    // Compaction passes the reflector's revision while it is cut off.
    let old_rv = api
        .list(&ListParams::default())
        .await
        .expect("list")
        .metadata
        .resource_version
        .expect("rv");
    c.restart();
    churn(&api, 2).await;
    tokio::time::sleep(Duration::from_millis(3500)).await; // past two compaction intervals
    churn(&api, 3).await;
    converge(&reader, &api, "after compaction").await;

    // A watch from the old revision is told it is gone (410 Expired), which
    // is what makes watchers re-list.
    let mut old = api
        .watch(&WatchParams::default(), &old_rv)
        .await
        .expect("watch")
        .boxed();
    match old.next().await {
        Some(Ok(WatchEvent::Error(e))) => {
            assert_eq!((e.code, e.reason.as_str()), (410, "Expired"), "{e:?}")
        }
        other => panic!("expected a 410 error event, got {other:?}"),
    }

    driver.abort();
}
