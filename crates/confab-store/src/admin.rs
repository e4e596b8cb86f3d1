//! Administration: what `confab admin` reads and changes, beside the [`Store`] the server uses.
//!
//! Why a trait of its own: these calls see every user and channel (no caller's point of view, no
//! membership checks) and one of them reads the whole store ([`AdminStore::check`]); the server
//! never makes them, so they stay out of [`Store`] and its metered wrapper. Both backends get
//! them from the SQL core (`sql/admin`), as they get [`Store`].
//!
//! What deleting a user removes is decided here, once (docs/operations.md, "Administration",
//! says the same for operators): see [`AdminStore::delete_user`].

use async_trait::async_trait;
use confab_proto::{ChannelId, ChannelKind, Event, Role, UserId, UserRef};
use serde::Serialize;

use crate::{Result, Store};

/// The body a deleted user's messages are given (their text is gone; the event keeps its `seq`).
pub const REDACTED_BODY: &str = "[deleted]";

/// The username a deleted account's tombstone gets: not a valid username (`:`), so nobody can
/// register it, and unique (the id).
pub fn tombstone_name(user: UserId) -> String {
    format!("deleted:{}", user.0)
}

/// A user as an administrator sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserRecord {
    pub id: UserId,
    pub username: String,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
    /// When the user was last seen online (ms), if ever recorded.
    pub last_seen: Option<i64>,
    /// When the account was disabled (ms); `None` when it is enabled.
    pub disabled_at: Option<i64>,
    /// When the account was deleted (ms): the row is a tombstone.
    pub deleted_at: Option<i64>,
    /// Session tokens (devices) the user holds.
    pub tokens: u64,
}

/// A channel as an administrator sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChannelRecord {
    pub id: ChannelId,
    pub kind: ChannelKind,
    /// A group's name.
    pub name: Option<String>,
    /// A direct channel's two users (by its pair key; they stay named after a user left).
    pub pair: Option<[UserId; 2]>,
    pub member_count: u32,
    /// The `seq` of the newest event (the head).
    pub last_seq: u64,
    /// Events with `seq` up to this were removed by retention.
    pub pruned_through: u64,
    /// Messages ever sent to the channel (pruned ones included).
    pub msg_count: u64,
    pub created_at: i64,
}

/// One member of a channel, with its pointers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MemberRecord {
    pub user: UserRef,
    pub role: Role,
    /// The `seq` of the event that made the user a member.
    pub joined_seq: u64,
    pub read_seq: u64,
    pub delivered_seq: u64,
}

/// A channel in detail: `confab admin channels inspect`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChannelDetail {
    #[serde(flatten)]
    pub channel: ChannelRecord,
    pub members: Vec<MemberRecord>,
    /// Events stored now (`last_seq - pruned_through` when the store is sound).
    pub events_stored: u64,
    /// Messages stored now.
    pub messages_stored: u64,
    /// Time of the oldest and newest stored event (ms).
    pub oldest_ts: Option<i64>,
    pub newest_ts: Option<i64>,
}

/// What [`AdminStore::delete_user`] did.
#[derive(Debug, Clone, Serialize)]
pub struct UserDeletion {
    pub user_id: UserId,
    /// The name the tombstone got.
    pub tombstone: String,
    pub tokens_revoked: u64,
    /// Channels the user left (one `member_left` event each).
    pub channels_left: u64,
    pub messages_redacted: u64,
    /// Events by others that named the user (added, removed, …) now naming the tombstone.
    pub events_renamed: u64,
    /// The events the deletion appended (`member_left`, and `role_changed` where ownership passed),
    /// for whoever fans them out.
    #[serde(skip)]
    pub events: Vec<Event>,
}

/// What [`AdminStore::delete_channel`] removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChannelDeletion {
    pub channel_id: ChannelId,
    pub events: u64,
    pub members: u64,
    /// Idempotency records of the channel's messages.
    pub sends: u64,
}

/// One problem [`AdminStore::check`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// What kind of problem, a stable name: `seq_gap`, `msg_ord`, … (docs/operations.md lists them).
    pub kind: &'static str,
    pub channel_id: Option<ChannelId>,
    pub user_id: Option<UserId>,
    /// What is wrong, for a person.
    pub detail: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:", self.kind)?;
        if let Some(c) = self.channel_id {
            write!(f, " channel {c}:")?;
        }
        if let Some(u) = self.user_id {
            write!(f, " user {u}:")?;
        }
        write!(f, " {}", self.detail)
    }
}

/// The administrator's view of a store. Every method is one transaction (or, for reads, one
/// consistent snapshot) and safe while servers use the store.
#[async_trait]
pub trait AdminStore: Store {
    /// Every user in username order; tombstones of deleted users only with `include_deleted`.
    async fn list_users(&self, include_deleted: bool) -> Result<Vec<UserRecord>>;

    /// The user stored under exactly this username (tombstones included).
    async fn find_user(&self, username: &str) -> Result<Option<UserRecord>>;

    /// Replaces a user's password hash. [`StoreError::NotFound`](crate::StoreError::NotFound) for
    /// no such (or a deleted) user. Tokens are kept.
    async fn set_password(&self, user: UserId, password_hash: &str) -> Result<()>;

    /// Disables (`true`) or enables a user. Returns whether anything changed (`false`: it already
    /// was). A disabled user cannot log in and its tokens are refused, but kept.
    async fn set_disabled(&self, user: UserId, disabled: bool) -> Result<bool>;

    /// The hashes of the user's session tokens.
    async fn user_tokens(&self, user: UserId) -> Result<Vec<Vec<u8>>>;

    /// Deletes every session token of the user; returns their hashes.
    async fn revoke_tokens(&self, user: UserId) -> Result<Vec<Vec<u8>>>;

    /// Deletes a user with their data, in one transaction:
    ///
    /// - every session token;
    /// - every membership, with its read and delivered pointers: the user leaves each channel
    ///   with a `member_left` event, as a leave would (a group's ownership passes on as when its
    ///   owner leaves);
    /// - the text of every message they sent: each keeps its place (`seq`, ordinals, so seqs stay
    ///   gapless and unread counts exact) with its body replaced by [`REDACTED_BODY`];
    /// - their idempotency records and last-seen time;
    /// - their username: the row stays as a tombstone named [`tombstone_name`], with no password,
    ///   disabled, because the events they authored keep their id; events that named them
    ///   (`member_added`, …) name the tombstone.
    ///
    /// Channels stay (the other members keep their history), even when left empty.
    async fn delete_user(&self, user: UserId) -> Result<UserDeletion>;

    /// Every channel, oldest first.
    async fn list_channels(&self) -> Result<Vec<ChannelRecord>>;

    /// One channel with its members and what it stores; `None` when there is none.
    async fn inspect_channel(&self, channel: ChannelId) -> Result<Option<ChannelDetail>>;

    /// Deletes a channel: its events, memberships (with pointers), idempotency records and the
    /// channel itself. [`StoreError::NotFound`](crate::StoreError::NotFound) when there is none.
    async fn delete_channel(&self, channel: ChannelId) -> Result<ChannelDeletion>;

    /// Checks the store's invariants over one consistent snapshot; an empty list when sound.
    /// Reads every event: minutes on a large store, without blocking writers.
    async fn check(&self) -> Result<Vec<Problem>>;
}
