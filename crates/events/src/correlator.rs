//! What to write for an event, as client-go's `EventCorrelator` decides:
//!
//! 1. **Aggregation** — events from one source about one object with the
//!    same type and reason but different messages: from the tenth distinct
//!    message within ten minutes on, they become one Event whose message is
//!    `(combined from similar events): <latest message>`.
//! 2. **Deduplication** — the same event again bumps `count` (and
//!    `lastTimestamp`, `message`) of the Event already written.
//! 3. **Spam filter** — each source may write 25 events about one object
//!    at once, then one per five minutes (a token bucket); the rest are
//!    dropped. A ReplicaSet creating 10,000 pods therefore leaves a couple
//!    of dozen `SuccessfulCreate` Events, as on Kubernetes.
//!
//! Pure: no I/O, the time is passed in.

use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use std::time::{Duration, Instant};

/// Distinct messages that start aggregation.
const AGGREGATE_MAX_EVENTS: usize = 10;
/// How long distinct messages are remembered for aggregation.
const AGGREGATE_INTERVAL: Duration = Duration::from_secs(600);
/// Events a source may write about one object at once...
const SPAM_BURST: f64 = 25.0;
/// ...and then one per this long.
const SPAM_REFILL: Duration = Duration::from_secs(300);
/// Keys remembered per map; beyond this the oldest half is forgotten
/// (client-go keeps an LRU of 4096).
const REMEMBERED: usize = 4096;
/// Prefix of an aggregated event's message.
pub const COMBINED: &str = "(combined from similar events): ";

/// One event as the caller records it.
#[derive(Debug, Clone)]
pub struct Event<'a> {
    /// The involved object: kind, namespace, name, uid.
    pub object: (&'a str, &'a str, &'a str, &'a str),
    pub type_: &'a str,
    pub reason: &'a str,
    pub message: &'a str,
}

/// What to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// A new Event named `name` with `message`.
    Create { name: String, message: String },
    /// Bump the Event `name` to `count`, with `message`.
    Patch {
        name: String,
        count: i32,
        message: String,
    },
    /// Dropped by the spam filter.
    Skip,
}

type ObjectKey = (String, String, String, String);
type AggregateKey = (ObjectKey, String, String);
type EventKey = (ObjectKey, String, String, String);

struct Bucket {
    tokens: f64,
    at: Instant,
}

struct Similar {
    messages: HashSet<String>,
    at: Instant,
}

struct Observed {
    name: String,
    count: i32,
    at: Instant,
}

#[derive(Default)]
pub struct Correlator {
    spam: HashMap<ObjectKey, Bucket>,
    similar: HashMap<AggregateKey, Similar>,
    observed: HashMap<EventKey, Observed>,
}

/// Forgets the oldest half of `map` when it is full.
fn bound<K: Clone + Eq + Hash, V>(map: &mut HashMap<K, V>, at: impl Fn(&V) -> Instant) {
    if map.len() < REMEMBERED {
        return;
    }
    let mut ages: Vec<(Instant, K)> = map.iter().map(|(k, v)| (at(v), k.clone())).collect();
    ages.sort_by_key(|(t, _)| *t);
    for (_, k) in ages.into_iter().take(REMEMBERED / 2) {
        map.remove(&k);
    }
}

impl Correlator {
    /// Decides what `ev` becomes; `fresh_name` names a new Event.
    pub fn correlate(
        &mut self,
        ev: &Event<'_>,
        now: Instant,
        fresh_name: impl FnOnce() -> String,
    ) -> Decision {
        let (kind, ns, name, uid) = ev.object;
        let object: ObjectKey = (kind.into(), ns.into(), name.into(), uid.into());

        // 1. Aggregation by type and reason.
        let agg_key: AggregateKey = (object.clone(), ev.type_.into(), ev.reason.into());
        bound(&mut self.similar, |s| s.at);
        let similar = self.similar.entry(agg_key).or_insert_with(|| Similar {
            messages: HashSet::new(),
            at: now,
        });
        if now.duration_since(similar.at) > AGGREGATE_INTERVAL {
            similar.messages.clear();
        }
        similar.messages.insert(ev.message.to_string());
        similar.at = now;
        let (message, event_key) = if similar.messages.len() < AGGREGATE_MAX_EVENTS {
            let key = (
                object.clone(),
                ev.type_.to_string(),
                ev.reason.to_string(),
                ev.message.to_string(),
            );
            (ev.message.to_string(), key)
        } else {
            // One Event for all of them: keyed without the message.
            let key = (
                object.clone(),
                ev.type_.to_string(),
                ev.reason.to_string(),
                String::new(),
            );
            (format!("{COMBINED}{}", ev.message), key)
        };

        // 3. The spam filter sees every write, new or repeated.
        bound(&mut self.spam, |b| b.at);
        let bucket = self.spam.entry(object).or_insert(Bucket {
            tokens: SPAM_BURST,
            at: now,
        });
        let refilled = now.duration_since(bucket.at).as_secs_f64() / SPAM_REFILL.as_secs_f64();
        bucket.tokens = (bucket.tokens + refilled).min(SPAM_BURST);
        bucket.at = now;
        if bucket.tokens < 1.0 {
            return Decision::Skip;
        }
        bucket.tokens -= 1.0;

        // 2. Deduplication.
        bound(&mut self.observed, |o| o.at);
        match self.observed.get_mut(&event_key) {
            Some(seen) => {
                seen.count += 1;
                seen.at = now;
                Decision::Patch {
                    name: seen.name.clone(),
                    count: seen.count,
                    message,
                }
            }
            None => {
                let name = fresh_name();
                self.observed.insert(
                    event_key,
                    Observed {
                        name: name.clone(),
                        count: 1,
                        at: now,
                    },
                );
                Decision::Create { name, message }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev<'a>(object: &'a str, reason: &'a str, message: &'a str) -> Event<'a> {
        Event {
            object: ("ReplicaSet", "ns", object, "uid"),
            type_: "Normal",
            reason,
            message,
        }
    }

    fn run(c: &mut Correlator, e: &Event<'_>, now: Instant, n: &mut u32) -> Decision {
        c.correlate(e, now, || {
            *n += 1;
            format!("e{n}")
        })
    }

    #[test]
    fn repeats_bump_the_count_of_one_event() {
        let (mut c, mut n, t) = (Correlator::default(), 0, Instant::now());
        let e = ev("rs", "FailedCreate", "quota exceeded");
        assert_eq!(
            run(&mut c, &e, t, &mut n),
            Decision::Create {
                name: "e1".into(),
                message: "quota exceeded".into()
            }
        );
        assert_eq!(
            run(&mut c, &e, t, &mut n),
            Decision::Patch {
                name: "e1".into(),
                count: 2,
                message: "quota exceeded".into()
            }
        );
    }

    #[test]
    fn the_tenth_distinct_message_is_combined() {
        let (mut c, mut n, t) = (Correlator::default(), 0, Instant::now());
        let messages: Vec<String> = (0..12).map(|i| format!("Created pod: p{i}")).collect();
        let out: Vec<Decision> = messages
            .iter()
            .map(|m| run(&mut c, &ev("rs", "SuccessfulCreate", m), t, &mut n))
            .collect();
        assert!(out[..9].iter().all(
            |d| matches!(d, Decision::Create { message, .. } if !message.starts_with(COMBINED))
        ));
        assert_eq!(
            out[9],
            Decision::Create {
                name: "e10".into(),
                message: format!("{COMBINED}Created pod: p9")
            }
        );
        assert_eq!(
            out[11],
            Decision::Patch {
                name: "e10".into(),
                count: 3,
                message: format!("{COMBINED}Created pod: p11")
            }
        );
    }

    #[test]
    fn an_object_gets_25_events_then_one_per_five_minutes() {
        let (mut c, mut n, t) = (Correlator::default(), 0, Instant::now());
        let e = ev("rs", "SuccessfulCreate", "same");
        let written = (0..100)
            .filter(|_| run(&mut c, &e, t, &mut n) != Decision::Skip)
            .count();
        assert_eq!(written, 25);
        // Another object is not held back.
        assert_ne!(
            run(&mut c, &ev("other", "SuccessfulCreate", "same"), t, &mut n),
            Decision::Skip
        );
        assert_eq!(
            run(&mut c, &e, t + Duration::from_secs(60), &mut n),
            Decision::Skip
        );
        assert!(matches!(
            run(&mut c, &e, t + Duration::from_secs(301), &mut n),
            Decision::Patch { count: 26, .. }
        ));
    }
}
