//! [`Client`], the application's handle: cheap to clone, it turns each call into a command for
//! the one connection task (crate::connection) that owns the socket, and waits for the answer
//! where there is one. Nothing here touches the network.

use std::sync::Arc;
use std::time::Duration;

use confab_proto::{Ack, ChannelId, ClientFrame, ErrorCode, Hello, Ready, Status, UserId};
use tokio::sync::{mpsc, oneshot, watch};

use crate::connection::{self, Command, Identified, Task};
use crate::cursor::Cursors;
use crate::options::{EVENT_BUFFER, SEND_RETRIES};
use crate::{ClientConfig, ClientError, ConnectionState, Events, Result};

/// Commands waiting for the connection task; a call beyond that waits for room.
const COMMAND_BUFFER: usize = 256;

/// A handle to a gateway connection that survives drops. Clone it freely.
#[derive(Debug, Clone)]
pub struct Client {
    commands: mpsc::Sender<Command>,
    ready: Arc<Ready>,
    hello: Arc<Hello>,
    state: watch::Receiver<ConnectionState>,
}

impl Client {
    /// Connects to the gateway at `url` (`ws://host:port/ws`), identifies with `token`, and waits
    /// for `ready`. Later drops are handled by the client itself.
    pub async fn connect(url: &str, token: &str) -> Result<(Client, Events)> {
        Client::connect_with(ClientConfig::new(url, token)).await
    }

    /// [`Client::connect`] with settings.
    pub async fn connect_with(config: ClientConfig) -> Result<(Client, Events)> {
        let Identified {
            conn,
            hello,
            ready,
            upgrade,
        } = connection::identify(&config).await?;
        let (commands, command_rx) = mpsc::channel(COMMAND_BUFFER);
        let (events_tx, events_rx) = mpsc::channel(EVENT_BUFFER);
        let (state_tx, state_rx) = watch::channel(ConnectionState::Ready);
        let cursors = Cursors::new(&ready);
        let task = Task::new(config, cursors, upgrade, command_rx, events_tx, state_tx);
        tokio::spawn(task.run(conn, hello.clone()));
        let client = Client {
            commands,
            ready: Arc::new(ready),
            hello: Arc::new(hello),
            state: state_rx,
        };
        Ok((client, Events::new(events_rx)))
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

    /// Moves my read pointer; the server confirms with a
    /// [`ClientEvent::ReadState`](crate::ClientEvent::ReadState).
    pub async fn mark_read(&self, channel: ChannelId, seq: u64) -> Result<()> {
        self.command(Command::Read { channel, seq }).await
    }

    /// Marks this session idle or online; kept across reconnects.
    pub async fn set_status(&self, status: Status) -> Result<()> {
        self.command(Command::SetStatus(status)).await
    }

    /// Tells the channel's members I am typing (the server rate-limits it).
    pub async fn typing(&self, channel: ChannelId) -> Result<()> {
        let frame = ClientFrame::Typing {
            channel_id: channel,
        };
        self.command(Command::Frame(frame)).await
    }

    /// Also follow these users' presence; kept across reconnects.
    pub async fn watch(&self, users: Vec<UserId>) -> Result<()> {
        self.command(Command::Watch(users)).await
    }

    /// Closes the connection for good.
    pub async fn close(&self) {
        let _ = self.commands.send(Command::Close).await;
    }

    /// Hands a command without an answer to the connection task.
    async fn command(&self, cmd: Command) -> Result<()> {
        self.commands.send(cmd).await.map_err(|_| self.closed())
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
