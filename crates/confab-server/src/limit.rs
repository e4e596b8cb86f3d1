//! Rate limits: a token bucket per user for sends.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use confab_proto::Id;

/// A token bucket: `burst` tokens, refilled at `rate` per second.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// Per-user send limits on this node, shared by the user's sessions and REST requests.
#[derive(Debug)]
pub struct SendLimiter {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<Id, Bucket>>,
}

impl SendLimiter {
    pub fn new(rate: f64, burst: u32) -> Self {
        SendLimiter {
            rate,
            burst: f64::from(burst),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `user`. `Err` carries how long until one is available.
    pub fn check(&self, user: Id) -> Result<(), Duration> {
        self.check_at(user, Instant::now())
    }

    fn check_at(&self, user: Id, now: Instant) -> Result<(), Duration> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let bucket = buckets.entry(user).or_insert(Bucket {
            tokens: self.burst,
            updated: now,
        });
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.rate).min(self.burst);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / self.rate))
        }
    }

    /// Forgets buckets that are full again (their users have been quiet), so the map stays small.
    pub fn sweep(&self) {
        let now = Instant::now();
        let full_after = self.burst / self.rate;
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        buckets.retain(|_, b| now.saturating_duration_since(b.updated).as_secs_f64() < full_after);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_the_rate_holds() {
        let limiter = SendLimiter::new(10.0, 3);
        let t0 = Instant::now();
        let u = Id(1);
        for _ in 0..3 {
            assert!(limiter.check_at(u, t0).is_ok());
        }
        let wait = limiter.check_at(u, t0).expect_err("bucket empty");
        assert!(
            wait <= Duration::from_millis(100) && wait > Duration::from_millis(90),
            "{wait:?}"
        );
        // Another user has a bucket of their own.
        assert!(limiter.check_at(Id(2), t0).is_ok());
        // 100 ms later one token is back.
        let t1 = t0 + Duration::from_millis(100);
        assert!(limiter.check_at(u, t1).is_ok());
        assert!(limiter.check_at(u, t1).is_err());
    }
}
