//! [`Ruleset`] → `nft -f -` scripts: [`full`] replaces the whole table in
//! one transaction (the first sync of a run, and after a failed one),
//! [`diff`] changes only the sets, chains and map elements that differ.
//! Either way the kernel applies all of a script or none of it.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::net::Ipv4Addr;

use crate::ruleset::{Ruleset, EGRESS_MAP, FORWARD, INGRESS_MAP, INPUT};

/// The base chains' declarations: after the Service proxy's DNAT
/// (prerouting at `dstnat`), so the real pod addresses are matched.
fn base_chain_spec(name: &str) -> &'static str {
    if name == FORWARD {
        "{ type filter hook forward priority filter; policy accept; }"
    } else {
        "{ type filter hook input priority filter; policy accept; }"
    }
}

/// The script that makes the table hold exactly `r`, whatever it held.
pub fn full(table: &str, r: &Ruleset) -> String {
    let mut s = String::new();
    let t = format!("ip {table}");
    // `add` then `delete`: no error when the table is absent.
    let _ = writeln!(s, "add table {t}\ndelete table {t}\nadd table {t}");
    for (name, set) in &r.sets {
        let _ = writeln!(s, "add set {t} {name} {{ type {}; }}", set.kind.nft_type());
    }
    for map in [INGRESS_MAP, EGRESS_MAP] {
        let _ = writeln!(s, "add map {t} {map} {{ type ipv4_addr : verdict; }}");
    }
    for name in r.chains.keys() {
        let _ = writeln!(s, "add chain {t} {name}");
    }
    for (name, set) in &r.sets {
        elements(&mut s, "add", &t, name, set.elements.iter());
    }
    for (name, rules) in &r.chains {
        rules_of(&mut s, &t, name, rules);
    }
    for (name, rules) in [(FORWARD, &r.forward), (INPUT, &r.input)] {
        let _ = writeln!(s, "add chain {t} {name} {}", base_chain_spec(name));
        rules_of(&mut s, &t, name, rules);
    }
    map_elements(&mut s, "add", &t, INGRESS_MAP, r.ingress.iter());
    map_elements(&mut s, "add", &t, EGRESS_MAP, r.egress.iter());
    s
}

/// The script that turns a table holding `old` into one holding `new`;
/// empty when they are the same.
pub fn diff(table: &str, old: &Ruleset, new: &Ruleset) -> String {
    let mut s = String::new();
    let t = format!("ip {table}");
    // New sets and chains, and the elements sets gain.
    for (name, set) in &new.sets {
        match old.sets.get(name) {
            Some(o) if o.kind == set.kind => {
                elements(
                    &mut s,
                    "add",
                    &t,
                    name,
                    set.elements.difference(&o.elements),
                );
            }
            _ => {
                if old.sets.contains_key(name) {
                    // Same name, other type: cannot happen with the names
                    // compile gives; rebuild to be safe.
                    return full(table, new);
                }
                let _ = writeln!(s, "add set {t} {name} {{ type {}; }}", set.kind.nft_type());
                elements(&mut s, "add", &t, name, set.elements.iter());
            }
        }
    }
    for name in new.chains.keys().filter(|n| !old.chains.contains_key(*n)) {
        let _ = writeln!(s, "add chain {t} {name}");
    }
    // Chains whose rules changed are rewritten whole.
    for (name, rules) in &new.chains {
        match old.chains.get(name) {
            Some(o) if o == rules => {}
            Some(_) => {
                let _ = writeln!(s, "flush chain {t} {name}");
                rules_of(&mut s, &t, name, rules);
            }
            None => rules_of(&mut s, &t, name, rules),
        }
    }
    for (name, o, n) in [
        (FORWARD, &old.forward, &new.forward),
        (INPUT, &old.input, &new.input),
    ] {
        if o != n {
            let _ = writeln!(s, "flush chain {t} {name}");
            rules_of(&mut s, &t, name, n);
        }
    }
    // Verdict map elements.
    for (map, o, n) in [
        (INGRESS_MAP, &old.ingress, &new.ingress),
        (EGRESS_MAP, &old.egress, &new.egress),
    ] {
        let (gone, added) = map_changes(o, n);
        map_elements(&mut s, "delete", &t, map, gone.into_iter());
        map_elements(&mut s, "add", &t, map, added.into_iter());
    }
    // What is no longer referenced goes last.
    for (name, set) in &new.sets {
        if let Some(o) = old.sets.get(name) {
            elements(
                &mut s,
                "delete",
                &t,
                name,
                o.elements.difference(&set.elements),
            );
        }
    }
    for name in old.chains.keys().filter(|n| !new.chains.contains_key(*n)) {
        let _ = writeln!(s, "flush chain {t} {name}\ndelete chain {t} {name}");
    }
    for name in old.sets.keys().filter(|n| !new.sets.contains_key(*n)) {
        let _ = writeln!(s, "delete set {t} {name}");
    }
    s
}

/// The script that removes the table; nothing if it is absent.
pub fn remove(table: &str) -> String {
    format!("add table ip {table}\ndelete table ip {table}\n")
}

type MapEntry<'a> = (&'a Ipv4Addr, &'a String);

/// Elements to delete (gone or changed) and to add (new or changed).
fn map_changes<'a>(
    old: &'a BTreeMap<Ipv4Addr, String>,
    new: &'a BTreeMap<Ipv4Addr, String>,
) -> (Vec<MapEntry<'a>>, Vec<MapEntry<'a>>) {
    let gone = old
        .iter()
        .filter(|(ip, chain)| new.get(ip) != Some(chain))
        .collect();
    let added = new
        .iter()
        .filter(|(ip, chain)| old.get(ip) != Some(chain))
        .collect();
    (gone, added)
}

fn rules_of(s: &mut String, t: &str, chain: &str, rules: &[String]) {
    for rule in rules {
        let _ = writeln!(s, "add rule {t} {chain} {rule}");
    }
}

/// `add`/`delete element` in batches (one command per 500 elements).
fn elements<'a>(
    s: &mut String,
    verb: &str,
    t: &str,
    set: &str,
    items: impl Iterator<Item = &'a String>,
) {
    let items: Vec<&String> = items.collect();
    for chunk in items.chunks(500) {
        let list: Vec<&str> = chunk.iter().map(|e| e.as_str()).collect();
        let _ = writeln!(s, "{verb} element {t} {set} {{ {} }}", list.join(", "));
    }
}

fn map_elements<'a>(
    s: &mut String,
    verb: &str,
    t: &str,
    map: &str,
    items: impl Iterator<Item = MapEntry<'a>>,
) {
    let items: Vec<String> = items
        .map(|(ip, chain)| {
            if verb == "delete" {
                ip.to_string()
            } else {
                format!("{ip} : jump {chain}")
            }
        })
        .collect();
    elements(s, verb, t, map, items.iter());
}
