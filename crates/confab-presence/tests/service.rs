//! Presence aggregated over nodes sharing a bus, and leases that expire when a node goes silent.

use std::sync::Arc;
use std::time::Duration;

use confab_bus::LocalBus;
use confab_presence::{PresenceConfig, PresenceCounts, PresenceService};
use confab_proto::{Presence, Status, UserId};
use tokio::sync::mpsc;

async fn next(rx: &mut mpsc::Receiver<Presence>) -> Presence {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("a change")
        .expect("open")
}

async fn node(
    bus: &LocalBus,
    id: u16,
    interval_ms: u64,
) -> (PresenceService, mpsc::Receiver<Presence>) {
    let config = PresenceConfig {
        node_id: id,
        interval: Duration::from_millis(interval_ms),
    };
    PresenceService::start(Arc::new(bus.clone()), config)
        .await
        .expect("start")
}

#[tokio::test]
async fn status_is_aggregated_over_sessions_and_nodes() {
    let bus = LocalBus::default();
    let (a, mut a_changes) = node(&bus, 1, 100).await;
    let (b, mut b_changes) = node(&bus, 2, 100).await;
    let u = UserId(7);
    a.connect(u);
    assert_eq!(next(&mut a_changes).await.status, Status::Online);
    assert_eq!(
        next(&mut b_changes).await.status,
        Status::Online,
        "node 2 hears of node 1's session"
    );
    // Idle on node 1 but online on node 2: online.
    b.connect(u);
    a.set(u, Status::Online, Status::Idle);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while a.status(u) != Status::Online && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        a.status(u),
        Status::Online,
        "node 2's session counts on node 1"
    );
    b.disconnect(u, Status::Online);
    assert_eq!(next(&mut b_changes).await.status, Status::Idle);
    a.disconnect(u, Status::Idle);
    let off = next(&mut b_changes).await;
    assert_eq!(off.status, Status::Offline);
    assert!(off.last_seen.is_some());
}

#[tokio::test]
async fn a_silent_node_s_users_go_offline_within_the_bound() {
    let bus = LocalBus::default();
    let (a, mut a_changes) = node(&bus, 1, 100).await;
    let config = PresenceConfig {
        node_id: 2,
        interval: Duration::from_millis(100),
    };
    let u = UserId(9);
    {
        let (b, _b_changes) = PresenceService::start(Arc::new(bus.clone()), config)
            .await
            .expect("start");
        b.connect(u);
        assert_eq!(next(&mut a_changes).await.status, Status::Online);
        // Node 2 dies: its service is dropped and stops renewing.
        drop(b);
    }
    let started = tokio::time::Instant::now();
    let off = next(&mut a_changes).await;
    assert_eq!((off.user_id, off.status), (u, Status::Offline));
    assert!(
        started.elapsed() <= config.offline_bound() + Duration::from_millis(100),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(a.status(u), Status::Offline);
}

/// Waits (at most 2 s) until `service` counts `want`; returns what it counts then.
async fn counts_reach(service: &PresenceService, want: PresenceCounts) -> PresenceCounts {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while service.counts() != want && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    service.counts()
}

#[tokio::test]
async fn counts_are_per_node_and_over_the_cluster() {
    let bus = LocalBus::default();
    let (a, _a_changes) = node(&bus, 1, 100).await;
    let (b, _b_changes) = node(&bus, 2, 100).await;
    a.connect(UserId(1));
    a.connect(UserId(2));
    a.set(UserId(2), Status::Online, Status::Idle);
    b.connect(UserId(3));
    let cluster = |node_online, node_idle| PresenceCounts {
        node_online,
        node_idle,
        cluster_online: 2,
        cluster_idle: 1,
    };
    assert_eq!(counts_reach(&a, cluster(1, 1)).await, cluster(1, 1));
    assert_eq!(counts_reach(&b, cluster(1, 0)).await, cluster(1, 0));
}
