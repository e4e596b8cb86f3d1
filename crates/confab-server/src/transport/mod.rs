//! What carries a session: a WebSocket at `/ws` ([`ws`]), or an HTTP session under
//! `/api/v1/sessions` read by long polling or as an event stream ([`http`], with its [`outbox`]).
//! Each implements [`Link`](crate::session::Link) and hands the connection to
//! [`session::run`](crate::session::run); this module admits connections (the per-node cap and
//! the drain).

pub mod http;
pub mod outbox;
pub mod ws;

use std::future::Future;
use std::sync::atomic::Ordering;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::FutureExt;
use rand::Rng;

use crate::metrics::{ConnectionRefusal, Reason, Transport};
use crate::session::{self, Link};
use crate::state::AppState;

/// Holds one slot of the per-node connection cap; frees it when dropped.
#[derive(Debug)]
pub struct ConnectionSlot(AppState, Transport);

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::AcqRel);
        self.0.metrics.connection_closed(self.1);
    }
}

/// A refused connection: answered `503` with a jittered `Retry-After` (1–5 s), so refused clients
/// spread out.
#[derive(Debug)]
pub struct Refused(&'static str);

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        let secs = rand::thread_rng().gen_range(1..=5u32);
        let retry = [(header::RETRY_AFTER, secs.to_string())];
        (StatusCode::SERVICE_UNAVAILABLE, retry, self.0).into_response()
    }
}

/// Takes a connection slot, or the refusal to answer with: the node is shutting down or full.
pub fn admit(state: &AppState, transport: Transport) -> Result<ConnectionSlot, Refused> {
    if state.is_shutting_down() {
        state
            .metrics
            .connection_refused(transport, ConnectionRefusal::draining);
        return Err(Refused("shutting down"));
    }
    let max = state.config.max_connections;
    if state.connections.fetch_add(1, Ordering::AcqRel) >= max {
        state.connections.fetch_sub(1, Ordering::AcqRel);
        state.metrics.reject(Reason::connection_limit);
        state
            .metrics
            .connection_refused(transport, ConnectionRefusal::limit);
        return Err(Refused("connection limit reached"));
    }
    state.metrics.connection_opened(transport);
    Ok(ConnectionSlot(state.clone(), transport))
}

/// Runs a session over `link`, holding its connection slot until it ends.
///
/// A combinator, not an `async` block awaiting the session: such a block would keep the session's
/// future twice in every connection's task (once captured, once being awaited).
fn serve<L: Link>(
    link: L,
    state: AppState,
    slot: ConnectionSlot,
) -> impl Future<Output = ()> + Send {
    session::run(link, state).map(move |()| drop(slot))
}
