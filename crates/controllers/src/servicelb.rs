//! The service load balancer controller, as k3s's ServiceLB: a Service of
//! `type: LoadBalancer` without a `loadBalancerClass` gets, in
//! `status.loadBalancer.ingress`, one entry per real, Ready node — its
//! `InternalIP`, `ipMode: VIP` and the Service's ports — so `kubectl get
//! svc` shows the nodes' addresses as EXTERNAL-IP, and the Service proxy
//! on each node answers on them as on `externalIPs`. Simulated nodes
//! (annotation `rkube.io/sim: "true"`) have made-up addresses and are
//! never used: with none real and Ready, the ingress is empty and kubectl
//! shows `<pending>`.
//!
//! The status is cleared when the Service stops being a LoadBalancer.
//! Services with a `loadBalancerClass` belong to another implementation
//! and are left alone. Node changes that move the list of addresses
//! (a node Ready or not, its address, a node gone) queue every
//! LoadBalancer Service again.

use std::collections::BTreeSet;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Service};
use kube::api::Api;
use kube::runtime::reflector::ObjectRef;
use kube::ResourceExt;
use serde_json::{json, Value};
use tokio::task::JoinHandle;
use tracing::{debug, info};

use crate::framework::context::Context;
use crate::framework::informer::Change;
use crate::framework::queue::{Key, Queue};
use crate::framework::runner::{spawn_workers, Outcome};
use crate::framework::status::merge_status;

pub const NAME: &str = "service-lb-controller";
const SIMULATED: &str = "rkube.io/sim";

/// The node's address for load balancers: its first `InternalIP` if the
/// node is real and Ready.
pub fn lb_address(node: &Node) -> Option<String> {
    if node.annotations().get(SIMULATED).map(String::as_str) == Some("true") {
        return None;
    }
    let status = node.status.as_ref()?;
    let ready = status
        .conditions
        .iter()
        .flatten()
        .any(|c| c.type_ == "Ready" && c.status == "True");
    if !ready || node.metadata.deletion_timestamp.is_some() {
        return None;
    }
    status
        .addresses
        .iter()
        .flatten()
        .find(|a| a.type_ == "InternalIP")
        .map(|a| a.address.clone())
        .filter(|a| !a.is_empty())
}

/// What `status.loadBalancer.ingress` should be: `None` when the Service
/// is another implementation's (a `loadBalancerClass`), an empty list when
/// it is not a LoadBalancer or no node can serve it.
pub fn desired_ingress(svc: &Service, addresses: &BTreeSet<String>) -> Option<Vec<Value>> {
    let spec = svc.spec.as_ref();
    let is_lb = spec.and_then(|s| s.type_.as_deref()) == Some("LoadBalancer");
    if !is_lb {
        return Some(Vec::new());
    }
    if spec
        .and_then(|s| s.load_balancer_class.as_deref())
        .is_some()
    {
        return None;
    }
    let ports: Vec<Value> = spec
        .and_then(|s| s.ports.as_ref())
        .into_iter()
        .flatten()
        .map(|p| json!({"port": p.port, "protocol": p.protocol.as_deref().unwrap_or("TCP")}))
        .collect();
    Some(
        addresses
            .iter()
            .map(|ip| {
                let mut e = json!({"ip": ip, "ipMode": "VIP"});
                if !ports.is_empty() {
                    e["ports"] = Value::Array(ports.clone());
                }
                e
            })
            .collect(),
    )
}

fn current_ingress(svc: &Service) -> Vec<Value> {
    svc.status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_ref())
        .map(|i| {
            i.iter()
                .filter_map(|e| serde_json::to_value(e).ok())
                .collect()
        })
        .unwrap_or_default()
}

struct Controller {
    ctx: Arc<Context>,
}

pub fn start(ctx: &Arc<Context>) -> Vec<JoinHandle<()>> {
    let c = Arc::new(Controller { ctx: ctx.clone() });
    let queue = Queue::default();
    let q = queue.clone();
    ctx.informers
        .services
        .on_change(move |change| match change {
            Change::Applied { old, new } => {
                let lb = |s: &Service| {
                    s.spec.as_ref().and_then(|s| s.type_.as_deref()) == Some("LoadBalancer")
                        || !current_ingress(s).is_empty()
                };
                if lb(new) || old.as_deref().is_some_and(lb) {
                    q.add(Key::of(*new));
                }
            }
            Change::Deleted(_) => {}
        });
    let q = queue.clone();
    let services = ctx.informers.services.clone();
    ctx.informers.nodes.on_change(move |change| {
        let moved = match change {
            Change::Applied { old, new } => old.as_deref().and_then(lb_address) != lb_address(new),
            Change::Deleted(node) => lb_address(node).is_some(),
        };
        if moved {
            for svc in services.store().state() {
                if svc.spec.as_ref().and_then(|s| s.type_.as_deref()) == Some("LoadBalancer") {
                    q.add(Key::of(svc.as_ref()));
                }
            }
        }
    });
    info!("load balancer Services get the real nodes' addresses");
    spawn_workers(NAME, queue, 1, move |key| {
        let c = c.clone();
        async move { c.reconcile(key).await }
    })
}

impl Controller {
    async fn reconcile(&self, key: Key) -> Outcome {
        self.ctx.informers.nodes.synced().await;
        let store = self.ctx.informers.services.store();
        let Some(svc) = store.get(&ObjectRef::new(&key.name).within(&key.namespace)) else {
            return Ok(None);
        };
        let addresses: BTreeSet<String> = self
            .ctx
            .informers
            .nodes
            .store()
            .state()
            .iter()
            .filter_map(|n| lb_address(n))
            .collect();
        let Some(want) = desired_ingress(&svc, &addresses) else {
            return Ok(None);
        };
        if current_ingress(&svc) == want {
            return Ok(None);
        }
        let api: Api<Service> = Api::namespaced(self.ctx.client.clone(), &key.namespace);
        let lb = if want.is_empty() {
            json!({"ingress": null})
        } else {
            json!({"ingress": want})
        };
        match merge_status(&api, &key.name, json!({"loadBalancer": lb})).await {
            Err(crate::ControllerError::Kube(kube::Error::Api(s))) if s.code == 404 => Ok(None),
            Err(e) => Err(e),
            Ok(()) => {
                debug!(service = %format!("{}/{}", key.namespace, key.name),
                    ingress = want.len(), "load balancer status written");
                Ok(None)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, ip: &str, ready: bool, sim: bool) -> Node {
        let mut ann = serde_json::Map::new();
        if sim {
            ann.insert("rkube.io/sim".into(), json!("true"));
        }
        serde_json::from_value(json!({
            "metadata": {"name": name, "annotations": ann},
            "status": {
                "addresses": [{"type": "Hostname", "address": name},
                              {"type": "InternalIP", "address": ip}],
                "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]
            }
        }))
        .expect("test")
    }

    fn svc(ty: &str, class: Option<&str>) -> Service {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"type": ty, "loadBalancerClass": class,
                     "ports": [{"port": 80, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}]}
        }))
        .expect("test")
    }

    #[test]
    fn only_real_ready_nodes_serve() {
        assert_eq!(
            lb_address(&node("a", "10.0.0.1", true, false)).as_deref(),
            Some("10.0.0.1")
        );
        assert_eq!(lb_address(&node("b", "10.0.0.2", false, false)), None);
        assert_eq!(lb_address(&node("s", "10.64.0.1", true, true)), None);
    }

    #[test]
    fn ingress_has_the_nodes_and_the_ports() {
        let addrs: BTreeSet<String> = ["10.0.0.2".to_string(), "10.0.0.1".to_string()].into();
        let want = desired_ingress(&svc("LoadBalancer", None), &addrs).expect("ours");
        assert_eq!(
            want,
            vec![
                json!({"ip": "10.0.0.1", "ipMode": "VIP", "ports": [
                    {"port": 80, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}]}),
                json!({"ip": "10.0.0.2", "ipMode": "VIP", "ports": [
                    {"port": 80, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}]}),
            ]
        );
        // Pending with no node; cleared for another type; another class's
        // Services untouched.
        assert_eq!(
            desired_ingress(&svc("LoadBalancer", None), &BTreeSet::new()),
            Some(vec![])
        );
        assert_eq!(
            desired_ingress(&svc("ClusterIP", None), &addrs),
            Some(vec![])
        );
        assert_eq!(
            desired_ingress(&svc("LoadBalancer", Some("example.com/lb")), &addrs),
            None
        );
    }

    #[test]
    fn the_written_status_reads_back_equal() {
        // What the API returns after the patch compares equal, so the
        // controller does not write again.
        let addrs: BTreeSet<String> = ["10.0.0.1".to_string()].into();
        let mut s = svc("LoadBalancer", None);
        let want = desired_ingress(&s, &addrs).expect("ours");
        s.status = Some(
            serde_json::from_value(json!({"loadBalancer": {"ingress": want.clone()}}))
                .expect("test"),
        );
        assert_eq!(current_ingress(&s), want);
    }
}
