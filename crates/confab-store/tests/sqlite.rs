//! The SQLite backend against the conformance suite, and its durability across reopening.

use std::sync::Arc;

mod common;

use confab_store::{conformance, HistoryQuery, SqliteStore, Store};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_passes_the_conformance_suite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(&dir.path().join("confab.db"), 1)
        .await
        .expect("open");
    conformance::run_with_admin(Arc::new(store)).await;
}

#[tokio::test]
async fn everything_survives_reopening() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("confab.db");
    let (ch, a, b) = {
        let store = SqliteStore::open(&path, 1).await.expect("open");
        let a = store.create_user("alice", "h").await.expect("user").id;
        let b = store.create_user("bob", "h").await.expect("user").id;
        let ch = store.create_direct(a, b).await.expect("dm").channel_id;
        store
            .append_message(ch, a, "c1", "hello")
            .await
            .expect("send");
        store.mark_read(ch, b, 2).await.expect("read");
        store.close().await;
        (ch, a, b)
    };
    let store = SqliteStore::open(&path, 1).await.expect("reopen");
    let page = store
        .history(
            ch,
            HistoryQuery {
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .expect("h");
    assert_eq!(page.events.len(), 2);
    assert_eq!(
        store
            .channel_of(ch, b)
            .await
            .expect("s")
            .expect("m")
            .read_seq,
        2
    );
    let again = store
        .append_message(ch, a, "c1", "hello")
        .await
        .expect("resend");
    assert!(again.event.is_none(), "idempotency survives a restart");
    let next = store
        .append_message(ch, a, "c2", "more")
        .await
        .expect("send");
    assert_eq!(next.record.seq, 3);
}

#[tokio::test]
async fn calls_after_close_fail_as_unavailable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(&dir.path().join("confab.db"), 1)
        .await
        .expect("open");
    let a = store.create_user("alice", "h").await.expect("user").id;
    let clone = store.clone();
    store.close().await;
    assert!(matches!(
        clone.user(a).await,
        Err(confab_store::StoreError::Unavailable(_))
    ));
    assert!(matches!(
        clone.create_user("bob", "h").await,
        Err(confab_store::StoreError::Unavailable(_))
    ));
    // Closing again is harmless.
    clone.close().await;
}

/// Regression for the unread count that was a `count(*)` over the unread range: a user with
/// thousands of unread messages took 15x longer to identify. Counting is now a few index seeks
/// whatever is unread, measured in SQLite's own unit of work, which no machine's speed changes.
#[tokio::test]
async fn unread_counts_cost_the_same_however_many_messages_are_unread() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(&dir.path().join("confab.db"), 1)
        .await
        .expect("open");
    let a = store.create_user("alice", "h").await.expect("user").id;
    let b = store.create_user("bob", "h").await.expect("user").id;
    let c = store.create_user("carol", "h").await.expect("user").id;
    let group = store
        .create_group(a, "g", &[b, c], 10)
        .await
        .expect("group")
        .channel_id;
    let send = |from, batch: &'static str, n: usize| {
        let store = &store;
        async move {
            for i in 0..n {
                store
                    .append_message(group, from, &format!("{batch}-{i}"), "x")
                    .await
                    .expect("send");
            }
        }
    };
    // What one identify's channel list, one channel's summary and one read pointer move cost.
    let cost = || async {
        let before = store.statement_steps();
        let summary = store
            .channel_of(group, b)
            .await
            .expect("s")
            .expect("member");
        let listed = store.channels_of(b).await.expect("list");
        let read = store
            .mark_read(group, b, summary.read_seq)
            .await
            .expect("read");
        assert_eq!(listed[0].unread, summary.unread);
        assert_eq!(read.unread, summary.unread);
        (summary.unread, store.statement_steps() - before)
    };
    send(a, "a1", 3).await;
    send(b, "b1", 2).await;
    let (few, small) = cost().await;
    assert_eq!(few, 3);
    send(a, "a2", 2_000).await;
    send(b, "b2", 500).await;
    send(c, "c2", 1_000).await;
    let (many, large) = cost().await;
    assert_eq!(many, 3_003);
    assert!(
        large <= small + 60,
        "counting {many} unread took {large} steps against {small} for {few}: it grows with the unread range"
    );
}

/// A database written by schema version 3 gets its messages numbered by the migration, so the
/// counts it had are kept and new messages count on from them.
#[tokio::test]
async fn the_ordinals_migration_numbers_messages_stored_before() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("confab.db");
    {
        let conn = rusqlite::Connection::open(&path).expect("open");
        for sql in [
            include_str!("../migrations/sqlite/0001_init.sql"),
            include_str!("../migrations/sqlite/0002_receipts.sql"),
            include_str!("../migrations/sqlite/0003_last_seen.sql"),
            "PRAGMA user_version = 3;",
            common::V3_DATA,
        ] {
            conn.execute_batch(sql).expect("version 3");
        }
    }
    let store = SqliteStore::open(&path, 1).await.expect("open and migrate");
    common::ordinals_cover_what_was_stored_before(&store).await;
}

/// The check reports what was deleted behind the store's back with SQL: gaps above the retention
/// horizon, the message ordinals around them, a wrong member count.
#[tokio::test]
async fn the_check_reports_a_damaged_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("confab.db");
    let store = SqliteStore::open(&path, 1).await.expect("open");
    let (ch, damage) = common::store_to_damage(&store).await;
    let conn = rusqlite::Connection::open(&path).expect("open");
    for sql in damage {
        conn.execute_batch(&sql).expect("damage");
    }
    common::damage_is_reported(&store, ch).await;
}

/// A backup taken while the store is written is a sound copy; restoring it refuses a store in
/// use, a file that is not a Confab store, and one with a newer schema.
#[tokio::test]
async fn backup_and_restore_of_the_file() {
    use confab_store::sqlite::file;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("confab.db");
    let store = SqliteStore::open(&path, 1).await.expect("open");
    let a = store.create_user("alice", "h").await.expect("user").id;
    let b = store.create_user("bob", "h").await.expect("user").id;
    let ch = store.create_direct(a, b).await.expect("dm").channel_id;
    for i in 0..20 {
        store
            .append_message(ch, a, &format!("c{i}"), "hello")
            .await
            .expect("send");
    }
    let copy = dir.path().join("backup.db");
    let info = file::backup(&path, &copy).expect("backup");
    assert_eq!((info.users, info.channels, info.events), (2, 1, 21));
    assert_eq!(info.schema_version, confab_store::sqlite::SCHEMA_VERSION);
    assert!(matches!(
        file::backup(&path, &copy),
        Err(confab_store::StoreError::Conflict(_))
    ));

    // The store is open here: restoring over it is refused.
    assert!(matches!(
        file::restore(&copy, &path, true),
        Err(confab_store::StoreError::Conflict(_))
    ));
    store.close().await;
    assert!(matches!(
        file::restore(&copy, &path, false),
        Err(confab_store::StoreError::Conflict(_))
    ));
    let restored = file::restore(&copy, &path, true).expect("restore");
    assert!(restored.replaced.expect("kept aside").exists());
    let store = SqliteStore::open(&path, 1).await.expect("reopen");
    let page = store
        .history(
            ch,
            HistoryQuery {
                limit: 100,
                ..Default::default()
            },
        )
        .await
        .expect("history");
    assert_eq!(page.events.len(), 21);
    store.close().await;

    let junk = dir.path().join("junk.db");
    std::fs::write(
        &junk,
        b"not a database at all, not even close to one.......",
    )
    .expect("w");
    let err = file::inspect(&junk).expect_err("junk");
    assert!(err.to_string().contains("not a SQLite database"), "{err}");
    let other = dir.path().join("other.db");
    rusqlite::Connection::open(&other)
        .expect("open")
        .execute_batch("CREATE TABLE t (x); PRAGMA user_version = 1;")
        .expect("other");
    let err = file::inspect(&other).expect_err("not confab");
    assert!(err.to_string().contains("not a Confab store"), "{err}");
    let newer = dir.path().join("newer.db");
    std::fs::copy(&copy, &newer).expect("copy");
    rusqlite::Connection::open(&newer)
        .expect("open")
        .execute_batch("PRAGMA user_version = 999;")
        .expect("bump");
    let err = file::restore(&newer, &dir.path().join("fresh.db"), false).expect_err("newer");
    assert!(err.to_string().contains("newer"), "{err}");
}

/// The writer runs no checkpoint of its own (SQLite's automatic one would hold a commit for tens
/// of milliseconds): the checkpointer thread copies the write-ahead log back into the database
/// file while the store stays open, and the log file stays bounded.
#[tokio::test]
async fn the_log_is_copied_back_beside_the_writer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("confab.db");
    let store = SqliteStore::open(&path, 1).await.expect("open");
    let a = store.create_user("alice", "h").await.expect("user").id;
    let b = store.create_user("bob", "h").await.expect("user").id;
    let ch = store.create_direct(a, b).await.expect("dm").channel_id;
    let size = || std::fs::metadata(&path).expect("database file").len();
    let before = size();
    for batch in 0..20 {
        let messages = (0..100)
            .map(|i| confab_store::NewMessage {
                channel: ch,
                sender: a,
                client_id: format!("c{batch}-{i}"),
                body: "x".repeat(200),
            })
            .collect();
        store.append_messages(messages).await.expect("append");
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while size() <= before {
        assert!(
            std::time::Instant::now() < deadline,
            "the database file stayed at {before} bytes: nothing copied the log back"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let wal = std::fs::metadata(dir.path().join("confab.db-wal")).map_or(0, |m| m.len());
    assert!(
        wal <= 64 << 20,
        "the log file is cut back to 64 MiB: {wal} bytes"
    );
    store.close().await;
}
