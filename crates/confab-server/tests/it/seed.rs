//! `confab bench seed`: a realistic database built through the store, that a server then serves
//! to the seeded users with their tokens.

use confab_proto::ChannelKind;
use confab_server::config::StoreConfig;
use confab_server::seed::{seed, SeedPlan};
use confab_server::Config;
use confab_testkit::server::TestServer;

fn plan() -> SeedPlan {
    SeedPlan {
        prefix: "seed".into(),
        users: 12,
        large_group: 10,
        small_groups: 3,
        small_size: 4,
        directs: 4,
        messages: 3_000,
        large_share: 0.5,
        unread: 50,
        body_size: 32,
        password: "seed password".into(),
        batch: 1000,
        read_pointers_only: false,
        seed: 7,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seeded_database_is_served_to_its_users_with_their_unread() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("confab.db");
    let config = Config::for_test("127.0.0.1:0".parse().expect("addr"), &db);
    let seeded = seed(&config, &plan(), |_| {}).await.expect("seed");
    assert_eq!(seeded.messages, 3_000);
    assert_eq!(seeded.users.len(), 12);
    assert!(seeded.channels.iter().any(|(key, _)| key == "room-10"));
    assert!(seeded
        .channels
        .iter()
        .any(|(key, _)| key == "dm-seed0-seed1"));

    let server = TestServer::start_with(|c| c.store = StoreConfig::Sqlite(db.clone())).await;
    let (_, token) = &seeded.users[0];
    let (client, _events) = server.connect(token).await;
    let channels = &client.ready().channels;
    // User 0: the large group, the three small groups it owns, and its direct channel with user 1.
    assert_eq!(channels.len(), 5);
    let large = channels
        .iter()
        .find(|c| c.name.as_deref() == Some("bench room-10"))
        .expect("the large group");
    assert!(
        large.last_seq > 1_000,
        "half the messages: {}",
        large.last_seq
    );
    // About 50 left unread (±10 %), less user 0's own messages among them.
    assert!((20..=55).contains(&large.unread), "unread {}", large.unread);
    assert!(channels.iter().any(|c| c.kind == ChannelKind::Direct));
    client.close().await;

    // Moving the pointers to the end reads everything; nothing is added.
    let mut read_all = plan();
    read_all.unread = 0;
    read_all.read_pointers_only = true;
    let again = seed(&config, &read_all, |_| {})
        .await
        .expect("read pointers");
    assert_eq!(again.messages, 0);
    let (_, token) = &again.users[0];
    let (client, _events) = server.connect(token).await;
    assert!(client.ready().channels.iter().all(|c| c.unread == 0));
}
