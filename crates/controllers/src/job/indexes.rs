//! Completion indexes of Indexed Jobs: the pod annotation and label that
//! carry them, and `status.completedIndexes` ("1,3-5,7": ascending, runs
//! of consecutive indexes as `first-last`).

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::Pod;

/// The annotation (and label) holding a pod's completion index.
pub const INDEX_KEY: &str = "batch.kubernetes.io/job-completion-index";

/// A pod's completion index, if it has a valid one below `completions`.
pub fn of_pod(pod: &Pod, completions: i32) -> Option<i32> {
    let i: i32 = pod
        .metadata
        .annotations
        .as_ref()?
        .get(INDEX_KEY)?
        .parse()
        .ok()?;
    (0..completions).contains(&i).then_some(i)
}

/// The annotation with how many times a pod's index failed before it.
pub const FAILURE_COUNT_KEY: &str = "batch.kubernetes.io/job-index-failure-count";

/// The failures of a pod's index before it (0 if not written).
pub fn failure_count(pod: &Pod) -> i32 {
    pod.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(FAILURE_COUNT_KEY))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Reads `completedIndexes`, keeping indexes below `completions`
/// (malformed parts are skipped, as Kubernetes does).
pub fn parse(s: &str, completions: i32) -> BTreeSet<i32> {
    let mut out = BTreeSet::new();
    for part in s.split(',').filter(|p| !p.is_empty()) {
        let (first, last) = match part.split_once('-') {
            Some((a, b)) => (a.parse::<i32>(), b.parse::<i32>()),
            None => (part.parse(), part.parse()),
        };
        let (Ok(first), Ok(last)) = (first, last) else {
            continue;
        };
        out.extend((first.max(0)..=last.min(completions - 1)).filter(|i| *i >= first));
    }
    out
}

/// Writes indexes as `completedIndexes`.
pub fn format(indexes: &BTreeSet<i32>) -> String {
    let mut runs: Vec<(i32, i32)> = Vec::new();
    for &i in indexes {
        match runs.last_mut() {
            Some((_, last)) if *last + 1 == i => *last = i,
            _ => runs.push((i, i)),
        }
    }
    runs.iter()
        .map(|(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completed_indexes_round_trip() {
        let set: BTreeSet<i32> = [0, 1, 2, 4, 6, 7].into_iter().collect();
        assert_eq!(format(&set), "0-2,4,6-7");
        assert_eq!(parse("0-2,4,6-7", 10), set);
        assert_eq!(format(&BTreeSet::new()), "");
        assert_eq!(parse("", 3), BTreeSet::new());
        // Beyond completions, or malformed: dropped.
        assert_eq!(parse("1,x,3-9", 5), [1, 3, 4].into_iter().collect());
    }
}
