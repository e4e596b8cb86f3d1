//! Gateway frames: JSON objects in WebSocket text frames, tagged by `op`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::ErrorBody;
use crate::event::Event;
use crate::model::{ChannelSummary, Presence, ReadState, Receipt, Status, User};
use crate::{ChannelId, EventId, UserId};

/// A frame from the client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum ClientFrame {
    /// Authenticates the connection. Must be the first frame, within the identify deadline.
    Identify { token: String },
    /// Authenticates a connection that carries on an earlier one: instead of a full `ready`, the
    /// server replays what the client missed after its cursors and answers `resumed`. Must be the
    /// first frame, like `identify`.
    Resume {
        token: String,
        /// The resume cursor: per channel, the highest `seq` the client has. Channels it does not
        /// list are treated as joined while away.
        cursors: BTreeMap<ChannelId, u64>,
        /// The newest receipt `ts` (or `server_ts`) the client has; other members' receipts
        /// changed at or after it are replayed. Absent: no receipts are replayed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        receipts_since: Option<i64>,
    },
    /// Keeps the connection alive; answered by `heartbeat_ack`.
    Heartbeat,
    /// Sends a message. Answered by `ack` (after the store committed it) or `error`, both
    /// carrying the same `ref`.
    Send {
        /// Chosen by the client to match the answer to this request.
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        reference: Option<u64>,
        channel_id: ChannelId,
        /// Client-generated idempotency key, 1–64 printable ASCII characters, unique per sender.
        client_id: String,
        body: String,
    },
    /// Moves my read pointer in a channel forward (never back). Answered by `read_state` to all my
    /// sessions, or `error`.
    Read {
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        reference: Option<u64>,
        channel_id: ChannelId,
        seq: u64,
    },
    /// Confirms that this device received a channel's events up to `seq`; moves my delivered
    /// pointer (never back). No answer; others see it as a `receipt`.
    Delivered { channel_id: ChannelId, seq: u64 },
    /// Says whether this session is active (`online`) or `idle`. Sessions start `online`.
    SetStatus { status: Status },
    /// I am typing in a channel. Rate-limited (extra ones are dropped); others see `typing`.
    Typing { channel_id: ChannelId },
    /// Also tell me the presence of these users (beyond my direct and small-group contacts).
    Watch { user_ids: Vec<UserId> },
}

impl ClientFrame {
    /// Every `op` a client may send.
    pub const OPS: [&'static str; 9] = [
        "identify",
        "resume",
        "heartbeat",
        "send",
        "read",
        "delivered",
        "set_status",
        "typing",
        "watch",
    ];

    /// The frame's `op`, as on the wire.
    pub fn op(&self) -> &'static str {
        match self {
            ClientFrame::Identify { .. } => "identify",
            ClientFrame::Resume { .. } => "resume",
            ClientFrame::Heartbeat => "heartbeat",
            ClientFrame::Send { .. } => "send",
            ClientFrame::Read { .. } => "read",
            ClientFrame::Delivered { .. } => "delivered",
            ClientFrame::SetStatus { .. } => "set_status",
            ClientFrame::Typing { .. } => "typing",
            ClientFrame::Watch { .. } => "watch",
        }
    }
}

/// The limits a client must respect, announced in `hello`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Largest frame the server accepts, in bytes.
    pub max_frame_bytes: u32,
    /// Longest message body, in Unicode scalar values.
    pub max_message_chars: u32,
}

/// The first frame on every connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    pub protocol: u32,
    /// The node that holds this connection.
    pub node_id: u16,
    /// Send a `heartbeat` at least this often (milliseconds).
    pub heartbeat_interval_ms: u64,
    /// Send `identify` within this many milliseconds.
    pub identify_timeout_ms: u64,
    pub limits: Limits,
}

/// The answer to `identify`: who I am and the state of my channels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ready {
    /// Unique id of this session (connection).
    pub session_id: String,
    pub user: User,
    pub channels: Vec<ChannelSummary>,
    /// Server time when the snapshot was taken (a starting `receipts_since`).
    pub server_ts: i64,
    /// Presence of my contacts (members of my direct channels and small groups) who are not offline.
    #[serde(default)]
    pub presence: Vec<Presence>,
}

/// The answer to `resume`, sent after the replayed events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resumed {
    /// Unique id of this session (connection).
    pub session_id: String,
    pub user: User,
    /// Channels I joined while away (not in my cursors); their events after `last_seq` follow live.
    pub channels_joined: Vec<ChannelSummary>,
    /// Channels in my cursors that I am no longer a member of.
    pub channels_left: Vec<ChannelId>,
    /// Channels whose history after my cursor was removed by retention: drop what you have and
    /// reload the newest page. Their events after `last_seq` follow live.
    pub resync: Vec<ChannelSummary>,
    /// How many events were replayed before this frame.
    pub replayed: u64,
    /// Server time now (a starting `receipts_since` if no receipt arrives).
    pub server_ts: i64,
    /// Presence of my contacts who are not offline (replaces what the client had).
    #[serde(default)]
    pub presence: Vec<Presence>,
}

/// The answer to `send`: the message is committed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Ack {
    /// The `ref` of the `send` this answers (absent over HTTP).
    #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<u64>,
    pub channel_id: ChannelId,
    pub client_id: String,
    /// The message's global id.
    pub id: EventId,
    pub seq: u64,
    /// Commit time, milliseconds since the Unix epoch.
    pub ts: i64,
}

/// A frame from the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum ServerFrame {
    Hello(Hello),
    Ready(Ready),
    Resumed(Resumed),
    /// A channel event (message, membership change), in `seq` order per channel.
    Event(Event),
    Ack(Ack),
    /// My read pointer moved (on this or another of my sessions).
    ReadState(ReadState),
    /// A contact's (or watched user's) presence changed.
    Presence(Presence),
    /// `user_id` is typing in `channel_id`; show it for `expires_in_ms` unless renewed or a message
    /// from them arrives.
    Typing {
        channel_id: ChannelId,
        user_id: UserId,
        expires_in_ms: u64,
    },
    /// A member's delivered or read pointer moved (channels of at most `receipt_group_size`
    /// members; the member's own sessions get it too).
    Receipt(Receipt),
    /// I became a member of a channel (created it, or was added).
    ChannelJoined {
        channel: ChannelSummary,
    },
    /// I am no longer a member of a channel (left, or was removed).
    ChannelLeft {
        channel_id: ChannelId,
    },
    HeartbeatAck,
    /// A request failed. `ref` is the failed request's, when it had one.
    Error {
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        reference: Option<u64>,
        #[serde(flatten)]
        error: ErrorBody,
    },
}
