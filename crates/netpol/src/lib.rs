//! NetworkPolicy enforced on a real node: NetworkPolicies, Pods and
//! Namespaces (watched through the API) become per-pod rules in a table of
//! rkube's own ([`PolicyConfig::table`]) — ingress and egress, kept current
//! so a pod that starts matching a policy is covered as soon as its address
//! is known, before it is Ready.
//!
//! Start at [`run`]. The pieces: [`compile`] (objects → [`Ruleset`], pure;
//! the NetworkPolicy semantics are documented there), [`script`]
//! ([`Ruleset`] → `nft -f -` transactions, whole or as a difference),
//! `enforcer` (reflectors and the sync loop), [`selector`] (label
//! selectors), [`objects`] (the inputs), [`ruleset`] (the table's layout).
//!
//! # The table (family `ip`)
//! - `forward` (hook forward, priority filter — after the Service proxy's
//!   DNAT, so ClusterIP traffic is matched at its real pod address; bridged
//!   pod-to-pod traffic passes it through `br_netfilter`): replies
//!   (`ct state established,related`) accepted; traffic from the node (the
//!   bridge's gateway address) accepted; then `ip saddr vmap @egress-pods`
//!   (the source pod's egress chain, which returns when a rule allows) and
//!   `ip daddr vmap @ingress-pods` (the destination pod's ingress chain,
//!   which accepts when a rule allows). Each pod chain ends in a drop.
//! - `input` (hook input): traffic from the bridge to the node itself goes
//!   through the source pod's egress chain — the node's DNS (the kube-dns
//!   ClusterIP is DNATed to the bridge address) needs a rule that allows
//!   it, as CoreDNS would; it is a peer as CoreDNS's pods are
//!   ([`objects::PodInfo::node_dns`]: `kube-system`, `k8s-app: kube-dns`).
//! - Host → pod (kubelet probes, `kubectl port-forward`) leaves through the
//!   `output` hook, which this table does not filter: always allowed.
//! - Named sets: per policy rule with selector peers, the pods they pick
//!   (`in-<policy hash>-<rule>`, `out-…`); per egress named port the
//!   peers' `address . protocol . port`; `local-pods`, the node's pod
//!   addresses. A pod that starts or stops matching changes set elements
//!   only.
//!
//! # Before a pod's address is known
//! The kubelet wires a pod's network before its containers start, but the
//! address reaches the API (and this enforcer) a moment later. While a pod
//! of this node that some policy isolates has no address in the API yet,
//! every address of the node's pod range not in `local-pods` is denied in
//! that direction (fail closed): the new pod cannot talk or be reached
//! before its rules exist. Pods no policy isolates are not held back
//! unless such a pod is starting at the same time.
//!
//! What it must not touch: any nftables table but its own, the pod
//! network's interfaces, the API's objects (it only reads them).

pub mod compile;
mod config;
mod enforcer;
mod error;
pub mod objects;
pub mod ruleset;
pub mod script;
pub mod selector;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use compile::compile;
pub use config::PolicyConfig;
pub use error::PolicyError;
pub use objects::Objects;
pub use ruleset::Ruleset;

/// Keep the node's policy rules current until the task is dropped; the
/// table stays when it stops, [`teardown`] removes it.
pub async fn run(client: kube::Client, config: PolicyConfig) -> Result<(), PolicyError> {
    enforcer::run(client, config).await
}

/// Remove the enforcer's table; nothing if it is absent.
pub async fn teardown(table: &str) -> Result<(), PolicyError> {
    rkube_net::cmd::nft(&script::remove(table)).await?;
    Ok(())
}
