//! An HTTP session's two queues: client frames posted to it ([`PipeIn`]), and the server's frames
//! waiting in an [`Outbox`] until the client acknowledges them — a long poll with `after=N`, or an
//! event stream reconnecting with `Last-Event-ID: N`, drops frames up to `N` and returns those
//! after it. Frames are numbered from 1 per session. [`HttpLink`] is the session's end of both.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use axum::extract::ws::Utf8Bytes;
use tokio::sync::{mpsc, Notify};

use crate::metrics::Metrics;
use crate::session::{Incoming, Link, LinkError};

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
    /// Where a slow consumer is counted (its close bypasses the session's own close).
    metrics: Arc<Metrics>,
}

impl Outbox {
    pub fn new(limit: usize, metrics: Arc<Metrics>) -> Outbox {
        Outbox {
            state: Mutex::new(OutboxState {
                next_id: 1,
                ..Default::default()
            }),
            changed: Notify::new(),
            limit: limit.max(1),
            metrics,
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
            let code = confab_proto::CloseCode::SlowConsumer;
            state.closed = Some(Closed {
                code: code.as_u16(),
                reason: code.reason().into(),
            });
            drop(state);
            self.metrics.slow_consumer();
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

    /// The client asked for frames that are gone: the session ends as a slow consumer (counted
    /// once, and the outbox closed so that the session's own end is not).
    pub fn lost(&self) {
        let mut state = self.lock();
        if state.closed.is_none() {
            let code = confab_proto::CloseCode::SlowConsumer;
            state.closed = Some(Closed {
                code: code.as_u16(),
                reason: "frames_lost".into(),
            });
            drop(state);
            self.metrics.slow_consumer();
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

impl Link for HttpLink {
    async fn recv(&mut self) -> Incoming {
        match self.inbound.recv().await {
            Some(PipeIn::Frame(text)) => Incoming::Text(Utf8Bytes::from(text)),
            Some(PipeIn::Alive) => Incoming::Alive,
            Some(PipeIn::End) | None => Incoming::Gone,
        }
    }

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), LinkError>> {
        Poll::Ready(Ok(()))
    }

    fn start_send(&mut self, frame: Utf8Bytes) -> Result<(), LinkError> {
        self.outbox.push(frame).then_some(()).ok_or(LinkError)
    }

    fn poll_flush(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), LinkError>> {
        self.outbox.changed.notify_waiters();
        Poll::Ready(Ok(()))
    }

    async fn close(&mut self, code: u16, reason: String) {
        self.outbox.close(code, &reason);
    }

    fn gone(&mut self) {
        self.outbox.close(1000, "closed");
    }
}
