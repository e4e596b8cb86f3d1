//! What a session talks through: the [`Link`] trait. A transport implements it — a WebSocket, an
//! HTTP session's outbox (long polling and SSE), or [`MemoryLink`] in tests — and the session
//! code is the same for all, so every transport keeps the same protocol, cursors and guarantees.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use axum::extract::ws::Utf8Bytes;
use tokio::sync::mpsc;

/// What the client sent, as far as the session cares.
#[derive(Debug)]
pub enum Incoming {
    /// A text frame (JSON, to be parsed by the session).
    Text(Utf8Bytes),
    /// A binary frame of this many bytes (refused: the protocol is JSON text).
    Binary(usize),
    /// The client is alive (a ping, a pong, a poll): resets the heartbeat deadline.
    Alive,
    /// A frame over the transport's hard size cap.
    TooLarge,
    /// The client is gone (closed, reset, or ended the HTTP session).
    Gone,
}

/// The link failed: the peer is gone (or, over HTTP, fell too far behind).
#[derive(Debug)]
pub struct LinkError;

/// One client connection, as the session uses it. Writes are split into queueing a frame and
/// flushing, so a session can write several queued frames at once; they are poll functions, like
/// a `Sink`'s, so that the write path keeps no future of its own in an idle session's task.
pub trait Link: Send + 'static {
    /// The next thing from the client.
    fn recv(&mut self) -> impl Future<Output = Incoming> + Send;

    /// Ready when a frame can be queued.
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), LinkError>>;

    /// Queues a frame without flushing; only after [`poll_ready`](Link::poll_ready) said ready.
    fn start_send(&mut self, frame: Utf8Bytes) -> Result<(), LinkError>;

    /// Ready once what was queued is sent.
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), LinkError>>;

    /// Ends the session with a close code (callers bound the wait for the client's reply).
    fn close(&mut self, code: u16, reason: String) -> impl Future<Output = ()> + Send;

    /// Marks the session as ended without a close code: the client went away.
    fn gone(&mut self) {}

    /// Queues a frame once there is room.
    fn feed(&mut self, frame: Utf8Bytes) -> impl Future<Output = Result<(), LinkError>> + Send {
        let mut frame = Some(frame);
        poll_fn(move |cx| {
            ready!(self.poll_ready(cx))?;
            match frame.take() {
                Some(frame) => Poll::Ready(self.start_send(frame)),
                None => Poll::Ready(Ok(())),
            }
        })
    }

    /// Sends what was queued.
    fn flush(&mut self) -> impl Future<Output = Result<(), LinkError>> + Send {
        poll_fn(move |cx| self.poll_flush(cx))
    }
}

/// A link over in-memory channels, for tests: the test side sends what a client would and reads
/// what the session wrote, flush by flush. The session's side holds at most `capacity` unread
/// flushes; past that a flush waits, as a socket whose client stops reading does.
pub struct MemoryLink {
    incoming: mpsc::UnboundedReceiver<Incoming>,
    outgoing: mpsc::Sender<Written>,
    pending: Vec<Utf8Bytes>,
    /// Waiting for room to hand the peer a flush.
    room: Option<Pin<Box<Room>>>,
}

type Room =
    dyn Future<Output = Result<mpsc::OwnedPermit<Written>, mpsc::error::SendError<()>>> + Send;

impl std::fmt::Debug for MemoryLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryLink").finish_non_exhaustive()
    }
}

/// What a session wrote to a [`MemoryLink`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    /// The frames of one flush, in order.
    Frames(Vec<String>),
    /// The close code and reason.
    Closed(u16, String),
}

/// The client's side of a [`MemoryLink`].
#[derive(Debug)]
pub struct MemoryPeer {
    pub to_session: mpsc::UnboundedSender<Incoming>,
    pub from_session: mpsc::Receiver<Written>,
}

impl MemoryLink {
    /// A link and the peer that plays the client; `capacity` unread flushes fit between them.
    pub fn pair(capacity: usize) -> (MemoryLink, MemoryPeer) {
        let (to_session, incoming) = mpsc::unbounded_channel();
        let (outgoing, from_session) = mpsc::channel(capacity.max(1));
        let link = MemoryLink {
            incoming,
            outgoing,
            pending: Vec::new(),
            room: None,
        };
        (
            link,
            MemoryPeer {
                to_session,
                from_session,
            },
        )
    }
}

impl Link for MemoryLink {
    async fn recv(&mut self) -> Incoming {
        self.incoming.recv().await.unwrap_or(Incoming::Gone)
    }

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), LinkError>> {
        Poll::Ready(Ok(()))
    }

    fn start_send(&mut self, frame: Utf8Bytes) -> Result<(), LinkError> {
        self.pending.push(frame);
        Ok(())
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), LinkError>> {
        if self.pending.is_empty() {
            return Poll::Ready(Ok(()));
        }
        // Room first, then the frames: a flush given up while waiting keeps them for the next.
        let room = self
            .room
            .get_or_insert_with(|| Box::pin(self.outgoing.clone().reserve_owned()));
        let permit = ready!(room.as_mut().poll(cx));
        self.room = None;
        let permit = permit.map_err(|_| LinkError)?;
        let frames = self.pending.drain(..).map(|f| f.as_str().to_owned());
        permit.send(Written::Frames(frames.collect()));
        Poll::Ready(Ok(()))
    }

    async fn close(&mut self, code: u16, reason: String) {
        let _ = self.flush().await;
        let _ = self.outgoing.send(Written::Closed(code, reason)).await;
    }
}
