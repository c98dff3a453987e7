//! A token bucket: how client-go's client-side rate limiter (`QPS`,
//! `Burst`) paces the requests of one client. The event sink writes
//! through one, as every Kubernetes component's event sink does through
//! its client.
//!
//! Pure: the time is passed in; the caller sleeps.

use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct Pacer {
    per_second: f64,
    burst: f64,
    tokens: f64,
    at: Instant,
}

impl Pacer {
    /// A full bucket of `burst` tokens, refilled at `per_second`.
    pub fn new(per_second: f64, burst: u32, now: Instant) -> Self {
        let burst = f64::from(burst.max(1));
        Pacer {
            per_second: per_second.max(f64::MIN_POSITIVE),
            burst,
            tokens: burst,
            at: now,
        }
    }

    /// Takes a token: how long the caller must wait before its request
    /// (zero when one is at hand). A waiting caller has its token reserved,
    /// so callers are served in order.
    pub fn take(&mut self, now: Instant) -> Duration {
        if now > self.at {
            let refill = (now - self.at).as_secs_f64() * self.per_second;
            self.tokens = (self.tokens + refill).min(self.burst);
            self.at = now;
        }
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.per_second)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Equal to within a microsecond (the arithmetic is in f64).
    fn about(d: Duration, ms: u64) -> bool {
        d.abs_diff(Duration::from_millis(ms)) < Duration::from_micros(1)
    }

    #[test]
    fn a_burst_passes_then_requests_are_spaced_at_the_rate() {
        let t0 = Instant::now();
        let mut p = Pacer::new(50.0, 100, t0);
        for i in 0..100 {
            assert_eq!(p.take(t0), Duration::ZERO, "request {i} of the burst");
        }
        // The 101st waits one interval, the 102nd two.
        assert!(about(p.take(t0), 20));
        assert!(about(p.take(t0), 40));
    }

    #[test]
    fn idle_time_refills_up_to_the_burst_only() {
        let t0 = Instant::now();
        let mut p = Pacer::new(10.0, 5, t0);
        for _ in 0..5 {
            p.take(t0);
        }
        // An hour idle gives back 5 tokens, not 36,000.
        let later = t0 + Duration::from_secs(3600);
        for _ in 0..5 {
            assert_eq!(p.take(later), Duration::ZERO);
        }
        assert!(about(p.take(later), 100));
    }

    #[test]
    fn waiting_callers_have_their_tokens_reserved() {
        let t0 = Instant::now();
        let mut p = Pacer::new(10.0, 1, t0);
        assert_eq!(p.take(t0), Duration::ZERO);
        assert!(about(p.take(t0), 100));
        // 50 ms later the second caller is still waiting: a third caller
        // goes after it.
        let d = p.take(t0 + Duration::from_millis(50));
        assert!(about(d, 150), "{d:?}");
    }
}
