//! The state every request and session shares.
//!
//! It holds the parts [`app`](crate::app) builds and imports nothing above them — no handler,
//! operation, session or transport — so no module cycle can form around it.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

use confab_presence::PresenceService;
use confab_store::Store;
use tokio::sync::{watch, Semaphore};

use crate::config::Config;
use crate::hub::Hub;
use crate::limit::{Admission, SendLimiter};
use crate::metrics::Metrics;
use crate::presence::Watchers;
use crate::receipt::Receipts;

/// Everything a request or session needs, shared.
pub struct State {
    pub config: Config,
    pub store: Arc<dyn Store>,
    pub hub: Hub,
    pub metrics: Arc<Metrics>,
    /// Per-user send buckets.
    pub limiter: SendLimiter,
    /// Admission control for new and resumed sessions.
    pub admission: Admission,
    /// The delivered-pointer batcher.
    pub receipts: Receipts,
    /// Cluster-wide presence (leases over the bus).
    pub presence: PresenceService,
    /// Which local sessions watch which users' presence.
    pub watchers: Arc<Watchers>,
    /// Open connections (WebSockets and HTTP sessions), for the per-node cap.
    pub connections: AtomicU32,
    /// Source of session keys.
    pub next_session: AtomicU64,
    /// Bounds concurrent argon2 hashes (each takes ~19 MiB and tens of ms of a core).
    pub hash_permits: Semaphore,
    /// Flips to `true` when the server starts draining (SIGTERM): `/readyz` fails, new sessions
    /// are refused, sessions leave over the drain window.
    pub shutdown: watch::Receiver<bool>,
    /// The start of the heartbeat clock (see [`State::clock_ms`]).
    pub started: tokio::time::Instant,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State").finish_non_exhaustive()
    }
}

/// The state handlers and sessions receive.
pub type AppState = Arc<State>;

impl State {
    /// A fresh session key, unique on this node.
    pub fn session_key(&self) -> u64 {
        self.next_session.fetch_add(1, Ordering::Relaxed)
    }

    pub fn is_shutting_down(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// Milliseconds since the node started: the clock session queues note activity in (tokio's,
    /// so a paused test clock moves it).
    pub fn clock_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

/// Resolves once `shutdown` turns `true` (or its sender is gone).
pub async fn stopped(mut shutdown: watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|s| *s).await;
}
