//! The embedded default store: one SQLite file in WAL mode.
//!
//! This backend only connects, migrates and schedules; the rules are the SQL core's
//! (`sql`). Every write runs on one writer thread (`sqlite/writer`) that owns the only
//! connection that writes: write jobs run in arrival order, each in a `BEGIN IMMEDIATE`
//! transaction, and queued message appends are stored together (group commit). Reads run on a few
//! reader threads (`sqlite/reader`) with read-only connections, which in WAL mode see the last commit
//! and never wait for the writer. A checkpointer thread (`sqlite/checkpoint`) copies the
//! write-ahead log back into the database beside the writer, so no commit runs a checkpoint.
//! Another process sharing the file waits for the write lock (busy timeout) instead of failing
//! half-way.

mod checkpoint;
mod conn;
pub mod file;
mod reader;
mod writer;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::snowflake::Snowflake;
use crate::sql::dialect::Sql;
use crate::sql::{Backend, BoxFuture, NewMessage, SqlStore, Tx};
use crate::{Appended, Result, StoreError};
use conn::{complete, Conn};

/// Migrations, in order. Each runs once, in a transaction, and bumps `PRAGMA user_version`.
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/sqlite/0001_init.sql"),
    include_str!("../migrations/sqlite/0002_receipts.sql"),
    include_str!("../migrations/sqlite/0003_last_seen.sql"),
    include_str!("../migrations/sqlite/0004_message_ordinals.sql"),
    include_str!("../migrations/sqlite/0005_admin.sql"),
];

/// The schema version this build writes and reads: the number of migrations (`PRAGMA
/// user_version` of an up-to-date database).
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// The SQLite backend of [`Store`](crate::Store).
pub type SqliteStore = SqlStore<Sqlite>;

/// Where [`SqliteStore`] runs its SQL: the queues of its writer and reader threads. Clones share
/// the threads; they end with the last clone, or at [`SqliteStore::close`].
#[derive(Clone)]
pub struct Sqlite {
    writer: mpsc::Sender<writer::Request>,
    readers: mpsc::Sender<reader::Request>,
    /// Virtual machine steps of every statement run so far (see [`SqliteStore::statement_steps`]).
    steps: Arc<AtomicU64>,
}

impl std::fmt::Debug for Sqlite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sqlite").finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `path`, applies migrations, and assigns ids as
    /// node `node_id`.
    pub async fn open(path: &Path, node_id: u16) -> Result<Self> {
        let path = path.to_owned();
        // Opening and migrating are blocking file work.
        let backend = tokio::task::spawn_blocking(move || -> Result<Sqlite> {
            let mut conn = conn::open_writer(&path)
                .map_err(|e| StoreError::Unavailable(format!("{}: {e}", path.display())))?;
            migrate(&mut conn)?;
            let steps = Arc::new(AtomicU64::new(0));
            let readers = reader::spawn(&path, &steps)?;
            let checkpointer = checkpoint::Checkpointer::spawn(&path)?;
            Ok(Sqlite {
                writer: writer::spawn(conn, checkpointer, steps.clone())?,
                readers,
                steps,
            })
        })
        .await
        .map_err(|e| StoreError::Backend(format!("opening the sqlite store: {e}")))??;
        Ok(SqlStore::new(backend, Arc::new(Snowflake::new(node_id))))
    }

    /// The work this store's statements have done since it opened, in SQLite virtual machine
    /// steps (each row a statement visits costs a few): a machine-independent measure of what a
    /// call costs, for tests and diagnostics.
    pub fn statement_steps(&self) -> u64 {
        self.backend().steps.load(Ordering::Relaxed)
    }

    /// Waits for the queued jobs and closes every connection. Later calls fail.
    pub async fn close(&self) {
        self.backend().close().await;
    }
}

fn migrate(conn: &mut rusqlite::Connection) -> Result<()> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version.max(0) as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.execute_batch(&format!("PRAGMA user_version = {}", i + 1))?;
        tx.commit()?;
        tracing::info!(version = i + 1, "applied sqlite migration");
    }
    Ok(())
}

fn closed() -> StoreError {
    StoreError::Unavailable("the store is closed".into())
}

/// Queues a request built around a reply channel, and waits for the reply.
async fn ask<Q, T>(
    queue: &mpsc::Sender<Q>,
    request: impl FnOnce(oneshot::Sender<Result<T>>) -> Q,
) -> Result<T> {
    let (reply, outcome) = oneshot::channel();
    queue.send(request(reply)).await.map_err(|_| closed())?;
    outcome.await.map_err(|_| closed())?
}

impl Backend for Sqlite {
    type Conn<'c> = Conn<'c>;

    async fn read<T, F>(&self, job: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'t, 'c> FnOnce(&'t mut Self::Conn<'c>) -> BoxFuture<'t, Result<T>> + Send + 'static,
    {
        ask(&self.readers, |reply| {
            reader::Request::Job(Box::new(move |conn: &mut Conn<'_>| {
                let _ = reply.send(complete(job(conn)));
            }))
        })
        .await
    }

    async fn write<T, F>(&self, job: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'t, 'c> FnOnce(&'t mut Self::Conn<'c>) -> BoxFuture<'t, Result<T>> + Send + 'static,
    {
        ask(&self.writer, |reply| {
            writer::Request::Job(Box::new(move |conn: &mut Conn<'_>| {
                let _ = reply.send(conn.transaction(|conn| complete(job(conn))));
            }))
        })
        .await
    }

    /// A read job inside `BEGIN … COMMIT`: in WAL mode one snapshot for the whole job.
    async fn snapshot<T, F>(&self, job: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'t, 'c> FnOnce(&'t mut Self::Conn<'c>) -> BoxFuture<'t, Result<T>> + Send + 'static,
    {
        static BEGIN_READ: Sql = Sql::new("BEGIN DEFERRED");
        static END_READ: Sql = Sql::new("COMMIT");
        self.read(move |conn| {
            Box::pin(async move {
                conn.execute(&BEGIN_READ, &[]).await?;
                let result = job(&mut *conn).await;
                let ended = conn.execute(&END_READ, &[]).await;
                let value = result?;
                ended?;
                Ok(value)
            })
        })
        .await
    }

    async fn engine_check(&self) -> Result<Vec<String>> {
        static QUICK_CHECK: Sql = Sql::new("PRAGMA quick_check");
        self.read(|conn| {
            Box::pin(async move {
                let rows = conn.fetch_all(&QUICK_CHECK, &[]).await?;
                let mut problems = Vec::new();
                for row in rows {
                    let line = row.text("quick_check")?;
                    if line != "ok" {
                        problems.push(line);
                    }
                }
                Ok(problems)
            })
        })
        .await
    }

    async fn append(&self, ids: Arc<Snowflake>, message: NewMessage) -> Result<Appended> {
        ask(&self.writer, |reply| {
            writer::Request::Append(writer::Append {
                ids,
                message,
                reply,
            })
        })
        .await
    }

    async fn close(&self) {
        // Each thread finishes what was queued before its `Close`, closes its connection and
        // answers; a thread already gone (closed before) answers by dropping the request.
        let mut done = Vec::with_capacity(reader::READERS + 1);
        let (tx, rx) = oneshot::channel();
        if self.writer.send(writer::Request::Close(tx)).await.is_ok() {
            done.push(rx);
        }
        for _ in 0..reader::READERS {
            let (tx, rx) = oneshot::channel();
            if self.readers.send(reader::Request::Close(tx)).await.is_ok() {
                done.push(rx);
            }
        }
        for rx in done {
            let _ = rx.await;
        }
    }
}

#[cfg(test)]
mod tests {
    /// Search will need FTS5: the bundled SQLite must keep it.
    #[test]
    fn the_bundled_sqlite_has_fts5() {
        let conn = rusqlite::Connection::open_in_memory().expect("open");
        conn.execute_batch(
            "CREATE VIRTUAL TABLE t USING fts5(body); INSERT INTO t VALUES ('hello world');",
        )
        .expect("fts5");
        let n: i64 = conn
            .query_row("SELECT count(*) FROM t WHERE t MATCH 'hello'", [], |r| {
                r.get(0)
            })
            .expect("match");
        assert_eq!(n, 1);
    }
}
