//! Hub fan-out: one event published on the bus, pushed to N local sessions' queues (the frame is
//! serialized once and shared). `cargo bench -p confab-server`

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use confab_bus::LocalBus;
use confab_proto::{Event, EventBody, EventId, UserRef};
use confab_server::hub::{Hub, Outbound, SessionHandle};
use confab_server::metrics::Metrics;
use confab_server::queue::{Received, SessionQueue};
use confab_store::{SqliteStore, Store};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};

fn fanout(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut group = c.benchmark_group("hub fan-out of one event");
    for sessions in [10usize, 100, 1000] {
        let (hub, channel, author, receivers) = rt.block_on(async {
            let store: Arc<dyn Store> = Arc::new(
                SqliteStore::open(&dir.path().join(format!("b{sessions}.db")), 1)
                    .await
                    .expect("open"),
            );
            let a = store
                .create_user(&format!("a{sessions}"), "h")
                .await
                .expect("user");
            let b = store
                .create_user(&format!("b{sessions}"), "h")
                .await
                .expect("user");
            let channel = store
                .create_direct(a.id, b.id)
                .await
                .expect("dm")
                .channel_id;
            let hub = Hub::new(
                Arc::new(LocalBus::default()),
                store,
                Arc::new(Metrics::new()),
            );
            let mut receivers = Vec::new();
            for key in 0..sessions {
                let handle = SessionHandle {
                    key: key as u64,
                    user: a.id,
                    token_hash: [0; 32],
                    queue: Arc::new(SessionQueue::new(1024)),
                };
                hub.subscribe(&handle, channel, 1).await;
                receivers.push(handle);
            }
            (
                hub,
                channel,
                UserRef {
                    id: a.id,
                    username: a.username,
                },
                receivers,
            )
        });
        let seq = AtomicU64::new(2);
        group.bench_with_input(BenchmarkId::from_parameter(sessions), &sessions, |b, _| {
            b.iter(|| {
                rt.block_on(async {
                    let event = Event {
                        channel_id: channel,
                        seq: seq.fetch_add(1, Ordering::Relaxed),
                        id: EventId(1),
                        ts: 0,
                        author: author.clone(),
                        body: EventBody::Message {
                            body: "x".repeat(64),
                            client_id: "c".into(),
                        },
                    };
                    hub.publish_event(&event).await;
                    for handle in &receivers {
                        match handle.queue.recv().await {
                            Received::Item(Outbound::Event { .. }) => {}
                            other => panic!("expected the event, got {other:?}"),
                        }
                    }
                })
            })
        });
    }
    group.finish();
}

criterion_group!(benches, fanout);
criterion_main!(benches);
