//! Three real nodes on PostgreSQL and NATS behind HAProxy (the shipped `deploy/haproxy.cfg`):
//! members spread over the nodes get every message once and in order, and when one node is killed
//! with SIGKILL its clients come back through HAProxy on the others with nothing lost or repeated.
//! Needs `CONFAB_TEST_DATABASE_URL` and `CONFAB_TEST_NATS_URL`; says so and skips without them.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::{collect_in, connect, connect_over, haproxy, node, PASSWORD};
use confab_client::proto::Status;
use confab_client::Http;
use confab_testkit::push::presence_of;

fn services() -> Option<(String, String)> {
    confab_testkit::services::shared_urls("the three-node cluster test")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_behind_haproxy_survive_a_killed_node() {
    let Some((db, nats)) = services() else { return };
    let schema = format!("confab_cluster_{}", std::process::id());
    let mut nodes = Vec::new();
    for id in 1..=3u16 {
        let args = [
            "--node-id".to_owned(),
            id.to_string(),
            "--store".into(),
            db.clone(),
            "--store-schema".into(),
            schema.clone(),
            "--bus".into(),
            nats.clone(),
            "--presence-interval".into(),
            "1s".into(),
        ];
        nodes.push(node(&args).await);
    }
    let addrs = [nodes[0].1, nodes[1].1, nodes[2].1];
    let (_lb, lb) = haproxy(addrs).await;
    let http = Http::new(format!("http://{lb}"));
    let ws = format!("ws://{lb}/ws");

    let sender = http.register("sender", PASSWORD).await.expect("register");
    let mut members = Vec::new();
    for i in 0..9 {
        members.push(
            http.register(&format!("member{i}"), PASSWORD)
                .await
                .expect("register"),
        );
    }
    let names: Vec<String> = members.iter().map(|m| m.user.username.clone()).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let group = http
        .with_token(&sender.token)
        .create_group("cluster", &refs)
        .await
        .expect("group");

    // HAProxy's leastconn spreads the members over all three nodes.
    let mut receivers = Vec::new();
    let mut node_ids = Vec::new();
    for (i, m) in members.iter().enumerate() {
        // A third of the members long-poll through HAProxy (sessions routed to their node).
        let transport = if i % 3 == 0 {
            confab_client::Transport::LongPoll
        } else {
            confab_client::Transport::WebSocket
        };
        let (client, events) = connect_over(&ws, &m.token, transport).await;
        node_ids.push(client.hello().node_id);
        receivers.push((client, events));
    }
    let spread: HashSet<u16> = node_ids.iter().copied().collect();
    assert_eq!(spread.len(), 3, "clients on every node: {node_ids:?}");

    // A direct message crosses nodes.
    let (sender_client, _sender_events) = connect(&ws, &sender.token).await;
    let sender_node = sender_client.hello().node_id;
    let peer = node_ids
        .iter()
        .position(|n| *n != sender_node)
        .expect("a member elsewhere");
    let dm = http
        .with_token(&sender.token)
        .create_direct(&names[peer])
        .await
        .expect("dm");
    let ack = sender_client.send(dm.id, "across nodes").await.expect("dm");
    assert_eq!(ack.seq, 2);

    // Kill a node other than the sender's in the middle of the stream.
    let victim = (1..=3u16)
        .find(|n| *n != sender_node)
        .expect("another node");
    // A user connected straight to that node (not through HAProxy), who will not come back on
    // their own, and whom the sender sees in a direct channel.
    let lonely = http.register("lonely", PASSWORD).await.expect("register");
    http.with_token(&sender.token)
        .create_direct("lonely")
        .await
        .expect("dm");
    let victim_ws = format!("ws://{}/ws", addrs[usize::from(victim) - 1]);
    // The watcher connects straight to a node that stays up (through HAProxy it might land on the
    // victim, and its own reconnection would muddle what it sees).
    let survivor_ws = format!("ws://{}/ws", addrs[usize::from(sender_node) - 1]);
    let (watcher, mut watcher_events) = connect_over(
        &survivor_ws,
        &sender.token,
        confab_client::Transport::WebSocket,
    )
    .await;
    let (lonely_client, _lonely_events) = connect_over(
        &victim_ws,
        &lonely.token,
        confab_client::Transport::WebSocket,
    )
    .await;
    assert_eq!(
        presence_of(&mut watcher_events, lonely.user.id)
            .await
            .status,
        Status::Online
    );
    let sending = {
        let client = sender_client.clone();
        tokio::spawn(async move {
            for i in 0..300 {
                client
                    .send(group.id, &format!("m{i}"))
                    .await
                    .expect("every send acked");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(600)).await;
    let victim_child = &mut nodes[usize::from(victim) - 1].0;
    victim_child.start_kill().expect("kill -9");
    victim_child.wait().await.expect("reaped");
    let killed_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    sending.await.expect("sender");

    // The killed node's users go offline for the others within the bound (4 × 1 s); the report
    // carries the moment the survivors' view changed.
    let off = presence_of(&mut watcher_events, lonely.user.id).await;
    assert_eq!(off.status, Status::Offline);
    let took = off.last_seen.expect("last seen") - killed_ms;
    // Bound: 4 × the 1 s interval, plus slack for a loaded machine.
    assert!(took <= 7_000, "offline after {took} ms");
    println!("kill -9: the dead node's user was shown offline after {took} ms");
    // ...and come back online when they reconnect (through HAProxy this time).
    drop(lonely_client);
    let (_back, _back_events) = connect(&ws, &lonely.token).await;
    assert_eq!(
        presence_of(&mut watcher_events, lonely.user.id)
            .await
            .status,
        Status::Online
    );
    drop(watcher);

    let expected: Vec<String> = (0..300).map(|i| format!("m{i}")).collect();
    let mut moved = 0;
    for ((client, mut events), was_on) in receivers.into_iter().zip(node_ids) {
        assert_eq!(
            collect_in(&mut events, Some(group.id), 300).await,
            expected,
            "every message once, in order"
        );
        if was_on == victim {
            moved += 1;
        }
        drop(client);
    }
    assert!(
        moved > 0,
        "some clients were on the killed node and came back elsewhere"
    );
}
