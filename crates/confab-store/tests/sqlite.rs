//! The SQLite backend against the conformance suite, and its durability across reopening.

use std::sync::Arc;

use confab_store::{conformance, HistoryQuery, SqliteStore, Store};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_passes_the_conformance_suite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(&dir.path().join("confab.db"), 1)
        .await
        .expect("open");
    conformance::run(Arc::new(store)).await;
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
