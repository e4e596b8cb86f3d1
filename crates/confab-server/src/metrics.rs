//! Prometheus metrics, served at `/metrics`.

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// Why a request, frame or connection was refused: the `reason` label of `confab_rejections_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum Reason {
    bad_frame,
    unknown_op,
    frame_too_large,
    not_identified,
    already_identified,
    auth_failed,
    identify_timeout,
    heartbeat_timeout,
    rate_limited,
    too_large,
    forbidden,
    connection_limit,
    slow_consumer,
    protocol_violation,
    overloaded,
    receipt_queue_full,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: Reason,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct OpLabel {
    pub op: &'static str,
}

/// Every metric the server exports.
pub struct Metrics {
    registry: Registry,
    /// Open WebSocket connections.
    pub connections: Gauge,
    /// Connections accepted since start.
    pub connections_total: Counter,
    /// Identified sessions now open.
    pub sessions: Gauge,
    /// Frames received from clients, by op.
    pub frames_in: Family<OpLabel, Counter>,
    /// Frames written to clients.
    pub frames_out: Counter,
    /// Messages newly committed to the store.
    pub messages_stored: Counter,
    /// Sends answered with the original ack because they were duplicates.
    pub duplicate_sends: Counter,
    /// Seconds from a channel event's arrival on the hub to its enqueueing for every local session.
    pub fanout_seconds: Histogram,
    /// Seconds a message append took in the store (commit included).
    pub store_append_seconds: Histogram,
    /// Refusals by reason.
    pub rejections: Family<ReasonLabel, Counter>,
    /// Gaps the hub repaired from the store.
    pub gaps_filled: Counter,
    /// Events removed by the retention pruner.
    pub events_pruned: Counter,
    /// Delivered pointers that moved (written in batches).
    pub receipts_written: Counter,
    /// Sessions resumed (as opposed to identified afresh).
    pub resumes: Counter,
    /// Sessions identified afresh.
    pub identifies: Counter,
    /// Events replayed to resuming sessions.
    pub replayed_events: Counter,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric under the `confab_` prefix.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("confab");
        let m = Metrics {
            connections: Gauge::default(),
            connections_total: Counter::default(),
            sessions: Gauge::default(),
            frames_in: Family::default(),
            frames_out: Counter::default(),
            messages_stored: Counter::default(),
            duplicate_sends: Counter::default(),
            fanout_seconds: Histogram::new(exponential_buckets(0.000_01, 2.0, 20)),
            store_append_seconds: Histogram::new(exponential_buckets(0.000_05, 2.0, 18)),
            rejections: Family::default(),
            gaps_filled: Counter::default(),
            events_pruned: Counter::default(),
            receipts_written: Counter::default(),
            resumes: Counter::default(),
            identifies: Counter::default(),
            replayed_events: Counter::default(),
            registry: Registry::default(),
        };
        registry.register(
            "connections",
            "Open WebSocket connections",
            m.connections.clone(),
        );
        registry.register(
            "connections",
            "WebSocket connections accepted",
            m.connections_total.clone(),
        );
        registry.register(
            "sessions",
            "Identified sessions now open",
            m.sessions.clone(),
        );
        registry.register(
            "frames_in",
            "Frames received from clients, by op",
            m.frames_in.clone(),
        );
        registry.register(
            "frames_out",
            "Frames written to clients",
            m.frames_out.clone(),
        );
        registry.register(
            "messages_stored",
            "Messages committed to the store",
            m.messages_stored.clone(),
        );
        registry.register(
            "duplicate_sends",
            "Sends answered with the original ack (idempotent retries)",
            m.duplicate_sends.clone(),
        );
        registry.register(
            "fanout_seconds",
            "Time to enqueue one channel event for every local session",
            m.fanout_seconds.clone(),
        );
        registry.register(
            "store_append_seconds",
            "Time to commit one message to the store",
            m.store_append_seconds.clone(),
        );
        registry.register(
            "rejections",
            "Refused requests, frames and connections, by reason",
            m.rejections.clone(),
        );
        registry.register(
            "gaps_filled",
            "Event gaps the hub repaired from the store",
            m.gaps_filled.clone(),
        );
        registry.register(
            "events_pruned",
            "Events deleted by the retention policy",
            m.events_pruned.clone(),
        );
        registry.register(
            "receipts_written",
            "Delivered pointers that moved",
            m.receipts_written.clone(),
        );
        registry.register("resumes", "Sessions resumed", m.resumes.clone());
        registry.register(
            "identifies",
            "Sessions identified afresh",
            m.identifies.clone(),
        );
        registry.register(
            "replayed_events",
            "Events replayed to resuming sessions",
            m.replayed_events.clone(),
        );
        Metrics { registry, ..m }
    }

    /// Counts one refusal.
    pub fn reject(&self, reason: Reason) {
        self.rejections.get_or_create(&ReasonLabel { reason }).inc();
    }

    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
