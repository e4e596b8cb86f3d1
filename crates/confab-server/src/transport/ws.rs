//! The WebSocket transport at `/ws`: admission, the upgrade, and the [`Link`] over the socket.

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use futures::Sink;

use crate::metrics::Transport;
use crate::session::{Incoming, Link, LinkError};
use crate::state::AppState;

/// Bytes read from a socket at a time, at first: the buffer grows to fit a larger frame. Client
/// frames are small (an `identify`, a heartbeat, a short message fit), and every idle connection
/// holds this buffer.
pub const READ_BUFFER: usize = 256;
/// Bytes of outgoing frames gathered before the WebSocket layer writes to the socket.
pub const WRITE_BUFFER: usize = 16 * 1024;

/// `GET /ws`: upgrades to a WebSocket session, unless the node is shutting down or full.
pub async fn upgrade(State(state): State<AppState>, ws: WebSocketUpgrade) -> Response {
    let slot = match super::admit(&state, Transport::websocket) {
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
        .on_upgrade(move |socket| super::serve(WsLink(socket), state, slot))
}

/// A session's WebSocket.
pub struct WsLink(WebSocket);

impl std::fmt::Debug for WsLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WsLink")
    }
}

/// Whether the WebSocket layer refused a frame over its hard cap.
fn is_too_large(e: &axum::Error) -> bool {
    use std::error::Error as _;
    let mut source: Option<&(dyn std::error::Error + 'static)> = e.source();
    while let Some(err) = source {
        if let Some(t) = err.downcast_ref::<tokio_tungstenite::tungstenite::Error>() {
            return matches!(t, tokio_tungstenite::tungstenite::Error::Capacity(_));
        }
        source = err.source();
    }
    false
}

impl Link for WsLink {
    async fn recv(&mut self) -> Incoming {
        match self.0.recv().await {
            None => Incoming::Gone,
            Some(Err(e)) if is_too_large(&e) => Incoming::TooLarge,
            Some(Err(_)) => Incoming::Gone,
            Some(Ok(Message::Text(text))) => Incoming::Text(text),
            Some(Ok(Message::Binary(data))) => Incoming::Binary(data.len()),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => Incoming::Alive,
            Some(Ok(Message::Close(_))) => Incoming::Gone,
        }
    }

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), LinkError>> {
        Pin::new(&mut self.0).poll_ready(cx).map_err(|_| LinkError)
    }

    fn start_send(&mut self, frame: Utf8Bytes) -> Result<(), LinkError> {
        Pin::new(&mut self.0)
            .start_send(Message::Text(frame))
            .map_err(|_| LinkError)
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), LinkError>> {
        Pin::new(&mut self.0).poll_flush(cx).map_err(|_| LinkError)
    }

    async fn close(&mut self, code: u16, reason: String) {
        let frame = CloseFrame {
            code,
            reason: Utf8Bytes::from(reason),
        };
        if self.0.send(Message::Close(Some(frame))).await.is_err() {
            return;
        }
        // The closing handshake: read (and drop) whatever the client still sends until its close
        // reply. Dropping a socket with unread input resets the connection, which can destroy
        // the close frame and the last acks on their way to the client.
        while let Some(Ok(_)) = self.0.recv().await {}
    }
}
