//! Policies, pods and namespaces → the [`Ruleset`] of this node: pure, no
//! I/O, so every rule of the NetworkPolicy API is unit-tested here
//! (`compile_test.rs`).
//!
//! The semantics (Kubernetes' NetworkPolicy API):
//! - A pod is isolated for ingress (egress) when a policy of its namespace
//!   selects it and lists `Ingress` (`Egress`) in `policyTypes`; without
//!   `policyTypes`, `Ingress` always and `Egress` when `egress` has rules.
//!   An isolated pod admits exactly the union of the rules of the policies
//!   that select it; a pod no policy isolates admits everything.
//! - A peer with a `podSelector` picks pods of the policy's namespace, with
//!   a `namespaceSelector` all pods of the namespaces it picks, with both
//!   the pods that match both; an empty `from`/`to` is every source or
//!   destination, an empty `ports` every port.
//! - `ipBlock` matches addresses as they are, pod addresses included (the
//!   API leaves that to the implementation; Calico and Cilium do the same),
//!   minus its `except` ranges. IPv6 blocks are ignored (the pod network
//!   is IPv4).
//! - Named ports: for ingress, the destination pod's own container port of
//!   that name and protocol; for egress, each peer pod's (a set of
//!   address . protocol . port); a name no pod gives matches nothing.
//!
//! Pods on the host network and finished pods are neither enforced nor
//! peers.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use k8s_openapi::api::networking::v1::{NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use rkube_net::Ipv4Cidr;

use crate::config::PolicyConfig;
use crate::objects::{Objects, PodInfo, NAMESPACE_NAME_LABEL};
use crate::ruleset::{NamedSet, Ruleset, SetKind, EGRESS_MAP, INGRESS_MAP, LOCAL_PODS};
use crate::selector;

/// Which way a rule looks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Direction {
    Ingress,
    Egress,
}

impl Direction {
    /// The short word in set and chain names.
    fn tag(self) -> &'static str {
        match self {
            Direction::Ingress => "in",
            Direction::Egress => "out",
        }
    }

    /// The address of the peer: the source of ingress, the destination of
    /// egress.
    fn peer_field(self) -> &'static str {
        match self {
            Direction::Ingress => "saddr",
            Direction::Egress => "daddr",
        }
    }

    fn word(self) -> &'static str {
        match self {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        }
    }
}

/// One rule of a policy, in either direction.
struct Rule<'a> {
    peers: &'a [NetworkPolicyPeer],
    ports: &'a [NetworkPolicyPort],
}

/// A policy with its defaults applied.
struct Policy<'a> {
    namespace: &'a str,
    name: &'a str,
    /// Short, stable name part for its sets.
    id: String,
    selector: LabelSelector,
    ingress: Option<Vec<Rule<'a>>>,
    egress: Option<Vec<Rule<'a>>>,
}

impl<'a> Policy<'a> {
    fn new(p: &'a NetworkPolicy) -> Option<Policy<'a>> {
        let spec = p.spec.as_ref()?;
        let namespace = p.metadata.namespace.as_deref()?;
        let name = p.metadata.name.as_deref()?;
        let ingress_rules: Vec<Rule<'a>> = spec
            .ingress
            .iter()
            .flatten()
            .map(|r| Rule {
                peers: r.from.as_deref().unwrap_or_default(),
                ports: r.ports.as_deref().unwrap_or_default(),
            })
            .collect();
        let egress_rules: Vec<Rule<'a>> = spec
            .egress
            .iter()
            .flatten()
            .map(|r| Rule {
                peers: r.to.as_deref().unwrap_or_default(),
                ports: r.ports.as_deref().unwrap_or_default(),
            })
            .collect();
        let (has_ingress, has_egress) = match spec.policy_types.as_deref() {
            Some(types) if !types.is_empty() => (
                types.iter().any(|t| t == "Ingress"),
                types.iter().any(|t| t == "Egress"),
            ),
            _ => (true, !egress_rules.is_empty()),
        };
        Some(Policy {
            namespace,
            name,
            id: short_hash(&format!("{namespace}/{name}")),
            selector: spec.pod_selector.clone().unwrap_or_default(),
            ingress: has_ingress.then_some(ingress_rules),
            egress: has_egress.then_some(egress_rules),
        })
    }

    fn rules(&self, dir: Direction) -> Option<&[Rule<'a>]> {
        match dir {
            Direction::Ingress => self.ingress.as_deref(),
            Direction::Egress => self.egress.as_deref(),
        }
    }

    /// The set of the pods a rule's selector peers pick.
    fn peer_set(&self, dir: Direction, rule: usize) -> String {
        format!("{}-{}-{rule}", dir.tag(), self.id)
    }

    /// The set of the (address, protocol, port) a named port of an egress
    /// rule resolves to.
    fn port_set(&self, rule: usize, port: usize) -> String {
        format!("out-{}-{rule}-p{port}", self.id)
    }

    fn comment(&self, dir: Direction, rule: usize) -> String {
        format!(
            "comment \"{}/{} {}[{rule}]\"",
            self.namespace,
            self.name,
            dir.word()
        )
    }
}

/// 12 hex digits of FNV-1a: set names stay short and stable for a policy.
fn short_hash(s: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{:012x}", h & 0xffff_ffff_ffff)
}

/// A chain's name for a pod address.
pub fn pod_chain(dir: &str, ip: Ipv4Addr) -> String {
    let o = ip.octets();
    format!("{dir}-{}-{}-{}-{}", o[0], o[1], o[2], o[3])
}

/// An `ipBlock` that applies: its range and its exceptions.
struct Block {
    cidr: Ipv4Cidr,
    except: Vec<Ipv4Cidr>,
}

impl Block {
    fn of(peer: &NetworkPolicyPeer) -> Option<Block> {
        let b = peer.ip_block.as_ref()?;
        Some(Block {
            cidr: b.cidr.parse().ok()?,
            except: b
                .except
                .iter()
                .flatten()
                .filter_map(|e| e.parse().ok())
                .collect(),
        })
    }

    fn contains(&self, ip: Ipv4Addr) -> bool {
        self.cidr.contains(ip) && !self.except.iter().any(|e| e.contains(ip))
    }

    fn matcher(&self, field: &str) -> String {
        let mut m = format!("ip {field} {}", self.cidr);
        if !self.except.is_empty() {
            let list: Vec<String> = self.except.iter().map(ToString::to_string).collect();
            m.push_str(&format!(" ip {field} != {{ {} }}", list.join(", ")));
        }
        m
    }
}

/// What peers and policies are matched against.
struct World<'a> {
    /// Pods with an address, in a stable order.
    pods: Vec<PodInfo>,
    namespaces: BTreeMap<&'a str, &'a BTreeMap<String, String>>,
}

impl World<'_> {
    fn namespace_matches(&self, selector: &LabelSelector, namespace: &str) -> bool {
        match self.namespaces.get(namespace) {
            Some(labels) => selector::matches(selector, labels),
            None => {
                let own =
                    BTreeMap::from([(NAMESPACE_NAME_LABEL.to_string(), namespace.to_string())]);
                selector::matches(selector, &own)
            }
        }
    }

    /// Whether a selector peer (not an `ipBlock`) of a policy in
    /// `policy_ns` picks `pod`.
    fn peer_picks(&self, peer: &NetworkPolicyPeer, policy_ns: &str, pod: &PodInfo) -> bool {
        if peer.ip_block.is_some() {
            return false;
        }
        let in_namespace = match &peer.namespace_selector {
            Some(ns) => self.namespace_matches(ns, &pod.namespace),
            None => pod.namespace == policy_ns,
        };
        let by_labels = match &peer.pod_selector {
            Some(sel) => selector::matches(sel, &pod.labels),
            None => peer.namespace_selector.is_some(),
        };
        in_namespace && by_labels
    }
}

/// The protocol of a port entry as nft writes it; `None` for one nft does
/// not know.
fn protocol(port: &NetworkPolicyPort) -> Option<&'static str> {
    match port.protocol.as_deref().unwrap_or("TCP") {
        "TCP" => Some("tcp"),
        "UDP" => Some("udp"),
        "SCTP" => Some("sctp"),
        _ => None,
    }
}

/// The matchers of numbered ports (a named port resolved by `resolve`).
fn port_matchers(
    port: &NetworkPolicyPort,
    resolve: impl Fn(&str, &str) -> Vec<u16>,
) -> Vec<String> {
    let Some(proto) = protocol(port) else {
        return Vec::new();
    };
    match &port.port {
        None => vec![format!("meta l4proto {proto}")],
        Some(IntOrString::Int(n)) => {
            let Ok(first) = u16::try_from(*n) else {
                return Vec::new();
            };
            match port.end_port.and_then(|e| u16::try_from(e).ok()) {
                Some(end) if end > first => vec![format!("{proto} dport {first}-{end}")],
                _ => vec![format!("{proto} dport {first}")],
            }
        }
        Some(IntOrString::String(name)) => {
            let upper = proto.to_ascii_uppercase();
            let numbers: BTreeSet<u16> = resolve(name, &upper).into_iter().collect();
            numbers
                .into_iter()
                .map(|n| format!("{proto} dport {n}"))
                .collect()
        }
    }
}

/// The whole ruleset of this node.
pub fn compile(objects: &Objects, config: &PolicyConfig) -> Ruleset {
    let mut pods: Vec<PodInfo> = objects
        .pods
        .iter()
        .map(|p| PodInfo::from_pod(p))
        .filter(|p| !p.host_network && !p.finished)
        .collect();
    pods.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    let namespaces = objects
        .namespaces
        .iter()
        .filter_map(|n| {
            let name = n.metadata.name.as_deref()?;
            Some((name, n.metadata.labels.as_ref()?))
        })
        .collect();
    let (mut with_ip, pending): (Vec<PodInfo>, Vec<PodInfo>) =
        pods.into_iter().partition(|p| p.ip.is_some());
    // The node's DNS server is a peer like CoreDNS's pods.
    with_ip.push(PodInfo::node_dns(
        &config.node_name,
        config.pod_cidr.gateway(),
    ));
    let world = World {
        pods: with_ip,
        namespaces,
    };
    let mut policies: Vec<Policy<'_>> = objects
        .policies
        .iter()
        .filter_map(|p| Policy::new(p))
        .collect();
    policies.sort_by(|a, b| (a.namespace, a.name).cmp(&(b.namespace, b.name)));

    let mut out = Ruleset::default();
    for policy in &policies {
        add_sets(&world, policy, &mut out);
    }

    // This node's pods with an address: one owner per address.
    let mut local: BTreeMap<Ipv4Addr, &PodInfo> = BTreeMap::new();
    for pod in &world.pods {
        let Some(ip) = pod.ip else { continue };
        if pod.node.as_deref() == Some(config.node_name.as_str())
            && config.pod_cidr.contains(ip)
            && ip != config.pod_cidr.gateway()
        {
            local.entry(ip).or_insert(pod);
        }
    }
    out.sets.insert(
        LOCAL_PODS.to_string(),
        NamedSet {
            kind: SetKind::Addr,
            elements: local.keys().map(ToString::to_string).collect(),
        },
    );
    for (ip, pod) in &local {
        for dir in [Direction::Ingress, Direction::Egress] {
            let selecting: Vec<&Policy<'_>> = policies
                .iter()
                .filter(|p| p.rules(dir).is_some() && selects(p, pod))
                .collect();
            if selecting.is_empty() {
                continue;
            }
            let chain = pod_chain(dir.tag(), *ip);
            let mut lines = Vec::new();
            for policy in selecting {
                for (i, rule) in policy.rules(dir).into_iter().flatten().enumerate() {
                    rule_lines(policy, dir, i, rule, pod, &mut lines);
                }
            }
            lines.push(format!(
                "counter drop comment \"{}/{}: no policy admits it\"",
                pod.namespace, pod.name
            ));
            let map = match dir {
                Direction::Ingress => &mut out.ingress,
                Direction::Egress => &mut out.egress,
            };
            map.insert(*ip, chain.clone());
            out.chains.insert(chain, lines);
        }
    }

    // A pod of this node a policy isolates but whose address is not known
    // yet: until it is, every unknown address of the node's range is held
    // to deny (fail closed) in that direction.
    let pending_local: Vec<&PodInfo> = pending
        .iter()
        .filter(|p| p.node.as_deref() == Some(config.node_name.as_str()))
        .collect();
    let guard = |dir: Direction| {
        pending_local.iter().any(|pod| {
            policies
                .iter()
                .any(|p| p.rules(dir).is_some() && selects(p, pod))
        })
    };
    base_chains(
        config,
        guard(Direction::Ingress),
        guard(Direction::Egress),
        &mut out,
    );
    out
}

fn selects(policy: &Policy<'_>, pod: &PodInfo) -> bool {
    policy.namespace == pod.namespace && selector::matches(&policy.selector, &pod.labels)
}

/// The named sets of a policy: the pods each rule's selector peers pick,
/// and for egress rules with named ports the peers' (address, protocol,
/// port).
fn add_sets(world: &World<'_>, policy: &Policy<'_>, out: &mut Ruleset) {
    for dir in [Direction::Ingress, Direction::Egress] {
        for (i, rule) in policy.rules(dir).into_iter().flatten().enumerate() {
            if rule.peers.iter().any(|p| p.ip_block.is_none()) {
                let elements = world
                    .pods
                    .iter()
                    .filter(|pod| {
                        rule.peers
                            .iter()
                            .any(|peer| world.peer_picks(peer, policy.namespace, pod))
                    })
                    .filter_map(|pod| pod.ip.map(|ip| ip.to_string()))
                    .collect();
                out.sets.insert(
                    policy.peer_set(dir, i),
                    NamedSet {
                        kind: SetKind::Addr,
                        elements,
                    },
                );
            }
            if dir == Direction::Ingress {
                continue;
            }
            for (k, port) in rule.ports.iter().enumerate() {
                let (Some(IntOrString::String(name)), Some(proto)) = (&port.port, protocol(port))
                else {
                    continue;
                };
                let upper = proto.to_ascii_uppercase();
                let blocks: Vec<Block> = rule.peers.iter().filter_map(Block::of).collect();
                let mut elements = BTreeSet::new();
                for pod in &world.pods {
                    let Some(ip) = pod.ip else { continue };
                    let is_peer = rule.peers.is_empty()
                        || blocks.iter().any(|b| b.contains(ip))
                        || rule
                            .peers
                            .iter()
                            .any(|peer| world.peer_picks(peer, policy.namespace, pod));
                    if !is_peer {
                        continue;
                    }
                    for n in pod.named_ports(name, &upper) {
                        elements.insert(format!("{ip} . {proto} . {n}"));
                    }
                }
                out.sets.insert(
                    policy.port_set(i, k),
                    NamedSet {
                        kind: SetKind::AddrProtoPort,
                        elements,
                    },
                );
            }
        }
    }
}

/// The lines (each ending in a verdict) one rule of one policy gives a
/// pod's chain: ingress rules accept, egress rules return to the base
/// chain so the destination's ingress is checked next.
fn rule_lines(
    policy: &Policy<'_>,
    dir: Direction,
    index: usize,
    rule: &Rule<'_>,
    pod: &PodInfo,
    lines: &mut Vec<String>,
) {
    let field = dir.peer_field();
    let verdict = match dir {
        Direction::Ingress => "accept",
        Direction::Egress => "return",
    };
    let comment = policy.comment(dir, index);
    // Who: every address, or the selector set and each ipBlock.
    let mut peers: Vec<String> = Vec::new();
    if rule.peers.is_empty() {
        peers.push(String::new());
    } else {
        if rule.peers.iter().any(|p| p.ip_block.is_none()) {
            peers.push(format!("ip {field} @{}", policy.peer_set(dir, index)));
        }
        peers.extend(
            rule.peers
                .iter()
                .filter_map(Block::of)
                .map(|b| b.matcher(field)),
        );
    }
    // Which ports: every port, or each entry.
    let mut ports: Vec<String> = Vec::new();
    let mut tuple_sets: Vec<String> = Vec::new();
    if rule.ports.is_empty() {
        ports.push(String::new());
    }
    for (k, port) in rule.ports.iter().enumerate() {
        let named = matches!(port.port, Some(IntOrString::String(_)));
        if named && dir == Direction::Egress {
            if protocol(port).is_some() {
                tuple_sets.push(policy.port_set(index, k));
            }
            continue;
        }
        ports.extend(port_matchers(port, |name, proto| {
            pod.named_ports(name, proto).collect()
        }));
    }
    for who in &peers {
        for port in &ports {
            lines.push(join(&[who, port, verdict, &comment]));
        }
    }
    for set in tuple_sets {
        let m = format!("ip daddr . meta l4proto . th dport @{set}");
        lines.push(join(&[&m, verdict, &comment]));
    }
}

fn join(parts: &[&str]) -> String {
    parts
        .iter()
        .filter(|p| !p.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The `forward` and `input` base chains: replies first, then traffic from
/// the node, the guards for pods without a known address, then each pod's
/// egress (source) and ingress (destination) chain.
fn base_chains(config: &PolicyConfig, guard_in: bool, guard_out: bool, out: &mut Ruleset) {
    let range = config.pod_cidr;
    let gateway = config.pod_cidr.gateway();
    let established = "ct state established,related accept".to_string();
    let unknown = |field: &str| {
        format!(
            "ip {field} {range} ip {field} != {gateway} ip {field} != @{LOCAL_PODS} counter drop \
             comment \"a pod a policy isolates has no known address yet\""
        )
    };
    let egress = format!("ip saddr vmap @{EGRESS_MAP}");
    let ingress = format!("ip daddr vmap @{INGRESS_MAP}");

    out.forward.push(established.clone());
    out.forward.push(format!(
        "ip saddr {gateway} accept comment \"from the node\""
    ));
    if guard_out {
        out.forward.push(unknown("saddr"));
    }
    if guard_in {
        out.forward.push(unknown("daddr"));
    }
    out.forward.push(egress.clone());
    out.forward.push(ingress);

    out.input.push(established);
    out.input
        .push(format!("iifname != \"{}\" accept", config.bridge));
    if guard_out {
        out.input.push(unknown("saddr"));
    }
    out.input.push(egress);
}

#[cfg(test)]
#[path = "compile_test.rs"]
mod tests;
