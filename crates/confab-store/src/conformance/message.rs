//! Sending: `seq` gapless and increasing under concurrent senders, idempotent sends, members
//! only, and every guarantee at once under bursts (as group commit batches them).

use std::collections::HashSet;
use std::sync::Arc;

use confab_proto::EventBody;

use super::{new_user, newest_page};
use crate::{NewMessage, Store, StoreError};

pub(super) async fn seq_is_gapless_under_concurrent_senders(store: Arc<dyn Store>, tag: &str) {
    let owner = new_user(&*store, &format!("so{tag}")).await;
    let mut senders = vec![owner];
    for i in 0..4 {
        senders.push(new_user(&*store, &format!("s{i}x{tag}")).await);
    }
    let ch = store
        .create_group(owner, "seq", &senders, 100)
        .await
        .expect("group")
        .channel_id;
    let mut tasks = Vec::new();
    for (i, sender) in senders.iter().copied().enumerate() {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut seqs = Vec::new();
            for n in 0..40 {
                let out = store
                    .append_message(ch, sender, &format!("c{i}-{n}"), "hi")
                    .await
                    .expect("append");
                seqs.push(out.record.seq);
            }
            seqs
        }));
    }
    let mut all = HashSet::new();
    for t in tasks {
        let seqs = t.await.expect("join");
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "one sender's seqs increase"
        );
        all.extend(seqs);
    }
    // seq 1 is channel_created; the 200 messages take 2..=201 with no gap and no repeat.
    assert_eq!(all.len(), 200);
    assert_eq!(all, (2..=201).collect::<HashSet<u64>>());
}

pub(super) async fn sends_are_idempotent(store: &dyn Store, tag: &str) {
    let a = new_user(store, &format!("ia{tag}")).await;
    let b = new_user(store, &format!("ib{tag}")).await;
    let ch = store.create_direct(a, b).await.expect("direct").channel_id;
    let first = store
        .append_message(ch, a, "same", "hello")
        .await
        .expect("send");
    assert!(first.event.is_some());
    let again = store
        .append_message(ch, a, "same", "hello again")
        .await
        .expect("resend");
    assert!(again.event.is_none(), "a duplicate stores nothing");
    assert_eq!(again.record, first.record);
    // The same client id from another sender is a different message.
    let other = store
        .append_message(ch, b, "same", "hi")
        .await
        .expect("other sender");
    assert_eq!(other.record.seq, first.record.seq + 1);
    let page = newest_page(store, ch, 50).await;
    assert_eq!(page.events.len(), 3, "created + two messages");

    let stranger = new_user(store, &format!("ic{tag}")).await;
    assert!(matches!(
        store.append_message(ch, stranger, "x", "intrude").await,
        Err(StoreError::Forbidden(_))
    ));
}

/// Many sends at once (as group commit batches them): several channels, every message sent twice
/// concurrently, and a stranger among the senders. Each channel stays gapless, each repeat gets the
/// original record and stores nothing, the stranger is refused, and history holds every message
/// once with its author.
pub(super) async fn concurrent_bursts_keep_every_guarantee(store: Arc<dyn Store>, tag: &str) {
    let owner = new_user(&*store, &format!("bo{tag}")).await;
    let member = new_user(&*store, &format!("bm{tag}")).await;
    let stranger = new_user(&*store, &format!("bs{tag}")).await;
    let mut channels = Vec::new();
    for name in ["b1", "b2", "b3"] {
        let ch = store
            .create_group(owner, name, &[member], 100)
            .await
            .expect("group")
            .channel_id;
        channels.push(ch);
    }
    let mut tasks = Vec::new();
    for n in 0..60u32 {
        for copy in 0..2 {
            let store = store.clone();
            let ch = channels[n as usize % channels.len()];
            let sender = if n.is_multiple_of(2) { owner } else { member };
            tasks.push(tokio::spawn(async move {
                let body = format!("burst {n} copy {copy}");
                let out = store
                    .append_message(ch, sender, &format!("burst-{n}"), &body)
                    .await
                    .expect("append");
                (n, Some(out))
            }));
        }
        if n.is_multiple_of(10) {
            let store = store.clone();
            let ch = channels[0];
            tasks.push(tokio::spawn(async move {
                let refused = store.append_message(ch, stranger, "x", "intrude").await;
                assert!(
                    matches!(refused, Err(StoreError::Forbidden(_))),
                    "a stranger's send in a burst is refused: {refused:?}"
                );
                (u32::MAX, None)
            }));
        }
    }
    let mut by_message: std::collections::HashMap<u32, Vec<crate::Appended>> = Default::default();
    for t in tasks {
        let (n, out) = t.await.expect("join");
        if let Some(out) = out {
            by_message.entry(n).or_default().push(out);
        }
    }
    assert_eq!(by_message.len(), 60);
    for (n, outs) in &by_message {
        assert_eq!(outs.len(), 2);
        assert_eq!(
            outs[0].record, outs[1].record,
            "both copies of {n} get one record"
        );
        let stored = outs.iter().filter(|o| o.event.is_some()).count();
        assert_eq!(stored, 1, "message {n} is stored once");
    }
    for ch in channels {
        let page = newest_page(&*store, ch, 100).await;
        let seqs: Vec<u64> = page.events.iter().map(|e| e.seq).collect();
        // The creation event, then 20 messages, in one gapless sequence.
        assert_eq!(seqs, (1..=page.last_seq).collect::<Vec<_>>(), "gapless");
        let messages: Vec<_> = page
            .events
            .iter()
            .filter_map(|e| match &e.body {
                EventBody::Message { body, client_id } => Some((e, body, client_id)),
                _ => None,
            })
            .collect();
        assert_eq!(messages.len(), 20, "every message once");
        for (event, body, client_id) in messages {
            let n: u32 = client_id
                .strip_prefix("burst-")
                .and_then(|n| n.parse().ok())
                .expect("a burst message");
            assert!(body.starts_with(&format!("burst {n} copy ")));
            let expected = if n.is_multiple_of(2) { owner } else { member };
            assert_eq!(event.author.id, expected);
            assert!(!event.author.username.is_empty());
            let record = &by_message[&n][0].record;
            assert_eq!((record.seq, record.id), (event.seq, event.id));
        }
    }
}

/// `append_messages`: one transaction, each message under the rules of a send, with its own outcome.
pub(super) async fn a_batch_of_appends_keeps_each_outcome(store: &dyn Store, tag: &str) {
    let a = new_user(store, &format!("bulka{tag}")).await;
    let b = new_user(store, &format!("bulkb{tag}")).await;
    let stranger = new_user(store, &format!("bulks{tag}")).await;
    let ch = store.create_direct(a, b).await.expect("direct").channel_id;
    let draft = |sender, client_id: &str| NewMessage {
        channel: ch,
        sender,
        client_id: client_id.to_owned(),
        body: format!("body of {client_id}"),
    };
    let outcomes = store
        .append_messages(vec![
            draft(a, "one"),
            draft(b, "two"),
            draft(stranger, "intruder"),
            // A repeat of a send earlier in the same batch gets that one's record.
            draft(a, "one"),
            draft(a, "three"),
        ])
        .await
        .expect("the batch commits");
    assert_eq!(outcomes.len(), 5);
    let seq = |i: usize| match &outcomes[i] {
        Ok(appended) => appended.record.seq,
        Err(e) => panic!("message {i} refused: {e}"),
    };
    // seq 1 is channel_created; the three stored messages take 2, 3, 4 in the batch's order.
    assert_eq!((seq(0), seq(1), seq(4)), (2, 3, 4));
    assert!(
        matches!(outcomes[2], Err(StoreError::Forbidden(_))),
        "a non-member's message is refused: {:?}",
        outcomes[2]
    );
    assert_eq!(seq(3), 2, "the repeat gets the original record");
    assert!(outcomes[3].as_ref().expect("repeat").event.is_none());
    let page = newest_page(store, ch, 10).await;
    let bodies: Vec<String> = page
        .events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::Message { body, .. } => Some(body.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(bodies, ["body of one", "body of two", "body of three"]);
    // The counts follow the ordinals kept in the same transaction.
    let read = store.mark_read(ch, b, 2).await.expect("mark read");
    assert_eq!(
        read.unread, 1,
        "b has read one, wrote one, and a's third is unread"
    );
}
