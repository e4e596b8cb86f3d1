//! What the backends' migration tests share: the data an older version stored, and the checks
//! that the current version reads it right.

use confab_proto::{ChannelId, UserId};
use confab_store::{AdminStore, Retention, Store};

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

/// A group with a retention horizon (events 1-2 pruned, 3-7 kept) that the check finds sound;
/// returns it, and the SQL (the same in both dialects) that damages it: two kept events deleted
/// (the first above the horizon and one in the middle), and a wrong member count.
pub async fn store_to_damage(store: &dyn AdminStore) -> (ChannelId, Vec<String>) {
    let a = store.create_user("dmg-a", "h").await.expect("user").id;
    let b = store.create_user("dmg-b", "h").await.expect("user").id;
    let ch = store
        .create_group(a, "damaged", &[b], 10)
        .await
        .expect("group")
        .channel_id;
    for i in 0..6 {
        store
            .append_message(ch, a, &format!("m{i}"), "x")
            .await
            .expect("send");
    }
    let pruned = store
        .prune(Retention {
            max_age: None,
            max_events: Some(5),
        })
        .await
        .expect("prune");
    assert_eq!(pruned, 2);
    let problems = store.check().await.expect("check");
    assert!(problems.is_empty(), "sound after pruning: {problems:#?}");
    let id = ch.0;
    let damage = vec![
        format!("DELETE FROM events WHERE channel_id = {id} AND seq IN (3, 5)"),
        format!("UPDATE channels SET member_count = 9 WHERE id = {id}"),
    ];
    (ch, damage)
}

/// What the check says about the damage [`store_to_damage`] made: every gap, the counts.
pub async fn damage_is_reported(store: &dyn AdminStore, ch: ChannelId) {
    let problems = store.check().await.expect("check");
    let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
    let has = |kind: &str, text: &str| {
        problems
            .iter()
            .any(|p| p.kind == kind && p.channel_id == Some(ch) && p.detail.contains(text))
    };
    assert!(has("seq_gap", "seq 3 is missing"), "{lines:#?}");
    assert!(has("seq_gap", "seq 5 is missing"), "{lines:#?}");
    assert!(has("member_count", "is 9 but 2"), "{lines:#?}");
    assert!(has("msg_ord", "before it is number"), "{lines:#?}");
    assert!(
        problems.iter().all(|p| p.channel_id == Some(ch)),
        "nothing else: {lines:#?}"
    );
}
