//! The conformance suite every [`Store`] backend must pass.
//!
//! A backend's test opens a fresh, empty store and calls [`run`]. Each check uses its own users and
//! channels, so the checks also pass on a database shared with earlier runs (usernames get a
//! random-enough suffix). The checks live one file per area of the store; this file runs them and
//! holds the helpers they share.

mod admin;
mod channel;
mod count;
mod history;
mod message;
mod receipt;
mod user;

use std::sync::Arc;

use confab_proto::api::HistoryPage;
use confab_proto::{ChannelId, UserId};

use crate::{AdminStore, HistoryQuery, Store};

/// Runs every check against `store`. Panics (with the check's name) on the first failure.
pub async fn run(store: Arc<dyn Store>) {
    let tag = format!("{:x}", crate::snowflake::now_ms() % 0xff_ffff);
    user::users_and_tokens(&*store, &tag).await;
    channel::direct_channels_are_one_per_pair(&*store, &tag).await;
    channel::groups_and_roles(&*store, &tag).await;
    message::seq_is_gapless_under_concurrent_senders(store.clone(), &tag).await;
    message::sends_are_idempotent(&*store, &tag).await;
    message::a_batch_of_appends_keeps_each_outcome(&*store, &tag).await;
    message::concurrent_bursts_keep_every_guarantee(store.clone(), &tag).await;
    history::history_pages(&*store, &tag).await;
    receipt::read_pointers_and_unread(&*store, &tag).await;
    history::retention_prunes_and_says_so(&*store, &tag).await;
    receipt::receipts_and_positions(&*store, &tag).await;
    // Last: it prunes every channel of the store.
    count::unread_counts_stay_exact(&*store, &tag).await;
}

/// Runs every check of [`run`], then the administrator's ([`AdminStore`]) on the same store, and
/// last the integrity check over everything they left (retention included): it must find nothing.
pub async fn run_with_admin(store: Arc<dyn AdminStore>) {
    run(store.clone()).await;
    let tag = format!("{:x}", crate::snowflake::now_ms() % 0xff_ffff);
    admin::users_disable_and_tokens(&*store, &tag).await;
    admin::deleting_a_user_keeps_seqs_gapless(&*store, &tag).await;
    admin::channels_listed_inspected_deleted(&*store, &tag).await;
    admin::the_check_finds_nothing_wrong(&*store).await;
}

/// A page of `channel`'s history.
pub(super) async fn page(
    store: &dyn Store,
    channel: ChannelId,
    query: HistoryQuery,
) -> HistoryPage {
    store.history(channel, query).await.expect("history")
}

/// The newest `limit` events of `channel`.
pub(super) async fn newest_page(store: &dyn Store, channel: ChannelId, limit: u32) -> HistoryPage {
    let query = HistoryQuery {
        limit,
        ..Default::default()
    };
    page(store, channel, query).await
}

/// At most `limit` events with `seq > after`, oldest first.
pub(super) fn after(after: u64, limit: u32) -> HistoryQuery {
    HistoryQuery {
        after: Some(after),
        before: None,
        limit,
    }
}

/// At most `limit` of the newest events with `seq < before`.
pub(super) fn before(before: u64, limit: u32) -> HistoryQuery {
    HistoryQuery {
        after: None,
        before: Some(before),
        limit,
    }
}

/// A new user named `name`.
pub(super) async fn new_user(store: &dyn Store, name: &str) -> UserId {
    store
        .create_user(name, "$argon2id$fake")
        .await
        .unwrap_or_else(|e| panic!("create_user {name}: {e}"))
        .id
}
