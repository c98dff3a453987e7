//! Issue 4's write phases of `rkube bench api`: strategic-merge patches and
//! server-side applies of deployments (beside plain creates of the same
//! deployments), and creates of custom resources validated against their
//! CRD's schema (beside the config map creates) — each for a fixed time at
//! N clients, so they compare as ratios within one run.

use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::Context;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::{json, Value};

use super::phases::Creates;
use crate::bench::stats::Percentiles;

/// Runs `op(client, i, n)` in a loop on every client (`i` its index, `n`
/// its count so far) until `duration` passes; each completed call counts.
pub async fn drive<F, Fut>(clients: &[Client], duration: Duration, op: F) -> anyhow::Result<Creates>
where
    F: Fn(Client, usize, usize) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send,
{
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::new();
    for (i, client) in clients.iter().enumerate() {
        let (client, op) = (client.clone(), op.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut n = 0usize;
            while Instant::now() < deadline {
                let t = Instant::now();
                op(client.clone(), i, n).await?;
                latencies.push(t.elapsed());
                n += 1;
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.context("a bench task panicked")??);
    }
    Ok(Creates {
        count: all.len(),
        elapsed: started.elapsed(),
        latency: Percentiles::of(all),
    })
}

fn deployment(name: &str, tag: usize) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{
                    "name": "web", "image": format!("registry.k8s.io/pause:3.{tag}"),
                    "ports": [{"containerPort": 8080}],
                    "env": [{"name": "MODE", "value": "bench"}],
                    "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}
                }]}
            }
        }
    })
}

/// One deployment per client in `ns`, to be patched.
pub async fn create_deployments(clients: &[Client], ns: &str) -> anyhow::Result<()> {
    for (i, client) in clients.iter().enumerate() {
        let api: Api<Deployment> = Api::namespaced(client.clone(), ns);
        let d: Deployment = serde_json::from_value(deployment(&format!("web-{i}"), 0))?;
        match api.create(&PostParams::default(), &d).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Plain deployment creates, the baseline the patches and applies of the
/// same objects compare with.
pub async fn deployment_creates(
    clients: &[Client],
    ns: &str,
    duration: Duration,
) -> anyhow::Result<Creates> {
    let ns = ns.to_string();
    drive(clients, duration, move |client, i, n| {
        let api: Api<Deployment> = Api::namespaced(client, &ns);
        async move {
            let d: Deployment = serde_json::from_value(deployment(&format!("new-{i}-{n}"), n))?;
            api.create(&PostParams::default(), &d).await?;
            Ok(())
        }
    })
    .await
}

/// Each client patches its own deployment `web-<i>` for `duration`, the
/// `n`th time with `patch(name, n)`.
async fn patch_own_deployments(
    clients: &[Client],
    ns: &str,
    duration: Duration,
    patch: fn(&str, usize) -> (PatchParams, Patch<Value>),
) -> anyhow::Result<Creates> {
    let ns = ns.to_string();
    drive(clients, duration, move |client, i, n| {
        let api: Api<Deployment> = Api::namespaced(client, &ns);
        async move {
            let name = format!("web-{i}");
            let (params, body) = patch(&name, n);
            api.patch(&name, &params, &body).await?;
            Ok(())
        }
    })
    .await
}

/// Each client changes its deployment's image with strategic-merge patches.
pub async fn strategic_patches(
    clients: &[Client],
    ns: &str,
    duration: Duration,
) -> anyhow::Result<Creates> {
    patch_own_deployments(clients, ns, duration, |_, n| {
        let image = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "web", "image": format!("registry.k8s.io/pause:3.{n}")}]}}}});
        (PatchParams::default(), Patch::Strategic(image))
    })
    .await
}

/// Each client server-side applies its whole deployment with a new image.
pub async fn server_side_applies(
    clients: &[Client],
    ns: &str,
    duration: Duration,
) -> anyhow::Result<Creates> {
    patch_own_deployments(clients, ns, duration, |name, n| {
        (
            PatchParams::apply("bench").force(),
            Patch::Apply(deployment(name, n)),
        )
    })
    .await
}

const CRD_NAME: &str = "benchtabs.bench.rkube.dev";

/// Installs the benchmark's CRD and waits until it is served.
pub async fn install_crd(client: &Client) -> anyhow::Result<()> {
    let crd: CustomResourceDefinition = serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": CRD_NAME},
        "spec": {
            "group": "bench.rkube.dev", "scope": "Namespaced",
            "names": {"plural": "benchtabs", "singular": "benchtab", "kind": "BenchTab"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "required": ["schedule", "image"], "properties": {
                        "schedule": {"type": "string", "pattern": "^(\\d+|\\*)(/\\d+)?(\\s+(\\d+|\\*)(/\\d+)?){4}$"},
                        "image": {"type": "string", "maxLength": 200},
                        "replicas": {"type": "integer", "minimum": 0, "maximum": 100, "default": 1},
                        "policy": {"type": "string", "enum": ["Allow", "Forbid", "Replace"], "default": "Allow"},
                        "ports": {"type": "array", "x-kubernetes-list-type": "map",
                            "x-kubernetes-list-map-keys": ["name"],
                            "items": {"type": "object", "required": ["name"], "properties": {
                                "name": {"type": "string"}, "port": {"type": "integer"}}}}
                    }},
                    "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
                }}}
            }]
        }
    }))?;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    match crds.create(&PostParams::default(), &crd).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 409 => {}
        Err(e) => return Err(e.into()),
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = crds.get(CRD_NAME).await?;
        let established = got
            .status
            .and_then(|s| s.conditions)
            .unwrap_or_default()
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True");
        if established {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the benchmark CRD was not established"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Clients create custom resources (schema-validated, defaulted) in `ns`.
pub async fn create_custom(
    clients: &[Client],
    ns: &str,
    duration: Duration,
) -> anyhow::Result<Creates> {
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("bench.rkube.dev", "v1", "BenchTab"),
        "benchtabs",
    );
    let ns = ns.to_string();
    drive(clients, duration, move |client, i, n| {
        let api: Api<DynamicObject> = Api::namespaced_with(client, &ns, &ar);
        async move {
            let obj: DynamicObject = serde_json::from_value(json!({
                "apiVersion": "bench.rkube.dev/v1", "kind": "BenchTab",
                "metadata": {"name": format!("tab-{i}-{n}")},
                "spec": {"schedule": "*/5 * * * *", "image": "registry.k8s.io/pause:3.10",
                         "ports": [{"name": "http", "port": 8080}]}
            }))?;
            api.create(&PostParams::default(), &obj).await?;
            Ok(())
        }
    })
    .await
}
