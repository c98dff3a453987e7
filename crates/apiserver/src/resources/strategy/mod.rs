//! Per-kind strategies: what a kind does differently on its way into and
//! out of the store, after kube-apiserver's `rest.RESTCreateStrategy`,
//! `RESTUpdateStrategy` and `RESTDeleteStrategy`. The write pipeline
//! (`pipeline.rs`) and the verbs call these hooks; generic code never asks
//! which kind it holds.
//!
//! Every hook (`hooks.rs`) has a default, so [`DefaultStrategy`] is the
//! whole strategy of a simple kind (ConfigMap, Secret, Deployment, ...).
//! A kind that needs more gets a file here with a unit struct implementing
//! [`Strategy`], declared below and given one line in [`for_resource`]'s
//! table (nothing outside this folder changes):
//!
//! - `hooks.rs`: the [`Strategy`] trait;
//! - `default.rs`: built-in kinds with nothing special;
//! - `custom.rs`: custom resources (schema defaults and validation, no
//!   unconditional updates, no strategic merge);
//! - `crd.rs`: CustomResourceDefinitions (the cleanup finalizer);
//! - `apiservice.rs`: APIServices (no unconditional updates);
//! - `namespace.rs`: Namespaces (status and finalizers on create, the
//!   finalizer hold on delete, the namespaces that may not go);
//! - `pod.rs`: Pods (initial status, the grace period of a pod on a node,
//!   pod admission);
//! - `job.rs`: Jobs (the selector from the uid);
//! - `service.rs`: Services (cluster IPs and node ports);
//! - `binding.rs`: `bindings` (a create that binds a pod);
//! - `volume.rs`: PersistentVolumes and claims (the storage admission
//!   plugins).

mod apiservice;
mod binding;
mod crd;
mod custom;
mod default;
mod hooks;
mod job;
mod namespace;
mod pod;
mod service;
mod volume;

use rkube_apimachinery::ResourceInfo;

pub use default::DefaultStrategy;
pub use hooks::{Admitted, CreateAction, Strategy};

/// The strategy of `info`'s kind: custom resources share one; built-in
/// kinds are looked up by group and kind.
pub fn for_resource(info: &ResourceInfo) -> &'static dyn Strategy {
    if info.custom.is_some() {
        return &custom::CustomResourceStrategy;
    }
    match (info.group.as_str(), info.kind.as_str()) {
        ("", "Namespace") => &namespace::NamespaceStrategy,
        ("", "Pod") => &pod::PodStrategy,
        ("", "Service") => &service::ServiceStrategy,
        ("", "Binding") => &binding::BindingStrategy,
        ("", "PersistentVolumeClaim") => &volume::ClaimStrategy,
        ("", "PersistentVolume") => &volume::VolumeStrategy,
        ("batch", "Job") => &job::JobStrategy,
        ("apiextensions.k8s.io", "CustomResourceDefinition") => &crd::CrdStrategy,
        ("apiregistration.k8s.io", "APIService") => &apiservice::ApiServiceStrategy,
        _ => &DefaultStrategy,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rkube_apimachinery::Registry;

    fn builtin(group: &str, plural: &str) -> ResourceInfo {
        Registry::builtin()
            .get(group, "v1", plural)
            .cloned()
            .expect("a built-in resource")
    }

    #[test]
    fn unconditional_updates_follow_the_kind() {
        // kube-apiserver: most built-in strategies allow them; custom
        // resources and CRDs do not.
        for (group, plural) in [("", "configmaps"), ("", "secrets"), ("", "pods")] {
            let s = for_resource(&builtin(group, plural));
            assert!(s.allow_unconditional_update(), "{plural}");
        }
        let crds = builtin("apiextensions.k8s.io", "customresourcedefinitions");
        assert!(!for_resource(&crds).allow_unconditional_update());
        let apiservices = builtin("apiregistration.k8s.io", "apiservices");
        assert!(!for_resource(&apiservices).allow_unconditional_update());
        let mut custom = builtin("", "configmaps");
        custom.custom = Some(std::sync::Arc::new(
            rkube_apimachinery::crd::CustomResource {
                crd: "widgets.example.com".into(),
                source: String::new(),
                schema: None,
                raw_schema: None,
                columns: Vec::new(),
                storage_version: "v1".into(),
                scale: None,
                has_status: false,
                terminating: false,
            },
        ));
        assert!(!for_resource(&custom).allow_unconditional_update());
        assert!(!for_resource(&custom).strategic_merge());
    }

    #[test]
    fn kinds_find_their_strategy() {
        let bindings = builtin("", "bindings");
        assert_eq!(
            for_resource(&bindings).create_action(),
            CreateAction::BindPod
        );
        let pods = builtin("", "pods");
        assert_eq!(for_resource(&pods).admitted(), Admitted::Pod);
        let cms = builtin("", "configmaps");
        assert_eq!(for_resource(&cms).admitted(), Admitted::Plain);
        let pvcs = builtin("", "persistentvolumeclaims");
        assert_eq!(for_resource(&pvcs).admitted(), Admitted::Claim);
        let pvs = builtin("", "persistentvolumes");
        assert_eq!(for_resource(&pvs).admitted(), Admitted::Volume);
        assert_eq!(for_resource(&cms).create_action(), CreateAction::Store);
        let ns = builtin("", "namespaces");
        let s = for_resource(&ns);
        assert_eq!(
            s.check_delete(&ns, "default").map_err(|e| e.code()),
            Err(403)
        );
        assert!(s.check_delete(&ns, "team-a").is_ok());
    }
}
