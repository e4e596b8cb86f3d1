//! Presence and typing: who sees whom, idle, last seen, counts for large channels, explicit
//! watches; across nodes, leases that expire under a partition and come back when it heals.

use std::time::{Duration, Instant};

use confab_client::ClientEvent;
use confab_proto::Status;
use confab_server::config::{BusConfig, StoreConfig};
use confab_testkit::push::presence_of;
use confab_testkit::server::TestServer;
use confab_testkit::Proxy;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contacts_see_online_idle_offline_and_last_seen() {
    let server = TestServer::start().await;
    let (alice, a_token, _) = server.user("alice").await;
    let (_, b_token, bob) = server.user("bob").await;
    let dm = alice.create_direct("bob").await.expect("dm");
    let (_a, mut a_events) = server.connect(&a_token).await;
    let (b, b_events) = server.connect(&b_token).await;
    assert_eq!(
        presence_of(&mut a_events, bob.id).await.status,
        Status::Online
    );
    // Bob's snapshot already shows Alice.
    assert!(
        b.ready()
            .presence
            .iter()
            .any(|p| p.status == Status::Online),
        "{:?}",
        b.ready().presence
    );

    b.set_status(Status::Idle).await.expect("idle");
    assert_eq!(
        presence_of(&mut a_events, bob.id).await.status,
        Status::Idle
    );

    // Typing reaches the other member, rate-limited.
    for _ in 0..5 {
        b.typing(dm.id).await.expect("typing");
    }
    // The first indicator arrives...
    loop {
        let push = tokio::time::timeout(Duration::from_secs(10), a_events.next())
            .await
            .expect("typing within 10 s")
            .expect("open");
        if let ClientEvent::Typing {
            channel_id,
            user_id,
            expires_in_ms,
        } = push
        {
            assert_eq!((channel_id, user_id), (dm.id, bob.id));
            assert!(expires_in_ms > 0);
            break;
        }
    }
    // ...and no second one within the 2 s limit, though five were sent.
    let until = Instant::now() + Duration::from_millis(1500);
    while let Ok(Some(push)) = tokio::time::timeout_at(until.into(), a_events.next()).await {
        assert!(
            !matches!(push, ClientEvent::Typing { .. }),
            "one typing indicator per interval"
        );
    }

    b.close().await;
    let off = presence_of(&mut a_events, bob.id).await;
    assert_eq!(off.status, Status::Offline);
    let seen = off.last_seen.expect("last seen");
    let rest = alice.presence(bob.id).await.expect("presence");
    assert_eq!((rest.status, rest.last_seen), (Status::Offline, Some(seen)));
    drop(b_events);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_channels_get_counts_and_strangers_can_watch() {
    let server = TestServer::start_with(|c| c.presence_group_size = 2).await;
    let (alice, a_token, _) = server.user("alice").await;
    let (_, b_token, bob) = server.user("bob").await;
    let (_, c_token, carol) = server.user("carol").await;
    let group = alice
        .create_group("three", &["bob", "carol"])
        .await
        .expect("group");
    let (a, mut a_events) = server.connect(&a_token).await;
    assert!(a.ready().presence.is_empty());
    let (_b, _b_events) = server.connect(&b_token).await;
    // No presence events for members of a group above the size limit...
    let until = Instant::now() + Duration::from_millis(400);
    while let Ok(Some(push)) = tokio::time::timeout_at(until.into(), a_events.next()).await {
        assert!(!matches!(push, ClientEvent::Presence(_)), "{push:?}");
    }
    // ...but counts.
    let counts = alice.channel_presence(group.id).await.expect("counts");
    assert_eq!((counts.member_count, counts.online, counts.idle), (3, 2, 0));
    // An explicit watch: told at once, then of changes.
    a.watch(vec![carol.id, bob.id]).await.expect("watch");
    assert_eq!(
        presence_of(&mut a_events, carol.id).await.status,
        Status::Offline
    );
    assert_eq!(
        presence_of(&mut a_events, bob.id).await.status,
        Status::Online
    );
    let (_c, _c_events) = server.connect(&c_token).await;
    assert_eq!(
        presence_of(&mut a_events, carol.id).await.status,
        Status::Online
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_cut_off_the_bus_shows_its_users_offline_then_online_again() {
    let Some((db, nats)) = confab_testkit::services::shared_urls("the partition test") else {
        return;
    };
    // Node 2 reaches NATS only through a proxy, which the test cuts to partition it.
    let nats_addr = nats
        .trim_start_matches("nats://")
        .parse()
        .expect("host:port");
    let cut = Proxy::start(nats_addr).await.expect("proxy");
    let schema = format!(
        "confab_presence_{}_{}",
        std::process::id(),
        confab_store::snowflake::now_ms()
    );
    let interval = Duration::from_millis(300);
    let mut nodes = Vec::new();
    for (id, bus) in [(1u16, nats.clone()), (2, format!("nats://{}", cut.addr()))] {
        let (db, schema) = (db.clone(), schema.clone());
        nodes.push(
            TestServer::start_with(move |c| {
                c.node_id = id;
                c.store = StoreConfig::Postgres {
                    url: db,
                    schema: Some(schema),
                };
                c.bus = BusConfig::Nats(bus);
                c.presence_interval = interval;
            })
            .await,
        );
    }
    let (alice, a_token, _) = nodes[0].user("alice").await;
    let (_, b_token, bob) = nodes[1].user("bob").await;
    alice.create_direct("bob").await.expect("dm");
    let (_a, mut a_events) = nodes[0].connect(&a_token).await;
    let (_b, _b_events) = nodes[1].connect(&b_token).await;
    assert_eq!(
        presence_of(&mut a_events, bob.id).await.status,
        Status::Online
    );

    // Partition node 2 from NATS.
    cut.refuse(true);
    cut.cut_all();
    let started = Instant::now();
    let off = presence_of(&mut a_events, bob.id).await;
    let took = started.elapsed();
    assert_eq!(off.status, Status::Offline);
    let bound = interval * 4;
    assert!(
        took <= bound + Duration::from_secs(3),
        "offline after {took:?}, bound {bound:?}"
    );
    println!("partition: bob shown offline after {took:?} (bound {bound:?})");

    // Heal: node 2 reconnects to NATS and re-announces its users.
    cut.refuse(false);
    let back = presence_of(&mut a_events, bob.id).await;
    assert_eq!(back.status, Status::Online);
}
