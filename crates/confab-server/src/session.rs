//! One WebSocket connection: `hello` → `identify` (→ `ready`) or `resume` (→ replay → `resumed`)
//! → events, as a single task.
//!
//! The task owns the socket. It reads client frames, writes what the hub queued for it (several
//! frames per flush when more than one is waiting), keeps a per-channel cursor so every channel's
//! events reach the client once and in `seq` order (filling any gap from the store), and enforces
//! the heartbeat, identify deadline and abuse limits with the documented close codes.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message, Utf8Bytes};
use confab_proto::{
    ChannelId, ClientFrame, CloseCode, ErrorBody, ErrorCode, Event, Hello, Limits, Presence, Ready,
    Resumed, ServerFrame, Status, User, UserId, PROTOCOL_VERSION,
};
use confab_store::snowflake::now_ms;
use confab_store::HistoryQuery;
use rand::Rng;
use tokio::time::{sleep_until, Instant};
use tracing::Instrument;

use crate::api::message::{mark_read, send_message};
use crate::app::AppState;
use crate::auth;
use crate::error::ApiError;
use crate::gateway::ConnectionSlot;
use crate::hub::{Outbound, SessionHandle};
use crate::limit::SessionKind;
use crate::link::Link;
use crate::metrics::{OpLabel, Reason};
use crate::presence::{TypingLimiter, MAX_WATCHED, TYPING_EXPIRES};
use crate::queue::SessionQueue;

/// Frames written per flush at most, when several are queued.
const MAX_BATCH: usize = 64;

/// How long a close frame may take to get out behind what is already queued.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the session ended; `None` when the peer went away.
type End = Option<CloseCode>;

/// How a connection asked to start.
enum Start {
    Identify,
    Resume {
        cursors: BTreeMap<ChannelId, u64>,
        receipts_since: Option<i64>,
    },
}

/// An authenticated connection about to become a session.
struct Authenticated {
    user: User,
    token_hash: [u8; 32],
    start: Start,
}

/// Runs a connection (a WebSocket, or an HTTP session) to its end.
///
/// A plain function returning the future, not an `async fn`: an `async fn` would keep its
/// arguments (the socket) in its state besides the copy the body moves them into.
pub fn run(socket: Link, state: AppState, slot: ConnectionSlot) -> impl Future<Output = ()> {
    let conn_id = state.session_key();
    let span = tracing::info_span!("conn", conn_id, user_id = tracing::field::Empty);
    async move {
        let mut conn = Conn {
            socket,
            state,
            invalid: 0,
        };
        // The handshake, the snapshot and the handling of client frames are boxed: their
        // futures are large and short-lived, and the task of an idle connection should not carry
        // their space for its whole life. (Each box is bound with `let` before it is awaited: a
        // temporary future would keep its space in this task until the end of the statement.)
        let handshake = Box::pin(conn.handshake());
        let end = match handshake.await {
            Ok(auth) => {
                tracing::Span::current().record("user_id", tracing::field::display(auth.user.id));
                match conn.admit(&auth) {
                    Ok(()) => {
                        let identified = Box::pin(conn.identified(auth, conn_id));
                        identified.await
                    }
                    Err(retry_after) => {
                        let reason =
                            format!("overloaded retry_after_ms={}", retry_after.as_millis());
                        let close = Box::pin(conn.close_with(CloseCode::Overloaded, reason));
                        close.await;
                        None
                    }
                }
            }
            Err(end) => end,
        };
        match end {
            Some(code) => {
                let close = Box::pin(conn.close(code));
                close.await
            }
            None => conn.socket.gone(),
        }
        drop(slot);
    }
    .instrument(span)
}

/// The link and what the reading side needs.
struct Conn {
    socket: Link,
    state: AppState,
    /// Invalid frames so far; past the limit the connection closes with `protocol_violation`.
    invalid: u32,
}

/// What one received WebSocket message means.
enum Inbound {
    Frame(ClientFrame),
    /// Answered with an error frame; the connection goes on (until too many).
    Invalid(ErrorBody, Option<u64>),
    /// Ping, pong: nothing to do but note the peer is alive.
    Alive,
    Gone,
    TooLarge,
}

fn encode(frame: &ServerFrame) -> Utf8Bytes {
    // Serializing our own frame types cannot fail (no maps with non-string keys, no floats).
    Utf8Bytes::from(serde_json::to_string(frame).unwrap_or_default())
}

fn error_frame(error: ErrorBody, reference: Option<u64>) -> ServerFrame {
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

fn op_name(frame: &ClientFrame) -> &'static str {
    match frame {
        ClientFrame::Identify { .. } => "identify",
        ClientFrame::Heartbeat => "heartbeat",
        ClientFrame::Send { .. } => "send",
        ClientFrame::Read { .. } => "read",
        ClientFrame::Resume { .. } => "resume",
        ClientFrame::Delivered { .. } => "delivered",
        ClientFrame::SetStatus { .. } => "set_status",
        ClientFrame::Typing { .. } => "typing",
        ClientFrame::Watch { .. } => "watch",
    }
}

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

impl Conn {
    async fn send(&mut self, frame: &ServerFrame) -> bool {
        self.state.metrics.frames_out.inc();
        self.socket.send(encode(frame)).await.is_ok()
    }

    async fn close(&mut self, code: CloseCode) {
        self.close_with(code, code.reason().to_owned()).await;
    }

    /// Sends a close frame, giving up after [`CLOSE_TIMEOUT`] (a client that does not read
    /// never receives it; the socket is dropped either way).
    async fn close_with(&mut self, code: CloseCode, reason: String) {
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, self.socket.close(code.as_u16(), reason)).await;
    }

    /// Admission control: a token from the identify or the resume bucket. Over the limit, the
    /// wait for the next token plus up to two seconds of jitter, so refused clients spread out.
    fn admit(&self, auth: &Authenticated) -> Result<(), Duration> {
        let kind = match auth.start {
            Start::Identify => SessionKind::Identify,
            Start::Resume { .. } => SessionKind::Resume,
        };
        let admitted = self.state.admission.admit(kind);
        if admitted.is_ok() {
            // Counted at admission, so the counters show the rate admission control allows.
            match kind {
                SessionKind::Identify => self.state.metrics.identifies.inc(),
                SessionKind::Resume => self.state.metrics.resumes.inc(),
            };
        }
        admitted.map_err(|wait| {
            self.state.metrics.reject(Reason::overloaded);
            wait + Duration::from_millis(rand::thread_rng().gen_range(0..2000))
        })
    }

    /// Reads one message and classifies it.
    async fn recv(&mut self) -> Inbound {
        match self.socket.recv().await {
            None => Inbound::Gone,
            Some(Err(e)) if is_too_large(&e) => Inbound::TooLarge,
            Some(Err(_)) => Inbound::Gone,
            Some(Ok(Message::Text(text)))
                if text.len() > self.state.config.max_frame_bytes as usize =>
            {
                Inbound::TooLarge
            }
            Some(Ok(Message::Binary(data)))
                if data.len() > self.state.config.max_frame_bytes as usize =>
            {
                Inbound::TooLarge
            }
            Some(Ok(Message::Text(text))) => match parse(text.as_str()) {
                Ok(frame) => {
                    self.state
                        .metrics
                        .frames_in
                        .get_or_create(&OpLabel {
                            op: op_name(&frame),
                        })
                        .inc();
                    Inbound::Frame(frame)
                }
                Err((error, reference)) => Inbound::Invalid(error, reference),
            },
            Some(Ok(Message::Binary(_))) => Inbound::Invalid(
                ErrorBody::new(
                    ErrorCode::BadRequest,
                    "binary frames are not supported; send JSON text",
                ),
                None,
            ),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => Inbound::Alive,
            Some(Ok(Message::Close(_))) => Inbound::Gone,
        }
    }

    /// Answers an invalid frame; `Err` once there were too many.
    async fn invalid(&mut self, error: ErrorBody, reference: Option<u64>) -> Result<(), End> {
        self.state
            .metrics
            .frames_in
            .get_or_create(&OpLabel { op: "invalid" })
            .inc();
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

    /// Checks the token of an `identify` or `resume`.
    async fn authenticate(&mut self, token: String, start: Start) -> Result<Authenticated, End> {
        match auth::authenticate(&self.state, &token).await {
            Ok((user, token_hash)) => Ok(Authenticated {
                user,
                token_hash,
                start,
            }),
            Err(e) if e.code() == ErrorCode::Unauthorized => {
                self.state.metrics.reject(Reason::auth_failed);
                Err(Some(CloseCode::AuthenticationFailed))
            }
            Err(_) => Err(Some(CloseCode::InternalError)),
        }
    }

    /// `hello`, then wait for `identify` or `resume` within the deadline.
    async fn handshake(&mut self) -> Result<Authenticated, End> {
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

    /// The authenticated session: register with the hub, send `ready` (or replay and `resumed`),
    /// then serve until the end.
    /// (A plain function returning the future, so `auth` is not kept twice in the task.)
    #[allow(clippy::manual_async_fn)]
    fn identified(&mut self, auth: Authenticated, conn_id: u64) -> impl Future<Output = End> + '_ {
        async move {
            let state = self.state.clone();
            let handle = SessionHandle {
                key: conn_id,
                user: auth.user.id,
                token_hash: auth.token_hash,
                queue: Arc::new(SessionQueue::new(state.config.outbound_queue)),
            };
            let mut session = Session {
                handle,
                cursors: HashMap::new(),
                rate_limited_streak: 0,
                status: Status::Online,
                watched: HashSet::new(),
                explicitly_watched: 0,
                typing: TypingLimiter::default(),
            };
            state.hub.attach_user(&session.handle).await;
            state.presence.connect(auth.user.id);
            state.metrics.sessions.inc();
            let started = match auth.start {
                Start::Identify => {
                    let ready = Box::pin(session.ready(self, auth.user));
                    ready.await
                }
                Start::Resume {
                    cursors,
                    receipts_since,
                } => {
                    let resume = Box::pin(session.resume(self, auth.user, cursors, receipts_since));
                    resume.await
                }
            };
            let end = match started {
                Ok(()) => session.serve(self).await,
                Err(end) => end,
            };
            session.handle.queue.close();
            state
                .hub
                .detach(&session.handle, session.cursors.keys().copied());
            state
                .watchers
                .unwatch(session.handle.key, session.watched.iter().copied());
            state
                .presence
                .disconnect(session.handle.user, session.status);
            state.metrics.sessions.dec();
            end
        }
    }
}

/// What woke a serving session.
enum Wake {
    Overflow,
    Item(Outbound),
    Inbound(Inbound),
    Deadline,
}

/// Ends a session whose queue overflowed (counted in metrics).
fn slow_consumer(state: &AppState) -> End {
    state.metrics.reject(Reason::slow_consumer);
    tracing::info!("closing slow consumer");
    Some(CloseCode::SlowConsumer)
}

/// Ends a session whose client went quiet past the heartbeat timeout (counted in metrics).
fn heartbeat_expired(state: &AppState) -> End {
    state.metrics.reject(Reason::heartbeat_timeout);
    Some(CloseCode::HeartbeatTimeout)
}

/// An identified session's state.
struct Session {
    handle: SessionHandle,
    /// Per channel: the highest `seq` this client has been sent.
    cursors: HashMap<ChannelId, u64>,
    /// Sends refused by the rate limit in a row.
    rate_limited_streak: u32,
    /// This session's own presence: online, or idle when the client says so.
    status: Status,
    /// Users whose presence this session is shown.
    watched: HashSet<UserId>,
    /// How many of them the client asked for with `watch`.
    explicitly_watched: usize,
    typing: TypingLimiter,
}

impl Session {
    /// Watches the user's contacts; returns those not offline (for `ready`/`resumed`).
    async fn watch_contacts(&mut self, state: &AppState) -> Result<Vec<Presence>, End> {
        let contacts = state
            .store
            .contacts(self.handle.user, state.config.presence_group_size)
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "cannot load contacts");
                Some(CloseCode::InternalError)
            })?;
        state.watchers.watch(&self.handle, contacts.iter().copied());
        self.watched.extend(contacts.iter().copied());
        Ok(contacts
            .into_iter()
            .filter_map(|user_id| {
                let status = state.presence.status(user_id);
                (status != Status::Offline).then_some(Presence {
                    user_id,
                    status,
                    last_seen: None,
                })
            })
            .collect())
    }

    /// A fresh identify: the full snapshot, with unread counts.
    async fn ready(&mut self, conn: &mut Conn, user: User) -> Result<(), End> {
        let state = conn.state.clone();
        let channels = state.store.channels_of(user.id).await.map_err(|e| {
            tracing::warn!(error = %e, "cannot load channels for ready");
            Some(CloseCode::InternalError)
        })?;
        for c in &channels {
            self.cursors.insert(c.id, c.last_seq);
            state.hub.subscribe(&self.handle, c.id, c.last_seq).await;
        }
        let presence = self.watch_contacts(&state).await?;
        let ready = ServerFrame::Ready(Ready {
            session_id: uuid::Uuid::new_v4().simple().to_string(),
            user,
            channels,
            server_ts: now_ms(),
            presence,
        });
        if !conn.send(&ready).await {
            return Err(None);
        }
        tracing::debug!("session ready");
        Ok(())
    }

    /// A resume: compare the client's cursors with where each channel stands (one cheap query),
    /// replay only the channels that moved, then `resumed`.
    async fn resume(
        &mut self,
        conn: &mut Conn,
        user: User,
        cursors: BTreeMap<ChannelId, u64>,
        receipts_since: Option<i64>,
    ) -> Result<(), End> {
        let state = conn.state.clone();
        let internal = |e: confab_store::StoreError| {
            tracing::warn!(error = %e, "cannot resume");
            Some(CloseCode::InternalError)
        };
        let positions = state.store.positions(user.id).await.map_err(internal)?;
        let mut joined = Vec::new();
        let mut resync = Vec::new();
        let mut replay = Vec::new();
        for p in &positions {
            let cursor = match cursors.get(&p.channel_id) {
                // Replay only from a cursor within the kept history and within the current
                // membership (a user removed and added back while away is treated as joined).
                Some(&c) if c >= p.pruned_through && c >= p.joined_seq => {
                    let c = c.min(p.last_seq);
                    if p.last_seq > c {
                        replay.push((p.channel_id, p.last_seq));
                    }
                    c
                }
                known => {
                    // Joined while away, or what the client has is past the retention horizon.
                    let summary = state
                        .store
                        .channel_of(p.channel_id, user.id)
                        .await
                        .map_err(internal)?;
                    let Some(summary) = summary else { continue };
                    let last = summary.last_seq;
                    if known.is_some() {
                        resync.push(summary);
                    } else {
                        joined.push(summary);
                    }
                    last
                }
            };
            self.cursors.insert(p.channel_id, cursor);
            state
                .hub
                .subscribe(&self.handle, p.channel_id, cursor)
                .await;
        }
        let channels_left: Vec<ChannelId> = cursors
            .keys()
            .filter(|id| !self.cursors.contains_key(id))
            .copied()
            .collect();
        let mut replayed = 0u64;
        for (channel, upto) in replay {
            replayed += self.catch_up(conn, channel, upto).await? as u64;
        }
        state.metrics.replayed_events.inc_by(replayed);
        if let Some(since) = receipts_since {
            let receipts = state
                .store
                .receipts_since(user.id, since, state.config.receipt_group_size)
                .await
                .map_err(internal)?;
            for r in receipts {
                feed(conn, encode(&ServerFrame::Receipt(r))).await?;
            }
        }
        let presence = self.watch_contacts(&state).await?;
        let resumed = ServerFrame::Resumed(Resumed {
            session_id: uuid::Uuid::new_v4().simple().to_string(),
            user,
            channels_joined: joined,
            channels_left,
            resync,
            replayed,
            server_ts: now_ms(),
            presence,
        });
        if !conn.send(&resumed).await {
            return Err(None);
        }
        tracing::debug!(replayed, "session resumed");
        Ok(())
    }

    /// The session's life after `ready`/`resumed`: queued frames out, client frames in, heartbeat
    /// deadline, slow-consumer and drain signals.
    async fn serve(&mut self, conn: &mut Conn) -> End {
        let state = conn.state.clone();
        let timeout = state.config.heartbeat_timeout();
        // One timer for the session's life, moved when the client shows it is alive.
        let heartbeat = tokio::time::sleep(timeout);
        tokio::pin!(heartbeat);
        // On drain the app queues a `server_shutdown` close for every session, spread over the
        // window; a session that was not yet attached then leaves here.
        if state.is_shutting_down() {
            return Some(CloseCode::ServerShutdown);
        }
        let queue = self.handle.queue.clone();
        loop {
            // Not biased: neither a busy channel nor a busy client may starve the other direction.
            // The select only says what happened; the work is done after it, so the futures of
            // the select and of the work never take space in this task at the same time.
            let wake = tokio::select! {
                item = queue.recv() => item.map_or(Wake::Overflow, Wake::Item),
                inbound = conn.recv() => Wake::Inbound(inbound),
                _ = &mut heartbeat => Wake::Deadline,
            };
            let end = match wake {
                Wake::Item(item) => {
                    // A client that stops reading blocks the write; the overflow signal and the
                    // heartbeat deadline must still end the session.
                    tokio::select! {
                        biased;
                        written = self.write(conn, item) => written.err(),
                        _ = queue.overflowed() => Some(slow_consumer(&state)),
                        _ = &mut heartbeat => Some(heartbeat_expired(&state)),
                    }
                }
                Wake::Inbound(inbound) => {
                    heartbeat.as_mut().reset(Instant::now() + timeout);
                    let handled = Box::pin(self.handle_inbound(conn, inbound));
                    handled.await.err()
                }
                Wake::Overflow => Some(slow_consumer(&state)),
                Wake::Deadline => Some(heartbeat_expired(&state)),
            };
            if let Some(end) = end {
                return end;
            }
        }
    }

    async fn handle_inbound(&mut self, conn: &mut Conn, inbound: Inbound) -> Result<(), End> {
        let state = conn.state.clone();
        let frame = match inbound {
            Inbound::Frame(frame) => frame,
            Inbound::Invalid(error, reference) => return conn.invalid(error, reference).await,
            Inbound::Alive => return Ok(()),
            Inbound::Gone => return Err(None),
            Inbound::TooLarge => {
                state.metrics.reject(Reason::frame_too_large);
                return Err(Some(CloseCode::FrameTooLarge));
            }
        };
        let reply = match frame {
            ClientFrame::Identify { .. } | ClientFrame::Resume { .. } => {
                state.metrics.reject(Reason::already_identified);
                return Err(Some(CloseCode::AlreadyIdentified));
            }
            ClientFrame::SetStatus { status } => {
                if status == Status::Offline {
                    Some(error_frame(
                        ErrorBody::new(
                            ErrorCode::BadRequest,
                            "status is online or idle; disconnect to go offline",
                        ),
                        None,
                    ))
                } else {
                    state.presence.set(self.handle.user, self.status, status);
                    self.status = status;
                    None
                }
            }
            ClientFrame::Typing { channel_id } => {
                if !self.cursors.contains_key(&channel_id) {
                    Some(error_frame(
                        ErrorBody::new(ErrorCode::Forbidden, "not a member of this channel"),
                        None,
                    ))
                } else {
                    if self.typing.allow(channel_id) {
                        let frame = ServerFrame::Typing {
                            channel_id,
                            user_id: self.handle.user,
                            expires_in_ms: TYPING_EXPIRES.as_millis() as u64,
                        };
                        state.hub.publish_channel_frame(channel_id, &frame).await;
                    }
                    None
                }
            }
            ClientFrame::Watch { user_ids } => {
                let mut seen = HashSet::new();
                let new: Vec<UserId> = user_ids
                    .into_iter()
                    .filter(|u| {
                        *u != self.handle.user && !self.watched.contains(u) && seen.insert(*u)
                    })
                    .collect();
                if self.explicitly_watched + new.len() > MAX_WATCHED {
                    Some(error_frame(
                        ErrorBody::new(
                            ErrorCode::LimitExceeded,
                            format!("a session may watch at most {MAX_WATCHED} users"),
                        ),
                        None,
                    ))
                } else {
                    self.explicitly_watched += new.len();
                    state.watchers.watch(&self.handle, new.iter().copied());
                    self.watched.extend(new.iter().copied());
                    for user_id in new {
                        let status = state.presence.status(user_id);
                        let last_seen = match status {
                            Status::Offline => state.store.last_seen(user_id).await.unwrap_or(None),
                            _ => None,
                        };
                        let frame = ServerFrame::Presence(Presence {
                            user_id,
                            status,
                            last_seen,
                        });
                        if !conn.send(&frame).await {
                            return Err(None);
                        }
                    }
                    None
                }
            }
            ClientFrame::Delivered { channel_id, seq } => {
                // Only for channels this session follows; the store ignores non-members anyway.
                if self.cursors.contains_key(&channel_id)
                    && !state.receipts.delivered(channel_id, self.handle.user, seq)
                {
                    state.metrics.reject(Reason::receipt_queue_full);
                }
                None
            }
            ClientFrame::Heartbeat => Some(ServerFrame::HeartbeatAck),
            ClientFrame::Send {
                reference,
                channel_id,
                client_id,
                body,
            } => {
                match send_message(&state, self.handle.user, channel_id, &client_id, &body).await {
                    Ok(sent) => {
                        self.rate_limited_streak = 0;
                        let mut ack = sent.ack;
                        ack.reference = reference;
                        Some(ServerFrame::Ack(ack))
                    }
                    Err(e) => {
                        self.refused(&state, &e)?;
                        Some(error_frame(e.0, reference))
                    }
                }
            }
            ClientFrame::Read {
                reference,
                channel_id,
                seq,
            } => {
                // Success arrives as `read_state` on every session of the user, this one included.
                match mark_read(&state, self.handle.user, channel_id, seq).await {
                    Ok(_) => None,
                    Err(e) => Some(error_frame(e.0, reference)),
                }
            }
        };
        match reply {
            Some(frame) if !conn.send(&frame).await => Err(None),
            _ => Ok(()),
        }
    }

    /// Counts rate-limit refusals in a row; too many closes the connection.
    fn refused(&mut self, state: &AppState, e: &ApiError) -> Result<(), End> {
        if e.code() != ErrorCode::RateLimited {
            return Ok(());
        }
        self.rate_limited_streak += 1;
        if self.rate_limited_streak > state.config.max_rate_limited {
            return Err(Some(CloseCode::RateLimited));
        }
        Ok(())
    }

    /// Writes `first` and whatever else is already queued (up to a batch), then flushes once.
    async fn write(&mut self, conn: &mut Conn, first: Outbound) -> Result<(), End> {
        let mut item = Some(first);
        let mut written = 0usize;
        while let Some(current) = item.take() {
            written += match current {
                // The common case, inline: the next event of a channel, or a ready-made frame.
                // (`write_one` handles these too; calling it here instead would keep its larger
                // future in every idle session's task: measured +0.2 KiB per connection.)
                Outbound::Event {
                    channel,
                    seq,
                    frame,
                } if self.cursors.get(&channel).is_some_and(|&c| seq == c + 1) => {
                    feed(conn, frame).await?;
                    self.cursors.insert(channel, seq);
                    1
                }
                Outbound::Frame(frame) => {
                    feed(conn, frame).await?;
                    1
                }
                // The rest (gaps, joins, removals) is rare and needs more space: boxed.
                other => {
                    let rare = Box::pin(self.write_one(conn, other));
                    rare.await?
                }
            };
            if written >= MAX_BATCH {
                break;
            }
            item = self.handle.queue.try_recv();
        }
        conn.state.metrics.frames_out.inc_by(written as u64);
        conn.socket.flush().await.map_err(|_| None)
    }

    /// Feeds the frames one queued item stands for; returns how many.
    async fn write_one(&mut self, conn: &mut Conn, item: Outbound) -> Result<usize, End> {
        match item {
            Outbound::Event {
                channel,
                seq,
                frame,
            } => {
                let Some(&cursor) = self.cursors.get(&channel) else {
                    return Ok(0); // Not (or no longer) a member here.
                };
                if seq <= cursor {
                    return Ok(0);
                }
                let mut n = 0;
                if seq > cursor + 1 {
                    n += self.catch_up(conn, channel, seq - 1).await?;
                }
                feed(conn, frame).await?;
                self.cursors.insert(channel, seq);
                Ok(n + 1)
            }
            Outbound::CatchUp { channel, upto } => self.catch_up(conn, channel, upto).await,
            Outbound::Joined(summary) => {
                if self.cursors.contains_key(&summary.id) {
                    return Ok(0); // Already in this session's ready snapshot.
                }
                self.cursors.insert(summary.id, summary.last_seq);
                conn.state
                    .hub
                    .subscribe(&self.handle, summary.id, summary.last_seq)
                    .await;
                let peer = summary.peer.as_ref().map(|p| p.id);
                feed(
                    conn,
                    encode(&ServerFrame::ChannelJoined { channel: *summary }),
                )
                .await?;
                // A new direct peer is a contact: watch them and say where they are.
                let mut n = 1;
                if let Some(peer) = peer {
                    if self.watched.insert(peer) {
                        conn.state.watchers.watch(&self.handle, [peer]);
                        let status = conn.state.presence.status(peer);
                        let presence = Presence {
                            user_id: peer,
                            status,
                            last_seen: None,
                        };
                        feed(conn, encode(&ServerFrame::Presence(presence))).await?;
                        n += 1;
                    }
                }
                Ok(n)
            }
            Outbound::Left { channel, seq } => {
                // Deliver everything up to and including the removal, then nothing more.
                let n = self.catch_up(conn, channel, seq).await?;
                if self.cursors.remove(&channel).is_none() {
                    return Ok(n);
                }
                conn.state.hub.unsubscribe(self.handle.key, channel);
                feed(
                    conn,
                    encode(&ServerFrame::ChannelLeft {
                        channel_id: channel,
                    }),
                )
                .await?;
                Ok(n + 1)
            }
            Outbound::Frame(frame) => {
                feed(conn, frame).await?;
                Ok(1)
            }
            Outbound::Close(code) => Err(Some(code)),
        }
    }

    /// Sends the channel's events after this session's cursor up to `upto` from the store.
    async fn catch_up(
        &mut self,
        conn: &mut Conn,
        channel: ChannelId,
        upto: u64,
    ) -> Result<usize, End> {
        // Boxed: rare, and its future (a store query and a page of events) is large.
        let from_store = Box::pin(self.catch_up_from_store(conn, channel, upto));
        from_store.await
    }

    async fn catch_up_from_store(
        &mut self,
        conn: &mut Conn,
        channel: ChannelId,
        upto: u64,
    ) -> Result<usize, End> {
        let Some(&cursor) = self.cursors.get(&channel) else {
            return Ok(0);
        };
        let mut after = cursor;
        let mut n = 0;
        while after < upto {
            let query = HistoryQuery {
                after: Some(after),
                before: Some(upto + 1),
                limit: 200,
            };
            let page = match conn.state.store.history(channel, query).await {
                Ok(page) => page,
                Err(e) => {
                    tracing::warn!(error = %e, channel_id = %channel, "cannot fill gap; reconnect to resync");
                    return Err(Some(CloseCode::InternalError));
                }
            };
            if page.truncated {
                // Retention removed events this session has not delivered: it cannot go on
                // without a gap. The client resumes, and resume answers with a resync.
                tracing::info!(channel_id = %channel, "history pruned past the session's cursor");
                return Err(Some(CloseCode::InternalError));
            }
            let events: Vec<Event> = page.events;
            let Some(last) = events.last().map(|e| e.seq) else {
                after = upto; // Pruned by retention: nothing left to send.
                break;
            };
            for event in events {
                feed(conn, encode(&ServerFrame::Event(event))).await?;
                n += 1;
            }
            after = last;
        }
        self.cursors.insert(channel, after.max(cursor));
        Ok(n)
    }
}

async fn feed(conn: &mut Conn, frame: Utf8Bytes) -> Result<(), End> {
    conn.socket.feed(frame).await.map_err(|_| None)
}
