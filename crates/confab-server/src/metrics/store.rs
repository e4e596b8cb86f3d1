//! The store, timed: [`Metered`] around any [`Store`] records each call's duration by
//! operation (`confab_store_seconds{op}`) and its failures (`confab_store_errors_total{op,kind}`).
//!
//! A wrapper, not timers in the callers: every call is counted, whoever makes it (REST, sessions,
//! the hub's gap filling, receipts, retention), and the backends stay free of metrics. Its cost is
//! a clock read on each side of a call that already crosses a thread or the network.

use std::future::Future;
use std::time::Instant;

use async_trait::async_trait;
use confab_proto::api::HistoryPage;
use confab_proto::{
    ChannelId, ChannelSummary, Event, Member, ReadState, Receipt, Role, User, UserId,
};
use confab_store::{
    Appended, Credentials, Delivery, DirectChannel, HistoryQuery, NewMessage, Position, Result,
    Retention, SendRecord, Store, StoreError,
};

use super::label::label;
use super::Metered;

label! {
    /// What failed in a store call: the `kind` of `confab_store_errors_total`. (Refusals by the
    /// rules — not found, forbidden, conflict — are answers, not failures, and are not counted.)
    pub enum ErrorKind {
        /// The backend could not be reached; nothing was written; retryable.
        unavailable,
        /// The backend failed otherwise.
        backend,
    }
}

impl Metered<dyn Store> {
    async fn timed<T>(&self, op: StoreOp, call: impl Future<Output = Result<T>>) -> Result<T> {
        let started = Instant::now();
        let result = call.await;
        let error = match &result {
            Err(StoreError::Unavailable(_)) => Some(ErrorKind::unavailable),
            Err(StoreError::Backend(_)) => Some(ErrorKind::backend),
            _ => None,
        };
        self.metrics
            .store_call(op, started.elapsed().as_secs_f64(), error);
        result
    }
}

/// Declares [`StoreOp`] (one label value per method) and implements [`Store`] for the store it
/// wraps by timing each call.
macro_rules! metered {
    ($($op:ident($($arg:ident: $ty:ty),*) -> $ret:ty;)*) => {
        label! {
            /// A store operation: the `op` label of the store's metrics (its method's name).
            pub enum StoreOp { $($op,)* }
        }

        #[async_trait]
        impl Store for Metered<dyn Store> {
            $(
                async fn $op(&self, $($arg: $ty),*) -> Result<$ret> {
                    self.timed(StoreOp::$op, self.inner.$op($($arg),*)).await
                }
            )*

            async fn close(&self) {
                self.inner.close().await
            }
        }
    };
}

metered! {
    create_user(username: &str, password_hash: &str) -> User;
    credentials(username: &str) -> Option<Credentials>;
    user(id: UserId) -> Option<User>;
    users_by_prefix(prefix: &str, limit: u32) -> Vec<User>;
    users_by_name(usernames: &[String]) -> Vec<User>;
    insert_token(token_hash: &[u8], user: UserId) -> ();
    token_user(token_hash: &[u8]) -> Option<User>;
    delete_token(token_hash: &[u8]) -> bool;
    create_direct(a: UserId, b: UserId) -> DirectChannel;
    create_group(owner: UserId, name: &str, members: &[UserId], max_members: u32) -> Event;
    add_member(channel: ChannelId, actor: UserId, user: UserId, max_members: u32) -> Event;
    remove_member(channel: ChannelId, actor: UserId, user: UserId) -> Vec<Event>;
    set_role(channel: ChannelId, actor: UserId, user: UserId, role: Role) -> Event;
    append_message(channel: ChannelId, sender: UserId, client_id: &str, body: &str) -> Appended;
    append_messages(messages: Vec<NewMessage>) -> Vec<Result<Appended>>;
    find_send(sender: UserId, client_id: &str) -> Option<SendRecord>;
    member_role(channel: ChannelId, user: UserId) -> Option<Role>;
    members(channel: ChannelId) -> Vec<Member>;
    channels_of(user: UserId) -> Vec<ChannelSummary>;
    channel_of(channel: ChannelId, user: UserId) -> Option<ChannelSummary>;
    history(channel: ChannelId, query: HistoryQuery) -> HistoryPage;
    mark_read(channel: ChannelId, user: UserId, seq: u64) -> ReadState;
    mark_delivered(deliveries: &[Delivery]) -> Vec<(Receipt, u32)>;
    receipt(channel: ChannelId, user: UserId) -> Option<Receipt>;
    receipts(channel: ChannelId) -> Vec<Receipt>;
    receipts_since(user: UserId, since: i64, max_members: u32) -> Vec<Receipt>;
    positions(user: UserId) -> Vec<Position>;
    prune(retention: Retention) -> u64;
    touch_last_seen(user: UserId, ts: i64) -> ();
    last_seen(user: UserId) -> Option<i64>;
    contacts(user: UserId, max_members: u32) -> Vec<UserId>;
}
