//! A short cache of real nodes' Summary answers, so that `kubectl top`
//! and autoscalers polling the Metrics API do not each reach every node
//! (metrics-server scrapes every 15 s; figures a few seconds old are as
//! good). A node that did not answer is remembered as such for the same
//! time, so a dead node does not slow every request.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::summary::NodeReport;

/// How long a node's answer is used (also a failure).
pub const DEFAULT_TTL: Duration = Duration::from_secs(5);

/// When an answer was fetched, and the answer (`None`: the node did not
/// give one).
type Entry = (Instant, Option<Arc<NodeReport>>);

/// Answers by node name, with when they were fetched.
pub struct SummaryCache {
    ttl: parking_lot::Mutex<Duration>,
    entries: parking_lot::Mutex<HashMap<String, Entry>>,
}

impl Default for SummaryCache {
    fn default() -> Self {
        SummaryCache::new(DEFAULT_TTL)
    }
}

impl SummaryCache {
    /// A cache keeping answers for `ttl`.
    pub fn new(ttl: Duration) -> Self {
        SummaryCache {
            ttl: parking_lot::Mutex::new(ttl),
            entries: parking_lot::Mutex::new(HashMap::new()),
        }
    }

    /// Keep answers for `ttl` from now on ([`DEFAULT_TTL`] unless set).
    pub fn set_ttl(&self, ttl: Duration) {
        *self.ttl.lock() = ttl;
    }

    /// Takes `body` as `node`'s Summary API answer, fetched now: what a
    /// test without a node to ask uses.
    pub fn insert_summary(&self, node: &str, body: &[u8]) -> Result<(), serde_json::Error> {
        let report = Arc::new(super::summary::parse(body)?);
        self.entries
            .lock()
            .insert(node.to_string(), (Instant::now(), Some(report)));
        Ok(())
    }

    /// `node`'s report: the cached one while fresh, else what `fetch`
    /// gives (`None`: the node did not answer), remembered.
    pub async fn report<F, Fut>(&self, node: &str, fetch: F) -> Option<Arc<NodeReport>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Option<NodeReport>>,
    {
        let ttl = *self.ttl.lock();
        if let Some((at, report)) = self.entries.lock().get(node) {
            if at.elapsed() < ttl {
                return report.clone();
            }
        }
        let report = fetch().await.map(Arc::new);
        let mut entries = self.entries.lock();
        entries.retain(|_, (at, _)| at.elapsed() < ttl);
        entries.insert(node.to_string(), (Instant::now(), report.clone()));
        report
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn a_fresh_answer_is_reused_and_a_stale_one_fetched_again() {
        let fetched = AtomicUsize::new(0);
        let fetch = || async {
            fetched.fetch_add(1, Ordering::SeqCst);
            Some(NodeReport::default())
        };
        let cache = SummaryCache::new(Duration::from_secs(60));
        assert!(cache.report("a", fetch).await.is_some());
        assert!(cache.report("a", fetch).await.is_some());
        assert_eq!(fetched.load(Ordering::SeqCst), 1);
        assert!(cache.report("b", fetch).await.is_some());
        assert_eq!(fetched.load(Ordering::SeqCst), 2);

        let stale = SummaryCache::new(Duration::ZERO);
        stale.report("a", fetch).await;
        stale.report("a", fetch).await;
        assert_eq!(fetched.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn a_failure_is_remembered_too() {
        let fetched = AtomicUsize::new(0);
        let fetch = || async {
            fetched.fetch_add(1, Ordering::SeqCst);
            None
        };
        let cache = SummaryCache::new(Duration::from_secs(60));
        assert!(cache.report("dead", fetch).await.is_none());
        assert!(cache.report("dead", fetch).await.is_none());
        assert_eq!(fetched.load(Ordering::SeqCst), 1);
    }
}
