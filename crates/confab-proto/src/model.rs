//! Users, channels and members, as clients see them.

use serde::{Deserialize, Serialize};

use crate::{ChannelId, UserId};

/// A user account as others see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct User {
    pub id: UserId,
    pub username: String,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
}

/// A compact reference to a user, embedded in events and member lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserRef {
    pub id: UserId,
    pub username: String,
}

/// The kind of a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    /// Exactly two members; at most one per pair of users.
    Direct,
    /// Named, with an owner, admins and members.
    Group,
}

/// A member's role in a group. Direct channels have two `member`s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Created the group. May add and remove anyone and change roles.
    Owner,
    /// May add members and remove plain members.
    Admin,
    Member,
}

impl Role {
    /// The role's name as stored and sent.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Member => "member",
        }
    }

    /// Parses a stored role name.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "owner" => Some(Role::Owner),
            "admin" => Some(Role::Admin),
            "member" => Some(Role::Member),
            _ => None,
        }
    }
}

/// A channel member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Member {
    pub user: UserRef,
    pub role: Role,
}

/// One channel as a member sees it: what the `ready` frame and `GET /api/v1/channels` list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChannelSummary {
    pub id: ChannelId,
    pub kind: ChannelKind,
    /// The group's name; `null` for direct channels.
    pub name: Option<String>,
    /// The other member of a direct channel; `null` for groups.
    pub peer: Option<UserRef>,
    pub member_count: u32,
    /// My role in this channel.
    pub role: Role,
    /// The `seq` of the channel's newest event (0 when it has none).
    pub last_seq: u64,
    /// My read pointer: the highest `seq` I have read.
    pub read_seq: u64,
    /// Messages from others after my read pointer (membership events are not counted).
    pub unread: u64,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
}

/// My read pointer in one channel and what it leaves unread.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReadState {
    pub channel_id: ChannelId,
    pub read_seq: u64,
    pub unread: u64,
}

/// One member's receipt pointers in a channel: what their devices confirmed receiving, and what
/// they read. Both only ever grow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Receipt {
    pub channel_id: ChannelId,
    pub user_id: UserId,
    /// Highest `seq` one of the member's sessions confirmed receiving.
    pub delivered_seq: u64,
    /// Highest `seq` the member read.
    pub read_seq: u64,
    /// Server time of the last change, milliseconds since the Unix epoch (use as `receipts_since`).
    pub ts: i64,
}

/// Whether a user is around, aggregated over all of the user's sessions on all nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// No session anywhere (or its node stopped renewing its lease).
    Offline,
    /// Every session said it is idle.
    Idle,
    /// At least one session is active.
    Online,
}

/// One user's presence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Presence {
    pub user_id: UserId,
    pub status: Status,
    /// When the user was last seen online (ms since the Unix epoch), if known; set when offline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<i64>,
}
