//! Reading what a pod's environment refers to: each ConfigMap and Secret
//! named by any container's `env` or `envFrom` (one GET each), the
//! namespace's Services when service links are on, and
//! `default/kubernetes` always.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret, Service};
use kube::api::{Api, ListParams};
use kube::Client;

use crate::kubelet::container::{ConfigError, EnvSources};

fn api_error(what: String, e: kube::Error) -> ConfigError {
    ConfigError {
        reason: "CreateContainerConfigError",
        message: format!("{what}: {e}"),
    }
}

fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

/// The names of the ConfigMaps and Secrets the pod's containers refer to.
pub fn referenced(pod: &Pod) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut cms = BTreeSet::new();
    let mut secrets = BTreeSet::new();
    let Some(spec) = pod.spec.as_ref() else {
        return (cms, secrets);
    };
    for c in spec
        .init_containers
        .iter()
        .flatten()
        .chain(spec.containers.iter())
    {
        for f in c.env_from.iter().flatten() {
            if let Some(r) = &f.config_map_ref {
                cms.insert(r.name.clone());
            }
            if let Some(r) = &f.secret_ref {
                secrets.insert(r.name.clone());
            }
        }
        for e in c.env.iter().flatten() {
            let Some(from) = e.value_from.as_ref() else {
                continue;
            };
            if let Some(r) = &from.config_map_key_ref {
                cms.insert(r.name.clone());
            }
            if let Some(r) = &from.secret_key_ref {
                secrets.insert(r.name.clone());
            }
        }
    }
    (cms, secrets)
}

/// Read what the pod's `env` and `envFrom` refer to. A ConfigMap or Secret
/// that does not exist is left out (the container that needs it fails in
/// `container_config` with the kubelet's message; `optional` ones are
/// skipped there); any other API failure is an error.
pub async fn fetch_env_sources(client: &Client, pod: &Pod) -> Result<EnvSources, ConfigError> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let (cm_names, secret_names) = referenced(pod);
    let mut out = EnvSources::default();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    for name in cm_names {
        match cms.get(&name).await {
            Ok(cm) => {
                out.config_maps.insert(name, cm);
            }
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(api_error(format!("cannot read configmap \"{name}\""), e)),
        }
    }
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    for name in secret_names {
        match secrets.get(&name).await {
            Ok(s) => {
                out.secrets.insert(name, s);
            }
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(api_error(format!("cannot read secret \"{name}\""), e)),
        }
    }
    let links = pod
        .spec
        .as_ref()
        .and_then(|s| s.enable_service_links)
        .unwrap_or(true);
    if links {
        let services: Api<Service> = Api::namespaced(client.clone(), ns);
        let list = services
            .list(&ListParams::default())
            .await
            .map_err(|e| api_error(format!("cannot list the services of namespace {ns}"), e))?;
        out.services.extend(list.items.into_iter().map(|mut s| {
            s.metadata.namespace.get_or_insert_with(|| ns.to_string());
            s
        }));
    }
    if !(links && ns == "default") {
        let services: Api<Service> = Api::namespaced(client.clone(), "default");
        match services.get("kubernetes").await {
            Ok(mut s) => {
                s.metadata
                    .namespace
                    .get_or_insert_with(|| "default".to_string());
                out.services.push(s);
            }
            Err(e) if is_not_found(&e) => {}
            Err(e) => {
                return Err(api_error(
                    "cannot read service default/kubernetes".to_string(),
                    e,
                ))
            }
        }
    }
    Ok(out)
}
