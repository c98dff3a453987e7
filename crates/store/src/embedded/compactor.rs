//! Periodic compaction: every interval, compact so that the configured
//! amount of history (revisions or time) remains — as kube-apiserver asks
//! etcd to every five minutes.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::store::Shared;
use super::CompactionPolicy;
use crate::error::StoreError;
use crate::types::Revision;

/// The compactor thread's loop; returns when the store stops.
pub(super) fn run(shared: &Shared) {
    let (interval, mut target_of): (Duration, Box<dyn FnMut(Instant, Revision) -> Revision>) =
        match shared.compaction_policy().clone() {
            CompactionPolicy::Manual => return,
            CompactionPolicy::KeepRevisions { keep, interval } => {
                (interval, Box::new(move |_, durable| durable - keep))
            }
            CompactionPolicy::KeepDuration { keep, interval } => {
                // (time, durable revision) samples; the newest one older
                // than `keep` is the revision to compact to.
                let mut samples: VecDeque<(Instant, Revision)> = VecDeque::new();
                (
                    interval,
                    Box::new(move |now, durable| {
                        samples.push_back((now, durable));
                        let mut target = 0;
                        while let Some(&(t, rev)) = samples.front() {
                            if now.duration_since(t) < keep {
                                break;
                            }
                            target = rev;
                            samples.pop_front();
                        }
                        target
                    }),
                )
            }
        };
    while shared.sleep(interval) {
        let target = target_of(Instant::now(), shared.durable());
        if target <= 1 {
            continue;
        }
        match shared.compact_blocking(target) {
            Ok(()) | Err(StoreError::Compacted { .. }) => {}
            Err(e) => tracing::warn!(error = %e, revision = target, "periodic compaction failed"),
        }
    }
}
