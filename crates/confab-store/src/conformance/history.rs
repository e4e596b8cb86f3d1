//! History: pages forward and back, and retention that prunes old events, says so, and keeps
//! idempotency records.

use std::time::Duration;

use confab_proto::ChannelId;

use super::{after, before, new_user, newest_page, page};
use crate::{HistoryQuery, Retention, Store, StoreError};

pub(super) async fn history_pages(store: &dyn Store, tag: &str) {
    let a = new_user(store, &format!("ha{tag}")).await;
    let ch = store
        .create_group(a, "h", &[], 10)
        .await
        .expect("group")
        .channel_id;
    for n in 0..25 {
        store
            .append_message(ch, a, &format!("h{n}"), &format!("m{n}"))
            .await
            .expect("send");
    }
    // Newest page.
    let newest = newest_page(store, ch, 10).await;
    let seqs: Vec<u64> = newest.events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (17..=26).collect::<Vec<_>>());
    assert!(newest.has_more);
    assert_eq!(newest.last_seq, 26);
    // Back from there.
    let older = page(store, ch, before(17, 10)).await;
    assert_eq!(older.events.first().map(|e| e.seq), Some(7));
    assert_eq!(older.events.last().map(|e| e.seq), Some(16));
    let oldest = page(store, ch, before(7, 10)).await;
    assert_eq!(oldest.events.len(), 6);
    assert!(!oldest.has_more);
    assert!(!oldest.truncated, "nothing was pruned");
    // Forward from a cursor, and a closed range.
    let fwd = page(store, ch, after(20, 3)).await;
    assert_eq!(
        fwd.events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![21, 22, 23]
    );
    assert!(fwd.has_more);
    let range = page(
        store,
        ch,
        HistoryQuery {
            after: Some(20),
            ..before(23, 50)
        },
    )
    .await;
    assert_eq!(
        range.events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![21, 22]
    );
    assert!(!range.has_more);
    assert!(matches!(
        store
            .history(
                ChannelId(1),
                HistoryQuery {
                    limit: 5,
                    ..Default::default()
                }
            )
            .await,
        Err(StoreError::NotFound(_))
    ));
}

pub(super) async fn retention_prunes_and_says_so(store: &dyn Store, tag: &str) {
    let a = new_user(store, &format!("pa{tag}")).await;
    let ch = store
        .create_group(a, "p", &[], 10)
        .await
        .expect("group")
        .channel_id;
    for n in 0..30 {
        store
            .append_message(ch, a, &format!("p{n}"), "x")
            .await
            .expect("send");
    }
    store
        .prune(Retention {
            max_age: None,
            max_events: Some(10),
        })
        .await
        .expect("prune");
    let kept = page(store, ch, after(0, 100)).await;
    assert_eq!(kept.pruned_through, 21);
    assert!(kept.truncated, "asking from seq 0 reaches past the horizon");
    assert_eq!(kept.events.first().map(|e| e.seq), Some(22));
    assert_eq!(kept.events.len(), 10);
    // Paging back below the horizon says so too.
    let below = page(store, ch, before(10, 100)).await;
    assert!(below.events.is_empty() && below.truncated);
    let newer = page(store, ch, after(25, 100)).await;
    assert!(!newer.truncated);
    // A pruned message's idempotency record survives: the retry gets its original ack.
    let again = store
        .append_message(ch, a, "p0", "x")
        .await
        .expect("resend");
    assert!(again.event.is_none());
    assert_eq!(again.record.seq, 2);

    // Age-based: everything older than a moment ago goes.
    tokio::time::sleep(Duration::from_millis(20)).await;
    store
        .prune(Retention {
            max_age: Some(Duration::from_millis(5)),
            max_events: None,
        })
        .await
        .expect("prune by age");
    let page = newest_page(store, ch, 100).await;
    assert!(page.events.is_empty());
    assert_eq!(page.pruned_through, 31);
    assert!(page.truncated);
    // New messages continue the sequence.
    let next = store
        .append_message(ch, a, "after-prune", "y")
        .await
        .expect("send");
    assert_eq!(next.record.seq, 32);
}
