//! The WebSocket gateway at `/ws`: admission, then the upgrade into a [`session`](crate::session).

use std::sync::atomic::Ordering;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use rand::Rng;

use crate::app::AppState;
use crate::link::Link;
use crate::metrics::Reason;
use crate::session;

/// Bytes read from a socket at a time, at first: the buffer grows to fit a larger frame. Client
/// frames are small, and every idle connection holds this buffer.
pub const READ_BUFFER: usize = 512;
/// Bytes of outgoing frames gathered before the WebSocket layer writes to the socket.
pub const WRITE_BUFFER: usize = 16 * 1024;

/// Holds one slot of the per-node connection cap; frees it when dropped.
#[derive(Debug)]
pub struct ConnectionSlot(AppState);

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::AcqRel);
        self.0.metrics.connections.dec();
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
pub fn admit(state: &AppState) -> Result<ConnectionSlot, Refused> {
    if state.is_shutting_down() {
        return Err(Refused("shutting down"));
    }
    let max = state.config.max_connections;
    if state.connections.fetch_add(1, Ordering::AcqRel) >= max {
        state.connections.fetch_sub(1, Ordering::AcqRel);
        state.metrics.reject(Reason::connection_limit);
        return Err(Refused("connection limit reached"));
    }
    state.metrics.connections.inc();
    state.metrics.connections_total.inc();
    Ok(ConnectionSlot(state.clone()))
}

/// `GET /ws`: upgrades to a WebSocket session, unless the node is shutting down or full.
pub async fn upgrade(State(state): State<AppState>, ws: WebSocketUpgrade) -> Response {
    let slot = match admit(&state) {
        Ok(slot) => slot,
        Err(refusal) => return refusal.into_response(),
    };
    // The session closes frames over the limit with `frame_too_large`; the WebSocket layer's own
    // hard cap (twice that) only stops grossly oversized frames from being buffered at all.
    let hard_cap = (state.config.max_frame_bytes as usize).saturating_mul(2);
    // Small socket buffers: tungstenite's defaults (128 KiB each way) would cost a quarter of a
    // megabyte per idle connection; frames are small and writes are batched per flush anyway.
    ws.max_message_size(hard_cap)
        .max_frame_size(hard_cap)
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .on_upgrade(move |socket| session::run(Link::Ws(socket), state, slot))
}
