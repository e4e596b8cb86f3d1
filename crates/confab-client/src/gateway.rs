//! The gateway client: a cheap cloneable [`Client`] handle sending commands to one connection task
//! that owns the WebSocket, reconnects, resumes and re-sends.
//!
//! What the task guarantees the application:
//! - **Reconnect** with exponential backoff and full jitter (`delay = random(0, min(cap, base·2ⁿ))`),
//!   never sooner than a retry hint from the server (HTTP `Retry-After`, close `4006`'s
//!   `retry_after_ms`). Terminal close codes (`4100–4199`) end the client instead.
//! - **Resume**: after a drop it sends `resume` with its per-channel cursors, so it receives exactly
//!   what it missed, without a full reload.
//! - **Outbox**: every send stays queued until acked; after a reconnect unacked sends are sent again
//!   with their original `client_id`, so a message whose ack was lost is stored once and the caller
//!   learns its original `seq`.
//! - **Once, in order**: events are deduplicated by (channel, `seq`); a gap is filled from history
//!   over HTTP before later events are delivered.
//! - **Receipts**: what the application was handed is confirmed to the server as `delivered`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use confab_proto::{
    Ack, ChannelId, ChannelSummary, ClientFrame, CloseCode, ErrorBody, ErrorCode, Event, Hello,
    Presence, ReadState, Ready, Receipt, ServerFrame, Status, UserId,
};
use futures::{SinkExt, StreamExt};
use rand::Rng;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode as WsCloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::http::HistoryQuery;
use crate::{ClientError, Http, Result};

/// How many pushed events the SDK buffers for the application. When the application does not read
/// them, the connection task waits, stops reading the socket, and the server eventually closes the
/// connection as a slow consumer (and the client resumes).
pub const EVENT_BUFFER: usize = 4096;

/// How long connecting waits for `hello` and `ready`/`resumed`.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(15);

/// How many times a send failing with `unavailable` or `internal` is retried (same client id).
pub const SEND_RETRIES: usize = 6;

/// How often `delivered` confirmations are sent, at most.
pub const DELIVERED_INTERVAL: Duration = Duration::from_millis(250);

/// The SDK's reconnect delay before attempt `attempt` (from 0): exponential backoff with full
/// jitter, a random duration in `0..=min(cap, base·2^attempt)`. Public so that other clients (the
/// load generator) reconnect exactly as the SDK does.
pub fn backoff_delay(base: Duration, cap: Duration, attempt: u32) -> Duration {
    let bound = base
        .saturating_mul(2u32.saturating_pow(attempt.min(16)))
        .min(cap);
    Duration::from_millis(rand::thread_rng().gen_range(0..=bound.as_millis() as u64))
}

/// Settings of a [`Client`].
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The gateway, `ws://host:port/ws`.
    pub url: String,
    pub token: String,
    /// First reconnect delay bound (doubling per failed attempt).
    pub backoff_base: Duration,
    /// Largest reconnect delay bound.
    pub backoff_cap: Duration,
    /// The REST API's base URL for filling gaps; derived from `url` when `None`.
    pub http_base: Option<String>,
    /// Unacked sends kept for re-sending; more fail at once.
    pub outbox_limit: usize,
    /// WebSocket, long polling, or WebSocket with a fallback to long polling.
    pub transport: Transport,
    /// With [`Transport::Auto`]: after this long on long polling, reconnect to try the WebSocket
    /// again.
    pub upgrade_after: Duration,
}

impl ClientConfig {
    /// Defaults: backoff 250 ms doubling to 30 s, outbox of 10,000, WebSocket with a fallback to
    /// long polling (and a new WebSocket attempt every 5 minutes on long polling).
    pub fn new(url: &str, token: &str) -> Self {
        ClientConfig {
            url: url.to_owned(),
            token: token.to_owned(),
            backoff_base: Duration::from_millis(250),
            backoff_cap: Duration::from_secs(30),
            http_base: None,
            outbox_limit: 10_000,
            transport: Transport::Auto,
            upgrade_after: Duration::from_secs(300),
        }
    }

    fn http(&self) -> Http {
        let base = self
            .http_base
            .clone()
            .unwrap_or_else(|| http_base(&self.url));
        Http::new(base).with_token(&self.token)
    }
}

/// Where the connection is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionState {
    /// Opening the socket and identifying.
    Connecting,
    /// Reconnected; replaying what was missed.
    Resuming,
    /// Identified or resumed; events flow.
    Ready,
    /// Waiting before the next reconnect attempt.
    BackingOff { attempt: u32, delay: Duration },
    /// Ended for good: closed by the application, or a terminal close code.
    Closed { code: Option<u16>, reason: String },
}

/// Something the server pushed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientEvent {
    /// A channel event (message or membership change): once, in `seq` order per channel.
    Event(Event),
    /// My read pointer moved, on this or another device.
    ReadState(ReadState),
    /// A member's delivered or read pointer moved (mine too, from another device).
    Receipt(Receipt),
    /// A contact's (or watched user's) presence changed. After a resume, the presence of every
    /// contact who is not offline is reported again.
    Presence(Presence),
    /// `user_id` is typing in `channel_id`: show it for `expires_in_ms` unless renewed or a message
    /// from them arrives.
    Typing {
        channel_id: ChannelId,
        user_id: UserId,
        expires_in_ms: u64,
    },
    /// I joined a channel (also while disconnected).
    ChannelJoined(ChannelSummary),
    /// I left (or was removed from) a channel.
    ChannelLeft(ChannelId),
    /// The channel's history after my cursor is gone (retention): drop what you show and reload
    /// the newest page. Events after `last_seq` follow.
    Resync(ChannelSummary),
    /// Reconnected and caught up: `replayed` events were missed and have been delivered.
    Resumed { replayed: u64 },
    /// The server answered a request with an error that was not tied to a pending send.
    Error(ErrorBody),
    /// The client ended for good. The last event.
    Closed { code: Option<u16>, reason: String },
}

/// The stream of [`ClientEvent`]s.
#[derive(Debug)]
pub struct Events {
    rx: mpsc::Receiver<ClientEvent>,
}

impl Events {
    /// The next event, or `None` after the client ended and every event was read.
    pub async fn next(&mut self) -> Option<ClientEvent> {
        self.rx.recv().await
    }
}

enum Command {
    Send {
        channel: ChannelId,
        client_id: String,
        body: String,
        reply: oneshot::Sender<Result<Ack>>,
    },
    Read {
        channel: ChannelId,
        seq: u64,
    },
    /// A fire-and-forget frame that is dropped while disconnected.
    Frame(ClientFrame),
    SetStatus(Status),
    Watch(Vec<UserId>),
    Close,
}

/// A handle to a gateway connection that survives drops. Clone it freely.
#[derive(Debug, Clone)]
pub struct Client {
    commands: mpsc::Sender<Command>,
    ready: Arc<Ready>,
    hello: Arc<Hello>,
    state: watch::Receiver<ConnectionState>,
}

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How the client reaches the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// WebSocket only.
    WebSocket,
    /// HTTP long polling only (an HTTP session: frames posted, answers polled).
    LongPoll,
    /// WebSocket, falling back to long polling when a WebSocket cannot be opened, and trying the
    /// WebSocket again after [`ClientConfig::upgrade_after`] on long polling.
    Auto,
}

/// Which transport the client is on, for [`Transport::Auto`].
#[derive(Debug, Default)]
struct Upgrade {
    /// Since when the client has been on long polling, if it is.
    polling_since: Option<Instant>,
}

/// A live connection over either transport.
enum Conn {
    Ws(Box<Socket>),
    Poll(PollConn),
}

/// An HTTP session: frames are posted; a background task long-polls and queues what comes back,
/// so reading is cancel-safe (a dropped read never loses an answer: the poll cursor is the ack).
struct PollConn {
    http: reqwest::Client,
    session: String,
    frames: mpsc::Receiver<std::result::Result<ServerFrame, Ending>>,
    poller: tokio::task::JoinHandle<()>,
}

impl Drop for PollConn {
    fn drop(&mut self) {
        self.poller.abort();
    }
}

impl Conn {
    async fn send_frame(&mut self, frame: &ClientFrame) -> std::result::Result<(), Ending> {
        match self {
            Conn::Ws(socket) => ws_send_frame(socket, frame).await,
            Conn::Poll(poll) => {
                let response = poll
                    .http
                    .post(format!("{}/frames", poll.session))
                    .json(frame)
                    .send()
                    .await
                    .map_err(|e| Ending::Retry {
                        hint: Duration::ZERO,
                        reason: e.to_string(),
                    })?;
                if response.status().is_success() {
                    Ok(())
                } else {
                    Err(Ending::Retry {
                        hint: Duration::ZERO,
                        reason: format!("session refused a frame: HTTP {}", response.status()),
                    })
                }
            }
        }
    }

    async fn next_frame(&mut self) -> std::result::Result<ServerFrame, Ending> {
        match self {
            Conn::Ws(socket) => ws_next_frame(socket).await,
            Conn::Poll(poll) => match poll.frames.recv().await {
                Some(result) => result,
                None => Err(Ending::Retry {
                    hint: Duration::ZERO,
                    reason: "poller stopped".into(),
                }),
            },
        }
    }

    async fn close(&mut self) {
        match self {
            Conn::Ws(socket) => {
                let bye = CloseFrame {
                    code: WsCloseCode::Normal,
                    reason: "bye".into(),
                };
                let _ = WebSocketStream::close(socket, Some(bye)).await;
            }
            Conn::Poll(poll) => {
                let _ = poll.http.delete(poll.session.clone()).send().await;
            }
        }
    }
}

/// The REST base URL of a gateway URL (`ws://host/ws` → `http://host`).
fn http_base(url: &str) -> String {
    let url = url.trim_end_matches('/');
    let url = url.strip_suffix("/ws").unwrap_or(url);
    match url.strip_prefix("wss://") {
        Some(rest) => format!("https://{rest}"),
        None => format!("http://{}", url.strip_prefix("ws://").unwrap_or(url)),
    }
}

/// Opens an HTTP session and reads `hello`.
async fn poll_open(base: &str) -> std::result::Result<(Conn, Hello), Ending> {
    let retry = |reason: String| Ending::Retry {
        hint: Duration::ZERO,
        reason,
    };
    let http = reqwest::Client::new();
    let response = http
        .post(format!("{base}/api/v1/sessions"))
        .send()
        .await
        .map_err(|e| retry(e.to_string()))?;
    if !response.status().is_success() {
        let hint = retry_after(
            response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok()),
        );
        let reason = format!("session refused: HTTP {}", response.status());
        return Err(Ending::Retry { hint, reason });
    }
    let created: serde_json::Value = response.json().await.map_err(|e| retry(e.to_string()))?;
    let id = created["session_id"]
        .as_str()
        .ok_or_else(|| retry("no session id".into()))?;
    let session = format!("{base}/api/v1/sessions/{id}");
    let (tx, frames) = mpsc::channel(1024);
    let poller = tokio::spawn(long_poll(http.clone(), session.clone(), tx));
    let mut conn = Conn::Poll(PollConn {
        http,
        session,
        frames,
        poller,
    });
    match conn.next_frame().await? {
        ServerFrame::Hello(hello) => Ok((conn, hello)),
        other => Err(retry(format!("expected hello, got {other:?}"))),
    }
}

/// Polls an HTTP session until it ends, queueing its frames in order.
async fn long_poll(
    http: reqwest::Client,
    session: String,
    tx: mpsc::Sender<std::result::Result<ServerFrame, Ending>>,
) {
    let mut after = 0u64;
    loop {
        let url = format!("{session}/poll?after={after}&timeout_ms=25000");
        let batch: serde_json::Value = match http.get(url).send().await {
            Ok(r) if r.status().is_success() => match r.json().await {
                Ok(v) => v,
                Err(e) => {
                    let _ = tx
                        .send(Err(Ending::Retry {
                            hint: Duration::ZERO,
                            reason: e.to_string(),
                        }))
                        .await;
                    return;
                }
            },
            Ok(r) => {
                let reason = format!("poll failed: HTTP {}", r.status());
                let _ = tx
                    .send(Err(Ending::Retry {
                        hint: Duration::ZERO,
                        reason,
                    }))
                    .await;
                return;
            }
            Err(e) => {
                let _ = tx
                    .send(Err(Ending::Retry {
                        hint: Duration::ZERO,
                        reason: e.to_string(),
                    }))
                    .await;
                return;
            }
        };
        for frame in batch["frames"].as_array().into_iter().flatten() {
            let parsed =
                serde_json::from_value::<ServerFrame>(frame.clone()).map_err(|e| Ending::Retry {
                    hint: Duration::ZERO,
                    reason: format!("bad frame from server: {e}"),
                });
            if tx.send(parsed).await.is_err() {
                return;
            }
        }
        after = batch["next"].as_u64().unwrap_or(after);
        if let Some(code) = batch["closed"]["code"].as_u64() {
            let reason = batch["closed"]["reason"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let _ = tx
                .send(Err(close_drop(u16::try_from(code).ok(), reason)))
                .await;
            return;
        }
    }
}

/// Opens a connection over the configured transport.
async fn open(
    config: &ClientConfig,
    upgrade: &mut Upgrade,
) -> std::result::Result<(Conn, Hello), Ending> {
    let base = config
        .http_base
        .clone()
        .unwrap_or_else(|| http_base(&config.url));
    match config.transport {
        Transport::WebSocket => ws_open(&config.url)
            .await
            .map(|(s, h)| (Conn::Ws(Box::new(s)), h)),
        Transport::LongPoll => poll_open(&base).await,
        Transport::Auto => match ws_open(&config.url).await {
            Ok((s, h)) => {
                upgrade.polling_since = None;
                Ok((Conn::Ws(Box::new(s)), h))
            }
            // The server answered and asked for patience: not a reason to change transport.
            Err(e @ Ending::Retry { hint, .. }) if !hint.is_zero() => Err(e),
            Err(e @ Ending::Fatal { .. }) => Err(e),
            Err(_) => {
                let opened = poll_open(&base).await?;
                upgrade.polling_since.get_or_insert_with(Instant::now);
                Ok(opened)
            }
        },
    }
}

/// Why a connection attempt or a connection ended.
#[derive(Debug)]
enum Ending {
    /// Try again, not before `hint`.
    Retry { hint: Duration, reason: String },
    /// Do not try again.
    Fatal { code: Option<u16>, reason: String },
    /// The application closed the client.
    Closed,
}

fn close_drop(code: Option<u16>, reason: String) -> Ending {
    match code {
        Some(c) if !CloseCode::should_reconnect(c) => Ending::Fatal { code, reason },
        _ => {
            let hint = retry_hint(&reason).unwrap_or_default();
            Ending::Retry { hint, reason }
        }
    }
}

/// A `Retry-After` header's seconds (zero when absent or not a number).
fn retry_after(value: Option<&str>) -> Duration {
    value
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or_default()
}

/// `retry_after_ms=N` in a close reason.
fn retry_hint(reason: &str) -> Option<Duration> {
    let rest = reason.split("retry_after_ms=").nth(1)?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok().map(Duration::from_millis)
}

async fn ws_next_frame(socket: &mut Socket) -> std::result::Result<ServerFrame, Ending> {
    loop {
        match socket.next().await {
            Some(Ok(Message::Text(text))) => {
                return serde_json::from_str(text.as_str()).map_err(|e| Ending::Retry {
                    hint: Duration::ZERO,
                    reason: format!("bad frame from server: {e}"),
                })
            }
            Some(Ok(Message::Close(frame))) => {
                let code = frame.as_ref().map(|f| u16::from(f.code));
                let reason = frame.map(|f| f.reason.to_string()).unwrap_or_default();
                return Err(close_drop(code, reason));
            }
            Some(Ok(_)) => continue,
            Some(Err(e)) => {
                return Err(Ending::Retry {
                    hint: Duration::ZERO,
                    reason: e.to_string(),
                })
            }
            None => {
                return Err(Ending::Retry {
                    hint: Duration::ZERO,
                    reason: "connection lost".into(),
                })
            }
        }
    }
}

fn encode(frame: &ClientFrame) -> String {
    // Client frames are plain structs of strings and numbers: serializing cannot fail.
    serde_json::to_string(frame).unwrap_or_default()
}

async fn ws_send_frame(
    socket: &mut Socket,
    frame: &ClientFrame,
) -> std::result::Result<(), Ending> {
    socket
        .send(Message::text(encode(frame)))
        .await
        .map_err(|e| Ending::Retry {
            hint: Duration::ZERO,
            reason: e.to_string(),
        })
}

/// Opens the socket and reads `hello`.
async fn ws_open(url: &str) -> std::result::Result<(Socket, Hello), Ending> {
    let (mut socket, _) = match tokio_tungstenite::connect_async(url).await {
        Ok(ok) => ok,
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            let hint = retry_after(
                response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok()),
            );
            let reason = format!("upgrade refused: HTTP {}", response.status());
            return Err(Ending::Retry { hint, reason });
        }
        Err(e) => {
            return Err(Ending::Retry {
                hint: Duration::ZERO,
                reason: e.to_string(),
            })
        }
    };
    match ws_next_frame(&mut socket).await? {
        ServerFrame::Hello(hello) => Ok((socket, hello)),
        other => Err(Ending::Retry {
            hint: Duration::ZERO,
            reason: format!("expected hello, got {other:?}"),
        }),
    }
}

impl Client {
    /// Connects to the gateway at `url` (`ws://host:port/ws`), identifies with `token`, and waits
    /// for `ready`. Later drops are handled by the client itself.
    pub async fn connect(url: &str, token: &str) -> Result<(Client, Events)> {
        Client::connect_with(ClientConfig::new(url, token)).await
    }

    /// [`Client::connect`] with settings.
    pub async fn connect_with(config: ClientConfig) -> Result<(Client, Events)> {
        let mut upgrade = Upgrade::default();
        let handshake = async {
            let (mut socket, hello) = open(&config, &mut upgrade).await?;
            socket
                .send_frame(&ClientFrame::Identify {
                    token: config.token.clone(),
                })
                .await?;
            match socket.next_frame().await? {
                ServerFrame::Ready(ready) => Ok((socket, hello, ready)),
                other => Err(Ending::Retry {
                    hint: Duration::ZERO,
                    reason: format!("expected ready, got {other:?}"),
                }),
            }
        };
        let (socket, hello, ready) = match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await
        {
            Err(_) => {
                return Err(ClientError::Protocol(
                    "no ready within the handshake timeout".into(),
                ))
            }
            Ok(Err(Ending::Fatal { code, reason })) => {
                return Err(ClientError::Closed { code, reason })
            }
            Ok(Err(Ending::Retry { reason, .. })) => {
                return Err(ClientError::Closed { code: None, reason })
            }
            Ok(Err(Ending::Closed)) => {
                return Err(ClientError::Closed {
                    code: None,
                    reason: "closed".into(),
                })
            }
            Ok(Ok(ok)) => ok,
        };
        let (commands, command_rx) = mpsc::channel(256);
        let (events_tx, events_rx) = mpsc::channel(EVENT_BUFFER);
        let (state_tx, state_rx) = watch::channel(ConnectionState::Ready);
        let task = Task {
            http: config.http(),
            config,
            commands: command_rx,
            events: events_tx,
            state: state_tx,
            cursors: ready.channels.iter().map(|c| (c.id, c.last_seq)).collect(),
            receipts_since: ready.server_ts,
            outbox: Vec::new(),
            next_ref: 1,
            delivered: HashMap::new(),
            broken: false,
            status: Status::Online,
            watched: Vec::new(),
            upgrade,
        };
        tokio::spawn(task.run(socket, hello.clone()));
        let client = Client {
            commands,
            ready: Arc::new(ready),
            hello: Arc::new(hello),
            state: state_rx,
        };
        Ok((client, Events { rx: events_rx }))
    }

    /// The `ready` snapshot the client started from.
    pub fn ready(&self) -> &Ready {
        &self.ready
    }

    /// The first connection's `hello`.
    pub fn hello(&self) -> &Hello {
        &self.hello
    }

    /// The connection's state now.
    pub fn state(&self) -> ConnectionState {
        self.state.borrow().clone()
    }

    /// A receiver of every state change, for showing "reconnecting…".
    pub fn state_changes(&self) -> watch::Receiver<ConnectionState> {
        self.state.clone()
    }

    /// Sends a message with a fresh idempotency key; returns the ack once the server committed it,
    /// across reconnects if need be.
    pub async fn send(&self, channel: ChannelId, body: &str) -> Result<Ack> {
        self.send_with_id(channel, &uuid::Uuid::new_v4().simple().to_string(), body)
            .await
    }

    /// Sends a message with the caller's idempotency key. A send the server could not complete
    /// (`unavailable`, or `internal`, after which it may or may not be stored) is retried with the
    /// same key — safe, since a repeat stores nothing new — a few times over about ten seconds
    /// before the error is returned.
    pub async fn send_with_id(
        &self,
        channel: ChannelId,
        client_id: &str,
        body: &str,
    ) -> Result<Ack> {
        let mut delay = Duration::from_millis(200);
        for _ in 0..SEND_RETRIES {
            match self.send_once(channel, client_id, body).await {
                Err(ClientError::Api(e))
                    if matches!(e.code, ErrorCode::Unavailable | ErrorCode::Internal) =>
                {
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(3));
                }
                other => return other,
            }
        }
        self.send_once(channel, client_id, body).await
    }

    async fn send_once(&self, channel: ChannelId, client_id: &str, body: &str) -> Result<Ack> {
        let (reply, rx) = oneshot::channel();
        let cmd = Command::Send {
            channel,
            client_id: client_id.to_owned(),
            body: body.to_owned(),
            reply,
        };
        self.commands.send(cmd).await.map_err(|_| self.closed())?;
        rx.await.map_err(|_| self.closed())?
    }

    /// Moves my read pointer; the server confirms with a [`ClientEvent::ReadState`].
    pub async fn mark_read(&self, channel: ChannelId, seq: u64) -> Result<()> {
        self.commands
            .send(Command::Read { channel, seq })
            .await
            .map_err(|_| self.closed())
    }

    /// Marks this session idle or online; kept across reconnects.
    pub async fn set_status(&self, status: Status) -> Result<()> {
        self.commands
            .send(Command::SetStatus(status))
            .await
            .map_err(|_| self.closed())
    }

    /// Tells the channel's members I am typing (the server rate-limits it).
    pub async fn typing(&self, channel: ChannelId) -> Result<()> {
        let frame = ClientFrame::Typing {
            channel_id: channel,
        };
        self.commands
            .send(Command::Frame(frame))
            .await
            .map_err(|_| self.closed())
    }

    /// Also follow these users' presence; kept across reconnects.
    pub async fn watch(&self, users: Vec<UserId>) -> Result<()> {
        self.commands
            .send(Command::Watch(users))
            .await
            .map_err(|_| self.closed())
    }

    /// Closes the connection for good.
    pub async fn close(&self) {
        let _ = self.commands.send(Command::Close).await;
    }

    fn closed(&self) -> ClientError {
        match self.state() {
            ConnectionState::Closed { code, reason } => ClientError::Closed { code, reason },
            _ => ClientError::Closed {
                code: None,
                reason: "client task ended".into(),
            },
        }
    }
}

/// A send waiting for its ack.
struct Pending {
    channel: ChannelId,
    client_id: String,
    body: String,
    /// The `ref` of its latest transmission, if it was sent on the current connection.
    reference: Option<u64>,
    reply: oneshot::Sender<Result<Ack>>,
}

/// The task that owns the socket and the client's state.
struct Task {
    config: ClientConfig,
    http: Http,
    commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<ClientEvent>,
    state: watch::Sender<ConnectionState>,
    /// Per channel: the highest `seq` handed to the application. The resume cursor.
    cursors: HashMap<ChannelId, u64>,
    receipts_since: i64,
    /// Unacked sends, in the order they were made.
    outbox: Vec<Pending>,
    next_ref: u64,
    /// Channels with events handed over but not yet confirmed as delivered.
    delivered: HashMap<ChannelId, u64>,
    /// A gap could not be filled: reconnect and resume from the cursor instead of skipping it.
    broken: bool,
    /// The session status the application set; re-sent after a reconnect.
    status: Status,
    /// Users the application asked to watch; re-sent after a reconnect.
    watched: Vec<UserId>,
    upgrade: Upgrade,
}

impl Task {
    async fn run(mut self, socket: Conn, hello: Hello) {
        let mut connection = Some((socket, hello));
        let end = loop {
            let Some((socket, hello)) = connection.take() else {
                match self.reconnect().await {
                    Ok(c) => connection = Some(c),
                    Err(end) => break end,
                }
                continue;
            };
            match self.connected(socket, hello).await {
                Ending::Retry { reason, hint } => {
                    tracing::debug!(%reason, "connection dropped; reconnecting");
                    if !hint.is_zero() {
                        self.wait(hint).await;
                    }
                }
                other => break other,
            }
        };
        let (code, reason) = match end {
            Ending::Fatal { code, reason } => (code, reason),
            Ending::Closed => (None, "closed by the client".to_owned()),
            Ending::Retry { reason, .. } => (None, reason),
        };
        for p in self.outbox.drain(..) {
            let _ = p.reply.send(Err(ClientError::Closed {
                code,
                reason: reason.clone(),
            }));
        }
        let _ = self.state.send(ConnectionState::Closed {
            code,
            reason: reason.clone(),
        });
        let _ = self.events.send(ClientEvent::Closed { code, reason }).await;
    }

    /// Waits out a server's retry hint, still taking commands.
    async fn wait(&mut self, delay: Duration) {
        let until = Instant::now() + delay;
        while Instant::now() < until {
            tokio::select! {
                _ = tokio::time::sleep_until(until) => return,
                cmd = self.commands.recv() => if !self.offline_command(cmd) { return },
            }
        }
    }

    /// A command while disconnected: sends go to the outbox. Returns `false` on close.
    fn offline_command(&mut self, cmd: Option<Command>) -> bool {
        match cmd {
            None | Some(Command::Close) => {
                self.commands.close();
                false
            }
            Some(Command::Send {
                channel,
                client_id,
                body,
                reply,
            }) => {
                self.enqueue(channel, client_id, body, reply);
                true
            }
            // A read pointer or typing is user intent that can wait: it is lost on purpose while
            // offline, and the application may set it again.
            Some(Command::Read { .. } | Command::Frame(_)) => true,
            Some(Command::SetStatus(status)) => {
                self.status = status;
                true
            }
            Some(Command::Watch(users)) => {
                self.remember_watched(&users);
                true
            }
        }
    }

    fn enqueue(
        &mut self,
        channel: ChannelId,
        client_id: String,
        body: String,
        reply: oneshot::Sender<Result<Ack>>,
    ) -> bool {
        if self.outbox.len() >= self.config.outbox_limit {
            let _ = reply.send(Err(ClientError::Protocol("outbox full".into())));
            return false;
        }
        self.outbox.push(Pending {
            channel,
            client_id,
            body,
            reference: None,
            reply,
        });
        true
    }

    /// Backs off and reconnects with `resume` until it works or must stop.
    async fn reconnect(&mut self) -> std::result::Result<(Conn, Hello), Ending> {
        let mut attempt: u32 = 0;
        loop {
            let delay = backoff_delay(self.config.backoff_base, self.config.backoff_cap, attempt);
            let _ = self
                .state
                .send(ConnectionState::BackingOff { attempt, delay });
            self.wait(delay).await;
            if self.commands.is_closed() {
                return Err(Ending::Closed);
            }
            let _ = self.state.send(ConnectionState::Connecting);
            // No timeout around the whole resume: it would cancel the replay halfway through an
            // event handed to the application. Each step has its own timeout instead.
            match self.resume().await {
                Ok(connection) => return Ok(connection),
                Err(Ending::Retry { hint, reason }) => {
                    tracing::debug!(%reason, attempt, "reconnect failed");
                    if !hint.is_zero() {
                        self.wait(hint).await;
                    }
                }
                Err(other) => return Err(other),
            }
            attempt = attempt.saturating_add(1);
        }
    }

    /// One resume attempt: `hello`, `resume`, the replay, `resumed`.
    async fn resume(&mut self) -> std::result::Result<(Conn, Hello), Ending> {
        let timed_out = |what: &str| Ending::Retry {
            hint: Duration::ZERO,
            reason: format!("{what} timed out"),
        };
        let (mut socket, hello) =
            tokio::time::timeout(HANDSHAKE_TIMEOUT, open(&self.config, &mut self.upgrade))
                .await
                .map_err(|_| timed_out("connecting"))??;
        let cursors: BTreeMap<ChannelId, u64> =
            self.cursors.iter().map(|(k, v)| (*k, *v)).collect();
        let frame = ClientFrame::Resume {
            token: self.config.token.clone(),
            cursors,
            receipts_since: Some(self.receipts_since),
        };
        socket.send_frame(&frame).await?;
        let _ = self.state.send(ConnectionState::Resuming);
        loop {
            let frame = tokio::time::timeout(HANDSHAKE_TIMEOUT, socket.next_frame())
                .await
                .map_err(|_| timed_out("resuming"))??;
            match frame {
                ServerFrame::Resumed(r) => {
                    for summary in r.channels_joined {
                        self.cursors.insert(summary.id, summary.last_seq);
                        self.emit(ClientEvent::ChannelJoined(summary)).await;
                    }
                    for id in r.channels_left {
                        self.cursors.remove(&id);
                        self.emit(ClientEvent::ChannelLeft(id)).await;
                    }
                    for summary in r.resync {
                        self.cursors.insert(summary.id, summary.last_seq);
                        self.emit(ClientEvent::Resync(summary)).await;
                    }
                    // Receipts written just before this moment may still be on their way.
                    self.receipts_since = self.receipts_since.max(r.server_ts - 2_000);
                    for p in r.presence {
                        self.emit(ClientEvent::Presence(p)).await;
                    }
                    let _ = self.state.send(ConnectionState::Ready);
                    self.emit(ClientEvent::Resumed {
                        replayed: r.replayed,
                    })
                    .await;
                    return Ok((socket, hello));
                }
                other => self.dispatch(other).await,
            }
        }
    }

    /// Serves one connection until it drops.
    async fn connected(&mut self, mut socket: Conn, hello: Hello) -> Ending {
        let _ = self.state.send(ConnectionState::Ready);
        // What the application set for the session outlives the connection.
        if self.status != Status::Online {
            if let Err(ending) = socket
                .send_frame(&ClientFrame::SetStatus {
                    status: self.status,
                })
                .await
            {
                return ending;
            }
        }
        if !self.watched.is_empty() {
            let frame = ClientFrame::Watch {
                user_ids: self.watched.clone(),
            };
            if let Err(ending) = socket.send_frame(&frame).await {
                return ending;
            }
        }
        // Everything not acked is sent again, in order, with its original client id.
        for i in 0..self.outbox.len() {
            let reference = self.next_ref;
            self.next_ref += 1;
            let p = &mut self.outbox[i];
            p.reference = Some(reference);
            let frame = ClientFrame::Send {
                reference: Some(reference),
                channel_id: p.channel,
                client_id: p.client_id.clone(),
                body: p.body.clone(),
            };
            if let Err(drop) = socket.send_frame(&frame).await {
                return drop;
            }
        }
        let interval = Duration::from_millis(hello.heartbeat_interval_ms.max(100));
        let mut heartbeat = tokio::time::interval(interval);
        heartbeat.tick().await;
        let mut flush = tokio::time::interval(DELIVERED_INTERVAL);
        let mut last_heard = Instant::now();
        loop {
            tokio::select! {
                cmd = self.commands.recv() => {
                    let frame = match cmd {
                        None | Some(Command::Close) => {
                            socket.close().await;
                            return Ending::Closed;
                        }
                        Some(Command::Send { channel, client_id, body, reply }) => {
                            if !self.enqueue(channel, client_id.clone(), body.clone(), reply) {
                                continue;
                            }
                            let reference = self.next_ref;
                            self.next_ref += 1;
                            if let Some(p) = self.outbox.last_mut() {
                                p.reference = Some(reference);
                            }
                            ClientFrame::Send { reference: Some(reference), channel_id: channel, client_id, body }
                        }
                        Some(Command::Read { channel, seq }) => ClientFrame::Read { reference: None, channel_id: channel, seq },
                        Some(Command::Frame(frame)) => frame,
                        Some(Command::SetStatus(status)) => {
                            self.status = status;
                            ClientFrame::SetStatus { status }
                        }
                        Some(Command::Watch(users)) => {
                            self.remember_watched(&users);
                            ClientFrame::Watch { user_ids: users }
                        }
                    };
                    if let Err(drop) = socket.send_frame(&frame).await {
                        return drop;
                    }
                }
                _ = heartbeat.tick() => {
                    // On long polling by fallback: now and then, go back and try the WebSocket.
                    let upgrade_due = self.config.transport == Transport::Auto
                        && self.upgrade.polling_since.is_some_and(|t| t.elapsed() >= self.config.upgrade_after);
                    if upgrade_due {
                        socket.close().await;
                        return Ending::Retry { hint: Duration::ZERO, reason: "trying the WebSocket again".into() };
                    }
                    // Nothing from the server for two intervals: the connection is dead (half-open).
                    if last_heard.elapsed() > interval * 2 {
                        return Ending::Retry { hint: Duration::ZERO, reason: "server silent; heartbeat timeout".into() };
                    }
                    if let Err(drop) = socket.send_frame(&ClientFrame::Heartbeat).await {
                        return drop;
                    }
                }
                _ = flush.tick() => {
                    for (channel_id, seq) in std::mem::take(&mut self.delivered) {
                        if let Err(drop) = socket.send_frame(&ClientFrame::Delivered { channel_id, seq }).await {
                            return drop;
                        }
                    }
                }
                frame = socket.next_frame() => match frame {
                    Ok(frame) => {
                        last_heard = Instant::now();
                        self.dispatch(frame).await;
                        if std::mem::take(&mut self.broken) {
                            return Ending::Retry { hint: Duration::ZERO, reason: "gap not filled; resuming".into() };
                        }
                    }
                    Err(drop) => return drop,
                },
            }
        }
    }

    /// Adds users to the watch list kept for reconnects, once each.
    fn remember_watched(&mut self, users: &[UserId]) {
        for u in users {
            if !self.watched.contains(u) {
                self.watched.push(*u);
            }
        }
    }

    async fn emit(&mut self, event: ClientEvent) {
        // Waiting here is the SDK's backpressure: the socket is not read until the app catches up.
        let _ = self.events.send(event).await;
    }

    /// Hands an event to the application unless it is a repeat; fills a gap before it.
    async fn deliver(&mut self, event: Event) {
        let channel = event.channel_id;
        let cursor = self.cursors.get(&channel).copied();
        if let Some(c) = cursor {
            if event.seq <= c {
                return; // Seen already.
            }
            if event.seq > c + 1 && !self.fill_gap(channel, c, event.seq).await {
                // Never skip what is missing: resume replays it from the cursor.
                self.broken = true;
                return;
            }
        }
        // The cursor moves once the application has the event, not before.
        let seq = event.seq;
        self.emit(ClientEvent::Event(event)).await;
        self.cursors.insert(channel, seq);
        self.delivered.insert(channel, seq);
    }

    /// Fetches events `after+1 .. before` of `channel` over HTTP and hands them over. `false` when
    /// the history could not be read.
    async fn fill_gap(&mut self, channel: ChannelId, after: u64, before: u64) -> bool {
        let mut after = after;
        while after + 1 < before {
            let q = HistoryQuery {
                after: Some(after),
                before: Some(before),
                limit: Some(200),
            };
            let page = match self.http.history(channel, q).await {
                Ok(page) => page,
                Err(e) => {
                    tracing::warn!(error = %e, channel_id = %channel, "cannot fill gap from history");
                    return false;
                }
            };
            if page.truncated {
                // Pruned by retention: resuming makes the server send a resync for it.
                return false;
            }
            // Nothing there: nothing to hand over.
            let Some(last) = page.events.last().map(|e| e.seq) else {
                return true;
            };
            for e in page.events {
                let seq = e.seq;
                self.emit(ClientEvent::Event(e)).await;
                self.cursors.insert(channel, seq);
            }
            after = last;
        }
        true
    }

    async fn dispatch(&mut self, frame: ServerFrame) {
        let event = match frame {
            ServerFrame::Event(e) => return self.deliver(e).await,
            ServerFrame::ReadState(r) => ClientEvent::ReadState(r),
            ServerFrame::Presence(p) => ClientEvent::Presence(p),
            ServerFrame::Typing {
                channel_id,
                user_id,
                expires_in_ms,
            } => ClientEvent::Typing {
                channel_id,
                user_id,
                expires_in_ms,
            },
            ServerFrame::Receipt(r) => {
                self.receipts_since = self.receipts_since.max(r.ts);
                ClientEvent::Receipt(r)
            }
            ServerFrame::ChannelJoined { channel } => {
                self.cursors.entry(channel.id).or_insert(channel.last_seq);
                ClientEvent::ChannelJoined(channel)
            }
            ServerFrame::ChannelLeft { channel_id } => {
                self.cursors.remove(&channel_id);
                self.delivered.remove(&channel_id);
                ClientEvent::ChannelLeft(channel_id)
            }
            ServerFrame::Ack(ack) => {
                if let Some(i) = self
                    .outbox
                    .iter()
                    .position(|p| p.reference.is_some() && p.reference == ack.reference)
                {
                    let _ = self.outbox.remove(i).reply.send(Ok(ack));
                }
                return;
            }
            ServerFrame::Error { reference, error } => {
                match self
                    .outbox
                    .iter()
                    .position(|p| p.reference.is_some() && p.reference == reference)
                {
                    Some(i) => {
                        let _ = self
                            .outbox
                            .remove(i)
                            .reply
                            .send(Err(ClientError::Api(error)));
                        return;
                    }
                    None => ClientEvent::Error(error),
                }
            }
            ServerFrame::HeartbeatAck
            | ServerFrame::Hello(_)
            | ServerFrame::Ready(_)
            | ServerFrame::Resumed(_) => return,
        };
        self.emit(event).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_hints_are_read_from_close_reasons() {
        assert_eq!(
            retry_hint("overloaded retry_after_ms=1234"),
            Some(Duration::from_millis(1234))
        );
        assert_eq!(retry_hint("server_shutdown"), None);
    }

    #[test]
    fn terminal_codes_stop_and_others_retry() {
        assert!(matches!(
            close_drop(Some(4100), "authentication_failed".into()),
            Ending::Fatal { .. }
        ));
        assert!(matches!(
            close_drop(Some(4003), "server_shutdown".into()),
            Ending::Retry { .. }
        ));
        assert!(matches!(
            close_drop(None, String::new()),
            Ending::Retry { .. }
        ));
        match close_drop(Some(4006), "overloaded retry_after_ms=500".into()) {
            Ending::Retry { hint, .. } => assert_eq!(hint, Duration::from_millis(500)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_http_base_follows_the_gateway_url() {
        let c = ClientConfig::new("ws://127.0.0.1:9000/ws", "t");
        assert_eq!(c.http().base(), "http://127.0.0.1:9000");
        let c = ClientConfig::new("wss://chat.example/ws", "t");
        assert_eq!(c.http().base(), "https://chat.example");
    }
}
