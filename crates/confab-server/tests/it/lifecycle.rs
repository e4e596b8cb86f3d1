//! Restarts, logout, retention.

use std::time::Duration;

use confab_client::http::HistoryQuery;
use confab_proto::{CloseCode, EventBody};
use confab_testkit::push::next_event;
use confab_testkit::server::{TestServer, PASSWORD};

use crate::raw::Raw;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everything_survives_a_restart() {
    let mut server = TestServer::start().await;
    let (alice, a_token, _) = server.user("alice").await;
    let (bob, _, _) = server.user("bob").await;
    let group = alice.create_group("keep", &["bob"]).await.expect("group");
    let dm = alice.create_direct("bob").await.expect("dm");
    let (client, _events) = server.connect(&a_token).await;
    for n in 0..10 {
        client.send(group.id, &format!("m{n}")).await.expect("send");
    }
    let first = client
        .send_with_id(dm.id, "before-restart", "hello")
        .await
        .expect("send");
    bob.mark_read(group.id, 6).await.expect("read");
    client.close().await;
    server.restart().await;
    // The old tokens still work, history, members and pointers are all there.
    let alice = server.http.with_token(&a_token);
    let page = alice
        .history(group.id, HistoryQuery::default())
        .await
        .expect("history");
    assert_eq!(page.events.len(), 11);
    assert_eq!(
        alice
            .members(group.id)
            .await
            .expect("members")
            .members
            .len(),
        2
    );
    let bob_token = server
        .http
        .login("bob", PASSWORD)
        .await
        .expect("login")
        .token;
    let bob = server.http.with_token(&bob_token);
    let summary = bob.channel(group.id).await.expect("channel");
    assert_eq!(
        (summary.read_seq, summary.unread, summary.last_seq),
        (6, 5, 11)
    );
    assert_eq!(bob.channels().await.expect("list").len(), 2);
    // Idempotency survives too, and the sequence continues.
    let (client, mut events) = server.connect(&a_token).await;
    let again = client
        .send_with_id(dm.id, "before-restart", "hello")
        .await
        .expect("resend");
    assert_eq!((again.id, again.seq), (first.id, first.seq));
    let next = client.send(group.id, "after").await.expect("send");
    assert_eq!(next.seq, 12);
    assert_eq!(next_event(&mut events).await.seq, 12);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_revokes_the_token_and_closes_its_sessions() {
    let server = TestServer::start().await;
    let (alice, token, _) = server.user("alice").await;
    let other_device = server.http.login("alice", PASSWORD).await.expect("login");
    let mut revoked = Raw::identified(&server.ws, &token).await;
    let (kept, _events) = server.connect(&other_device.token).await;
    alice.logout().await.expect("logout");
    assert_eq!(
        revoked.close_code().await,
        Some(CloseCode::SessionRevoked.as_u16())
    );
    let err = alice.me().await.expect_err("revoked");
    assert_eq!(err.api().map(|e| e.code.as_u16()), Some(1003));
    // The other device's session is untouched.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(kept.state(), confab_client::ConnectionState::Ready);
    assert_eq!(
        server
            .http
            .with_token(&other_device.token)
            .me()
            .await
            .expect("me")
            .username,
        "alice"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_prunes_in_the_background_and_history_says_so() {
    let server = TestServer::start_with(|c| {
        c.retention.max_events = Some(5);
        c.retention_interval = Duration::from_millis(50);
    })
    .await;
    let (alice, _, _) = server.user("alice").await;
    let group = alice
        .create_group("short memory", &[])
        .await
        .expect("group");
    for n in 0..20 {
        alice
            .send(group.id, &format!("r{n}"), &format!("m{n}"))
            .await
            .expect("send");
    }
    let mut page = alice
        .history(
            group.id,
            HistoryQuery {
                after: Some(0),
                ..Default::default()
            },
        )
        .await
        .expect("h");
    // The pruner may first run while the messages are still arriving; wait for the final cut.
    for _ in 0..100 {
        if page.pruned_through == 16 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        page = alice
            .history(
                group.id,
                HistoryQuery {
                    after: Some(0),
                    ..Default::default()
                },
            )
            .await
            .expect("h");
    }
    assert!(page.truncated, "the pruner ran within 5 s");
    assert_eq!(page.pruned_through, 16);
    assert_eq!(
        page.events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![17, 18, 19, 20, 21]
    );
    assert!(matches!(page.events[4].body, EventBody::Message { ref body, .. } if body == "m19"));
    let metrics = reqwest::get(format!("{}/metrics", server.base))
        .await
        .expect("m")
        .text()
        .await
        .expect("t");
    assert!(
        metrics.contains("confab_events_pruned_total 16"),
        "{metrics}"
    );
}
