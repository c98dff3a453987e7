//! The ServiceAccount controller: every Active namespace has a `default`
//! ServiceAccount, created when the namespace appears and again if it is
//! deleted (kube-controller-manager's `serviceaccount-controller`).

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::api::{Api, ObjectMeta, PostParams};
use kube::runtime::reflector::ObjectRef;
use tokio::task::JoinHandle;
use tracing::debug;

use crate::framework::context::Context;
use crate::framework::informer::Change;
use crate::framework::queue::{Key, Queue};
use crate::framework::runner::{spawn_workers, Outcome};

pub const NAME: &str = "serviceaccount-controller";
const WORKERS: usize = 2;
/// The accounts every namespace gets.
const ACCOUNTS: [&str; 1] = ["default"];

pub fn start(ctx: &Arc<Context>) -> Vec<JoinHandle<()>> {
    let queue = Queue::default();
    let q = queue.clone();
    ctx.informers.namespaces.on_change(move |change| {
        if let Change::Applied { new, .. } = change {
            if is_active(new) {
                q.add(Key::new("", new.metadata.name.clone().unwrap_or_default()));
            }
        }
    });
    let q = queue.clone();
    ctx.informers.serviceaccounts.on_change(move |change| {
        if let Change::Deleted(sa) = change {
            if ACCOUNTS.contains(&sa.metadata.name.as_deref().unwrap_or_default()) {
                q.add(Key::new(
                    "",
                    sa.metadata.namespace.clone().unwrap_or_default(),
                ));
            }
        }
    });
    let ctx = ctx.clone();
    spawn_workers(NAME, queue, WORKERS, move |key| {
        let ctx = ctx.clone();
        async move { reconcile(&ctx, key).await }
    })
}

fn is_active(ns: &Namespace) -> bool {
    ns.metadata.deletion_timestamp.is_none()
        && ns.status.as_ref().and_then(|s| s.phase.as_deref()) != Some("Terminating")
}

/// Creates the missing accounts of namespace `key.name`.
async fn reconcile(ctx: &Context, key: Key) -> Outcome {
    let ns = key.name;
    let Some(namespace) = ctx.informers.namespaces.store().get(&ObjectRef::new(&ns)) else {
        return Ok(None);
    };
    if !is_active(&namespace) {
        return Ok(None);
    }
    let api: Api<ServiceAccount> = Api::namespaced(ctx.client.clone(), &ns);
    for name in ACCOUNTS {
        let cached = ctx
            .informers
            .serviceaccounts
            .store()
            .get(&ObjectRef::new(name).within(&ns));
        if cached.is_some() {
            continue;
        }
        let sa = ServiceAccount {
            metadata: ObjectMeta {
                name: Some(name.to_string()),
                namespace: Some(ns.clone()),
                ..ObjectMeta::default()
            },
            ..ServiceAccount::default()
        };
        match api.create(&PostParams::default(), &sa).await {
            Ok(_) => debug!(namespace = %ns, account = name, "created service account"),
            // Already there (the cache lags), or the namespace is going.
            Err(kube::Error::Api(s)) if matches!(s.code, 409 | 403 | 404) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(None)
}
