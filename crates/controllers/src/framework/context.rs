//! What every controller shares: the client, one informer per kind (a
//! single watch per kind, whatever number of controllers read it; an
//! informer nobody registered a handler on is never started), and an
//! event recorder per controller.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use k8s_openapi::api::apps::v1::{
    ControllerRevision, DaemonSet, Deployment, ReplicaSet, StatefulSet,
};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{
    Endpoints, Namespace, Node, PersistentVolume, PersistentVolumeClaim, Pod,
    ReplicationController, ResourceQuota, Service, ServiceAccount,
};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::storage::v1::{CSIStorageCapacity, StorageClass};
use kube::api::Api;
use kube::Client;
use rkube_events::Recorder;
use tokio::task::JoinHandle;

use crate::framework::informer::Informer;
use crate::framework::pod_index::PodIndex;

pub struct Informers {
    pub pods: Arc<Informer<Pod>>,
    pub nodes: Arc<Informer<Node>>,
    pub namespaces: Arc<Informer<Namespace>>,
    pub services: Arc<Informer<Service>>,
    pub endpoints: Arc<Informer<Endpoints>>,
    pub endpointslices: Arc<Informer<EndpointSlice>>,
    pub serviceaccounts: Arc<Informer<ServiceAccount>>,
    pub persistentvolumeclaims: Arc<Informer<PersistentVolumeClaim>>,
    pub persistentvolumes: Arc<Informer<PersistentVolume>>,
    pub storageclasses: Arc<Informer<StorageClass>>,
    /// Free space per node and class, as nodes publish it.
    pub csistoragecapacities: Arc<Informer<CSIStorageCapacity>>,
    pub resourcequotas: Arc<Informer<ResourceQuota>>,
    pub replicasets: Arc<Informer<ReplicaSet>>,
    pub replicationcontrollers: Arc<Informer<ReplicationController>>,
    pub deployments: Arc<Informer<Deployment>>,
    pub statefulsets: Arc<Informer<StatefulSet>>,
    pub daemonsets: Arc<Informer<DaemonSet>>,
    pub controllerrevisions: Arc<Informer<ControllerRevision>>,
    pub jobs: Arc<Informer<Job>>,
    pub cronjobs: Arc<Informer<CronJob>>,
    pub poddisruptionbudgets: Arc<Informer<PodDisruptionBudget>>,
    /// Node heartbeats (every namespace; the node lifecycle controller
    /// reads `kube-node-lease`).
    pub leases: Arc<Informer<Lease>>,
}

impl Informers {
    fn new(client: &Client) -> Self {
        let c = || client.clone();
        Informers {
            pods: Informer::new(Api::all(c()), "pods"),
            nodes: Informer::new(Api::all(c()), "nodes"),
            namespaces: Informer::new(Api::all(c()), "namespaces"),
            services: Informer::new(Api::all(c()), "services"),
            endpoints: Informer::new(Api::all(c()), "endpoints"),
            endpointslices: Informer::new(Api::all(c()), "endpointslices"),
            serviceaccounts: Informer::new(Api::all(c()), "serviceaccounts"),
            persistentvolumeclaims: Informer::new(Api::all(c()), "persistentvolumeclaims"),
            persistentvolumes: Informer::new(Api::all(c()), "persistentvolumes"),
            storageclasses: Informer::new(Api::all(c()), "storageclasses"),
            csistoragecapacities: Informer::new(Api::all(c()), "csistoragecapacities"),
            resourcequotas: Informer::new(Api::all(c()), "resourcequotas"),
            replicasets: Informer::new(Api::all(c()), "replicasets"),
            replicationcontrollers: Informer::new(Api::all(c()), "replicationcontrollers"),
            deployments: Informer::new(Api::all(c()), "deployments"),
            statefulsets: Informer::new(Api::all(c()), "statefulsets"),
            daemonsets: Informer::new(Api::all(c()), "daemonsets"),
            controllerrevisions: Informer::new(Api::all(c()), "controllerrevisions"),
            jobs: Informer::new(Api::all(c()), "jobs"),
            cronjobs: Informer::new(Api::all(c()), "cronjobs"),
            poddisruptionbudgets: Informer::new(Api::all(c()), "poddisruptionbudgets"),
            leases: Informer::new(Api::namespaced(c(), "kube-node-lease"), "leases"),
        }
    }

    /// Starts the watches some controller registered a handler on (call
    /// after every controller's `start`).
    pub fn start(&self) -> Vec<JoinHandle<()>> {
        [
            self.pods.start(),
            self.nodes.start(),
            self.namespaces.start(),
            self.services.start(),
            self.endpoints.start(),
            self.endpointslices.start(),
            self.serviceaccounts.start(),
            self.persistentvolumeclaims.start(),
            self.persistentvolumes.start(),
            self.storageclasses.start(),
            self.csistoragecapacities.start(),
            self.resourcequotas.start(),
            self.replicasets.start(),
            self.replicationcontrollers.start(),
            self.deployments.start(),
            self.statefulsets.start(),
            self.daemonsets.start(),
            self.controllerrevisions.start(),
            self.jobs.start(),
            self.cronjobs.start(),
            self.poddisruptionbudgets.start(),
            self.leases.start(),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

/// rkube's cluster range when none is given (kind's).
pub const DEFAULT_CLUSTER_CIDR: &str = "10.244.0.0/16";

/// Settings of the controllers (kube-controller-manager's flags).
#[derive(Clone, Debug)]
pub struct Options {
    /// How long a node may go without a heartbeat before it is marked
    /// Unknown (`--node-monitor-grace-period`).
    pub node_monitor_grace_period: std::time::Duration,
    /// The range nodes' pod ranges are allocated from, a /24 each
    /// (`--cluster-cidr`); `None` or empty: nodes get no podCIDR from the
    /// controller manager (`--allocate-node-cidrs=false`).
    pub cluster_cidr: Option<String>,
    /// How often each HorizontalPodAutoscaler is synced
    /// (`--horizontal-pod-autoscaler-sync-period`, 15 s).
    pub hpa_sync_period: std::time::Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            node_monitor_grace_period: std::time::Duration::from_secs(50),
            cluster_cidr: Some(DEFAULT_CLUSTER_CIDR.to_string()),
            hpa_sync_period: std::time::Duration::from_secs(15),
        }
    }
}

pub struct Context {
    pub client: Client,
    pub informers: Informers,
    /// Pods by controller and orphans per namespace.
    pub pod_index: Arc<PodIndex>,
    pub options: Options,
    /// One recorder per component, so its events share one queue, one
    /// correlator and one rate limit however often it is asked for.
    recorders: Mutex<HashMap<String, Recorder>>,
}

impl Context {
    pub fn new(client: Client, options: Options) -> Arc<Self> {
        let informers = Informers::new(&client);
        let pod_index = Arc::new(PodIndex::default());
        pod_index.attach(&informers.pods);
        Arc::new(Context {
            informers,
            client,
            pod_index,
            options,
            recorders: Mutex::default(),
        })
    }

    /// The pods whose controller is `uid` (from the pod informer).
    pub fn pods_controlled_by(&self, uid: &str) -> Vec<Arc<Pod>> {
        self.pod_index.controlled_by(uid)
    }

    /// How many pods controlled by `uid` are terminating.
    pub fn terminating_pods_of(&self, uid: &str) -> usize {
        self.pod_index.terminating(uid)
    }

    /// The pods of `namespace` no controller owns.
    pub fn orphan_pods_in(&self, namespace: &str) -> Vec<Arc<Pod>> {
        self.pod_index.orphans_in(namespace)
    }

    /// An event recorder reporting as `component`.
    pub fn recorder(&self, component: &str) -> Recorder {
        let mut recorders = self.recorders.lock().unwrap_or_else(|e| e.into_inner());
        recorders
            .entry(component.to_string())
            .or_insert_with(|| Recorder::new(self.client.clone(), component))
            .clone()
    }
}
