//! The EndpointSlice controller: for every Service with a selector, the
//! `discovery.k8s.io/v1` EndpointSlices listing the matching pods.
//!
//! - one group of slices per distinct port set (pods whose named target
//!   port resolves differently land in different slices), at most 100
//!   endpoints per slice, `addressType` from the Service's first IP
//!   family;
//! - slices are named `<service>-<random>` (generateName), labelled
//!   `kubernetes.io/service-name` and `endpointslice.kubernetes.io/managed-by:
//!   endpointslice-controller.k8s.io` (plus the Service's own labels and
//!   `service.kubernetes.io/headless`), controlled by the Service;
//! - an endpoint is `{addresses, conditions {ready, serving, terminating},
//!   nodeName, targetRef, zone, hostname}`; terminating pods stay, with
//!   `ready: false` (unless `publishNotReadyAddresses`);
//! - existing slices are updated in place (endpoints that stay keep their
//!   slice, new ones fill the free room first); empty slices are deleted,
//!   and a Service without endpoints keeps one empty placeholder slice;
//! - ExternalName Services and Services without a selector get none;
//! - what this controller wrote is tracked until its informer has seen
//!   it, so a stale cache never makes it create twice.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Node, Pod, Service};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort, EndpointSlice};
use kube::api::{Api, DeleteParams, PostParams};
use kube::runtime::reflector::ObjectRef;
use kube::ResourceExt;
use tokio::task::JoinHandle;
use tracing::debug;

use crate::endpoints::{
    changed_pod, find_port, hostname_for, is_headless, pod_ip, pod_trigger_time, selector_of,
    selects, services_for_pod_change, should_be_in_endpoints, target_ref, TriggerTimes,
    LABEL_HEADLESS, TRIGGER_TIME,
};
use crate::framework::context::Context;
use crate::framework::informer::Change;
use crate::framework::owner::owner_ref;
use crate::framework::queue::{Key, Queue};
use crate::framework::runner::{spawn_workers, Outcome};
use crate::pods::is_ready;

pub const NAME: &str = "endpointslice-controller";
pub const LABEL_SERVICE_NAME: &str = "kubernetes.io/service-name";
pub const LABEL_MANAGED_BY: &str = "endpointslice.kubernetes.io/managed-by";
pub const MANAGED_BY: &str = "endpointslice-controller.k8s.io";
const LABEL_ZONE: &str = "topology.kubernetes.io/zone";
/// Most endpoints in one slice (kube-controller-manager's default
/// `--max-endpoints-per-slice`).
pub const MAX_ENDPOINTS: usize = 100;
const WORKERS: usize = 5;
/// How long a write of ours may stay unseen by the informer before it is
/// assumed lost.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(10);

struct Controller {
    ctx: Arc<Context>,
    queue: Queue,
    triggers: TriggerTimes,
    tracker: Tracker,
}

pub fn start(ctx: &Arc<Context>) -> Vec<JoinHandle<()>> {
    let c = Arc::new(Controller {
        ctx: ctx.clone(),
        queue: Queue::default(),
        triggers: TriggerTimes::default(),
        tracker: Tracker::default(),
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
    let me = c.clone();
    ctx.informers.endpointslices.on_change(move |change| {
        let slice = match change {
            Change::Applied { new, .. } => *new,
            Change::Deleted(s) => *s,
        };
        if let Some(key) = service_of(slice) {
            me.queue.add(key);
        }
    });
    // A node's zone feeds its endpoints' `zone`.
    let me = c.clone();
    ctx.informers.nodes.on_change(move |change| {
        let moved = match change {
            Change::Applied {
                old: Some(old),
                new,
            } => zone(old) != zone(new),
            _ => false,
        };
        if moved {
            for svc in me.ctx.informers.services.store().state() {
                if selector_of(&svc).is_some() {
                    me.queue.add(Key::of(svc.as_ref()));
                }
            }
        }
    });
    let me = c.clone();
    spawn_workers(NAME, c.queue.clone(), WORKERS, move |key| {
        let me = me.clone();
        async move { me.reconcile(key).await }
    })
}

/// The Service a slice of ours belongs to.
fn service_of(slice: &EndpointSlice) -> Option<Key> {
    let labels = slice.labels();
    if labels.get(LABEL_MANAGED_BY).map(String::as_str) != Some(MANAGED_BY) {
        return None;
    }
    let svc = labels.get(LABEL_SERVICE_NAME)?;
    Some(Key::new(slice.namespace().unwrap_or_default(), svc.clone()))
}

fn is_external_name(svc: &Service) -> bool {
    svc.spec.as_ref().and_then(|s| s.type_.as_deref()) == Some("ExternalName")
}

fn zone(node: &Node) -> Option<&String> {
    node.labels().get(LABEL_ZONE)
}

impl Controller {
    async fn reconcile(&self, key: Key) -> Outcome {
        if !self.tracker.settled(&key, &self.ctx) {
            return Ok(Some(Duration::from_millis(100)));
        }
        let existing: Vec<Arc<EndpointSlice>> = self
            .ctx
            .informers
            .endpointslices
            .store()
            .state()
            .into_iter()
            .filter(|s| service_of(s).as_ref() == Some(&key))
            .collect();
        let api: Api<EndpointSlice> = Api::namespaced(self.ctx.client.clone(), &key.namespace);
        let svc = self
            .ctx
            .informers
            .services
            .store()
            .get(&ObjectRef::new(&key.name).within(&key.namespace));
        let svc = match svc {
            Some(s)
                if selector_of(&s).is_some()
                    && s.metadata.deletion_timestamp.is_none()
                    && !is_external_name(&s) =>
            {
                s
            }
            Some(s) if s.metadata.deletion_timestamp.is_none() => {
                // No selector (or ExternalName): slices are someone
                // else's business.
                self.triggers.take(&key);
                return Ok(None);
            }
            _ => {
                self.triggers.take(&key);
                for s in &existing {
                    self.delete(&api, &key, &s.name_any()).await?;
                }
                return Ok(None);
            }
        };
        let pods: Vec<Arc<Pod>> = self
            .ctx
            .informers
            .pods
            .store()
            .state()
            .into_iter()
            .filter(|p| selects(&svc, p))
            .collect();
        let nodes = self.ctx.informers.nodes.store();
        let zone_of = |name: &str| {
            nodes
                .get(&ObjectRef::new(name))
                .and_then(|n| zone(&n).cloned())
        };
        let desired = desired_endpoints(&svc, &pods, &zone_of);
        let existing: Vec<EndpointSlice> = existing.iter().map(|s| (**s).clone()).collect();
        let plan = plan(&svc, &existing, desired);
        if plan.is_empty() {
            self.triggers.take(&key);
            return Ok(None);
        }
        let trigger = self.triggers.take(&key);
        let stamp = |mut s: EndpointSlice| {
            if let Some(t) = trigger {
                s.metadata
                    .annotations
                    .get_or_insert_with(BTreeMap::new)
                    .insert(TRIGGER_TIME.to_string(), t.to_string());
            }
            s
        };
        let result = self.apply(&api, &key, plan, stamp).await;
        if result.is_err() {
            if let Some(t) = trigger {
                self.triggers.note(&key, t);
            }
        }
        result.map(|()| None)
    }

    async fn apply(
        &self,
        api: &Api<EndpointSlice>,
        key: &Key,
        plan: Plan,
        stamp: impl Fn(EndpointSlice) -> EndpointSlice,
    ) -> Result<(), crate::ControllerError> {
        // As kube-controller-manager: new endpoints show up before old
        // ones go.
        let pp = PostParams::default();
        for s in plan.create {
            let got = api.create(&pp, &stamp(s)).await?;
            self.tracker.wrote(key, got.name_any(), rv(&got));
        }
        for s in plan.update {
            let name = s.name_any();
            let got = api.replace(&name, &pp, &stamp(s)).await?;
            self.tracker.wrote(key, name, rv(&got));
        }
        for name in plan.delete {
            self.delete(api, key, &name).await?;
        }
        debug!(service = %key, "endpoint slices written");
        Ok(())
    }

    async fn delete(
        &self,
        api: &Api<EndpointSlice>,
        key: &Key,
        name: &str,
    ) -> Result<(), crate::ControllerError> {
        match api.delete(name, &DeleteParams::default()).await {
            Ok(_) => {
                self.tracker.wrote(key, name.to_string(), None);
                Ok(())
            }
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

fn rv(s: &EndpointSlice) -> Option<u64> {
    Some(
        s.metadata
            .resource_version
            .as_deref()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
    )
}

/// Slices written (or deleted: `None`) and not yet seen so by the
/// informer, per Service.
#[derive(Default)]
struct Tracker(Mutex<HashMap<Key, Writes>>);

/// When the last write was, and each slice's resourceVersion written
/// (`None`: deleted).
type Writes = (Instant, HashMap<String, Option<u64>>);

impl Tracker {
    fn wrote(&self, key: &Key, name: String, rv: Option<u64>) {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let e = m
            .entry(key.clone())
            .or_insert_with(|| (Instant::now(), HashMap::new()));
        e.0 = Instant::now();
        e.1.insert(name, rv);
    }

    /// Whether the informer has seen every write of ours for `key` (or
    /// they are too old to wait for).
    fn settled(&self, key: &Key, ctx: &Context) -> bool {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let Some((at, writes)) = m.get_mut(key) else {
            return true;
        };
        let store = ctx.informers.endpointslices.store();
        writes.retain(|name, want| {
            let seen = store.get(&ObjectRef::new(name).within(&key.namespace));
            match (want, seen) {
                (None, None) => false,
                (None, Some(_)) => true,
                (Some(_), None) => true,
                (Some(v), Some(s)) => rv(&s).unwrap_or(0) < *v,
            }
        });
        if writes.is_empty() || at.elapsed() > SETTLE_TIMEOUT {
            m.remove(key);
            return true;
        }
        false
    }
}

/// The desired endpoints of `svc`, grouped by their port set.
pub type Desired = BTreeMap<String, (Vec<EndpointPort>, Vec<Endpoint>)>;

/// One endpoint per selected pod that should be in endpoints (terminating
/// pods included), grouped by the ports the pod resolves.
pub fn desired_endpoints(
    svc: &Service,
    pods: &[Arc<Pod>],
    zone_of: &dyn Fn(&str) -> Option<String>,
) -> Desired {
    let spec = svc.spec.clone().unwrap_or_default();
    let publish = spec.publish_not_ready_addresses.unwrap_or(false);
    let svc_ports = spec.ports.unwrap_or_default();
    let mut pods: Vec<&Arc<Pod>> = pods.iter().collect();
    pods.sort_by_key(|p| p.name_any());
    let mut out = Desired::new();
    for pod in pods {
        if !should_be_in_endpoints(pod, true) {
            continue;
        }
        let Some(ip) = pod_ip(pod, svc) else {
            continue;
        };
        let mut ports: Vec<EndpointPort> = svc_ports
            .iter()
            .filter_map(|sp| {
                Some(EndpointPort {
                    name: Some(sp.name.clone().unwrap_or_default()),
                    port: Some(find_port(pod, sp)?),
                    protocol: Some(sp.protocol.clone().unwrap_or_else(|| "TCP".to_string())),
                    app_protocol: sp.app_protocol.clone(),
                })
            })
            .collect();
        ports.sort_by_key(port_key);
        let serving = is_ready(pod);
        let terminating = pod.metadata.deletion_timestamp.is_some();
        let node_name = pod.spec.as_ref().and_then(|s| s.node_name.clone());
        let ep = Endpoint {
            addresses: vec![ip],
            conditions: Some(EndpointConditions {
                ready: Some(publish || (serving && !terminating)),
                serving: Some(serving),
                terminating: Some(terminating),
            }),
            hostname: hostname_for(pod, svc),
            zone: node_name.as_deref().and_then(zone_of),
            node_name,
            target_ref: Some(target_ref(pod)),
            ..Endpoint::default()
        };
        let group = ports_key(&ports);
        out.entry(group)
            .or_insert_with(|| (ports, Vec::new()))
            .1
            .push(ep);
    }
    out
}

fn port_key(p: &EndpointPort) -> (Option<String>, Option<i32>, Option<String>) {
    (p.name.clone(), p.port, p.protocol.clone())
}

fn ports_key(ports: &[EndpointPort]) -> String {
    let mut keys: Vec<_> = ports.iter().map(port_key).collect();
    keys.sort();
    format!("{keys:?}")
}

fn endpoint_key(ep: &Endpoint) -> String {
    ep.target_ref
        .as_ref()
        .and_then(|r| r.uid.clone())
        .unwrap_or_else(|| ep.addresses.join(","))
}

/// What to write.
#[derive(Debug, Default)]
pub struct Plan {
    pub create: Vec<EndpointSlice>,
    pub update: Vec<EndpointSlice>,
    pub delete: Vec<String>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.create.is_empty() && self.update.is_empty() && self.delete.is_empty()
    }
}

fn address_type(svc: &Service) -> &'static str {
    let v6 = svc
        .spec
        .as_ref()
        .and_then(|s| s.ip_families.as_ref())
        .and_then(|f| f.first())
        .is_some_and(|f| f == "IPv6");
    if v6 {
        "IPv6"
    } else {
        "IPv4"
    }
}

/// The labels of `svc`'s slices.
fn slice_labels(svc: &Service) -> BTreeMap<String, String> {
    let mut labels = svc.labels().clone();
    labels.insert(LABEL_SERVICE_NAME.to_string(), svc.name_any());
    labels.insert(LABEL_MANAGED_BY.to_string(), MANAGED_BY.to_string());
    if is_headless(svc) {
        labels.insert(LABEL_HEADLESS.to_string(), String::new());
    } else {
        labels.remove(LABEL_HEADLESS);
    }
    labels
}

fn new_slice(svc: &Service, ports: Vec<EndpointPort>, endpoints: Vec<Endpoint>) -> EndpointSlice {
    let mut s = EndpointSlice {
        address_type: address_type(svc).to_string(),
        endpoints: Some(endpoints),
        ports: Some(ports).filter(|p| !p.is_empty()),
        ..EndpointSlice::default()
    };
    s.metadata.generate_name = Some(format!("{}-", svc.name_any()));
    s.metadata.namespace = svc.namespace();
    s.metadata.labels = Some(slice_labels(svc));
    s.metadata.owner_references = Some(vec![owner_ref(svc)]);
    s
}

/// The writes that turn `existing` slices into `desired`: endpoints that
/// stay keep their slice (updated if they changed), new endpoints fill
/// the room of existing slices of their port set before new slices are
/// made, emptied slices go, one placeholder stays when nothing is left.
pub fn plan(svc: &Service, existing: &[EndpointSlice], desired: Desired) -> Plan {
    let mut p = Plan::default();
    let labels = slice_labels(svc);
    let addr_type = address_type(svc);
    let mut by_group: BTreeMap<String, Vec<&EndpointSlice>> = BTreeMap::new();
    for s in existing {
        if s.address_type != addr_type {
            p.delete.push(s.name_any());
            continue;
        }
        let ports = s.ports.clone().unwrap_or_default();
        by_group.entry(ports_key(&ports)).or_default().push(s);
    }
    if desired.values().all(|(_, eps)| eps.is_empty()) {
        // Keep one empty slice without ports (the placeholder).
        let keep = existing.iter().find(|s| {
            s.address_type == addr_type
                && s.endpoints.as_ref().is_none_or(Vec::is_empty)
                && s.ports.as_ref().is_none_or(Vec::is_empty)
        });
        for s in existing {
            if Some(s.name_any()) != keep.map(|k| k.name_any()) && !p.delete.contains(&s.name_any())
            {
                p.delete.push(s.name_any());
            }
        }
        match keep {
            Some(k) if k.labels() == &labels => {}
            Some(k) => {
                let mut k = k.clone();
                k.metadata.labels = Some(labels);
                p.update.push(k);
            }
            None => p.create.push(new_slice(svc, Vec::new(), Vec::new())),
        }
        return p;
    }
    for (group, (ports, eps)) in desired {
        let mut want: BTreeMap<String, Endpoint> = BTreeMap::new();
        let mut order: Vec<String> = Vec::new();
        for ep in eps {
            let k = endpoint_key(&ep);
            order.push(k.clone());
            want.insert(k, ep);
        }
        let mut slices: Vec<(EndpointSlice, bool)> = by_group
            .remove(&group)
            .unwrap_or_default()
            .into_iter()
            .map(|s| (s.clone(), false))
            .collect();
        slices.sort_by_key(|(s, _)| s.name_any());
        // Endpoints that stay keep their slice.
        for (s, changed) in &mut slices {
            let cur = s.endpoints.clone().unwrap_or_default();
            let kept: Vec<Endpoint> = cur
                .iter()
                .filter_map(|ep| want.remove(&endpoint_key(ep)))
                .collect();
            if kept != cur {
                *changed = true;
            }
            s.endpoints = Some(kept);
        }
        // New endpoints fill free room, then new slices.
        let mut rest: Vec<Endpoint> = order.iter().filter_map(|k| want.remove(k)).collect();
        for (s, changed) in &mut slices {
            let eps = s.endpoints.get_or_insert_with(Vec::new);
            if rest.is_empty() || eps.is_empty() || eps.len() >= MAX_ENDPOINTS {
                continue;
            }
            let n = (MAX_ENDPOINTS - eps.len()).min(rest.len());
            eps.extend(rest.drain(..n));
            *changed = true;
        }
        for (s, changed) in &mut slices {
            let eps = s.endpoints.get_or_insert_with(Vec::new);
            if eps.is_empty() && !rest.is_empty() {
                let n = MAX_ENDPOINTS.min(rest.len());
                eps.extend(rest.drain(..n));
                *changed = true;
            }
        }
        for (mut s, changed) in slices {
            if s.endpoints.as_ref().is_none_or(Vec::is_empty) {
                p.delete.push(s.name_any());
            } else if changed || s.labels() != &labels {
                s.metadata.labels = Some(labels.clone());
                p.update.push(s);
            }
        }
        while !rest.is_empty() {
            let n = MAX_ENDPOINTS.min(rest.len());
            let chunk: Vec<Endpoint> = rest.drain(..n).collect();
            p.create.push(new_slice(svc, ports.clone(), chunk));
        }
    }
    // Port sets nobody has any more.
    for slices in by_group.into_values() {
        for s in slices {
            p.delete.push(s.name_any());
        }
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn web() -> Service {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "ns", "uid": "svc-uid", "labels": {"team": "a"}},
            "spec": {"selector": {"app": "web"},
                     "ports": [{"port": 80, "targetPort": "http", "protocol": "TCP"}]}
        }))
        .expect("service")
    }

    fn pod(i: usize, port: i32, ready: bool) -> Arc<Pod> {
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": format!("p{i:04}"), "namespace": "ns", "uid": format!("u{i}"),
                             "labels": {"app": "web"}},
                "spec": {"nodeName": "n1", "containers": [{"name": "c",
                    "ports": [{"name": "http", "containerPort": port}]}]},
                "status": {"phase": "Running", "podIP": format!("10.0.{}.{}", i / 256, i % 256),
                    "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]}
            }))
            .expect("pod"),
        )
    }

    fn no_zone(_: &str) -> Option<String> {
        Some("zone-a".to_string())
    }

    fn named(mut s: EndpointSlice, name: &str) -> EndpointSlice {
        s.metadata.name = Some(name.to_string());
        s
    }

    #[test]
    fn endpoints_carry_conditions_node_zone_and_target() {
        let pods = [pod(1, 8080, true), pod(2, 8080, false)];
        let d = desired_endpoints(&web(), &pods, &no_zone);
        assert_eq!(d.len(), 1);
        let (ports, eps) = d.values().next().cloned().unwrap_or_default();
        assert_eq!(ports[0].port, Some(8080));
        assert_eq!(ports[0].name.as_deref(), Some(""));
        assert_eq!(eps.len(), 2);
        let c = eps[0].conditions.clone().unwrap_or_default();
        assert_eq!(
            (c.ready, c.serving, c.terminating),
            (Some(true), Some(true), Some(false))
        );
        let c = eps[1].conditions.clone().unwrap_or_default();
        assert_eq!(c.ready, Some(false));
        assert_eq!(eps[0].zone.as_deref(), Some("zone-a"));
        assert_eq!(eps[0].node_name.as_deref(), Some("n1"));
        assert_eq!(
            eps[0].target_ref.as_ref().and_then(|r| r.name.as_deref()),
            Some("p0001")
        );
    }

    #[test]
    fn slices_hold_at_most_100_endpoints_and_split_by_port() {
        let mut pods: Vec<Arc<Pod>> = (0..250).map(|i| pod(i, 8080, true)).collect();
        pods.push(pod(999, 9090, true));
        let svc = web();
        let p = plan(&svc, &[], desired_endpoints(&svc, &pods, &no_zone));
        let sizes: Vec<usize> = p
            .create
            .iter()
            .map(|s| s.endpoints.as_ref().map_or(0, Vec::len))
            .collect();
        assert_eq!(sizes, [100, 100, 50, 1]);
        let s = &p.create[0];
        assert_eq!(s.metadata.generate_name.as_deref(), Some("web-"));
        assert_eq!(s.address_type, "IPv4");
        let l = s.labels();
        assert_eq!(l.get(LABEL_SERVICE_NAME).map(String::as_str), Some("web"));
        assert_eq!(
            l.get(LABEL_MANAGED_BY).map(String::as_str),
            Some(MANAGED_BY)
        );
        assert_eq!(l.get("team").map(String::as_str), Some("a"));
        let o = &s.owner_references()[0];
        assert_eq!((o.kind.as_str(), o.uid.as_str()), ("Service", "svc-uid"));
        assert_eq!(o.controller, Some(true));
    }

    #[test]
    fn slices_are_updated_in_place_and_emptied_ones_deleted() {
        let svc = web();
        let three: Vec<Arc<Pod>> = (0..3).map(|i| pod(i, 8080, true)).collect();
        let first = plan(&svc, &[], desired_endpoints(&svc, &three, &no_zone));
        let existing = vec![named(first.create[0].clone(), "web-abcde")];
        // Nothing changed: nothing to write.
        assert!(plan(&svc, &existing, desired_endpoints(&svc, &three, &no_zone)).is_empty());
        // Scaled to one: the same slice shrinks.
        let p = plan(
            &svc,
            &existing,
            desired_endpoints(&svc, &three[..1], &no_zone),
        );
        assert!(p.create.is_empty() && p.delete.is_empty());
        assert_eq!(p.update.len(), 1);
        assert_eq!(p.update[0].name_any(), "web-abcde");
        assert_eq!(p.update[0].endpoints.as_ref().map_or(0, Vec::len), 1);
        // No pods: one placeholder replaces the slice.
        let p = plan(&svc, &existing, desired_endpoints(&svc, &[], &no_zone));
        assert_eq!(p.delete, ["web-abcde"]);
        assert_eq!(p.create.len(), 1);
        assert!(p.create[0].endpoints.as_ref().is_some_and(Vec::is_empty));
        assert!(p.create[0].ports.is_none());
        let placeholder = vec![named(p.create[0].clone(), "web-zzzzz")];
        assert!(plan(&svc, &placeholder, desired_endpoints(&svc, &[], &no_zone)).is_empty());
    }

    #[test]
    fn new_endpoints_fill_existing_room_first() {
        let svc = web();
        let pods: Vec<Arc<Pod>> = (0..150).map(|i| pod(i, 8080, true)).collect();
        let first = plan(&svc, &[], desired_endpoints(&svc, &pods, &no_zone));
        let existing: Vec<EndpointSlice> = first
            .create
            .into_iter()
            .enumerate()
            .map(|(i, s)| named(s, &format!("web-{i}")))
            .collect();
        let more: Vec<Arc<Pod>> = (0..170).map(|i| pod(i, 8080, true)).collect();
        let p = plan(&svc, &existing, desired_endpoints(&svc, &more, &no_zone));
        assert!(p.create.is_empty() && p.delete.is_empty());
        assert_eq!(p.update.len(), 1);
        assert_eq!(p.update[0].name_any(), "web-1");
        assert_eq!(p.update[0].endpoints.as_ref().map_or(0, Vec::len), 70);
    }
}
