//! What the backends' migration tests share: the data an older version stored, and the checks
//! that the current version reads it right.

use confab_proto::{ChannelId, UserId};
use confab_store::Store;

/// Data as schema version 3 stored it (see `fixtures/v3_data.sql`).
pub const V3_DATA: &str = include_str!("fixtures/v3_data.sql");

/// After the ordinals migration: counts of the old messages, and new messages counted on from them.
pub async fn ordinals_cover_what_was_stored_before(store: &dyn Store) {
    let group = ChannelId(100);
    let [alice, bob, carol] = [UserId(1), UserId(2), UserId(3)];
    let unread = |user| async move {
        store
            .channel_of(group, user)
            .await
            .expect("s")
            .expect("member")
            .unread
    };
    // alice read 1: 3 (bob), 6 (bob), 7 (carol); bob read 3: 5, 7, 8; carol read 4: 5, 6, 8.
    assert_eq!(unread(alice).await, 3);
    assert_eq!(unread(bob).await, 3);
    assert_eq!(unread(carol).await, 3);
    store
        .append_message(group, bob, "new", "x")
        .await
        .expect("send");
    assert_eq!(unread(alice).await, 4);
    assert_eq!(unread(bob).await, 3, "one's own message is never unread");
    assert_eq!(unread(carol).await, 4);
    assert_eq!(
        store.mark_read(group, carol, 8).await.expect("read").unread,
        1
    );
}
