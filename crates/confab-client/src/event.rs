//! What the application hears from a [`Client`](crate::Client): the [`ClientEvent`]s the server
//! pushed, read from [`Events`], and the [`ConnectionState`] the connection is in. The connection
//! task produces both; this module only says what they are.

use std::time::Duration;

use confab_proto::{
    ChannelId, ChannelSummary, ErrorBody, Event, Presence, ReadState, Receipt, UserId,
};
use tokio::sync::mpsc;

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
    /// The stream fed by the connection task through the other end of `rx`.
    pub(crate) fn new(rx: mpsc::Receiver<ClientEvent>) -> Self {
        Events { rx }
    }

    /// The next event, or `None` after the client ended and every event was read.
    pub async fn next(&mut self) -> Option<ClientEvent> {
        self.rx.recv().await
    }
}
