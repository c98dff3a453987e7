//! A container's environment in Kubernetes' order: the service-link
//! variables (and `KUBERNETES_SERVICE_*` from `default/kubernetes`), then
//! `envFrom`, then `env` — each later definition of a name replacing the
//! earlier one. The image's own variables come first of all
//! ([`with_image_env`]).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, Pod, Service};

use crate::kubelet::container::expand::expand;
use crate::kubelet::container::fieldref::{
    field_value, resource_value, Addresses, NodeAllocatable,
};
use crate::kubelet::container::{ConfigError, EnvSources};

/// The reason of every configuration error of the environment.
const REASON: &str = "CreateContainerConfigError";

fn config_error(message: String) -> ConfigError {
    ConfigError {
        reason: REASON,
        message,
    }
}

/// Variables in order, each name once; setting a name again replaces its
/// value where it stands.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EnvList {
    vars: Vec<(String, String)>,
}

impl EnvList {
    pub fn set(&mut self, name: &str, value: String) {
        match self.vars.iter_mut().find(|(n, _)| n == name) {
            Some((_, v)) => *v = value,
            None => self.vars.push((name.to_string(), value)),
        }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn into_vec(self) -> Vec<(String, String)> {
        self.vars
    }
}

/// A name the kubelet accepts from `envFrom`: printable ASCII without `=`
/// (Kubernetes' relaxed rule, on by default since 1.34).
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| (b' '..=b'~').contains(&b) && b != b'=')
}

fn env_name(service_name: &str) -> String {
    service_name.to_uppercase().replace('-', "_")
}

fn has_cluster_ip(s: &Service) -> bool {
    s.spec
        .as_ref()
        .and_then(|s| s.cluster_ip.as_deref())
        .is_some_and(|ip| !ip.is_empty() && ip != "None")
}

/// The Services whose variables a pod gets: its namespace's (with service
/// links on) and `default/kubernetes` unless the namespace has its own
/// `kubernetes`.
fn linked_services<'a>(pod: &Pod, services: &'a [Service]) -> Vec<&'a Service> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let links = pod
        .spec
        .as_ref()
        .and_then(|s| s.enable_service_links)
        .unwrap_or(true);
    let mut by_name: BTreeMap<&str, &Service> = BTreeMap::new();
    for s in services.iter().filter(|s| has_cluster_ip(s)) {
        let name = s.metadata.name.as_deref().unwrap_or_default();
        let sns = s.metadata.namespace.as_deref().unwrap_or_default();
        if sns == "default" && name == "kubernetes" {
            by_name.entry(name).or_insert(s);
        } else if sns == ns && links {
            by_name.insert(name, s);
        }
    }
    by_name.into_values().collect()
}

/// The variables of one Service, as the kubelet's `FromServices` makes
/// them (`<NAME>_SERVICE_HOST`, `_SERVICE_PORT[_<port>]`, and the Docker
/// link variables `_PORT`, `_PORT_<n>_<PROTO>[_PROTO|_PORT|_ADDR]`).
fn service_vars(s: &Service, out: &mut EnvList) {
    let Some(spec) = s.spec.as_ref() else {
        return;
    };
    let ip = spec.cluster_ip.clone().unwrap_or_default();
    let prefix = env_name(s.metadata.name.as_deref().unwrap_or_default());
    let ports = spec.ports.as_deref().unwrap_or_default();
    out.set(&format!("{prefix}_SERVICE_HOST"), ip.clone());
    if let Some(first) = ports.first() {
        out.set(&format!("{prefix}_SERVICE_PORT"), first.port.to_string());
    }
    for p in ports {
        if let Some(name) = p.name.as_deref().filter(|n| !n.is_empty()) {
            out.set(
                &format!("{prefix}_SERVICE_PORT_{}", env_name(name)),
                p.port.to_string(),
            );
        }
    }
    let host = if ip.contains(':') {
        format!("[{ip}]")
    } else {
        ip.clone()
    };
    for (i, p) in ports.iter().enumerate() {
        let proto = p.protocol.as_deref().unwrap_or("TCP");
        let lower = proto.to_lowercase();
        let url = format!("{lower}://{host}:{}", p.port);
        if i == 0 {
            out.set(&format!("{prefix}_PORT"), url.clone());
        }
        let pp = format!("{prefix}_PORT_{}_{}", p.port, proto.to_uppercase());
        out.set(&pp, url);
        out.set(&format!("{pp}_PROTO"), lower);
        out.set(&format!("{pp}_PORT"), p.port.to_string());
        out.set(&format!("{pp}_ADDR"), ip.clone());
    }
}

/// The environment the kubelet gives the container (without the image's):
/// service variables, `envFrom`, `env` with `$(VAR)` expanded in values.
pub fn kubelet_env(
    pod: &Pod,
    container: &Container,
    sources: &EnvSources,
    addrs: Addresses,
    node: &NodeAllocatable,
) -> Result<EnvList, ConfigError> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
    let mut env = EnvList::default();
    for s in linked_services(pod, &sources.services) {
        service_vars(s, &mut env);
    }
    for from in container.env_from.iter().flatten() {
        let prefix = from.prefix.as_deref().unwrap_or_default();
        let pairs: Vec<(String, String)> = if let Some(r) = &from.config_map_ref {
            match sources.config_maps.get(&r.name) {
                Some(cm) => cm
                    .data
                    .iter()
                    .flatten()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
                None if r.optional == Some(true) => continue,
                None => return Err(config_error(format!("configmap \"{}\" not found", r.name))),
            }
        } else if let Some(r) = &from.secret_ref {
            match sources.secrets.get(&r.name) {
                Some(s) => s
                    .data
                    .iter()
                    .flatten()
                    .map(|(k, v)| (k.clone(), String::from_utf8_lossy(&v.0).into_owned()))
                    .collect(),
                None if r.optional == Some(true) => continue,
                None => return Err(config_error(format!("secret \"{}\" not found", r.name))),
            }
        } else {
            continue;
        };
        for (k, v) in pairs {
            let name = format!("{prefix}{k}");
            if valid_name(&name) {
                env.set(&name, v);
            } else {
                tracing::debug!(variable = %name, container = %container.name, "invalid environment variable name skipped");
            }
        }
    }
    for var in container.env.iter().flatten() {
        let value = match (var.value.as_deref(), var.value_from.as_ref()) {
            (Some(v), _) if !v.is_empty() => expand(v, |n| env.get(n)),
            (_, Some(from)) => {
                if let Some(r) = &from.config_map_key_ref {
                    let optional = r.optional == Some(true);
                    match sources.config_maps.get(&r.name) {
                        None if optional => continue,
                        None => {
                            return Err(config_error(format!("configmap \"{}\" not found", r.name)))
                        }
                        Some(cm) => match cm.data.as_ref().and_then(|d| d.get(&r.key)) {
                            Some(v) => v.clone(),
                            None if optional => continue,
                            None => {
                                return Err(config_error(format!(
                                    "couldn't find key {} in ConfigMap {ns}/{}",
                                    r.key, r.name
                                )))
                            }
                        },
                    }
                } else if let Some(r) = &from.secret_key_ref {
                    let optional = r.optional == Some(true);
                    match sources.secrets.get(&r.name) {
                        None if optional => continue,
                        None => {
                            return Err(config_error(format!("secret \"{}\" not found", r.name)))
                        }
                        Some(s) => match s.data.as_ref().and_then(|d| d.get(&r.key)) {
                            Some(v) => String::from_utf8_lossy(&v.0).into_owned(),
                            None if optional => continue,
                            None => {
                                return Err(config_error(format!(
                                    "couldn't find key {} in Secret {ns}/{}",
                                    r.key, r.name
                                )))
                            }
                        },
                    }
                } else if let Some(f) = &from.field_ref {
                    field_value(pod, f, addrs).ok_or_else(|| {
                        config_error(format!("unsupported fieldPath: {}", f.field_path))
                    })?
                } else if let Some(r) = &from.resource_field_ref {
                    resource_value(pod, Some(container), r, node)
                        .map_err(|e| config_error(e.to_string()))?
                } else {
                    String::new()
                }
            }
            _ => String::new(),
        };
        env.set(&var.name, value);
    }
    Ok(env)
}

/// The image's variables (`NAME=value`) first, then the kubelet's, each
/// name once with its last value.
pub fn with_image_env(image_env: &[String], kubelet: &EnvList) -> Vec<(String, String)> {
    let mut all = EnvList::default();
    for e in image_env {
        let (k, v) = e.split_once('=').unwrap_or((e.as_str(), ""));
        all.set(k, v.to_string());
    }
    for (k, v) in &kubelet.vars {
        all.set(k, v.clone());
    }
    all.into_vec()
}

#[cfg(test)]
#[path = "env_test.rs"]
mod tests;
