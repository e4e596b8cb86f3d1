//! Rate limits: a token bucket per user for sends, and the node's admission buckets for new and
//! resumed sessions (reconnect storms).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use confab_proto::UserId;

/// A token bucket: `burst` tokens, refilled at `rate` per second.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl Bucket {
    fn full(burst: f64, now: Instant) -> Bucket {
        Bucket {
            tokens: burst,
            updated: now,
        }
    }

    /// Refills for the time passed, then takes one token; `Err` carries the wait for the next one.
    fn take(&mut self, now: Instant, rate: f64, burst: f64) -> Result<(), Duration> {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(burst);
        self.updated = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / rate))
        }
    }
}

/// Which kind of session asks to be admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionKind {
    /// A fresh `identify`: loads every channel with unread counts. Expensive.
    Identify,
    /// A `resume`: compares cursors, replays only what changed. Cheap, with its own budget.
    Resume,
}

/// The node's admission control: one token bucket for identifies, one for resumes.
#[derive(Debug)]
pub struct Admission {
    identify: (f64, f64, Mutex<Bucket>),
    resume: (f64, f64, Mutex<Bucket>),
}

impl Admission {
    pub fn new(
        identify_rate: f64,
        identify_burst: u32,
        resume_rate: f64,
        resume_burst: u32,
    ) -> Self {
        let now = Instant::now();
        let bucket = |rate: f64, burst: u32| {
            let burst = f64::from(burst);
            (rate, burst, Mutex::new(Bucket::full(burst, now)))
        };
        Admission {
            identify: bucket(identify_rate, identify_burst),
            resume: bucket(resume_rate, resume_burst),
        }
    }

    /// Admits one session of `kind`, or says how long until the bucket has a token.
    pub fn admit(&self, kind: SessionKind) -> Result<(), Duration> {
        let (rate, burst, bucket) = match kind {
            SessionKind::Identify => &self.identify,
            SessionKind::Resume => &self.resume,
        };
        let mut bucket = bucket.lock().unwrap_or_else(|e| e.into_inner());
        bucket.take(Instant::now(), *rate, *burst)
    }
}

/// Per-user send limits on this node, shared by the user's sessions and REST requests.
#[derive(Debug)]
pub struct SendLimiter {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<UserId, Bucket>>,
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
    pub fn check(&self, user: UserId) -> Result<(), Duration> {
        self.check_at(user, Instant::now())
    }

    fn check_at(&self, user: UserId, now: Instant) -> Result<(), Duration> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let bucket = buckets
            .entry(user)
            .or_insert_with(|| Bucket::full(self.burst, now));
        bucket.take(now, self.rate, self.burst)
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
        let u = UserId(1);
        for _ in 0..3 {
            assert!(limiter.check_at(u, t0).is_ok());
        }
        let wait = limiter.check_at(u, t0).expect_err("bucket empty");
        assert!(
            wait <= Duration::from_millis(100) && wait > Duration::from_millis(90),
            "{wait:?}"
        );
        // Another user has a bucket of their own.
        assert!(limiter.check_at(UserId(2), t0).is_ok());
        // 100 ms later one token is back.
        let t1 = t0 + Duration::from_millis(100);
        assert!(limiter.check_at(u, t1).is_ok());
        assert!(limiter.check_at(u, t1).is_err());
    }

    #[test]
    fn identifies_and_resumes_have_separate_budgets() {
        let admission = Admission::new(1.0, 2, 1000.0, 3);
        assert!(admission.admit(SessionKind::Identify).is_ok());
        assert!(admission.admit(SessionKind::Identify).is_ok());
        let wait = admission
            .admit(SessionKind::Identify)
            .expect_err("identify budget spent");
        assert!(wait > Duration::from_millis(900), "{wait:?}");
        for _ in 0..3 {
            assert!(
                admission.admit(SessionKind::Resume).is_ok(),
                "resumes still admitted"
            );
        }
    }
}
