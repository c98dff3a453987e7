//! The change tracker: the Services, EndpointSlices and simulated nodes
//! seen so far, which Services changed since the last sync, and the rules
//! last written. [`Tracker::plan`] turns that into one transaction — the
//! whole table on the first sync (or after a failed one), otherwise only
//! the chains, sets and map elements of the Services that changed — and
//! [`Tracker::commit`] records it once the kernel took it. No I/O here.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::Ipv4Addr;
use std::time::{Instant, SystemTime};

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;

use crate::base::BaseConfig;
use crate::conntrack::{stale_flows, Flush};
use crate::endpoints::{service_endpoints, Admission, LABEL_SERVICE_NAME};
use crate::model::{ServiceName, ServicePort};
use crate::rules::{service_rules, ServiceRules};
use crate::service_port::service_ports;
use crate::transaction::{full_script, incremental_script, ElementMap};

/// The annotation EndpointSlices carry with the time of the change that
/// triggered them (kube-controller-manager's, and rkube's).
pub const TRIGGER_TIME: &str = "endpoints.kubernetes.io/last-change-trigger-time";

/// One transaction to apply, and what to record once it is applied.
#[derive(Debug)]
pub struct Plan {
    /// The whole table (`true`) or only changes.
    pub full: bool,
    /// The `nft -f` input; empty when nothing changed.
    pub script: String,
    /// The UDP conntrack entries to delete after it is applied.
    pub flushes: BTreeSet<Flush>,
    /// Times of the changes it carries (EndpointSlices' trigger times).
    pub triggers: Vec<SystemTime>,
    changes: BTreeMap<ServiceName, Option<ServiceRules>>,
    /// The claims on every element key this plan touches (all of them on
    /// a full plan); an empty claim map: the key goes.
    claims: Claims,
    gone_chains: Vec<String>,
}

/// Which Services put each element key in the table, with their values;
/// the first Service by name owns a contested key (two Services with the
/// same external IP and port), whatever order they changed in.
type Claims = HashMap<(&'static str, String), BTreeMap<ServiceName, Option<String>>>;

/// A Service's health check (`externalTrafficPolicy: Local` with a
/// `healthCheckNodePort`) and its ready endpoints on this node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthCheck {
    pub service: ServiceName,
    pub port: u16,
    pub local_endpoints: usize,
}

/// See the module's docs.
pub struct Tracker {
    base: BaseConfig,
    admission: Admission,
    services: HashMap<ServiceName, Vec<ServicePort>>,
    /// Slices by the Service they name, then by their own name.
    slices: HashMap<ServiceName, BTreeMap<String, EndpointSlice>>,
    /// Which Service each slice (namespace, name) was filed under.
    slice_owner: HashMap<(String, String), ServiceName>,
    dirty: BTreeSet<ServiceName>,
    triggers: Vec<SystemTime>,
    applied: BTreeMap<ServiceName, ServiceRules>,
    claims: Claims,
    /// Flushed chains to delete, with when they were flushed.
    stale_chains: BTreeMap<String, Instant>,
    needs_full: bool,
}

impl Tracker {
    pub fn new(base: BaseConfig, admission: Admission) -> Tracker {
        Tracker {
            base,
            admission,
            services: HashMap::new(),
            slices: HashMap::new(),
            slice_owner: HashMap::new(),
            dirty: BTreeSet::new(),
            triggers: Vec::new(),
            applied: BTreeMap::new(),
            claims: Claims::new(),
            stale_chains: BTreeMap::new(),
            needs_full: true,
        }
    }

    /// Whether a sync has something to do.
    pub fn pending(&self) -> bool {
        self.needs_full || !self.dirty.is_empty()
    }

    /// A Service was added or changed.
    pub fn update_service(&mut self, svc: &Service) {
        let Some(name) = service_name(svc) else {
            return;
        };
        let ports = service_ports(svc);
        if self.services.get(&name) != Some(&ports) {
            if ports.is_empty() {
                self.services.remove(&name);
            } else {
                self.services.insert(name.clone(), ports);
            }
            self.dirty.insert(name);
        }
    }

    /// A Service was deleted.
    pub fn delete_service(&mut self, namespace: &str, name: &str) {
        let name = ServiceName::new(namespace, name);
        if self.services.remove(&name).is_some() {
            self.dirty.insert(name);
        }
    }

    /// An EndpointSlice was added or changed.
    pub fn update_slice(&mut self, slice: &EndpointSlice) {
        let (Some(ns), Some(slice_name)) = (&slice.metadata.namespace, &slice.metadata.name) else {
            return;
        };
        let key = (ns.clone(), slice_name.clone());
        let owner = slice
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(LABEL_SERVICE_NAME))
            .map(|svc| ServiceName::new(ns, svc));
        if let Some(before) = self.slice_owner.get(&key).cloned() {
            if Some(&before) != owner.as_ref() {
                self.remove_slice(&key);
            }
        }
        let Some(owner) = owner else {
            return;
        };
        if let Some(t) = trigger_time(slice) {
            self.triggers.push(t);
        }
        let mut slice = slice.clone();
        slice.metadata.managed_fields = None;
        let slot = self.slices.entry(owner.clone()).or_default();
        if slot.get(slice_name) != Some(&slice) {
            slot.insert(slice_name.clone(), slice);
            self.dirty.insert(owner.clone());
        }
        self.slice_owner.insert(key, owner);
    }

    /// An EndpointSlice was deleted.
    pub fn delete_slice(&mut self, namespace: &str, name: &str) {
        self.remove_slice(&(namespace.to_string(), name.to_string()));
    }

    fn remove_slice(&mut self, key: &(String, String)) {
        let Some(owner) = self.slice_owner.remove(key) else {
            return;
        };
        if let Some(slot) = self.slices.get_mut(&owner) {
            if slot.remove(&key.1).is_some() {
                self.dirty.insert(owner.clone());
            }
            if slot.is_empty() {
                self.slices.remove(&owner);
            }
        }
    }

    /// Forget every Service and slice (the watch started over: what it
    /// lists again is added back; what is not comes out at the next sync).
    pub fn forget_services(&mut self) {
        self.dirty.extend(self.services.keys().cloned());
        self.services.clear();
    }

    /// See [`Tracker::forget_services`].
    pub fn forget_slices(&mut self) {
        self.dirty.extend(self.slices.keys().cloned());
        self.slices.clear();
        self.slice_owner.clear();
    }

    /// The simulated nodes changed (their endpoints' admission with them).
    pub fn set_simulated_nodes(&mut self, nodes: HashSet<String>) {
        if self.admission.simulated_nodes != nodes {
            self.admission.simulated_nodes = nodes;
            self.touch_all();
        }
    }

    /// The host's addresses changed.
    pub fn set_local_addresses(&mut self, addrs: BTreeSet<Ipv4Addr>) {
        if self.admission.local_addresses != addrs {
            self.admission.local_addresses = addrs;
            self.touch_all();
        }
    }

    fn touch_all(&mut self) {
        self.dirty.extend(self.services.keys().cloned());
        self.dirty.extend(self.applied.keys().cloned());
    }

    /// Rebuild the whole table at the next sync (after a failed one).
    pub fn force_full(&mut self) {
        self.needs_full = true;
    }

    fn rules_for(&self, name: &ServiceName) -> Option<ServiceRules> {
        let ports = self.services.get(name)?;
        let eps = service_endpoints(
            self.slices.get(name).into_iter().flat_map(|s| s.values()),
            &self.admission,
        );
        Some(service_rules(ports, &eps, self.base.cluster_cidr))
    }

    /// The next transaction (see the module's docs). Takes the changes
    /// noted so far: if it fails, call [`Tracker::force_full`].
    pub fn plan(&mut self) -> Plan {
        let triggers = std::mem::take(&mut self.triggers);
        let dirty = std::mem::take(&mut self.dirty);
        if self.needs_full {
            let mut names: BTreeSet<ServiceName> = self.services.keys().cloned().collect();
            names.extend(self.applied.keys().cloned());
            let changes: BTreeMap<ServiceName, Option<ServiceRules>> = names
                .into_iter()
                .map(|n| {
                    let r = self.rules_for(&n);
                    (n, r)
                })
                .collect();
            let mut claims = Claims::new();
            for (name, rules) in &changes {
                for e in rules.iter().flat_map(|r| &r.elements) {
                    claims
                        .entry((e.map, e.key.clone()))
                        .or_default()
                        .insert(name.clone(), e.value.clone());
                }
            }
            let elements = effective(claims.iter());
            let script = full_script(&self.base, changes.values().flatten(), &elements);
            let mut flushes = BTreeSet::new();
            for (name, new) in &changes {
                flushes.extend(stale_flows(self.applied.get(name), new.as_ref()));
            }
            return Plan {
                full: true,
                script,
                flushes,
                triggers,
                changes,
                claims,
                gone_chains: Vec::new(),
            };
        }
        let changes: BTreeMap<ServiceName, Option<ServiceRules>> = dirty
            .into_iter()
            .map(|n| {
                let r = self.rules_for(&n);
                (n, r)
            })
            .filter(|(n, r)| self.applied.get(n) != r.as_ref())
            .collect();
        let mut flushes = BTreeSet::new();
        let deltas: Vec<_> = changes
            .iter()
            .map(|(n, new)| {
                let old = self.applied.get(n);
                flushes.extend(stale_flows(old, new.as_ref()));
                (old, new.as_ref())
            })
            .collect();
        // Only the element keys the changed Services had or have are
        // looked at: the rest of the table's elements stay as they are.
        let mut touched = Claims::new();
        for (name, new) in &changes {
            let old = self.applied.get(name);
            for e in old
                .iter()
                .flat_map(|r| &r.elements)
                .chain(new.iter().flat_map(|r| &r.elements))
            {
                let key = (e.map, e.key.clone());
                if let std::collections::hash_map::Entry::Vacant(slot) = touched.entry(key) {
                    let committed = self.claims.get(slot.key()).cloned().unwrap_or_default();
                    slot.insert(committed);
                }
            }
        }
        for (name, new) in &changes {
            for e in self.applied.get(name).iter().flat_map(|r| &r.elements) {
                if let Some(c) = touched.get_mut(&(e.map, e.key.clone())) {
                    c.remove(name);
                }
            }
            for e in new.iter().flat_map(|r| &r.elements) {
                if let Some(c) = touched.get_mut(&(e.map, e.key.clone())) {
                    c.insert(name.clone(), e.value.clone());
                }
            }
        }
        let old_elements = effective(touched.keys().filter_map(|k| self.claims.get_key_value(k)));
        let new_elements = effective(touched.iter());
        let (script, gone_chains) =
            incremental_script(&self.base.table, &deltas, &old_elements, &new_elements);
        Plan {
            full: false,
            script,
            flushes,
            triggers,
            changes,
            claims: touched,
            gone_chains,
        }
    }

    /// The plan's transaction was applied.
    pub fn commit(&mut self, plan: Plan, now: Instant) {
        if plan.full {
            self.stale_chains.clear();
            self.applied.clear();
            self.claims.clear();
            self.needs_full = false;
        }
        for (key, claims) in plan.claims {
            if claims.is_empty() {
                self.claims.remove(&key);
            } else {
                self.claims.insert(key, claims);
            }
        }
        for (name, rules) in plan.changes {
            if let Some(r) = &rules {
                for chain in r.chains.keys() {
                    self.stale_chains.remove(chain);
                }
            }
            match rules {
                Some(r) => self.applied.insert(name, r),
                None => self.applied.remove(&name),
            };
        }
        for chain in plan.gone_chains {
            self.stale_chains.insert(chain, now);
        }
    }

    /// Chains flushed at least `age` ago: safe to delete now.
    pub fn stale_chains(&self, now: Instant, age: std::time::Duration) -> Vec<String> {
        self.stale_chains
            .iter()
            .filter(|(_, t)| now.duration_since(**t) >= age)
            .map(|(c, _)| c.clone())
            .collect()
    }

    /// The oldest chain waiting to be deleted, if any.
    pub fn oldest_stale(&self) -> Option<Instant> {
        self.stale_chains.values().min().copied()
    }

    /// These chains were deleted.
    pub fn chains_deleted(&mut self, chains: &[String]) {
        for c in chains {
            self.stale_chains.remove(c);
        }
    }

    /// The health checks to serve, with this node's ready endpoints of
    /// each Service (distinct addresses over all its ports).
    pub fn health_checks(&self) -> Vec<HealthCheck> {
        let mut out = Vec::new();
        for (name, ports) in &self.services {
            let Some(port) = ports
                .iter()
                .map(|p| p.health_check_node_port)
                .find(|p| *p != 0)
            else {
                continue;
            };
            let eps = service_endpoints(
                self.slices.get(name).into_iter().flat_map(|s| s.values()),
                &self.admission,
            );
            let local: BTreeSet<Ipv4Addr> = eps
                .values()
                .flatten()
                .filter(|e| e.local && e.ready)
                .map(|e| e.ip)
                .collect();
            out.push(HealthCheck {
                service: name.clone(),
                port,
                local_endpoints: local.len(),
            });
        }
        out.sort_by(|a, b| a.service.cmp(&b.service));
        out
    }

    /// The rules last applied for a Service (tests, diagnostics).
    pub fn applied(&self, name: &ServiceName) -> Option<&ServiceRules> {
        self.applied.get(name)
    }
}

fn service_name(svc: &Service) -> Option<ServiceName> {
    Some(ServiceName::new(
        svc.metadata.namespace.as_deref()?,
        svc.metadata.name.as_deref()?,
    ))
}

fn trigger_time(slice: &EndpointSlice) -> Option<SystemTime> {
    let s = slice.metadata.annotations.as_ref()?.get(TRIGGER_TIME)?;
    let ts: jiff::Timestamp = s.parse().ok()?;
    Some(SystemTime::from(ts))
}

/// The elements in the table: each key with its first claimant's value.
fn effective<'a>(
    claims: impl Iterator<
        Item = (
            &'a (&'static str, String),
            &'a BTreeMap<ServiceName, Option<String>>,
        ),
    >,
) -> ElementMap {
    claims
        .filter_map(|(k, c)| Some((k.clone(), c.values().next()?.clone())))
        .collect()
}

#[cfg(test)]
#[path = "tracker_test.rs"]
mod tests;
