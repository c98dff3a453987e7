//! The text of one `nft -f -` transaction: a full one that replaces the
//! table ([`full_script`]) or an incremental one with only what changed
//! ([`incremental_script`]). Either is applied atomically by the kernel:
//! a crash before it leaves the old rules, after it the new ones.
//!
//! An incremental transaction runs in phases, so every object exists
//! before it is referenced and is unreferenced before it goes:
//! 1. new chains and affinity sets are added;
//! 2. map elements that went or changed are deleted;
//! 3. chains whose rules changed, and chains that went, are flushed (the
//!    latter are deleted later, in a transaction of their own: before
//!    Linux 6.2 a chain that a just-deleted verdict map element pointed to
//!    still counts as used for a moment);
//! 4. affinity sets that went are deleted;
//! 5. the rules of new and changed chains are added;
//! 6. new and changed map elements are added.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::base::{base_commands, BaseConfig};
use crate::rules::ServiceRules;

/// Every element of every map and set: (map, key) → verdict.
pub type ElementMap = BTreeMap<(&'static str, String), Option<String>>;

/// The table rebuilt: deleted and made again in one transaction (live
/// connections keep their conntrack entries and NAT; only the affinity
/// sets start empty).
pub fn full_script<'a>(
    base: &BaseConfig,
    services: impl Iterator<Item = &'a ServiceRules> + Clone,
    elements: &ElementMap,
) -> String {
    let t = format!("ip {}", base.table);
    let mut s = format!("add table {t}\ndelete table {t}\n");
    s.push_str(&base_commands(base));
    for rules in services.clone() {
        for (set, timeout) in &rules.sets {
            add_set(&mut s, &t, set, *timeout);
        }
        for chain in rules.chains.keys() {
            let _ = writeln!(s, "add chain {t} {chain}");
        }
    }
    for rules in services {
        for (chain, body) in &rules.chains {
            add_rules(&mut s, &t, chain, body);
        }
    }
    add_elements(&mut s, &t, elements.iter());
    s
}

/// One Service's rules before and after (`None`: it had or has none).
pub type Delta<'a> = (Option<&'a ServiceRules>, Option<&'a ServiceRules>);

/// Only what changed. Returns the script (empty when nothing changed) and
/// the chains that went (flushed now, to delete later).
pub fn incremental_script(
    table: &str,
    deltas: &[Delta<'_>],
    old_elements: &ElementMap,
    new_elements: &ElementMap,
) -> (String, Vec<String>) {
    let t = format!("ip {table}");
    let empty = ServiceRules::default();
    let mut added_chains = String::new();
    let mut flushes = String::new();
    let mut set_deletes = String::new();
    let mut rules = String::new();
    let mut gone = Vec::new();
    for (old, new) in deltas {
        let old = old.unwrap_or(&empty);
        let new = new.unwrap_or(&empty);
        for (set, timeout) in &new.sets {
            if !old.sets.contains_key(set) {
                add_set(&mut added_chains, &t, set, *timeout);
            }
        }
        for (chain, body) in &new.chains {
            match old.chains.get(chain) {
                None => {
                    let _ = writeln!(added_chains, "add chain {t} {chain}");
                    add_rules(&mut rules, &t, chain, body);
                }
                Some(before) if before != body => {
                    let _ = writeln!(flushes, "flush chain {t} {chain}");
                    add_rules(&mut rules, &t, chain, body);
                }
                Some(_) => {}
            }
        }
        for chain in old.chains.keys() {
            if !new.chains.contains_key(chain) {
                let _ = writeln!(flushes, "flush chain {t} {chain}");
                gone.push(chain.clone());
            }
        }
        for set in old.sets.keys() {
            if !new.sets.contains_key(set) {
                let _ = writeln!(set_deletes, "delete set {t} {set}");
            }
        }
    }
    let mut element_deletes = String::new();
    let mut by_map: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for ((map, key), value) in old_elements {
        if new_elements.get(&(*map, key.clone())) != Some(value) {
            by_map.entry(map).or_default().push(key);
        }
    }
    for (map, keys) in by_map {
        let _ = writeln!(
            element_deletes,
            "delete element {t} {map} {{ {} }}",
            keys.join(", ")
        );
    }
    let mut element_adds = String::new();
    add_elements(
        &mut element_adds,
        &t,
        new_elements
            .iter()
            .filter(|(k, v)| old_elements.get(k) != Some(v)),
    );
    let mut s = added_chains;
    s.push_str(&element_deletes);
    s.push_str(&flushes);
    s.push_str(&set_deletes);
    s.push_str(&rules);
    s.push_str(&element_adds);
    (s, gone)
}

/// Deleting chains flushed by an earlier transaction.
pub fn delete_chains_script(table: &str, chains: &[String]) -> String {
    let mut s = String::new();
    for c in chains {
        let _ = writeln!(s, "delete chain ip {table} {c}");
    }
    s
}

fn add_set(s: &mut String, t: &str, set: &str, timeout: u32) {
    let _ = writeln!(
        s,
        "add set {t} {set} {{ type ipv4_addr ; flags dynamic,timeout ; timeout {timeout}s ; }}"
    );
}

fn add_rules(s: &mut String, t: &str, chain: &str, body: &[String]) {
    for rule in body {
        let _ = writeln!(s, "add rule {t} {chain} {rule}");
    }
}

fn add_elements<'a>(
    s: &mut String,
    t: &str,
    elements: impl Iterator<Item = (&'a (&'static str, String), &'a Option<String>)>,
) {
    let mut by_map: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for ((map, key), value) in elements {
        by_map.entry(map).or_default().push(match value {
            Some(v) => format!("{key} : {v}"),
            None => key.clone(),
        });
    }
    for (map, items) in by_map {
        let _ = writeln!(s, "add element {t} {map} {{ {} }}", items.join(", "));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(chains: &[(&str, &[&str])], sets: &[(&str, u32)]) -> ServiceRules {
        ServiceRules {
            chains: chains
                .iter()
                .map(|(c, r)| (c.to_string(), r.iter().map(|x| x.to_string()).collect()))
                .collect(),
            sets: sets.iter().map(|(s, t)| (s.to_string(), *t)).collect(),
            elements: vec![],
            ports: vec![],
        }
    }

    fn elements(items: &[(&'static str, &str, Option<&str>)]) -> ElementMap {
        items
            .iter()
            .map(|(m, k, v)| ((*m, k.to_string()), v.map(str::to_string)))
            .collect()
    }

    #[test]
    fn only_changes_are_written_in_order() {
        let old = rules(
            &[
                ("svc/a", &["numgen random mod 1 vmap { 0 : goto ep/1 }"]),
                ("ep/1", &["dnat to 1"]),
                ("ep/2", &["dnat to 2"]),
            ],
            &[("aff/1", 60)],
        );
        let new = rules(
            &[
                ("svc/a", &["numgen random mod 1 vmap { 0 : goto ep/3 }"]),
                ("ep/1", &["dnat to 1"]),
                ("ep/3", &["dnat to 3"]),
            ],
            &[("aff/3", 60)],
        );
        let old_el = elements(&[
            ("service-ips", "10.96.0.1 . tcp . 80", Some("goto svc/a")),
            ("cluster-ips", "10.96.0.2", None),
        ]);
        let new_el = elements(&[
            ("service-ips", "10.96.0.1 . tcp . 80", Some("goto svc/a")),
            ("cluster-ips", "10.96.0.3", None),
        ]);
        let (s, gone) = incremental_script("T", &[(Some(&old), Some(&new))], &old_el, &new_el);
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(
            lines,
            [
                "add set ip T aff/3 { type ipv4_addr ; flags dynamic,timeout ; timeout 60s ; }",
                "add chain ip T ep/3",
                "delete element ip T cluster-ips { 10.96.0.2 }",
                "flush chain ip T svc/a",
                "flush chain ip T ep/2",
                "delete set ip T aff/1",
                "add rule ip T ep/3 dnat to 3",
                "add rule ip T svc/a numgen random mod 1 vmap { 0 : goto ep/3 }",
                "add element ip T cluster-ips { 10.96.0.3 }",
            ]
        );
        assert_eq!(gone, ["ep/2"]);
        let (same, none) = incremental_script("T", &[(Some(&new), Some(&new))], &new_el, &new_el);
        assert!(same.is_empty() && none.is_empty());
    }

    #[test]
    fn a_changed_verdict_is_deleted_then_added() {
        let old_el = elements(&[("service-ips", "k", Some("goto a"))]);
        let new_el = elements(&[("service-ips", "k", Some("goto b"))]);
        let (s, _) = incremental_script("T", &[], &old_el, &new_el);
        assert_eq!(
            s,
            "delete element ip T service-ips { k }\nadd element ip T service-ips { k : goto b }\n"
        );
    }

    #[test]
    fn full_replaces_the_table() {
        let base = BaseConfig {
            table: "T".into(),
            bridge: "br".into(),
            cluster_cidr: "10.244.0.0/16".parse().expect("cidr"),
        };
        let r = rules(&[("svc/a", &["x"])], &[("aff/1", 5)]);
        let s = full_script(
            &base,
            [&r].into_iter(),
            &elements(&[("cluster-ips", "10.96.0.1", None)]),
        );
        assert!(s.starts_with("add table ip T\ndelete table ip T\nadd table ip T {"));
        let set = s.find("add set ip T aff/1").expect("set");
        let chain = s.find("add chain ip T svc/a").expect("chain");
        let rule = s.find("add rule ip T svc/a x").expect("rule");
        let element = s
            .find("add element ip T cluster-ips { 10.96.0.1 }")
            .expect("element");
        assert!(set < rule && chain < rule && rule < element);
    }
}
