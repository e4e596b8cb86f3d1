//! Receipts: read and delivered pointers that only move forward, unread counts, receipts since a
//! time, contacts, last seen, and positions.

use confab_proto::UserId;

use super::new_user;
use crate::{Delivery, Store, StoreError};

pub(super) async fn read_pointers_and_unread(store: &dyn Store, tag: &str) {
    let a = new_user(store, &format!("ra{tag}")).await;
    let b = new_user(store, &format!("rb{tag}")).await;
    let c = new_user(store, &format!("rc{tag}")).await;
    let ch = store
        .create_group(a, "r", &[b], 10)
        .await
        .expect("group")
        .channel_id;
    for n in 0..5 {
        store
            .append_message(ch, a, &format!("r{n}"), "x")
            .await
            .expect("send");
    }
    store
        .append_message(ch, b, "rb0", "mine")
        .await
        .expect("send");
    // A membership change is an event but does not count as unread.
    store.add_member(ch, a, c, 10).await.expect("add");
    let sb = store.channel_of(ch, b).await.expect("s").expect("member");
    assert_eq!(sb.last_seq, 8);
    assert_eq!(
        sb.unread, 5,
        "five messages from a; b's own and the join do not count"
    );
    let state = store.mark_read(ch, b, 4).await.expect("read");
    assert_eq!((state.read_seq, state.unread), (4, 2));
    // Never backwards, clamped to last_seq.
    assert_eq!(store.mark_read(ch, b, 2).await.expect("read").read_seq, 4);
    assert_eq!(
        store.mark_read(ch, b, 1_000).await.expect("read").read_seq,
        8
    );
    assert_eq!(
        store.channel_of(ch, b).await.expect("s").expect("m").unread,
        0
    );
    // The new member starts at its join: nothing before it is unread.
    assert_eq!(
        store.channel_of(ch, c).await.expect("s").expect("m").unread,
        0
    );
    assert!(matches!(
        store.mark_read(ch, UserId(42), 1).await,
        Err(StoreError::NotFound(_))
    ));
    let listed = store.channels_of(b).await.expect("list");
    assert!(listed.iter().any(|s| s.id == ch));
}

pub(super) async fn receipts_and_positions(store: &dyn Store, tag: &str) {
    let a = new_user(store, &format!("qa{tag}")).await;
    let b = new_user(store, &format!("qb{tag}")).await;
    let c = new_user(store, &format!("qc{tag}")).await;
    let small = store
        .create_group(a, "small", &[b, c], 10)
        .await
        .expect("group")
        .channel_id;
    let dm = store.create_direct(a, b).await.expect("dm").channel_id;
    for n in 0..4 {
        store
            .append_message(small, a, &format!("q{n}"), "x")
            .await
            .expect("send");
    }
    let start = store
        .receipt(small, b)
        .await
        .expect("receipt")
        .expect("member");
    assert_eq!(
        (start.delivered_seq, start.read_seq),
        (1, 1),
        "joining delivers and reads the creation"
    );

    // Delivered moves forward only, clamps to last_seq, ignores non-members, batches.
    let changed = store
        .mark_delivered(&[
            Delivery {
                channel_id: small,
                user_id: b,
                seq: 3,
            },
            Delivery {
                channel_id: small,
                user_id: c,
                seq: 99,
            },
            Delivery {
                channel_id: small,
                user_id: UserId(7),
                seq: 2,
            },
        ])
        .await
        .expect("delivered");
    assert_eq!(changed.len(), 2);
    assert_eq!(changed[1].0.delivered_seq, 5, "clamped to last_seq");
    assert_eq!(changed[1].1, 3, "with the member count");
    let again = store
        .mark_delivered(&[Delivery {
            channel_id: small,
            user_id: b,
            seq: 2,
        }])
        .await
        .expect("delivered");
    assert!(again.is_empty(), "never backwards");
    // Reading implies delivery.
    store.mark_read(small, c, 5).await.expect("read");
    store.mark_read(dm, b, 1).await.expect("read");
    let r = store.receipt(small, c).await.expect("r").expect("m");
    assert_eq!((r.delivered_seq, r.read_seq), (5, 5));
    assert!(r.ts > 0);
    assert_eq!(store.receipts(small).await.expect("all").len(), 3);

    // What `a` must be told since before the changes: b and c in `small`, b in the DM; never a's own.
    let since = store.receipts_since(a, start.ts, 10).await.expect("since");
    assert!(since.iter().all(|r| r.user_id != a));
    assert!(since
        .iter()
        .any(|r| r.channel_id == small && r.user_id == b && r.delivered_seq == 3));
    assert!(since.iter().any(|r| r.channel_id == dm && r.user_id == b));
    // Channels over the size limit are left out; nothing is newer than the newest change.
    assert!(store
        .receipts_since(a, start.ts, 2)
        .await
        .expect("since")
        .iter()
        .all(|r| r.channel_id == dm));
    let newest = since.iter().map(|r| r.ts).max().unwrap_or(0);
    assert!(store
        .receipts_since(a, newest + 1, 10)
        .await
        .expect("since")
        .is_empty());

    // Contacts: everyone sharing a small channel, once; not oneself; not big channels.
    let mut contacts = store.contacts(a, 10).await.expect("contacts");
    contacts.sort();
    let mut expected = vec![b, c];
    expected.sort();
    assert_eq!(contacts, expected);
    assert_eq!(
        store.contacts(a, 2).await.expect("contacts"),
        vec![b],
        "only the DM fits 2 members"
    );
    assert_eq!(store.last_seen(a).await.expect("seen"), None);
    store.touch_last_seen(a, 1234).await.expect("touch");
    assert_eq!(store.last_seen(a).await.expect("seen"), Some(1234));

    let positions = store.positions(a).await.expect("positions");
    let p = positions
        .iter()
        .find(|p| p.channel_id == small)
        .expect("small");
    assert_eq!(
        (p.last_seq, p.pruned_through, p.member_count, p.joined_seq),
        (5, 0, 3, 1)
    );
    assert_eq!(positions.len(), 2);
}
