//! Confab's bus: fan-out of events between the nodes of a cluster.
//!
//! # Layout
//!
//! - [`Bus`]: the trait; publish bytes to a subject, subscribe to a subject.
//! - [`local`]: [`LocalBus`], the in-process default for a single node.
//! - [`nats`]: [`NatsBus`], NATS core publish/subscribe between the nodes of a cluster.
//! - [`subject`]: every subject name Confab uses, built in one place.
//! - [`envelope`]: [`Envelope`], what travels on a channel subject: the routing facts (channel,
//!   `seq`, who an event removes) beside the frame bytes clients receive.
//! - [`conformance`]: the suite every backend passes.
//!
//! The bus is only fan-out, never the source of truth: delivery is at-most-once and a subscriber
//! that falls behind loses messages (counted). Receivers detect gaps by `seq` and repair them from
//! the store.

pub mod conformance;
pub mod envelope;
pub mod local;
pub mod nats;
pub mod subject;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;

pub use envelope::{Envelope, EnvelopeError, Route};
pub use local::LocalBus;
pub use nats::NatsBus;

/// Why a bus call failed.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The bus is not reachable; the publish may not have happened.
    #[error("bus unavailable: {0}")]
    Unavailable(String),
    /// The subject is not valid for this backend.
    #[error("invalid subject {0:?}")]
    InvalidSubject(String),
}

/// The bus's result type.
pub type Result<T, E = BusError> = std::result::Result<T, E>;

/// A live subscription: a stream of payloads published to its subject after it was created.
/// Dropping it unsubscribes.
pub type Subscription = BoxStream<'static, Bytes>;

/// Publish/subscribe between nodes.
#[async_trait]
pub trait Bus: Send + Sync + 'static {
    /// Publishes `payload` to every current subscription of `subject`.
    ///
    /// At-most-once: a subscriber that is too slow, or (for networked backends) disconnected,
    /// misses it. Payloads one publisher sends to one subject arrive in the order sent.
    async fn publish(&self, subject: &str, payload: Bytes) -> Result<()>;

    /// Subscribes to `subject`. Only payloads published after this returns are delivered.
    async fn subscribe(&self, subject: &str) -> Result<Subscription>;

    /// Returns once what was published so far has left this process (a short-lived publisher,
    /// such as `confab admin`, calls it before it exits). Nothing to do for the in-process bus.
    async fn flush(&self) -> Result<()> {
        Ok(())
    }

    /// Whether the bus is connected now (for readiness). The in-process bus always is.
    fn is_connected(&self) -> bool {
        true
    }

    /// Counts (re)connections: it changes every time the bus comes back after an outage, when
    /// whatever was published meanwhile may have been missed. The in-process bus never changes it.
    fn reconnections(&self) -> tokio::sync::watch::Receiver<u64> {
        tokio::sync::watch::channel(0).1
    }
}
