//! Every scenario, run small against a real server started in-process on port 0: the counts
//! must be exact (every delivery, nothing lost, nothing duplicated, every storm client resumed).
//! No timing is asserted.

use std::time::Duration;

use confab_bench::args::{CompareArgs, DmArgs, IdleArgs, RoomArgs, StormArgs, TransportsArgs};
use confab_bench::transport::Kind;
use confab_bench::{execute, BenchArgs, Common, Report, Scenario};
use confab_testkit::server::TestServer;

/// The test server, admitting sessions as fast as a scenario opens them.
async fn start() -> TestServer {
    TestServer::start_with(|c| {
        c.identify_rate = 100_000.0;
        c.identify_burst = 100_000;
    })
    .await
}

/// Small runs against `s`, the accounts cached in its data directory.
fn common(s: &TestServer) -> Common {
    Common {
        servers: vec![s.base.clone()],
        server_pids: vec![std::process::id()],
        json: true,
        duration: Duration::from_secs(2),
        warmup: Duration::from_millis(300),
        accounts: s.dir.path().join("accounts.json"),
        user_prefix: "bench".into(),
        source_addrs: 4,
        connect_concurrency: 32,
    }
}

async fn one(scenario: Scenario) -> Report {
    let mut reports = execute(&BenchArgs { scenario })
        .await
        .expect("scenario runs");
    assert_eq!(reports.len(), 1);
    let report = reports.remove(0);
    // What `--json` prints parses back to the same result.
    let json = serde_json::to_string(&report).expect("serializes");
    let back: Report = serde_json::from_str(&json).expect("the JSON output parses");
    assert_eq!(
        (
            back.scenario.as_str(),
            back.connections,
            back.deliveries,
            back.lost,
            back.duplicates
        ),
        (
            report.scenario.as_str(),
            report.connections,
            report.deliveries,
            report.lost,
            report.duplicates
        )
    );
    report
}

fn assert_exact(r: &Report, receivers: u64) {
    assert!(r.acked > 0, "nothing was acked: {r:?}");
    assert_eq!(r.send_errors, 0, "{r:?}");
    assert_eq!(r.lost, 0, "{r:?}");
    assert_eq!(r.duplicates, 0, "{r:?}");
    assert_eq!(r.dropped, 0, "{r:?}");
    assert_eq!(r.deliveries, r.expected_deliveries, "{r:?}");
    assert_eq!(r.deliveries, receivers * r.acked, "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn room_delivers_every_message_to_every_member_once() {
    let mut s = start().await;
    let room = || {
        Scenario::Room(RoomArgs {
            common: common(&s),
            members: 20,
            rate: 25.0,
            senders: 5,
            size: 64,
        })
    };
    let r = one(room()).await;
    assert_eq!(r.connections, 20);
    assert_exact(&r, 20);
    assert!(r.latency.is_some_and(|p| p.count > 0), "{r:?}");
    assert!(r.ack_latency.is_some());
    assert!(r.server_cpu_us_per_delivery.is_some());
    // A second run reuses the cached accounts and group.
    let again = one(room()).await;
    assert_exact(&again, 20);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dm_pairs_get_each_others_messages() {
    let mut s = start().await;
    let r = one(Scenario::Dm(DmArgs {
        common: common(&s),
        pairs: 5,
        rate: 10.0,
        size: 64,
    }))
    .await;
    assert_eq!(r.connections, 10);
    // Each message reaches both members of its pair (the sender's own session too).
    assert_exact(&r, 2);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_all_get_ready() {
    let mut s = start().await;
    let r = one(Scenario::Idle(IdleArgs {
        common: common(&s),
        connections: 100,
        users: Some(10),
        workers: None,
        worker: None,
    }))
    .await;
    assert_eq!(r.connections, 100);
    assert_eq!(r.failures, 0);
    assert_eq!(r.dropped, 0);
    assert!(r.server_rss_before_kib.is_some() && r.rss_per_connection_kib.is_some());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storm_clients_all_resume_and_miss_nothing() {
    let mut s = start().await;
    let mut common = common(&s);
    common.warmup = Duration::from_millis(500);
    let r = one(Scenario::Storm(StormArgs {
        common,
        clients: 50,
        channels: 3,
        users: Some(20),
        rate: 20.0,
        backoff_base: Duration::from_millis(50),
        backoff_cap: Duration::from_secs(2),
        recovery_timeout: Duration::from_secs(60),
    }))
    .await;
    let storm = r.storm.clone().expect("storm result");
    assert_eq!(storm.clients, 50);
    assert_eq!(storm.resumed, 50, "{r:?}");
    assert!(storm.recovery_s.is_some());
    assert!(r.acked > 0);
    assert_eq!(r.lost, 0, "{r:?}");
    assert_eq!(r.duplicates, 0, "{r:?}");
    assert_eq!(r.deliveries, r.expected_deliveries, "{r:?}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_transport_delivers_the_room_exactly() {
    let mut s = start().await;
    let reports = execute(&BenchArgs {
        scenario: Scenario::Transports(TransportsArgs {
            room: RoomArgs {
                common: common(&s),
                members: 10,
                rate: 10.0,
                senders: 2,
                size: 64,
            },
            poll_interval: Duration::from_millis(500),
            only: vec![Kind::Ws, Kind::Sse, Kind::Longpoll, Kind::Poll],
        }),
    })
    .await
    .expect("transports run");
    let names: Vec<_> = reports.iter().filter_map(|r| r.transport.clone()).collect();
    assert_eq!(names, ["ws", "sse", "longpoll", "poll"]);
    for r in &reports {
        assert_eq!(r.connections, 10, "{r:?}");
        assert_exact(r, 10);
        let http = r.http_requests_per_s;
        match r.transport.as_deref() {
            Some("ws") => assert!(http.is_none()),
            // A stream is one request, opened before the window.
            Some("sse") => assert!(http.is_some()),
            _ => assert!(http.is_some_and(|h| h > 0.0), "{r:?}"),
        }
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compare_with_a_given_lean_server_delivers_exactly_on_both() {
    let mut s = start().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let lean_url = format!("http://{}", listener.local_addr().expect("addr"));
    let lean = tokio::spawn(confab_bench::lean::run(listener));
    let reports = execute(&BenchArgs {
        scenario: Scenario::Compare(CompareArgs {
            room: RoomArgs {
                common: common(&s),
                members: 10,
                rate: 20.0,
                senders: 2,
                size: 64,
            },
            rounds: 1,
            lean: Some(lean_url),
            // Both servers run in this process here; its CPU stands for both.
            lean_pid: Some(std::process::id()),
        }),
    })
    .await
    .expect("compare runs");
    assert_eq!(reports.len(), 3);
    for (r, target) in reports.iter().zip(["confab", "lean"]) {
        assert_eq!(r.target.as_deref(), Some(target));
        assert_eq!(r.connections, 10, "{r:?}");
        assert_exact(r, 10);
    }
    let c = reports[2].compare.clone().expect("the summary");
    assert_eq!(
        (c.confab.deliveries, c.lean.deliveries),
        (reports[0].deliveries, reports[1].deliveries)
    );
    lean.abort();
    s.stop().await;
}
