//! [`Ruleset`]: what the enforcer's table should hold — the output of
//! [`crate::compile`], the input of [`crate::script`]. Plain data, compared
//! between syncs so only what changed is written.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

/// The set of known pod addresses of this node (traffic to or from one of
/// the node's pod range that is not in it is an address whose pod is not
/// known yet).
pub const LOCAL_PODS: &str = "local-pods";
/// Verdict map: a pod of this node's address → its ingress chain.
pub const INGRESS_MAP: &str = "ingress-pods";
/// Verdict map: a pod of this node's address → its egress chain.
pub const EGRESS_MAP: &str = "egress-pods";
/// The base chain on the `forward` hook (pod to pod, pod to world, world
/// to pod — bridged traffic too, through `br_netfilter`).
pub const FORWARD: &str = "forward";
/// The base chain on the `input` hook (pod to the node: egress only).
pub const INPUT: &str = "input";

/// The element type of a named set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetKind {
    /// Addresses (`ipv4_addr`): the pods a rule's selectors pick.
    Addr,
    /// `ipv4_addr . inet_proto . inet_service`: the peers of an egress rule
    /// with a named port, with the port each of them gives that name.
    AddrProtoPort,
}

impl SetKind {
    pub fn nft_type(self) -> &'static str {
        match self {
            SetKind::Addr => "ipv4_addr",
            SetKind::AddrProtoPort => "ipv4_addr . inet_proto . inet_service",
        }
    }
}

/// A named set and its elements (as nft writes them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamedSet {
    pub kind: SetKind,
    pub elements: BTreeSet<String>,
}

/// Everything in the table, by name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ruleset {
    /// Named sets, [`LOCAL_PODS`] among them.
    pub sets: BTreeMap<String, NamedSet>,
    /// Regular chains (one per isolated pod and direction) and their rules.
    pub chains: BTreeMap<String, Vec<String>>,
    /// Rules of the `forward` base chain.
    pub forward: Vec<String>,
    /// Rules of the `input` base chain.
    pub input: Vec<String>,
    /// Pod address → its ingress chain (pods isolated for ingress).
    pub ingress: BTreeMap<Ipv4Addr, String>,
    /// Pod address → its egress chain (pods isolated for egress).
    pub egress: BTreeMap<Ipv4Addr, String>,
}
