//! Graceful drain of the real binary: SIGTERM during traffic. `/readyz` fails at once, sessions are
//! told to reconnect (through the balancer, here a proxy, to a second node), every acked message is
//! in the store and reaches every receiver once, and the process exits 0.

use std::time::{Duration, Instant};

use confab_client::{ClientConfig, Http};
use confab_testkit::Proxy;

mod common;

use common::{collect, http_status, node, PASSWORD};

/// A node on the shared SQLite file with a short drain window.
async fn sqlite_node(
    db: &std::path::Path,
    node_id: u16,
) -> (tokio::process::Child, std::net::SocketAddr) {
    node(&[
        "--node-id".into(),
        node_id.to_string(),
        "--store".into(),
        format!("sqlite:{}", db.display()),
        "--drain-window".into(),
        "2s".into(),
    ])
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_to_another_node_with_nothing_lost() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("confab.db");
    let (mut a, a_addr) = sqlite_node(&db, 1).await;
    let (_b, b_addr) = sqlite_node(&db, 2).await;
    let proxy = Proxy::start(a_addr).await.expect("proxy");
    let http = Http::new(proxy.http_url());

    let sender = http.register("sender", PASSWORD).await.expect("register");
    let mut receivers = Vec::new();
    for i in 0..5 {
        receivers.push(
            http.register(&format!("receiver{i}"), PASSWORD)
                .await
                .expect("register"),
        );
    }
    let names: Vec<String> = receivers.iter().map(|r| r.user.username.clone()).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let group = http
        .with_token(&sender.token)
        .create_group("drain", &refs)
        .await
        .expect("group");

    let connect = |token: String| {
        let url = proxy.ws_url();
        async move {
            let mut config = ClientConfig::new(&url, &token);
            config.backoff_base = Duration::from_millis(20);
            config.backoff_cap = Duration::from_millis(300);
            confab_client::Client::connect_with(config)
                .await
                .expect("connect")
        }
    };
    let mut receiving = Vec::new();
    for r in &receivers {
        receiving.push(connect(r.token.clone()).await);
    }
    let (client, _sender_events) = connect(sender.token.clone()).await;

    // Traffic before, during and after the drain.
    let sending = {
        let client = client.clone();
        tokio::spawn(async move {
            let mut acked = Vec::new();
            for i in 0..300 {
                let ack = client
                    .send(group.id, &format!("m{i}"))
                    .await
                    .expect("every send is acked");
                acked.push(ack);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            acked
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    proxy.set_upstream(b_addr);
    let terminated = Instant::now();
    let pid = a.id().expect("pid").to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(status.success());
    // Readiness fails at once, so a balancer stops sending new clients. (The signal reaches the
    // process asynchronously: a probe sent the same instant may still find it ready.)
    let mut readyz = http_status(a_addr, "/readyz").await;
    let deadline = Instant::now() + Duration::from_millis(500);
    while readyz == Some(200) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
        readyz = http_status(a_addr, "/readyz").await;
    }
    assert_eq!(
        readyz,
        Some(503),
        "/readyz fails within half a second of SIGTERM"
    );
    let exit = tokio::time::timeout(Duration::from_secs(15), a.wait())
        .await
        .expect("exited")
        .expect("status");
    assert!(exit.success(), "exit code 0, got {exit:?}");
    let took = terminated.elapsed();
    assert!(
        took >= Duration::from_millis(200),
        "sessions left over the window ({took:?})"
    );

    let acked = sending.await.expect("sender");
    assert_eq!(acked.len(), 300);
    // Every acked message is stored, once, with the acked seq.
    let reader = Http::new(format!("http://{b_addr}")).with_token(&sender.token);
    let mut stored = Vec::new();
    let mut after = 0;
    loop {
        let q = confab_client::http::HistoryQuery {
            after: Some(after),
            before: None,
            limit: Some(200),
        };
        let page = reader.history(group.id, q).await.expect("history");
        let Some(last) = page.events.last().map(|e| e.seq) else {
            break;
        };
        stored.extend(page.events);
        after = last;
    }
    for ack in &acked {
        let copies = stored
            .iter()
            .filter(|e| e.id == ack.id && e.seq == ack.seq)
            .count();
        assert_eq!(copies, 1, "ack {} stored once", ack.seq);
    }
    // Every receiver, now on node B, got all 300 once and in order.
    let expected: Vec<String> = (0..300).map(|i| format!("m{i}")).collect();
    for (_client, mut events) in receiving {
        assert_eq!(collect(&mut events, 300).await, expected);
    }
}
