//! Latency percentiles.

use std::time::Duration;

/// Percentiles of a set of latencies.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Percentiles {
    pub count: usize,
    /// Seconds.
    pub p50: f64,
    /// Seconds.
    pub p99: f64,
}

impl Percentiles {
    /// Nearest-rank percentiles; all zero for no samples.
    pub fn of(mut samples: Vec<Duration>) -> Self {
        if samples.is_empty() {
            return Percentiles::default();
        }
        samples.sort_unstable();
        let rank = |p: f64| -> f64 {
            let idx = ((p * samples.len() as f64).ceil() as usize).clamp(1, samples.len()) - 1;
            samples[idx].as_secs_f64()
        };
        Percentiles {
            count: samples.len(),
            p50: rank(0.50),
            p99: rank(0.99),
        }
    }
}

/// The median of some seconds (0 for none).
pub fn median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let samples: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let p = Percentiles::of(samples);
        assert_eq!(p.count, 100);
        assert!((p.p50 - 0.050).abs() < 1e-9);
        assert!((p.p99 - 0.099).abs() < 1e-9);
        assert_eq!(Percentiles::of(vec![]).count, 0);
        let one = Percentiles::of(vec![Duration::from_millis(7)]);
        assert!((one.p50 - 0.007).abs() < 1e-9 && (one.p99 - 0.007).abs() < 1e-9);
    }

    #[test]
    fn median_of_values() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![]), 0.0);
    }
}
