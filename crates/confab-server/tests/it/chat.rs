//! Conversations: direct and group chat, fan-out and ordering, idempotency, membership, offline.

use std::collections::HashMap;

use confab_client::http::HistoryQuery;
use confab_client::ClientEvent;
use confab_proto::{ChannelKind, EventBody};
use confab_testkit::push::{next_event, next_push, quiet};
use confab_testkit::server::TestServer;

fn body(event: &confab_proto::Event) -> &str {
    match &event.body {
        EventBody::Message { body, .. } => body,
        other => panic!("expected a message, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_chat_both_ways() {
    let server = TestServer::start().await;
    let (alice, alice_token, alice_user) = server.user("alice").await;
    let (_bob, bob_token, bob_user) = server.user("bob").await;
    let dm = alice.create_direct("Bob").await.expect("create dm");
    assert_eq!(dm.kind, ChannelKind::Direct);
    assert_eq!(dm.peer.as_ref().map(|p| p.id), Some(bob_user.id));
    assert_eq!(
        alice.create_direct("bob").await.expect("again").id,
        dm.id,
        "one per pair"
    );

    let (a, mut a_events) = server.connect(&alice_token).await;
    let (b, mut b_events) = server.connect(&bob_token).await;
    assert!(b
        .ready()
        .channels
        .iter()
        .any(|c| c.id == dm.id && c.last_seq == 1));

    let ack = a.send(dm.id, "hi bob").await.expect("send");
    assert_eq!(ack.seq, 2);
    for events in [&mut a_events, &mut b_events] {
        let e = next_event(events).await;
        assert_eq!((e.seq, body(&e)), (2, "hi bob"));
        assert_eq!(e.author.id, alice_user.id);
        assert_eq!(e.id, ack.id);
    }
    let ack = b.send(dm.id, "hi alice").await.expect("send");
    assert_eq!(ack.seq, 3);
    for events in [&mut a_events, &mut b_events] {
        let e = next_event(events).await;
        assert_eq!((e.seq, body(&e)), (3, "hi alice"));
    }
    // Ids are time-ordered.
    let page = alice
        .history(dm.id, HistoryQuery::default())
        .await
        .expect("history");
    assert!(page
        .events
        .windows(2)
        .all(|w| w[0].id < w[1].id && w[0].ts <= w[1].ts));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_of_50_gets_every_message_once_and_in_order() {
    const MEMBERS: usize = 50;
    const SENDERS: usize = 5;
    const PER_SENDER: usize = 200;
    let server = TestServer::start().await;
    let mut users = Vec::new();
    for i in 0..MEMBERS {
        users.push(server.user(&format!("member{i:02}")).await);
    }
    let names: Vec<String> = users[1..].iter().map(|u| u.2.username.clone()).collect();
    let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let group = users[0]
        .0
        .create_group("fifty", &name_refs)
        .await
        .expect("group");
    assert_eq!(group.member_count as usize, MEMBERS);

    // Every member connects; the first five members have a second device too.
    let mut sessions = Vec::new();
    for (i, (_, token, _)) in users.iter().enumerate() {
        sessions.push(server.connect(token).await);
        if i < 5 {
            sessions.push(server.connect(token).await);
        }
    }
    let senders: Vec<_> = (0..SENDERS).map(|i| sessions[i * 2].0.clone()).collect();
    let mut tasks = Vec::new();
    for (s, client) in senders.into_iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            for n in 0..PER_SENDER {
                client
                    .send(group.id, &format!("s{s}-{n}"))
                    .await
                    .expect("send");
            }
        }));
    }
    let receivers: Vec<_> = sessions
        .into_iter()
        .map(|(client, mut events)| {
            tokio::spawn(async move {
                let mut seqs = Vec::with_capacity(SENDERS * PER_SENDER);
                let mut per_sender: HashMap<String, Vec<usize>> = HashMap::new();
                while seqs.len() < SENDERS * PER_SENDER {
                    let e = next_event(&mut events).await;
                    let text = body(&e).to_owned();
                    let (who, n) = text.split_once('-').expect("s-n");
                    per_sender
                        .entry(who.to_owned())
                        .or_default()
                        .push(n.parse().expect("n"));
                    seqs.push(e.seq);
                }
                quiet(&mut events).await;
                drop(client);
                (seqs, per_sender)
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("sender");
    }
    assert_eq!(receivers.len(), MEMBERS + 5);
    for r in receivers {
        let (seqs, per_sender) = r.await.expect("receiver");
        // seq 1 is the group's creation; messages are 2..=1001, each once, in order, no gap.
        assert_eq!(
            seqs,
            (2..=1 + (SENDERS * PER_SENDER) as u64).collect::<Vec<_>>()
        );
        for (who, ns) in per_sender {
            assert_eq!(
                ns,
                (0..PER_SENDER).collect::<Vec<_>>(),
                "{who}'s messages in send order"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resend_stores_once_and_returns_the_same_ack_over_socket_and_http() {
    let server = TestServer::start().await;
    let (alice, token, _) = server.user("alice").await;
    server.user("bob").await;
    let dm = alice.create_direct("bob").await.expect("dm");
    let (client, _events) = server.connect(&token).await;
    let first = client
        .send_with_id(dm.id, "retry-me", "once")
        .await
        .expect("send");
    let again = client
        .send_with_id(dm.id, "retry-me", "once")
        .await
        .expect("resend");
    let over_http = alice
        .send(dm.id, "retry-me", "once")
        .await
        .expect("http resend");
    for ack in [&again, &over_http] {
        assert_eq!(
            (ack.id, ack.seq, ack.ts, &ack.client_id),
            (first.id, first.seq, first.ts, &first.client_id)
        );
    }
    // And the other way round: first over HTTP, then over the socket.
    let http_first = alice
        .send(dm.id, "http-first", "twice?")
        .await
        .expect("http");
    let socket_again = client
        .send_with_id(dm.id, "http-first", "twice?")
        .await
        .expect("ws");
    assert_eq!(
        (socket_again.id, socket_again.seq),
        (http_first.id, http_first.seq)
    );

    let page = alice
        .history(dm.id, HistoryQuery::default())
        .await
        .expect("history");
    let messages = page
        .events
        .iter()
        .filter(|e| matches!(e.body, EventBody::Message { .. }))
        .count();
    assert_eq!(messages, 2, "two distinct client ids, two messages");
    assert_eq!(page.last_seq, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offline_member_finds_messages_in_history_and_unread() {
    let server = TestServer::start().await;
    let (alice, token, _) = server.user("alice").await;
    let (bob, _, _) = server.user("bob").await;
    server.user("carol").await;
    let group = alice
        .create_group("trio", &["bob", "carol"])
        .await
        .expect("group");
    let (client, _events) = server.connect(&token).await;
    for n in 0..7 {
        client
            .send(group.id, &format!("while you were out {n}"))
            .await
            .expect("send");
    }
    let listed = bob.channels().await.expect("channels");
    let summary = listed.iter().find(|c| c.id == group.id).expect("listed");
    assert_eq!(
        (summary.last_seq, summary.read_seq, summary.unread),
        (8, 1, 7)
    );
    let page = bob
        .history(
            group.id,
            HistoryQuery {
                after: Some(summary.read_seq),
                ..Default::default()
            },
        )
        .await
        .expect("history");
    assert_eq!(page.events.len(), 7);
    assert_eq!(body(&page.events[6]), "while you were out 6");
    let read = bob.mark_read(group.id, 5).await.expect("read");
    assert_eq!((read.read_seq, read.unread), (5, 3));
    // Alice's own messages never count as unread for her.
    assert_eq!(alice.channel(group.id).await.expect("channel").unread, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_pointers_reach_every_device() {
    let server = TestServer::start().await;
    let (alice, token, _) = server.user("alice").await;
    server.user("bob").await;
    let dm = alice.create_direct("bob").await.expect("dm");
    let (phone, mut phone_events) = server.connect(&token).await;
    let (_laptop, mut laptop_events) = server.connect(&token).await;
    phone.mark_read(dm.id, 1).await.expect("read");
    for events in [&mut phone_events, &mut laptop_events] {
        match next_push(events).await {
            ClientEvent::ReadState(r) => {
                assert_eq!((r.channel_id, r.read_seq, r.unread), (dm.id, 1, 0))
            }
            other => panic!("expected read_state, got {other:?}"),
        }
    }
    alice.mark_read(dm.id, 1).await.expect("over http too");
    assert!(matches!(
        next_push(&mut laptop_events).await,
        ClientEvent::ReadState(_)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn membership_changes_are_events_and_move_subscriptions() {
    let server = TestServer::start().await;
    let (alice, a_token, _) = server.user("alice").await;
    let (bob, b_token, bob_user) = server.user("bob").await;
    let (carol, c_token, carol_user) = server.user("carol").await;
    let group = alice.create_group("team", &["bob"]).await.expect("group");
    let (a, mut a_events) = server.connect(&a_token).await;
    let (_b, mut b_events) = server.connect(&b_token).await;
    let (_c, mut c_events) = server.connect(&c_token).await;
    assert!(!_c.ready().channels.iter().any(|c| c.id == group.id));

    // Carol is added: members see the event, Carol's session joins the channel and gets what follows.
    alice.add_member(group.id, "carol").await.expect("add");
    let e = next_event(&mut b_events).await;
    assert!(matches!(e.body, EventBody::MemberAdded { ref user } if user.id == carol_user.id));
    match next_push(&mut c_events).await {
        ClientEvent::ChannelJoined(summary) => {
            assert_eq!((summary.id, summary.member_count), (group.id, 3))
        }
        other => panic!("expected channel_joined, got {other:?}"),
    }
    a.send(group.id, "welcome carol").await.expect("send");
    assert_eq!(body(&next_event(&mut c_events).await), "welcome carol");
    assert!(matches!(
        next_event(&mut a_events).await.body,
        EventBody::MemberAdded { .. }
    ));
    assert_eq!(body(&next_event(&mut a_events).await), "welcome carol");
    assert_eq!(body(&next_event(&mut b_events).await), "welcome carol");

    // Only the owner and admins add; plain members cannot.
    let err = carol
        .add_member(group.id, "alice")
        .await
        .expect_err("member cannot add");
    assert_eq!(err.api().map(|e| e.code.as_u16()), Some(1004));

    // Bob is removed: he sees his removal, then channel_left, then nothing more of the channel.
    alice
        .remove_member(group.id, bob_user.id)
        .await
        .expect("remove");
    assert!(
        matches!(next_event(&mut b_events).await.body, EventBody::MemberRemoved { ref user } if user.id == bob_user.id)
    );
    assert!(
        matches!(next_push(&mut b_events).await, ClientEvent::ChannelLeft(id) if id == group.id)
    );
    a.send(group.id, "bob is gone").await.expect("send");
    assert!(matches!(
        next_event(&mut c_events).await.body,
        EventBody::MemberRemoved { .. }
    ));
    assert_eq!(body(&next_event(&mut c_events).await), "bob is gone");
    quiet(&mut b_events).await;
    let err = bob
        .history(group.id, HistoryQuery::default())
        .await
        .expect_err("no longer a member");
    assert_eq!(err.api().map(|e| e.code.as_u16()), Some(1005));

    // Carol leaves on her own.
    carol.leave(group.id).await.expect("leave");
    let members = alice.members(group.id).await.expect("members").members;
    assert_eq!(
        members
            .iter()
            .map(|m| m.user.username.as_str())
            .collect::<Vec<_>>(),
        vec!["alice"]
    );
    let page = alice
        .history(group.id, HistoryQuery::default())
        .await
        .expect("history");
    let kinds: Vec<&str> = page.events.iter().map(|e| e.body.kind()).collect();
    assert_eq!(
        kinds,
        vec![
            "channel_created",
            "member_added",
            "message",
            "member_removed",
            "message",
            "member_left"
        ]
    );
}
