//! A watcher's stream: catch up on history from the index, then follow the
//! hub's live queue; see `hub.rs` for the hand-over and the slow-watcher rule.

use std::sync::Arc;

use super::hub::{Cancel, CancelFlag};
use super::store::Shared;
use crate::error::{Result, StoreError};
use crate::store::WatchStream;
use crate::types::{KeyRange, Revision, WatchEvent, WatchRequest};

/// Changes a catching-up watcher reads from the index per batch.
const CATCH_UP_CHANGES: usize = 10_000;

/// Start a watch.
pub(super) fn open(shared: Arc<Shared>, req: WatchRequest) -> Result<WatchStream> {
    let reg = shared
        .hub
        .register(req.range.clone(), req.prev_kv)
        .ok_or(StoreError::Closed)?;
    let compacted = shared.index.read().compacted();
    let start = req.start_revision;
    let mut error = None;
    let mut catch_up = None;
    let mut min_rev = 0;
    if start > 0 && start < compacted {
        error = Some(StoreError::Compacted {
            requested: start,
            compacted,
        });
    } else if start > 0 && start <= reg.dispatched {
        catch_up = Some((start, reg.dispatched));
    } else if start > 0 {
        min_rev = start;
    } else {
        // "From now": nothing at or before the current revision, even
        // if the hub has not handed it out yet.
        min_rev = shared.durable() + 1;
    }
    let state = WatchState {
        _guard: WatchGuard {
            shared: shared.clone(),
            id: reg.id,
        },
        shared,
        range: req.range,
        prev_kv: req.prev_kv,
        catch_up,
        min_rev,
        rx: reg.rx,
        cancel: reg.cancel,
        error,
        done: false,
    };
    Ok(Box::pin(futures::stream::unfold(
        state,
        |mut st| async move {
            let item = st.next_batch().await?;
            Some((item, st))
        },
    )))
}

/// Unregisters a watcher when its stream is dropped.
struct WatchGuard {
    shared: Arc<Shared>,
    id: u64,
}

impl Drop for WatchGuard {
    fn drop(&mut self) {
        self.shared.hub.unregister(self.id);
    }
}

struct WatchState {
    shared: Arc<Shared>,
    _guard: WatchGuard,
    range: KeyRange,
    prev_kv: bool,
    /// Revisions still to read from the index: `(next, until)`.
    catch_up: Option<(Revision, Revision)>,
    /// Live events below this revision are dropped (a watch from the future).
    min_rev: Revision,
    rx: tokio::sync::mpsc::Receiver<Vec<WatchEvent>>,
    cancel: Arc<CancelFlag>,
    error: Option<StoreError>,
    done: bool,
}

impl WatchState {
    /// The next batch from the index while catching up (`None` when caught up).
    fn catch_up_batch(&mut self) -> Option<Result<Vec<WatchEvent>>> {
        while let Some((next, until)) = self.catch_up {
            let index = self.shared.index.read();
            if next < index.compacted() {
                return Some(Err(StoreError::Compacted {
                    requested: next,
                    compacted: index.compacted(),
                }));
            }
            let (events, after) =
                index.events(&self.range, next, until, self.prev_kv, CATCH_UP_CHANGES);
            drop(index);
            self.catch_up = (after <= until).then_some((after, until));
            if !events.is_empty() {
                return Some(Ok(events));
            }
        }
        None
    }

    async fn next_batch(&mut self) -> Option<Result<Vec<WatchEvent>>> {
        if self.done {
            return None;
        }
        if let Some(e) = self.error.take() {
            self.done = true;
            return Some(Err(e));
        }
        if let Some(batch) = self.catch_up_batch() {
            if batch.is_err() {
                self.done = true;
            }
            return Some(batch);
        }
        loop {
            match self.rx.recv().await {
                Some(mut events) => {
                    if self.min_rev > 0 {
                        events.retain(|e| e.kv.mod_revision >= self.min_rev);
                    }
                    if !events.is_empty() {
                        return Some(Ok(events));
                    }
                }
                None => {
                    self.done = true;
                    return Some(Err(match self.cancel.get() {
                        Cancel::Slow => StoreError::SlowWatcher,
                        Cancel::Closed | Cancel::None => StoreError::Closed,
                    }));
                }
            }
        }
    }
}
