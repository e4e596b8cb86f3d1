//! Store operations: a durable append (one transaction, committed) and a page of history, on
//! SQLite, and on PostgreSQL when `CONFAB_TEST_DATABASE_URL` is set.
//! `cargo bench -p confab-store`

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use confab_proto::{ChannelId, UserId};
use confab_store::{HistoryQuery, PostgresStore, SqliteStore, Store};
use criterion::{criterion_group, criterion_main, Criterion};

struct Fixture {
    store: Arc<dyn Store>,
    channel: ChannelId,
    sender: UserId,
}

async fn fixture(store: Arc<dyn Store>, tag: &str) -> Fixture {
    let sender = store
        .create_user(&format!("bench-a-{tag}"), "h")
        .await
        .expect("user")
        .id;
    let other = store
        .create_user(&format!("bench-b-{tag}"), "h")
        .await
        .expect("user")
        .id;
    let channel = store
        .create_direct(sender, other)
        .await
        .expect("dm")
        .channel_id;
    for i in 0..200 {
        store
            .append_message(channel, sender, &format!("seed-{i}"), "hello")
            .await
            .expect("seed");
    }
    Fixture {
        store,
        channel,
        sender,
    }
}

fn bench_backend(c: &mut Criterion, name: &str, rt: &tokio::runtime::Runtime, fx: Fixture) {
    let n = AtomicU64::new(0);
    let body = "x".repeat(64);
    c.bench_function(&format!("{name}: append message (committed)"), |b| {
        b.to_async(rt).iter(|| {
            let i = n.fetch_add(1, Ordering::Relaxed);
            let (store, body) = (fx.store.clone(), body.clone());
            async move {
                store
                    .append_message(fx.channel, fx.sender, &format!("b-{i}"), &body)
                    .await
                    .expect("append")
            }
        })
    });
    // Many senders at once, as a busy server has them: each iteration is 64 concurrent appends,
    // which group commit (SQLite) stores in a few transactions.
    let mut group = c.benchmark_group(format!("{name}: 64 concurrent appends"));
    group.throughput(criterion::Throughput::Elements(64));
    group.bench_function("committed", |b| {
        b.to_async(rt).iter(|| {
            let base = n.fetch_add(64, Ordering::Relaxed);
            let (store, body) = (fx.store.clone(), body.clone());
            async move {
                let sends = (0..64).map(|k| {
                    let store = store.clone();
                    let body = body.clone();
                    tokio::spawn(async move {
                        store
                            .append_message(
                                fx.channel,
                                fx.sender,
                                &format!("c-{}", base + k),
                                &body,
                            )
                            .await
                            .expect("append")
                    })
                });
                for send in sends.collect::<Vec<_>>() {
                    send.await.expect("join");
                }
            }
        })
    });
    group.finish();
    c.bench_function(&format!("{name}: read a page of 50 events"), |b| {
        b.to_async(rt).iter(|| {
            let store = fx.store.clone();
            async move {
                let q = HistoryQuery {
                    limit: 50,
                    ..Default::default()
                };
                store.history(fx.channel, q).await.expect("history")
            }
        })
    });
}

fn stores(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let tag = format!("{}", std::process::id());
    let sqlite = rt.block_on(async {
        let store = SqliteStore::open(&dir.path().join("bench.db"), 1)
            .await
            .expect("open");
        fixture(Arc::new(store), &tag).await
    });
    bench_backend(c, "sqlite", &rt, sqlite);
    match std::env::var("CONFAB_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => {
            let schema = format!("confab_bench_{tag}");
            let pg = rt.block_on(async {
                let store = PostgresStore::connect(&url, 1, Some(&schema))
                    .await
                    .expect("connect");
                fixture(Arc::new(store), &tag).await
            });
            bench_backend(c, "postgres", &rt, pg);
        }
        _ => eprintln!("SKIPPED: CONFAB_TEST_DATABASE_URL is not set; no PostgreSQL benchmarks"),
    }
}

criterion_group!(benches, stores);
criterion_main!(benches);
