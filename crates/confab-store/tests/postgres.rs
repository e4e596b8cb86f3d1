//! The PostgreSQL backend against the conformance suite, plus what only a shared database can show:
//! several nodes writing to one channel at once. Needs `CONFAB_TEST_DATABASE_URL`; says so and
//! skips without it (CI sets it).

use std::collections::HashSet;
use std::sync::Arc;

mod common;

use confab_store::{conformance, PostgresStore, Store};

fn database_url() -> Option<String> {
    match std::env::var("CONFAB_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            eprintln!(
                "SKIPPED: CONFAB_TEST_DATABASE_URL is not set; PostgreSQL store tests did not run"
            );
            None
        }
    }
}

/// A schema of its own for each test, dropped afterwards.
struct Schema {
    url: String,
    name: String,
}

impl Schema {
    fn new(url: &str, test: &str) -> Schema {
        let name = format!("confab_test_{test}_{}", std::process::id());
        Schema {
            url: url.to_owned(),
            name,
        }
    }

    async fn store(&self, node: u16) -> PostgresStore {
        PostgresStore::connect(&self.url, node, Some(&self.name))
            .await
            .expect("connect")
    }

    async fn drop(self, store: &PostgresStore) {
        let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.name))
            .execute(store.pool())
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_passes_the_conformance_suite() {
    let Some(url) = database_url() else { return };
    let schema = Schema::new(&url, "conformance");
    let store = schema.store(1).await;
    conformance::run_with_admin(Arc::new(store.clone())).await;
    schema.drop(&store).await;
}

/// The check reports what was deleted behind the store's back with SQL (as on SQLite).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_check_reports_a_damaged_store() {
    let Some(url) = database_url() else { return };
    let schema = Schema::new(&url, "damage");
    let store = schema.store(1).await;
    let (ch, damage) = common::store_to_damage(&store).await;
    for sql in damage {
        sqlx::raw_sql(&sql)
            .execute(store.pool())
            .await
            .expect("damage");
    }
    common::damage_is_reported(&store, ch).await;
    schema.drop(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_writing_one_channel_at_once_keep_seq_gapless_and_sends_idempotent() {
    let Some(url) = database_url() else { return };
    let schema = Schema::new(&url, "nodes");
    // Three nodes start together: migrations run once.
    let (a, b, c) = tokio::join!(schema.store(1), schema.store(2), schema.store(3));
    let nodes: Vec<Arc<dyn Store>> = vec![Arc::new(a.clone()), Arc::new(b), Arc::new(c)];
    let owner = nodes[0].create_user("owner", "h").await.expect("user").id;
    let ch = nodes[0]
        .create_group(owner, "busy", &[], 10)
        .await
        .expect("group")
        .channel_id;
    let mut tasks = Vec::new();
    for (n, node) in nodes.iter().enumerate() {
        let node = node.clone();
        tasks.push(tokio::spawn(async move {
            let mut seqs = Vec::new();
            for i in 0..60 {
                // Every node also retries every tenth send of node 0, as a client that failed over would.
                let client_id = if i % 10 == 0 {
                    format!("n0-{i}")
                } else {
                    format!("n{n}-{i}")
                };
                let out = node
                    .append_message(ch, owner, &client_id, "x")
                    .await
                    .expect("append");
                seqs.push((client_id, out.record.seq, out.event.is_some()));
            }
            seqs
        }));
    }
    let mut stored = HashSet::new();
    let mut by_client = std::collections::HashMap::new();
    for t in tasks {
        for (client_id, seq, fresh) in t.await.expect("join") {
            if fresh {
                assert!(stored.insert(seq), "seq {seq} assigned twice");
            }
            let first = *by_client.entry(client_id.clone()).or_insert(seq);
            assert_eq!(first, seq, "{client_id} acked with one seq on every node");
        }
    }
    // 3 × 60 sends, of which the 6 shared ids were sent three times: 168 messages after seq 1.
    assert_eq!(stored.len(), 168);
    assert_eq!(stored, (2..=169).collect::<HashSet<u64>>());
    // The same direct channel created on three nodes at once is one channel.
    let x = nodes[0].create_user("x-user", "h").await.expect("user").id;
    let (d1, d2, d3) = tokio::join!(
        nodes[0].create_direct(owner, x),
        nodes[1].create_direct(x, owner),
        nodes[2].create_direct(owner, x)
    );
    let ids: HashSet<_> = [d1, d2, d3]
        .into_iter()
        .map(|d| d.expect("direct").channel_id)
        .collect();
    assert_eq!(ids.len(), 1);
    // Two nodes removing the same member at once: one removal, one "not found"; the count stays right.
    let m = nodes[0]
        .create_user("member-z", "h")
        .await
        .expect("user")
        .id;
    let g = nodes[0]
        .create_group(owner, "g", &[m], 10)
        .await
        .expect("group")
        .channel_id;
    let (r1, r2) = tokio::join!(
        nodes[1].remove_member(g, owner, m),
        nodes[2].remove_member(g, owner, m)
    );
    assert_eq!(
        [r1.is_ok(), r2.is_ok()].iter().filter(|ok| **ok).count(),
        1,
        "exactly one removal"
    );
    let summary = nodes[0]
        .channel_of(g, owner)
        .await
        .expect("summary")
        .expect("member");
    assert_eq!((summary.member_count, summary.last_seq), (1, 2));
    schema.drop(&a).await;
}

/// A schema written by version 3 gets its messages numbered by the ordinals migration.
#[tokio::test]
async fn the_ordinals_migration_numbers_messages_stored_before() {
    let Some(url) = database_url() else { return };
    let schema = Schema::new(&url, "ordinals");
    {
        let pool = sqlx::PgPool::connect(&url).await.expect("connect");
        let mut conn = pool.acquire().await.expect("connection");
        let setup = format!(
            "DROP SCHEMA IF EXISTS \"{0}\" CASCADE; CREATE SCHEMA \"{0}\"; SET search_path = \"{0}\";",
            schema.name
        );
        for sql in [
            setup.as_str(),
            include_str!("../migrations/postgres/0001_init.sql"),
            include_str!("../migrations/postgres/0002_receipts.sql"),
            include_str!("../migrations/postgres/0003_last_seen.sql"),
            "CREATE TABLE confab_schema (version BIGINT NOT NULL);
             INSERT INTO confab_schema (version) VALUES (1), (2), (3);",
            common::V3_DATA,
        ] {
            sqlx::raw_sql(sql)
                .execute(&mut *conn)
                .await
                .expect("version 3");
        }
    }
    let store = schema.store(1).await;
    common::ordinals_cover_what_was_stored_before(&store).await;
    schema.drop(&store).await;
}
