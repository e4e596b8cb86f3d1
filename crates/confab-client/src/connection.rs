//! The connection task: the one owner of the connection and of the client's state. It takes
//! [`Command`]s from the [`Client`](crate::Client) handles and pushes [`ClientEvent`]s to
//! [`Events`](crate::Events).
//!
//! What it guarantees the application:
//! - **Reconnect** with exponential backoff and full jitter ([`backoff_delay`]), never sooner than
//!   a retry hint from the server (HTTP `Retry-After`, close `4006`'s `retry_after_ms`). Terminal
//!   close codes (`4100–4199`) end the client instead.
//! - **Resume**: after a drop it sends `resume` with its per-channel cursors, so it receives exactly
//!   what it missed, without a full reload.
//! - **Outbox**: every send stays queued until acked, and is sent again after a reconnect
//!   (`crate::outbox`).
//! - **Once, in order**: events are deduplicated by (channel, `seq`); a gap is filled from history
//!   over HTTP before later events are delivered (`crate::delivery`, `crate::cursor`).
//! - **Receipts**: what the application was handed is confirmed to the server as `delivered`.
//!
//! Which transport carries the connection is `crate::transport`'s business.

use std::time::Duration;

use confab_proto::{
    Ack, ChannelId, ClientFrame, Hello, Ready, Resumed, ServerFrame, Status, UserId,
};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use crate::cursor::Cursors;
use crate::delivery::Delivery;
use crate::options::{backoff_delay, DELIVERED_INTERVAL, HANDSHAKE_TIMEOUT};
use crate::outbox::Outbox;
use crate::presence::PresenceSettings;
use crate::transport::{self, Conn, Ending, Upgrade};
use crate::{ClientConfig, ClientError, ClientEvent, ConnectionState, Result};

/// What a [`Client`](crate::Client) handle asks of the connection task.
pub(crate) enum Command {
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

/// What a command asks of the connection now.
#[derive(Debug)]
enum Step {
    /// End the client.
    Close,
    /// Send this frame.
    Transmit(ClientFrame),
    /// Nothing to send (now).
    Nothing,
}

/// The first connection, identified: what the task starts from.
pub(crate) struct Identified {
    pub(crate) conn: Conn,
    pub(crate) hello: Hello,
    pub(crate) ready: Ready,
    pub(crate) upgrade: Upgrade,
}

/// Opens the first connection and identifies: `hello`, `identify`, `ready`, within
/// [`HANDSHAKE_TIMEOUT`]. Failing here is the caller's error; nothing is retried.
pub(crate) async fn identify(config: &ClientConfig) -> Result<Identified> {
    let mut upgrade = Upgrade::default();
    let handshake = async {
        let (mut conn, hello) = transport::open(config, &mut upgrade).await?;
        conn.send_frame(&ClientFrame::Identify {
            token: config.token.clone(),
        })
        .await?;
        match conn.next_frame().await? {
            ServerFrame::Ready(ready) => Ok((conn, hello, ready)),
            other => Err(Ending::retry(format!("expected ready, got {other:?}"))),
        }
    };
    let (conn, hello, ready) = tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake)
        .await
        .map_err(|_| ClientError::Protocol("no ready within the handshake timeout".into()))?
        .map_err(|ending| match ending {
            Ending::Fatal { code, reason } => ClientError::Closed { code, reason },
            Ending::Retry { reason, .. } => ClientError::Closed { code: None, reason },
            Ending::Closed => ClientError::Closed {
                code: None,
                reason: "closed".into(),
            },
        })?;
    Ok(Identified {
        conn,
        hello,
        ready,
        upgrade,
    })
}

/// The task that owns the connection and the client's state.
pub(crate) struct Task {
    config: ClientConfig,
    commands: mpsc::Receiver<Command>,
    /// Where events go to the application.
    delivery: Delivery,
    state: watch::Sender<ConnectionState>,
    /// What the application was handed, per channel.
    cursors: Cursors,
    /// Unacked sends, in the order they were made.
    outbox: Outbox,
    /// A gap could not be filled: reconnect and resume from the cursor instead of skipping it.
    broken: bool,
    /// The status and watch list the application set; restored after a reconnect.
    presence: PresenceSettings,
    upgrade: Upgrade,
}

impl Task {
    /// The task for a client that starts at `cursors` (from its `ready`).
    pub(crate) fn new(
        config: ClientConfig,
        cursors: Cursors,
        upgrade: Upgrade,
        commands: mpsc::Receiver<Command>,
        events: mpsc::Sender<ClientEvent>,
        state: watch::Sender<ConnectionState>,
    ) -> Self {
        Task {
            delivery: Delivery::new(events, config.http()),
            outbox: Outbox::new(config.outbox_limit),
            config,
            commands,
            state,
            cursors,
            broken: false,
            presence: PresenceSettings::default(),
            upgrade,
        }
    }

    /// Serves connections, reconnecting after each drop, until the client ends.
    pub(crate) async fn run(mut self, conn: Conn, hello: Hello) {
        let mut connection = Some((conn, hello));
        let end = loop {
            let Some((conn, hello)) = connection.take() else {
                match self.reconnect().await {
                    Ok(c) => connection = Some(c),
                    Err(end) => break end,
                }
                continue;
            };
            match self.connected(conn, hello).await {
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
        self.outbox.fail_all(code, &reason);
        let _ = self.state.send(ConnectionState::Closed {
            code,
            reason: reason.clone(),
        });
        self.delivery
            .emit(ClientEvent::Closed { code, reason })
            .await;
    }

    /// Waits out a delay while disconnected, still taking commands.
    async fn wait(&mut self, delay: Duration) {
        let until = Instant::now() + delay;
        while Instant::now() < until {
            tokio::select! {
                _ = tokio::time::sleep_until(until) => return,
                cmd = self.commands.recv() => if let Step::Close = self.command(cmd, false) {
                    self.commands.close();
                    return;
                },
            }
        }
    }

    /// Applies a command to the client's state; `online` says whether a connection can carry
    /// its frame now. Offline, sends wait in the outbox, and a read pointer or typing — user
    /// intent that can wait — is lost on purpose: the application may set it again.
    fn command(&mut self, cmd: Option<Command>, online: bool) -> Step {
        let transmit = |frame| {
            if online {
                Step::Transmit(frame)
            } else {
                Step::Nothing
            }
        };
        match cmd {
            None | Some(Command::Close) => Step::Close,
            Some(Command::Send {
                channel,
                client_id,
                body,
                reply,
            }) => match self.outbox.push(channel, client_id, body, reply) {
                Some(queued) if online => Step::Transmit(self.outbox.transmit(queued)),
                // Queued for the next connection, or refused (outbox full).
                _ => Step::Nothing,
            },
            Some(Command::Read { channel, seq }) => transmit(ClientFrame::Read {
                reference: None,
                channel_id: channel,
                seq,
            }),
            Some(Command::Frame(frame)) => transmit(frame),
            Some(Command::SetStatus(status)) => {
                self.presence.set_status(status);
                transmit(ClientFrame::SetStatus { status })
            }
            Some(Command::Watch(users)) => {
                self.presence.watch(&users);
                transmit(ClientFrame::Watch { user_ids: users })
            }
        }
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
        let timed_out = |what: &str| Ending::retry(format!("{what} timed out"));
        let (mut conn, hello) = tokio::time::timeout(
            HANDSHAKE_TIMEOUT,
            transport::open(&self.config, &mut self.upgrade),
        )
        .await
        .map_err(|_| timed_out("connecting"))??;
        conn.send_frame(&self.cursors.resume_frame(&self.config.token))
            .await?;
        let _ = self.state.send(ConnectionState::Resuming);
        loop {
            let frame = tokio::time::timeout(HANDSHAKE_TIMEOUT, conn.next_frame())
                .await
                .map_err(|_| timed_out("resuming"))??;
            match frame {
                ServerFrame::Resumed(resumed) => {
                    self.caught_up(resumed).await;
                    return Ok((conn, hello));
                }
                other => self.dispatch(other).await,
            }
        }
    }

    /// Applies `resumed`: the replay is over.
    async fn caught_up(&mut self, r: Resumed) {
        for summary in r.channels_joined {
            self.cursors.restart(&summary);
            self.delivery
                .emit(ClientEvent::ChannelJoined(summary))
                .await;
        }
        for id in r.channels_left {
            self.cursors.left_while_away(id);
            self.delivery.emit(ClientEvent::ChannelLeft(id)).await;
        }
        for summary in r.resync {
            self.cursors.restart(&summary);
            self.delivery.emit(ClientEvent::Resync(summary)).await;
        }
        self.cursors.resumed(r.server_ts);
        for p in r.presence {
            self.delivery.emit(ClientEvent::Presence(p)).await;
        }
        let _ = self.state.send(ConnectionState::Ready);
        self.delivery
            .emit(ClientEvent::Resumed {
                replayed: r.replayed,
            })
            .await;
    }

    /// Serves one connection until it drops.
    async fn connected(&mut self, mut conn: Conn, hello: Hello) -> Ending {
        let _ = self.state.send(ConnectionState::Ready);
        // What the application set for the session outlives the connection.
        for frame in self.presence.restore() {
            if let Err(ending) = conn.send_frame(&frame).await {
                return ending;
            }
        }
        // Everything not acked is sent again, in order, with its original client id.
        for i in 0..self.outbox.len() {
            let frame = self.outbox.transmit(i);
            if let Err(drop) = conn.send_frame(&frame).await {
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
                    let frame = match self.command(cmd, true) {
                        Step::Close => {
                            conn.close().await;
                            return Ending::Closed;
                        }
                        Step::Transmit(frame) => frame,
                        Step::Nothing => continue,
                    };
                    if let Err(drop) = conn.send_frame(&frame).await {
                        return drop;
                    }
                }
                _ = heartbeat.tick() => {
                    // On long polling by fallback: now and then, go back and try the WebSocket.
                    if self.upgrade.due(&self.config, Instant::now()) {
                        conn.close().await;
                        return Ending::retry("trying the WebSocket again");
                    }
                    // Nothing from the server for two intervals: the connection is dead (half-open).
                    if last_heard.elapsed() > interval * 2 {
                        return Ending::retry("server silent; heartbeat timeout");
                    }
                    if let Err(drop) = conn.send_frame(&ClientFrame::Heartbeat).await {
                        return drop;
                    }
                }
                _ = flush.tick() => {
                    for frame in self.cursors.take_delivered() {
                        if let Err(drop) = conn.send_frame(&frame).await {
                            return drop;
                        }
                    }
                }
                frame = conn.next_frame() => match frame {
                    Ok(frame) => {
                        last_heard = Instant::now();
                        self.dispatch(frame).await;
                        if std::mem::take(&mut self.broken) {
                            return Ending::retry("gap not filled; resuming");
                        }
                    }
                    Err(drop) => return drop,
                },
            }
        }
    }

    /// Acts on a frame from the server.
    async fn dispatch(&mut self, frame: ServerFrame) {
        let event = match frame {
            ServerFrame::Event(e) => {
                if !self.delivery.event(&mut self.cursors, e).await {
                    self.broken = true;
                }
                return;
            }
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
                self.cursors.receipt_seen(r.ts);
                ClientEvent::Receipt(r)
            }
            ServerFrame::ChannelJoined { channel } => {
                self.cursors.joined(&channel);
                ClientEvent::ChannelJoined(channel)
            }
            ServerFrame::ChannelLeft { channel_id } => {
                self.cursors.left(channel_id);
                ClientEvent::ChannelLeft(channel_id)
            }
            ServerFrame::Ack(ack) => return self.outbox.acked(ack),
            ServerFrame::Error { reference, error } => {
                match self.outbox.refused(reference, error) {
                    Some(error) => ClientEvent::Error(error),
                    None => return,
                }
            }
            ServerFrame::HeartbeatAck
            | ServerFrame::Hello(_)
            | ServerFrame::Ready(_)
            | ServerFrame::Resumed(_) => return,
        };
        self.delivery.emit(event).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use confab_proto::{ErrorBody, ErrorCode};

    const CHANNEL: ChannelId = ChannelId(5);

    /// A task that never connects, and its events.
    fn task(outbox_limit: usize) -> (Task, mpsc::Receiver<ClientEvent>) {
        let mut config = ClientConfig::new("ws://127.0.0.1:1/ws", "tok");
        config.outbox_limit = outbox_limit;
        let (_commands, command_rx) = mpsc::channel(1);
        let (events, events_rx) = mpsc::channel(16);
        let (state, _) = watch::channel(ConnectionState::Ready);
        let task = Task::new(
            config,
            Cursors::default(),
            Upgrade::default(),
            command_rx,
            events,
            state,
        );
        (task, events_rx)
    }

    fn send(client_id: &str) -> (Command, oneshot::Receiver<Result<Ack>>) {
        let (reply, rx) = oneshot::channel();
        let cmd = Command::Send {
            channel: CHANNEL,
            client_id: client_id.into(),
            body: "hi".into(),
            reply,
        };
        (cmd, rx)
    }

    #[test]
    fn offline_sends_wait_and_ephemeral_intent_is_dropped() {
        let (mut task, _events) = task(10);
        let (cmd, _reply) = send("a");
        assert!(matches!(task.command(Some(cmd), false), Step::Nothing));
        assert_eq!(task.outbox.len(), 1);
        let read = Command::Read {
            channel: CHANNEL,
            seq: 3,
        };
        assert!(matches!(task.command(Some(read), false), Step::Nothing));
        let typing = Command::Frame(ClientFrame::Typing {
            channel_id: CHANNEL,
        });
        assert!(matches!(task.command(Some(typing), false), Step::Nothing));
        // Presence settings are kept for the next connection.
        let idle = Command::SetStatus(Status::Idle);
        assert!(matches!(task.command(Some(idle), false), Step::Nothing));
        let watch = Command::Watch(vec![UserId(7)]);
        assert!(matches!(task.command(Some(watch), false), Step::Nothing));
        assert_eq!(task.presence.restore().len(), 2);
        assert!(matches!(
            task.command(Some(Command::Close), false),
            Step::Close
        ));
        assert!(matches!(task.command(None, false), Step::Close));
    }

    #[test]
    fn online_commands_become_frames() {
        let (mut task, _events) = task(10);
        let (cmd, _reply) = send("a");
        match task.command(Some(cmd), true) {
            Step::Transmit(ClientFrame::Send {
                reference,
                client_id,
                ..
            }) => {
                assert_eq!(reference, Some(1));
                assert_eq!(client_id, "a");
            }
            other => panic!("{other:?}"),
        }
        let read = Command::Read {
            channel: CHANNEL,
            seq: 3,
        };
        assert!(matches!(
            task.command(Some(read), true),
            Step::Transmit(ClientFrame::Read {
                reference: None,
                seq: 3,
                ..
            })
        ));
        let watch = Command::Watch(vec![UserId(7)]);
        assert!(matches!(
            task.command(Some(watch), true),
            Step::Transmit(ClientFrame::Watch { .. })
        ));
        assert_eq!(task.presence.restore().len(), 1);
    }

    #[test]
    fn a_send_beyond_the_outbox_limit_is_refused_online_too() {
        let (mut task, _events) = task(0);
        let (cmd, mut reply) = send("a");
        assert!(matches!(task.command(Some(cmd), true), Step::Nothing));
        assert!(matches!(
            reply.try_recv(),
            Ok(Err(ClientError::Protocol(_)))
        ));
    }

    #[tokio::test]
    async fn answers_reach_their_sends_and_stray_errors_the_application() {
        let (mut task, mut events) = task(10);
        let (cmd, mut reply) = send("a");
        let Step::Transmit(ClientFrame::Send { reference, .. }) = task.command(Some(cmd), true)
        else {
            panic!("not transmitted");
        };
        let busy = ErrorBody::new(ErrorCode::Unavailable, "busy");
        task.dispatch(ServerFrame::Error {
            reference,
            error: busy.clone(),
        })
        .await;
        assert!(matches!(reply.try_recv(), Ok(Err(ClientError::Api(e))) if e == busy));
        assert!(events.try_recv().is_err(), "a send's error is the caller's");
        task.dispatch(ServerFrame::Error {
            reference: None,
            error: busy.clone(),
        })
        .await;
        assert_eq!(events.try_recv().unwrap(), ClientEvent::Error(busy));
    }
}
