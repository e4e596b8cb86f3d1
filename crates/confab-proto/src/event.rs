//! Channel events: every lasting change to a channel, each with its own `seq`.

use serde::{Deserialize, Serialize};

use crate::model::{ChannelKind, Role, UserRef};
use crate::{ChannelId, EventId, UserId};

/// One lasting change to a channel.
///
/// `seq` is the channel's sequence number: the first event of a channel has `seq` 1 and every later
/// one the previous plus one, assigned in the transaction that stores it. Clients receive a
/// channel's events in `seq` order, with no gaps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Event {
    pub channel_id: ChannelId,
    pub seq: u64,
    /// Globally unique, time-ordered id.
    pub id: EventId,
    /// Server time of the commit, milliseconds since the Unix epoch.
    pub ts: i64,
    /// Who caused the event: the sender of a message, the admin who added a member.
    pub author: UserRef,
    #[serde(flatten)]
    pub body: EventBody,
}

/// What an event changed. Tagged by `type`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventBody {
    /// A chat message.
    Message {
        body: String,
        /// The id the sender's client chose; lets the sender's devices match their local echo.
        client_id: String,
    },
    /// The channel was created (always `seq` 1).
    ChannelCreated {
        kind: ChannelKind,
        name: Option<String>,
        members: Vec<UserRef>,
    },
    /// `user` was added by `author`.
    MemberAdded { user: UserRef },
    /// `user` was removed by `author`.
    MemberRemoved { user: UserRef },
    /// `author` left the channel.
    MemberLeft,
    /// `user`'s role was changed by `author`.
    RoleChanged { user: UserRef, role: Role },
}

impl Event {
    /// The user this event takes out of the channel: the removed member, or the one who left.
    /// Nothing after this event reaches that user.
    pub fn removes(&self) -> Option<UserId> {
        match &self.body {
            EventBody::MemberRemoved { user } => Some(user.id),
            EventBody::MemberLeft => Some(self.author.id),
            _ => None,
        }
    }
}

impl EventBody {
    /// The stable name of the event's type, as in its `type` field.
    pub fn kind(&self) -> &'static str {
        match self {
            EventBody::Message { .. } => "message",
            EventBody::ChannelCreated { .. } => "channel_created",
            EventBody::MemberAdded { .. } => "member_added",
            EventBody::MemberRemoved { .. } => "member_removed",
            EventBody::MemberLeft => "member_left",
            EventBody::RoleChanged { .. } => "role_changed",
        }
    }
}
