//! Shared informers: one watch per kind, kept in a kube-runtime reflector
//! store that every controller reads, with change handlers that turn
//! changes into work-queue keys (client-go's shared informer, on
//! kube-runtime's watcher and store).
//!
//! Handlers see the version before the change as well as after, so a
//! controller can react to what moved (a pod's labels, its owner).
//! Objects are kept without `managedFields` (kube-controller-manager trims
//! them from its informers too).

use std::fmt::Debug;
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use kube::api::Api;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::Resource;
use serde::de::DeserializeOwned;
use tokio::task::JoinHandle;
use tracing::warn;

/// One change of one object.
pub enum Change<'a, K> {
    /// Added or modified; `old` is the version the store held before.
    Applied {
        old: Option<Arc<K>>,
        new: &'a K,
    },
    Deleted(&'a K),
}

type Handler<K> = Arc<dyn Fn(&Change<'_, K>) + Send + Sync>;

/// What an index over the store sees: the stored objects themselves, so it
/// can hold them without looking them up again.
pub enum Stored<'a, K> {
    /// Added or modified: the version the store held before, and now.
    Applied {
        old: Option<Arc<K>>,
        new: Arc<K>,
    },
    Deleted(&'a K),
    /// The watch re-listed: the store was replaced by these objects (those
    /// gone in between got no `Deleted`).
    Relisted(Vec<Arc<K>>),
}

type Indexer<K> = Arc<dyn Fn(Stored<'_, K>) + Send + Sync>;

/// The informer of one kind.
pub struct Informer<K: Resource<DynamicType = ()> + Clone + 'static> {
    api: Api<K>,
    store: Store<K>,
    writer: Mutex<Option<reflector::store::Writer<K>>>,
    handlers: Arc<Mutex<Vec<Handler<K>>>>,
    indexers: Arc<Mutex<Vec<Indexer<K>>>>,
    label: &'static str,
}

impl<K> Informer<K>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    pub fn new(api: Api<K>, label: &'static str) -> Arc<Self> {
        let (store, writer) = reflector::store();
        Arc::new(Informer {
            api,
            store,
            writer: Mutex::new(Some(writer)),
            handlers: Arc::default(),
            indexers: Arc::default(),
            label,
        })
    }

    /// The objects, as last seen.
    pub fn store(&self) -> &Store<K> {
        &self.store
    }

    /// Calls `f` for every change from now on (register before `start`).
    pub fn on_change(&self, f: impl Fn(&Change<'_, K>) + Send + Sync + 'static) {
        self.handlers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Arc::new(f));
    }

    /// Calls `f` for every change, with the stored objects, before the
    /// change handlers run (register before `start`). An indexer alone
    /// does not start the watch.
    pub fn on_stored(&self, f: impl Fn(Stored<'_, K>) + Send + Sync + 'static) {
        self.indexers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Arc::new(f));
    }

    /// Starts the watch (once; later calls do nothing), if anyone
    /// registered a handler.
    pub fn start(&self) -> Option<JoinHandle<()>> {
        if self
            .handlers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty()
        {
            return None;
        }
        let mut writer = self
            .writer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()?;
        let handlers = self.handlers.clone();
        let indexers = self.indexers.clone();
        let store = self.store.clone();
        let api = self.api.clone();
        let label = self.label;
        Some(tokio::spawn(async move {
            let mut events = watcher(api, watcher::Config::default())
                .default_backoff()
                .boxed();
            while let Some(event) = events.next().await {
                let mut event = match event {
                    Ok(e) => e,
                    Err(error) => {
                        warn!(kind = label, %error, "watch failed; retrying");
                        continue;
                    }
                };
                strip_managed_fields(&mut event);
                let old = match &event {
                    watcher::Event::Apply(o) | watcher::Event::InitApply(o) => {
                        store.get(&ObjectRef::from_obj(o))
                    }
                    _ => None,
                };
                writer.apply_watcher_event(&event);
                let ixs: Vec<Indexer<K>> =
                    indexers.lock().unwrap_or_else(|e| e.into_inner()).clone();
                if !ixs.is_empty() {
                    index(&ixs, &store, &event, old.clone());
                }
                let hs: Vec<Handler<K>> =
                    handlers.lock().unwrap_or_else(|e| e.into_inner()).clone();
                let change = match &event {
                    watcher::Event::Apply(o) | watcher::Event::InitApply(o) => {
                        Change::Applied { old, new: o }
                    }
                    watcher::Event::Delete(o) => Change::Deleted(o),
                    _ => continue,
                };
                for h in &hs {
                    h(&change);
                }
            }
        }))
    }

    /// Waits until the first full list is in the store.
    pub async fn synced(&self) {
        let _ = self.store.wait_until_ready().await;
    }
}

/// No controller reads `managedFields`, and they are much of a pod's
/// metadata: the store keeps objects without them, as
/// kube-controller-manager's informers do. A write of an object read from
/// the store leaves the server's managedFields as they are (an update
/// without them keeps them).
fn strip_managed_fields<K: Resource>(event: &mut watcher::Event<K>) {
    match event {
        watcher::Event::Apply(o) | watcher::Event::InitApply(o) | watcher::Event::Delete(o) => {
            o.meta_mut().managed_fields = None;
        }
        watcher::Event::Init | watcher::Event::InitDone => {}
    }
}

/// Tells the indexers about `event`, already applied to `store`.
fn index<K>(ixs: &[Indexer<K>], store: &Store<K>, event: &watcher::Event<K>, old: Option<Arc<K>>)
where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    let stored = match event {
        watcher::Event::Apply(o) => match store.get(&ObjectRef::from_obj(o)) {
            Some(new) => Stored::Applied { old, new },
            None => return,
        },
        watcher::Event::Delete(o) => Stored::Deleted(o),
        // A list is buffered by the store until it is whole, then swapped in.
        watcher::Event::InitDone => Stored::Relisted(store.state()),
        watcher::Event::Init | watcher::Event::InitApply(_) => return,
    };
    match ixs {
        [one] => one(stored),
        _ => {
            for ix in ixs {
                ix(match &stored {
                    Stored::Applied { old, new } => Stored::Applied {
                        old: old.clone(),
                        new: new.clone(),
                    },
                    Stored::Deleted(o) => Stored::Deleted(o),
                    Stored::Relisted(all) => Stored::Relisted(all.clone()),
                });
            }
        }
    }
}
