//! The reading and writing ends of a session's link: client frames parsed and classified (bad
//! JSON, unknown ops and bad fields told apart, size limits, binary frames), server frames encoded
//! and counted, close codes sent with a bounded wait, invalid frames answered and counted.

use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use confab_proto::{ClientFrame, CloseCode, ErrorBody, ErrorCode, ServerFrame};

use super::link::{Incoming, Link};
use crate::metrics::Reason;
use crate::state::AppState;

/// Why a session ended: the close code to send, or `None` when the peer went away.
pub(super) type End = Option<CloseCode>;

/// How long a close frame may take to get out behind what is already queued.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// The link and what the reading side needs.
pub(super) struct Conn<L> {
    pub link: L,
    pub state: AppState,
    /// Invalid frames so far; past the limit the connection closes with `protocol_violation`.
    invalid: u32,
}

/// What one received message means.
pub(super) enum Inbound {
    Frame(ClientFrame),
    /// Answered with an error frame; the connection goes on (until too many).
    Invalid(ErrorBody, Option<u64>),
    /// Ping, pong, poll: nothing to do but note the peer is alive.
    Alive,
    Gone,
    TooLarge,
}

/// A server frame as the client receives it.
pub(super) fn encode(frame: &ServerFrame) -> Utf8Bytes {
    // Serializing our own frame types cannot fail (no maps with non-string keys, no floats).
    Utf8Bytes::from(serde_json::to_string(frame).unwrap_or_default())
}

pub(super) fn error_frame(error: ErrorBody, reference: Option<u64>) -> ServerFrame {
    ServerFrame::Error { reference, error }
}

/// Parses a text frame, telling bad JSON, unknown ops and bad fields apart.
fn parse(text: &str) -> Result<ClientFrame, (ErrorBody, Option<u64>)> {
    match serde_json::from_str::<ClientFrame>(text) {
        Ok(frame) => Ok(frame),
        Err(e) => {
            let Ok(value) = serde_json::from_str::<serde_json::Value>(text) else {
                return Err((
                    ErrorBody::new(ErrorCode::BadRequest, "frame is not valid JSON"),
                    None,
                ));
            };
            let reference = value.get("ref").and_then(serde_json::Value::as_u64);
            let op = value.get("op").and_then(serde_json::Value::as_str);
            match op {
                None => Err((
                    ErrorBody::new(ErrorCode::BadRequest, "frame has no \"op\""),
                    reference,
                )),
                Some(op) if !ClientFrame::OPS.contains(&op) => Err((
                    ErrorBody::new(ErrorCode::UnknownOp, format!("unknown op {op:?}")),
                    reference,
                )),
                Some(op) => Err((
                    ErrorBody::new(ErrorCode::BadRequest, format!("invalid {op}: {e}")),
                    reference,
                )),
            }
        }
    }
}

impl<L: Link> Conn<L> {
    pub fn new(link: L, state: AppState) -> Self {
        Conn {
            link,
            state,
            invalid: 0,
        }
    }

    /// Writes one frame now; `false` when the client is gone.
    pub async fn send(&mut self, frame: &ServerFrame) -> bool {
        self.state.metrics.frames_out.inc();
        self.link.feed(encode(frame)).await.is_ok() && self.link.flush().await.is_ok()
    }

    /// Queues one frame behind what is being written; the caller flushes.
    pub async fn feed(&mut self, frame: Utf8Bytes) -> Result<(), End> {
        self.link.feed(frame).await.map_err(|_| None)
    }

    pub async fn close(&mut self, code: CloseCode) {
        self.close_with(code, code.reason().to_owned()).await;
    }

    /// Sends a close frame, giving up after [`CLOSE_TIMEOUT`] (a client that does not read
    /// never receives it; the link is dropped either way).
    pub async fn close_with(&mut self, code: CloseCode, reason: String) {
        self.state.metrics.closed(code);
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, self.link.close(code.as_u16(), reason)).await;
    }

    /// Reads one message and classifies it.
    pub async fn recv(&mut self) -> Inbound {
        let incoming = self.link.recv().await;
        self.classify(incoming)
    }

    /// What a message from the client means: a parsed frame, an invalid one, or the link's news.
    pub fn classify(&mut self, incoming: Incoming) -> Inbound {
        let max = self.state.config.max_frame_bytes as usize;
        match incoming {
            Incoming::Gone => Inbound::Gone,
            Incoming::TooLarge => Inbound::TooLarge,
            Incoming::Text(text) if text.len() > max => Inbound::TooLarge,
            Incoming::Binary(len) if len > max => Inbound::TooLarge,
            Incoming::Text(text) => match parse(text.as_str()) {
                Ok(frame) => {
                    self.state.metrics.frame_in(Some(frame.op()));
                    Inbound::Frame(frame)
                }
                Err((error, reference)) => Inbound::Invalid(error, reference),
            },
            Incoming::Binary(_) => Inbound::Invalid(
                ErrorBody::new(
                    ErrorCode::BadRequest,
                    "binary frames are not supported; send JSON text",
                ),
                None,
            ),
            Incoming::Alive => Inbound::Alive,
        }
    }

    /// Answers an invalid frame; `Err` once there were too many.
    pub async fn invalid(&mut self, error: ErrorBody, reference: Option<u64>) -> Result<(), End> {
        self.state.metrics.frame_in(None);
        self.state.metrics.reject(match error.code {
            ErrorCode::UnknownOp => Reason::unknown_op,
            _ => Reason::bad_frame,
        });
        self.invalid += 1;
        if self.invalid > self.state.config.max_invalid_frames {
            self.state.metrics.reject(Reason::protocol_violation);
            return Err(Some(CloseCode::ProtocolViolation));
        }
        if self.send(&error_frame(error, reference)).await {
            Ok(())
        } else {
            Err(None)
        }
    }
}
