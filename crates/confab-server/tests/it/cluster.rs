//! Two nodes on one PostgreSQL and one NATS: events, direct messages, read pointers and
//! membership cross nodes, once and in order. Needs `CONFAB_TEST_DATABASE_URL` and
//! `CONFAB_TEST_NATS_URL`; says so and skips without them (CI sets both).

use std::collections::HashMap;

use confab_client::ClientEvent;
use confab_proto::EventBody;
use confab_server::config::{BusConfig, StoreConfig};
use confab_testkit::push::{next_event, next_push};
use confab_testkit::server::TestServer;

fn services() -> Option<(String, String)> {
    confab_testkit::services::shared_urls("cluster tests")
}

/// Starts `n` nodes sharing a fresh schema and the NATS server.
async fn cluster(n: u16, db: &str, nats: &str, test: &str) -> Vec<TestServer> {
    let schema = format!(
        "confab_it_{test}_{}_{}",
        std::process::id(),
        confab_store::snowflake::now_ms()
    );
    let mut nodes = Vec::new();
    for node_id in 1..=n {
        let (db, nats, schema) = (db.to_owned(), nats.to_owned(), schema.clone());
        nodes.push(
            TestServer::start_with(move |c| {
                c.node_id = node_id;
                c.store = StoreConfig::Postgres {
                    url: db,
                    schema: Some(schema),
                };
                c.bus = BusConfig::Nats(nats);
            })
            .await,
        );
    }
    nodes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_share_channels_in_order_once() {
    let Some((db, nats)) = services() else { return };
    let nodes = cluster(2, &db, &nats, "two").await;
    let (alice, a_token, _) = nodes[0].user("alice").await;
    let (_, b_token, _) = nodes[1].user("bob").await;
    let (_, c_token, _) = nodes[0].user("carol").await;
    let group = alice
        .create_group("across", &["bob", "carol"])
        .await
        .expect("group");
    let dm = alice.create_direct("bob").await.expect("dm");

    // Alice on node 1; Bob on node 2; Carol on both.
    let (a, mut a_events) = nodes[0].connect(&a_token).await;
    let (b, mut b_events) = nodes[1].connect(&b_token).await;
    let (_c1, mut c1_events) = nodes[0].connect(&c_token).await;
    let (_c2, mut c2_events) = nodes[1].connect(&c_token).await;

    // Concurrent senders on both nodes into one group.
    let sa = {
        let a = a.clone();
        tokio::spawn(async move {
            for i in 0..100 {
                a.send(group.id, &format!("a-{i}")).await.expect("send");
            }
        })
    };
    let sb = {
        let b = b.clone();
        tokio::spawn(async move {
            for i in 0..100 {
                b.send(group.id, &format!("b-{i}")).await.expect("send");
            }
        })
    };
    sa.await.expect("a");
    sb.await.expect("b");
    for events in [&mut a_events, &mut b_events, &mut c1_events, &mut c2_events] {
        let mut seqs = Vec::new();
        let mut per: HashMap<char, Vec<u32>> = HashMap::new();
        while seqs.len() < 200 {
            let e = next_event(events).await;
            if let EventBody::Message { body, .. } = &e.body {
                let (who, n) = body.split_once('-').expect("x-n");
                per.entry(who.chars().next().unwrap_or('?'))
                    .or_default()
                    .push(n.parse().expect("n"));
                seqs.push(e.seq);
            }
        }
        assert_eq!(
            seqs,
            (2..=201).collect::<Vec<u64>>(),
            "every message once, in seq order, on every node"
        );
        for ns in per.values() {
            assert_eq!(ns, &(0..100).collect::<Vec<u32>>());
        }
    }

    // A direct message crosses nodes; the read pointer reaches the reader's other node.
    let ack = a.send(dm.id, "hi bob, from node 1").await.expect("dm");
    let e = next_event(&mut b_events).await;
    assert_eq!((e.channel_id, e.seq), (dm.id, ack.seq));
    b.mark_read(dm.id, ack.seq).await.expect("read");
    let (b_elsewhere, mut b2_events) = nodes[0].connect(&b_token).await;
    b.mark_read(dm.id, ack.seq).await.expect("read again");
    match next_push(&mut b2_events).await {
        ClientEvent::ReadState(r) => assert_eq!(r.read_seq, ack.seq),
        other => panic!("expected read_state on the other node, got {other:?}"),
    }
    drop(b_elsewhere);

    // Joining on one node while connected to the other.
    let (_, d_token, _) = nodes[1].user("dave").await;
    let (_d, mut d_events) = nodes[1].connect(&d_token).await;
    nodes[0]
        .http
        .with_token(&a_token)
        .add_member(group.id, "dave")
        .await
        .expect("add");
    match next_push(&mut d_events).await {
        ClientEvent::ChannelJoined(summary) => assert_eq!(summary.id, group.id),
        other => panic!("expected channel_joined, got {other:?}"),
    }
    a.send(group.id, "welcome dave").await.expect("send");
    let e = next_event(&mut d_events).await;
    assert!(matches!(e.body, EventBody::Message { ref body, .. } if body == "welcome dave"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nats_restart_mid_stream_loses_and_repeats_nothing() {
    let Some((db, _)) = services() else { return };
    let Some(mut nats) = confab_testkit::services::NatsServer::start().await else {
        panic!("nats-server is not installed; .ci/run installs it");
    };
    let nodes = cluster(2, &db, &nats.url(), "natsrestart").await;
    let (alice, a_token, _) = nodes[0].user("alice").await;
    let (_, b_token, _) = nodes[1].user("bob").await;
    let group = alice
        .create_group("through outages", &["bob"])
        .await
        .expect("group");
    let (a, _a_events) = nodes[0].connect(&a_token).await;
    let (_b, mut b_events) = nodes[1].connect(&b_token).await;
    let (_b1, mut b1_events) = nodes[0].connect(&b_token).await;
    for i in 0..300 {
        if i == 100 {
            nats.stop().await;
        }
        if i == 200 {
            assert!(nats.resume().await, "nats-server restarted");
        }
        a.send(group.id, &format!("m{i}"))
            .await
            .expect("sends commit to the store whatever the bus does");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    for events in [&mut b_events, &mut b1_events] {
        let mut got = Vec::new();
        while got.len() < 300 {
            let e = next_event(events).await;
            if let EventBody::Message { body, .. } = e.body {
                got.push((e.seq, body));
            }
        }
        let expected: Vec<(u64, String)> =
            (0..300).map(|i| (i as u64 + 2, format!("m{i}"))).collect();
        assert_eq!(
            got, expected,
            "every message once and in order across the outage"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_restart_fails_sends_cleanly_and_loses_no_acked_message() {
    if services().is_none() {
        return;
    }
    let Some(pg) = confab_testkit::services::PostgresServer::start().await else {
        panic!("PostgreSQL's initdb/pg_ctl are not installed");
    };
    let url = pg.url();
    let node = TestServer::start_with(move |c| {
        c.store = StoreConfig::Postgres { url, schema: None };
    })
    .await;
    let (alice, a_token, _) = node.user("alice").await;
    node.user("bob").await;
    let dm = alice.create_direct("bob").await.expect("dm");
    let (a, _events) = node.connect(&a_token).await;
    let mut acked = Vec::new();
    for i in 0..10 {
        acked.push(
            a.send(dm.id, &format!("before {i}"))
                .await
                .expect("send")
                .seq,
        );
    }
    assert!(pg.stop().await, "postgres stopped");
    // While it is down: a clean, retryable refusal (HTTP 503, code 1010), nothing half-written.
    let err = alice
        .send(dm.id, "during-2", "y")
        .await
        .expect_err("store down");
    assert_eq!(
        err.api().map(|e| e.code),
        Some(confab_proto::ErrorCode::Unavailable),
        "{err}"
    );
    // The SDK keeps retrying a refused send with its client id; it goes through once the store is
    // back.
    let retrying = {
        let a = a.clone();
        tokio::spawn(async move { a.send_with_id(dm.id, "during-1", "x").await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(
        !retrying.is_finished(),
        "still retrying while the store is down"
    );
    assert!(pg.resume().await, "postgres restarted");
    let ack = retrying
        .await
        .expect("task")
        .expect("acked after the restart");
    assert_eq!(ack.seq, 12, "no seq was taken by the refused sends");
    let page = alice
        .history(
            dm.id,
            confab_client::http::HistoryQuery {
                limit: Some(100),
                ..Default::default()
            },
        )
        .await
        .expect("history");
    let seqs: Vec<u64> = page.events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=12).collect::<Vec<u64>>());
    for seq in acked {
        assert!(seqs.contains(&seq), "acked seq {seq} survived");
    }
}
