//! Counters and latency histograms shared by every connection of a run.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Shared by all connections of one run: cheap atomic counters, and histograms of microseconds
/// fed in batches.
#[derive(Debug)]
pub struct Meter {
    /// Latencies are recorded for messages sent in `[window_start, window_end)` (ns since epoch).
    window_start: AtomicU64,
    window_end: AtomicU64,
    latency: Mutex<Histogram<u64>>,
    ack: Mutex<Histogram<u64>>,
    /// Distinct deliveries counted by receivers.
    pub deliveries: AtomicU64,
    pub duplicates: AtomicU64,
    /// Connections identified (or sessions ready).
    pub connected: AtomicU64,
    /// Connections that failed and were given up.
    pub failures: AtomicU64,
    /// Refusals by the server: 503 on connect, 4006 overloaded.
    pub refusals: AtomicU64,
    pub sent: AtomicU64,
    pub acked: AtomicU64,
    /// `error` answers to sends.
    pub send_errors: AtomicU64,
    /// Of which 1007 `rate_limited`.
    pub rate_limited: AtomicU64,
    /// HTTP requests made by HTTP transports.
    pub http_requests: AtomicU64,
    /// Connections that ended before the run did.
    pub dropped: AtomicU64,
}

fn histogram() -> Histogram<u64> {
    // 1 µs to 10 minutes, 3 significant digits.
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("constant histogram bounds are valid")
}

impl Default for Meter {
    fn default() -> Self {
        Meter::new()
    }
}

impl Meter {
    pub fn new() -> Meter {
        Meter {
            window_start: AtomicU64::new(u64::MAX),
            window_end: AtomicU64::new(u64::MAX),
            latency: Mutex::new(histogram()),
            ack: Mutex::new(histogram()),
            deliveries: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
            connected: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            refusals: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            acked: AtomicU64::new(0),
            send_errors: AtomicU64::new(0),
            rate_limited: AtomicU64::new(0),
            http_requests: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        }
    }

    /// Sets the measured window (ns since the epoch).
    pub fn set_window(&self, start: u64, end: u64) {
        self.window_start.store(start, Relaxed);
        self.window_end.store(end, Relaxed);
    }

    /// Whether a message sent at `sent_ns` belongs to the measured window.
    pub fn in_window(&self, sent_ns: u64) -> bool {
        sent_ns >= self.window_start.load(Relaxed) && sent_ns < self.window_end.load(Relaxed)
    }

    pub fn add_delivery(&self) {
        self.deliveries.fetch_add(1, Relaxed);
    }

    pub fn add_duplicate(&self) {
        self.duplicates.fetch_add(1, Relaxed);
    }

    pub fn count(counter: &AtomicU64) -> u64 {
        counter.load(Relaxed)
    }

    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Relaxed);
    }

    /// Adds end-to-end latencies (µs).
    pub fn record_latencies(&self, micros: &[u64]) {
        if micros.is_empty() {
            return;
        }
        if let Ok(mut h) = self.latency.lock() {
            for &m in micros {
                h.saturating_record(m.max(1));
            }
        }
    }

    /// Adds one ack latency (µs), if the send was in the window.
    pub fn record_ack(&self, sent_ns: u64, micros: u64) {
        if !self.in_window(sent_ns) {
            return;
        }
        if let Ok(mut h) = self.ack.lock() {
            h.saturating_record(micros.max(1));
        }
    }

    /// End-to-end latency percentiles of the window's messages.
    pub fn latency(&self) -> Option<Percentiles> {
        self.latency.lock().ok().and_then(|h| Percentiles::of(&h))
    }

    /// Ack latency percentiles of the window's sends.
    pub fn ack_latency(&self) -> Option<Percentiles> {
        self.ack.lock().ok().and_then(|h| Percentiles::of(&h))
    }

    /// The end-to-end latencies recorded since the last call (or the start), leaving an empty
    /// histogram in their place: `soak` takes one per sampling interval.
    pub fn take_latency(&self) -> Histogram<u64> {
        self.latency
            .lock()
            .map(|mut h| std::mem::replace(&mut *h, histogram()))
            .unwrap_or_else(|_| histogram())
    }

    /// An empty latency histogram with the bounds of the meter's.
    pub fn empty_histogram() -> Histogram<u64> {
        histogram()
    }

    /// Deliveries of messages sent in the window.
    pub fn window_deliveries(&self) -> u64 {
        self.latency.lock().map_or(0, |h| h.len())
    }
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct Percentiles {
    pub count: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

impl Percentiles {
    /// Percentiles of a histogram of microseconds; `None` when it is empty.
    pub fn of(h: &Histogram<u64>) -> Option<Percentiles> {
        if h.is_empty() {
            return None;
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Some(Percentiles {
            count: h.len(),
            p50_ms: ms(h.value_at_quantile(0.5)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p999_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
        })
    }

    /// Percentiles of plain microsecond samples.
    pub fn of_samples(micros: &[u64]) -> Option<Percentiles> {
        let mut h = histogram();
        for &m in micros {
            h.saturating_record(m.max(1));
        }
        Percentiles::of(&h)
    }
}
