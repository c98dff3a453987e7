//! The Endpoints controller: for every Service with a selector, an
//! `Endpoints` object of the same name listing the matching pods.
//!
//! - ready pods go to `addresses`, the others to `notReadyAddresses`
//!   (every pod counts as ready with `publishNotReadyAddresses`); pods
//!   without an IP, finished or being deleted (unless
//!   `publishNotReadyAddresses`) are left out;
//! - each Service port becomes an endpoint port with the pod's port
//!   (`targetPort` as a number, or a container port name looked up per
//!   pod); pods sharing a port set share a subset (Kubernetes'
//!   `RepackSubsets`);
//! - labels: the Service's, `endpoints.kubernetes.io/managed-by:
//!   endpoint-controller`, `service.kubernetes.io/headless` for headless
//!   Services; annotation `endpoints.kubernetes.io/last-change-trigger-time`
//!   (the earliest change not yet written), and
//!   `endpoints.kubernetes.io/over-capacity: truncated` past 1,000
//!   addresses;
//! - the Endpoints goes when its Service goes; Services without a
//!   selector are left alone.
//!
//! The pure helpers shared with the EndpointSlice controller (ports,
//! addresses, which pods count, trigger times) are at the end.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::{
    EndpointAddress, EndpointPort, EndpointSubset, Endpoints, ObjectReference, Pod, Service,
    ServicePort,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, PostParams};
use kube::runtime::reflector::ObjectRef;
use kube::ResourceExt;
use tokio::task::JoinHandle;
use tracing::debug;

use crate::framework::context::Context;
use crate::framework::informer::Change;
use crate::framework::queue::{Key, Queue};
use crate::framework::runner::{spawn_workers, Outcome};
use crate::pods::{is_ready, is_terminal};

pub const NAME: &str = "endpoints-controller";
const WORKERS: usize = 5;
/// Label marking Endpoints this controller wrote, and its value.
pub const LABEL_MANAGED_BY: &str = "endpoints.kubernetes.io/managed-by";
const MANAGED_BY: &str = "endpoint-controller";
pub const LABEL_HEADLESS: &str = "service.kubernetes.io/headless";
pub const TRIGGER_TIME: &str = "endpoints.kubernetes.io/last-change-trigger-time";
const OVER_CAPACITY: &str = "endpoints.kubernetes.io/over-capacity";
/// Most addresses in one Endpoints (the rest are dropped).
const MAX_CAPACITY: usize = 1000;

struct Controller {
    ctx: Arc<Context>,
    queue: Queue,
    triggers: TriggerTimes,
}

pub fn start(ctx: &Arc<Context>) -> Vec<JoinHandle<()>> {
    let c = Arc::new(Controller {
        ctx: ctx.clone(),
        queue: Queue::default(),
        triggers: TriggerTimes::default(),
    });
    let me = c.clone();
    ctx.informers.services.on_change(move |change| {
        let svc = match change {
            Change::Applied { new, .. } => *new,
            Change::Deleted(s) => *s,
        };
        let key = Key::of(svc);
        if let Some(t) = svc.metadata.creation_timestamp.as_ref() {
            me.triggers.note(&key, t.0);
        }
        me.queue.add(key);
    });
    let me = c.clone();
    ctx.informers.pods.on_change(move |change| {
        for key in services_for_pod_change(&me.ctx, change) {
            if let Some(t) = changed_pod(change).and_then(pod_trigger_time) {
                me.triggers.note(&key, t);
            }
            me.queue.add(key);
        }
    });
    // Recreate what someone deleted; remove what outlived its Service.
    let me = c.clone();
    ctx.informers.endpoints.on_change(move |change| {
        if let Change::Deleted(ep) = change {
            me.queue.add(Key::of(*ep));
        } else if let Change::Applied { new, old: None } = change {
            if new.labels().get(LABEL_MANAGED_BY).map(String::as_str) == Some(MANAGED_BY) {
                me.queue.add(Key::of(*new));
            }
        }
    });
    let me = c.clone();
    spawn_workers(NAME, c.queue.clone(), WORKERS, move |key| {
        let me = me.clone();
        async move { me.reconcile(key).await }
    })
}

impl Controller {
    async fn reconcile(&self, key: Key) -> Outcome {
        let api: Api<Endpoints> = Api::namespaced(self.ctx.client.clone(), &key.namespace);
        let current = self
            .ctx
            .informers
            .endpoints
            .store()
            .get(&ObjectRef::new(&key.name).within(&key.namespace));
        let svc_ref = ObjectRef::new(&key.name).within(&key.namespace);
        let Some(svc) = self.ctx.informers.services.store().get(&svc_ref) else {
            self.triggers.take(&key);
            let ours = current.as_ref().is_some_and(|ep| {
                ep.labels().get(LABEL_MANAGED_BY).map(String::as_str) == Some(MANAGED_BY)
            });
            if ours {
                match api.delete(&key.name, &DeleteParams::default()).await {
                    Ok(_) => debug!(endpoints = %key, "deleted: its service is gone"),
                    Err(kube::Error::Api(s)) if s.code == 404 => {}
                    Err(e) => return Err(e.into()),
                }
            }
            return Ok(None);
        };
        if selector_of(&svc).is_none() || svc.metadata.deletion_timestamp.is_some() {
            return Ok(None);
        }
        let pods: Vec<Arc<Pod>> = self
            .ctx
            .informers
            .pods
            .store()
            .state()
            .into_iter()
            .filter(|p| selects(&svc, p))
            .collect();
        let (subsets, truncated) = desired_subsets(&svc, &pods);
        let labels = desired_labels(&svc);
        if let Some(cur) = current.as_deref() {
            let cur_subsets = cur.subsets.clone().unwrap_or_default();
            let cur_truncated =
                cur.annotations().get(OVER_CAPACITY).map(String::as_str) == Some("truncated");
            if cur_subsets == subsets && cur.labels() == &labels && cur_truncated == truncated {
                self.triggers.take(&key);
                return Ok(None);
            }
        }
        let trigger = self.triggers.take(&key);
        let mut ep = current.as_deref().cloned().unwrap_or_default();
        ep.metadata.name = Some(key.name.clone());
        ep.metadata.namespace = Some(key.namespace.clone());
        ep.metadata.labels = Some(labels);
        let annotations = ep.metadata.annotations.get_or_insert_with(BTreeMap::new);
        match trigger {
            Some(t) => annotations.insert(TRIGGER_TIME.to_string(), t.to_string()),
            None => annotations.remove(TRIGGER_TIME),
        };
        if truncated {
            annotations.insert(OVER_CAPACITY.to_string(), "truncated".to_string());
        } else {
            annotations.remove(OVER_CAPACITY);
        }
        ep.subsets = Some(subsets);
        let result = if current.is_some() {
            api.replace(&key.name, &PostParams::default(), &ep)
                .await
                .map(|_| ())
        } else {
            ep.metadata.resource_version = None;
            api.create(&PostParams::default(), &ep).await.map(|_| ())
        };
        if let Err(e) = result {
            // Let the next pass record the same trigger time.
            if let Some(t) = trigger {
                self.triggers.note(&key, t);
            }
            let reason = if current.is_some() {
                "FailedToUpdateEndpoint"
            } else {
                "FailedToCreateEndpoint"
            };
            if !matches!(&e, kube::Error::Api(s) if s.code == 409) {
                self.ctx.recorder(NAME).warning(
                    svc.as_ref(),
                    reason,
                    &format!("Failed to update endpoint {key}: {e}"),
                );
            }
            return Err(e.into());
        }
        debug!(endpoints = %key, "written");
        Ok(None)
    }
}

/// The Endpoints' labels: the Service's, the managed-by label and, for a
/// headless Service, `service.kubernetes.io/headless`.
fn desired_labels(svc: &Service) -> BTreeMap<String, String> {
    let mut labels = svc.labels().clone();
    labels.insert(LABEL_MANAGED_BY.to_string(), MANAGED_BY.to_string());
    if is_headless(svc) {
        labels.insert(LABEL_HEADLESS.to_string(), String::new());
    } else {
        labels.remove(LABEL_HEADLESS);
    }
    labels
}

/// The subsets for `svc` over the `pods` it selects, and whether some
/// addresses were dropped past the capacity.
pub fn desired_subsets(svc: &Service, pods: &[Arc<Pod>]) -> (Vec<EndpointSubset>, bool) {
    let spec = svc.spec.clone().unwrap_or_default();
    let publish = spec.publish_not_ready_addresses.unwrap_or(false);
    let svc_ports = spec.ports.unwrap_or_default();
    // Port set → (ready, not ready) addresses, keyed by pod uid.
    type Addrs = BTreeMap<String, EndpointAddress>;
    let mut sets: BTreeMap<Vec<PortKey>, (Addrs, Addrs)> = BTreeMap::new();
    for pod in pods {
        if !should_be_in_endpoints(pod, publish) {
            continue;
        }
        let Some(ip) = pod_ip(pod, svc) else {
            continue;
        };
        let addr = EndpointAddress {
            ip,
            hostname: hostname_for(pod, svc),
            node_name: pod.spec.as_ref().and_then(|s| s.node_name.clone()),
            target_ref: Some(target_ref(pod)),
        };
        let ports: Vec<EndpointPort> = svc_ports
            .iter()
            .filter_map(|sp| {
                Some(EndpointPort {
                    name: sp.name.clone().filter(|n| !n.is_empty()),
                    port: find_port(pod, sp)?,
                    protocol: Some(sp.protocol.clone().unwrap_or_else(|| "TCP".to_string())),
                    app_protocol: sp.app_protocol.clone(),
                })
            })
            .collect();
        if svc_ports.is_empty() && !is_headless(svc) {
            continue;
        }
        if !svc_ports.is_empty() && ports.is_empty() {
            continue;
        }
        let mut key: Vec<PortKey> = ports.into_iter().map(PortKey).collect();
        key.sort();
        let entry = sets.entry(key).or_default();
        let uid = pod.uid().unwrap_or_default();
        if publish || is_ready(pod) {
            entry.1.remove(&uid);
            entry.0.insert(uid, addr);
        } else if !entry.0.contains_key(&uid) {
            entry.1.insert(uid, addr);
        }
    }
    let mut room = MAX_CAPACITY;
    let total: usize = sets.values().map(|(r, n)| r.len() + n.len()).sum();
    let truncated = total > MAX_CAPACITY;
    let by_ip = |m: Addrs| {
        let mut v: Vec<EndpointAddress> = m.into_values().collect();
        v.sort_by(|a, b| a.ip.cmp(&b.ip));
        v
    };
    let mut subsets: Vec<EndpointSubset> = Vec::new();
    let mut not_ready_left = Vec::new();
    for (ports, (ready, not_ready)) in sets {
        let mut ready = by_ip(ready);
        ready.truncate(room);
        room -= ready.len();
        not_ready_left.push(by_ip(not_ready));
        subsets.push(EndpointSubset {
            addresses: Some(ready).filter(|v| !v.is_empty()),
            not_ready_addresses: None,
            ports: Some(ports.into_iter().map(|p| p.0).collect::<Vec<_>>())
                .filter(|v| !v.is_empty()),
        });
    }
    // Not-ready addresses only fill what room the ready ones left.
    for (s, mut nr) in subsets.iter_mut().zip(not_ready_left) {
        nr.truncate(room);
        room -= nr.len();
        s.not_ready_addresses = Some(nr).filter(|v| !v.is_empty());
    }
    subsets.retain(|s| s.addresses.is_some() || s.not_ready_addresses.is_some());
    (subsets, truncated)
}

/// An endpoint port ordered by name, then port and protocol.
#[derive(PartialEq)]
struct PortKey(EndpointPort);

impl Eq for PortKey {}

impl PartialOrd for PortKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for PortKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        let k = |p: &EndpointPort| {
            (
                p.name.clone(),
                p.port,
                p.protocol.clone(),
                p.app_protocol.clone(),
            )
        };
        k(&self.0).cmp(&k(&other.0))
    }
}

// ---- helpers shared with the EndpointSlice controller ----

/// The Service's selector, if it has a non-empty one.
pub fn selector_of(svc: &Service) -> Option<&BTreeMap<String, String>> {
    svc.spec
        .as_ref()
        .and_then(|s| s.selector.as_ref())
        .filter(|s| !s.is_empty())
}

/// Whether `svc` (with a selector) selects `pod` (same namespace).
pub fn selects(svc: &Service, pod: &Pod) -> bool {
    let Some(sel) = selector_of(svc) else {
        return false;
    };
    if pod.metadata.namespace != svc.metadata.namespace {
        return false;
    }
    let labels = pod.metadata.labels.as_ref();
    sel.iter()
        .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
}

pub fn is_headless(svc: &Service) -> bool {
    svc.spec.as_ref().and_then(|s| s.cluster_ip.as_deref()) == Some("None")
}

/// Kubernetes' `ShouldPodBeInEndpoints`: not finished, has an IP, and not
/// being deleted unless `include_terminating`.
pub fn should_be_in_endpoints(pod: &Pod, include_terminating: bool) -> bool {
    if is_terminal(pod) {
        return false;
    }
    let status = pod.status.as_ref();
    let has_ip = status.is_some_and(|s| {
        s.pod_ip.as_deref().is_some_and(|ip| !ip.is_empty())
            || s.pod_ips.as_ref().is_some_and(|ips| !ips.is_empty())
    });
    has_ip && (include_terminating || pod.metadata.deletion_timestamp.is_none())
}

/// The pod's address in the Service's (first) IP family.
pub fn pod_ip(pod: &Pod, svc: &Service) -> Option<String> {
    let v6 = svc
        .spec
        .as_ref()
        .and_then(|s| s.ip_families.as_ref())
        .and_then(|f| f.first())
        .is_some_and(|f| f == "IPv6");
    let status = pod.status.as_ref()?;
    let mut ips: Vec<String> = status
        .pod_ips
        .iter()
        .flatten()
        .map(|p| p.ip.clone())
        .collect();
    if let Some(ip) = &status.pod_ip {
        ips.insert(0, ip.clone());
    }
    ips.into_iter()
        .find(|ip| !ip.is_empty() && ip.contains(':') == v6)
}

/// The pod's hostname, when it names itself into the Service's subdomain.
pub fn hostname_for(pod: &Pod, svc: &Service) -> Option<String> {
    let spec = pod.spec.as_ref()?;
    let hostname = spec.hostname.clone().filter(|h| !h.is_empty())?;
    (spec.subdomain.as_deref() == svc.metadata.name.as_deref()
        && pod.metadata.namespace == svc.metadata.namespace)
        .then_some(hostname)
}

pub fn target_ref(pod: &Pod) -> ObjectReference {
    ObjectReference {
        kind: Some("Pod".to_string()),
        namespace: pod.metadata.namespace.clone(),
        name: pod.metadata.name.clone(),
        uid: pod.metadata.uid.clone(),
        ..ObjectReference::default()
    }
}

/// The pod's port for a Service port (Kubernetes' `FindPort`): a numeric
/// `targetPort` (the `port` if none) as is, a name as the containerPort
/// of the container port of that name and protocol.
pub fn find_port(pod: &Pod, sp: &ServicePort) -> Option<i32> {
    match &sp.target_port {
        None => Some(sp.port),
        Some(IntOrString::Int(n)) => Some(*n),
        Some(IntOrString::String(s)) => {
            if let Ok(n) = s.parse::<i32>() {
                return Some(n);
            }
            let protocol = sp.protocol.as_deref().unwrap_or("TCP");
            pod.spec
                .as_ref()?
                .containers
                .iter()
                .flat_map(|c| c.ports.iter().flatten())
                .find(|p| {
                    p.name.as_deref() == Some(s.as_str())
                        && p.protocol.as_deref().unwrap_or("TCP") == protocol
                })
                .map(|p| p.container_port)
        }
    }
}

/// The pod of a change (the new version, or the deleted one).
pub fn changed_pod<'a>(change: &'a Change<'_, Pod>) -> Option<&'a Pod> {
    match change {
        Change::Applied { new, .. } => Some(new),
        Change::Deleted(p) => Some(p),
    }
}

/// When a pod last changed in a way that matters to endpoints: its Ready
/// condition's transition, else its creation.
pub fn pod_trigger_time(pod: &Pod) -> Option<Timestamp> {
    let ready = pod
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"))
        .and_then(|c| c.last_transition_time.as_ref().map(|t| t.0));
    ready.or_else(|| pod.metadata.creation_timestamp.as_ref().map(|t| t.0))
}

/// The Services a pod change concerns: those selecting the pod before or
/// after the change.
pub fn services_for_pod_change(ctx: &Context, change: &Change<'_, Pod>) -> Vec<Key> {
    let (old, new): (Option<&Pod>, &Pod) = match change {
        Change::Applied { old, new } => (old.as_deref(), new),
        Change::Deleted(p) => (None, p),
    };
    let mut out: Vec<Key> = ctx
        .informers
        .services
        .store()
        .state()
        .into_iter()
        .filter(|s| selects(s, new) || old.is_some_and(|o| selects(s, o)))
        .map(|s| Key::of(s.as_ref()))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The earliest change per Service not yet written out (Kubernetes'
/// `TriggerTimeTracker`, fed with pod and Service change times).
#[derive(Default)]
pub struct TriggerTimes(Mutex<HashMap<Key, Timestamp>>);

impl TriggerTimes {
    pub fn note(&self, key: &Key, t: Timestamp) {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let e = m.entry(key.clone()).or_insert(t);
        if t < *e {
            *e = t;
        }
    }

    pub fn take(&self, key: &Key) -> Option<Timestamp> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).remove(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn svc(v: serde_json::Value) -> Service {
        serde_json::from_value(v).expect("service")
    }

    fn pod(name: &str, ip: &str, ready: bool, extra: serde_json::Value) -> Arc<Pod> {
        let mut v = json!({
            "metadata": {"name": name, "namespace": "ns", "uid": format!("uid-{name}"),
                         "labels": {"app": "web"}},
            "spec": {"nodeName": "node-1", "containers": [{"name": "c", "image": "nginx",
                "ports": [{"name": "http", "containerPort": 8080}]}]},
            "status": {"phase": "Running", "podIP": ip,
                "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]}
        });
        if let (Some(m), Some(e)) = (v.as_object_mut(), extra.as_object()) {
            for (k, x) in e {
                m.insert(k.clone(), x.clone());
            }
        }
        Arc::new(serde_json::from_value(v).expect("pod"))
    }

    fn web(target: serde_json::Value, extra: serde_json::Value) -> Service {
        let mut spec = json!({"selector": {"app": "web"},
            "ports": [{"name": "web", "port": 80, "targetPort": target, "protocol": "TCP"}]});
        if let (Some(m), Some(e)) = (spec.as_object_mut(), extra.as_object()) {
            for (k, x) in e {
                m.insert(k.clone(), x.clone());
            }
        }
        svc(json!({"metadata": {"name": "web", "namespace": "ns"}, "spec": spec}))
    }

    #[test]
    fn ready_and_not_ready_pods_share_a_subset_by_port() {
        let s = web(json!("http"), json!({}));
        let pods = [
            pod("b", "10.0.0.2", true, json!({})),
            pod("a", "10.0.0.1", true, json!({})),
            pod("c", "10.0.0.3", false, json!({})),
            pod("d", "", true, json!({})),
        ];
        let (subsets, truncated) = desired_subsets(&s, &pods);
        assert!(!truncated);
        assert_eq!(subsets.len(), 1);
        let ips = |v: &Option<Vec<EndpointAddress>>| -> Vec<String> {
            v.iter().flatten().map(|a| a.ip.clone()).collect()
        };
        assert_eq!(ips(&subsets[0].addresses), ["10.0.0.1", "10.0.0.2"]);
        assert_eq!(ips(&subsets[0].not_ready_addresses), ["10.0.0.3"]);
        let ports = subsets[0].ports.clone().unwrap_or_default();
        assert_eq!(ports.len(), 1);
        assert_eq!(ports[0].port, 8080);
        assert_eq!(ports[0].name.as_deref(), Some("web"));
        assert_eq!(ports[0].protocol.as_deref(), Some("TCP"));
        let a = &subsets[0]
            .addresses
            .as_ref()
            .map(|v| v[0].clone())
            .unwrap_or_default();
        assert_eq!(a.node_name.as_deref(), Some("node-1"));
        let r = a.target_ref.clone().unwrap_or_default();
        assert_eq!(
            (r.kind.as_deref(), r.name.as_deref()),
            (Some("Pod"), Some("a"))
        );
        assert_eq!(r.uid.as_deref(), Some("uid-a"));
    }

    #[test]
    fn terminating_and_finished_pods_are_left_out_unless_published() {
        let s = web(json!(8080), json!({}));
        let deleting = pod(
            "t",
            "10.0.0.9",
            true,
            json!({"metadata": {"name": "t", "namespace": "ns", "uid": "u",
                  "labels": {"app": "web"}, "deletionTimestamp": "2026-01-01T00:00:00Z"}}),
        );
        let mut done = (*pod("f", "10.0.0.8", false, json!({}))).clone();
        if let Some(st) = done.status.as_mut() {
            st.phase = Some("Succeeded".into());
        }
        let pods = [deleting.clone(), Arc::new(done.clone())];
        assert!(desired_subsets(&s, &pods).0.is_empty());
        let published = web(json!(8080), json!({"publishNotReadyAddresses": true}));
        let (subsets, _) = desired_subsets(&published, &pods);
        assert_eq!(subsets.len(), 1);
        let addrs = subsets[0].addresses.clone().unwrap_or_default();
        assert_eq!(addrs.len(), 1);
        assert_eq!(addrs[0].ip, "10.0.0.9");
    }

    #[test]
    fn a_pod_without_the_named_port_is_left_out() {
        let s = web(json!("metrics"), json!({}));
        assert!(
            desired_subsets(&s, &[pod("a", "10.0.0.1", true, json!({}))])
                .0
                .is_empty()
        );
    }

    #[test]
    fn past_capacity_ready_addresses_are_kept_first() {
        let s = web(json!(8080), json!({}));
        let pods: Vec<Arc<Pod>> = (0..1005)
            .map(|i| {
                pod(
                    &format!("p{i}"),
                    &format!("10.1.{}.{}", i / 256, i % 256),
                    i % 2 == 0,
                    json!({}),
                )
            })
            .collect();
        let (subsets, truncated) = desired_subsets(&s, &pods);
        assert!(truncated);
        let ready = subsets[0].addresses.as_ref().map_or(0, Vec::len);
        let not_ready = subsets[0].not_ready_addresses.as_ref().map_or(0, Vec::len);
        assert_eq!((ready, not_ready), (503, 497));
    }

    #[test]
    fn labels_copy_the_service_and_mark_headless() {
        let s = svc(
            json!({"metadata": {"name": "db", "namespace": "ns", "labels": {"tier": "x"}},
            "spec": {"clusterIP": "None", "selector": {"app": "db"}}}),
        );
        let l = desired_labels(&s);
        assert_eq!(l.get("tier").map(String::as_str), Some("x"));
        assert_eq!(
            l.get(LABEL_MANAGED_BY).map(String::as_str),
            Some(MANAGED_BY)
        );
        assert_eq!(l.get(LABEL_HEADLESS).map(String::as_str), Some(""));
    }

    #[test]
    fn trigger_times_keep_the_earliest_change() {
        let t = TriggerTimes::default();
        let k = Key::new("ns", "web");
        let early = Timestamp::from_second(100).unwrap_or(Timestamp::UNIX_EPOCH);
        let late = Timestamp::from_second(200).unwrap_or(Timestamp::UNIX_EPOCH);
        t.note(&k, late);
        t.note(&k, early);
        assert_eq!(t.take(&k), Some(early));
        assert_eq!(t.take(&k), None);
    }
}
