//! The start of a connection: `hello`, then `identify` or `resume` within the identify deadline,
//! the token checked, and admission control (a token from the identify or the resume bucket).

use std::collections::BTreeMap;
use std::time::Duration;

use confab_proto::{
    ChannelId, ClientFrame, CloseCode, ErrorCode, Hello, Limits, ServerFrame, User,
    PROTOCOL_VERSION,
};
use rand::Rng;
use tokio::time::{sleep_until, Instant};

use super::conn::{Conn, End, Inbound};
use super::link::Link;
use crate::auth;
use crate::limit::SessionKind;
use crate::metrics::{Reason, SessionRefusal};

/// How a connection asked to start.
pub(super) enum Start {
    Identify,
    Resume {
        cursors: BTreeMap<ChannelId, u64>,
        receipts_since: Option<i64>,
    },
}

impl Start {
    /// The admission bucket (and metrics label) of this start.
    fn kind(&self) -> SessionKind {
        match self {
            Start::Identify => SessionKind::Identify,
            Start::Resume { .. } => SessionKind::Resume,
        }
    }
}

/// An authenticated connection about to become a session.
pub(super) struct Authenticated {
    pub user: User,
    pub token_hash: [u8; 32],
    pub start: Start,
}

impl<L: Link> Conn<L> {
    /// `hello`, then waits for `identify` or `resume` within the deadline and checks its token.
    pub(super) async fn handshake(&mut self) -> Result<Authenticated, End> {
        let config = &self.state.config;
        let hello = ServerFrame::Hello(Hello {
            protocol: PROTOCOL_VERSION,
            node_id: config.node_id,
            heartbeat_interval_ms: config.heartbeat_interval.as_millis() as u64,
            identify_timeout_ms: config.identify_timeout.as_millis() as u64,
            limits: Limits {
                max_frame_bytes: config.max_frame_bytes,
                max_message_chars: config.max_message_chars,
            },
        });
        let deadline = Instant::now() + config.identify_timeout;
        if !self.send(&hello).await {
            return Err(None);
        }
        loop {
            let inbound = tokio::select! {
                inbound = self.recv() => inbound,
                _ = sleep_until(deadline) => {
                    self.state.metrics.reject(Reason::identify_timeout);
                    return Err(Some(CloseCode::IdentifyTimeout));
                }
            };
            match inbound {
                Inbound::Frame(ClientFrame::Identify { token }) => {
                    return self.authenticate(token, Start::Identify).await;
                }
                Inbound::Frame(ClientFrame::Resume {
                    token,
                    cursors,
                    receipts_since,
                }) => {
                    let start = Start::Resume {
                        cursors,
                        receipts_since,
                    };
                    return self.authenticate(token, start).await;
                }
                Inbound::Frame(ClientFrame::Heartbeat) => {
                    if !self.send(&ServerFrame::HeartbeatAck).await {
                        return Err(None);
                    }
                }
                Inbound::Frame(_) => {
                    self.state.metrics.reject(Reason::not_identified);
                    return Err(Some(CloseCode::NotIdentified));
                }
                Inbound::Invalid(error, reference) => self.invalid(error, reference).await?,
                Inbound::Alive => {}
                Inbound::Gone => return Err(None),
                Inbound::TooLarge => {
                    self.state.metrics.reject(Reason::frame_too_large);
                    return Err(Some(CloseCode::FrameTooLarge));
                }
            }
        }
    }

    /// Checks the token of an `identify` or `resume`.
    async fn authenticate(&mut self, token: String, start: Start) -> Result<Authenticated, End> {
        let kind = start.kind();
        match auth::authenticate(&self.state, &token).await {
            Ok((user, token_hash)) => Ok(Authenticated {
                user,
                token_hash,
                start,
            }),
            Err(e) if e.code() == ErrorCode::Unauthorized => {
                self.state.metrics.reject(Reason::auth_failed);
                let refused = SessionRefusal::auth_failed;
                self.state.metrics.session_refused(kind, refused);
                Err(Some(CloseCode::AuthenticationFailed))
            }
            Err(_) => {
                let refused = SessionRefusal::error;
                self.state.metrics.session_refused(kind, refused);
                Err(Some(CloseCode::InternalError))
            }
        }
    }

    /// Admission control: a token from the identify or the resume bucket. Over the limit, the
    /// wait for the next token plus up to two seconds of jitter, so refused clients spread out.
    pub(super) fn admit(&self, auth: &Authenticated) -> Result<(), Duration> {
        let kind = auth.start.kind();
        let admitted = self.state.admission.admit(kind);
        if admitted.is_ok() {
            // Counted at admission, so the counters show the rate admission control allows.
            self.state.metrics.sessions_admitted(kind).inc();
        }
        admitted.map_err(|wait| {
            self.state.metrics.reject(Reason::overloaded);
            let refused = SessionRefusal::overloaded;
            self.state.metrics.session_refused(kind, refused);
            wait + Duration::from_millis(rand::thread_rng().gen_range(0..2000))
        })
    }
}
