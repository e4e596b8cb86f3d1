//! Bodies of the REST API under `/api/v1`.

use serde::{Deserialize, Serialize};

use crate::error::ErrorBody;
use crate::event::Event;
use crate::model::{ChannelSummary, Member, Receipt, Role, User};

/// `POST /api/v1/register` and `POST /api/v1/login`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Credentials {
    /// 3–32 characters of `a-z`, `0-9`, `_`, `.`, `-`, starting with a letter or digit.
    /// Case-insensitive: stored in lower case.
    pub username: String,
    /// 8–128 characters.
    pub password: String,
}

/// A session token and its user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuthResponse {
    /// Bearer token: `Authorization: Bearer <token>`, and `identify` on the gateway.
    pub token: String,
    pub user: User,
}

/// `GET /api/v1/users`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserList {
    pub users: Vec<User>,
}

/// `POST /api/v1/channels`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CreateChannel {
    /// The direct channel with `peer` (a username); the existing one if there is one.
    Direct { peer: String },
    /// A new group; the creator becomes its owner. `members` are usernames.
    Group {
        name: String,
        #[serde(default)]
        members: Vec<String>,
    },
}

/// `GET /api/v1/channels`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChannelList {
    pub channels: Vec<ChannelSummary>,
}

/// `GET /api/v1/channels/{id}/members`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MemberList {
    pub members: Vec<Member>,
}

/// `POST /api/v1/channels/{id}/members`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AddMember {
    pub username: String,
}

/// `PUT /api/v1/channels/{id}/members/{user_id}/role`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SetRole {
    /// `admin` or `member`.
    pub role: Role,
}

/// `POST /api/v1/channels/{id}/messages`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SendMessage {
    /// Idempotency key, 1–64 printable ASCII characters, unique per sender.
    pub client_id: String,
    pub body: String,
}

/// `GET /api/v1/channels/{id}/messages`: one page of a channel's events, ascending by `seq`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HistoryPage {
    pub events: Vec<Event>,
    /// The channel's newest `seq`.
    pub last_seq: u64,
    /// Events with `seq` up to this one were deleted by the retention policy (0: none were).
    pub pruned_through: u64,
    /// `true` when part of the requested range lies at or below `pruned_through`: those events are
    /// gone for good, and `events` starts after the horizon.
    pub truncated: bool,
    /// `true` when more events exist in the requested direction beyond this page.
    pub has_more: bool,
}

/// `POST /api/v1/channels/{id}/read`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MarkRead {
    pub seq: u64,
}

/// The body of every failed REST request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorResponse {
    pub error: ErrorBody,
}

/// `GET /api/v1/channels/{id}/receipts`: who has received and read a channel up to `seq`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReceiptSummary {
    /// The `seq` the counts are for (the query's `seq`, or the channel's `last_seq`).
    pub seq: u64,
    pub member_count: u32,
    /// Members other than the caller whose delivered pointer is at or past `seq`.
    pub delivered: u32,
    /// Members other than the caller whose read pointer is at or past `seq`.
    pub read: u32,
    /// Every other member's pointers: only for direct channels and groups up to the server's
    /// receipt size (`receipt_group_size`); empty for larger groups, which get counts only.
    pub receipts: Vec<Receipt>,
}

/// `GET /api/v1/channels/{id}/presence`: how many members are around (for any channel size).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChannelPresence {
    pub member_count: u32,
    pub online: u32,
    pub idle: u32,
}
