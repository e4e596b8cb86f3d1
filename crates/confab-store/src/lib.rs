//! Confab's durable store: the source of truth for users, channels, events and pointers.
//!
//! # Layout
//!
//! - [`Store`]: the trait every backend implements, each method documenting its guarantee.
//! - `sql`: the SQL core, the rules written once: membership, roles and group size
//!   (`sql/member`), channel creation and summaries (`sql/channel`), idempotent sends, `seq`
//!   assignment, history and retention (`sql/event`), receipts (`sql/receipt`), users and tokens
//!   (`sql/user`). They run over `sql/tx` (a statement in, owned rows out, locks), with the
//!   differences between the dialects named in `sql/dialect`; `sql/store` implements [`Store`]
//!   once, as [`SqlStore`], over a backend.
//! - [`sqlite`]: [`SqliteStore`], the embedded default (one file, WAL mode): connections and
//!   migrations, a writer thread with group commit (`sqlite/writer`), reader threads
//!   (`sqlite/reader`), the rusqlite connection (`sqlite/conn`).
//! - [`postgres`]: [`PostgresStore`], shared by the nodes of a cluster: the pool and migrations,
//!   and the sqlx connection (`postgres/conn`).
//! - [`snowflake`]: time-ordered 64-bit ids, assigned at commit.
//! - [`conformance`]: the shared suite every backend must pass, one file per area; a backend's
//!   tests call it with a factory.
//! - [`error`]: [`StoreError`] and the [`Result`] alias.
//! - [`admin`]: [`AdminStore`], what `confab admin` reads and changes beside [`Store`] (every
//!   user and channel, deleting with their data, the integrity check); `sql/admin` implements it.
//!
//! The store enforces the rules that must hold atomically with a write: `seq` assignment, idempotent
//! sends, membership and role checks, group size. Everything else is the server's.

pub mod admin;
pub mod conformance;
pub mod error;
pub mod postgres;
pub mod snowflake;
mod sql;
pub mod sqlite;

use std::time::Duration;

use async_trait::async_trait;
use confab_proto::api::HistoryPage;
use confab_proto::{
    ChannelId, ChannelSummary, Event, EventId, Member, ReadState, Receipt, Role, User, UserId,
};

pub use admin::AdminStore;
pub use error::{Result, StoreError};
pub use postgres::PostgresStore;
pub use snowflake::Snowflake;
pub use sql::{NewMessage, SqlStore};
pub use sqlite::SqliteStore;

/// A stored user with its password hash, for logging in.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub user: User,
    /// PHC string of the argon2id hash.
    pub password_hash: String,
    /// Disabled by an administrator (`confab admin users disable`): may not log in.
    pub disabled: bool,
}

/// What a send stored, or found already stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendRecord {
    pub channel_id: ChannelId,
    pub client_id: String,
    pub id: EventId,
    pub seq: u64,
    pub ts: i64,
}

/// The outcome of [`Store::append_message`].
#[derive(Debug, Clone)]
pub struct Appended {
    /// The ack to give the sender: the original one when this was a duplicate.
    pub record: SendRecord,
    /// The event stored now, to fan out; `None` when the send was a duplicate and stored nothing.
    pub event: Option<Event>,
}

/// The outcome of [`Store::create_direct`].
#[derive(Debug, Clone)]
pub struct DirectChannel {
    pub channel_id: ChannelId,
    /// The `channel_created` event when the channel is new; `None` when it already existed.
    pub created: Option<Event>,
}

/// Which page of history to read. `after` and `before` are exclusive bounds on `seq`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HistoryQuery {
    /// Events with `seq > after`, oldest first.
    pub after: Option<u64>,
    /// Events with `seq < before`; without `after`, the newest such events.
    pub before: Option<u64>,
    /// Page size; the caller validates it.
    pub limit: u32,
}

/// Where one of a user's channels stands: what a resume compares its cursor with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub channel_id: ChannelId,
    pub last_seq: u64,
    pub pruned_through: u64,
    pub member_count: u32,
    /// The `seq` of the event that made the user a member (the latest time, after a re-join).
    pub joined_seq: u64,
}

/// A delivered-pointer update for [`Store::mark_delivered`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Delivery {
    pub channel_id: ChannelId,
    pub user_id: UserId,
    pub seq: u64,
}

/// How much history to keep. `None` keeps everything.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retention {
    /// Delete events older than this.
    pub max_age: Option<Duration>,
    /// Keep at most this many of each channel's newest events.
    pub max_events: Option<u64>,
}

/// Confab's durable state. All methods are safe to call concurrently; every write is one transaction.
///
/// Errors: [`StoreError::Unavailable`] means the backend could not be reached and nothing was
/// written, so the call may be retried.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Creates a user. Fails with [`StoreError::Conflict`] when the username is taken.
    async fn create_user(&self, username: &str, password_hash: &str) -> Result<User>;

    /// The user named `username`, with its password hash.
    async fn credentials(&self, username: &str) -> Result<Option<Credentials>>;

    /// The user with this id.
    async fn user(&self, id: UserId) -> Result<Option<User>>;

    /// Users whose username starts with `prefix`, in username order, at most `limit`.
    async fn users_by_prefix(&self, prefix: &str, limit: u32) -> Result<Vec<User>>;

    /// The users with these usernames. Fails with [`StoreError::NotFound`] naming the first unknown one.
    async fn users_by_name(&self, usernames: &[String]) -> Result<Vec<User>>;

    /// Stores a session token's hash for `user`.
    async fn insert_token(&self, token_hash: &[u8], user: UserId) -> Result<()>;

    /// The user a token hash belongs to, if the token exists.
    async fn token_user(&self, token_hash: &[u8]) -> Result<Option<User>>;

    /// Deletes a token. Returns whether it existed. Idempotent.
    async fn delete_token(&self, token_hash: &[u8]) -> Result<bool>;

    /// The direct channel of `a` and `b`, created (with its `channel_created` event, `seq` 1) if it
    /// does not exist. At most one exists per pair, however many callers race.
    async fn create_direct(&self, a: UserId, b: UserId) -> Result<DirectChannel>;

    /// Creates a group owned by `owner` with `members` (the owner is added if missing, duplicates
    /// ignored). Returns its `channel_created` event (`seq` 1). Fails with
    /// [`StoreError::LimitExceeded`] over `max_members`.
    async fn create_group(
        &self,
        owner: UserId,
        name: &str,
        members: &[UserId],
        max_members: u32,
    ) -> Result<Event>;

    /// Adds `user` to a group as `actor` (an owner or admin). Returns the `member_added` event.
    async fn add_member(
        &self,
        channel: ChannelId,
        actor: UserId,
        user: UserId,
        max_members: u32,
    ) -> Result<Event>;

    /// Removes `user` from a group as `actor`, or lets `actor` leave when `user == actor`. An owner
    /// may remove anyone, an admin only plain members. When the owner leaves, the longest-standing
    /// admin (or else member) becomes owner. Returns the events, in `seq` order.
    async fn remove_member(
        &self,
        channel: ChannelId,
        actor: UserId,
        user: UserId,
    ) -> Result<Vec<Event>>;

    /// Sets `user`'s role to `admin` or `member`, as the group's owner. Returns the `role_changed`
    /// event; [`StoreError::Conflict`] when the member already has that role.
    async fn set_role(
        &self,
        channel: ChannelId,
        actor: UserId,
        user: UserId,
        role: Role,
    ) -> Result<Event>;

    /// Appends a message from `sender`, who must be a member. Its `seq` is the channel's previous
    /// `seq` + 1, assigned in the same transaction; the call returns after the commit (durable ack).
    ///
    /// Idempotent on (`sender`, `client_id`): a repeat stores nothing and returns the original record,
    /// at any later time, even after retention pruned the message.
    async fn append_message(
        &self,
        channel: ChannelId,
        sender: UserId,
        client_id: &str,
        body: &str,
    ) -> Result<Appended>;

    /// Appends `messages` in order in one transaction, each under the rules and with the outcome of
    /// [`Store::append_message`] (a refused one gets its error in its slot and stores nothing), with
    /// one commit for all: for bulk imports and seeding, where a commit per message would cost more
    /// than the messages. A failing statement fails the call and stores none of them.
    async fn append_messages(&self, messages: Vec<NewMessage>) -> Result<Vec<Result<Appended>>>;

    /// The original record of a send by `sender` with `client_id`, if there was one.
    async fn find_send(&self, sender: UserId, client_id: &str) -> Result<Option<SendRecord>>;

    /// The role of `user` in `channel`, or `None` when not a member (or no such channel).
    async fn member_role(&self, channel: ChannelId, user: UserId) -> Result<Option<Role>>;

    /// The channel's members, owner first, then by join order.
    async fn members(&self, channel: ChannelId) -> Result<Vec<Member>>;

    /// Every channel `user` is a member of, with pointers and unread counts, oldest channel first.
    async fn channels_of(&self, user: UserId) -> Result<Vec<ChannelSummary>>;

    /// One channel as `user` sees it, or `None` when not a member.
    async fn channel_of(&self, channel: ChannelId, user: UserId) -> Result<Option<ChannelSummary>>;

    /// A page of a channel's events in ascending `seq` order. The caller checks membership.
    async fn history(&self, channel: ChannelId, query: HistoryQuery) -> Result<HistoryPage>;

    /// Moves `user`'s read pointer to `seq` (clamped to the channel's `last_seq`); it never moves
    /// back. The delivered pointer follows it (what was read was delivered). Fails with [`StoreError::NotFound`] when `user` is not a member.
    async fn mark_read(&self, channel: ChannelId, user: UserId, seq: u64) -> Result<ReadState>;

    /// Moves delivered pointers forward (clamped to each channel's `last_seq`, never back), all in one
    /// transaction. Updates of non-members are ignored. Returns the receipts that changed, each with
    /// its channel's member count (to decide who hears of it).
    async fn mark_delivered(&self, deliveries: &[Delivery]) -> Result<Vec<(Receipt, u32)>>;

    /// One member's receipt pointers.
    async fn receipt(&self, channel: ChannelId, user: UserId) -> Result<Option<Receipt>>;

    /// Every member's receipt pointers in a channel.
    async fn receipts(&self, channel: ChannelId) -> Result<Vec<Receipt>>;

    /// Receipts of *other* members, changed at or after `since` (ms; at, so that changes in the same
    /// millisecond are not missed), in `user`'s channels of at most
    /// `max_members` members. One query, whatever the number of channels.
    async fn receipts_since(
        &self,
        user: UserId,
        since: i64,
        max_members: u32,
    ) -> Result<Vec<Receipt>>;

    /// Where each of `user`'s channels stands. Cheap: no unread counts.
    async fn positions(&self, user: UserId) -> Result<Vec<Position>>;

    /// Deletes events past the retention policy, oldest first per channel, and advances each
    /// channel's `pruned_through`. Returns how many events were deleted.
    async fn prune(&self, retention: Retention) -> Result<u64>;

    /// Records that `user` was last seen online at `ts` (ms).
    async fn touch_last_seen(&self, user: UserId, ts: i64) -> Result<()>;

    /// When `user` was last seen online, if ever recorded.
    async fn last_seen(&self, user: UserId) -> Result<Option<i64>>;

    /// The users who share a channel of at most `max_members` members with `user` (direct
    /// channels included): whose presence `user` is shown. One query.
    async fn contacts(&self, user: UserId, max_members: u32) -> Result<Vec<UserId>>;

    /// Waits for running statements and closes the backend. Later calls fail.
    async fn close(&self);
}
