//! The two ends a session can talk through: a WebSocket, or an [`HttpLink`] fed by HTTP requests
//! (long polling and SSE). The session code is the same for both, so every transport keeps the same
//! protocol, cursors and guarantees.
//!
//! An HTTP session's frames wait in an [`Outbox`] until the client acknowledges them: a long poll
//! with `after=N`, or an event stream reconnecting with `Last-Event-ID: N`, drops frames up to `N`
//! and returns those after it. Frames are numbered from 1 per session.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures::SinkExt;
use tokio::sync::{mpsc, Notify};

/// What an HTTP request hands the session.
#[derive(Debug)]
pub enum PipeIn {
    /// A client frame (JSON text), from `POST …/frames`.
    Frame(String),
    /// The client is still there (a poll or an open event stream): resets the heartbeat deadline.
    Alive,
    /// The client ended the session (`DELETE`), or lost frames it cannot get back: as a closed socket.
    End,
}

/// How an HTTP session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closed {
    pub code: u16,
    pub reason: String,
}

#[derive(Debug, Default)]
struct OutboxState {
    /// Frames not yet acknowledged, oldest first, with their numbers.
    frames: VecDeque<(u64, Utf8Bytes)>,
    /// The number the next frame gets.
    next_id: u64,
    closed: Option<Closed>,
}

/// The frames of an HTTP session, kept until acknowledged.
#[derive(Debug)]
pub struct Outbox {
    state: Mutex<OutboxState>,
    /// Woken whenever frames are added or the session closes.
    pub changed: Notify,
    /// Most unacknowledged frames kept; past this the session is closed as a slow consumer.
    limit: usize,
}

impl Outbox {
    pub fn new(limit: usize) -> Outbox {
        Outbox {
            state: Mutex::new(OutboxState {
                next_id: 1,
                ..Default::default()
            }),
            changed: Notify::new(),
            limit: limit.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, OutboxState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a frame; `false` when the client has fallen too far behind (the outbox is then closed
    /// with `slow_consumer`).
    fn push(&self, frame: Utf8Bytes) -> bool {
        let mut state = self.lock();
        if state.closed.is_some() {
            return false;
        }
        if state.frames.len() >= self.limit {
            state.closed = Some(Closed {
                code: confab_proto::CloseCode::SlowConsumer.as_u16(),
                reason: "slow_consumer".into(),
            });
            drop(state);
            self.changed.notify_waiters();
            return false;
        }
        let id = state.next_id;
        state.next_id += 1;
        state.frames.push_back((id, frame));
        true
    }

    fn close(&self, code: u16, reason: &str) {
        let mut state = self.lock();
        if state.closed.is_none() {
            state.closed = Some(Closed {
                code,
                reason: reason.to_owned(),
            });
        }
        drop(state);
        self.changed.notify_waiters();
    }

    /// Drops frames numbered up to `upto`: the client has them.
    pub fn ack(&self, upto: u64) {
        let mut state = self.lock();
        while state.frames.front().is_some_and(|(id, _)| *id <= upto) {
            state.frames.pop_front();
        }
    }

    /// Keeps at most `keep` frames numbered up to `sent` (already written to an event stream), for
    /// a reconnecting stream to replay; older ones are dropped.
    pub fn trim_sent(&self, sent: u64, keep: usize) {
        let mut state = self.lock();
        let sent_count = state
            .frames
            .iter()
            .take_while(|(id, _)| *id <= sent)
            .count();
        for _ in 0..sent_count.saturating_sub(keep) {
            state.frames.pop_front();
        }
    }

    /// Up to `max` frames numbered after `after`; whether `after` is older than what is kept (the
    /// client missed frames that are gone); and how the session ended, once it has and every frame
    /// was taken.
    pub fn after(&self, after: u64, max: usize) -> (Vec<(u64, Utf8Bytes)>, bool, Option<Closed>) {
        let state = self.lock();
        // Frames after `after` that are no longer kept: acknowledged before (by a request the
        // client does not remember) or trimmed from an event stream's replay window.
        let first_kept = state.frames.front().map_or(state.next_id, |(id, _)| *id);
        let lost = first_kept > after + 1;
        let frames: Vec<_> = state
            .frames
            .iter()
            .filter(|(id, _)| *id > after)
            .take(max)
            .cloned()
            .collect();
        let drained = frames.last().map_or(after, |(id, _)| *id) + 1 >= state.next_id;
        let closed = if drained { state.closed.clone() } else { None };
        (frames, lost, closed)
    }
}

/// The session's end of an HTTP session.
#[derive(Debug)]
pub struct HttpLink {
    pub inbound: mpsc::Receiver<PipeIn>,
    pub outbox: Arc<Outbox>,
}

/// Where a session's frames go.
// Most links are WebSockets: boxing that variant would cost every connection an allocation to save
// bytes only on the rarer HTTP sessions.
#[allow(clippy::large_enum_variant)]
pub enum Link {
    Ws(WebSocket),
    Http(HttpLink),
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Link::Ws(_) => f.write_str("Link::Ws"),
            Link::Http(_) => f.write_str("Link::Http"),
        }
    }
}

/// The link failed: the peer is gone (or, over HTTP, fell too far behind).
#[derive(Debug)]
pub struct LinkError;

impl Link {
    /// The next message from the client, as a WebSocket would give it.
    pub async fn recv(&mut self) -> Option<Result<Message, axum::Error>> {
        match self {
            Link::Ws(socket) => socket.recv().await,
            Link::Http(http) => match http.inbound.recv().await? {
                PipeIn::Frame(text) => Some(Ok(Message::Text(Utf8Bytes::from(text)))),
                PipeIn::Alive => Some(Ok(Message::Ping(Default::default()))),
                PipeIn::End => None,
            },
        }
    }

    /// Queues a frame without flushing.
    pub async fn feed(&mut self, frame: Utf8Bytes) -> Result<(), LinkError> {
        match self {
            Link::Ws(socket) => socket
                .feed(Message::Text(frame))
                .await
                .map_err(|_| LinkError),
            Link::Http(http) => http.outbox.push(frame).then_some(()).ok_or(LinkError),
        }
    }

    /// Sends what was fed.
    pub async fn flush(&mut self) -> Result<(), LinkError> {
        match self {
            Link::Ws(socket) => socket.flush().await.map_err(|_| LinkError),
            Link::Http(http) => {
                http.outbox.changed.notify_waiters();
                Ok(())
            }
        }
    }

    /// Sends one frame now.
    pub async fn send(&mut self, frame: Utf8Bytes) -> Result<(), LinkError> {
        self.feed(frame).await?;
        self.flush().await
    }

    /// Ends the session with a close code (callers bound the wait for the client's reply).
    pub async fn close(&mut self, code: u16, reason: String) {
        match self {
            Link::Ws(socket) => {
                let frame = CloseFrame {
                    code,
                    reason: Utf8Bytes::from(reason),
                };
                if socket.send(Message::Close(Some(frame))).await.is_err() {
                    return;
                }
                // The closing handshake: read (and drop) whatever the client still sends until
                // its close reply. Dropping a socket with unread input resets the connection,
                // which can destroy the close frame and the last acks on their way to the client.
                while let Some(Ok(_)) = socket.recv().await {}
            }
            Link::Http(http) => http.outbox.close(code, &reason),
        }
    }

    /// Marks an HTTP session as ended without a close code (the client went away).
    pub fn gone(&mut self) {
        if let Link::Http(http) = self {
            http.outbox.close(1000, "closed");
        }
    }
}
