//! The conformance suite every [`Store`] backend must pass.
//!
//! A backend's test opens a fresh, empty store and calls [`run`]. Each check uses its own users and
//! channels, so the checks also pass on a database shared with earlier runs (usernames get a
//! random-enough suffix).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use confab_proto::api::HistoryPage;
use confab_proto::{ChannelId, ChannelKind, EventBody, Role, UserId};

use crate::{Delivery, HistoryQuery, Retention, Store, StoreError};

/// Runs every check against `store`. Panics (with the check's name) on the first failure.
pub async fn run(store: Arc<dyn Store>) {
    let tag = format!("{:x}", crate::snowflake::now_ms() % 0xff_ffff);
    users_and_tokens(&*store, &tag).await;
    direct_channels_are_one_per_pair(&*store, &tag).await;
    groups_and_roles(&*store, &tag).await;
    seq_is_gapless_under_concurrent_senders(store.clone(), &tag).await;
    sends_are_idempotent(&*store, &tag).await;
    concurrent_bursts_keep_every_guarantee(store.clone(), &tag).await;
    history_pages(&*store, &tag).await;
    read_pointers_and_unread(&*store, &tag).await;
    retention_prunes_and_says_so(&*store, &tag).await;
    receipts_and_positions(&*store, &tag).await;
}

/// The newest `limit` events of `channel`.
async fn newest_page(store: &dyn Store, channel: ChannelId, limit: u32) -> HistoryPage {
    store
        .history(
            channel,
            HistoryQuery {
                limit,
                ..Default::default()
            },
        )
        .await
        .expect("history")
}

async fn user(store: &dyn Store, name: &str) -> UserId {
    store
        .create_user(name, "$argon2id$fake")
        .await
        .unwrap_or_else(|e| panic!("create_user {name}: {e}"))
        .id
}

async fn users_and_tokens(store: &dyn Store, tag: &str) {
    let name = format!("ann{tag}");
    let ann = store.create_user(&name, "hash").await.expect("create");
    assert!(
        matches!(
            store.create_user(&name, "x").await,
            Err(StoreError::Conflict(_))
        ),
        "duplicate username must conflict"
    );
    let creds = store
        .credentials(&name)
        .await
        .expect("creds")
        .expect("exists");
    assert_eq!(creds.user, ann);
    assert_eq!(creds.password_hash, "hash");
    assert_eq!(store.user(ann.id).await.expect("user"), Some(ann.clone()));
    let found = store
        .users_by_prefix(&format!("ann{tag}"), 10)
        .await
        .expect("prefix");
    assert_eq!(found, vec![ann.clone()]);
    assert!(store
        .users_by_prefix("zzzz-nobody", 10)
        .await
        .expect("prefix")
        .is_empty());
    let missing = store
        .users_by_name(&[name.clone(), "nobody-at-all".into()])
        .await;
    assert!(matches!(missing, Err(StoreError::NotFound(_))));

    let hash = format!("token-{tag}").into_bytes();
    store.insert_token(&hash, ann.id).await.expect("token");
    assert_eq!(
        store.token_user(&hash).await.expect("lookup"),
        Some(ann.clone())
    );
    assert!(store.delete_token(&hash).await.expect("delete"));
    assert!(!store.delete_token(&hash).await.expect("delete again"));
    assert_eq!(store.token_user(&hash).await.expect("lookup"), None);
}

async fn direct_channels_are_one_per_pair(store: &dyn Store, tag: &str) {
    let a = user(store, &format!("da{tag}")).await;
    let b = user(store, &format!("db{tag}")).await;
    let first = store.create_direct(a, b).await.expect("direct");
    let created = first.created.expect("new channel has an event");
    assert_eq!(created.seq, 1);
    assert!(matches!(
        created.body,
        EventBody::ChannelCreated {
            kind: ChannelKind::Direct,
            ..
        }
    ));
    let again = store.create_direct(b, a).await.expect("direct again");
    assert_eq!(again.channel_id, first.channel_id);
    assert!(again.created.is_none());
    assert!(matches!(
        store.create_direct(a, a).await,
        Err(StoreError::Invalid(_))
    ));
    let summary = store
        .channel_of(first.channel_id, a)
        .await
        .expect("summary")
        .expect("member");
    assert_eq!(summary.peer.expect("peer").id, b);
    assert_eq!(summary.member_count, 2);
    // Membership of a direct channel is fixed.
    let c = user(store, &format!("dc{tag}")).await;
    assert!(matches!(
        store.add_member(first.channel_id, a, c, 100).await,
        Err(StoreError::Invalid(_))
    ));
}

async fn groups_and_roles(store: &dyn Store, tag: &str) {
    let owner = user(store, &format!("go{tag}")).await;
    let m1 = user(store, &format!("gm1{tag}")).await;
    let m2 = user(store, &format!("gm2{tag}")).await;
    let m3 = user(store, &format!("gm3{tag}")).await;
    let created = store
        .create_group(owner, "team", &[m1, m1, m2], 4)
        .await
        .expect("group");
    let ch = created.channel_id;
    assert_eq!(
        store.member_role(ch, owner).await.expect("role"),
        Some(Role::Owner)
    );
    assert_eq!(store.members(ch).await.expect("members").len(), 3);
    assert!(matches!(
        store.create_group(owner, "big", &[m1, m2, m3], 3).await,
        Err(StoreError::LimitExceeded(_))
    ));

    // A plain member may not add; the owner may; the limit holds.
    assert!(matches!(
        store.add_member(ch, m1, m3, 4).await,
        Err(StoreError::Forbidden(_))
    ));
    let added = store.add_member(ch, owner, m3, 4).await.expect("add");
    assert_eq!(added.seq, 2);
    assert!(matches!(
        store.add_member(ch, owner, m3, 4).await,
        Err(StoreError::Conflict(_))
    ));
    let extra = user(store, &format!("gx{tag}")).await;
    assert!(matches!(
        store.add_member(ch, owner, extra, 4).await,
        Err(StoreError::LimitExceeded(_))
    ));

    // Roles: only the owner promotes; an admin removes plain members but not admins.
    assert!(matches!(
        store.set_role(ch, m1, m2, Role::Admin).await,
        Err(StoreError::Forbidden(_))
    ));
    store
        .set_role(ch, owner, m1, Role::Admin)
        .await
        .expect("promote");
    store
        .set_role(ch, owner, m2, Role::Admin)
        .await
        .expect("promote");
    assert!(matches!(
        store.remove_member(ch, m1, m2).await,
        Err(StoreError::Forbidden(_))
    ));
    store
        .set_role(ch, owner, m2, Role::Member)
        .await
        .expect("demote");
    let removed = store
        .remove_member(ch, m1, m2)
        .await
        .expect("admin removes member");
    assert!(matches!(removed[0].body, EventBody::MemberRemoved { ref user } if user.id == m2));
    assert_eq!(store.member_role(ch, m2).await.expect("role"), None);

    // The owner leaves: the admin inherits.
    let left = store.remove_member(ch, owner, owner).await.expect("leave");
    assert!(matches!(left[0].body, EventBody::MemberLeft));
    assert!(
        matches!(left[1].body, EventBody::RoleChanged { ref user, role: Role::Owner } if user.id == m1)
    );
    assert_eq!(left[1].seq, left[0].seq + 1);
    assert_eq!(
        store.member_role(ch, m1).await.expect("role"),
        Some(Role::Owner)
    );
    let summary = store
        .channel_of(ch, m1)
        .await
        .expect("summary")
        .expect("member");
    assert_eq!(summary.member_count, 2);
    assert_eq!(summary.last_seq, left[1].seq);
}

async fn seq_is_gapless_under_concurrent_senders(store: Arc<dyn Store>, tag: &str) {
    let owner = user(&*store, &format!("so{tag}")).await;
    let mut senders = vec![owner];
    for i in 0..4 {
        senders.push(user(&*store, &format!("s{i}x{tag}")).await);
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

async fn sends_are_idempotent(store: &dyn Store, tag: &str) {
    let a = user(store, &format!("ia{tag}")).await;
    let b = user(store, &format!("ib{tag}")).await;
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

    let stranger = user(store, &format!("ic{tag}")).await;
    assert!(matches!(
        store.append_message(ch, stranger, "x", "intrude").await,
        Err(StoreError::Forbidden(_))
    ));
}

/// Many sends at once (as group commit batches them): several channels, every message sent twice
/// concurrently, and a stranger among the senders. Each channel stays gapless, each repeat gets the
/// original record and stores nothing, the stranger is refused, and history holds every message
/// once with its author.
async fn concurrent_bursts_keep_every_guarantee(store: Arc<dyn Store>, tag: &str) {
    let owner = user(&*store, &format!("bo{tag}")).await;
    let member = user(&*store, &format!("bm{tag}")).await;
    let stranger = user(&*store, &format!("bs{tag}")).await;
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

async fn history_pages(store: &dyn Store, tag: &str) {
    let a = user(store, &format!("ha{tag}")).await;
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
    let older = store
        .history(
            ch,
            HistoryQuery {
                before: Some(17),
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .expect("h");
    assert_eq!(older.events.first().map(|e| e.seq), Some(7));
    assert_eq!(older.events.last().map(|e| e.seq), Some(16));
    let oldest = store
        .history(
            ch,
            HistoryQuery {
                before: Some(7),
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .expect("h");
    assert_eq!(oldest.events.len(), 6);
    assert!(!oldest.has_more);
    assert!(!oldest.truncated, "nothing was pruned");
    // Forward from a cursor, and a closed range.
    let fwd = store
        .history(
            ch,
            HistoryQuery {
                after: Some(20),
                limit: 3,
                ..Default::default()
            },
        )
        .await
        .expect("h");
    assert_eq!(
        fwd.events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![21, 22, 23]
    );
    assert!(fwd.has_more);
    let range = store
        .history(
            ch,
            HistoryQuery {
                after: Some(20),
                before: Some(23),
                limit: 50,
            },
        )
        .await
        .expect("h");
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

async fn read_pointers_and_unread(store: &dyn Store, tag: &str) {
    let a = user(store, &format!("ra{tag}")).await;
    let b = user(store, &format!("rb{tag}")).await;
    let c = user(store, &format!("rc{tag}")).await;
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

async fn retention_prunes_and_says_so(store: &dyn Store, tag: &str) {
    let a = user(store, &format!("pa{tag}")).await;
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
    let page = store
        .history(
            ch,
            HistoryQuery {
                after: Some(0),
                limit: 100,
                ..Default::default()
            },
        )
        .await
        .expect("h");
    assert_eq!(page.pruned_through, 21);
    assert!(page.truncated, "asking from seq 0 reaches past the horizon");
    assert_eq!(page.events.first().map(|e| e.seq), Some(22));
    assert_eq!(page.events.len(), 10);
    // Paging back below the horizon says so too.
    let below = store
        .history(
            ch,
            HistoryQuery {
                before: Some(10),
                limit: 100,
                ..Default::default()
            },
        )
        .await
        .expect("h");
    assert!(below.events.is_empty() && below.truncated);
    let newer = store
        .history(
            ch,
            HistoryQuery {
                after: Some(25),
                limit: 100,
                ..Default::default()
            },
        )
        .await
        .expect("h");
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

async fn receipts_and_positions(store: &dyn Store, tag: &str) {
    let a = user(store, &format!("qa{tag}")).await;
    let b = user(store, &format!("qb{tag}")).await;
    let c = user(store, &format!("qc{tag}")).await;
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
