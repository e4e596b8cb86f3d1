//! What a session talks through: the [`Link`] trait. A transport implements it — a WebSocket, an
//! HTTP session's outbox (long polling and SSE), or [`MemoryLink`] in tests — and the session
//! code is the same for all, so every transport keeps the same protocol, cursors and guarantees.

use std::future::Future;

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

/// One client connection, as the session uses it. Writes are split into [`feed`](Link::feed)
/// and [`flush`](Link::flush) so a session can write several queued frames at once.
pub trait Link: Send + 'static {
    /// The next thing from the client.
    fn recv(&mut self) -> impl Future<Output = Incoming> + Send;

    /// Queues a frame without flushing.
    fn feed(&mut self, frame: Utf8Bytes) -> impl Future<Output = Result<(), LinkError>> + Send;

    /// Sends what was fed.
    fn flush(&mut self) -> impl Future<Output = Result<(), LinkError>> + Send;

    /// Ends the session with a close code (callers bound the wait for the client's reply).
    fn close(&mut self, code: u16, reason: String) -> impl Future<Output = ()> + Send;

    /// Marks the session as ended without a close code: the client went away.
    fn gone(&mut self) {}
}

/// A link over in-memory channels, for tests: the test side sends what a client would and reads
/// what the session wrote, flush by flush. The session's side holds at most `capacity` unread
/// flushes; past that a flush waits, as a socket whose client stops reading does.
#[derive(Debug)]
pub struct MemoryLink {
    incoming: mpsc::UnboundedReceiver<Incoming>,
    outgoing: mpsc::Sender<Written>,
    pending: Vec<Utf8Bytes>,
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

    async fn feed(&mut self, frame: Utf8Bytes) -> Result<(), LinkError> {
        self.pending.push(frame);
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), LinkError> {
        // Room first, then the frames: a flush given up while waiting keeps them for the next.
        let permit = self.outgoing.reserve().await.map_err(|_| LinkError)?;
        let frames = self.pending.drain(..).map(|f| f.as_str().to_owned());
        permit.send(Written::Frames(frames.collect()));
        Ok(())
    }

    async fn close(&mut self, code: u16, reason: String) {
        if !self.pending.is_empty() {
            let _ = self.flush().await;
        }
        let _ = self.outgoing.send(Written::Closed(code, reason)).await;
    }
}
