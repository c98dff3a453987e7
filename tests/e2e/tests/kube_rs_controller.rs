//! A kube-rs `Controller` over a `#[derive(CustomResource)]` type against
//! `rkube up`: it installs its generated CRD (and waits for Established),
//! reconciles each object into a ConfigMap it owns, writes status through
//! the status subresource, and uses kube-runtime's finalizer helper so its
//! clean-up runs before the object goes.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::finalizer::{finalizer, Event};
use kube::runtime::wait::{await_condition, conditions};
use kube::runtime::watcher;
use kube::{Client, Config, CustomResource, CustomResourceExt, Resource, ResourceExt};
use rkube_e2e::Cluster;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, JsonSchema)]
#[kube(
    group = "rkube.test",
    version = "v1",
    kind = "Echo",
    namespaced,
    status = "EchoStatus",
    shortname = "ec",
    printcolumn = r#"{"name":"Message","type":"string","jsonPath":".spec.message"}"#
)]
pub struct EchoSpec {
    message: String,
}

#[derive(Deserialize, Serialize, Clone, Debug, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EchoStatus {
    echoed: Option<String>,
    observed_generation: Option<i64>,
}

const FINALIZER: &str = "rkube.test/cleanup";

#[derive(Debug)]
struct Failed(String);

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Failed {}

async fn reconcile(echo: Arc<Echo>, client: Client) -> Result<Action, Failed> {
    let ns = echo.namespace().unwrap_or_default();
    let echoes: Api<Echo> = Api::namespaced(client.clone(), &ns);
    finalizer(&echoes, FINALIZER, echo, |event| async {
        let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
        match event {
            Event::Apply(echo) => {
                let name = format!("echo-{}", echo.name_any());
                let owner = echo
                    .controller_owner_ref(&())
                    .ok_or(Failed("no owner ref".into()))?;
                let cm = ConfigMap {
                    metadata: kube::api::ObjectMeta {
                        name: Some(name.clone()),
                        owner_references: Some(vec![owner]),
                        ..Default::default()
                    },
                    data: Some([("message".to_string(), echo.spec.message.clone())].into()),
                    ..Default::default()
                };
                match cms.create(&PostParams::default(), &cm).await {
                    Ok(_) => {}
                    Err(kube::Error::Api(s)) if s.code == 409 => {
                        cms.patch(
                            &name,
                            &PatchParams::default(),
                            &Patch::Merge(json!({"data": cm.data})),
                        )
                        .await
                        .map_err(|e| Failed(e.to_string()))?;
                    }
                    Err(e) => return Err(Failed(e.to_string())),
                }
                let status = json!({"status": {
                    "echoed": echo.spec.message,
                    "observedGeneration": echo.metadata.generation,
                }});
                echoes
                    .patch_status(
                        &echo.name_any(),
                        &PatchParams::default(),
                        &Patch::Merge(status),
                    )
                    .await
                    .map_err(|e| Failed(e.to_string()))?;
                Ok(Action::await_change())
            }
            Event::Cleanup(echo) => {
                match cms
                    .delete(
                        &format!("echo-{}", echo.name_any()),
                        &DeleteParams::default(),
                    )
                    .await
                {
                    Ok(_) => {}
                    Err(kube::Error::Api(s)) if s.code == 404 => {}
                    Err(e) => return Err(Failed(e.to_string())),
                }
                Ok(Action::await_change())
            }
        }
    })
    .await
    .map_err(|e| Failed(e.to_string()))
}

async fn eventually<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !f().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_kube_rs_controller_reconciles_its_custom_resources() {
    let c = Cluster::up();
    let kc = Kubeconfig::read_from(c.kubeconfig()).expect("kubeconfig");
    let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .expect("config");
    let client = Client::try_from(config).expect("client");

    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.create(&PostParams::default(), &Echo::crd())
        .await
        .expect("install the generated CRD");
    let established = tokio::time::timeout(
        Duration::from_secs(10),
        await_condition(
            crds.clone(),
            Echo::crd_name(),
            conditions::is_crd_established(),
        ),
    )
    .await;
    if established.is_err() {
        let crd = crds.get(Echo::crd_name()).await.expect("get CRD");
        panic!("not established in time: {:?}\n{}", crd.status, c.log());
    }
    established.expect("in time").expect("watch the CRD");

    let echoes: Api<Echo> = Api::namespaced(client.clone(), "default");
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let ctl_client = client.clone();
    let controller = tokio::spawn(
        Controller::new(echoes.clone(), watcher::Config::default())
            .owns(cms.clone(), watcher::Config::default())
            .run(
                move |e, _ctx| reconcile(e, ctl_client.clone()),
                |_e, err, _ctx| {
                    eprintln!("reconcile failed: {err}");
                    Action::requeue(Duration::from_millis(200))
                },
                Arc::new(()),
            )
            .for_each(|r| async move {
                if let Err(e) = r {
                    eprintln!("controller: {e}");
                }
            }),
    );

    let echo = Echo::new(
        "hello",
        EchoSpec {
            message: "hi".into(),
        },
    );
    echoes
        .create(&PostParams::default(), &echo)
        .await
        .expect("create");
    eventually("status and config map on create", || async {
        let e = echoes.get("hello").await.expect("get");
        let cm = cms.get_opt("echo-hello").await.expect("get cm");
        e.status.as_ref().and_then(|s| s.echoed.as_deref()) == Some("hi")
            && cm
                .and_then(|c| c.data)
                .and_then(|d| d.get("message").cloned())
                .as_deref()
                == Some("hi")
    })
    .await;
    let e = echoes.get("hello").await.expect("get");
    assert!(e.finalizers().iter().any(|f| f == FINALIZER));
    let cm = cms.get("echo-hello").await.expect("cm");
    assert_eq!(
        cm.owner_references()
            .first()
            .map(|o| (o.kind.as_str(), o.name.as_str())),
        Some(("Echo", "hello"))
    );

    echoes
        .patch(
            "hello",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"message": "bye"}})),
        )
        .await
        .expect("update");
    eventually("status follows the change", || async {
        let e = echoes.get("hello").await.expect("get");
        let s = e.status.unwrap_or_default();
        s.echoed.as_deref() == Some("bye") && s.observed_generation == Some(2)
    })
    .await;

    echoes
        .delete("hello", &DeleteParams::default())
        .await
        .expect("delete");
    eventually("clean-up ran and the object went", || async {
        echoes.get_opt("hello").await.expect("get").is_none()
            && cms.get_opt("echo-hello").await.expect("get cm").is_none()
    })
    .await;
    controller.abort();
}
