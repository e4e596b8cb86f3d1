//! Prometheus metrics, served at `/metrics` in both of Prometheus's text formats.
//!
//! Every family is declared once, named by Prometheus's conventions (base units such as
//! `_seconds`, `_total` only on counters), and registered here; `docs/operations.md` lists them
//! all. Label values are known at start, so every series is created then (exported as 0 before
//! its first event, which keeps `rate()` and alerts defined) and its handle kept in a table:
//! counting on a hot path is an index and an atomic add — no hashing, no lock, no allocation.
//!
//! - `label`: the label values (why a session was refused, which transport, …).
//! - `exposition`: the `Accept` header's choice between OpenMetrics and the classic format.
//! - `store`, `bus`: [`Metered`] store and bus: every call timed, failures counted.

mod bus;
mod exposition;
mod label;
mod store;

use confab_proto::{ClientFrame, CloseCode};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};

pub use crate::limit::SessionKind;
pub use exposition::Format;
pub use label::{ConnectionRefusal, Reason, SessionRefusal, Transport};
pub use store::StoreOp;

/// A backend (`dyn Store`, `dyn Bus`) with its calls timed into the metrics: the composition
/// root wraps each backend once, and every caller is counted without knowing it.
pub struct Metered<T: ?Sized> {
    inner: std::sync::Arc<T>,
    metrics: std::sync::Arc<Metrics>,
}

impl<T: ?Sized> Metered<T> {
    pub fn new(inner: std::sync::Arc<T>, metrics: std::sync::Arc<Metrics>) -> Self {
        Metered { inner, metrics }
    }
}

/// A series' labels: names and values, all `'static`.
type Labels = Vec<(&'static str, &'static str)>;

/// Every metric the server exports, as handles to count with.
pub struct Metrics {
    registry: Registry,
    connections: Vec<Gauge>,
    connections_opened: Vec<Counter>,
    connections_refused: Vec<Counter>,
    /// Identified sessions now open.
    pub sessions: Gauge,
    sessions_admitted: Vec<Counter>,
    sessions_refused: Vec<Counter>,
    closes: Vec<Counter>,
    rejections: Vec<Counter>,
    frames_in: Vec<Counter>,
    /// Frames written to clients.
    pub frames_out: Counter,
    /// Messages newly committed to the store.
    pub messages_stored: Counter,
    /// Sends answered with the original ack because they were repeats.
    pub duplicate_sends: Counter,
    /// Acks given (REST and gateway, repeats included).
    pub acks: Counter,
    /// Seconds from a send's arrival to its ack: checks, commit and publish.
    pub ack_seconds: Histogram,
    /// Channel events handed to local sessions (one per event and session).
    pub deliveries: Counter,
    /// Seconds from a channel event's arrival on the hub to its enqueueing for every local session.
    pub fanout_seconds: Histogram,
    /// Gaps the hub repaired from the store.
    pub gaps_filled: Counter,
    /// Events replayed to resuming sessions.
    pub replayed_events: Counter,
    /// Channels a resume could not replay (history pruned past the cursor): resynced instead.
    pub resyncs: Counter,
    /// Events removed by the retention pruner.
    pub events_pruned: Counter,
    /// Delivered pointers that moved (written in batches).
    pub receipts_written: Counter,
    store_seconds: Vec<Histogram>,
    store_errors: Vec<Counter>,
    /// Seconds one bus publish took.
    pub bus_publish_seconds: Histogram,
    /// Bus publishes that failed (the event is committed; receivers repair the gap).
    pub bus_publish_errors: Counter,
    /// Read at scrape time: frames waiting in all sessions' outbound queues.
    pub queued_frames: Gauge,
    /// Read at scrape time: frames waiting in the fullest session queue.
    pub queued_frames_max: Gauge,
    /// Read at scrape time: delivered confirmations waiting for the next batch write.
    pub receipts_queued: Gauge,
    /// Read at scrape time: channels this node subscribes to on the bus.
    pub channel_subscriptions: Gauge,
    presence_users: Vec<Gauge>,
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

/// Registers a family with one series per label set in `labels`; returns their handles in order.
fn family<M>(
    registry: &mut Registry,
    name: &str,
    help: &str,
    unit: Option<Unit>,
    make: impl Fn() -> M + Send + Sync + 'static,
    labels: impl IntoIterator<Item = Labels>,
) -> Vec<M>
where
    M: prometheus_client::metrics::TypedMetric
        + prometheus_client::encoding::EncodeMetric
        + Clone
        + Send
        + Sync
        + std::fmt::Debug
        + 'static,
{
    let family = Family::<Labels, M, _>::new_with_constructor(make);
    let handles = labels
        .into_iter()
        .map(|l| family.get_or_create(&l).clone())
        .collect();
    match unit {
        Some(unit) => registry.register_with_unit(name, help, unit, family),
        None => registry.register(name, help, family),
    }
    handles
}

/// Registers a metric without labels.
fn single<M>(registry: &mut Registry, name: &str, help: &str, unit: Option<Unit>, metric: M) -> M
where
    M: prometheus_client::registry::Metric + Clone,
{
    match unit {
        Some(unit) => registry.register_with_unit(name, help, unit, metric.clone()),
        None => registry.register(name, help, metric.clone()),
    }
    metric
}

/// One label with each of `values`.
fn one(name: &'static str, values: impl IntoIterator<Item = &'static str>) -> Vec<Labels> {
    values.into_iter().map(|v| vec![(name, v)]).collect()
}

/// Two labels: every pair of `a` and `b`, `a` major (index `ia * b.len() + ib`).
fn pairs(
    (na, a): (&'static str, &[&'static str]),
    (nb, b): (&'static str, &[&'static str]),
) -> Vec<Labels> {
    a.iter()
        .flat_map(|va| b.iter().map(move |vb| vec![(na, *va), (nb, *vb)]))
        .collect()
}

const KINDS: [&str; 2] = ["identify", "resume"];

fn kind_index(kind: SessionKind) -> usize {
    match kind {
        SessionKind::Identify => 0,
        SessionKind::Resume => 1,
    }
}

/// Label values of the presence gauges: `(scope, status)` in table order.
const PRESENCE: [(&str, &str); 4] = [
    ("node", "online"),
    ("node", "idle"),
    ("cluster", "online"),
    ("cluster", "idle"),
];

impl Metrics {
    /// Registers every metric under the `confab_` prefix.
    pub fn new() -> Self {
        let mut r = Registry::with_prefix("confab");
        let transports = Transport::names();
        let counter = Counter::default;
        let gauge = Gauge::default;
        let histogram =
            |start: f64, count: u16| move || Histogram::new(exponential_buckets(start, 2.0, count));
        let single_histogram = |r: &mut Registry, name: &str, help: &str, start, count| {
            let h = Histogram::new(exponential_buckets(start, 2.0, count));
            single(r, name, help, Some(Unit::Seconds), h)
        };
        Metrics {
            connections: family(
                &mut r,
                "connections",
                "Open connections (WebSockets and HTTP sessions), by transport",
                None,
                gauge,
                one("transport", transports.iter().copied()),
            ),
            connections_opened: family(
                &mut r,
                "connections_opened",
                "Connections accepted, by transport",
                None,
                counter,
                one("transport", transports.iter().copied()),
            ),
            connections_refused: family(
                &mut r,
                "connections_refused",
                "Connections refused with 503: node full (limit) or draining, by transport",
                None,
                counter,
                pairs(
                    ("transport", &transports),
                    ("reason", &ConnectionRefusal::names()),
                ),
            ),
            sessions: single(
                &mut r,
                "sessions",
                "Identified sessions now open",
                None,
                Gauge::default(),
            ),
            sessions_admitted: family(
                &mut r,
                "sessions_admitted",
                "Sessions admitted, by kind: identify (fresh) or resume",
                None,
                counter,
                one("kind", KINDS),
            ),
            sessions_refused: family(
                &mut r,
                "sessions_refused",
                "Sessions refused at identify or resume, by kind and reason",
                None,
                counter,
                pairs(("kind", &KINDS), ("reason", &SessionRefusal::names())),
            ),
            closes: family(
                &mut r,
                "closes",
                "Connections the server closed, by close code (its reason name)",
                None,
                counter,
                one("reason", CloseCode::ALL.map(CloseCode::reason)),
            ),
            rejections: family(
                &mut r,
                "rejections",
                "Refused requests, frames and connections, by reason",
                None,
                counter,
                one("reason", Reason::names()),
            ),
            frames_in: family(
                &mut r,
                "frames_in",
                "Frames received from clients, by op (invalid: unparsable or unknown)",
                None,
                counter,
                one("op", ClientFrame::OPS.into_iter().chain(["invalid"])),
            ),
            frames_out: single(
                &mut r,
                "frames_out",
                "Frames written to clients",
                None,
                Counter::default(),
            ),
            messages_stored: single(
                &mut r,
                "messages_stored",
                "Messages committed to the store",
                None,
                Counter::default(),
            ),
            duplicate_sends: single(
                &mut r,
                "duplicate_sends",
                "Sends answered with the original ack (idempotent retries)",
                None,
                Counter::default(),
            ),
            acks: single(
                &mut r,
                "acks",
                "Acks given to senders (REST and gateway, repeats included)",
                None,
                Counter::default(),
            ),
            ack_seconds: single_histogram(
                &mut r,
                "ack",
                "Time from a send's arrival to its ack: checks, commit and publish",
                0.000_5,
                16,
            ),
            deliveries: single(
                &mut r,
                "deliveries",
                "Channel events handed to local sessions (one per event and session)",
                None,
                Counter::default(),
            ),
            fanout_seconds: single_histogram(
                &mut r,
                "fanout",
                "Time to enqueue one channel event for every local session",
                0.000_01,
                20,
            ),
            gaps_filled: single(
                &mut r,
                "gaps_filled",
                "Event gaps the hub repaired from the store",
                None,
                Counter::default(),
            ),
            replayed_events: single(
                &mut r,
                "replayed_events",
                "Events replayed to resuming sessions",
                None,
                Counter::default(),
            ),
            resyncs: single(
                &mut r,
                "resyncs",
                "Channels a resume told to resync (history pruned past the client's cursor)",
                None,
                Counter::default(),
            ),
            events_pruned: single(
                &mut r,
                "events_pruned",
                "Events deleted by the retention policy",
                None,
                Counter::default(),
            ),
            receipts_written: single(
                &mut r,
                "receipts_written",
                "Delivered pointers that moved",
                None,
                Counter::default(),
            ),
            store_seconds: family(
                &mut r,
                "store",
                "Time one store call took, by operation",
                Some(Unit::Seconds),
                histogram(0.000_1, 16),
                one("op", StoreOp::names()),
            ),
            store_errors: family(
                &mut r,
                "store_errors",
                "Store calls that failed, by operation and kind (unavailable: retryable)",
                None,
                counter,
                pairs(
                    ("op", &StoreOp::names()),
                    ("kind", &store::ErrorKind::names()),
                ),
            ),
            bus_publish_seconds: single_histogram(
                &mut r,
                "bus_publish",
                "Time one bus publish took",
                0.000_01,
                18,
            ),
            bus_publish_errors: single(
                &mut r,
                "bus_publish_errors",
                "Bus publishes that failed",
                None,
                Counter::default(),
            ),
            queued_frames: single(
                &mut r,
                "queued_frames",
                "Frames waiting in all sessions' outbound queues",
                None,
                Gauge::default(),
            ),
            queued_frames_max: single(
                &mut r,
                "queued_frames_max",
                "Frames waiting in the fullest session's outbound queue",
                None,
                Gauge::default(),
            ),
            receipts_queued: single(
                &mut r,
                "receipts_queued",
                "Delivered confirmations waiting for the next batch write",
                None,
                Gauge::default(),
            ),
            channel_subscriptions: single(
                &mut r,
                "channel_subscriptions",
                "Channels this node subscribes to on the bus",
                None,
                Gauge::default(),
            ),
            presence_users: family(
                &mut r,
                "presence_users",
                "Users online or idle: with a session on this node, or anywhere in the cluster",
                None,
                gauge,
                PRESENCE.map(|(scope, status)| vec![("scope", scope), ("status", status)]),
            ),
            registry: r,
        }
    }

    /// A connection was accepted.
    pub fn connection_opened(&self, transport: Transport) {
        self.connections[transport as usize].inc();
        self.connections_opened[transport as usize].inc();
    }

    /// An accepted connection ended.
    pub fn connection_closed(&self, transport: Transport) {
        self.connections[transport as usize].dec();
    }

    /// A connection was refused with 503.
    pub fn connection_refused(&self, transport: Transport, reason: ConnectionRefusal) {
        let reasons = ConnectionRefusal::ALL.len();
        self.connections_refused[transport as usize * reasons + reason as usize].inc();
    }

    /// Sessions admitted of this kind, so far.
    pub fn sessions_admitted(&self, kind: SessionKind) -> &Counter {
        &self.sessions_admitted[kind_index(kind)]
    }

    /// A session was refused at identify or resume.
    pub fn session_refused(&self, kind: SessionKind, reason: SessionRefusal) {
        let reasons = SessionRefusal::ALL.len();
        self.sessions_refused[kind_index(kind) * reasons + reason as usize].inc();
    }

    /// The server closed a connection with `code`.
    pub fn closed(&self, code: CloseCode) {
        if let Some(i) = CloseCode::ALL.iter().position(|&c| c == code) {
            self.closes[i].inc();
        }
    }

    /// A session closed because its client read too slowly (`4002`).
    pub fn slow_consumer(&self) {
        self.reject(Reason::slow_consumer);
        self.closed(CloseCode::SlowConsumer);
    }

    /// Refusals for `reason`, so far.
    pub fn rejections(&self, reason: Reason) -> &Counter {
        &self.rejections[reason as usize]
    }

    /// Counts one refusal.
    pub fn reject(&self, reason: Reason) {
        self.rejections[reason as usize].inc();
    }

    /// Counts one received frame by its op (`None`: invalid).
    pub fn frame_in(&self, op: Option<&str>) {
        let ops = &ClientFrame::OPS;
        let i = op
            .and_then(|op| ops.iter().position(|&o| o == op))
            .unwrap_or(ops.len());
        self.frames_in[i].inc();
    }

    /// Records one store call.
    pub fn store_call(&self, op: StoreOp, seconds: f64, error: Option<store::ErrorKind>) {
        self.store_seconds[op as usize].observe(seconds);
        if let Some(kind) = error {
            self.store_errors[op as usize * store::ErrorKind::ALL.len() + kind as usize].inc();
        }
    }

    /// Sets the presence gauges: users online and idle on this node and in the cluster.
    pub fn set_presence(&self, counts: confab_presence::PresenceCounts) {
        let values = [
            counts.node_online,
            counts.node_idle,
            counts.cluster_online,
            counts.cluster_idle,
        ];
        for (gauge, value) in self.presence_users.iter().zip(values) {
            gauge.set(i64::try_from(value).unwrap_or(i64::MAX));
        }
    }

    /// The exposition in `format`.
    pub fn encode(&self, format: Format) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        match format {
            Format::OpenMetrics => out,
            Format::Classic => exposition::to_classic(&out),
        }
    }
}
