//! The gateway client: a cheap cloneable [`Client`] handle sending commands to one connection task
//! that owns the WebSocket.
//!
//! The handle is shaped for reconnection and resume (which build on it): callers never touch the
//! socket, they send commands and read [`Events`], and [`ConnectionState`] is observable.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use confab_proto::{
    Ack, ChannelSummary, ClientFrame, ErrorBody, Event, Hello, Id, ReadState, Ready, ServerFrame,
};
use futures::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode as WsCloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::{ClientError, Result};

/// How many pushed events the SDK buffers for the application. When the application does not read
/// them, the connection task stops reading the socket, and the server eventually closes the
/// connection as a slow consumer.
pub const EVENT_BUFFER: usize = 4096;

/// How long [`Client::connect`] waits for `hello` and `ready`.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(15);

/// Where the connection is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionState {
    /// Opening the socket and identifying.
    Connecting,
    /// Identified; events flow.
    Ready,
    /// The connection ended; `code` is the server's close code when it sent one.
    Closed { code: Option<u16>, reason: String },
}

/// Something the server pushed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientEvent {
    /// A channel event (message or membership change), in `seq` order per channel.
    Event(Event),
    /// My read pointer moved, on this or another device.
    ReadState(ReadState),
    /// I joined a channel.
    ChannelJoined(ChannelSummary),
    /// I left (or was removed from) a channel.
    ChannelLeft(Id),
    /// The server answered a request with an error that was not tied to a pending send.
    Error(ErrorBody),
    /// The connection ended. The last event.
    Closed { code: Option<u16>, reason: String },
}

/// The stream of [`ClientEvent`]s of one connection.
#[derive(Debug)]
pub struct Events {
    rx: mpsc::Receiver<ClientEvent>,
}

impl Events {
    /// The next event, or `None` after the connection ended and every event was read.
    pub async fn next(&mut self) -> Option<ClientEvent> {
        self.rx.recv().await
    }
}

enum Command {
    Send {
        channel: Id,
        client_id: String,
        body: String,
        reply: oneshot::Sender<Result<Ack>>,
    },
    Read {
        channel: Id,
        seq: u64,
    },
    Close,
}

/// A handle to one gateway connection. Clone it freely; the connection ends when [`Client::close`]
/// is called or the server closes it.
#[derive(Debug, Clone)]
pub struct Client {
    commands: mpsc::Sender<Command>,
    ready: Arc<Ready>,
    hello: Arc<Hello>,
    state: watch::Receiver<ConnectionState>,
}

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

async fn next_frame(socket: &mut Socket) -> Result<ServerFrame> {
    loop {
        match socket.next().await {
            Some(Ok(Message::Text(text))) => {
                return serde_json::from_str(text.as_str())
                    .map_err(|e| ClientError::Protocol(format!("bad frame from server: {e}")))
            }
            Some(Ok(Message::Close(frame))) => {
                return Err(ClientError::Closed {
                    code: frame.as_ref().map(|f| u16::from(f.code)),
                    reason: frame.map(|f| f.reason.to_string()).unwrap_or_default(),
                })
            }
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(e.into()),
            None => {
                return Err(ClientError::Closed {
                    code: None,
                    reason: "connection lost".into(),
                })
            }
        }
    }
}

impl Client {
    /// Connects to the gateway at `url` (`ws://host:port/ws`), identifies with `token`, and waits
    /// for `ready`.
    pub async fn connect(url: &str, token: &str) -> Result<(Client, Events)> {
        let handshake = async {
            let (mut socket, _) = tokio_tungstenite::connect_async(url).await?;
            let hello = match next_frame(&mut socket).await? {
                ServerFrame::Hello(h) => h,
                other => {
                    return Err(ClientError::Protocol(format!(
                        "expected hello, got {other:?}"
                    )))
                }
            };
            let identify = ClientFrame::Identify {
                token: token.to_owned(),
            };
            socket.send(Message::text(encode(&identify)?)).await?;
            let ready = match next_frame(&mut socket).await? {
                ServerFrame::Ready(r) => r,
                other => {
                    return Err(ClientError::Protocol(format!(
                        "expected ready, got {other:?}"
                    )))
                }
            };
            Ok((socket, hello, ready))
        };
        let (socket, hello, ready) = tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake)
            .await
            .map_err(|_| ClientError::Protocol("no ready within the handshake timeout".into()))??;
        let (commands, command_rx) = mpsc::channel(256);
        let (events_tx, events_rx) = mpsc::channel(EVENT_BUFFER);
        let (state_tx, state_rx) = watch::channel(ConnectionState::Ready);
        let heartbeat = Duration::from_millis(hello.heartbeat_interval_ms.max(100));
        tokio::spawn(
            Connection {
                socket,
                commands: command_rx,
                events: events_tx,
                state: state_tx,
                pending: HashMap::new(),
                next_ref: 1,
            }
            .run(heartbeat),
        );
        let client = Client {
            commands,
            ready: Arc::new(ready),
            hello: Arc::new(hello),
            state: state_rx,
        };
        Ok((client, Events { rx: events_rx }))
    }

    /// The `ready` snapshot this connection started from.
    pub fn ready(&self) -> &Ready {
        &self.ready
    }

    /// The server's `hello`.
    pub fn hello(&self) -> &Hello {
        &self.hello
    }

    /// The connection's state now.
    pub fn state(&self) -> ConnectionState {
        self.state.borrow().clone()
    }

    /// Sends a message with a fresh idempotency key; returns the ack once the server committed it.
    pub async fn send(&self, channel: Id, body: &str) -> Result<Ack> {
        self.send_with_id(channel, &uuid::Uuid::new_v4().simple().to_string(), body)
            .await
    }

    /// Sends a message with the caller's idempotency key (reuse it to retry safely).
    pub async fn send_with_id(&self, channel: Id, client_id: &str, body: &str) -> Result<Ack> {
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
    pub async fn mark_read(&self, channel: Id, seq: u64) -> Result<()> {
        self.commands
            .send(Command::Read { channel, seq })
            .await
            .map_err(|_| self.closed())
    }

    /// Closes the connection.
    pub async fn close(&self) {
        let _ = self.commands.send(Command::Close).await;
    }

    fn closed(&self) -> ClientError {
        match self.state() {
            ConnectionState::Closed { code, reason } => ClientError::Closed { code, reason },
            _ => ClientError::Closed {
                code: None,
                reason: "connection task ended".into(),
            },
        }
    }
}

fn encode(frame: &ClientFrame) -> Result<String> {
    serde_json::to_string(frame).map_err(|e| ClientError::Protocol(e.to_string()))
}

/// The task that owns the socket.
struct Connection {
    socket: Socket,
    commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<ClientEvent>,
    state: watch::Sender<ConnectionState>,
    /// Sends waiting for their ack or error, by `ref`.
    pending: HashMap<u64, oneshot::Sender<Result<Ack>>>,
    next_ref: u64,
}

impl Connection {
    async fn run(mut self, heartbeat: Duration) {
        let mut tick = tokio::time::interval(heartbeat);
        tick.tick().await;
        let (code, reason) = loop {
            tokio::select! {
                cmd = self.commands.recv() => {
                    let frame = match cmd {
                        None | Some(Command::Close) => {
                            let _ = self.socket.close(Some(CloseFrame { code: WsCloseCode::Normal, reason: "bye".into() })).await;
                            break (None, "closed by the client".to_owned());
                        }
                        Some(Command::Send { channel, client_id, body, reply }) => {
                            let reference = self.next_ref;
                            self.next_ref += 1;
                            self.pending.insert(reference, reply);
                            ClientFrame::Send { reference: Some(reference), channel_id: channel, client_id, body }
                        }
                        Some(Command::Read { channel, seq }) => ClientFrame::Read { reference: None, channel_id: channel, seq },
                    };
                    let Ok(text) = encode(&frame) else { continue };
                    if let Err(e) = self.socket.send(Message::text(text)).await {
                        break (None, e.to_string());
                    }
                }
                _ = tick.tick() => {
                    let Ok(text) = encode(&ClientFrame::Heartbeat) else { continue };
                    if let Err(e) = self.socket.send(Message::text(text)).await {
                        break (None, e.to_string());
                    }
                }
                frame = next_frame(&mut self.socket) => match frame {
                    Ok(frame) => self.dispatch(frame).await,
                    Err(ClientError::Closed { code, reason }) => break (code, reason),
                    Err(e) => break (None, e.to_string()),
                },
            }
        };
        for (_, reply) in self.pending.drain() {
            let _ = reply.send(Err(ClientError::Closed {
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

    async fn dispatch(&mut self, frame: ServerFrame) {
        let event = match frame {
            ServerFrame::Event(e) => ClientEvent::Event(e),
            ServerFrame::ReadState(r) => ClientEvent::ReadState(r),
            ServerFrame::ChannelJoined { channel } => ClientEvent::ChannelJoined(channel),
            ServerFrame::ChannelLeft { channel_id } => ClientEvent::ChannelLeft(channel_id),
            ServerFrame::Ack(ack) => {
                if let Some(reply) = ack.reference.and_then(|r| self.pending.remove(&r)) {
                    let _ = reply.send(Ok(ack));
                }
                return;
            }
            ServerFrame::Error { reference, error } => {
                match reference.and_then(|r| self.pending.remove(&r)) {
                    Some(reply) => {
                        let _ = reply.send(Err(ClientError::Api(error)));
                        return;
                    }
                    None => ClientEvent::Error(error),
                }
            }
            ServerFrame::HeartbeatAck | ServerFrame::Hello(_) | ServerFrame::Ready(_) => return,
        };
        // Waiting here is the SDK's backpressure: the socket is not read until the app catches up.
        let _ = self.events.send(event).await;
    }
}
