//! Rules that look beyond one node: inter-pod affinity and anti-affinity
//! (`InterPodAffinity`) and `topologySpreadConstraints`
//! (`PodTopologySpread`). Both group nodes into topology domains by a node
//! label (`kubernetes.io/hostname`, `topology.kubernetes.io/zone`…), so
//! what the pods of the whole cluster do is counted once per incoming pod
//! ([`prepare`]) and each node is then judged against those counts.
//!
//! Namespaces of a term: `namespaces`, or the incoming pod's own; a
//! non-empty `namespaceSelector` is taken as every namespace (namespace
//! labels are not read here).

use std::collections::{BTreeMap, HashMap, HashSet};

use k8s_openapi::api::core::v1::{Node, Pod, PodAffinityTerm, TopologySpreadConstraint};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use rkube_apimachinery::matching::{label_selector_matches, node_affinity_matches};

use crate::cache::{Cache, NodeInfo, PodMeta};
use crate::filter::Reason;

fn label<'a>(node: &'a Node, key: &str) -> Option<&'a str> {
    node.metadata.labels.as_ref()?.get(key).map(String::as_str)
}

/// A label selector against labels (a missing selector matches nothing).
fn selects(sel: Option<&LabelSelector>, labels: &BTreeMap<String, String>) -> bool {
    label_selector_matches(sel, Some(labels))
}

/// Whether `term` (of a pod in `owner_ns`) selects `pod`.
fn term_selects(term: &PodAffinityTerm, owner_ns: &str, pod: &PodMeta) -> bool {
    let in_ns = match (&term.namespaces, &term.namespace_selector) {
        (Some(list), _) if !list.is_empty() => list.contains(&pod.namespace),
        (_, Some(_)) => true,
        _ => pod.namespace == owner_ns,
    };
    in_ns && selects(term.label_selector.as_ref(), &pod.labels)
}

struct Term {
    term: PodAffinityTerm,
    /// Domains (values of the term's topology key) holding a selected pod.
    domains: HashSet<String>,
}

struct Spread {
    c: TopologySpreadConstraint,
    counts: HashMap<String, i64>,
    min: i64,
    self_match: i64,
}

/// What the cluster's pods mean for one incoming pod.
#[derive(Default)]
pub struct Prepared {
    affinity: Vec<Term>,
    /// Some selected pod exists for every affinity term.
    affinity_anywhere: bool,
    anti: Vec<Term>,
    /// (topology key, value) domains where an existing pod's anti-affinity
    /// repels the incoming pod.
    repelled: HashSet<(String, String)>,
    preferred: Vec<(i64, Term)>,
    spread: Vec<Spread>,
}

impl Prepared {
    pub fn is_empty(&self) -> bool {
        self.affinity.is_empty()
            && self.anti.is_empty()
            && self.repelled.is_empty()
            && self.preferred.is_empty()
            && self.spread.is_empty()
    }
}

fn domains_of(cache: &Cache, term: &PodAffinityTerm, ns: &str) -> HashSet<String> {
    let mut out = HashSet::new();
    for info in cache.nodes.values() {
        let Some(v) = label(&info.node, &term.topology_key) else {
            continue;
        };
        if !out.contains(v) && info.pods.values().any(|p| term_selects(term, ns, p)) {
            out.insert(v.to_string());
        }
    }
    out
}

/// Counts, once per incoming pod, what its affinity rules and spread
/// constraints need.
pub fn prepare(pod: &Pod, cache: &Cache) -> Prepared {
    let mut p = Prepared::default();
    let Some(spec) = pod.spec.as_ref() else {
        return p;
    };
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let me = PodMeta::of(pod);
    let aff = spec.affinity.as_ref();
    let required_affinity = aff
        .and_then(|a| a.pod_affinity.as_ref())
        .and_then(|a| {
            a.required_during_scheduling_ignored_during_execution
                .clone()
        })
        .unwrap_or_default();
    p.affinity_anywhere = true;
    for term in required_affinity {
        let domains = domains_of(cache, &term, &ns);
        if domains.is_empty() {
            p.affinity_anywhere = false;
        }
        p.affinity.push(Term { term, domains });
    }
    // The first pod of a group that wants to be with its own kind may go
    // anywhere, as in Kubernetes.
    if !p.affinity_anywhere && p.affinity.iter().all(|t| term_selects(&t.term, &ns, &me)) {
        p.affinity.clear();
    }
    for term in aff
        .and_then(|a| a.pod_anti_affinity.as_ref())
        .and_then(|a| {
            a.required_during_scheduling_ignored_during_execution
                .clone()
        })
        .unwrap_or_default()
    {
        let domains = domains_of(cache, &term, &ns);
        p.anti.push(Term { term, domains });
    }
    if cache.with_anti_affinity > 0 {
        for info in cache.nodes.values() {
            for other in info.pods.values().filter(|o| !o.anti_affinity.is_empty()) {
                for term in &other.anti_affinity {
                    if term_selects(term, &other.namespace, &me) {
                        if let Some(v) = label(&info.node, &term.topology_key) {
                            p.repelled
                                .insert((term.topology_key.clone(), v.to_string()));
                        }
                    }
                }
            }
        }
    }
    let weighted = |list: Option<&Vec<k8s_openapi::api::core::v1::WeightedPodAffinityTerm>>,
                    sign: i64| {
        list.into_iter()
            .flatten()
            .map(|w| {
                let domains = domains_of(cache, &w.pod_affinity_term, &ns);
                (
                    sign * i64::from(w.weight),
                    Term {
                        term: w.pod_affinity_term.clone(),
                        domains,
                    },
                )
            })
            .collect::<Vec<_>>()
    };
    p.preferred.extend(weighted(
        aff.and_then(|a| a.pod_affinity.as_ref()).and_then(|a| {
            a.preferred_during_scheduling_ignored_during_execution
                .as_ref()
        }),
        1,
    ));
    p.preferred.extend(weighted(
        aff.and_then(|a| a.pod_anti_affinity.as_ref())
            .and_then(|a| {
                a.preferred_during_scheduling_ignored_during_execution
                    .as_ref()
            }),
        -1,
    ));
    for c in spec.topology_spread_constraints.iter().flatten() {
        let mut counts: HashMap<String, i64> = HashMap::new();
        let honor_affinity = c.node_affinity_policy.as_deref() != Some("Ignore");
        for info in cache.nodes.values() {
            let Some(v) = label(&info.node, &c.topology_key) else {
                continue;
            };
            if honor_affinity && !node_affinity_matches(pod.spec.as_ref(), &info.node) {
                continue;
            }
            let n = info
                .pods
                .values()
                .filter(|o| o.namespace == ns && selects(c.label_selector.as_ref(), &o.labels))
                .count() as i64;
            *counts.entry(v.to_string()).or_insert(0) += n;
        }
        let min_domains = i64::from(c.min_domains.unwrap_or(1));
        let min = if (counts.len() as i64) < min_domains {
            0
        } else {
            counts.values().copied().min().unwrap_or(0)
        };
        let self_match = i64::from(selects(c.label_selector.as_ref(), &me.labels));
        p.spread.push(Spread {
            c: c.clone(),
            counts,
            min,
            self_match,
        });
    }
    p
}

/// The InterPodAffinity and PodTopologySpread filters for one node.
pub fn filter(p: &Prepared, info: &NodeInfo) -> Result<(), Reason> {
    let node = info.node.as_ref();
    for t in &p.affinity {
        let ok = label(node, &t.term.topology_key).is_some_and(|v| t.domains.contains(v));
        if !ok {
            return Err("node(s) didn't match pod affinity rules".into());
        }
    }
    for t in &p.anti {
        if label(node, &t.term.topology_key).is_some_and(|v| t.domains.contains(v)) {
            return Err("node(s) didn't match pod anti-affinity rules".into());
        }
    }
    for (key, value) in &p.repelled {
        if label(node, key) == Some(value.as_str()) {
            return Err("node(s) didn't satisfy existing pods anti-affinity rules".into());
        }
    }
    for s in p
        .spread
        .iter()
        .filter(|s| s.c.when_unsatisfiable == "DoNotSchedule")
    {
        let Some(v) = label(node, &s.c.topology_key) else {
            return Err(
                "node(s) didn't match pod topology spread constraints (missing required label)"
                    .into(),
            );
        };
        let count = s.counts.get(v).copied().unwrap_or(0);
        if count + s.self_match - s.min > i64::from(s.c.max_skew) {
            return Err("node(s) didn't match pod topology spread constraints".into());
        }
    }
    Ok(())
}

/// Preferred (anti-)affinity and ScheduleAnyway spreading, for one node.
pub fn score(p: &Prepared, info: &NodeInfo) -> i64 {
    let node = info.node.as_ref();
    let mut score = 0;
    for (weight, t) in &p.preferred {
        if label(node, &t.term.topology_key).is_some_and(|v| t.domains.contains(v)) {
            score += weight;
        }
    }
    for s in p
        .spread
        .iter()
        .filter(|s| s.c.when_unsatisfiable != "DoNotSchedule")
    {
        if let Some(v) = label(node, &s.c.topology_key) {
            let count = s.counts.get(v).copied().unwrap_or(0);
            score += (100 - 20 * (count - s.min)).max(0);
        }
    }
    score
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;

    fn cache(nodes: &[(&str, &str)], pods: &[(&str, &str, serde_json::Value)]) -> Cache {
        let mut c = Cache::default();
        for (name, zone) in nodes {
            let node: Node = serde_json::from_value(json!({"metadata": {"name": name,
                "labels": {"kubernetes.io/hostname": name, "topology.kubernetes.io/zone": zone}},
                "status": {"allocatable": {"cpu": "8", "memory": "8Gi", "pods": "100"}}}))
            .expect("node");
            c.set_node(node);
        }
        for (uid, node, pod) in pods {
            let pod: Pod = serde_json::from_value(pod.clone()).expect("pod");
            c.place(uid, node, &pod);
        }
        c
    }

    fn pod(labels: serde_json::Value, spec: serde_json::Value) -> Pod {
        let mut spec = spec;
        spec["containers"] = json!([{"name": "c"}]);
        serde_json::from_value(
            json!({"metadata": {"name": "p", "namespace": "ns", "labels": labels}, "spec": spec}),
        )
        .expect("pod")
    }

    fn verdicts(p: &Pod, c: &Cache) -> Vec<(String, Result<(), Reason>)> {
        let prep = prepare(p, c);
        c.nodes
            .iter()
            .map(|(n, info)| (n.clone(), filter(&prep, info)))
            .collect()
    }

    fn ok_nodes(p: &Pod, c: &Cache) -> Vec<String> {
        verdicts(p, c)
            .into_iter()
            .filter(|(_, r)| r.is_ok())
            .map(|(n, _)| n)
            .collect()
    }

    #[test]
    fn anti_affinity_keeps_replicas_apart_both_ways() {
        let web = json!({"metadata": {"name": "w", "namespace": "ns", "labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c"}], "affinity": {"podAntiAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [{"topologyKey": "kubernetes.io/hostname",
                    "labelSelector": {"matchLabels": {"app": "web"}}}]}}}});
        let c = cache(
            &[("a", "z1"), ("b", "z1"), ("c", "z2")],
            &[("w1", "a", web.clone())],
        );
        let mut second: Pod = serde_json::from_value(web).expect("pod");
        second.metadata.name = Some("w2".into());
        assert_eq!(ok_nodes(&second, &c), ["b", "c"]);
        // A plain pod with app=web is repelled by w1's rule (symmetry).
        let plain = pod(json!({"app": "web"}), json!({}));
        let v = verdicts(&plain, &c);
        assert_eq!(
            v[0].1,
            Err("node(s) didn't satisfy existing pods anti-affinity rules".to_string())
        );
        assert!(v[1].1.is_ok());
    }

    #[test]
    fn affinity_follows_the_pods_it_names_by_zone() {
        let db = json!({"metadata": {"name": "d", "namespace": "ns", "labels": {"app": "db"}}, "spec": {"containers": [{"name": "c"}]}});
        let c = cache(&[("a", "z1"), ("b", "z1"), ("c", "z2")], &[("d1", "a", db)]);
        let near_db = pod(
            json!({"app": "api"}),
            json!({"affinity": {"podAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [{"topologyKey": "topology.kubernetes.io/zone",
                "labelSelector": {"matchLabels": {"app": "db"}}}]}}}),
        );
        assert_eq!(ok_nodes(&near_db, &c), ["a", "b"]);
        let v = verdicts(&near_db, &c);
        assert_eq!(
            v[2].1,
            Err("node(s) didn't match pod affinity rules".to_string())
        );
    }

    #[test]
    fn spread_constraints_cap_the_skew_between_zones() {
        let web = |n: &str| json!({"metadata": {"name": n, "namespace": "ns", "labels": {"app": "web"}}, "spec": {"containers": [{"name": "c"}]}});
        let c = cache(
            &[("a", "z1"), ("b", "z1"), ("c", "z2")],
            &[("1", "a", web("1")), ("2", "b", web("2"))],
        );
        let spread = pod(
            json!({"app": "web"}),
            json!({"topologySpreadConstraints": [{"maxSkew": 1,
            "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": {"app": "web"}}}]}),
        );
        // z1 has 2, z2 has 0: only z2 keeps the skew at most 1.
        assert_eq!(ok_nodes(&spread, &c), ["c"]);
        let _ = Arc::new(());
    }
}
